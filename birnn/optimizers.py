"""Keras's optimizers on ``torch.optim``: Keras defaults, Keras update rules, Keras clipping.

An :class:`Optimizer` is created with hyper-parameters only (``Adam(learning_rate=1e-3)``), as in
Keras, and binds to the model's weights on its first :meth:`Optimizer.apply`. It then owns a real
``torch.optim.Optimizer`` (:attr:`Optimizer.torch_optimizer`) that performs the update.

Where ``torch.optim`` computes something else than Keras, the update is a small
``torch.optim.Optimizer`` subclass written from Keras's equations (``g`` gradient, ``t`` the
1-based step, ``lr`` learning rate, ``eps`` epsilon):

============  ===========================================================================
SGD           ``m = momentum*m - lr*g``; ``w += m`` (nesterov: ``w += momentum*m - lr*g``)
RMSprop       ``v = rho*v + (1-rho)*g²``; ``w -= lr*g / sqrt(v + eps)`` (eps *inside* the root;
              ``centered`` subtracts the squared mean gradient inside the root; ``momentum``
              accumulates the increments)
Adam          ``m += (g-m)(1-β₁)``; ``v += (g²-v)(1-β₂)``;
              ``w -= lr*sqrt(1-β₂ᵗ)/(1-β₁ᵗ) * m / (sqrt(v) + eps)`` (eps not bias-corrected)
Adagrad       ``a += g²`` from ``a₀ = initial_accumulator_value``; ``w -= lr*g / sqrt(a + eps)``
Adadelta      ``torch.optim.Adadelta`` (identical to Keras)
Adamax        ``u = max(β₂u, |g|)``; ``w -= lr*m / ((1-β₁ᵗ)(u + eps))``
Nadam         Keras's momentum schedule ``μₜ = β₁(1 - 0.5*0.96ᵗ)`` (torch uses ``0.96^(0.004t)``)
============  ===========================================================================

Every optimizer also takes Keras's ``weight_decay`` (decoupled: ``w -= w*wd*lr`` before the
update; ``AdamW`` defaults it to 0.004) and one of ``clipnorm`` (per-weight norm),
``global_clipnorm`` or ``clipvalue``.

Example:
    >>> import torch
    >>> from birnn import optimizers
    >>> w = torch.nn.Parameter(torch.tensor([1.0, -1.0]))
    >>> opt = optimizers.get("rmsprop")
    >>> opt.learning_rate, opt.get_config()["epsilon"]
    (0.001, 1e-07)
    >>> (w ** 2).sum().backward()
    >>> opt.apply([w])
    >>> w.detach()
    tensor([ 0.9968, -0.9968])
"""

from __future__ import annotations

import abc
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar

import torch
from torch import Tensor

from birnn import _registry

__all__ = [
    "Optimizer",
    "SGD",
    "RMSprop",
    "Adam",
    "AdamW",
    "Adagrad",
    "Adadelta",
    "Adamax",
    "Nadam",
    "TorchOptimizer",
    "get",
    "serialize",
    "deserialize",
]

LearningRate = float | Callable[[int], float]


