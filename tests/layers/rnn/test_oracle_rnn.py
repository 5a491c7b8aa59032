"""birnn's RNN layers against Keras 3 (the oracle) with copied weights: outputs, states, gradients.

Every case runs the birnn layer with ``use_cudnn=False`` (the step loop) and with the default
``"auto"`` (sequence kernels; PyTorch's fused kernels when eligible, also run without autograd),
and compares each with Keras's default non-unrolled path. The grids are covering designs: the full
product over the axes that change the loop's control flow (layer, mask pattern, direction, ...),
and every pair of values of the other axes (units, activations, ``zero_output_for_mask``, ...) in
at least one case.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from . import oracle

BATCH, STEPS, FEATURES = 3, 5, 4

KINDS = ("SimpleRNN", "LSTM", "GRU", "GRU_reset_before")

# Per layer kind: default activations, then two non-default variants.
ACTIVATIONS: dict[str, tuple[dict[str, Any], ...]] = {
    "SimpleRNN": ({}, {"activation": "relu"}, {"activation": "softsign"}),
    "LSTM": ({}, {"activation": "relu"}, {"activation": "softsign", "recurrent_activation": "hard_sigmoid"}),
    "GRU": (
        {},
        {"recurrent_activation": "hard_sigmoid"},
        {"activation": "relu", "recurrent_activation": "hard_sigmoid"},
    ),
}
ACTIVATIONS["GRU_reset_before"] = ACTIVATIONS["GRU"]


def layer_spec(kind: str, units: int, activation: int, **kwargs: Any) -> oracle.Spec:
    """``spec(L)`` building ``kind`` with the chosen activation variant and flags."""
    args = {**ACTIVATIONS[kind][activation], **kwargs}
    if kind == "GRU_reset_before":
        return lambda L: L.GRU(units, reset_after=False, **args)
    return lambda L: getattr(L, kind)(units, **args)


def fused_kernel_exists(kind: str, activation: int) -> bool:
    """The configurations PyTorch's own kernels implement exactly (tanh/sigmoid LSTM, reset-after
    GRU, tanh/relu SimpleRNN)."""
    if kind == "SimpleRNN":
        return activation in (0, 1)  # tanh, relu
    return kind in ("LSTM", "GRU") and activation == 0


def state_sizes(kind: str, units: int) -> list[int]:
    return [units, units] if kind == "LSTM" else [units]


GRID = oracle.covering_rows(
    full={
        "kind": KINDS,
        "mask": oracle.MASK_KINDS,
        "go_backwards": (False, True),
        "return_sequences": (False, True),
        "initial_state": (False, True),
    },
    extra={
        "units": (1, 3),
        "return_state": (False, True),
        "activation": (0, 1, 2),
        "zero_output_for_mask": (False, True),
        "use_bias": (True, False),
    },
)


@pytest.mark.parametrize("case", GRID, ids=oracle.case_id)
def test_layer_matches_keras(keras, case):
    kind, units = case["kind"], case["units"]
    spec = layer_spec(
        kind,
        units,
        case["activation"],
        use_bias=case["use_bias"],
        return_sequences=case["return_sequences"],
        return_state=case["return_state"],
        go_backwards=case["go_backwards"],
        zero_output_for_mask=case["zero_output_for_mask"],
    )
    x = oracle.make_inputs((BATCH, STEPS, FEATURES), seed=1)
    mask = oracle.make_mask(case["mask"], BATCH, STEPS)
    initial_state = oracle.random_states(state_sizes(kind, units), BATCH, seed=2) if case["initial_state"] else None
    oracle.check_against_keras(
        keras,
        spec,
        x,
        mask=mask,
        initial_state=initial_state,
        fast=kind != "GRU_reset_before",
        fused=mask is None and fused_kernel_exists(kind, case["activation"]),
    )


# ------------------------------------------------------------------------ stateful
@pytest.mark.parametrize(
    "kind, go_backwards, mask_kind, return_sequences",
    [
        (kind, go_backwards, mask_kind, return_sequences)
        for kind in KINDS
        for go_backwards in (False, True)
        for mask_kind, return_sequences in (("none", False), ("holes", True))
    ],
)
def test_stateful_sequence_matches_keras(keras, kind, go_backwards, mask_kind, return_sequences):
    """Two calls carry the state over, ``reset_states`` restarts; every call agrees with Keras."""
    spec = layer_spec(
        kind, 3, 0, stateful=True, return_state=True, go_backwards=go_backwards, return_sequences=return_sequences
    )
    first = oracle.make_inputs((BATCH, STEPS, FEATURES), seed=3)
    second = oracle.make_inputs((BATCH, STEPS, FEATURES), seed=4)
    mask = oracle.make_mask(mask_kind, BATCH, STEPS)
    for mode in (False, "auto"):
        ours, theirs = oracle.build_pair(keras, spec, first.shape)
        oracle.set_use_cudnn(ours, mode)
        if hasattr(theirs, "use_cudnn"):
            # Keras's torch CPU fallback kernel updates the stateful state variables in place while
            # the returned states still need them for backward (autograd "modified by an inplace
            # operation"); its generic loop copies them first, so compare against that loop.
            theirs.use_cudnn = False
        sequence = [first, second, "reset", first, second]
        results = []
        for x in sequence:
            if isinstance(x, str):
                ours.reset_states()
                theirs.reset_states()
                continue
            expected = oracle.run(theirs, x, mask=mask)
            actual = oracle.run(ours, x, mask=mask)
            oracle.assert_results_close(expected, actual, label=f"use_cudnn={mode!r} call #{len(results)}")
            results.append(actual)
        # the state really was carried: the second call differs from a fresh call on the same input
        assert not np.allclose(results[1].values[0], results[0].values[0])
        for a, b in zip(results[2].values, results[0].values):
            np.testing.assert_allclose(a, b, **oracle.VALUE_TOL)


@pytest.mark.parametrize("kind", KINDS)
def test_stateful_given_initial_state_overrides_stored_state(keras, kind):
    """An explicit ``initial_state`` wins over the stored state, and the result is stored."""
    spec = layer_spec(kind, 2, 0, stateful=True, return_state=True)
    x1 = oracle.make_inputs((BATCH, STEPS, FEATURES), seed=20)
    x2 = oracle.make_inputs((BATCH, STEPS, FEATURES), seed=21)
    given = oracle.random_states(state_sizes(kind, 2), BATCH, seed=22)
    ours, theirs = oracle.build_pair(keras, spec, x1.shape)
    if hasattr(theirs, "use_cudnn"):
        theirs.use_cudnn = False  # see test_stateful_sequence_matches_keras
    for x, state in ((x1, None), (x2, given), (x1, None)):
        expected = oracle.run(theirs, x, initial_state=state)
        actual = oracle.run(ours, x, initial_state=state)
        oracle.assert_results_close(expected, actual)


EDGE_SHAPES = ((1, 1, 1), (1, 7, 2), (4, 1, 3), (2, 2, 1))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("shape", EDGE_SHAPES, ids=str)
@pytest.mark.parametrize("mask_kind", ["none", "holes", "empty_row"])
def test_edge_shapes_match_keras(keras, kind, shape, mask_kind):
    """One sample, one time step, one feature; masks that empty the whole batch."""
    n, t, _ = shape
    spec = layer_spec(kind, 2, 0, return_sequences=True, return_state=True, go_backwards=t % 2 == 0)
    x = oracle.make_inputs(shape, seed=23)
    mask = oracle.make_mask(mask_kind, n, t)
    oracle.check_against_keras(keras, spec, x, mask=mask)


# ------------------------------------------------------------------------ stacked cells
STACKS: dict[str, Any] = {
    "lstm+gru": lambda L: [L.LSTMCell(3), L.GRUCell(2)],
    "gru_reset_before+simple_relu": lambda L: [L.GRUCell(2, reset_after=False), L.SimpleRNNCell(3, activation="relu")],
    "lstm_hard+lstm": lambda L: [L.LSTMCell(2, recurrent_activation="hard_sigmoid"), L.LSTMCell(1)],
}


def stack_state_sizes(stack: str) -> list[Any]:
    sizes = {"lstm+gru": [[3, 3], [2]], "gru_reset_before+simple_relu": [[2], [3]], "lstm_hard+lstm": [[2, 2], [1, 1]]}
    return sizes[stack]


STACK_GRID = oracle.covering_rows(
    full={"mask": oracle.MASK_KINDS, "go_backwards": (False, True), "return_sequences": (False, True)},
    extra={
        "stack": tuple(STACKS),
        "return_state": (False, True),
        "initial_state": (False, True),
        "list_form": (False, True),
        "zero_output_for_mask": (False, True),
    },
    seed=1,
)


@pytest.mark.parametrize("case", STACK_GRID, ids=oracle.case_id)
def test_stacked_cells_match_keras(keras, case):
    cells = STACKS[case["stack"]]

    def spec(L):
        stacked = cells(L) if case["list_form"] else L.StackedRNNCells(cells(L))
        return L.RNN(
            stacked,
            return_sequences=case["return_sequences"],
            return_state=case["return_state"],
            go_backwards=case["go_backwards"],
            zero_output_for_mask=case["zero_output_for_mask"],
        )

    x = oracle.make_inputs((BATCH, STEPS, FEATURES), seed=5)
    mask = oracle.make_mask(case["mask"], BATCH, STEPS)
    sizes = stack_state_sizes(case["stack"])
    initial_state = oracle.random_states(sizes, BATCH, seed=6) if case["initial_state"] else None
    # how single-state cells' states are nested is checked on its own below; every cell has a sequence kernel,
    # so the stack runs as one layer per cell on them (``fast``)
    oracle.check_against_keras(
        keras, spec, x, mask=mask, initial_state=initial_state, nesting=False, fast=True
    )


@pytest.mark.parametrize("stack", list(STACKS))
@pytest.mark.parametrize("list_form", [False, True])
def test_stacked_cells_state_nesting_matches_keras(keras, stack, list_form):
    """``return_state`` nests the states per cell as Keras does (``[h]`` for a single-state cell)."""
    cells = STACKS[stack]

    def spec(L):
        return L.RNN(cells(L) if list_form else L.StackedRNNCells(cells(L)), return_state=True)

    ours, theirs = oracle.build_pair(keras, spec, (BATCH, STEPS, FEATURES))
    x = oracle.make_inputs((BATCH, STEPS, FEATURES), seed=9)
    expected = oracle.run(theirs, x, grads=False)
    actual = oracle.run(ours, x, grads=False)
    assert actual.structure == expected.structure


# ------------------------------------------------------------------------ user cells
CUSTOM_GRID = oracle.covering_rows(
    full={
        "cell": ("CarryCell", "CarryCellWithStart"),
        "mask": oracle.MASK_KINDS,
        "go_backwards": (False, True),
    },
    extra={
        "return_sequences": (False, True),
        "return_state": (False, True),
        "initial_state": (False, True),
        "zero_output_for_mask": (False, True),
    },
    seed=2,
)


@pytest.mark.parametrize("case", CUSTOM_GRID, ids=oracle.case_id)
def test_custom_cell_matches_keras(keras, case):
    """A user cell whose output is not ``states[0]`` (masked steps repeat the previous *output*)."""

    def spec(L):
        return L.RNN(
            getattr(L, case["cell"])(3),
            return_sequences=case["return_sequences"],
            return_state=case["return_state"],
            go_backwards=case["go_backwards"],
            zero_output_for_mask=case["zero_output_for_mask"],
        )

    x = oracle.make_inputs((BATCH, STEPS, FEATURES), seed=7)
    mask = oracle.make_mask(case["mask"], BATCH, STEPS)
    initial_state = oracle.random_states([3, 3], BATCH, seed=8) if case["initial_state"] else None
    oracle.check_against_keras(keras, spec, x, mask=mask, initial_state=initial_state)


# ------------------------------------------------------------------------ the helpers themselves
def test_mask_patterns_are_what_their_names_say():
    right, left = oracle.make_mask("right", 4, 5), oracle.make_mask("left", 4, 5)
    holes, empty = oracle.make_mask("holes", 4, 5), oracle.make_mask("empty_row", 4, 5)
    assert (right.sum(1) == left.sum(1)).all() and right.sum() < right.size
    assert all(np.array_equal(np.sort(r)[::-1], r) for r in right)  # prefixes
    assert all(np.array_equal(np.sort(r), r) for r in left)  # suffixes
    assert any(not np.array_equal(np.sort(r)[::-1], r) and not np.array_equal(np.sort(r), r) for r in holes)
    assert not empty[0].any() and empty[1:].any(axis=1).all()


def test_grid_covers_every_pair():
    """The covering design: the full product of the control-flow axes, every pair of the rest."""
    pairs = [("units", "return_state"), ("activation", "kind"), ("use_bias", "mask"), ("return_state", "initial_state")]
    for a, b in pairs:
        seen = {(r[a], r[b]) for r in GRID}
        assert len(seen) == len({r[a] for r in GRID}) * len({r[b] for r in GRID}), (a, b)
    assert any(r["kind"] == "LSTM" and r["activation"] == 2 for r in GRID)
    assert any(r["mask"] == "holes" and r["zero_output_for_mask"] for r in GRID)
    assert len(GRID) >= 2 * 2 * 2 * 4 * 5
