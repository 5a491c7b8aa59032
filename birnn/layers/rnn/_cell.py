"""The cell protocol: one step of recurrent math, and nothing about time.

Shape legend used throughout ``birnn.layers.rnn``: ``N`` batch, ``T`` time, ``F`` input
features, ``U`` units, ``G`` gate width (``4U`` for LSTM, ``3U`` for GRU, ``U`` for SimpleRNN).
States are always in Keras order and always a list: ``[h]`` or ``[h, c]`` (LSTM).

Two kinds of cells exist:

* any :class:`~birnn.layers.Layer` that follows Keras's cell protocol (:class:`CellProtocol`):
  ``call(inputs, states, training=None) -> (output, new_states)`` and ``state_size``, optionally
  ``output_size`` and ``get_initial_state(batch_size)``;
* birnn's own :class:`ProjectedCell` s, whose step is split into an input projection (one matrix
  multiply for all time steps at once) and a recurrent update, so the loop never multiplies the
  input inside the time loop. Dropout masks are made once per call by the layer and passed in:
  cells hold no per-call state.
"""

from __future__ import annotations

import abc
import functools
import inspect
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import torch
from torch import Tensor

from ... import _gemm, activations, constraints, initializers, regularizers
from .. import _layer

__all__ = ["CellProtocol", "ProjectedCell", "DropoutMasks", "state_sizes", "flat_sizes", "zero_states", "has_own_initial_state", "flatten_states", "call_kwargs"]


@runtime_checkable
class CellProtocol(Protocol):
    """What ``RNN`` needs from a cell: a one-step ``call`` and a ``state_size``."""

    state_size: Any

    def call(self, inputs: Tensor, states: list[Tensor], *args: Any, **kwargs: Any) -> tuple[Tensor, Any]: ...


def state_sizes(cell: Any) -> list[int]:
    """``cell.state_size`` as a flat list of ints (one per state tensor, nested cells flattened)."""
    return flat_sizes(cell.state_size)


def flat_sizes(size: Any) -> list[int]:
    return [size] if isinstance(size, int) else [s for item in size for s in flat_sizes(item)]


@functools.cache
def _call_parameters(cell_type: type) -> frozenset[str]:
    return frozenset(inspect.signature(cell_type.call).parameters)


def call_kwargs(cell: Any, training: bool | None, constants: Any = None) -> dict[str, Any]:
    """The optional arguments ``cell.call`` accepts: ``training``, and ``constants`` when given.

    Raises:
        ValueError: ``constants`` were given but the cell's ``call`` has no ``constants`` parameter.
    """
    accepted = _call_parameters(type(cell))
    kwargs: dict[str, Any] = {"training": training} if "training" in accepted else {}
    if constants is not None:
        if "constants" not in accepted:
            raise ValueError(f"`constants` were given, but the cell {type(cell).__name__}'s call() does not accept them.")
        kwargs["constants"] = constants
    return kwargs


def zero_states(cell: Any, batch_size: int, dtype: torch.dtype, device: torch.device | str) -> list[Tensor]:
    """The cell's initial states: its own ``get_initial_state`` when it has one, else zeros ``(N, s)``."""
    if has_own_initial_state(cell):
        states = cell.get_initial_state(batch_size=batch_size)
        states = list(states) if isinstance(states, (list, tuple)) else [states]
        return [s.to(device=device, dtype=dtype) for s in flatten_states(states)]
    return [torch.zeros(batch_size, s, dtype=dtype, device=device) for s in state_sizes(cell)]


def has_own_initial_state(cell: Any) -> bool:
    """The cell makes its initial states itself (``get_initial_state``); otherwise they are zeros."""
    return getattr(type(cell), "get_initial_state", None) is not None


def flatten_states(states: Any) -> list[Tensor]:
    """Nested state lists (stacked cells) -> one flat list of tensors (or arrays), in order."""
    if not isinstance(states, (list, tuple)):
        return [states]
    return [t for s in states for t in flatten_states(s)]


@dataclass(frozen=True)
class DropoutMasks:
    """Masks shared by every time step of one call: ``(N, F)`` for inputs, ``(N, U)`` for ``h``."""

    inputs: Tensor | None = None
    recurrent: Tensor | None = None


