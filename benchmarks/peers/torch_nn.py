"""Plain PyTorch peer: ``nn.LSTM`` / ``nn.GRU`` with ``bidirectional=True``.

* standard cases: one bidirectional ``nn.LSTM``/``nn.GRU`` per layer (oneDNN's fused RNN on CPU,
  cuDNN on CUDA); the second layer's features are its final hidden states ``h_n[0] | h_n[1]``,
  which is what Keras's ``Bidirectional(LSTM(U))`` returns;
* masked case: ``pack_padded_sequence`` (the idiomatic PyTorch way to skip padding);
* custom backward layer: PyTorch has no LSTM with a relu activation, so the backward direction is
  a hand-written loop (:class:`ReluBackwardLSTM`) and the forward direction a one-way ``nn.LSTM``.
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

__all__ = ["ReluBackwardLSTM", "TorchBody", "configure", "prepare", "versions"]

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
        if case.relu_backward:
            self.first = nn.LSTM(f, u, batch_first=True)
            self.first_backward = ReluBackwardLSTM(f, u)
            self.second = nn.LSTM(2 * u, u, batch_first=True)
            self.second_backward = ReluBackwardLSTM(2 * u, u)
        else:
            self.first = rnn(f, u, batch_first=True, bidirectional=True)
            self.second = rnn(2 * u, u, batch_first=True, bidirectional=True)

    def forward(self, inputs: Tensor, lengths: Tensor | None) -> Tensor:
        x = inputs if self.embedding is None else self.embedding(inputs)
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
