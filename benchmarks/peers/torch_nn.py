"""Plain PyTorch peer: ``nn.LSTM`` / ``nn.GRU`` with ``bidirectional=True``.

* standard cases: one bidirectional ``nn.LSTM``/``nn.GRU`` per layer (oneDNN's fused RNN on CPU,
  cuDNN on CUDA); the second layer's features are its final hidden states ``h_n[0] | h_n[1]``,
  which is what Keras's ``Bidirectional(LSTM(U))`` returns;
* masked case: ``pack_padded_sequence`` (the idiomatic PyTorch way to skip padding);
* custom backward layer: PyTorch has no LSTM with a relu activation, so the backward direction is
  a hand-written loop (:class:`ReluBackwardLSTM`) and the forward direction a one-way ``nn.LSTM``;
* ``GRU(reset_after=False)``: PyTorch's GRU applies the reset gate after its recurrent multiply, so both
  directions are hand-written loops (:class:`ResetBeforeGRU`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence

from ..cases import Batch, Case
from . import torch_common
from .base import Prepared

__all__ = ["ReluBackwardLSTM", "ResetBeforeGRU", "TorchBody", "configure", "prepare", "versions"]

configure = torch_common.configure
versions = torch_common.versions


class ReluBackwardLSTM(nn.Module):
    """Keras's ``LSTM(U, activation='relu', go_backwards=True)`` as a hand-written PyTorch loop.

    The input projection of all steps is one GEMM; the loop reads time from ``T-1`` down to ``0``.
    With ``return_sequences`` the outputs are returned in input time order (as ``Bidirectional``
    presents them), else the final hidden state.
    """

    def __init__(self, inputs: int, units: int) -> None:
        super().__init__()
        self.units = units
        self.weight_ih = nn.Parameter(torch.empty(4 * units, inputs))
        self.weight_hh = nn.Parameter(torch.empty(4 * units, units))
        self.bias = nn.Parameter(torch.zeros(4 * units))
        bound = 1.0 / math.sqrt(units)
        nn.init.uniform_(self.weight_ih, -bound, bound)
        nn.init.uniform_(self.weight_hh, -bound, bound)

    def forward(self, x: Tensor, return_sequences: bool) -> Tensor:
        projected = F.linear(x, self.weight_ih, self.bias)
        h = c = x.new_zeros(x.shape[0], self.units)
        outputs = []
        for t in range(x.shape[1] - 1, -1, -1):
            i, f, g, o = (projected[:, t] + F.linear(h, self.weight_hh)).chunk(4, dim=-1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.relu(g)
            h = torch.sigmoid(o) * torch.relu(c)
            outputs.append(h)
        return torch.stack(outputs[::-1], dim=1) if return_sequences else h


class ResetBeforeGRU(nn.Module):
    """Keras's ``GRU(U, reset_after=False)`` (one direction) as a hand-written PyTorch loop.

    ``z, r = sigmoid(x W_zr + b_zr + h U_zr)``, ``h~ = tanh(x W_h + b_h + (r * h) U_h)``,
    ``h' = z * h + (1 - z) * h~``; the input projection of all steps is one GEMM. ``backwards`` reads time
    from ``T-1`` down to ``0`` (sequences are returned in input time order).
    """

    def __init__(self, inputs: int, units: int, backwards: bool) -> None:
        super().__init__()
        self.units, self.backwards = units, backwards
        self.weight_ih = nn.Parameter(torch.empty(3 * units, inputs))
        self.weight_hh = nn.Parameter(torch.empty(3 * units, units))
        self.bias = nn.Parameter(torch.zeros(3 * units))
        bound = 1.0 / math.sqrt(units)
        nn.init.uniform_(self.weight_ih, -bound, bound)
        nn.init.uniform_(self.weight_hh, -bound, bound)

    def forward(self, x: Tensor, return_sequences: bool) -> Tensor:
        u = self.units
        projected = F.linear(x, self.weight_ih, self.bias)
        gates_hh, candidate_hh = self.weight_hh[: 2 * u], self.weight_hh[2 * u :]
        h = x.new_zeros(x.shape[0], u)
        outputs = []
        steps = range(x.shape[1] - 1, -1, -1) if self.backwards else range(x.shape[1])
        for t in steps:
            z, r = torch.sigmoid(projected[:, t, : 2 * u] + F.linear(h, gates_hh)).chunk(2, dim=-1)
            candidate = torch.tanh(projected[:, t, 2 * u :] + F.linear(r * h, candidate_hh))
            h = z * h + (1 - z) * candidate
            outputs.append(h)
        if not return_sequences:
            return h
        return torch.stack(outputs[::-1] if self.backwards else outputs, dim=1)


def _final_features(state: Tensor | tuple[Tensor, Tensor]) -> Tensor:
    """``h_n[0] | h_n[1]`` (forward and backward final hidden states) of a bidirectional layer."""
    h = state[0] if isinstance(state, tuple) else state
    return torch.cat([h[0], h[1]], dim=-1)


class TorchBody(nn.Module):
    """The two bidirectional layers (and the embedding of the masked case) in plain PyTorch."""

    def __init__(self, case: Case) -> None:
        super().__init__()
        rnn = nn.LSTM if case.cell == "lstm" else nn.GRU
        f, u = case.features, case.units
        self.embedding = nn.Embedding(case.vocab, f) if case.masked else None
        self.relu_backward = case.relu_backward
        self.reset_before = case.cell == "gru" and not case.reset_after
        if self.reset_before:
            self.first, self.first_backward = ResetBeforeGRU(f, u, False), ResetBeforeGRU(f, u, True)
            self.second, self.second_backward = ResetBeforeGRU(2 * u, u, False), ResetBeforeGRU(2 * u, u, True)
        elif case.relu_backward:
            self.first = nn.LSTM(f, u, batch_first=True)
            self.first_backward = ReluBackwardLSTM(f, u)
            self.second = nn.LSTM(2 * u, u, batch_first=True)
            self.second_backward = ReluBackwardLSTM(2 * u, u)
        else:
            self.first = rnn(f, u, batch_first=True, bidirectional=True)
            self.second = rnn(2 * u, u, batch_first=True, bidirectional=True)

    def forward(self, inputs: Tensor, lengths: Tensor | None) -> Tensor:
        x = inputs if self.embedding is None else self.embedding(inputs)
        if self.reset_before:
            y = torch.cat([self.first(x, return_sequences=True), self.first_backward(x, return_sequences=True)], dim=-1)
            return torch.cat([self.second(y, return_sequences=False), self.second_backward(y, return_sequences=False)], -1)
        if self.relu_backward:
            y = torch.cat([self.first(x)[0], self.first_backward(x, return_sequences=True)], dim=-1)
            h_forward = self.second(y)[1][0][0]
            return torch.cat([h_forward, self.second_backward(y, return_sequences=False)], dim=-1)
        if lengths is not None:
            packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            return _final_features(self.second(self.first(packed)[0])[1])
        return _final_features(self.second(self.first(x)[0])[1])


def prepare(case: Case, batch: Batch, device: str) -> Prepared:
    return torch_common.steps_for(TorchBody(case), case, batch, device)
