"""``LayerNormalization``: normalise each sample over its feature axes, then scale and shift."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from ... import _registry, constraints, initializers, regularizers
from .._layer import Layer, Shape

__all__ = ["LayerNormalization"]


@_registry.register
class LayerNormalization(Layer):
    r"""Layer normalisation over ``axis`` (Keras's defaults: last axis, ``epsilon=1e-3``).

    .. math::
        y = \gamma \odot \frac{x - \mathrm{mean}(x)}{\sqrt{\mathrm{var}(x) + \epsilon}} + \beta

    with mean and (biased) variance over ``axis``. Weights, in Keras order: ``gamma`` (if
    ``scale``), ``beta`` (if ``center``), each of the shape of the normalised axes.

    Args:
        axis: an axis or a list of axes to normalise over.
        epsilon: added to the variance.
        center: learn ``beta``. scale: learn ``gamma``.
        rms_scaling: Keras's deprecated mode ``y = gamma * x / sqrt(var(x) + epsilon)`` (no centring,
            no ``beta``).
        beta_initializer, gamma_initializer: default ``"zeros"`` and ``"ones"``.
        beta_regularizer, gamma_regularizer, beta_constraint, gamma_constraint: as in Keras.
        **kwargs: base ``Layer`` arguments.

    Call arguments:
        inputs: any tensor. mask: optional; passed through unchanged.

    Example:
        >>> import torch
        >>> ln = LayerNormalization()
        >>> y = ln(torch.tensor([[1.0, 2.0, 3.0]]))
        >>> [round(v, 4) for v in y[0].tolist()]
        [-1.2238, 0.0, 1.2238]
    """

    supports_masking = True

    def __init__(
        self,
        axis: int | Sequence[int] = -1,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        rms_scaling: bool = False,
        beta_initializer: Any = "zeros",
        gamma_initializer: Any = "ones",
        beta_regularizer: Any = None,
        gamma_regularizer: Any = None,
        beta_constraint: Any = None,
        gamma_constraint: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, (int, list, tuple)):
            raise TypeError(f"Expected an int or a list/tuple of ints for the argument 'axis', but received: {axis!r}")
        self.axis: int | list[int] = list(axis) if isinstance(axis, (list, tuple)) else axis
        self.epsilon = float(epsilon)
        self.center = bool(center)
        self.scale = bool(scale)
        self.rms_scaling = bool(rms_scaling)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.beta_constraint = constraints.get(beta_constraint)
        self.gamma_constraint = constraints.get(gamma_constraint)

    def _axes(self, rank: int) -> list[int]:
        axes = self.axis if isinstance(self.axis, list) else [self.axis]
        if any(not -rank <= a < rank for a in axes):
            raise ValueError(
                f"Argument `axis` of LayerNormalization is out of range for inputs of rank {rank}: axis={self.axis}"
            )
        return sorted(a % rank for a in axes)

    def build(self, input_shape: Shape) -> None:
        shape = tuple(input_shape[a] for a in self._axes(len(input_shape)))
        if any(d is None for d in shape):
            raise ValueError(
                f"The normalised axes of LayerNormalization '{self.name}' must have known sizes, received {input_shape}"
            )
        if self.scale or self.rms_scaling:
            self.add_weight("gamma", shape, self.gamma_initializer, self.gamma_regularizer, self.gamma_constraint)
        if self.center and not self.rms_scaling:
            self.add_weight("beta", shape, self.beta_initializer, self.beta_regularizer, self.beta_constraint)
        self.built = True

    def _weight(self, name: str, axes: list[int], rank: int) -> Tensor | None:
        weight = getattr(self, name, None)
        if weight is None:
            return None
        shape = [1] * rank
        for axis, size in zip(axes, weight.shape):
            shape[axis] = size
        return weight.reshape(shape)

    def call(self, inputs: Tensor, mask: Tensor | None = None) -> Tensor:
        rank = inputs.ndim
        axes = self._axes(rank)
        x = inputs.float() if inputs.dtype in (torch.float16, torch.bfloat16) else inputs
        gamma, beta = self._weight("gamma", axes, rank), self._weight("beta", axes, rank)
        if self.rms_scaling:
            outputs = x * torch.rsqrt(x.var(dim=axes, keepdim=True, unbiased=False) + self.epsilon)
            outputs = outputs if gamma is None else outputs * gamma
        elif axes == list(range(rank - len(axes), rank)):
            normalized = tuple(inputs.shape[a] for a in axes)
            flat = None if gamma is None else gamma.reshape(normalized)
            outputs = F.layer_norm(
                x, normalized, flat, None if beta is None else beta.reshape(normalized), self.epsilon
            )
        else:
            mean = x.mean(dim=axes, keepdim=True)
            variance = x.var(dim=axes, keepdim=True, unbiased=False)
            outputs = (x - mean) * torch.rsqrt(variance + self.epsilon)
            outputs = outputs if gamma is None else outputs * gamma
            outputs = outputs if beta is None else outputs + beta
        return outputs.to(inputs.dtype)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "axis": self.axis,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            "rms_scaling": self.rms_scaling,
            "beta_initializer": initializers.serialize(self.beta_initializer),
            "gamma_initializer": initializers.serialize(self.gamma_initializer),
            "beta_regularizer": regularizers.serialize(self.beta_regularizer),
            "gamma_regularizer": regularizers.serialize(self.gamma_regularizer),
            "beta_constraint": constraints.serialize(self.beta_constraint),
            "gamma_constraint": constraints.serialize(self.gamma_constraint),
        }
