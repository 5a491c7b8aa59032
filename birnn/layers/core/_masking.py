"""``Masking``: mark time steps whose features all equal ``mask_value`` as padding."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ... import _registry
from .._layer import Layer, Shape

__all__ = ["Masking"]


@_registry.register
class Masking(Layer):
    """Masks every step of ``(N, T, F)`` inputs whose features all equal ``mask_value``.

    The output is the input with masked steps zeroed; the mask (``(N, T)``, ``True`` = keep) goes to
    the following layers.

    Args:
        mask_value: the padding value (default ``0.0``).
        **kwargs: base ``Layer`` arguments.

    Call arguments:
        inputs: ``(N, T, F)``. mask: ignored (the layer computes its own).

    Example:
        >>> import torch
        >>> x = torch.tensor([[[1.0, 2.0], [-1.0, -1.0]]])
        >>> Masking(mask_value=-1.0).compute_mask(x)
        tensor([[ True, False]])
    """

    supports_masking = True

    def __init__(self, mask_value: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mask_value = mask_value

    def compute_mask(self, inputs: Tensor, mask: Tensor | None = None) -> Tensor:
        return torch.any(inputs != self.mask_value, dim=-1)

    def call(self, inputs: Tensor, mask: Tensor | None = None) -> Tensor:
        keep = torch.any(inputs != self.mask_value, dim=-1, keepdim=True)
        return inputs * keep.to(inputs.dtype)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "mask_value": self.mask_value}