# --------------------------------------------------------------------------- update rules
class _KerasRule(torch.optim.Optimizer):
    """One Keras update rule as a ``torch.optim.Optimizer``: subclasses define ``init_state`` and ``update``.

    ``group["iterations"]`` counts the steps taken (Keras's ``optimizer.iterations``).
    """

    def __init__(self, params: Iterable[Tensor], **defaults: Any) -> None:
        super().__init__(params, {**defaults, "iterations": 0})

    def init_state(self, param: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        return {}

    @abc.abstractmethod
    def update(self, param: Tensor, grad: Tensor, state: dict[str, Any], group: dict[str, Any], step: int) -> None: ...

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:  # type: ignore[override]
        loss = None if closure is None else closure()
        for group in self.param_groups:
            group["iterations"] += 1
            for param in group["params"]:
                if param.grad is None:
                    continue
                state = self.state[param]
                if not state:
                    state.update(self.init_state(param, group))
                self.update(param, param.grad.to(param.dtype), state, group, group["iterations"])
        return loss


class _SGDRule(_KerasRule):
    def init_state(self, param: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        return {"momentum": torch.zeros_like(param)} if group["momentum"] else {}

    def update(self, param: Tensor, grad: Tensor, state: dict[str, Any], group: dict[str, Any], step: int) -> None:
        lr, momentum = group["lr"], group["momentum"]
        if not momentum:
            param.sub_(grad * lr)
            return
        m = state["momentum"]
        m.mul_(momentum).sub_(grad * lr)
        param.add_(m * momentum - grad * lr if group["nesterov"] else m)


class _RMSpropRule(_KerasRule):
    def init_state(self, param: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        state = {"velocity": torch.zeros_like(param)}
        if group["centered"]:
            state["average_gradient"] = torch.zeros_like(param)
        if group["momentum"] > 0:
            state["momentum"] = torch.zeros_like(param)
        return state

    def update(self, param: Tensor, grad: Tensor, state: dict[str, Any], group: dict[str, Any], step: int) -> None:
        rho = group["rho"]
        velocity = state["velocity"].mul_(rho).add_(grad * grad, alpha=1 - rho)
        denominator = velocity + group["epsilon"]
        if group["centered"]:
            average = state["average_gradient"].mul_(rho).add_(grad, alpha=1 - rho)
            denominator = denominator - average * average
        increment = grad * group["lr"] / torch.sqrt(denominator)
        if group["momentum"] > 0:
            increment = state["momentum"].mul_(group["momentum"]).add_(increment)
        param.sub_(increment)


class _AdamRule(_KerasRule):
    def init_state(self, param: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        state = {"momentum": torch.zeros_like(param), "velocity": torch.zeros_like(param)}
        if group["amsgrad"]:
            state["velocity_hat"] = torch.zeros_like(param)
        return state

    def update(self, param: Tensor, grad: Tensor, state: dict[str, Any], group: dict[str, Any], step: int) -> None:
        beta_1, beta_2 = group["beta_1"], group["beta_2"]
        alpha = group["lr"] * math.sqrt(1 - beta_2**step) / (1 - beta_1**step)
        m = state["momentum"].mul_(beta_1).add_(grad, alpha=1 - beta_1)
        v = state["velocity"].mul_(beta_2).add_(grad * grad, alpha=1 - beta_2)
        if group["amsgrad"]:
            v = torch.maximum(state["velocity_hat"], v, out=state["velocity_hat"])
        param.sub_(m * alpha / (torch.sqrt(v) + group["epsilon"]))


class _AdagradRule(_KerasRule):
    def init_state(self, param: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        return {"accumulator": torch.full_like(param, group["initial_accumulator_value"])}

    def update(self, param: Tensor, grad: Tensor, state: dict[str, Any], group: dict[str, Any], step: int) -> None:
        accumulator = state["accumulator"].add_(grad * grad)
        param.sub_(grad * group["lr"] / torch.sqrt(accumulator + group["epsilon"]))


class _AdamaxRule(_KerasRule):
    def init_state(self, param: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        return {"m": torch.zeros_like(param), "u": torch.zeros_like(param)}

    def update(self, param: Tensor, grad: Tensor, state: dict[str, Any], group: dict[str, Any], step: int) -> None:
        beta_1, beta_2 = group["beta_1"], group["beta_2"]
        m = state["m"].mul_(beta_1).add_(grad, alpha=1 - beta_1)
        u = torch.maximum(state["u"].mul_(beta_2), grad.abs(), out=state["u"])
        param.sub_(m * group["lr"] / ((1 - beta_1**step) * (u + group["epsilon"])))


class _NadamRule(_KerasRule):
    def init_state(self, param: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        return {"momentum": torch.zeros_like(param), "velocity": torch.zeros_like(param), "u_product": 1.0}

    def update(self, param: Tensor, grad: Tensor, state: dict[str, Any], group: dict[str, Any], step: int) -> None:
        beta_1, beta_2 = group["beta_1"], group["beta_2"]
        u_t = beta_1 * (1.0 - 0.5 * 0.96**step)
        u_next = beta_1 * (1.0 - 0.5 * 0.96 ** (step + 1))
        u_product = state["u_product"] * u_t
        state["u_product"] = u_product
        m = state["momentum"].mul_(beta_1).add_(grad, alpha=1 - beta_1)
        v = state["velocity"].mul_(beta_2).add_(grad * grad, alpha=1 - beta_2)
        m_hat = m * (u_next / (1 - u_product * u_next)) + grad * ((1 - u_t) / (1 - u_product))
        v_hat = v / (1 - beta_2**step)
        param.sub_(m_hat * group["lr"] / (torch.sqrt(v_hat) + group["epsilon"]))


# --------------------------------------------------------------------------- Keras-facing classes
def _check_positive(name: str, value: Any, allow_zero: bool = True) -> None:
    if value is None:
        return
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(
            f"Argument `{name}` must be a {'non-negative' if allow_zero else 'positive'} number, "
            f"received: {name}={value!r}"
        )


def _snake_name(cls: type) -> str:
    from birnn.layers._naming import to_snake_case

    return to_snake_case(cls.__name__)


class Optimizer(abc.ABC):
    """Base of birnn's Keras-style optimizers.

    Args:
        learning_rate: a float, or a callable ``step -> learning rate`` (Keras's schedules).
        weight_decay: decoupled weight decay ``w -= w * weight_decay * lr`` before each update.
        clipnorm: clip each gradient to this L2 norm.
        clipvalue: clip each gradient element to ``[-clipvalue, clipvalue]``.
        global_clipnorm: clip all gradients together to this global L2 norm.
        name: optimizer name (default: snake-cased class name, as in Keras).
        use_ema, ema_momentum, ema_overwrite_frequency, loss_scale_factor,
            gradient_accumulation_steps: accepted so that Keras configs load; only their
            defaults are supported.

    Example:
        >>> import torch
        >>> w = torch.nn.Parameter(torch.ones(2))
        >>> opt = SGD(learning_rate=0.1, clipvalue=0.5)
        >>> (w * 3).sum().backward()
        >>> opt.apply([w]); w.detach(), opt.iterations
        (tensor([0.9500, 0.9500]), 1)
    """

    rule: ClassVar[type[torch.optim.Optimizer]]
    default_learning_rate: ClassVar[float] = 0.001

    def __init__(
        self,
        learning_rate: LearningRate | None = None,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        use_ema: bool = False,
        ema_momentum: float = 0.99,
        ema_overwrite_frequency: int | None = None,
        loss_scale_factor: float | None = None,
        gradient_accumulation_steps: int | None = None,
        name: str | None = None,
    ) -> None:
        unsupported = {
            "use_ema": (use_ema, False),
            "ema_overwrite_frequency": (ema_overwrite_frequency, None),
            "loss_scale_factor": (loss_scale_factor, None),
            "gradient_accumulation_steps": (gradient_accumulation_steps, None),
        }
        for argument, (value, default) in unsupported.items():
            if value != default:
                raise ValueError(
                    f"Argument `{argument}` is not supported by birnn optimizers; received {argument}={value!r}"
                )
        clip_arguments = {"clipnorm": clipnorm, "clipvalue": clipvalue, "global_clipnorm": global_clipnorm}
        if sum(v is not None for v in clip_arguments.values()) > 1:
            raise ValueError(
                "Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set. "
                f"Received: clipnorm={clipnorm}, clipvalue={clipvalue}, global_clipnorm={global_clipnorm}"
            )
        for argument, value in {**clip_arguments, "weight_decay": weight_decay}.items():
            _check_positive(argument, value)
        learning_rate = self.default_learning_rate if learning_rate is None else learning_rate
        if not callable(learning_rate):
            _check_positive("learning_rate", learning_rate)
        self.name = name or _snake_name(type(self))
        self.weight_decay = weight_decay
        self.clipnorm = clipnorm
        self.clipvalue = clipvalue
        self.global_clipnorm = global_clipnorm
        self.ema_momentum = ema_momentum
        self._learning_rate: LearningRate = learning_rate
        self._iterations = 0
        self._torch: torch.optim.Optimizer | None = None
        self._param_ids: tuple[int, ...] = ()
        self._state_device: torch.device | None = None

    # --------------------------------------------------------------- hyper-parameters
    @abc.abstractmethod
    def hyperparameters(self) -> dict[str, Any]:
        """The rule's own hyper-parameters (everything but the learning rate), Keras names."""

    @property
    def learning_rate(self) -> float:
        """The current learning rate (settable; a schedule is evaluated at the current step)."""
        lr = self._learning_rate
        return float(lr(self._iterations)) if callable(lr) else float(lr)

    @learning_rate.setter
    def learning_rate(self, value: LearningRate) -> None:
        if not callable(value):
            _check_positive("learning_rate", value)
        self._learning_rate = value
        self._sync_learning_rate()

    @property
    def iterations(self) -> int:
        """Number of updates applied so far."""
        return self._iterations

    @property
    def torch_optimizer(self) -> torch.optim.Optimizer | None:
        """The underlying ``torch.optim.Optimizer`` (``None`` until the first ``apply``/``build``)."""
        return self._torch

    def _sync_learning_rate(self) -> None:
        if self._torch is not None:
            for group in self._torch.param_groups:
                group["lr"] = self.learning_rate

    # --------------------------------------------------------------- building and stepping
    def build(self, params: Iterable[Tensor]) -> None:
        """Bind to ``params`` (creating fresh optimizer state)."""
        params = list(params)
        self._torch = self.rule(params, lr=self.learning_rate, **self._rule_arguments())
        self._param_ids = tuple(id(p) for p in params)
        self._state_device = params[0].device if params else None

    def _rule_arguments(self) -> dict[str, Any]:
        return self.hyperparameters()

    @torch.no_grad()
    def _clip(self, grads: list[Tensor]) -> None:
        if self.clipnorm:
            for g in grads:
                g.mul_(self.clipnorm / torch.clamp(torch.linalg.vector_norm(g), min=self.clipnorm))
        elif self.global_clipnorm:
            norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
            scale = torch.clamp(self.global_clipnorm / norm, max=1.0)
            for g in grads:
                g.mul_(scale)
        elif self.clipvalue:
            for g in grads:
                g.clamp_(-self.clipvalue, self.clipvalue)

    def _follow(self, device: torch.device) -> None:
        """Move the optimizer state to ``device`` after ``model.to(device)`` (scalar step counters stay)."""
        assert self._torch is not None
        for param, state in self._torch.state.items():
            for key, value in state.items():
                if isinstance(value, Tensor) and value.ndim and value.device != param.device:
                    state[key] = value.to(param.device)
        self._state_device = device

    def apply(self, params: Iterable[Tensor]) -> None:
        """Update ``params`` from their ``.grad``: clip, decay, then the rule's step (Keras's order).

        Binds (or re-binds, with fresh state) to ``params`` when they differ from the last call.
        Weights without a gradient are left alone.
        """
        params = [p for p in params if p.requires_grad]
        if self._torch is None or tuple(id(p) for p in params) != self._param_ids:
            self.build(params)
        self._sync_learning_rate()
        if params and params[0].device != self._state_device:
            self._follow(params[0].device)
        with_grad = [p for p in params if p.grad is not None]
        self._clip([p.grad for p in with_grad])
        if self.weight_decay:
            with torch.no_grad():
                for p in with_grad:
                    p.sub_(p * (self.weight_decay * self.learning_rate))
        assert self._torch is not None
        self._torch.step()
        self._iterations += 1

    # --------------------------------------------------------------- state and config
    def state_dict(self) -> dict[str, Any]:
        """Step count and the torch optimizer's state (for checkpoints)."""
        return {"iterations": self._iterations, "torch": None if self._torch is None else self._torch.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict` output (the optimizer must be built on the same weights)."""
        self._iterations = int(state["iterations"])
        if state.get("torch") is not None:
            if self._torch is None:
                raise ValueError(f"Optimizer '{self.name}' must be built (apply or build) before loading torch state.")
            self._torch.load_state_dict(state["torch"])

    def get_config(self) -> dict[str, Any]:
        lr = self._learning_rate
        return {
            "name": self.name,
            "learning_rate": _registry.serialize(lr) if callable(lr) and hasattr(lr, "get_config") else lr,
            "weight_decay": self.weight_decay,
            "clipnorm": self.clipnorm,
            "global_clipnorm": self.global_clipnorm,
            "clipvalue": self.clipvalue,
            "use_ema": False,
            "ema_momentum": self.ema_momentum,
            "ema_overwrite_frequency": None,
            "loss_scale_factor": None,
            "gradient_accumulation_steps": None,
            **self.hyperparameters(),
        }

    @classmethod
    def from_config(cls, config: Mapping[str, Any], custom_objects: Mapping[str, Any] | None = None) -> Optimizer:
        config = dict(config)
        if isinstance(config.get("learning_rate"), Mapping):
            config["learning_rate"] = _registry.deserialize(
                config["learning_rate"], custom_objects, kind="learning rate"
            )
        return cls(**config)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(learning_rate={self.learning_rate}, {self.hyperparameters()})"


@_registry.register
class SGD(Optimizer):
    """Gradient descent with optional (Nesterov) momentum; Keras default ``learning_rate=0.01``.

    Example:
        >>> SGD().get_config()["learning_rate"], SGD(momentum=0.9).momentum
        (0.01, 0.9)
    """

    rule = _SGDRule
    default_learning_rate = 0.01

    def __init__(
        self, learning_rate: LearningRate = 0.01, momentum: float = 0.0, nesterov: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(learning_rate=learning_rate, **kwargs)
        if not 0 <= momentum <= 1:
            raise ValueError(f"Argument `momentum` must be in the range [0, 1]. Received: momentum={momentum!r}")
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)

    def hyperparameters(self) -> dict[str, Any]:
        return {"momentum": self.momentum, "nesterov": self.nesterov}


@_registry.register
class RMSprop(Optimizer):
    """RMSprop with Keras's epsilon inside the square root (``torch.optim.RMSprop`` adds it outside).

    Example:
        >>> RMSprop().hyperparameters()
        {'rho': 0.9, 'momentum': 0.0, 'epsilon': 1e-07, 'centered': False}
    """

    rule = _RMSpropRule

    def __init__(
        self,
        learning_rate: LearningRate = 0.001,
        rho: float = 0.9,
        momentum: float = 0.0,
        epsilon: float = 1e-7,
        centered: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.rho, self.momentum, self.epsilon, self.centered = (
            float(rho),
            float(momentum),
            float(epsilon),
            bool(centered),
        )

    def hyperparameters(self) -> dict[str, Any]:
        return {"rho": self.rho, "momentum": self.momentum, "epsilon": self.epsilon, "centered": self.centered}


class _MomentOptimizer(Optimizer):
    """Shared hyper-parameters of the Adam family: ``beta_1``, ``beta_2``, ``epsilon``."""

    def __init__(
        self,
        learning_rate: LearningRate = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        **kwargs: Any,
    ) -> None:
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)

    def hyperparameters(self) -> dict[str, Any]:
        return {"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}


@_registry.register
class Adam(_MomentOptimizer):
    """Adam with Keras's epsilon placement (``epsilon`` is added to ``sqrt(v)`` before bias correction).

    Example:
        >>> Adam().hyperparameters()
        {'beta_1': 0.9, 'beta_2': 0.999, 'epsilon': 1e-07, 'amsgrad': False}
    """

    rule = _AdamRule

    def __init__(self, learning_rate: LearningRate = 0.001, amsgrad: bool = False, **kwargs: Any) -> None:
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.amsgrad = bool(amsgrad)

    def hyperparameters(self) -> dict[str, Any]:
        return {**super().hyperparameters(), "amsgrad": self.amsgrad}


@_registry.register
class AdamW(Adam):
    """Adam with decoupled weight decay, Keras default ``weight_decay=0.004``.

    Example:
        >>> AdamW().weight_decay
        0.004
    """

    def __init__(self, learning_rate: LearningRate = 0.001, weight_decay: float = 0.004, **kwargs: Any) -> None:
        if weight_decay is None:
            raise ValueError("Argument `weight_decay` must be a float for AdamW, received: weight_decay=None")
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay, **kwargs)


@_registry.register
class Adagrad(Optimizer):
    """Adagrad with Keras's ``initial_accumulator_value=0.1`` and epsilon inside the square root.

    Example:
        >>> Adagrad().hyperparameters()
        {'initial_accumulator_value': 0.1, 'epsilon': 1e-07}
    """

    rule = _AdagradRule

    def __init__(
        self,
        learning_rate: LearningRate = 0.001,
        initial_accumulator_value: float = 0.1,
        epsilon: float = 1e-7,
        **kwargs: Any,
    ) -> None:
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.initial_accumulator_value, self.epsilon = float(initial_accumulator_value), float(epsilon)

    def hyperparameters(self) -> dict[str, Any]:
        return {"initial_accumulator_value": self.initial_accumulator_value, "epsilon": self.epsilon}


@_registry.register
class Adadelta(Optimizer):
    """Adadelta (``torch.optim.Adadelta``, whose update is Keras's); Keras defaults ``lr=1e-3, rho=0.95``.

    Example:
        >>> Adadelta().hyperparameters()
        {'rho': 0.95, 'epsilon': 1e-07}
    """

    rule = torch.optim.Adadelta

    def __init__(
        self, learning_rate: LearningRate = 0.001, rho: float = 0.95, epsilon: float = 1e-7, **kwargs: Any
    ) -> None:
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.rho, self.epsilon = float(rho), float(epsilon)

    def hyperparameters(self) -> dict[str, Any]:
        return {"rho": self.rho, "epsilon": self.epsilon}

    def _rule_arguments(self) -> dict[str, Any]:
        return {"rho": self.rho, "eps": self.epsilon}


@_registry.register
class Adamax(_MomentOptimizer):
    """Adamax (infinity-norm Adam) with Keras's epsilon placement.

    Example:
        >>> Adamax().hyperparameters()
        {'beta_1': 0.9, 'beta_2': 0.999, 'epsilon': 1e-07}
    """

    rule = _AdamaxRule


@_registry.register
class Nadam(_MomentOptimizer):
    """Nesterov Adam with Keras's momentum schedule ``beta_1 * (1 - 0.5 * 0.96**t)``.

    Example:
        >>> Nadam().get_config()["name"]
        'nadam'
    """

    rule = _NadamRule


class TorchOptimizer(Optimizer):
    """Use an existing ``torch.optim.Optimizer`` (already bound to the weights) in ``compile``.

    Clipping and weight decay are the torch optimizer's business; :meth:`apply` only steps it.

    Example:
        >>> import torch
        >>> w = torch.nn.Parameter(torch.ones(1))
        >>> opt = TorchOptimizer(torch.optim.SGD([w], lr=0.5))
        >>> w.sum().backward(); opt.apply([w]); w.detach()
        tensor([0.5000])
    """

    def __init__(self, optimizer: torch.optim.Optimizer, name: str | None = None) -> None:
        super().__init__(learning_rate=optimizer.param_groups[0]["lr"], name=name or type(optimizer).__name__.lower())
        self._torch = optimizer

    def hyperparameters(self) -> dict[str, Any]:
        return {}

    @property
    def learning_rate(self) -> float:
        assert self._torch is not None
        return float(self._torch.param_groups[0]["lr"])

    @learning_rate.setter
    def learning_rate(self, value: float) -> None:
        _check_positive("learning_rate", value)
        assert self._torch is not None
        for group in self._torch.param_groups:
            group["lr"] = float(value)

    def apply(self, params: Iterable[Tensor]) -> None:
        assert self._torch is not None
        self._torch.step()
        self._iterations += 1

    def get_config(self) -> dict[str, Any]:
        raise NotImplementedError("A wrapped torch.optim optimizer cannot be serialized to a Keras config.")


# --------------------------------------------------------------------------- lookup
_CLASSES: dict[str, type[Optimizer]] = {
    cls.__name__.lower(): cls for cls in (SGD, RMSprop, Adam, AdamW, Adagrad, Adadelta, Adamax, Nadam)
}


def serialize(optimizer: Optimizer) -> dict[str, Any]:
    """The ``{"class_name", "config"}`` envelope of ``optimizer``.

    Example:
        >>> serialize(Adam())["class_name"]
        'Adam'
    """
    return _registry.serialize(optimizer)


def deserialize(config: str | Mapping[str, Any], custom_objects: Mapping[str, Any] | None = None) -> Optimizer:
    """Build an optimizer from a name (case-insensitive, Keras defaults) or an envelope.

    Raises:
        ValueError: unknown name or class.

    Example:
        >>> deserialize("Adam").learning_rate
        0.001
    """
    envelope = {"class_name": config, "config": {}} if isinstance(config, str) else dict(config)
    class_name = str(envelope.get("class_name", ""))
    cls = _CLASSES.get(class_name.lower()) or _registry.get_registered_object(class_name, custom_objects)
    if cls is None:
        raise ValueError(
            f"Unknown optimizer {class_name!r}. Accepted names: {', '.join(sorted(_CLASSES))} "
            "(any capitalisation), a birnn.optimizers.Optimizer or a torch.optim.Optimizer instance."
        )
    return cls.from_config(envelope.get("config", {}), custom_objects=custom_objects)


def get(identifier: str | Mapping[str, Any] | Optimizer | torch.optim.Optimizer) -> Optimizer:
    """Resolve an optimizer identifier: a name, an envelope, an instance, or a ``torch.optim`` optimizer.

    Raises:
        ValueError: an unknown name or an identifier of another type.

    Example:
        >>> get("adamw").weight_decay, type(get("SGD")).__name__
        (0.004, 'SGD')
    """
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, torch.optim.Optimizer):
        return TorchOptimizer(identifier)
    if isinstance(identifier, (str, Mapping)):
        return deserialize(identifier)
    if isinstance(identifier, type) and issubclass(identifier, Optimizer):
        return identifier()
    raise ValueError(f"Could not interpret optimizer identifier: {identifier!r}")
