"""``TimeDistributed``: apply a layer to every time step of ``(N, T, ...)`` inputs."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from ... import _registry
from .._input_spec import InputSpec
from .._layer import Layer, Shape, _call_parameters

__all__ = ["TimeDistributed"]


@_registry.register
class TimeDistributed(Layer):
    """Applies ``layer`` independently at each time step: ``(N, T, ...) -> (N, T, ...)``.

    The wrapped layer sees the time steps folded into the batch (``(N*T, ...)``), so one set of
    weights serves every step. The input mask passes through to the outputs (it is not given to
    the wrapped layer).

    Args:
        layer: the ``birnn.layers.Layer`` to apply per step.
        **kwargs: base ``Layer`` arguments.

    Call arguments:
        inputs: ``(N, T, ...)``. training: passed to the wrapped layer. mask: ``(N, T)``, passed through.

    Example:
        >>> import torch
        >>> from birnn.layers import Dense
        >>> td = TimeDistributed(Dense(4))
        >>> td(torch.ones(2, 5, 3)).shape, [w.shape for w in td.get_weights()]
        (torch.Size([2, 5, 4]), [(3, 4), (4,)])
    """

    supports_masking = True

    def __init__(self, layer: Layer, **kwargs: Any) -> None:
        if not isinstance(layer, Layer):
            raise ValueError(
                f"Please initialize `TimeDistributed` layer with a `birnn.layers.Layer` instance. Received: {layer}"
            )
        super().__init__(**kwargs)
        self.layer = layer
        self.input_spec = InputSpec(min_ndim=3)

    @staticmethod
    def _child_shape(input_shape: Shape) -> Shape:
        if len(input_shape) < 3:
            raise ValueError(
                "`TimeDistributed` Layer should be passed an `input_shape` with at least 3 dimensions, "
                f"received: {input_shape}"
            )
        return (input_shape[0], *input_shape[2:])

    def build(self, input_shape: Shape) -> None:
        if not self.layer.built:
            self.layer.build(self._child_shape(input_shape))
            self.layer.built = True
        self.built = True

    def call(self, inputs: Tensor, training: bool | None = None, mask: Tensor | None = None) -> Tensor:
        batch, steps = inputs.shape[:2]
        kwargs = (
            {"training": training} if training is not None and "training" in _call_parameters(type(self.layer)) else {}
        )
        outputs = self.layer(inputs.reshape(batch * steps, *inputs.shape[2:]), **kwargs)
        return outputs.reshape(batch, steps, *outputs.shape[1:])

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        child = self.layer.compute_output_shape(self._child_shape(input_shape))
        return (child[0], input_shape[1], *child[1:])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "layer": _registry.serialize(self.layer)}

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects: dict[str, Any] | None = None) -> TimeDistributed:
        config = dict(config)
        layer = _registry.deserialize(config.pop("layer"), custom_objects, kind="layer")
        return cls(layer, **config)
