"""birnn's ``Bidirectional`` against Keras 3 (the oracle) with the same weights.

Weights are copied with ``keras_bi.set_weights(birnn_bi.get_weights())`` (forward layer's weights,
then the backward layer's, in both libraries). Outputs and states must agree within 1e-5 and the
gradients of a fixed loss (w.r.t. inputs, initial states and every weight) within 1e-4, for the
birnn step loop (``use_cudnn=False``) and the default dispatch (fused kernels when eligible).

Grid: the full product of wrapped layer x merge mode x ``return_sequences`` x mask pattern, with
every pair of the other axes (``return_state``, initial state, backward layer, units) covered.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from . import oracle

BATCH, STEPS, FEATURES = 3, 5, 4
T, F = True, False
KINDS = ("SimpleRNN", "LSTM", "GRU", "Stacked")
MERGE_MODES = ("sum", "mul", "concat", "ave", None)
BACKWARDS = ("auto", "custom")


def direction(kind: str, units: int, custom: bool, flags: dict[str, Any]) -> oracle.Spec:
    """One direction of the wrapper; ``custom`` gives the backward layer its own activations."""
    if kind == "Stacked":
        activation = {"activation": "relu"} if custom else {}
        return lambda L: L.RNN(L.StackedRNNCells([L.LSTMCell(3, **activation), L.GRUCell(units)]), **flags)
    extra = {
        "SimpleRNN": {"activation": "relu"},
        "LSTM": {"activation": "relu"},  # the seed example's backward layer
        "GRU": {"reset_after": False, "recurrent_activation": "hard_sigmoid"},
    }[kind] if custom else {}
    return lambda L: getattr(L, kind)(units, **extra, **flags)


def state_sizes(kind: str, units: int) -> list[Any]:
    return {"SimpleRNN": [units], "LSTM": [units, units], "GRU": [units], "Stacked": [[3, 3], [units]]}[kind]


def bidirectional_spec(kind: str, units: int, merge_mode: Any, backward: str, **flags: Any) -> oracle.Spec:
    if backward == "auto":
        layer = direction(kind, units, False, flags)
        return lambda L: L.Bidirectional(layer(L), merge_mode=merge_mode)
    forward_backwards = backward == "swapped"  # forward reads right-to-left, backward left-to-right
    layer = direction(kind, units, False, {**flags, "go_backwards": forward_backwards})
    back = direction(kind, units, backward == "custom", {**flags, "go_backwards": not forward_backwards})
    return lambda L: L.Bidirectional(layer(L), merge_mode=merge_mode, backward_layer=back(L))


GRID = oracle.covering_rows(
    full={
        "kind": KINDS,
        "merge_mode": MERGE_MODES,
        "return_sequences": (False, True),
        "mask": oracle.MASK_KINDS,
    },
    extra={
        "return_state": (False, True),
        "initial_state": (False, True),
        "backward": BACKWARDS,
        "units": (1, 3),
    },
)


@pytest.mark.parametrize("case", GRID, ids=oracle.case_id)
def test_bidirectional_matches_keras(keras, case):
    kind, units = case["kind"], case["units"]
    spec = bidirectional_spec(
        kind,
        units,
        case["merge_mode"],
        case["backward"],
        return_sequences=case["return_sequences"],
        return_state=case["return_state"],
    )
    x = oracle.make_inputs((BATCH, STEPS, FEATURES), seed=11)
    mask = oracle.make_mask(case["mask"], BATCH, STEPS)
    initial_state = None
    if case["initial_state"]:
        sizes = state_sizes(kind, units)
        initial_state = oracle.random_states(sizes + sizes, BATCH, seed=12)  # forward half, backward half
    oracle.check_against_keras(
        keras,
        spec,
        x,
        mask=mask,
        initial_state=initial_state,
        fast=True,  # stacked cells run one layer per cell on the kernels
        fused=mask is None and kind != "Stacked",
    )


@pytest.mark.parametrize("cell", ["CarryCell", "CarryCellWithStart"])
@pytest.mark.parametrize("mask_kind", oracle.MASK_KINDS)
@pytest.mark.parametrize("return_sequences, return_state, initial_state", [(F, T, T), (T, F, F), (T, T, F), (F, F, T)])
def test_user_cell_matches_keras(keras, cell, mask_kind, return_sequences, return_state, initial_state):
    """``Bidirectional(RNN(user cell))``: a cell whose output is not ``states[0]``, two states."""

    def spec(L):
        with L.custom_objects():
            layer = L.RNN(getattr(L, cell)(3), return_sequences=return_sequences, return_state=return_state)
            return L.Bidirectional(layer, merge_mode="concat")

    x = oracle.make_inputs((BATCH, STEPS, FEATURES), seed=17)
    states = oracle.random_states([3, 3, 3, 3], BATCH, seed=18) if initial_state else None
    oracle.check_against_keras(
        keras, spec, x, mask=oracle.make_mask(mask_kind, BATCH, STEPS), initial_state=states
    )


@pytest.mark.parametrize("kind", ["SimpleRNN", "LSTM", "GRU"])
@pytest.mark.parametrize("mask_kind", ["none", "left", "holes"])
def test_swapped_directions_match_keras(keras, kind, mask_kind):
    """A forward layer with ``go_backwards=True`` and a backward layer with ``False`` (Keras accepts
    the pair): last outputs and states equal Keras's. With ``return_sequences=True`` birnn
    deliberately differs (each direction is aligned with input time by its own flag, where Keras
    flips only the second one); that behaviour is tested in ``test_bidirectional.py``."""
    spec = bidirectional_spec(kind, 3, None, "swapped", return_sequences=False, return_state=True)
    x = oracle.make_inputs((BATCH, STEPS, FEATURES), seed=16)
    oracle.check_against_keras(keras, spec, x, mask=oracle.make_mask(mask_kind, BATCH, STEPS))


@pytest.mark.parametrize("kind", ["SimpleRNN", "LSTM", "GRU"])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_seed_example_custom_backward_layer(keras, kind, return_sequences):
    """The documentation's example: ``backward_layer=LSTM(u, activation="relu", go_backwards=True)``."""

    def spec(L):
        forward = getattr(L, kind)(4, return_sequences=return_sequences)
        backward = L.LSTM(4, activation="relu", return_sequences=return_sequences, go_backwards=True)
        return L.Bidirectional(forward, backward_layer=backward)

    x = oracle.make_inputs((2, 6, 5), seed=13)
    for mask_kind in ("none", "left"):
        oracle.check_against_keras(keras, spec, x, mask=oracle.make_mask(mask_kind, 2, 6))


