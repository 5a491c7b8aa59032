"""``InputLayer`` and ``Input``: the declared input shape (and dtype) of a ``Sequential`` model."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from ... import _registry
from .._input_spec import InputSpec
from .._layer import Layer, Shape

__all__ = ["InputLayer", "Input"]

_INPUT_DTYPES = {
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "float32": torch.float32,
    "float64": torch.float64,
    "int8": torch.int8,
    "int16": torch.int16,
    "int32": torch.int32,
    "int64": torch.int64,
    "uint8": torch.uint8,
    "bool": torch.bool,
}


def _input_dtype_name(dtype: Any) -> str:
    if dtype is None:
        return "float32"
    if isinstance(dtype, dict):  # Keras 3 DTypePolicy envelope
        dtype = dtype.get("config", {}).get("name", dtype.get("name"))
    if isinstance(dtype, torch.dtype):
        dtype = str(dtype).removeprefix("torch.")
    if dtype not in _INPUT_DTYPES:
        raise ValueError(
            f"Argument `dtype` of InputLayer must be one of {sorted(_INPUT_DTYPES)}, received: dtype={dtype!r}"
        )
    return dtype


@_registry.register
class InputLayer(Layer):
    """Declares the per-sample shape (and dtype) of a model's input; passes inputs through.

    Inputs are checked against the declared shape (rank and every known size) and converted to the
    declared dtype, as Keras's functional models do.

    Args:
        shape: per-sample shape, without the batch axis (``(T, F)`` for sequences).
        batch_size: fixed batch size, if any.
        dtype: input dtype, float or integer (``"int32"`` for token ids); default ``"float32"``.
        batch_shape: full shape including the batch axis (instead of ``shape`` and ``batch_size``).
        name: layer name (default ``"input_layer"``).
        sparse, ragged, optional, input_tensor: Keras arguments; only their defaults are supported.
        batch_input_shape, input_shape: Keras 2 spellings of ``batch_shape`` / ``shape``.

    Call arguments:
        inputs: the model input. mask: optional; passed through unchanged.

    Example:
        >>> import torch
        >>> layer = InputLayer(shape=(5, 10), name="inputs")
        >>> layer.batch_shape
        (None, 5, 10)
        >>> layer(torch.zeros(2, 5, 3))
        Traceback (most recent call last):
        ...
        ValueError: Input 0 of layer "inputs" is incompatible with the layer: expected axis 2 of input shape to have value 10, but received input with shape (2, 5, 3)
    """

    supports_masking = True

    def __init__(
        self,
        shape: Sequence[int | None] | None = None,
        batch_size: int | None = None,
        dtype: Any = None,
        sparse: bool | None = None,
        batch_shape: Sequence[int | None] | None = None,
        input_tensor: Any = None,
        optional: bool = False,
        name: str | None = None,
        ragged: bool | None = None,
        **kwargs: Any,
    ) -> None:
        batch_shape = kwargs.pop("batch_input_shape", batch_shape)
        shape = kwargs.pop("input_shape", shape)
        for argument, value in {
            "sparse": sparse,
            "ragged": ragged,
            "optional": optional,
            "input_tensor": input_tensor,
        }.items():
            if value:
                raise ValueError(
                    f"Argument `{argument}` of InputLayer is not supported by birnn, received: {argument}={value!r}"
                )
        if shape is not None and batch_shape is not None:
            raise ValueError(
                "You cannot pass both `shape` and `batch_shape` at the same time. "
                f"Received: shape={shape}, batch_shape={batch_shape}"
            )
        if shape is None and batch_shape is None:
            raise ValueError(
                "You must pass a `shape` argument to InputLayer (per-sample shape, without the batch axis)."
            )
        self.input_dtype = _input_dtype_name(dtype)
        float_dtype = self.input_dtype if _INPUT_DTYPES[self.input_dtype].is_floating_point else None
        super().__init__(name=name, dtype=float_dtype, **kwargs)
        shape_tuple = (batch_size, *shape) if batch_shape is None else tuple(batch_shape)  # type: ignore[misc]
        self.batch_shape: Shape = tuple(None if d is None else int(d) for d in shape_tuple)
        self.batch_input_shape = self.batch_shape
        known = {axis: size for axis, size in enumerate(self.batch_shape) if size is not None and axis > 0}
        self.input_spec = InputSpec(ndim=len(self.batch_shape), axes=known)
        self.built = True

    @property
    def shape(self) -> Shape:
        """The declared per-sample shape (without the batch axis)."""
        return self.batch_shape[1:]

    def call(self, inputs: Tensor, mask: Tensor | None = None) -> Tensor:
        target = _INPUT_DTYPES[self.input_dtype]
        return inputs if inputs.dtype == target else inputs.to(target)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        return {"batch_shape": list(self.batch_shape), "dtype": self.input_dtype, "sparse": False, "name": self.name}


def Input(
    shape: Sequence[int | None] | None = None,
    batch_size: int | None = None,
    dtype: Any = None,
    sparse: bool | None = None,
    batch_shape: Sequence[int | None] | None = None,
    name: str | None = None,
    tensor: Any = None,
    optional: bool = False,
) -> InputLayer:
    """Keras's ``Input(shape=...)``: the first entry of a ``Sequential`` model's layer list.

    birnn has no symbolic tensors, so ``Input`` returns the :class:`InputLayer` itself; ``Sequential``
    takes it as its input declaration.

    Example:
        >>> from birnn.layers import Input
        >>> Input(shape=(5, 10)).batch_shape
        (None, 5, 10)
    """
    return InputLayer(
        shape=shape,
        batch_size=batch_size,
        dtype=dtype,
        sparse=sparse,
        batch_shape=batch_shape,
        name=name,
        input_tensor=tensor,
        optional=optional,
    )
