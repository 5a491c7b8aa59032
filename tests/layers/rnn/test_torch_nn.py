"""birnn layers against PyTorch's own ``nn.LSTM`` / ``nn.GRU`` / ``nn.RNN`` with converted weights.

The conversion is written here from the spec (section 3.5), independently of birnn:

* LSTM / SimpleRNN: ``weight_ih = kernel.T``, ``weight_hh = recurrent_kernel.T``,
  ``bias_ih = bias``, ``bias_hh = 0`` (Keras's gate order ``i, f, c, o`` is PyTorch's);
* GRU (``reset_after=True``): gate blocks ``z, r, h`` -> ``r, z, n`` in every weight, then the same
  transposes, ``bias_ih = bias[0]``, ``bias_hh = bias[1]``;
* ``Bidirectional``: the forward layer is ``*_l0``, the backward layer ``*_l0_reverse``; outputs
  ``[..., :U]`` / ``[..., U:]`` and ``h_n[0]`` / ``h_n[1]`` are forward / backward.

Outputs and final states must agree within 1e-5 and gradients (inputs, initial states, every
weight, mapped back to the Keras layout) within 1e-4, for the step loop (``use_cudnn=False``),
the default dispatch with autograd, and the default dispatch under ``torch.no_grad()``.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from birnn import layers as L

from .oracle import GRAD_TOL, VALUE_TOL, flatten, loss_weights, set_use_cudnn

N, T, FEATURES, UNITS = 3, 6, 4, 3
PATHS = ("loop", "auto", "auto-no-grad")

KINDS: dict[str, tuple[Any, Any]] = {
    # name: (birnn layer factory, torch module factory)
    "LSTM": (
        lambda **kw: L.LSTM(UNITS, **kw),
        lambda bias, bi: nn.LSTM(FEATURES, UNITS, bias=bias, batch_first=True, bidirectional=bi),
    ),
    "GRU": (
        lambda **kw: L.GRU(UNITS, **kw),
        lambda bias, bi: nn.GRU(FEATURES, UNITS, bias=bias, batch_first=True, bidirectional=bi),
    ),
    "SimpleRNN-tanh": (
        lambda **kw: L.SimpleRNN(UNITS, **kw),
        lambda bias, bi: nn.RNN(FEATURES, UNITS, nonlinearity="tanh", bias=bias, batch_first=True, bidirectional=bi),
    ),
    "SimpleRNN-relu": (
        lambda **kw: L.SimpleRNN(UNITS, activation="relu", **kw),
        lambda bias, bi: nn.RNN(FEATURES, UNITS, nonlinearity="relu", bias=bias, batch_first=True, bidirectional=bi),
    ),
}


# --------------------------------------------------------------------------- layout conversion
def _gru_to_torch(a: np.ndarray) -> np.ndarray:
    z, r, h = np.split(a, 3, axis=-1)
    return np.concatenate([r, z, h], axis=-1)


def _gru_from_torch(a: np.ndarray) -> np.ndarray:
    r, z, h = np.split(a, 3, axis=-1)
    return np.concatenate([z, r, h], axis=-1)


def to_torch(kind: str, weights: list[np.ndarray], use_bias: bool) -> list[np.ndarray]:
    """Keras ``[kernel, recurrent_kernel, (bias)]`` -> ``[weight_ih, weight_hh, (bias_ih, bias_hh)]``."""
    order = _gru_to_torch if kind == "GRU" else (lambda a: a)
    out = [order(weights[0]).T, order(weights[1]).T]
    if use_bias:
        bias = weights[2]
        if kind == "GRU":
            out += [order(bias[0]), order(bias[1])]
        else:
            out += [bias, np.zeros_like(bias)]
    return out


def grads_from_torch(kind: str, grads: list[np.ndarray], use_bias: bool) -> list[np.ndarray]:
    """Gradients w.r.t. PyTorch's parameters -> gradients w.r.t. the Keras-layout weights."""
    order = _gru_from_torch if kind == "GRU" else (lambda a: a)
    out = [order(grads[0].T), order(grads[1].T)]
    if use_bias:
        if kind == "GRU":
            out.append(np.stack([order(grads[2]), order(grads[3])]))
        else:
            out.append(grads[2])  # bias_ih and bias_hh enter as a sum: same gradient as the Keras bias
    return out


