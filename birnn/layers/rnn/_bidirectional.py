"""``Bidirectional``: split the call, run both directions, merge. Nothing else lives here."""

from __future__ import annotations

import inspect
from typing import Any, Protocol, runtime_checkable

import torch
from torch import Tensor

from ... import _registry
from .._layer import Layer, Shape, _call_parameters
from . import _dispatch
from ._merge import MergeMode, merge, resolve_merge_mode, serialize_merge_mode
from ._rnn import RNN, state_structure

__all__ = ["Bidirectional", "SequenceLayer"]


@runtime_checkable
class SequenceLayer(Protocol):
    """What ``Bidirectional`` needs from the layer it wraps (both seed pages' criteria).

    A ``birnn.layers.Layer`` that processes ``(N, T, ...)`` sequences and has:

    * ``go_backwards``, ``return_sequences``, ``return_state`` and ``stateful`` attributes with
      ``RNN``'s meaning (``go_backwards=True`` returns sequences in processing order);
    * an ``input_spec`` attribute;
    * ``get_config()`` / ``from_config()``, used to create the two directions.

    Every ``RNN`` (``SimpleRNN``, ``LSTM``, ``GRU``, ``RNN(cell)``) satisfies it.
    """

    go_backwards: bool
    return_sequences: bool
    return_state: bool
    stateful: bool
    input_spec: Any

    def get_config(self) -> dict[str, Any]: ...

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Any: ...


_MEMBERS = ("go_backwards", "return_sequences", "return_state", "stateful", "input_spec", "get_config", "from_config")


def _check_wrappable(layer: Any, argument: str) -> None:
    if not isinstance(layer, Layer):
        if argument == "layer":
            raise ValueError(
                f"Please initialize `Bidirectional` layer with a `birnn.layers.Layer` instance. Received: {layer}"
            )
        raise ValueError(f"`backward_layer` need to be a `birnn.layers.Layer` instance. Received: {layer}")
    if not isinstance(layer, SequenceLayer):
        missing = ", ".join(f"`{m}`" for m in _MEMBERS if not hasattr(layer, m))
        raise ValueError(
            f"`{argument}` {type(layer).__name__} ('{layer.name}') cannot be wrapped by Bidirectional: it lacks "
            f"{missing}. A wrapped layer must follow birnn.layers.SequenceLayer (go_backwards, return_sequences, "
            "return_state, stateful, input_spec, get_config/from_config)."
        )


def _recreate(layer: Layer, name: str, go_backwards: bool) -> Layer:
    """A fresh, unbuilt copy of ``layer`` from its config, renamed and with ``go_backwards`` set.

    The classes of the layer's own sub-modules (custom cells) are passed as ``custom_objects`` so
    that unregistered user cells survive the copy, as in tf.keras.
    """
    config = dict(layer.get_config())
    config["name"] = name
    config["go_backwards"] = go_backwards
    custom_objects = {type(m).__name__: type(m) for m in layer.modules()}
    if "custom_objects" in inspect.signature(type(layer).from_config).parameters:
        return type(layer).from_config(config, custom_objects=custom_objects)
    return type(layer).from_config(config)


def _state_count(layer: Layer) -> int | None:
    """Number of top-level state entries the layer takes as ``initial_state`` (``None``: unknown)."""
    if not isinstance(layer, RNN):
        return None
    return len(state_structure(layer.cell))


