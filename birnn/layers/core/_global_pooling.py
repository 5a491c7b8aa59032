"""``GlobalAveragePooling1D`` / ``GlobalMaxPooling1D``: pool ``(N, T, F)`` over time, skipping masked steps."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ... import _registry
from .._input_spec import InputSpec
from .._layer import Layer, Shape
from ._checks import standardize_data_format

__all__ = ["GlobalAveragePooling1D", "GlobalMaxPooling1D"]


class _GlobalPooling1D(Layer):
    """Shared arguments, shapes and config; subclasses implement ``_pool(inputs, keep)``.

    ``keep`` is the ``(N, T, 1)`` (channels-last) boolean mask, or ``None``.
    """

    supports_masking = True

    def __init__(self, data_format: str | None = None, keepdims: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.data_format = standardize_data_format(data_format)
        self.keepdims = bool(keepdims)
        self.input_spec = InputSpec(ndim=3)

    @property
    def _steps_axis(self) -> int:
        return 1 if self.data_format == "channels_last" else 2

    def _pool(self, inputs: Tensor, keep: Tensor | None) -> Tensor:
        raise NotImplementedError

    def call(self, inputs: Tensor, mask: Tensor | None = None) -> Tensor:
        keep = None
        if mask is not None:
            keep = mask.to(device=inputs.device, dtype=torch.bool).unsqueeze(3 - self._steps_axis)
        return self._pool(inputs, keep)

    def compute_mask(self, inputs: Tensor, mask: Tensor | None = None) -> None:
        return None

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        batch, channels = input_shape[0], input_shape[2 if self.data_format == "channels_last" else 1]
        if not self.keepdims:
            return (batch, channels)
        return (batch, 1, channels) if self.data_format == "channels_last" else (batch, channels, 1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "data_format": self.data_format, "keepdims": self.keepdims}


@_registry.register
class GlobalAveragePooling1D(_GlobalPooling1D):
    """Mean over the time axis; with a mask, the mean over the unmasked steps only (Keras's rule).

    A row with every step masked gives zeros (Keras divides 0 by 0 there).

    Args:
        data_format: ``"channels_last"`` (``(N, T, F)``, default) or ``"channels_first"`` (``(N, F, T)``).
        keepdims: keep the pooled axis with size 1.
        **kwargs: base ``Layer`` arguments.

    Example:
        >>> import torch
        >>> x = torch.tensor([[[1.0], [3.0], [100.0]]])
        >>> GlobalAveragePooling1D()(x, mask=torch.tensor([[True, True, False]]))
        tensor([[2.]])
    """

    def _pool(self, inputs: Tensor, keep: Tensor | None) -> Tensor:
        axis = self._steps_axis
        if keep is None:
            return inputs.mean(dim=axis, keepdim=self.keepdims)
        total = torch.where(keep, inputs, 0.0).sum(dim=axis, keepdim=self.keepdims)
        count = keep.to(inputs.dtype).sum(dim=axis, keepdim=self.keepdims)
        return total / count.clamp(min=1.0)


@_registry.register
class GlobalMaxPooling1D(_GlobalPooling1D):
    """Maximum over the time axis, ignoring masked steps.

    Note: Keras 3 ignores the mask here (padding takes part in the maximum); birnn excludes masked
    steps, and a row with every step masked gives zeros.

    Args:
        data_format: ``"channels_last"`` (``(N, T, F)``, default) or ``"channels_first"`` (``(N, F, T)``).
        keepdims: keep the pooled axis with size 1.
        **kwargs: base ``Layer`` arguments.

    Example:
        >>> import torch
        >>> x = torch.tensor([[[1.0], [3.0], [100.0]]])
        >>> GlobalMaxPooling1D()(x, mask=torch.tensor([[True, True, False]]))
        tensor([[3.]])
    """

    def _pool(self, inputs: Tensor, keep: Tensor | None) -> Tensor:
        axis = self._steps_axis
        if keep is None:
            return inputs.amax(dim=axis, keepdim=self.keepdims)
        pooled = torch.where(keep, inputs, float("-inf")).amax(dim=axis, keepdim=self.keepdims)
        return torch.where(keep.any(dim=axis, keepdim=self.keepdims), pooled, 0.0)
