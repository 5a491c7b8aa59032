"""``Flatten``: ``(N, d1, d2, ...) -> (N, d1 * d2 * ...)``."""

from __future__ import annotations

import math
from typing import Any

from torch import Tensor

from ... import _registry
from .._input_spec import InputSpec
from .._layer import Layer, Shape
from ._checks import standardize_data_format

__all__ = ["Flatten"]


@_registry.register
class Flatten(Layer):
    """Flattens every axis but the batch axis (a mask does not survive it).

    Args:
        data_format: ``"channels_last"`` (default) or ``"channels_first"``; channels-first inputs of
            rank > 2 are moved to channels-last before flattening, as in Keras.
        **kwargs: base ``Layer`` arguments.

    Example:
        >>> import torch
        >>> Flatten()(torch.zeros(2, 5, 3)).shape
        torch.Size([2, 15])
    """

    def __init__(self, data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.data_format = standardize_data_format(data_format)
        self.input_spec = InputSpec(min_ndim=1)

    def call(self, inputs: Tensor) -> Tensor:
        if self.data_format == "channels_first" and inputs.ndim > 2:
            inputs = inputs.movedim(1, -1)
        return inputs.reshape(inputs.shape[0], -1)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        rest = input_shape[1:]
        return (input_shape[0], None if any(d is None for d in rest) else math.prod(rest))  # type: ignore[arg-type]

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "data_format": self.data_format}
