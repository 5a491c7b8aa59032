"""Keras 3's activation functions as plain functions on torch tensors.

Every name ``keras.activations.get`` accepts is accepted by :func:`get`, and
each function computes what Keras computes on the torch backend. The extra
:func:`legacy_hard_sigmoid` is Keras 2's piecewise-linear ``hard_sigmoid``,
needed when importing Keras 2 models.

Example:
    >>> from birnn import activations
    >>> activations.get("relu")(torch.tensor([-1.0, 2.0]))
    tensor([0., 2.])
    >>> activations.serialize(activations.swish)
    'silu'
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn.functional as F

from birnn import _registry

__all__ = [
    "ALL_NAMES",
    "celu",
    "deserialize",
    "elu",
    "exponential",
    "gelu",
    "get",
    "glu",
    "hard_shrink",
    "hard_sigmoid",
    "hard_silu",
    "hard_swish",
    "hard_tanh",
    "leaky_relu",
    "legacy_hard_sigmoid",
    "linear",
    "log_sigmoid",
    "log_softmax",
    "mish",
    "relu",
    "relu6",
    "selu",
    "serialize",
    "sigmoid",
    "silu",
    "soft_shrink",
    "softmax",
    "softplus",
    "softsign",
    "sparse_plus",
    "sparse_sigmoid",
    "sparsemax",
    "squareplus",
    "swish",
    "tanh",
    "tanh_shrink",
    "threshold",
]

Tensor = torch.Tensor
Activation = Callable[..., Tensor]


def celu(x: Tensor, alpha: float = 1.0) -> Tensor:
    """Continuously differentiable ELU: ``max(x, 0) + min(alpha * (exp(x / alpha) - 1), 0)``.

    Example:
        >>> celu(torch.tensor([-1.0, 1.0]))
        tensor([-0.6321,  1.0000])
    """
    return F.celu(x, alpha=alpha)


def elu(x: Tensor, alpha: float = 1.0) -> Tensor:
    """Exponential linear unit: ``x`` if ``x > 0`` else ``alpha * (exp(x) - 1)``.

    Example:
        >>> elu(torch.tensor([-1.0, 1.0]))
        tensor([-0.6321,  1.0000])
    """
    return F.elu(x, alpha=alpha)


def exponential(x: Tensor) -> Tensor:
    """Element-wise ``exp(x)``.

    Example:
        >>> exponential(torch.tensor([0.0, 1.0]))
        tensor([1.0000, 2.7183])
    """
    return torch.exp(x)


def gelu(x: Tensor, approximate: bool = False) -> Tensor:
    """Gaussian error linear unit; exact (erf) unless ``approximate`` selects the tanh form.

    Example:
        >>> gelu(torch.tensor([-1.0, 1.0]))
        tensor([-0.1587,  0.8413])
    """
    return F.gelu(x, approximate="tanh" if approximate else "none")


def glu(x: Tensor, axis: int = -1) -> Tensor:
    """Gated linear unit: splits ``axis`` in halves ``a, b`` and returns ``a * sigmoid(b)``.

    Example:
        >>> glu(torch.tensor([1.0, 0.0]))
        tensor([0.5000])
    """
    return F.glu(x, dim=axis)


def hard_shrink(x: Tensor, threshold: float = 0.5) -> Tensor:
    """``x`` where ``|x| > threshold``, else 0.

    Example:
        >>> hard_shrink(torch.tensor([-1.0, 0.25, 1.0]))
        tensor([-1.,  0.,  1.])
    """
    return F.hardshrink(x, lambd=threshold)


def hard_sigmoid(x: Tensor) -> Tensor:
    """Keras 3's hard sigmoid: ``relu6(x + 3) / 6``.

    Example:
        >>> hard_sigmoid(torch.tensor([-3.0, 0.0, 3.0]))
        tensor([0.0000, 0.5000, 1.0000])
    """
    return F.hardsigmoid(x)


def legacy_hard_sigmoid(x: Tensor) -> Tensor:
    """Keras 2's hard sigmoid: ``clip(0.2 * x + 0.5, 0, 1)``.

    Only reachable under its own name; ``"hard_sigmoid"`` means the Keras 3 form.

    Example:
        >>> legacy_hard_sigmoid(torch.tensor([-3.0, 0.0, 1.0]))
        tensor([0.0000, 0.5000, 0.7000])
    """
    return torch.clamp(0.2 * x + 0.5, 0.0, 1.0)


def hard_silu(x: Tensor) -> Tensor:
    """Hard SiLU (hard swish): ``x * relu6(x + 3) / 6``.

    Example:
        >>> hard_silu(torch.tensor([1.0, 3.0]))
        tensor([0.6667, 3.0000])
    """
    return F.hardswish(x)


def hard_tanh(x: Tensor) -> Tensor:
    """``clip(x, -1, 1)``.

    Example:
        >>> hard_tanh(torch.tensor([-2.0, 0.5, 2.0]))
        tensor([-1.0000,  0.5000,  1.0000])
    """
    return F.hardtanh(x)


def leaky_relu(x: Tensor, negative_slope: float = 0.2) -> Tensor:
    """``x`` if ``x >= 0`` else ``negative_slope * x`` (Keras's default slope is 0.2).

    Example:
        >>> leaky_relu(torch.tensor([-1.0, 1.0]))
        tensor([-0.2000,  1.0000])
    """
    return F.leaky_relu(x, negative_slope=negative_slope)


def linear(x: Tensor) -> Tensor:
    """The identity; what ``activation=None`` means.

    Example:
        >>> linear(torch.tensor([-1.0, 1.0]))
        tensor([-1.,  1.])
    """
    return x


def log_sigmoid(x: Tensor) -> Tensor:
    """``log(sigmoid(x))``, computed stably.

    Example:
        >>> log_sigmoid(torch.tensor([0.0]))
        tensor([-0.6931])
    """
    return F.logsigmoid(x)


def log_softmax(x: Tensor, axis: int = -1) -> Tensor:
    """``log(softmax(x, axis))``, computed stably.

    Example:
        >>> log_softmax(torch.tensor([0.0, 0.0]))
        tensor([-0.6931, -0.6931])
    """
    return F.log_softmax(x, dim=axis)


def mish(x: Tensor) -> Tensor:
    """``x * tanh(softplus(x))``.

    Example:
        >>> mish(torch.tensor([-1.0, 1.0]))
        tensor([-0.3034,  0.8651])
    """
    return F.mish(x)


def relu(
    x: Tensor,
    negative_slope: float = 0.0,
    max_value: float | None = None,
    threshold: float = 0.0,
) -> Tensor:
    """Rectified linear unit with Keras's optional slope, cap and threshold.

    Returns ``x`` for ``threshold < x``, capped at ``max_value``, and
    ``negative_slope * (x - threshold)`` for ``x <= threshold``.

    Example:
        >>> relu(torch.tensor([-2.0, 1.0, 8.0]), negative_slope=0.5, max_value=6.0)
        tensor([-1.,  1.,  6.])
    """
    out = torch.relu(x) if threshold == 0 else torch.where(x > threshold, x, 0.0)
    if max_value is not None:
        out = torch.clamp(out, 0.0, max_value)
    if negative_slope != 0:
        out = out - negative_slope * torch.relu(threshold - x)
    return out


def relu6(x: Tensor) -> Tensor:
    """``min(max(x, 0), 6)``.

    Example:
        >>> relu6(torch.tensor([-1.0, 3.0, 9.0]))
        tensor([0., 3., 6.])
    """
    return F.relu6(x)


def selu(x: Tensor) -> Tensor:
    """Scaled ELU with the self-normalising constants of Klambauer et al. (2017).

    Example:
        >>> selu(torch.tensor([-1.0, 1.0]))
        tensor([-1.1113,  1.0507])
    """
    return F.selu(x)


def sigmoid(x: Tensor) -> Tensor:
    """``1 / (1 + exp(-x))``; a stable object the fused kernels recognise by identity.

    Example:
        >>> sigmoid(torch.tensor([0.0]))
        tensor([0.5000])
    """
    return torch.sigmoid(x)


def silu(x: Tensor) -> Tensor:
    """SiLU (swish): ``x * sigmoid(x)``.

    Example:
        >>> silu(torch.tensor([-1.0, 1.0]))
        tensor([-0.2689,  0.7311])
    """
    return F.silu(x)


def soft_shrink(x: Tensor, threshold: float = 0.5) -> Tensor:
    """``x - threshold`` above ``threshold``, ``x + threshold`` below ``-threshold``, else 0.

    Example:
        >>> soft_shrink(torch.tensor([-1.0, 0.25, 1.0]))
        tensor([-0.5000,  0.0000,  0.5000])
    """
    return F.softshrink(x, lambd=threshold)


def softmax(x: Tensor, axis: int = -1) -> Tensor:
    """``exp(x) / sum(exp(x))`` along ``axis``.

    Example:
        >>> softmax(torch.tensor([0.0, 0.0]))
        tensor([0.5000, 0.5000])
    """
    return F.softmax(x, dim=axis)


def softplus(x: Tensor) -> Tensor:
    """``log(1 + exp(x))`` (torch's, linear above 20, as Keras's torch backend).

    Example:
        >>> softplus(torch.tensor([0.0]))
        tensor([0.6931])
    """
    return F.softplus(x)


def softsign(x: Tensor) -> Tensor:
    """``x / (1 + |x|)``.

    Example:
        >>> softsign(torch.tensor([-1.0, 3.0]))
        tensor([-0.5000,  0.7500])
    """
    return F.softsign(x)


def sparse_plus(x: Tensor) -> Tensor:
    """0 for ``x <= -1``, ``(x + 1)**2 / 4`` for ``-1 < x < 1``, ``x`` for ``x >= 1``.

    Example:
        >>> sparse_plus(torch.tensor([-2.0, 0.0, 2.0]))
        tensor([0.0000, 0.2500, 2.0000])
    """
    return torch.where(x <= -1, 0.0, torch.where(x < 1, 0.25 * (x + 1) ** 2, x))


def sparse_sigmoid(x: Tensor) -> Tensor:
    """``clip((x + 1) / 2, 0, 1)``.

    Example:
        >>> sparse_sigmoid(torch.tensor([-2.0, 0.0, 2.0]))
        tensor([0.0000, 0.5000, 1.0000])
    """
    return torch.clamp(0.5 * (x + 1), 0.0, 1.0)


def sparsemax(x: Tensor, axis: int = -1) -> Tensor:
    """Euclidean projection of ``x`` onto the probability simplex along ``axis``.

    Example:
        >>> sparsemax(torch.tensor([0.0, 1.0, 3.0]))
        tensor([0., 0., 1.])
    """
    z = x.movedim(axis, -1)
    ranked = z.sort(dim=-1, descending=True).values
    cumulative = ranked.cumsum(dim=-1)
    k = torch.arange(1, z.shape[-1] + 1, dtype=z.dtype, device=z.device)
    support = (1 + k * ranked > cumulative).sum(dim=-1, keepdim=True)
    tau = (cumulative.gather(-1, support - 1) - 1) / support
    return torch.clamp(z - tau, min=0.0).movedim(-1, axis)


def squareplus(x: Tensor, b: float = 4) -> Tensor:
    """``(x + sqrt(x**2 + b)) / 2``.

    Example:
        >>> squareplus(torch.tensor([0.0]))
        tensor([1.])
    """
    return (x + torch.sqrt(x * x + b)) / 2


def tanh(x: Tensor) -> Tensor:
    """Hyperbolic tangent; a stable object the fused kernels recognise by identity.

    Example:
        >>> tanh(torch.tensor([0.0]))
        tensor([0.])
    """
    return torch.tanh(x)


def tanh_shrink(x: Tensor) -> Tensor:
    """``x - tanh(x)``.

    Example:
        >>> tanh_shrink(torch.tensor([0.0]))
        tensor([0.])
    """
    return F.tanhshrink(x)


def threshold(x: Tensor, threshold: float, default_value: float) -> Tensor:
    """``x`` where ``x > threshold``, else ``default_value``.

    Example:
        >>> threshold(torch.tensor([-1.0, 2.0]), 0.0, -5.0)
        tensor([-5.,  2.])
    """
    return F.threshold(x, threshold, default_value)


swish = silu
hard_swish = hard_silu

_BY_NAME: dict[str, Activation] = {
    fn.__name__: fn
    for fn in (
        celu, elu, exponential, gelu, glu, hard_shrink, hard_sigmoid, hard_silu, hard_tanh,
        leaky_relu, legacy_hard_sigmoid, linear, log_sigmoid, log_softmax, mish, relu, relu6,
        selu, sigmoid, silu, soft_shrink, softmax, softplus, softsign, sparse_plus,
        sparse_sigmoid, sparsemax, squareplus, tanh, tanh_shrink, threshold,
    )
}  # fmt: skip
_BY_NAME.update(swish=silu, hard_swish=hard_silu)

# Every name get() accepts for a built-in activation.
ALL_NAMES: tuple[str, ...] = tuple(sorted(_BY_NAME))

# Canonical name of each built-in, plus torch functions computing the same thing.
_NAME_OF: dict[Any, str] = {fn: name for name, fn in _BY_NAME.items() if fn.__name__ == name}
_NAME_OF.update(
    {
        torch.tanh: "tanh",
        torch.sigmoid: "sigmoid",
        torch.relu: "relu",
        torch.exp: "exponential",
        F.relu: "relu",
        F.relu6: "relu6",
        F.elu: "elu",
        F.selu: "selu",
        F.celu: "celu",
        F.gelu: "gelu",
        F.silu: "silu",
        F.mish: "mish",
        F.softplus: "softplus",
        F.softsign: "softsign",
        F.hardsigmoid: "hard_sigmoid",
        F.hardswish: "hard_silu",
        F.hardtanh: "hard_tanh",
        F.logsigmoid: "log_sigmoid",
        F.tanhshrink: "tanh_shrink",
    }
)


def serialize(activation: Activation) -> str:
    """The name that :func:`deserialize` turns back into ``activation``.

    Built-ins (and the torch functions computing the same thing) give their
    canonical Keras name, user functions the name they were registered under.

    Raises:
        ValueError: ``activation`` is neither built in nor registered.

    Example:
        >>> serialize(torch.tanh), serialize(hard_swish)
        ('tanh', 'hard_silu')
    """
    name = _NAME_OF.get(activation)
    if name is not None:
        return name
    registered = _registry.get_registered_name(activation)
    if _registry.get_registered_object(registered) is activation:
        return registered
    raise ValueError(
        f"Cannot serialize activation {activation!r}: it is not a built-in activation. "
        "Register it with @birnn.saving.register_keras_serializable() so it can be saved by name."
    )


def deserialize(name: str | Mapping[str, Any], custom_objects: Mapping[str, Any] | None = None) -> Activation:
    """The activation function called ``name``.

    ``name`` may also be a Keras 3 envelope: ``{"class_name": "function",
    "config": "tanh"}`` or ``{"class_name": "tanh"}``. ``custom_objects`` is
    searched first, then the built-ins, then the registry.

    Raises:
        ValueError: the name is unknown.

    Example:
        >>> deserialize("tanh") is tanh
        True
    """
    key = name
    if isinstance(name, Mapping):
        key = name.get("config") if name.get("class_name") == "function" else name.get("class_name")
    if not isinstance(key, str):
        raise ValueError(f"An activation must be given by name, received: {name!r}")
    if custom_objects and key in custom_objects:
        return custom_objects[key]
    found = _BY_NAME.get(key) or _registry.get_registered_object(key)
    if not callable(found) or isinstance(found, type):
        raise ValueError(f"Unknown activation {key!r}. Accepted names: {', '.join(ALL_NAMES)}.")
    return found


def get(identifier: str | Mapping[str, Any] | Activation | None) -> Activation:
    """Resolve an activation identifier: ``None`` (linear), a name, an envelope or a callable.

    Callables are returned unchanged.

    Raises:
        ValueError: unknown name, or an identifier of another type.

    Example:
        >>> get(None) is linear, get("sigmoid") is sigmoid
        (True, True)
    """
    if identifier is None:
        return linear
    if isinstance(identifier, (str, Mapping)):
        return deserialize(identifier)
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret activation identifier: {identifier!r}")
