"""``SpatialDropout1D``: dropout of whole feature channels of ``(N, T, F)`` sequences."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from ... import _registry
from .._input_spec import InputSpec
from ._dropout import Dropout

__all__ = ["SpatialDropout1D"]


@_registry.register
class SpatialDropout1D(Dropout):
    """Drops entire feature channels: one keep mask of shape ``(N, 1, F)`` shared by every time step.

    Args:
        rate: fraction of channels to drop, in ``[0, 1]``.
        seed: seed of the layer's own random generator.
        **kwargs: base ``Layer`` arguments.

    Example:
        >>> import torch
        >>> y = SpatialDropout1D(0.5, seed=0)(torch.ones(1, 4, 6), training=True)
        >>> bool((y == y[:, :1]).all())     # the same channels are dropped at every step
        True
    """

    def __init__(self, rate: float, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(rate, seed=seed, **kwargs)
        self.input_spec = InputSpec(ndim=3)

    def _mask_shape(self, inputs: Tensor) -> tuple[int, ...]:
        return (inputs.shape[0], 1, inputs.shape[2])

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.pop("noise_shape")
        return config