@_registry.register
class Bidirectional(Layer):
    """Bidirectional wrapper for recurrent layers (Keras's ``Bidirectional``).

    The forward layer is a fresh copy of ``layer`` (new weights, named ``forward_<name>``); the
    backward layer is ``backward_layer`` as given or another fresh copy with ``go_backwards``
    flipped (named ``backward_<name>``). Both read the same, un-reversed inputs and mask; the
    backward layer reverses time itself, and its output sequence is flipped back to input time
    order before merging.

    Args:
        layer: the layer to wrap: any ``RNN`` or a layer following :class:`SequenceLayer`.
        merge_mode: ``"concat"`` (default, forward features first), ``"sum"``, ``"ave"``, ``"mul"``,
            ``None`` (return both outputs), or a callable ``merge_mode(y_fwd, y_bwd) -> y``
            (register it to make the layer serializable).
        weights: initial weights, forward layer's then backward layer's (Keras order), applied when
            the layer is built. Keras accepts and silently ignores this argument; birnn applies it.
        backward_layer: optional layer for the backward direction; it must have a different
            ``go_backwards`` and the same ``stateful``, ``return_sequences`` and ``return_state``.
        **kwargs: base ``Layer`` arguments (``name``, ``trainable``, ``input_shape``, ...).

    Call arguments:
        sequences: ``(N, T, F)`` inputs (or the Keras 2 list ``[x, *initial_states, *constants]``).
        initial_state: list of states: the first half goes to the forward layer, the second half to
            the backward layer, e.g. ``[h_fwd, c_fwd, h_bwd, c_bwd]`` for LSTM.
        mask: ``(N, T)`` boolean mask for both directions. With ``return_sequences=True`` masked steps
            output zero in both directions.
        training: passed to both directions.
        constants: passed to both directions' cells (cells whose ``call`` takes ``constants``).

    Returns:
        The merged output (a tuple ``(y_fwd, y_bwd)`` with ``merge_mode=None``); with
        ``return_state=True``, ``(output, *forward_states, *backward_states)`` (or
        ``(y_fwd, y_bwd, *forward_states, *backward_states)``). States are never merged.

    Which input time step does each returned state belong to? The forward states are those after
    reading steps ``0 .. T-1``: they belong to the **last** step (``y[:, -1, :U]``). The backward
    states are those after reading ``T-1 .. 0``: they belong to the **first** step
    (``y[:, 0, U:]``). With a mask, the forward state is the one after the last valid step and the
    backward state the one after the first valid step (masked steps carry states over).

    Example:
        >>> import torch, birnn
        >>> bi = birnn.layers.Bidirectional(birnn.layers.LSTM(4, return_sequences=True, return_state=True))
        >>> x = torch.randn(2, 6, 3)
        >>> y, h_fwd, c_fwd, h_bwd, c_bwd = bi(x)
        >>> y.shape
        torch.Size([2, 6, 8])
        >>> bool(torch.allclose(y[:, -1, :4], h_fwd)), bool(torch.allclose(y[:, 0, 4:], h_bwd))
        (True, True)
        >>> mask = torch.tensor([[True] * 6, [True] * 4 + [False] * 2])
        >>> y, h_fwd, c_fwd, h_bwd, c_bwd = bi(x, mask=mask)
        >>> bool(torch.allclose(y[1, 3, :4], h_fwd[1])), y[1, 4:].abs().sum().item()
        (True, 0.0)
    """

    supports_masking = True

    def __init__(
        self,
        layer: Layer,
        merge_mode: MergeMode = "concat",
        weights: list[Any] | None = None,
        backward_layer: Layer | None = None,
        num_constants: int | None = None,
        **kwargs: Any,
    ) -> None:
        _check_wrappable(layer, "layer")
        if backward_layer is not None:
            _check_wrappable(backward_layer, "backward_layer")
        merge_mode = resolve_merge_mode(merge_mode)
        kwargs.setdefault("trainable", layer.trainable)
        kwargs.setdefault("dtype", layer.dtype)
        super().__init__(**kwargs)
        stem = layer.name.removeprefix("forward_")
        self.forward_layer = _recreate(layer, "forward_" + stem, layer.go_backwards)
        if backward_layer is None:
            backward_layer = _recreate(layer, "backward_" + layer.name.removeprefix("backward_"), not layer.go_backwards)
        self.backward_layer = backward_layer
        if hasattr(layer, "use_cudnn"):
            for direction in (self.forward_layer, self.backward_layer):
                direction.use_cudnn = layer.use_cudnn
        self._verify_directions()
        for direction in (self.forward_layer, self.backward_layer):
            if hasattr(direction, "zero_output_for_mask"):
                direction.zero_output_for_mask = direction.return_sequences
        self.merge_mode = merge_mode
        self.stateful = layer.stateful
        self.return_sequences = layer.return_sequences
        self.return_state = layer.return_state
        self.input_spec = layer.input_spec
        self.num_constants = num_constants
        self._initial_weights = None if weights is None else list(weights)

    def _verify_directions(self) -> None:
        fwd, bwd = self.forward_layer, self.backward_layer
        if fwd.go_backwards == bwd.go_backwards:
            raise ValueError(
                "Forward layer and backward layer should have different `go_backwards` value. Received: "
                f"forward_layer.go_backwards {fwd.go_backwards}, backward_layer.go_backwards={bwd.go_backwards}"
            )
        for attr in ("stateful", "return_sequences", "return_state"):
            a, b = getattr(fwd, attr), getattr(bwd, attr)
            if a != b:
                raise ValueError(
                    "Forward layer and backward layer are expected to have the same value for attribute "
                    f'"{attr}", got "{a}" for forward layer and "{b}" for backward layer'
                )

    # ------------------------------------------------------------------ build
    def build(self, input_shape: Any) -> None:
        shape = input_shape[0] if isinstance(input_shape, list) else input_shape
        for direction in (self.forward_layer, self.backward_layer):
            if not direction.built:
                direction.build(shape)
                direction.built = True
        if self._initial_weights is not None:
            self._apply_initial_weights(self._initial_weights)
            self._initial_weights = None
        self.built = True

    def _apply_initial_weights(self, weights: list[Any]) -> None:
        n_fwd, n_bwd = len(self.forward_layer.weights), len(self.backward_layer.weights)
        if len(weights) != n_fwd + n_bwd:
            raise ValueError(
                f"Argument `weights` of Bidirectional layer '{self.name}' must hold {n_fwd + n_bwd} arrays "
                f"({n_fwd} forward, then {n_bwd} backward, Keras order), received {len(weights)}."
            )
        self.forward_layer.set_weights(weights[:n_fwd])
        self.backward_layer.set_weights(weights[n_fwd:])

    # ------------------------------------------------------------------ states
    def _split(self, states: Any, argument: str) -> tuple[list[Any] | None, list[Any] | None]:
        """First half to the forward layer, second half to the backward layer, validated."""
        if states is None:
            return None, None
        if not isinstance(states, (list, tuple)):
            if argument == "states":
                raise ValueError(
                    f"Unrecognized value for `states`. Expected `states` to be list or tuple. Received: {states}"
                )
            raise ValueError(
                "When passing `initial_state` to a Bidirectional RNN, the state should be a list containing the "
                f"states of the underlying RNNs. Received: {states}"
            )
        states = list(states)
        n_fwd, n_bwd = _state_count(self.forward_layer), _state_count(self.backward_layer)
        if n_fwd is None or n_bwd is None:
            n_fwd = n_bwd = len(states) // 2
        if len(states) != n_fwd + n_bwd:
            shapes = [tuple(s.shape) if hasattr(s, "shape") else type(s).__name__ for s in states]
            raise ValueError(
                f"Bidirectional layer '{self.name}' expects `{argument}` to be a list of {n_fwd + n_bwd} states "
                f"({n_fwd} for '{self.forward_layer.name}', then {n_bwd} for '{self.backward_layer.name}'), "
                f"received {len(states)}: {shapes}"
            )
        return states[:n_fwd], states[n_fwd:]

    @property
    def states(self) -> list[Tensor] | None:
        """Stored states of both directions (forward first) when stateful, else ``None``."""
        fwd, bwd = self.forward_layer.states, self.backward_layer.states
        return list(fwd) + list(bwd) if fwd is not None and bwd is not None else None

    def reset_states(self, states: Any = None) -> None:
        """Reset both directions; ``states`` is split half and half like ``initial_state``.

        Raises:
            AttributeError: the layer is not stateful.
        """
        if not self.stateful:
            raise AttributeError("Layer must be stateful.")
        fwd, bwd = self._split(states, "states")
        self.forward_layer.reset_states(fwd)
        self.backward_layer.reset_states(bwd)

    reset_state = reset_states

    # ------------------------------------------------------------------ call
    def _unpack_list_input(self, inputs: list[Any], initial_state: Any, constants: Any) -> tuple[Any, Any, Any]:
        """Keras 2's list form ``[x, *initial_states, *constants]``."""
        x, rest = inputs[0], list(inputs[1:])
        n_constants = self.num_constants or 0
        if n_constants and constants is None:
            constants, rest = rest[len(rest) - n_constants :], rest[: len(rest) - n_constants]
        if rest and initial_state is None:
            initial_state = rest
        return x, initial_state, constants

    @property
    def _directions(self) -> tuple[Layer, Layer]:
        return self.forward_layer, self.backward_layer

    def _runs_as_pair(self) -> bool:
        """Both directions are plain ``RNN`` calls, so their kernels may run together (``_dispatch.run_pair``)."""
        return all(
            isinstance(d, RNN) and d.activity_regularizer is None and not d._forward_hooks and not d._forward_pre_hooks
            for d in self._directions
        )

    def _run_directions(
        self, sequences: Tensor, states: tuple[Any, Any], mask: Any, training: Any, constants: Any
    ) -> tuple[tuple[Any, Any], bool]:
        """Both directions' outputs, and whether their sequences are already in input time order."""
        if self._runs_as_pair():
            calls = []
            for direction, direction_states in zip(self._directions, states):
                direction._check_inputs(sequences)
                calls.append(direction.prepare_call(sequences, direction_states, mask, training, constants))
            results = _dispatch.run_pair(
                self.forward_layer, self.backward_layer, calls, concatenated=self.merge_mode == "concat"
            )
            return (self.forward_layer.finish_call(results[0]), self.backward_layer.finish_call(results[1])), True
        outputs = tuple(
            d(sequences, **self._direction_kwargs(d, s, mask, training, constants)) for d, s in zip(self._directions, states)
        )
        return outputs, False

    @staticmethod
    def _in_input_order(direction: Layer, sequence: Tensor, mask: Tensor | None) -> Tensor:
        """A direction's output sequence aligned with input time, zero at masked steps.

        Each direction is flipped by its own ``go_backwards`` (Keras flips the backward layer's output
        whatever its flag, which misaligns a pair given with swapped directions). ``RNN`` layers
        already output zeros at masked steps (``zero_output_for_mask`` is forced); other layers are
        masked here.
        """
        if direction.go_backwards:
            sequence = sequence.flip(1)
        if mask is not None and not hasattr(direction, "zero_output_for_mask"):
            sequence = torch.where(mask.to(device=sequence.device, dtype=torch.bool).unsqueeze(-1), sequence, 0.0)
        return sequence

    def _direction_kwargs(self, direction: Layer, states: Any, mask: Any, training: Any, constants: Any) -> dict[str, Any]:
        accepted = _call_parameters(type(direction))
        offered = {"initial_state": states, "mask": mask, "training": training, "constants": constants}
        return {k: v for k, v in offered.items() if v is not None and k in accepted}

    def call(
        self,
        sequences: Tensor | list[Any],
        initial_state: Any = None,
        mask: Tensor | None = None,
        training: bool | None = None,
        constants: Any = None,
    ) -> Any:
        if isinstance(sequences, (list, tuple)):
            sequences, initial_state, constants = self._unpack_list_input(list(sequences), initial_state, constants)
        if constants is not None and self.num_constants is None:
            self.num_constants = len(constants) if isinstance(constants, (list, tuple)) else 1
        fwd_states, bwd_states = self._split(initial_state, "initial_state")
        (y, y_rev), aligned = self._run_directions(sequences, (fwd_states, bwd_states), mask, training, constants)
        states: tuple[Any, ...] = ()
        if self.return_state:
            states = tuple(y[1:]) + tuple(y_rev[1:])
            y, y_rev = y[0], y_rev[0]
        if self.return_sequences and not aligned:
            y, y_rev = (self._in_input_order(d, out, mask) for d, out in zip(self._directions, (y, y_rev)))
        output = merge(y, y_rev, self.merge_mode)
        if not self.return_state:
            return output
        return (*output, *states) if self.merge_mode is None else (output, *states)

    # ------------------------------------------------------------------ shapes and masks
    def _state_entries(self) -> int:
        return sum(_state_count(d) or 0 for d in (self.forward_layer, self.backward_layer))

    def compute_output_shape(self, input_shape: Shape) -> Any:
        fwd = self.forward_layer.compute_output_shape(input_shape)
        bwd = self.backward_layer.compute_output_shape(input_shape)
        fwd_out, bwd_out = (fwd[0], bwd[0]) if self.return_state else (fwd, bwd)
        if self.merge_mode is None:
            output: tuple[Any, ...] = (tuple(fwd_out), tuple(bwd_out))
        elif self.merge_mode == "concat":
            output = ((*fwd_out[:-1], fwd_out[-1] + bwd_out[-1]),)
        else:
            output = (tuple(fwd_out),)
        if not self.return_state:
            return output if self.merge_mode is None else output[0]
        return (*output, *fwd[1:], *bwd[1:])

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        output_mask = mask if self.return_sequences else None
        outputs = [output_mask, output_mask] if self.merge_mode is None else [output_mask]
        if self.return_state:
            return outputs + [None] * self._state_entries()
        return outputs if self.merge_mode is None else output_mask

    @property
    def constraints(self) -> dict[str, Any]:
        """``{weight path: constraint}`` for both directions (the tf.keras 2.4 attribute)."""
        found: dict[str, Any] = {}
        for prefix, module in self.named_modules():
            for spec in getattr(module, "_weight_specs", []):
                if spec.constraint is not None:
                    found[f"{prefix}.{spec.name}" if prefix else spec.name] = spec.constraint
        return found

    # ------------------------------------------------------------------ config
    def get_config(self) -> dict[str, Any]:
        config = {
            **super().get_config(),
            "merge_mode": serialize_merge_mode(self.merge_mode),
            "layer": _registry.serialize(self.forward_layer),
            "backward_layer": _registry.serialize(self.backward_layer),
        }
        if self.num_constants is not None:
            config["num_constants"] = self.num_constants
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects: dict[str, Any] | None = None) -> Bidirectional:
        config = dict(config)
        layer = _registry.deserialize(config.pop("layer"), custom_objects, kind="layer")
        backward = config.pop("backward_layer", None)
        if backward is not None:
            backward = _registry.deserialize(backward, custom_objects, kind="layer")
        config["merge_mode"] = resolve_merge_mode(config.get("merge_mode", "concat"), custom_objects)
        return cls(layer, backward_layer=backward, **config)
