"""``Embedding``: integer ids to dense vectors; ``mask_zero=True`` makes id 0 padding."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from ... import _registry, constraints, initializers, regularizers
from .._layer import Layer, Shape
from ._checks import check_positive_int, check_unsupported

__all__ = ["Embedding"]


@_registry.register
class Embedding(Layer):
    """Look up rows of ``embeddings`` ``(input_dim, output_dim)``: ``(N, ...)`` ids -> ``(N, ..., output_dim)``.

    With ``mask_zero=True`` the layer produces the mask ``ids != 0`` (``compute_mask``), which a
    ``Sequential`` model hands to the next layers (recurrent layers skip the padded steps) and to
    the loss (padded steps do not count).

    Args:
        input_dim: vocabulary size (largest id + 1).
        output_dim: embedding size.
        embeddings_initializer: default ``"uniform"`` (``RandomUniform(-0.05, 0.05)``).
        embeddings_regularizer, embeddings_constraint: as in Keras.
        mask_zero: treat id 0 as padding and produce a mask.
        weights: initial ``[embeddings]`` array, applied when the layer is built.
        input_length: Keras 2's sequence length; sets ``input_shape=(input_length,)``.
        lora_rank, lora_alpha, quantization_config: Keras arguments, only ``None`` is supported.
        **kwargs: base ``Layer`` arguments.

    Call arguments:
        inputs: integer ids ``(N, ...)`` (floats are truncated to integers). mask: ignored.

    Example:
        >>> import torch
        >>> layer = Embedding(10, 3, mask_zero=True)
        >>> ids = torch.tensor([[4, 2, 0, 0]])
        >>> layer(ids).shape, layer.compute_mask(ids)
        (torch.Size([1, 4, 3]), tensor([[ True,  True, False, False]]))
    """

    def __init__(
        self,
        input_dim: int,
        output_dim: int,
        embeddings_initializer: Any = "uniform",
        embeddings_regularizer: Any = None,
        embeddings_constraint: Any = None,
        mask_zero: bool = False,
        weights: Sequence[Any] | None = None,
        input_length: int | None = None,
        lora_rank: int | None = None,
        lora_alpha: float | None = None,
        quantization_config: Any = None,
        **kwargs: Any,
    ) -> None:
        check_unsupported(
            "Embedding", lora_rank=lora_rank, lora_alpha=lora_alpha, quantization_config=quantization_config
        )
        if input_length is not None and "input_shape" not in kwargs and "batch_input_shape" not in kwargs:
            kwargs["input_shape"] = (input_length,)
        super().__init__(**kwargs)
        self.input_dim = check_positive_int("Embedding", "input_dim", input_dim)
        self.output_dim = check_positive_int("Embedding", "output_dim", output_dim)
        self.embeddings_initializer = initializers.get(embeddings_initializer)
        self.embeddings_regularizer = regularizers.get(embeddings_regularizer)
        self.embeddings_constraint = constraints.get(embeddings_constraint)
        self.mask_zero = bool(mask_zero)
        self.supports_masking = self.mask_zero
        self._initial_weights = None if weights is None else list(weights)

    def build(self, input_shape: Shape) -> None:
        self.add_weight(
            "embeddings",
            (self.input_dim, self.output_dim),
            self.embeddings_initializer,
            self.embeddings_regularizer,
            self.embeddings_constraint,
        )
        self.built = True
        if self._initial_weights is not None:
            self.set_weights(self._initial_weights)
            self._initial_weights = None

    def call(self, inputs: Tensor, mask: Tensor | None = None) -> Tensor:
        return F.embedding(inputs if inputs.dtype in (torch.int32, torch.int64) else inputs.long(), self.embeddings)

    def compute_mask(self, inputs: Tensor, mask: Tensor | None = None) -> Tensor | None:
        return torch.as_tensor(inputs) != 0 if self.mask_zero else None

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return (*input_shape, self.output_dim)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            "embeddings_initializer": initializers.serialize(self.embeddings_initializer),
            "embeddings_regularizer": regularizers.serialize(self.embeddings_regularizer),
            "embeddings_constraint": constraints.serialize(self.embeddings_constraint),
            "mask_zero": self.mask_zero,
        }
