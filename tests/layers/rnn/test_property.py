"""Property tests (hypothesis) for the recurrent layers and ``Bidirectional``.

(a) ``Bidirectional(layer, merge_mode=None)`` is exactly "run the forward layer; run the backward
    layer; flip its output sequence back to input time order", for any sizes and any mask
    (including fully masked rows), and the backward layer itself is "the forward recurrence on the
    time-flipped inputs and mask".
(b) The kernels birnn dispatches to agree with the step loop (``use_cudnn=False``): PyTorch's
    fused kernels (default dispatch under ``torch.no_grad()``) and the sequence kernels (default
    dispatch with autograd), for every layer kind, both directions, random initial states; and
    (c) the sequence kernels also with random masks, and over stateful sequences (consecutive calls
    continuing each other's states, single layers and ``Bidirectional``). A single layer's batch runs
    whole or split into two halves (one per core). Outputs and states within 1e-5, gradients within 1e-4.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st

from birnn import layers as L

from .oracle import GRAD_TOL, VALUE_TOL, batch_split, flatten, loss_weights, set_use_cudnn

SETTINGS = settings(max_examples=25, deadline=None, derandomize=True)

LAYERS: dict[str, Any] = {
    "SimpleRNN": lambda u, **kw: L.SimpleRNN(u, **kw),
    "SimpleRNN-relu": lambda u, **kw: L.SimpleRNN(u, activation="relu", **kw),
    "SimpleRNN-linear": lambda u, **kw: L.SimpleRNN(u, activation=None, **kw),
    "LSTM": lambda u, **kw: L.LSTM(u, **kw),
    "LSTM-hard_sigmoid-softsign": lambda u, **kw: L.LSTM(
        u, recurrent_activation="hard_sigmoid", activation="softsign", **kw
    ),
    "GRU": lambda u, **kw: L.GRU(u, **kw),
    "GRU-relu": lambda u, **kw: L.GRU(u, activation="relu", **kw),
    "GRU-reset_before": lambda u, **kw: L.GRU(u, reset_after=False, **kw),
}


@st.composite
def problems(draw: Any, masked: bool) -> dict[str, Any]:
    """Sizes, a layer kind, inputs, an optional mask and a seed for weights and states."""
    n, t = draw(st.integers(1, 3)), draw(st.integers(1, 6))
    problem = {
        "kind": draw(st.sampled_from(sorted(LAYERS))),
        "n": n,
        "t": t,
        "f": draw(st.integers(1, 4)),
        "units": draw(st.integers(1, 4)),
        "seed": draw(st.integers(0, 2**16)),
        "mask": None,
    }
    if masked:
        cells = draw(st.lists(st.booleans(), min_size=n * t, max_size=n * t))
        problem["mask"] = np.array(cells, dtype=bool).reshape(n, t)
    return problem


def randomise(layer: Any, seed: int) -> None:
    rng = np.random.RandomState(seed)
    layer.set_weights([(rng.standard_normal(w.shape) * 0.6).astype("float32") for w in layer.get_weights()])


def inputs(p: dict[str, Any]) -> np.ndarray:
    return np.random.RandomState(p["seed"] + 1).standard_normal((p["n"], p["t"], p["f"])).astype("float32")


def states_for(layer: Any, p: dict[str, Any]) -> list[np.ndarray]:
    rng = np.random.RandomState(p["seed"] + 2)
    return [(rng.standard_normal((p["n"], s)) * 0.5).astype("float32") for s in layer.state_size]


def close(actual: list[torch.Tensor], expected: list[torch.Tensor], label: str) -> None:
    assert len(actual) == len(expected), label
    for i, (a, e) in enumerate(zip(actual, expected)):
        assert a.shape == e.shape, f"{label} #{i}: {tuple(a.shape)} != {tuple(e.shape)}"
        np.testing.assert_allclose(a.detach().numpy(), e.detach().numpy(), **VALUE_TOL, err_msg=f"{label} #{i}")


# --------------------------------------------------------------------------- (a) Bidirectional
def _fully_masked_row(kind: str) -> dict[str, Any]:
    """A hand-picked case: the second row is fully masked, the first has holes."""
    mask = np.array([[True, False, True, True], [False, False, False, False]])
    return {"kind": kind, "n": 2, "t": 4, "f": 3, "units": 2, "seed": 7, "mask": mask}


@SETTINGS
@given(p=problems(masked=True), return_sequences=st.booleans(), return_state=st.booleans(), use_mask=st.booleans())
@example(p=_fully_masked_row("LSTM"), return_sequences=True, return_state=True, use_mask=True)
@example(p=_fully_masked_row("GRU-reset_before"), return_sequences=False, return_state=True, use_mask=True)
def test_bidirectional_is_forward_plus_flipped_backward(p, return_sequences, return_state, use_mask):
    bi = L.Bidirectional(
        LAYERS[p["kind"]](p["units"], return_sequences=return_sequences, return_state=return_state), merge_mode=None
    )
    x = torch.tensor(inputs(p))
    mask = torch.tensor(p["mask"]) if use_mask else None
    bi.build(tuple(x.shape))
    bi.built = True
    randomise(bi, p["seed"])
    out = flatten(bi(x, mask=mask))

    fwd = flatten(bi.forward_layer(x, mask=mask))
    bwd = flatten(bi.backward_layer(x, mask=mask))
    y_rev = bwd[0].flip(1) if return_sequences else bwd[0]
    expected = [fwd[0], y_rev]
    if return_state:
        expected += fwd[1:] + bwd[1:]
    close(out, expected, "Bidirectional vs its two layers")
    if return_sequences and mask is not None:  # masked steps output zero in both directions
        assert not out[0][~mask].any() and not out[1][~mask].any()

    # the backward layer is the forward recurrence on time-flipped inputs and mask
    config = {**bi.backward_layer.get_config(), "go_backwards": False, "name": "twin"}
    twin = type(bi.backward_layer).from_config(config)
    twin.build(tuple(x.shape))
    twin.built = True
    twin.set_weights(bi.backward_layer.get_weights())
    by_hand = flatten(twin(x.flip(1), mask=None if mask is None else mask.flip(1)))
    close(bwd, by_hand, "backward layer vs forward recurrence on flipped time")


# --------------------------------------------------------------------------- (b), (c) kernels
def _run(
    layer: Any, x: np.ndarray, states: list[np.ndarray], mask: np.ndarray | None, grad: bool
) -> tuple[list[torch.Tensor], list[np.ndarray]]:
    for w in layer.trainable_weights:
        w.grad = None
    xt = torch.tensor(x, requires_grad=grad)
    st_ = [torch.tensor(s, requires_grad=grad) for s in states]
    with torch.set_grad_enabled(grad):
        out = flatten(layer(xt, initial_state=st_ or None, mask=None if mask is None else torch.tensor(mask)))
    if not grad:
        return out, []
    weights = loss_weights([tuple(t.shape) for t in out])
    sum((t * w).sum() for t, w in zip(out, weights)).backward()
    grads = [xt.grad] + [s.grad for s in st_] + [w.grad for w in layer.trainable_weights]
    return out, [g.numpy().copy() for g in grads]


def _twins(p: dict[str, Any], go_backwards: bool, bidirectional: bool, stateful: bool = False) -> tuple[Any, Any]:
    def make() -> Any:
        layer = LAYERS[p["kind"]](p["units"], return_sequences=True, return_state=True, go_backwards=go_backwards,
                                  stateful=stateful)
        return L.Bidirectional(layer) if bidirectional else layer

    loop, auto = make(), make()
    for layer in (loop, auto):
        layer.build((p["n"], p["t"], p["f"]))
        layer.built = True
    randomise(loop, p["seed"])
    auto.set_weights(loop.get_weights())
    set_use_cudnn(loop, False)
    set_use_cudnn(auto, "auto")
    return loop, auto


def _check_kernels_match_loop(p: dict[str, Any], go_backwards: bool, bidirectional: bool, with_states: bool,
                              split: bool = False) -> None:
    with batch_split(split):
        _kernels_match_loop(p, go_backwards, bidirectional, with_states)


def _kernels_match_loop(p: dict[str, Any], go_backwards: bool, bidirectional: bool, with_states: bool) -> None:
    loop, auto = _twins(p, go_backwards, bidirectional)
    x = inputs(p)
    states: list[np.ndarray] = []
    if with_states:
        directions = [loop.forward_layer, loop.backward_layer] if bidirectional else [loop]
        states = [s for d in directions for s in states_for(d, p)]
    expected, expected_grads = _run(loop, x, states, p["mask"], grad=True)
    actual, actual_grads = _run(auto, x, states, p["mask"], grad=True)
    close(actual, expected, "sequence kernel vs loop")
    assert len(actual_grads) == len(expected_grads)
    for i, (a, e) in enumerate(zip(actual_grads, expected_grads)):
        np.testing.assert_allclose(a, e, **GRAD_TOL, err_msg=f"gradient #{i}")
    inference, _ = _run(auto, x, states, p["mask"], grad=False)
    close(inference, expected, "no-grad kernel vs loop")


def _odd_batch(kind: str) -> dict[str, Any]:
    """A hand-picked unmasked case whose batch splits into halves of one and two rows."""
    return {"kind": kind, "n": 3, "t": 4, "f": 2, "units": 3, "seed": 3, "mask": None}


@SETTINGS
@given(p=problems(masked=False), go_backwards=st.booleans(), with_states=st.booleans(), split=st.booleans())
@example(p=_odd_batch("LSTM-hard_sigmoid-softsign"), go_backwards=True, with_states=True, split=True)
@example(p=_odd_batch("GRU-reset_before"), go_backwards=False, with_states=False, split=True)
def test_fused_and_sequence_kernels_match_the_loop(p, go_backwards, with_states, split):
    _check_kernels_match_loop(p, go_backwards, bidirectional=False, with_states=with_states, split=split)


@SETTINGS
@given(p=problems(masked=False), with_states=st.booleans())
def test_bidirectional_kernels_match_the_loop(p, with_states):
    _check_kernels_match_loop(p, go_backwards=False, bidirectional=True, with_states=with_states)


@SETTINGS
@given(p=problems(masked=True), go_backwards=st.booleans(), with_states=st.booleans(), split=st.booleans())
@example(p=_fully_masked_row("LSTM"), go_backwards=True, with_states=True, split=True)
@example(p=_fully_masked_row("GRU"), go_backwards=False, with_states=True, split=False)
@example(p=_fully_masked_row("SimpleRNN-relu"), go_backwards=True, with_states=False, split=True)
def test_masked_sequence_kernels_match_the_loop(p, go_backwards, with_states, split):
    _check_kernels_match_loop(p, go_backwards, bidirectional=False, with_states=with_states, split=split)


@SETTINGS
@given(p=problems(masked=True), go_backwards=st.booleans(), bidirectional=st.booleans(), calls=st.integers(2, 3),
       split=st.booleans())
@example(p=_fully_masked_row("LSTM"), go_backwards=True, bidirectional=False, calls=2, split=True)
@example(p=_fully_masked_row("GRU"), go_backwards=False, bidirectional=False, calls=3, split=True)
def test_stateful_sequences_match_the_loop(p, go_backwards, bidirectional, calls, split):
    """Consecutive calls of a stateful layer (each starting from the states the call before left, masks of
    any pattern) give the loop's outputs, states and gradients on the fast kernels, call after call."""
    with batch_split(split and not bidirectional):
        _stateful_sequences_match_the_loop(p, go_backwards, bidirectional, calls)


def _stateful_sequences_match_the_loop(p: dict[str, Any], go_backwards: bool, bidirectional: bool, calls: int) -> None:
    loop, auto = _twins(p, go_backwards and not bidirectional, bidirectional, stateful=True)
    for call in range(calls):
        x = np.random.RandomState(p["seed"] + 10 + call).standard_normal((p["n"], p["t"], p["f"])).astype("float32")
        expected, expected_grads = _run(loop, x, [], p["mask"], grad=True)
        actual, actual_grads = _run(auto, x, [], p["mask"], grad=True)
        close(actual, expected, f"stateful call {call}: sequence kernel vs loop")
        for i, (a, e) in enumerate(zip(actual_grads, expected_grads)):
            np.testing.assert_allclose(a, e, **GRAD_TOL, err_msg=f"stateful call {call}: gradient #{i}")
    loop.reset_states()
    auto.reset_states()
    close(_run(auto, x, [], p["mask"], grad=False)[0], _run(loop, x, [], p["mask"], grad=False)[0],
          "after reset_states: kernel vs loop")
