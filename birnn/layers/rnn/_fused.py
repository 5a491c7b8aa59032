"""Fused-kernel dispatcher: when a layer may run PyTorch's own recurrent kernels.

``ineligibility(layer, ...)`` is the single, explicit predicate: it returns ``None`` when the fused
kernel computes exactly what the step loop computes, and otherwise a short reason (tests assert on
it). ``run`` converts the Keras-layout weights to PyTorch's layout inside the call (so autograd
flows back to the Keras-layout parameters) and calls ``torch._VF.lstm`` / ``gru`` / ``rnn_tanh`` /
``rnn_relu``: cuDNN on CUDA, oneDNN or the native kernels on CPU.

Exactness conditions: an unsubclassed built-in cell; LSTM/GRU with ``tanh``/``sigmoid``; GRU with
``reset_after=True`` (PyTorch's GRU *is* Keras's reset-after GRU once the gates are reordered
``z, r, h -> r, z, h``); SimpleRNN with ``tanh`` or ``relu``; no mask; no recurrent dropout while
training (input dropout is applied to the inputs first, as Keras does); no ``constants``;
``use_cudnn`` not ``False``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from ... import activations

if TYPE_CHECKING:
    from ._rnn import RNN

__all__ = ["ineligibility", "eligible", "run"]


def _kernel_name(layer: RNN) -> str | None:
    from ._gru import GRUCell
    from ._lstm import LSTMCell
    from ._simple_rnn import SimpleRNNCell

    cell = layer.cell
    kind = type(cell)
    if kind is LSTMCell or (kind is GRUCell and cell.reset_after):
        standard = cell.activation is activations.tanh and cell.recurrent_activation is activations.sigmoid
        return ("lstm" if kind is LSTMCell else "gru") if standard else None
    if kind is SimpleRNNCell:
        return {activations.tanh: "rnn_tanh", activations.relu: "rnn_relu"}.get(cell.activation)
    return None


def ineligibility(layer: RNN, *, mask: Tensor | None, training: bool, constants: Any) -> str | None:
    """``None`` if ``layer`` may use the fused kernel for this call, else the reason it may not."""
    if layer.use_cudnn is False:
        return "use_cudnn=False"
    if _kernel_name(layer) is None:
        return "cell or activations without a fused kernel"
    if mask is not None:
        return "a mask was given"
    if constants is not None:
        return "constants were given"
    if training and layer.cell.recurrent_dropout > 0.0:
        return "recurrent dropout while training"
    return None


def eligible(layer: RNN, *, mask: Tensor | None, training: bool, constants: Any, inputs: Tensor) -> bool:
    return ineligibility(layer, mask=mask, training=training, constants=constants) is None


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


def run(layer: RNN, sequences: Tensor, states: list[Tensor], *, mask: Tensor | None = None,
        training: bool = False) -> tuple[Tensor, Tensor | None, list[Tensor]]:
    """Same contract as ``run_loop``: ``(last_output, outputs or None, final_states)``."""
    cell = layer.cell
    kind = _kernel_name(layer)
    assert kind is not None and mask is None
    masks = cell.dropout_masks(sequences, states, training)
    x = cell._dropped_inputs(sequences, masks.inputs)
    if layer.go_backwards:
        x = x.flip(1)
    params = torch_parameters(cell, kind)
    hx = [s.unsqueeze(0) for s in states]
    kernel = getattr(torch._VF, kind)
    if kind == "lstm":
        outputs, h, c = kernel(x, (hx[0], hx[1]), params, cell.use_bias, 1, 0.0, False, False, True)
        final = [h[0], c[0]]
    else:
        outputs, h = kernel(x, hx[0], params, cell.use_bias, 1, 0.0, False, False, True)
        final = [h[0]]
    return outputs[:, -1], (outputs if layer.return_sequences else None), final