def torch_module(kind: str, directions: list[list[np.ndarray]], use_bias: bool) -> nn.Module:
    module = KINDS[kind][1](use_bias, len(directions) == 2)
    with torch.no_grad():
        for suffix, weights in zip(("", "_reverse"), directions):
            names = ["weight_ih", "weight_hh"] + (["bias_ih", "bias_hh"] if use_bias else [])
            for name, value in zip(names, to_torch(kind, weights, use_bias)):
                getattr(module, f"{name}_l0{suffix}").copy_(torch.from_numpy(np.ascontiguousarray(value)))
    return module


def torch_grads(kind: str, module: nn.Module, bidirectional: bool, use_bias: bool) -> list[np.ndarray]:
    out = []
    for suffix in ("", "_reverse") if bidirectional else ("",):
        names = ["weight_ih", "weight_hh"] + (["bias_ih", "bias_hh"] if use_bias else [])
        grads = [getattr(module, f"{name}_l0{suffix}").grad.numpy() for name in names]
        out += grads_from_torch(kind, grads, use_bias)
    return out


# --------------------------------------------------------------------------- running both
def randomise(layer: Any, seed: int) -> None:
    rng = np.random.RandomState(seed)
    layer.set_weights([(rng.standard_normal(w.shape) * 0.5).astype("float32") for w in layer.get_weights()])


def compare(ours: list[torch.Tensor], theirs: list[torch.Tensor], label: str) -> None:
    assert [tuple(t.shape) for t in ours] == [tuple(t.shape) for t in theirs], label
    for i, (a, b) in enumerate(zip(ours, theirs)):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), **VALUE_TOL, err_msg=f"{label}: output #{i}")


def backward(outputs: list[torch.Tensor]) -> None:
    weights = loss_weights([tuple(t.shape) for t in outputs])
    sum((t * w).sum() for t, w in zip(outputs, weights)).backward()


def assert_grads(ours: list[torch.Tensor | np.ndarray], theirs: list[np.ndarray], label: str) -> None:
    assert len(ours) == len(theirs), label
    for i, (a, b) in enumerate(zip(ours, theirs)):
        a = a.numpy() if isinstance(a, torch.Tensor) else a
        np.testing.assert_allclose(a, b, **GRAD_TOL, err_msg=f"{label}: gradient #{i}")


UNI_GRID = list(itertools.product(KINDS, (False, True), (False, True), (True, False), PATHS))


@pytest.mark.parametrize("kind, go_backwards, with_state, use_bias, path", UNI_GRID)
def test_layer_matches_torch_nn(kind, go_backwards, with_state, use_bias, path):
    """``go_backwards=True`` equals PyTorch on the time-flipped input (outputs in processing order)."""
    layer = KINDS[kind][0](return_sequences=True, return_state=True, go_backwards=go_backwards, use_bias=use_bias)
    layer.build((N, T, FEATURES))
    layer.built = True
    randomise(layer, seed=1)
    set_use_cudnn(layer, False if path == "loop" else "auto")
    module = torch_module(kind, [layer.get_weights()], use_bias)
    rng = np.random.RandomState(2)
    x = rng.standard_normal((N, T, FEATURES)).astype("float32")
    n_states = 2 if kind == "LSTM" else 1
    states = None
    if with_state:
        states = [(rng.standard_normal((N, UNITS)) * 0.5).astype("float32") for _ in range(n_states)]
    grad = path != "auto-no-grad"

    def leaves() -> tuple[torch.Tensor, list[torch.Tensor]]:
        xs = torch.tensor(x, requires_grad=grad)
        ss = [torch.tensor(s, requires_grad=grad) for s in states] if states else []
        return xs, ss

    x_ours, s_ours = leaves()
    with torch.set_grad_enabled(grad):
        ours = flatten(layer(x_ours, initial_state=s_ours or None))
    x_theirs, s_theirs = leaves()
    seq = x_theirs.flip(1) if go_backwards else x_theirs
    hx = None
    if s_theirs:
        hx = (s_theirs[0][None], s_theirs[1][None]) if kind == "LSTM" else s_theirs[0][None]
    with torch.set_grad_enabled(grad):
        y, h_n = module(seq, hx)
    theirs = [y, h_n[0][0], h_n[1][0]] if kind == "LSTM" else [y, h_n[0]]
    compare(ours, theirs, f"{kind} {path}")
    if not grad:
        return
    backward(ours)
    backward(theirs)
    assert_grads(
        [x_ours.grad, *[s.grad for s in s_ours], *[w.grad for w in layer.trainable_weights]],
        [x_theirs.grad.numpy(), *[s.grad.numpy() for s in s_theirs], *torch_grads(kind, module, False, use_bias)],
        f"{kind} {path}",
    )