class ProjectedCell(_layer.Layer, abc.ABC):
    """Base of birnn's built-in cells (SimpleRNN, LSTM, GRU): the arguments they share and ``build``.

    Args:
        units: positive number of units ``U``.
        activation: activation of the candidate/output (default ``"tanh"``; ``None`` is linear).
        use_bias: whether the cell has a ``bias`` weight.
        kernel_initializer, recurrent_initializer, bias_initializer: initializers of ``kernel``
            ``(F, G)``, ``recurrent_kernel`` ``(U, G)`` and ``bias``.
        kernel_regularizer, recurrent_regularizer, bias_regularizer: weight regularizers.
        kernel_constraint, recurrent_constraint, bias_constraint: weight constraints.
        dropout: fraction of the inputs to drop (one mask per call, shared across time steps).
        recurrent_dropout: fraction of ``h`` to drop in the recurrent projection.
        seed: seed of the dropout masks.
        **kwargs: base ``Layer`` arguments (``name``, ``dtype``, ``trainable``).

    A step is ``recurrent_step(project_inputs(x_t), states)``; ``project_inputs`` also accepts a whole
    ``(N, T, F)`` sequence so that the loop does one matrix multiply for all steps.
    """

    gate_count: int = 1

    def __init__(
        self,
        units: int,
        activation: Any = "tanh",
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        recurrent_initializer: Any = "orthogonal",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        recurrent_regularizer: Any = None,
        bias_regularizer: Any = None,
        kernel_constraint: Any = None,
        recurrent_constraint: Any = None,
        bias_constraint: Any = None,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not isinstance(units, int) or isinstance(units, bool) or units <= 0:
            raise ValueError(
                f"Received an invalid value for argument `units`, expected a positive integer, got {units}."
            )
        for arg, value in (("dropout", dropout), ("recurrent_dropout", recurrent_dropout)):
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise TypeError(f"Argument `{arg}` must be a float in [0, 1], received: {arg}={value!r}")
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
            raise TypeError(f"Argument `seed` must be an integer or None, received: seed={seed!r}")
        self.units = units
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.recurrent_constraint = constraints.get(recurrent_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.dropout = min(1.0, max(0.0, float(dropout)))
        self.recurrent_dropout = min(1.0, max(0.0, float(recurrent_dropout)))
        self.seed = seed
        self._generator: torch.Generator | None = None

    @property
    def state_size(self) -> int | list[int]:
        return self.units

    @property
    def output_size(self) -> int:
        return self.units

    @property
    def bias_shape(self) -> tuple[int, ...]:
        return (self.gate_count * self.units,)

    def bias_initial_value(self, shape: tuple[int, ...], dtype: torch.dtype | None = None) -> Tensor:
        """The bias's initial value (LSTM overrides it for ``unit_forget_bias``)."""
        return self.bias_initializer(shape, dtype=dtype)

    def build(self, input_shape: Any) -> None:
        width = self.gate_count * self.units
        self.add_weight("kernel", (input_shape[-1], width), self.kernel_initializer,
                        self.kernel_regularizer, self.kernel_constraint)
        self.add_weight("recurrent_kernel", (self.units, width), self.recurrent_initializer,
                        self.recurrent_regularizer, self.recurrent_constraint)
        if self.use_bias:
            self.add_weight("bias", self.bias_shape, self.bias_initial_value, self.bias_regularizer, self.bias_constraint)
        self.built = True

    def input_bias(self) -> Tensor | None:
        """The bias added to the projected inputs (``None`` without one)."""
        return self.bias if self.use_bias else None

    def project_inputs(self, inputs: Tensor, input_mask: Tensor | None = None) -> Tensor:
        """``(…, F) -> (…, G)``: the input half of a step, for one step or a whole sequence."""
        return _gemm.linear(self._dropped_inputs(inputs, input_mask), self.kernel.t(), self.input_bias())

    @abc.abstractmethod
    def recurrent_step(
        self, projected: Tensor, states: list[Tensor], recurrent_mask: Tensor | None = None
    ) -> tuple[Tensor, list[Tensor]]:
        """``(N, G), states -> (N, U) output, new states``: the recurrent half of a step."""

    def _dropped_inputs(self, inputs: Tensor, input_mask: Tensor | None) -> Tensor:
        if input_mask is None:
            return inputs
        return inputs * (input_mask.unsqueeze(1) if inputs.ndim == 3 else input_mask)

    def _mask(self, shape: tuple[int, int], rate: float, like: Tensor) -> Tensor:
        if self.seed is not None and self._generator is None:
            self._generator = torch.Generator().manual_seed(int(self.seed))
        keep = torch.rand(shape, generator=self._generator) >= rate
        return keep.to(like.device, like.dtype) / (1.0 - rate)

    def dropout_masks(self, inputs: Tensor, states: list[Tensor], training: bool) -> DropoutMasks:
        """Masks for one call (``inputs`` is ``(N, F)`` or ``(N, T, F)``); empty unless training.

        As in Keras's LSTM and GRU, a rate of exactly 1.0 means "no dropout".
        """
        if not training:
            return DropoutMasks()
        n, f = inputs.shape[0], inputs.shape[-1]
        return DropoutMasks(
            inputs=self._mask((n, f), self.dropout, inputs) if 0.0 < self.dropout < 1.0 else None,
            recurrent=(
                self._mask((n, self.units), self.recurrent_dropout, states[0])
                if 0.0 < self.recurrent_dropout < 1.0 else None
            ),
        )

    def call(
        self, inputs: Tensor, states: list[Tensor] | Tensor, training: bool | None = None
    ) -> tuple[Tensor, list[Tensor]]:
        """One step on its own: ``(N, F), states -> (N, U), new states`` (fresh dropout masks if training)."""
        states = [states] if isinstance(states, Tensor) else list(states)
        masks = self.dropout_masks(inputs, states, self.training if training is None else training)
        return self.recurrent_step(self.project_inputs(inputs, masks.inputs), states, masks.recurrent)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "recurrent_regularizer": regularizers.serialize(self.recurrent_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "recurrent_constraint": constraints.serialize(self.recurrent_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "seed": self.seed,
        }
