"""``Activation``: applies an activation function element-wise."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from ... import _registry, activations
from .._layer import Layer, Shape

__all__ = ["Activation"]


@_registry.register
class Activation(Layer):
    """Applies ``activation`` to its input (masks pass through).

    Args:
        activation: activation name (``"softmax"``, ``"relu"`` ...) or callable.
        **kwargs: base ``Layer`` arguments.

    Call arguments:
        inputs: any tensor. mask: optional; passed through unchanged.

    Example:
        >>> import torch
        >>> Activation("softmax")(torch.zeros(1, 4))
        tensor([[0.2500, 0.2500, 0.2500, 0.2500]])
    """

    supports_masking = True

    def __init__(self, activation: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def call(self, inputs: Tensor, mask: Tensor | None = None) -> Tensor:
        return self.activation(inputs)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "activation": activations.serialize(self.activation)}