BI_GRID = list(itertools.product(("LSTM", "GRU", "SimpleRNN-tanh"), (False, True), (True, False), PATHS))


@pytest.mark.parametrize("kind, with_state, use_bias, path", BI_GRID)
def test_bidirectional_matches_torch_nn(kind, with_state, use_bias, path):
    """``Bidirectional(layer)`` (concat) equals ``nn.<RNN>(bidirectional=True)``."""
    bi = L.Bidirectional(KINDS[kind][0](return_sequences=True, return_state=True, use_bias=use_bias))
    bi.build((N, T, FEATURES))
    bi.built = True
    randomise(bi, seed=3)
    set_use_cudnn(bi, False if path == "loop" else "auto")
    weights = bi.get_weights()
    half = len(weights) // 2
    module = torch_module(kind, [weights[:half], weights[half:]], use_bias)
    rng = np.random.RandomState(4)
    x = rng.standard_normal((N, T, FEATURES)).astype("float32")
    n_states = 2 if kind == "LSTM" else 1
    # Keras order: forward states then backward states
    states = None
    if with_state:
        states = [(rng.standard_normal((N, UNITS)) * 0.5).astype("float32") for _ in range(2 * n_states)]
    grad = path != "auto-no-grad"

    def leaves() -> tuple[torch.Tensor, list[torch.Tensor]]:
        xs = torch.tensor(x, requires_grad=grad)
        ss = [torch.tensor(s, requires_grad=grad) for s in states] if states else []
        return xs, ss

    x_ours, s_ours = leaves()
    with torch.set_grad_enabled(grad):
        ours = flatten(bi(x_ours, initial_state=s_ours or None))
    x_theirs, s_theirs = leaves()
    hx = None
    if s_theirs:
        fwd, bwd = s_theirs[:n_states], s_theirs[n_states:]
        stacked = [torch.stack([f, b]) for f, b in zip(fwd, bwd)]  # (2, N, U): forward, backward
        hx = tuple(stacked) if kind == "LSTM" else stacked[0]
    with torch.set_grad_enabled(grad):
        y, h_n = module(x_theirs, hx)
    if kind == "LSTM":
        theirs = [y, h_n[0][0], h_n[1][0], h_n[0][1], h_n[1][1]]
    else:
        theirs = [y, h_n[0], h_n[1]]
    compare(ours, theirs, f"Bidirectional({kind}) {path}")
    if not grad:
        return
    backward(ours)
    backward(theirs)
    assert_grads(
        [x_ours.grad, *[s.grad for s in s_ours], *[w.grad for w in bi.trainable_weights]],
        [x_theirs.grad.numpy(), *[s.grad.numpy() for s in s_theirs], *torch_grads(kind, module, True, use_bias)],
        f"Bidirectional({kind}) {path}",
    )


def test_conversion_round_trips():
    """The test's own layout conversion is invertible (gradients map back to where weights came from)."""
    rng = np.random.RandomState(0)
    for kind in ("LSTM", "GRU"):
        gates = 4 if kind == "LSTM" else 3
        bias_shape = (2, gates * UNITS) if kind == "GRU" else (gates * UNITS,)
        weights = [rng.standard_normal(s) for s in ((FEATURES, gates * UNITS), (UNITS, gates * UNITS), bias_shape)]
        converted = to_torch(kind, weights, True)
        back = grads_from_torch(kind, converted, True)
        np.testing.assert_array_equal(back[0], weights[0])
        np.testing.assert_array_equal(back[1], weights[1])
        if kind == "GRU":
            np.testing.assert_array_equal(back[2], weights[2])
            # r and z really are swapped for PyTorch
            np.testing.assert_array_equal(converted[0][:UNITS], weights[0][:, UNITS : 2 * UNITS].T)
