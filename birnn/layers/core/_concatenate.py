"""``Concatenate``: join a list of tensors along one axis (and their masks)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from ... import _registry
from .._layer import Layer, Shape

__all__ = ["Concatenate"]


def _input_masks(inputs: Sequence[Tensor], mask: Sequence[Tensor | None] | None) -> list[Tensor | None]:
    if mask is None:
        return [getattr(x, "_keras_mask", None) for x in inputs]
    if not isinstance(mask, (list, tuple)) or len(mask) != len(inputs):
        raise ValueError(f"`mask` of Concatenate should be a list with one entry per input. Received: mask={mask}")
    return list(mask)


@_registry.register
class Concatenate(Layer):
    """Concatenates a list of tensors along ``axis``; all other sizes must agree.

    Masks of the inputs (``_keras_mask`` or ``mask=``) are combined the Keras way: missing masks
    count as all-``True``, and the output mask is ``True`` where any concatenated entry is.

    Args:
        axis: the concatenation axis (default ``-1``).
        **kwargs: base ``Layer`` arguments.

    Call arguments:
        inputs: a list of tensors.

    Example:
        >>> import torch
        >>> Concatenate()([torch.zeros(2, 3), torch.ones(2, 4)]).shape
        torch.Size([2, 7])
    """

    supports_masking = True

    def __init__(self, axis: int = -1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.axis = int(axis)

    def _check_shapes(self, shapes: Sequence[Shape]) -> None:
        if not isinstance(shapes, (list, tuple)) or not shapes or not all(isinstance(s, (list, tuple)) for s in shapes):
            raise ValueError(
                f"A `Concatenate` layer should be called on a list of at least 1 input. Received: input_shape={shapes}"
            )
        rank = len(shapes[0])
        axis = self.axis % rank if rank else 0
        for shape in shapes:
            if len(shape) != rank or any(
                a is not None and b is not None and a != b
                for i, (a, b) in enumerate(zip(shape, shapes[0]))
                if i != axis
            ):
                raise ValueError(
                    "A `Concatenate` layer requires inputs with matching shapes except for the concatenation axis. "
                    f"Received: input_shape={[tuple(s) for s in shapes]}"
                )

    def build(self, input_shape: Sequence[Shape]) -> None:
        self._check_shapes(input_shape)
        self.built = True

    def call(self, inputs: Sequence[Tensor]) -> Tensor:
        self._check_shapes([tuple(x.shape) for x in inputs])
        return torch.cat(list(inputs), dim=self.axis)

    def compute_mask(self, inputs: Sequence[Tensor], mask: Sequence[Tensor | None] | None = None) -> Tensor | None:
        masks = _input_masks(inputs, mask)
        if all(m is None for m in masks):
            return None
        full = []
        for x, m in zip(inputs, masks):
            if m is None:
                full.append(torch.ones(x.shape, dtype=torch.bool, device=x.device))
            elif m.ndim < x.ndim:
                full.append(m.to(torch.bool).unsqueeze(-1).expand(x.shape))
            else:
                full.append(m.to(torch.bool))
        return torch.cat(full, dim=self.axis).any(dim=-1)

    def compute_output_shape(self, input_shape: Sequence[Shape]) -> Shape:
        self._check_shapes(input_shape)
        output = list(input_shape[0])
        axis = self.axis % len(output)
        sizes = [s[axis] for s in input_shape]
        output[axis] = None if any(s is None for s in sizes) else sum(sizes)  # type: ignore[arg-type]
        return tuple(output)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axis": self.axis}
