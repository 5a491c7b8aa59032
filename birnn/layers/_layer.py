"""``Layer``: the small base every birnn layer and cell shares.

A ``Layer`` is a ``torch.nn.Module`` with Keras's user-facing contract on top:

* weights created lazily by ``build(input_shape)`` on the first call (on the input's device),
  registered as ``nn.Parameter`` under their Keras names (``kernel``, ``recurrent_kernel``, ``bias``);
* ``weights`` / ``trainable_weights`` / ``non_trainable_weights`` and ``get_weights`` / ``set_weights``
  in Keras order (own weights, then sub-layers in assignment order) with Keras's error messages;
* regularization losses in ``losses`` and ``apply_constraints()`` for after an optimizer step;
* masks: ``supports_masking``, ``compute_mask(inputs, mask)``, a ``mask=`` call argument, and a mask
  attached to outputs as ``tensor._keras_mask`` so that it flows to the next layer as in Keras;
* ``get_config`` / ``from_config`` with unique Keras-style default names.

Training mode: a layer starts in eval mode (``layer.training is False``), because a Keras layer
called directly runs in inference mode. ``training=None`` resolves to ``self.training``, so
``model.train()`` / ``model.eval()`` switch dropout on and off as in any PyTorch code, and an
explicit ``training=True/False`` always wins.

Subclasses implement ``build(input_shape)`` (optional), ``call(inputs, ...)`` and ``get_config()``.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
from torch import Tensor, nn

from .. import constraints, regularizers
from .. import initializers as initializers_module
from ._input_spec import InputSpec, check_input
from ._naming import to_snake_case, unique_name

__all__ = ["Layer", "Shape"]

Shape = tuple[int | None, ...]

_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32, "float64": torch.float64}


def _dtype_name(dtype: Any) -> str:
    """Normalise ``None``, a string, a ``torch.dtype`` or a Keras ``DTypePolicy`` dict to a name."""
    if dtype is None:
        return "float32"
    if isinstance(dtype, dict):  # Keras 3 config: {"class_name": "DTypePolicy", "config": {"name": ...}}
        dtype = dtype.get("config", {}).get("name", dtype.get("name"))
    if isinstance(dtype, torch.dtype):
        dtype = str(dtype).removeprefix("torch.")
    if dtype not in _DTYPES:
        raise ValueError(f"Invalid dtype: expected one of {sorted(_DTYPES)} or a torch float dtype, received: {dtype!r}")
    return dtype


@dataclass(frozen=True)
class _WeightSpec:
    name: str
    trainable: bool
    regularizer: Callable[[Tensor], Tensor] | None
    constraint: Callable[[Tensor], Tensor] | None


@functools.cache
def _call_parameters(cls: type) -> frozenset[str]:
    return frozenset(inspect.signature(cls.call).parameters)


def _first_parameter(module: torch.nn.Module) -> torch.nn.Parameter | None:
    """``next(module.parameters(), None)`` without its generators (the same module order: the module's own
    parameters, then each child's in turn): every call of a layer reads its dtype through this."""
    for param in module._parameters.values():
        if param is not None:
            return param
    for child in module._modules.values():
        param = None if child is None else _first_parameter(child)
        if param is not None:
            return param
    return None


def _first_tensor(x: Any) -> Tensor | None:
    if isinstance(x, Tensor):
        return x
    if isinstance(x, (list, tuple)):
        return next((t for t in map(_first_tensor, x) if t is not None), None)
    return None


def _shape_of(x: Any) -> Any:
    if isinstance(x, Tensor):
        return tuple(x.shape)
    return [_shape_of(item) for item in x]


def _attach_mask(outputs: Any, mask: Any) -> None:
    """Record ``mask`` on ``outputs`` (as Keras's ``_keras_mask``) so the next layer receives it."""
    if mask is None or torch.jit.is_tracing() or torch.compiler.is_compiling():
        return
    if isinstance(outputs, Tensor):
        outputs._keras_mask = mask[0] if isinstance(mask, (list, tuple)) else mask
    elif isinstance(outputs, (list, tuple)):
        masks = mask if isinstance(mask, (list, tuple)) else [mask]
        for out, m in zip(outputs, masks):
            if isinstance(out, Tensor) and m is not None:
                out._keras_mask = m


class Layer(nn.Module):
    """Base class of every birnn layer and cell.

    Args:
        name: unique layer name; defaults to the snake-cased class name made unique
            (``lstm``, ``lstm_1``, ...).
        trainable: whether the weights are updated by training.
        dtype: weight and computation dtype (``"float32"`` default, ``"float64"``, ...).
        activity_regularizer: regularizer applied to the outputs (added to ``losses``).
        input_shape: per-sample input shape (no batch axis), as in ``Dense(4, input_shape=(8,))``;
            lets the layer start a ``Sequential`` model and be built eagerly.
        batch_input_shape: full input shape including the batch axis (Keras 2 spelling).
        input_dim: shorthand for ``input_shape=(input_dim,)``.
        batch_size: fixed batch size to combine with ``input_shape``.

    Example:
        >>> import torch, birnn
        >>> layer = birnn.layers.SimpleRNN(3)
        >>> layer.built
        False
        >>> layer(torch.zeros(2, 5, 4)).shape
        torch.Size([2, 3])
        >>> [w.shape for w in layer.get_weights()]
        [(4, 3), (3, 3), (3,)]
    """

    supports_masking: bool = False

    def __init__(
        self,
        *,
        name: str | None = None,
        trainable: bool = True,
        dtype: Any = None,
        activity_regularizer: Any = None,
        input_shape: Sequence[int | None] | None = None,
        batch_input_shape: Sequence[int | None] | None = None,
        input_dim: int | None = None,
        batch_size: int | None = None,
        **kwargs: Any,
    ) -> None:
        if kwargs:
            raise ValueError(f"Unrecognized keyword arguments passed to {type(self).__name__}: {kwargs}")
        if name is not None and not isinstance(name, str):
            raise TypeError(f"Argument `name` must be a string, received: name={name!r}")
        super().__init__()
        self.train(False)
        self.name: str = name or unique_name(to_snake_case(type(self).__name__))
        self._dtype: str = _dtype_name(dtype)
        self._trainable = bool(trainable)
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self.built = False
        self.input_spec: InputSpec | list[InputSpec] | None = None
        self._weight_specs: list[_WeightSpec] = []
        self._activity_losses: list[Tensor] = []
        if input_dim is not None and input_shape is None:
            input_shape = (input_dim,)
        if batch_input_shape is None and input_shape is not None:
            batch_input_shape = (batch_size, *input_shape)
        self.batch_input_shape: Shape | None = None if batch_input_shape is None else tuple(batch_input_shape)

    # ------------------------------------------------------------------ dtype
    @property
    def dtype(self) -> str:
        """Name of the weights' dtype (``"float32"`` unless configured otherwise or converted)."""
        param = _first_parameter(self)
        return str(param.dtype).removeprefix("torch.") if param is not None else self._dtype

    @property
    def torch_dtype(self) -> torch.dtype:
        param = _first_parameter(self)
        return param.dtype if param is not None else _DTYPES.get(self._dtype, torch.float32)

    # ----------------------------------------------------------------- weights
    def add_weight(
        self,
        name: str,
        shape: Sequence[int],
        initializer: Any = "glorot_uniform",
        regularizer: Any = None,
        constraint: Any = None,
        trainable: bool = True,
    ) -> nn.Parameter:
        """Create, register and return a weight (an ``nn.Parameter`` named ``name``)."""
        init = initializers_module.get(initializer)
        value = init(tuple(int(s) for s in shape), dtype=_DTYPES[self._dtype])
        param = nn.Parameter(value, requires_grad=trainable and self._trainable)
        self.register_parameter(name, param)
        self._weight_specs.append(
            _WeightSpec(name, trainable, regularizers.get(regularizer), constraints.get(constraint))
        )
        return param

    def _sublayers(self) -> Iterator[Layer]:
        """Direct sub-layers in assignment order, looking through plain containers (``ModuleList``)."""
        stack = list(self._modules.values())[::-1]
        while stack:
            module = stack.pop()
            if isinstance(module, Layer):
                yield module
            elif module is not None:
                stack.extend(list(module._modules.values())[::-1])

    def _own_weights(self, trainable: bool) -> list[nn.Parameter]:
        return [getattr(self, s.name) for s in self._weight_specs if s.trainable == trainable]

    @staticmethod
    def _unique(params: list[nn.Parameter]) -> list[nn.Parameter]:
        seen: set[int] = set()
        return [p for p in params if not (id(p) in seen or seen.add(id(p)))]

    @property
    def weights(self) -> list[nn.Parameter]:
        """All weights in Keras order: own trainable, own non-trainable, then each sub-layer's."""
        own = self._own_weights(True) + self._own_weights(False)
        return self._unique(own + [w for layer in self._sublayers() for w in layer.weights])

    @property
    def trainable_weights(self) -> list[nn.Parameter]:
        if not self._trainable:
            return []
        nested = [w for layer in self._sublayers() for w in layer.trainable_weights]
        return self._unique(self._own_weights(True) + nested)

    @property
    def non_trainable_weights(self) -> list[nn.Parameter]:
        if not self._trainable:
            return self.weights
        nested = [w for layer in self._sublayers() for w in layer.non_trainable_weights]
        return self._unique(self._own_weights(False) + nested)

    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        self._trainable = bool(value)
        for spec in self._weight_specs:
            getattr(self, spec.name).requires_grad_(self._trainable and spec.trainable)
        for layer in self._sublayers():
            layer.trainable = value

    def get_weights(self) -> list[np.ndarray]:
        """The weights as NumPy arrays, in the order of ``weights``."""
        return [w.detach().to("cpu", torch.float32 if w.dtype == torch.bfloat16 else w.dtype).numpy() for w in self.weights]

    def set_weights(self, weights: Sequence[Any]) -> None:
        """Copy ``weights`` (arrays in the order of ``weights``) into the layer; all shapes are checked first."""
        params = self.weights
        if len(weights) != len(params):
            raise ValueError(
                f"You called `set_weights(weights)` on layer '{self.name}' with a weight list of length "
                f"{len(weights)}, but the layer was expecting {len(params)} weights."
            )
        arrays = [w.detach() if isinstance(w, Tensor) else torch.as_tensor(np.asarray(w)) for w in weights]
        for param, array in zip(params, arrays):
            if tuple(param.shape) != tuple(array.shape):
                raise ValueError(
                    f"Layer {self.name} weight shape {tuple(param.shape)} is not compatible with provided "
                    f"weight shape {tuple(array.shape)}."
                )
        with torch.no_grad():
            for param, array in zip(params, arrays):
                param.copy_(array.to(param.device, param.dtype))

    def count_params(self) -> int:
        return sum(w.numel() for w in self.weights)

    # ------------------------------------------------- losses and constraints
    def add_loss(self, loss: Tensor) -> None:
        """Add a loss computed during ``call`` (cleared at the start of the next call)."""
        self._activity_losses.append(loss)

    @property
    def losses(self) -> list[Tensor]:
        """Losses of the last call plus the regularization losses of the trainable weights."""
        out = list(self._activity_losses)
        if self._trainable:
            out += [s.regularizer(getattr(self, s.name)) for s in self._weight_specs if s.regularizer and s.trainable]
        return out + [loss for layer in self._sublayers() for loss in layer.losses]

    @torch.no_grad()
    def apply_constraints(self) -> None:
        """Project every constrained weight onto its constraint (call after each optimizer step)."""
        for spec in self._weight_specs:
            if spec.constraint is not None:
                param = getattr(self, spec.name)
                param.copy_(spec.constraint(param))
        for layer in self._sublayers():
            layer.apply_constraints()

    # ------------------------------------------------------------ build / call
    def build(self, input_shape: Any) -> None:
        """Create the weights for inputs of ``input_shape``; the default creates none."""
        self.built = True

    def call(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement call()")

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.call(*args, **kwargs)

    def _to_tensor(self, x: Any) -> Any:
        """NumPy arrays become tensors; float tensors are cast to the layer dtype (Keras autocasting)."""
        if isinstance(x, (list, tuple)):
            return type(x)(self._to_tensor(item) for item in x)
        if isinstance(x, np.ndarray) or (isinstance(x, (float, int)) and not isinstance(x, bool)):
            x = torch.as_tensor(x)
        if isinstance(x, Tensor) and x.is_floating_point():
            dtype = self.torch_dtype
            if x.dtype != dtype:
                mask = getattr(x, "_keras_mask", None)
                x = x.to(dtype)
                if mask is not None:
                    x._keras_mask = mask
        return x

    def _check_inputs(self, inputs: Any) -> None:
        spec = self.input_spec
        if spec is None or torch.jit.is_tracing():  # traced sizes: the eager call already checked them
            return
        if isinstance(spec, InputSpec) and isinstance(inputs, Tensor):  # the common case, on every call
            check_input(spec, inputs.shape, self.name)
            return
        specs = spec if isinstance(spec, list) else [spec]
        tensors = inputs if isinstance(inputs, (list, tuple)) else [inputs]
        for index, (one, tensor) in enumerate(zip(specs, tensors)):
            if isinstance(tensor, Tensor):
                check_input(one, tensor.shape, self.name, index)

    def __call__(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        inputs = self._to_tensor(inputs)
        takes_mask = "mask" in _call_parameters(type(self))
        if takes_mask and kwargs.get("mask") is None:
            kwargs["mask"] = getattr(inputs, "_keras_mask", None)
        self._check_inputs(inputs)
        if not self.built:
            first = _first_tensor(inputs)
            with torch.device(first.device if first is not None else "cpu"):
                self.build(_shape_of(inputs))
            self.built = True
        if self._activity_losses:  # a fresh list only when there is one to drop (nn.Module's setattr is slow)
            self._activity_losses = []
        outputs = super().__call__(inputs, *args, **kwargs)
        if self.activity_regularizer is not None:
            for out in outputs if isinstance(outputs, (list, tuple)) else [outputs]:
                if isinstance(out, Tensor):
                    self.add_loss(self.activity_regularizer(out) / (out.shape[0] if out.ndim else 1))
        input_mask = kwargs.get("mask") if takes_mask else getattr(inputs, "_keras_mask", None)
        _attach_mask(outputs, self.compute_mask(inputs, input_mask))
        return outputs

    def compute_mask(self, inputs: Any, mask: Tensor | None = None) -> Any:
        """The mask of the outputs: the input mask if ``supports_masking``, else ``None``."""
        return mask if self.supports_masking else None

    def compute_output_shape(self, input_shape: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not implement compute_output_shape()")

    # ------------------------------------------------------------------ config
    def get_config(self) -> dict[str, Any]:
        """JSON-able constructor arguments (subclasses add their own)."""
        config: dict[str, Any] = {"name": self.name, "trainable": self.trainable, "dtype": self.dtype}
        if self.activity_regularizer is not None:
            config["activity_regularizer"] = regularizers.serialize(self.activity_regularizer)
        if self.batch_input_shape is not None:
            config["batch_input_shape"] = list(self.batch_input_shape)
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects: dict[str, Any] | None = None) -> Layer:
        """Rebuild a layer from ``get_config()`` output."""
        return cls(**config)

    def extra_repr(self) -> str:
        return f"name={self.name!r}"
