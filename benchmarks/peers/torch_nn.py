"""Plain PyTorch peer: ``nn.LSTM`` / ``nn.GRU`` with ``bidirectional=True``.

* standard cases: one bidirectional ``nn.LSTM``/``nn.GRU`` per layer (oneDNN's fused RNN on CPU,
  cuDNN on CUDA); the second layer's features are its final hidden states ``h_n[0] | h_n[1]``,
  which is what Keras's ``Bidirectional(LSTM(U))`` returns;
* masked case: ``pack_padded_sequence`` (the idiomatic PyTorch way to skip padding);
* custom backward layer: PyTorch has no LSTM with a relu activation, so the backward direction is
  a hand-written loop (:class:`LoopLSTM`) and the forward direction a one-way ``nn.LSTM``;
* ``GRU(reset_after=False)``: PyTorch's GRU applies the reset gate after its recurrent multiply, so both
  directions are hand-written loops (:class:`ResetBeforeGRU`);
* recurrent dropout: PyTorch's LSTM has none, so both directions are hand-written loops (:class:`LoopLSTM`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence

from ..cases import Batch, Case
from . import torch_common
from .base import Prepared

__all__ = ["LoopLSTM", "ResetBeforeGRU", "TorchBody", "configure", "prepare", "versions"]

configure = torch_common.configure
versions = torch_common.versions


class _HandLoop(nn.Module):
    """A one-direction recurrent layer written as a plain PyTorch loop over time steps, with Keras's gate
    order: the input projection of all steps is one GEMM, ``step`` is one step's recurrence.
    ``backwards`` reads time from ``T-1`` down to ``0`` (sequences come back in input time order).
    ``recurrent_dropout``: while training, one mask per call multiplies the state the recurrent product
    reads, as in Keras."""

    gates = 1

    def __init__(self, inputs: int, units: int, backwards: bool = False, recurrent_dropout: float = 0.0) -> None:
        super().__init__()
        self.units, self.backwards, self.recurrent_dropout = units, backwards, recurrent_dropout
        self.weight_ih = nn.Parameter(torch.empty(self.gates * units, inputs))
        self.weight_hh = nn.Parameter(torch.empty(self.gates * units, units))
        self.bias = nn.Parameter(torch.zeros(self.gates * units))
        bound = 1.0 / math.sqrt(units)
        nn.init.uniform_(self.weight_ih, -bound, bound)
        nn.init.uniform_(self.weight_hh, -bound, bound)

    def step(self, projected: Tensor, states: list[Tensor], read: Tensor) -> list[Tensor]:
        """The states after one step; ``read`` is ``h`` as the recurrent product reads it."""
        raise NotImplementedError

    def forward(self, x: Tensor, return_sequences: bool) -> Tensor:
        projected = F.linear(x, self.weight_ih, self.bias)
        states = [x.new_zeros(x.shape[0], self.units) for _ in range(2 if self.gates == 4 else 1)]
        mask = None
        if self.training and self.recurrent_dropout > 0:
            mask = F.dropout(x.new_ones(x.shape[0], self.units), self.recurrent_dropout)
        outputs = []
        for t in range(x.shape[1] - 1, -1, -1) if self.backwards else range(x.shape[1]):
            states = self.step(projected[:, t], states, states[0] if mask is None else states[0] * mask)
            outputs.append(states[0])
        if not return_sequences:
            return states[0]
        return torch.stack(outputs[::-1] if self.backwards else outputs, dim=1)


class LoopLSTM(_HandLoop):
    """Keras's ``LSTM(U, activation=...)`` (one direction): what PyTorch's LSTM kernel cannot run (a relu
    activation, recurrent dropout)."""

    gates = 4

    def __init__(self, inputs: int, units: int, activation: Callable[[Tensor], Tensor] = torch.tanh,
                 **kwargs: Any) -> None:
        super().__init__(inputs, units, **kwargs)
        self.activation = activation

    def step(self, projected: Tensor, states: list[Tensor], read: Tensor) -> list[Tensor]:
        i, f, g, o = (projected + F.linear(read, self.weight_hh)).chunk(4, dim=-1)
        c = torch.sigmoid(f) * states[1] + torch.sigmoid(i) * self.activation(g)
        return [torch.sigmoid(o) * self.activation(c), c]


class ResetBeforeGRU(_HandLoop):
    """Keras's ``GRU(U, reset_after=False)`` (one direction): ``z, r = sigmoid(x W_zr + b_zr + h U_zr)``,
    ``h~ = tanh(x W_h + b_h + (r * h) U_h)``, ``h' = z * h + (1 - z) * h~``."""

    gates = 3

    def step(self, projected: Tensor, states: list[Tensor], read: Tensor) -> list[Tensor]:
        u = self.units
        z, r = torch.sigmoid(projected[:, : 2 * u] + F.linear(read, self.weight_hh[: 2 * u])).chunk(2, dim=-1)
        candidate = torch.tanh(projected[:, 2 * u :] + F.linear(r * read, self.weight_hh[2 * u :]))
        return [z * states[0] + (1 - z) * candidate]


def _final_features(state: Tensor | tuple[Tensor, Tensor]) -> Tensor:
    """``h_n[0] | h_n[1]`` (forward and backward final hidden states) of a bidirectional layer, ``h_n[0]`` of a
    one-directional one."""
    h = state[0] if isinstance(state, tuple) else state
    return torch.cat(list(h), dim=-1)


class TorchBody(nn.Module):
    """The two bidirectional layers (and the embedding of the masked case) in plain PyTorch."""

    def __init__(self, case: Case) -> None:
        super().__init__()
        rnn = nn.LSTM if case.cell == "lstm" else nn.GRU
        f, u = case.features, case.units
        self.embedding = nn.Embedding(case.vocab, f) if case.masked else None
        self.relu_backward = case.relu_backward
        loop = None  # a hand-written loop for both directions, when PyTorch's kernels cannot run the layer
        if case.cell == "gru" and not case.reset_after:
            loop = ResetBeforeGRU
        elif case.recurrent_dropout > 0:
            loop = functools.partial(LoopLSTM, recurrent_dropout=case.recurrent_dropout)
        self.hand_loops = loop is not None
        if loop is not None:
            self.first, self.first_backward = loop(f, u), loop(f, u, backwards=True)
            self.second, self.second_backward = loop(2 * u, u), loop(2 * u, u, backwards=True)
        elif case.relu_backward:
            self.first = nn.LSTM(f, u, batch_first=True)
            self.first_backward = LoopLSTM(f, u, activation=torch.relu, backwards=True)
            self.second = nn.LSTM(2 * u, u, batch_first=True)
            self.second_backward = LoopLSTM(2 * u, u, activation=torch.relu, backwards=True)
        else:
            both = case.directions == 2
            self.first = rnn(f, u, batch_first=True, bidirectional=both)
            self.second = rnn(case.directions * u, u, batch_first=True, bidirectional=both)

    def forward(self, inputs: Tensor, lengths: Tensor | None) -> Tensor:
        x = inputs if self.embedding is None else self.embedding(inputs)
        if self.hand_loops:
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
