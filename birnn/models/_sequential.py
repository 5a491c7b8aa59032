"""``Sequential``: a plain stack of layers, each feeding the next, with masks flowing along."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from birnn import _registry
from birnn.layers import InputLayer, Layer
from birnn.layers._layer import _call_parameters

from ._model import Model
from ._trainer import Shape

__all__ = ["Sequential"]


@_registry.register
class Sequential(Model):
    """A linear stack of layers (Keras's ``Sequential``), given as a list or with ``add()``.

    The input shape comes from a leading ``Input(shape=...)`` / ``InputLayer`` or from the first
    layer's ``input_shape=`` (``batch_input_shape=``, ``input_dim=``) argument. When it is known the
    model is built at once (weights exist, ``summary()`` shows shapes and counts); otherwise on the
    first call.

    Masks flow as in Keras: each layer's output mask is ``layer.compute_mask(inputs, mask)``, passed
    to the next layer as ``mask=`` (an ``Embedding(mask_zero=True)`` mask reaches the recurrent
    layers), and the final mask is attached to the output (``output._keras_mask``), where the loss
    and metrics use it.

    Args:
        layers: the layers, in order (an ``InputLayer`` first, optionally).
        trainable: whether the weights are trained.
        name: model name (default ``"sequential"``, ``"sequential_1"`` ...).

    Example:
        >>> import birnn
        >>> from birnn.layers import LSTM, Bidirectional, Dense, Input
        >>> model = birnn.Sequential([
        ...     Input(shape=(5, 10)),
        ...     Bidirectional(LSTM(10, return_sequences=True)),
        ...     Bidirectional(LSTM(10)),
        ...     Dense(5, activation="softmax"),
        ... ])
        >>> model.compile(loss="categorical_crossentropy", optimizer="rmsprop")
        >>> [type(layer).__name__ for layer in model.layers], model.count_params()
        (['Bidirectional', 'Bidirectional', 'Dense'], 4265)
    """

    def __init__(self, layers: Sequence[Layer] | None = None, trainable: bool = True, name: str | None = None) -> None:
        super().__init__(name=name, trainable=trainable)
        self._stack = nn.ModuleList()
        self._build_input_shape: Shape | None = None
        for layer in layers or ():
            self.add(layer, rebuild=False)
        self._maybe_build()

    # ------------------------------------------------------------------ the stack
    def add(self, layer: Layer, rebuild: bool = True) -> None:
        """Append ``layer``; a first layer with ``input_shape=`` gets an ``InputLayer`` in front.

        Raises:
            ValueError: not a ``birnn.layers.Layer``, a duplicate name, or a second input layer.
        """
        if not isinstance(layer, Layer):
            raise ValueError(
                "Only instances of `birnn.layers.Layer` can be added to a Sequential model. "
                f"Received: {layer!r} (of type {type(layer).__name__})"
            )
        if any(existing.name == layer.name for existing in self._stack):
            raise ValueError(
                f"All layers added to a Sequential model should have unique names. Name '{layer.name}' is already the "
                "name of a layer in this model. Update the `name` argument to pass a unique name."
            )
        if isinstance(layer, InputLayer) and len(self._stack):
            if isinstance(self._stack[0], InputLayer):
                raise ValueError(
                    f"Sequential model '{self.name}' has already been configured to use input shape "
                    f"{self._stack[0].batch_shape}. You cannot add a different Input layer to it."
                )
            raise ValueError(f"An InputLayer can only be the first layer of Sequential model '{self.name}'.")
        if not len(self._stack) and not isinstance(layer, InputLayer) and layer.batch_input_shape is not None:
            self._stack.append(InputLayer(batch_shape=layer.batch_input_shape))
        self._stack.append(layer)
        if rebuild:
            self._maybe_build()

    def pop(self, rebuild: bool = True) -> Layer:
        """Remove and return the last layer (never the ``InputLayer``).

        Raises:
            IndexError: the model has no layers.
        """
        if not self.layers:
            raise IndexError(f"Sequential model '{self.name}' has no layers to pop.")
        layer = self._stack[-1]
        del self._stack[-1]
        if rebuild:
            self._maybe_build()
        return layer

    @property
    def layers(self) -> list[Layer]:
        """The layers, without the ``InputLayer`` (as in Keras)."""
        return [layer for layer in self._stack if not isinstance(layer, InputLayer)]

    @property
    def input_shape(self) -> Shape | None:
        """The input shape with a ``None`` batch axis (``None`` until known)."""
        return self._build_input_shape

    def expected_input_shape(self) -> Shape | None:
        return self._build_input_shape

    # ------------------------------------------------------------------ building
    def _declared_input_shape(self) -> Shape | None:
        first = self._stack[0] if len(self._stack) else None
        return first.batch_shape if isinstance(first, InputLayer) else None

    def _maybe_build(self) -> None:
        shape = self._build_input_shape or self._declared_input_shape()
        if shape is not None and self.layers:
            self.build(shape)

    def build(self, input_shape: Sequence[int | None]) -> None:  # type: ignore[override]
        """Build every layer for inputs of ``input_shape`` (batch first, ``None`` allowed) without running it.

        Layers without ``compute_output_shape`` and the ones after them build on the first call.
        """
        shape: Any = (None, *tuple(input_shape)[1:])
        self._build_input_shape = shape
        with torch.device(self._device()):
            for layer in self._stack:
                if not layer.built:
                    layer.build(shape)
                    layer.built = True
                try:
                    shape = layer.compute_output_shape(shape)
                except NotImplementedError:
                    break
        self.built = True

    def compute_output_shape(self, input_shape: Shape) -> Any:
        shape: Any = tuple(input_shape)
        for layer in self._stack:
            shape = layer.compute_output_shape(shape)
        return shape

    def expected_output_shape(self, input_shape: Shape) -> Any:
        try:
            return self.compute_output_shape(input_shape)
        except NotImplementedError:
            return None

    def layer_output_shapes(self) -> dict[str, Any]:
        """Each layer's output shape from the build input shape (``None`` batch), else from the last call."""
        shapes = super().layer_output_shapes()
        shape: Any = self._build_input_shape
        if shape is None:
            return shapes
        for layer in self._stack:
            try:
                shape = layer.compute_output_shape(shape)
            except NotImplementedError:
                break
            shapes[layer.name] = shape
        return shapes

    # ------------------------------------------------------------------ call
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        inputs = args[0] if args else kwargs.get("inputs")
        if not self.built and isinstance(inputs, (Tensor, np.ndarray)):
            self.build(tuple(inputs.shape))
        return super().__call__(*args, **kwargs)

    def call(self, inputs: Any, training: bool | None = None, mask: Tensor | None = None) -> Any:
        outputs = inputs
        for layer in self._stack:
            accepted = _call_parameters(type(layer))
            kwargs: dict[str, Any] = {}
            if "mask" in accepted:
                kwargs["mask"] = mask
            if training is not None and "training" in accepted:
                kwargs["training"] = training
            layer_inputs, outputs = outputs, layer(outputs, **kwargs)
            if isinstance(layer, Model):
                mask = getattr(outputs, "_keras_mask", None)
            else:
                mask = layer.compute_mask(layer_inputs, mask)
        if isinstance(outputs, Tensor) and mask is not None:
            outputs._keras_mask = mask
        return outputs

    # ------------------------------------------------------------------ config
    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": self.dtype,
            "layers": [_registry.serialize(layer) for layer in self._stack],
            "build_input_shape": None if self._build_input_shape is None else list(self._build_input_shape),
        }

    @classmethod
    def from_config(cls, config: Any, custom_objects: dict[str, Any] | None = None) -> Sequential:
        """Rebuild from ``get_config()`` output (also Keras 3 and Keras 2 ``Sequential`` configs)."""
        if isinstance(config, list):  # the oldest Keras 2 form: just the layers
            config = {"layers": config}
        layers = [_registry.deserialize(entry, custom_objects, kind="layer") for entry in config["layers"]]
        model = cls(layers, trainable=config.get("trainable", True), name=config.get("name"))
        shape = config.get("build_input_shape")
        if model.input_shape is None and shape is not None:
            model.build(tuple(shape))
        return model
