"""``RNN``: runs any cell over time; ``CellLayer``: the thin base of ``SimpleRNN``/``LSTM``/``GRU``."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor, nn

from ... import _registry
from .._input_spec import InputSpec
from .._layer import Layer, Shape
from .._naming import to_snake_case
from . import _dispatch
from ._cell import (CellProtocol, ProjectedCell, call_kwargs, flatten_states, has_own_initial_state, state_sizes,
                    zero_states)
from ._loop import Step, check_mask, check_time_axis

__all__ = ["RNN", "CellLayer", "state_structure"]

_FLAGS = ("return_sequences", "return_state", "go_backwards", "stateful", "unroll", "zero_output_for_mask")


def _pack(flat: Iterator[Tensor], size: Any) -> Any:
    """Rebuild the cell's state structure (``[h, c]``, or per-cell lists for stacked cells)."""
    return next(flat) if isinstance(size, int) else [_pack(flat, s) for s in size]


def state_structure(cell: Any) -> list[Any]:
    """The shape of a cell's state list: ``[u]``, ``[u, u]``, or per-cell lists for stacked cells."""
    from ._stacked import StackedRNNCells

    size = cell.state_size
    if isinstance(size, int):
        return [size]
    if isinstance(cell, StackedRNNCells):
        return [[s] if isinstance(s, int) else list(s) for s in size]
    return list(size)


def _check_cell(cell: Any) -> None:
    if isinstance(cell, CellProtocol) and isinstance(cell, nn.Module):
        size = cell.state_size
        if size is None:
            raise ValueError("state_size must be specified as property on the RNN cell.")
        if not isinstance(size, (int, list, tuple)):
            raise ValueError("state_size must be an integer, or a list/tuple of integers (one for each state tensor).")
        return
    if not callable(getattr(cell, "call", None)):
        raise ValueError(f"Argument `cell` should have a `call` method. Received: cell={cell}")
    if not isinstance(cell, nn.Module):
        raise TypeError(f"Argument `cell` must be a birnn.layers.Layer (a torch.nn.Module). Received: cell={cell}")
    raise ValueError(
        "The RNN cell should have a `state_size` attribute (single integer or list of integers, "
        f"one integer per RNN state). Received: cell={cell}"
    )


