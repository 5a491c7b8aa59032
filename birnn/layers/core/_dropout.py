"""``Dropout``: zero a fraction of the inputs during training and rescale the rest."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from ... import _registry
from .._layer import Layer, Shape
from ._checks import check_rate

__all__ = ["Dropout"]


@_registry.register
class Dropout(Layer):
    """Inverted dropout: in training, each entry is zeroed with probability ``rate`` and the kept ones are
    scaled by ``1 / (1 - rate)``; in inference (the default mode, ``model.eval()``) it is the identity.

    Args:
        rate: fraction of entries to drop, in ``[0, 1]``.
        noise_shape: shape of the keep mask, broadcast over the input; ``None`` entries take the
            input's size (``(None, 1, None)`` drops whole feature vectors of ``(N, T, F)`` inputs).
        seed: seed of the layer's own random generator (default: torch's global generator).
        **kwargs: base ``Layer`` arguments.

    Call arguments:
        inputs: any tensor. training: drop or not; defaults to ``self.training``.
        mask: optional; passed through unchanged.

    Example:
        >>> import torch
        >>> layer = Dropout(0.5, seed=1)
        >>> bool((layer(torch.ones(2, 3)) == 1).all())        # inference: identity
        True
        >>> sorted(set(layer(torch.ones(100), training=True).tolist()))
        [0.0, 2.0]
    """

    supports_masking = True

    def __init__(
        self, rate: float, noise_shape: Sequence[int | None] | None = None, seed: int | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.rate = check_rate(type(self).__name__, rate)
        self.noise_shape = None if noise_shape is None else tuple(noise_shape)
        self.seed = seed
        self._generator: torch.Generator | None = None

    def _mask_shape(self, inputs: Tensor) -> tuple[int, ...]:
        if self.noise_shape is None:
            return tuple(inputs.shape)
        if len(self.noise_shape) != inputs.ndim:
            raise ValueError(
                f"Argument `noise_shape` of layer '{self.name}' must have rank {inputs.ndim} (the input's), "
                f"received noise_shape={self.noise_shape} for inputs of shape {tuple(inputs.shape)}"
            )
        return tuple(size if want is None else int(want) for want, size in zip(self.noise_shape, inputs.shape))

    def _generator_for(self, device: torch.device) -> torch.Generator | None:
        if self.seed is None:
            return None
        if self._generator is None or self._generator.device != device:
            self._generator = torch.Generator(device=device)
            self._generator.manual_seed(int(self.seed))
        return self._generator

    def call(self, inputs: Tensor, training: bool | None = None, mask: Tensor | None = None) -> Tensor:
        training = self.training if training is None else bool(training)
        if not training or self.rate == 0:
            return inputs
        if self.rate == 1:
            return torch.zeros_like(inputs)
        keep_probability = 1.0 - self.rate
        shape = self._mask_shape(inputs)
        noise = torch.rand(
            shape, generator=self._generator_for(inputs.device), device=inputs.device, dtype=inputs.dtype
        )
        return inputs * (noise < keep_probability).to(inputs.dtype) / keep_probability

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "rate": self.rate,
            "seed": self.seed,
            "noise_shape": None if self.noise_shape is None else list(self.noise_shape),
        }
