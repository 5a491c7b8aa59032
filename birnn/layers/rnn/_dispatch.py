"""The kernel dispatcher: which implementation runs one call of an ``RNN`` layer.

Three implementations compute the same thing (tests hold them to 1e-5 / 1e-4 of each other):

* ``"loop"``: ``_loop.run_loop`` over the cell's step, autograd per step. It runs everything:
  user cells, ``constants``, recurrent dropout, any activation, ``use_cudnn=False``.
* ``"scan"``: the sequence-level kernels of ``_scan`` (hand-written back-propagation through time,
  masks of any pattern as packed sequences, whole-sequence GEMMs on the fastest engine). For
  birnn's own cells whose activations have a known derivative (``_scan.DERIVATIVES``).
* ``"fused"``: PyTorch's own recurrent kernels (``torch._VF.lstm`` / ``gru`` / ``rnn_tanh`` /
  ``rnn_relu``: cuDNN on CUDA, oneDNN on CPU) for the exact configurations they implement
  (tanh/sigmoid LSTM, reset-after GRU, tanh/relu SimpleRNN) without a mask. On the CPU they are
  chosen when no gradient is needed (inference); on CUDA always.

``choose(layer, ...)`` is the single, explicit predicate; ``reason_for_loop`` says why a call
falls back to the loop (tests assert on it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from ... import _gemm, activations
from ._packing import pack, unpack_last, unpack_sequence
from ._scan import DERIVATIVES, gru_scan, lstm_scan, simple_scan

if TYPE_CHECKING:
    from ._rnn import RNN

__all__ = ["choose", "reason_for_loop", "run_fused", "run_scan", "torch_parameters"]


def _cell_kind(layer: RNN) -> str | None:
    from ._gru import GRUCell
    from ._lstm import LSTMCell
    from ._simple_rnn import SimpleRNNCell

    kind = type(layer.cell)
    if kind is LSTMCell:
        return "lstm"
    if kind is GRUCell:
        return "gru" if layer.cell.reset_after else None
    if kind is SimpleRNNCell:
        return "simple"
    return None


def _activations(layer: RNN) -> tuple[Any, ...]:
    cell = layer.cell
    return (cell.activation,) if _cell_kind(layer) == "simple" else (cell.recurrent_activation, cell.activation)


def reason_for_loop(layer: RNN, *, training: bool, constants: Any) -> str | None:
    """Why this call must use the step loop, or ``None`` if a sequence kernel can run it."""
    if layer.use_cudnn is False:
        return "use_cudnn=False"
    if _cell_kind(layer) is None:
        return "no sequence kernel for this cell"
    if constants is not None:
        return "constants were given"
    if training and layer.cell.recurrent_dropout > 0.0:
        return "recurrent dropout while training"
    if any(fn not in DERIVATIVES for fn in _activations(layer)):
        return "an activation without a known derivative"
    return None


def _fused_name(layer: RNN) -> str | None:
    kind = _cell_kind(layer)
    if kind == "simple":
        return {activations.tanh: "rnn_tanh", activations.relu: "rnn_relu"}.get(layer.cell.activation)
    standard = _activations(layer) == (activations.sigmoid, activations.tanh)
    return kind if standard else None


def choose(layer: RNN, *, mask: Tensor | None, training: bool, constants: Any, inputs: Tensor) -> str:
    """``"fused"``, ``"scan"`` or ``"loop"`` for this call (see the module docstring)."""
    if reason_for_loop(layer, training=training, constants=constants) is not None:
        return "loop"
    if mask is None and _fused_name(layer) is not None:
        needs_grad = torch.is_grad_enabled() and (
            inputs.requires_grad or any(w.requires_grad for w in layer.cell.parameters())
        )
        if inputs.device.type == "cuda" or not needs_grad:
            return "fused"
    return "scan"


def _torch_order(weight: Tensor, kind: str, units: int) -> Tensor:
    """Keras gate blocks on the last axis -> PyTorch's (only GRU differs: ``z, r, h -> r, z, h``)."""
    if kind != "gru":
        return weight
    z, r, h = weight.split(units, dim=-1)
    return torch.cat([r, z, h], dim=-1)


def torch_parameters(cell: Any, kind: str) -> list[Tensor]:
    """``[weight_ih, weight_hh, bias_ih, bias_hh]`` in PyTorch's layout, differentiable w.r.t. the cell."""
    u = cell.units
    params = [
        _torch_order(cell.kernel, kind, u).t().contiguous(),
        _torch_order(cell.recurrent_kernel, kind, u).t().contiguous(),
    ]
    if cell.use_bias:
        if kind == "gru":
            params += [_torch_order(cell.bias[0], kind, u), _torch_order(cell.bias[1], kind, u)]
        else:
            params += [cell.bias, torch.zeros_like(cell.bias)]
    return params


def _dropped(layer: RNN, sequences: Tensor, states: list[Tensor], training: bool) -> Tensor:
    cell = layer.cell
    return cell._dropped_inputs(sequences, cell.dropout_masks(sequences, states, training).inputs)


def run_fused(layer: RNN, sequences: Tensor, states: list[Tensor], *, training: bool = False) -> tuple[Tensor, Tensor | None, list[Tensor]]:
    """PyTorch's kernel; same contract as ``run_loop``: ``(last_output, outputs or None, final_states)``."""
    cell, name = layer.cell, _fused_name(layer)
    assert name is not None
    x = _dropped(layer, sequences, states, training)
    if layer.go_backwards:
        x = x.flip(1)
    params = torch_parameters(cell, "gru" if name == "gru" else "lstm")
    kernel = getattr(torch._VF, name)
    if name == "lstm":
        outputs, h, c = kernel(x, (states[0][None], states[1][None]), params, cell.use_bias, 1, 0.0, False, False, True)
        final = [h[0], c[0]]
    else:
        outputs, h = kernel(x, states[0][None], params, cell.use_bias, 1, 0.0, False, False, True)
        final = [h[0]]
    return outputs[:, -1], (outputs if layer.return_sequences else None), final


def run_scan(layer: RNN, sequences: Tensor, states: list[Tensor], *, mask: Tensor | None,
             training: bool = False) -> tuple[Tensor, Tensor | None, list[Tensor]]:
    """The sequence kernels over packed steps; same contract as ``run_loop``."""
    cell, kind = layer.cell, _cell_kind(layer)
    packed, p = pack(_dropped(layer, sequences, states, training), mask, layer.go_backwards)
    xp = cell.project_inputs(packed)
    sorted_states = [s.index_select(0, p.order) for s in states]
    if kind == "lstm":
        hs, h, c = lstm_scan(xp, *sorted_states, cell.recurrent_kernel, p.batch_sizes,
                             cell.recurrent_activation, cell.activation)
        final = [h, c]
    elif kind == "gru":
        recurrent_bias = cell.bias[1] if cell.use_bias else None
        hs, h = gru_scan(xp, *sorted_states, cell.recurrent_kernel, recurrent_bias, p.batch_sizes,
                         cell.recurrent_activation, cell.activation)
        final = [h]
    else:
        hs, h = simple_scan(xp, *sorted_states, cell.recurrent_kernel, p.batch_sizes, cell.activation)
        final = [h]
    final = [s.index_select(0, p.inverse) for s in final]
    zero = layer.zero_output_for_mask
    outputs = unpack_sequence(hs, p, zero) if layer.return_sequences else None
    return unpack_last(hs, p, zero), outputs, final