@pytest.mark.parametrize("kind", ["SimpleRNN", "LSTM", "GRU"])
@pytest.mark.parametrize("mask_kind, return_sequences", [("none", False), ("holes", True)])
def test_stateful_bidirectional_matches_keras(keras, kind, mask_kind, return_sequences):
    """Both directions carry their states between calls and restart after ``reset_states``."""

    def spec(L):
        # no return_state: Keras's Bidirectional.compute_mask raises for stateful + return_state
        # (``generator * 2``, spec section 1.6)
        return L.Bidirectional(getattr(L, kind)(3, stateful=True, return_sequences=return_sequences))

    first = oracle.make_inputs((BATCH, STEPS, FEATURES), seed=14)
    second = oracle.make_inputs((BATCH, STEPS, FEATURES), seed=15)
    mask = oracle.make_mask(mask_kind, BATCH, STEPS)
    for mode in (False, "auto"):
        ours, theirs = oracle.build_pair(keras, spec, first.shape)
        oracle.set_use_cudnn(ours, mode)
        for sub in (theirs.forward_layer, theirs.backward_layer):
            if hasattr(sub, "use_cudnn"):
                # Keras's torch CPU fallback kernel breaks autograd through stateful states
                # (in-place state update); compare against its generic loop.
                sub.use_cudnn = False
        results = []
        for x in (first, second, "reset", first):
            if isinstance(x, str):
                ours.reset_states()
                theirs.reset_states()
                continue
            expected = oracle.run(theirs, x, mask=mask)
            actual = oracle.run(ours, x, mask=mask)
            oracle.assert_results_close(expected, actual, label=f"use_cudnn={mode!r} call #{len(results)}")
            results.append(actual)
        assert not np.allclose(results[1].values[0], results[0].values[0])
        for a, b in zip(results[2].values, results[0].values):
            np.testing.assert_allclose(a, b, **oracle.VALUE_TOL)


def test_grid_size_and_coverage():
    assert len(GRID) >= len(KINDS) * len(MERGE_MODES) * 2 * len(oracle.MASK_KINDS)
    assert {(r["backward"], r["initial_state"]) for r in GRID} == {(b, s) for b in BACKWARDS for s in (False, True)}
