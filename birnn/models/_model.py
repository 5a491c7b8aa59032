"""``Model``: a ``Layer`` that groups layers and can be trained (the base of subclassed models)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from birnn.layers import Layer
from birnn.layers.rnn import SequenceLayer

from ._summary import format_shape, print_summary
from ._trainer import Trainer

__all__ = ["Model"]


def _stateful_layers(layer: Layer) -> Iterator[Layer]:
    """The outermost stateful sequence layers under ``layer`` (a stateful ``Bidirectional`` resets its directions)."""
    for child in layer._sublayers():
        if isinstance(child, SequenceLayer) and child.stateful:
            yield child
        else:
            yield from _stateful_layers(child)


class Model(Trainer):
    """Base class of trainable models: subclass it, create layers in ``__init__`` and write ``call``.

    Every model has Keras's training API (``compile``, ``fit``, ``evaluate``, ``predict``,
    ``train_on_batch`` ...), ``summary()``, ``layers``/``get_layer``, the weight API of ``Layer``
    (``weights``, ``get_weights``/``set_weights``) and is a ``torch.nn.Module`` (``.to(device)``,
    ``state_dict``, ``parameters``). A model starts in inference mode (``model.eval()``), as a Keras
    model called directly does. ``compile`` is Keras's; use ``torch.compile(model)`` for torch's.

    Args:
        name: model name (default: snake-cased class name).
        trainable: whether the weights are trained.
        dtype: weight dtype of the model's own weights.

    Call arguments:
        inputs: whatever the subclass's ``call`` takes (``training`` and ``mask`` are passed when
            ``call`` declares them; an input's ``_keras_mask`` fills ``mask``).

    Example:
        >>> import numpy as np
        >>> import birnn
        >>> class Tagger(birnn.Model):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.rnn = birnn.layers.Bidirectional(birnn.layers.LSTM(4, return_sequences=True))
        ...         self.out = birnn.layers.Dense(3, activation="softmax")
        ...     def call(self, inputs, mask=None):
        ...         return self.out(self.rnn(inputs, mask=mask))
        >>> model = Tagger()
        >>> model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        >>> history = model.fit(np.random.rand(8, 5, 2), np.random.randint(0, 3, (8, 5)), epochs=2, verbose=0)
        >>> sorted(history.history), model.predict(np.zeros((1, 5, 2)), verbose=0).shape
        (['accuracy', 'loss'], (1, 5, 3))
    """

    def __init__(
        self, *args: Any, name: str | None = None, trainable: bool = True, dtype: Any = None, **kwargs: Any
    ) -> None:
        if args or {"inputs", "outputs"} & kwargs.keys():
            raise TypeError(
                "birnn.Model has no functional API (Model(inputs, outputs)): subclass it and write `call`, "
                f"or use birnn.Sequential. Received positional arguments {args!r} and keywords {sorted(kwargs)}."
            )
        super().__init__(name=name, trainable=trainable, dtype=dtype, **kwargs)
        self._output_shapes: dict[str, Any] = {}
        self._watched: set[int] = set()

    # ------------------------------------------------------------------ calling and building
    def call(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"Model {type(self).__name__} must implement call(inputs, ...)")

    def _record_output_shape(self, layer: nn.Module, args: Any, output: Any) -> None:
        if isinstance(layer, Layer) and isinstance(output, (Tensor, list, tuple)):
            shapes = [tuple(o.shape) for o in output] if isinstance(output, (list, tuple)) else tuple(output.shape)
            self._output_shapes[layer.name] = shapes

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        for layer in self._sublayers():
            if id(layer) not in self._watched:
                layer.register_forward_hook(self._record_output_shape)
                self._watched.add(id(layer))
        if not self.built:  # sub-layers build themselves during this first call
            self.built = True
        return super().__call__(*args, **kwargs)

    def build(self, input_shape: Sequence[int | None]) -> None:
        """Create the weights by running the model once on zeros of ``input_shape`` (batch may be ``None``).

        Stateful layers are reset afterwards, so the dry run leaves no state behind.
        """
        shape = tuple(input_shape)
        if any(d is None for d in shape[1:]):
            raise ValueError(f"Model.build() needs every size but the batch size, received input_shape={shape}")
        was_training = self.training
        self.eval()
        with torch.no_grad():
            self(torch.zeros((shape[0] or 1, *shape[1:]), dtype=self.torch_dtype, device=self._device()))
        self.train(was_training)
        self.reset_states()

    def compute_mask(self, inputs: Any, mask: Any = None) -> None:
        """Models attach their output mask to the output during ``call`` (``output._keras_mask``)."""

    # ------------------------------------------------------------------ layers
    @property
    def layers(self) -> list[Layer]:
        """The model's direct sub-layers, in assignment order."""
        return list(self._sublayers())

    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer:
        """A layer by ``name`` or by position ``index`` in :attr:`layers`.

        Raises:
            ValueError: both or neither given, an index out of range, or an unknown name.
        """
        if (name is None) == (index is None):
            raise ValueError(
                f"Provide either a layer name or a layer index at `get_layer`, received name={name!r}, index={index!r}."
            )
        layers = self.layers
        if index is not None:
            if not -len(layers) <= index < len(layers):
                raise ValueError(
                    f"Was asked to retrieve layer at index {index} but model only has {len(layers)} layers."
                )
            return layers[index]
        for layer in layers:
            if layer.name == name:
                return layer
        raise ValueError(f"No such layer: {name}. Existing layers are: {[layer.name for layer in layers]}.")

    def reset_states(self) -> None:
        """Reset the stored states of every stateful recurrent layer (to zeros)."""
        for layer in _stateful_layers(self):
            layer.reset_states()

    reset_state = reset_states

    # ------------------------------------------------------------------ files
    def save(self, filepath: str | os.PathLike[str], overwrite: bool = True) -> None:
        """Save the model as a Keras 3 ``.keras`` file (see ``birnn.saving.save_model``)."""
        from birnn import saving

        saving.save_model(self, filepath, overwrite=overwrite)

    def save_weights(self, filepath: str | os.PathLike[str], overwrite: bool = True) -> None:
        """Save the weights in Keras 3's ``.weights.h5`` layout (see ``birnn.saving.save_weights``)."""
        from birnn import saving

        saving.save_weights(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath: str | os.PathLike[str]) -> None:
        """Load weights from a ``.weights.h5``, ``.keras`` or legacy ``.h5`` file (``birnn.saving.load_weights``)."""
        from birnn import saving

        saving.load_weights(self, filepath)

    # ------------------------------------------------------------------ summary
    def layer_output_shapes(self) -> dict[str, Any]:
        """Output shape of each layer (by name) as far as known: from the last call for subclassed models."""
        return dict(self._output_shapes)

    def summary(
        self,
        line_length: int | None = None,
        positions: Sequence[float] | None = None,
        print_fn: Callable[[str], Any] | None = None,
    ) -> None:
        """Print Keras's table of layers (name and type, output shape, parameter count) and totals.

        Args:
            line_length: table width (default: 88, or the terminal width minus 4 if smaller).
            positions: right edges of the columns, relative (``<= 1``) or absolute.
            print_fn: called with each line (default ``print``).
        """
        shapes = self.layer_output_shapes()
        rows = []
        for layer in self.layers:
            params = f"{layer.count_params():,}" if layer.built else "0 (unbuilt)"
            rows.append((f"{layer.name} ({type(layer).__name__})", format_shape(shapes.get(layer.name)), params))

        def total(weights: list[nn.Parameter]) -> tuple[int, int]:
            return sum(w.numel() for w in weights), sum(w.numel() * w.element_size() for w in weights)

        totals = (total(self.weights), total(self.trainable_weights), total(self.non_trainable_weights))
        print_summary(self.name, rows, totals, line_length=line_length, positions=positions, print_fn=print_fn)