@_registry.register
class RNN(Layer):
    """Run a cell over the time axis of ``(N, T, F)`` inputs (Keras's ``RNN``).

    Args:
        cell: a cell (``LSTMCell``, ``GRUCell``, ``SimpleRNNCell``, a user cell following the cell
            protocol) or a list of cells (stacked with ``StackedRNNCells``).
        return_sequences: return the whole output sequence ``(N, T, U)`` instead of the last ``(N, U)``.
        return_state: also return the final states: ``(output, *states)``.
        go_backwards: read the inputs from ``T-1`` down to ``0``. The returned sequence stays in that
            *processing order* (``outputs[:, k]`` belongs to input step ``T-1-k``), as in Keras; the
            returned mask is reversed with it.
        stateful: keep the final states of a call as the initial states of the next (fixed batch size).
        unroll: accepted for Keras compatibility; it changes nothing (one loop serves every case).
        zero_output_for_mask: output zeros at masked steps instead of the previous output.
        time_major: only ``False`` is supported (Keras 2 configs carry it); ``True`` raises.
        input_length: Keras 2's time-axis length, combined with ``input_dim``.
        **kwargs: base ``Layer`` arguments.

    Call arguments:
        sequences: ``(N, T, F)`` tensor (or a list ``[x, *initial_states]``, the Keras 2 form).
        initial_state: list of ``(N, s)`` tensors in the cell's state order (``[h, c]`` for LSTM).
        mask: ``(N, T)`` boolean tensor; ``True`` marks steps to process. Masked steps carry every
            state over and output the previous output (or zero with ``zero_output_for_mask``).
        training: apply dropout; defaults to ``self.training``.
        constants: extra tensors passed to every step of cells whose ``call`` accepts ``constants``.

    Returns:
        ``output`` or, with ``return_state``, ``(output, *final_states)``.

    Example:
        >>> import torch, birnn
        >>> rnn = birnn.layers.RNN(birnn.layers.LSTMCell(4), return_sequences=True)
        >>> x = torch.randn(2, 5, 3)
        >>> mask = torch.tensor([[True] * 5, [True, True, True, False, False]])
        >>> y = rnn(x, mask=mask)
        >>> bool((y[1, 3] == y[1, 2]).all())   # a masked step repeats the previous output
        True
    """

    supports_masking = True

    def __init__(
        self,
        cell: Any,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        unroll: bool = False,
        zero_output_for_mask: bool = False,
        time_major: bool = False,
        input_length: int | None = None,
        **kwargs: Any,
    ) -> None:
        if time_major:
            raise ValueError(
                "Argument `time_major=True` is not supported: birnn layers take batch-major inputs "
                "(batch, time, features); transpose the inputs (x.transpose(0, 1)) instead."
            )
        if input_length is not None or ("input_dim" in kwargs and "input_shape" not in kwargs):
            input_dim = kwargs.pop("input_dim", None)
            kwargs.setdefault("input_shape", (input_length, input_dim))
        super().__init__(**kwargs)
        if isinstance(cell, (list, tuple)):
            from ._stacked import StackedRNNCells

            cell = StackedRNNCells(list(cell))
        _check_cell(cell)
        self.cell = cell
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = bool(stateful)
        self.unroll = bool(unroll)
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self.use_cudnn: bool | str = "auto"
        self.input_spec = InputSpec(ndim=3)
        self._stored_states: list[Tensor] | None = None
        self._batch_size: int | None = None if self.batch_input_shape is None else self.batch_input_shape[0]

    @property
    def cell(self) -> Any:
        """The wrapped cell (a submodule: assigning one registers it). A property, so the many reads of every
        call skip ``nn.Module.__getattr__``'s fallback lookup (~1 us each)."""
        return self._modules["cell"]

    # ------------------------------------------------------------------ build
    def build(self, input_shape: Any) -> None:
        shape = input_shape[0] if isinstance(input_shape, list) else input_shape
        if not getattr(self.cell, "built", False):
            self.cell.build((shape[0], *shape[2:]))
            self.cell.built = True
        self.input_spec = InputSpec(ndim=3, axes={-1: shape[-1]})
        if self.stateful and self._batch_size is None:
            self._batch_size = shape[0]
        self.built = True

    @property
    def state_size(self) -> list[int]:
        """One int per state tensor (stacked cells flattened)."""
        return state_sizes(self.cell)

    @property
    def output_size(self) -> int:
        size = getattr(self.cell, "output_size", None)
        return size if isinstance(size, int) else self.state_size[0]

    # ------------------------------------------------------------------ states
    def _as_state_list(self, states: Any, argument: str, batch: int) -> list[Tensor]:
        """Validate user-given states (count and ``(N, s)`` shapes) and return them flat."""
        if isinstance(states, (Tensor, np.ndarray)):
            states = [states]
        if not isinstance(states, (list, tuple)):
            raise ValueError(
                f"Argument `{argument}` of layer '{self.name}' must be a list of tensors, received: {states!r}"
            )
        flat = [s if isinstance(s, Tensor) else torch.as_tensor(np.asarray(s)) for s in flatten_states(list(states))]
        expected = [(batch, size) for size in self.state_size]
        received = [tuple(s.shape) for s in flat]
        if received != expected:
            raise ValueError(
                f"Layer '{self.name}' expects {len(expected)} state(s) in `{argument}` with shapes {expected}, "
                f"but received {len(received)} with shapes {received}."
            )
        return flat

    def _initial_states(self, initial_state: Any, inputs: Tensor) -> list[Tensor] | None:
        """The call's initial states, ``None`` for the cell's zero states (``Call.states`` makes them when read)."""
        batch = inputs.shape[0]
        if self.stateful and self._batch_size is not None and batch != self._batch_size:
            raise ValueError(
                "If an RNN is stateful, the batch size of the input sequences must be the same as the batch "
                f"size of the initial state. \n- Expected batch size: {self._batch_size}\n- Received batch size: {batch}"
            )
        if initial_state is not None:
            states = self._as_state_list(initial_state, "initial_state", batch)
        elif self.stateful and self._stored_states is not None:
            states = self._stored_states
        elif has_own_initial_state(self.cell):
            return zero_states(self.cell, batch, inputs.dtype, inputs.device)
        else:
            return None
        return [s.to(device=inputs.device, dtype=inputs.dtype) for s in states]

    @property
    def states(self) -> list[Tensor] | None:
        """The stored states of a stateful layer (``None`` when not stateful)."""
        if not self.stateful:
            return None
        if self._stored_states is None and self._batch_size is not None:
            device = next(self.parameters(), torch.empty(0)).device
            return zero_states(self.cell, self._batch_size, self.torch_dtype, device)
        return self._stored_states

    def reset_states(self, states: Any = None) -> None:
        """Reset the stored states of a stateful layer to zeros, or to ``states`` (validated).

        Raises:
            AttributeError: the layer is not stateful.
        """
        if not self.stateful:
            raise AttributeError("Layer must be stateful.")
        if states is None:
            self._stored_states = None
            return
        if self._batch_size is None:
            raise ValueError(
                f"Layer '{self.name}' is stateful but does not know its batch size yet: call it once, or pass "
                "`batch_input_shape` (or `batch_size` with `input_shape`), before giving it states."
            )
        device = next(self.parameters(), torch.empty(0)).device
        flat = self._as_state_list(states, "states", self._batch_size)
        self._stored_states = [s.detach().to(device=device, dtype=self.torch_dtype) for s in flat]

    reset_state = reset_states

    # ------------------------------------------------------------------- call
    def _step(self, sequences: Tensor, states: list[Tensor], training: bool, constants: Any) -> tuple[Step, Tensor]:
        """The per-step function and the per-step inputs it consumes."""
        cell = self.cell
        extra = call_kwargs(cell, training, constants)
        if isinstance(cell, ProjectedCell):
            masks = cell.dropout_masks(sequences, states, training)

            def projected_step(x: Tensor, s: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
                return cell.recurrent_step(x, s, masks.recurrent)

            return projected_step, cell.project_inputs(sequences, masks.inputs)

        structure = state_structure(cell)

        def generic_step(x: Tensor, s: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
            output, new_states = cell.call(x, _pack(iter(s), structure), **extra)
            return output, flatten_states(new_states)

        return generic_step, sequences

    def prepare_call(
        self, sequences: Tensor | list[Tensor], initial_state: Any, mask: Tensor | None, training: bool | None,
        constants: Any,
    ) -> _dispatch.Call:
        """Validate one call's arguments and resolve its initial states (used by ``call`` and ``Bidirectional``)."""
        if isinstance(sequences, (list, tuple)):  # Keras 2 form: [x, *initial_states]
            if len(sequences) > 1 and initial_state is None:
                initial_state = list(sequences[1:])
            sequences = sequences[0]
        check_time_axis(sequences)
        mask = check_mask(mask, sequences)
        states = self._initial_states(initial_state, sequences)
        training = self.training if training is None else bool(training)
        zero_sizes = tuple(state_sizes(self.cell)) if states is None else ()
        return _dispatch.Call(sequences, states, mask, training, constants, zero_sizes=zero_sizes)

    def finish_call(self, result: _dispatch.Result) -> Tensor | tuple[Any, ...]:
        """Store stateful states and shape the kernel's result into this layer's outputs."""
        last, outputs, final = result
        if self.stateful:
            self._stored_states = [s.detach() for s in final]
        output = outputs if self.return_sequences else last
        if not self.return_state:
            return output
        return (output, *_pack(iter(final), state_structure(self.cell)))

    def call(
        self,
        sequences: Tensor | list[Tensor],
        initial_state: Any = None,
        mask: Tensor | None = None,
        training: bool | None = None,
        constants: Any = None,
    ) -> Tensor | tuple[Any, ...]:
        call = self.prepare_call(sequences, initial_state, mask, training, constants)
        return self.finish_call(_dispatch.run(self, call))

    # ------------------------------------------------------------------ shapes
    def compute_output_shape(self, input_shape: Shape) -> Any:
        batch, steps = input_shape[0], input_shape[1]
        output = (batch, steps, self.output_size) if self.return_sequences else (batch, self.output_size)
        if not self.return_state:
            return output
        shapes = iter([(batch, size) for size in self.state_size])
        return (output, *_pack(shapes, state_structure(self.cell)))

    def compute_mask(self, inputs: Any, mask: Tensor | None = None) -> Any:
        output_mask = None
        if mask is not None and self.return_sequences:
            output_mask = mask.flip(1) if self.go_backwards else mask
        if self.return_state:
            return [output_mask] + [None] * len(self.state_size)
        return output_mask

    # ------------------------------------------------------------------ config
    def _flags_config(self) -> dict[str, Any]:
        return {flag: getattr(self, flag) for flag in _FLAGS}

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), **self._flags_config(), "cell": _registry.serialize(self.cell)}

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects: dict[str, Any] | None = None) -> RNN:
        config = dict(config)
        cell = config.pop("cell")
        if isinstance(cell, list):
            cell = [_registry.deserialize(c, custom_objects, kind="cell") for c in cell]
        else:
            cell = _registry.deserialize(cell, custom_objects, kind="cell")
        return cls(cell, **config)


