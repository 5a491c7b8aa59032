"""``Dense``: ``activation(x @ kernel + bias)`` on the last axis of 2-D or higher-rank inputs."""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor

from ... import _registry, activations, constraints, initializers, regularizers
from .._input_spec import InputSpec
from .._layer import Layer, Shape
from ._checks import check_positive_int, check_unsupported

__all__ = ["Dense"]


@_registry.register
class Dense(Layer):
    """Densely connected layer: ``activation(x @ kernel + bias)`` over the last axis.

    On ``(N, ..., F)`` inputs the same ``kernel`` ``(F, U)`` applies at every leading position
    (``(N, T, F) -> (N, T, U)``), and an input mask passes through unchanged.

    Args:
        units: output size ``U``.
        activation: activation name or callable (default: linear).
        use_bias: add ``bias`` ``(U,)``.
        kernel_initializer, bias_initializer: default ``"glorot_uniform"`` and ``"zeros"``.
        kernel_regularizer, bias_regularizer, kernel_constraint, bias_constraint: as in Keras.
        lora_rank, lora_alpha, quantization_config: Keras arguments, only ``None`` is supported.
        **kwargs: base ``Layer`` arguments (``name``, ``input_shape``, ``activity_regularizer`` ...).

    Call arguments:
        inputs: ``(N, ..., F)``. mask: optional; passed through to the output unchanged.

    Example:
        >>> import torch
        >>> dense = Dense(4, activation="relu")
        >>> dense(torch.ones(2, 7, 3)).shape
        torch.Size([2, 7, 4])
        >>> [w.shape for w in dense.get_weights()]
        [(3, 4), (4,)]
    """

    supports_masking = True

    def __init__(
        self,
        units: int,
        activation: Any = None,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        kernel_constraint: Any = None,
        bias_constraint: Any = None,
        lora_rank: int | None = None,
        lora_alpha: float | None = None,
        quantization_config: Any = None,
        **kwargs: Any,
    ) -> None:
        check_unsupported("Dense", lora_rank=lora_rank, lora_alpha=lora_alpha, quantization_config=quantization_config)
        super().__init__(**kwargs)
        self.units = check_positive_int("Dense", "units", units)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.input_spec = InputSpec(min_ndim=2)

    def build(self, input_shape: Shape) -> None:
        features = input_shape[-1]
        if features is None:
            raise ValueError(
                f"The last dimension of the inputs to Dense '{self.name}' must be known, received shape {input_shape}"
            )
        self.add_weight(
            "kernel", (features, self.units), self.kernel_initializer, self.kernel_regularizer, self.kernel_constraint
        )
        if self.use_bias:
            self.add_weight("bias", (self.units,), self.bias_initializer, self.bias_regularizer, self.bias_constraint)
        self.input_spec = InputSpec(min_ndim=2, axes={-1: features})
        self.built = True

    def call(self, inputs: Tensor, mask: Tensor | None = None) -> Tensor:
        return self.activation(F.linear(inputs, self.kernel.t(), self.bias if self.use_bias else None))

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return (*input_shape[:-1], self.units)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
        }