_LAYER_KEYS = (
    frozenset(inspect.signature(Layer.__init__).parameters) | frozenset(inspect.signature(RNN.__init__).parameters)
) - {"self", "cell", "kwargs"}


class CellLayer(RNN):
    """``RNN`` over one built-in cell, configured by flat keyword arguments (Keras's layer form).

    Subclasses only name their ``cell_class``. The cell's hyper-parameters are readable on the layer
    (``lstm.units``, ``gru.reset_after``), and the config is the cell's arguments plus ``RNN``'s flags.

    Args:
        units: number of units.
        use_cudnn: ``"auto"`` (default) or ``True`` allow fused kernels (cuDNN on CUDA, oneDNN on CPU)
            when the configuration permits; ``False`` always uses the step loop. Not serialized, as in
            Keras. Only LSTM and GRU take it.
        implementation: Keras's 1/2 kernel choice; accepted and ignored (every choice is exact).
        **kwargs: the cell's arguments and ``RNN``'s.
    """

    cell_class: ClassVar[type[ProjectedCell]]
    takes_use_cudnn: ClassVar[bool] = True

    def __init__(self, units: int, **kwargs: Any) -> None:
        use_cudnn = kwargs.pop("use_cudnn", "auto") if self.takes_use_cudnn else "auto"
        if use_cudnn not in ("auto", True, False):
            raise ValueError(
                "Invalid value received for argument `use_cudnn`. Expected one of {'auto', True, False}. "
                f"Received: use_cudnn={use_cudnn!r}"
            )
        implementation = kwargs.pop("implementation", 2)
        if implementation not in (0, 1, 2):
            raise ValueError(f"Argument `implementation` must be 0, 1 or 2, received: implementation={implementation!r}")
        layer_kwargs = {k: v for k, v in kwargs.items() if k in _LAYER_KEYS}
        cell_kwargs = {k: v for k, v in kwargs.items() if k not in _LAYER_KEYS}
        accepted = set(inspect.signature(self.cell_class.__init__).parameters) | set(
            inspect.signature(ProjectedCell.__init__).parameters
        )
        unknown = {k: v for k, v in cell_kwargs.items() if k not in accepted}
        if unknown:
            raise ValueError(f"Unrecognized keyword arguments passed to {type(self).__name__}: {unknown}")
        cell = self.cell_class(
            units,
            name=to_snake_case(self.cell_class.__name__),
            dtype=layer_kwargs.get("dtype"),
            trainable=layer_kwargs.get("trainable", True),
            **cell_kwargs,
        )
        super().__init__(cell, **layer_kwargs)
        self.use_cudnn = use_cudnn

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            cell = self.__dict__.get("_modules", {}).get("cell")
            if cell is not None and not name.startswith("_") and name in cell.__dict__:
                return cell.__dict__[name]
            raise

    def get_config(self) -> dict[str, Any]:
        cell_config = self.cell.get_config()
        for key in ("name", "trainable", "dtype"):
            cell_config.pop(key)
        config = Layer.get_config(self)
        return {**config, **self._flags_config(), **cell_config}

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects: dict[str, Any] | None = None) -> CellLayer:
        return cls(**config)
