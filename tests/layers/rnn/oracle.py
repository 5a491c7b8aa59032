"""Helpers shared by the Keras-oracle tests: build twin layers, copy weights, run, compare.

A *spec* is a function of a layers namespace, ``spec(L) -> layer``, written once and called with
``birnn_namespace()`` and with ``keras_namespace(keras)`` so that both libraries build the same
configuration from the same keyword arguments (``lambda L: L.LSTM(3, go_backwards=True)``).

``check_against_keras`` then

1. builds both layers for the input shape and copies the weights birnn -> Keras with
   ``keras_layer.set_weights(birnn_layer.get_weights())``;
2. runs both eagerly on the same float32 inputs (and mask / initial state) and takes the gradients
   of a fixed scalar loss ``sum_k sum(out_k * W_k)`` (``W_k`` fixed random arrays, one per output
   tensor, states included) with respect to the inputs, the initial states and every weight;
3. compares every output / state (1e-5) and every gradient (1e-4), once per ``use_cudnn`` mode
   of the birnn layer (``False``: the step loop; ``"auto"``: the sequence kernels or PyTorch's
   fused kernels when eligible, the latter also run without autograd), and checks which kernel
   actually ran.

Keras (torch backend) exposes its variables' torch parameters as ``variable.value``; their
``.grad`` is what ``loss.backward()`` fills.
"""

from __future__ import annotations

import contextlib
import itertools
import random
import types
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

import birnn
from birnn.layers.rnn import _native

VALUE_TOL = {"rtol": 1e-5, "atol": 1e-5}
GRAD_TOL = {"rtol": 1e-4, "atol": 1e-4}

MASK_KINDS = ("none", "right", "left", "holes", "empty_row")

Spec = Callable[[Any], Any]


# --------------------------------------------------------------------------- inputs
def make_inputs(shape: Sequence[int], seed: int, scale: float = 1.0) -> np.ndarray:
    """Fixed float32 normal inputs."""
    return (np.random.RandomState(seed).standard_normal(tuple(shape)) * scale).astype("float32")


def make_mask(kind: str, batch: int, steps: int) -> np.ndarray | None:
    """A ``(batch, steps)`` boolean mask of the named pattern (``None`` for ``"none"``).

    ``right``: row ``i`` keeps a prefix (lengths cycle ``steps, steps-1, ..., 1``);
    ``left``: the same lengths as a suffix; ``holes``: scattered masked steps, first and last kept
    in some rows and masked in others; ``empty_row``: row 0 fully masked, the others right-padded.
    """
    if kind == "none":
        return None
    lengths = [max(1, steps - (i % steps)) for i in range(batch)]
    t = np.arange(steps)
    if kind == "right":
        return np.stack([t < n for n in lengths])
    if kind == "left":
        return np.stack([t >= steps - n for n in lengths])
    if kind == "holes":
        rows = [(t + i) % 3 != 1 for i in range(batch)]
        rows[0] = rows[0] | (t == 0)  # at least one valid step in the first row
        return np.stack(rows)
    if kind == "empty_row":
        mask = np.stack([t < n for n in lengths])
        mask[0] = False
        return mask
    raise ValueError(f"unknown mask kind {kind!r}")


def random_states(sizes: Any, batch: int, seed: int) -> Any:
    """Random initial states following a (possibly nested) state-size structure."""
    counter = itertools.count()

    def build(size: Any) -> Any:
        if isinstance(size, int):
            return make_inputs((batch, size), seed * 100 + next(counter), scale=0.5)
        return [build(s) for s in size]

    return build(sizes)


# --------------------------------------------------------------------------- structures
def flatten(x: Any) -> list[Any]:
    """Nested lists / tuples -> flat list of leaves (tensors or arrays)."""
    if isinstance(x, (list, tuple)):
        return [leaf for item in x for leaf in flatten(item)]
    return [x]


def _as_leaf_tensors(x: Any, leaves: list[torch.Tensor]) -> Any:
    if isinstance(x, (list, tuple)):
        return [_as_leaf_tensors(item, leaves) for item in x]
    tensor = torch.tensor(np.asarray(x), requires_grad=True)
    leaves.append(tensor)
    return tensor


def structure(x: Any) -> Any:
    """Nesting and shapes of an output, for comparing return structures."""
    if isinstance(x, (list, tuple)):
        return ("seq", len(x), tuple(structure(i) for i in x))
    return tuple(x.shape)


def parameters(layer: Any) -> list[torch.Tensor]:
    """The torch parameters behind ``layer.trainable_weights`` (Keras variables expose ``.value``)."""
    return [w if isinstance(w, torch.Tensor) else w.value for w in layer.trainable_weights]


# --------------------------------------------------------------------------- namespaces
class _BirnnCarryCell(birnn.layers.Layer):
    """A user cell whose output is not its first state: ``h' = tanh(x K + h U)``, ``acc' = acc + h'``,
    output ``h' - acc' / 2`` (so masked steps must repeat the previous *output*, not ``states[0]``)."""

    def __init__(self, units: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.units = units
        self.state_size = [units, units]
        self.output_size = units

    def build(self, input_shape: Any) -> None:
        self.add_weight("kernel", (input_shape[-1], self.units), "glorot_uniform")
        self.add_weight("recurrent_kernel", (self.units, self.units), "orthogonal")
        self.built = True

    def call(self, inputs: torch.Tensor, states: list[torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor]]:
        h, acc = states
        h = torch.tanh(inputs @ self.kernel + h @ self.recurrent_kernel)
        acc = acc + h
        return h - 0.5 * acc, [h, acc]

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "units": self.units}


class _BirnnCarryCellWithStart(_BirnnCarryCell):
    """The same cell with its own non-zero initial state (``get_initial_state``)."""

    def get_initial_state(self, batch_size: int | None = None) -> list[torch.Tensor]:
        return [torch.zeros(batch_size, self.units), torch.full((batch_size, self.units), 0.5)]


def birnn_namespace() -> types.SimpleNamespace:
    """``birnn.layers`` plus the test's user cells."""
    ns = types.SimpleNamespace(**{k: getattr(birnn.layers, k) for k in dir(birnn.layers) if not k.startswith("_")})
    ns.CarryCell = _BirnnCarryCell
    ns.CarryCellWithStart = _BirnnCarryCellWithStart
    ns.custom_objects = contextlib.nullcontext  # birnn finds a wrapped layer's cell classes itself
    ns.library = "birnn"
    return ns


def keras_namespace(keras: Any) -> types.SimpleNamespace:
    """``keras.layers`` plus Keras twins of the test's user cells (same math, same weight order)."""
    ops = keras.ops

    class CarryCell(keras.layers.Layer):
        def __init__(self, units: int, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.units = units
            self.state_size = [units, units]
            self.output_size = units

        def build(self, input_shape: Any) -> None:
            self.kernel = self.add_weight(shape=(input_shape[-1], self.units), name="kernel")
            self.recurrent_kernel = self.add_weight(shape=(self.units, self.units), name="recurrent_kernel")

        def call(self, inputs: Any, states: Any) -> Any:
            h, acc = states
            h = ops.tanh(ops.matmul(inputs, self.kernel) + ops.matmul(h, self.recurrent_kernel))
            acc = acc + h
            return h - 0.5 * acc, [h, acc]

    class CarryCellWithStart(CarryCell):
        def get_initial_state(self, batch_size: int | None = None) -> Any:
            return [ops.zeros((batch_size, self.units)), ops.ones((batch_size, self.units)) * 0.5]

    ns = types.SimpleNamespace(**{k: getattr(keras.layers, k) for k in dir(keras.layers) if not k.startswith("_")})
    ns.CarryCell = CarryCell
    ns.CarryCellWithStart = CarryCellWithStart
    # Keras re-creates Bidirectional's directions from their configs: the user cells must be known
    ns.custom_objects = lambda: keras.saving.custom_object_scope(
        {"CarryCell": CarryCell, "CarryCellWithStart": CarryCellWithStart}
    )
    ns.library = "keras"
    return ns


# --------------------------------------------------------------------------- build and run
def build_pair(keras: Any, spec: Spec, input_shape: Sequence[int]) -> tuple[Any, Any]:
    """``(birnn_layer, keras_layer)`` built for ``input_shape``, Keras holding birnn's weights."""
    ours = spec(birnn_namespace())
    theirs = spec(keras_namespace(keras))
    ours.build(tuple(input_shape))
    ours.built = True
    theirs.build(tuple(input_shape))
    weights = ours.get_weights()
    assert [w.shape for w in weights] == [tuple(w.shape) for w in theirs.weights], "weight layouts differ"
    theirs.set_weights(weights)
    return ours, theirs


def set_use_cudnn(layer: Any, mode: bool | str) -> None:
    """Set ``use_cudnn`` on every recurrent layer inside ``layer`` (both Bidirectional directions)."""
    for module in layer.modules():
        if isinstance(module, birnn.layers.RNN):
            module.use_cudnn = mode


@contextlib.contextmanager
def record_kernels() -> Iterator[list[str]]:
    """The kernels (``"loop"``, ``"scan"``, ``"fused"``) birnn's dispatcher picks inside the block.

    The one place in the tests that knows the dispatcher's private module.
    """
    from birnn.layers.rnn import _dispatch

    chosen: list[str] = []
    original = _dispatch.choose

    def recording(*args: Any, **kwargs: Any) -> str:
        chosen.append(original(*args, **kwargs))
        return chosen[-1]

    _dispatch.choose = recording
    try:
        yield chosen
    finally:
        _dispatch.choose = original


@dataclass
class Result:
    """Flattened outputs (states included) and gradients of one run."""

    structure: Any
    values: list[np.ndarray]
    grads: dict[str, np.ndarray | None] = field(default_factory=dict)


def loss_weights(shapes: Sequence[tuple[int, ...]], seed: int = 1234) -> list[torch.Tensor]:
    rng = np.random.RandomState(seed)
    return [torch.tensor(rng.standard_normal(shape).astype("float32")) for shape in shapes]


def run(
    layer: Any,
    x: np.ndarray,
    *,
    mask: np.ndarray | None = None,
    initial_state: Any = None,
    grads: bool = True,
    **call_kwargs: Any,
) -> Result:
    """Call ``layer`` eagerly and return its outputs and the gradients of the fixed loss."""
    params = parameters(layer)
    for p in params:
        p.grad = None
    xt = torch.tensor(x, requires_grad=True)
    state_leaves: list[torch.Tensor] = []
    if initial_state is not None:
        call_kwargs["initial_state"] = _as_leaf_tensors(initial_state, state_leaves)
    if mask is not None:
        call_kwargs["mask"] = torch.tensor(mask)
    out = layer(xt, **call_kwargs)
    flat = flatten(out)
    result = Result(structure(out), [t.detach().numpy().copy() for t in flat])
    if not grads:
        return result
    weights = loss_weights([tuple(t.shape) for t in flat])
    loss = sum((t * w).sum() for t, w in zip(flat, weights))
    loss.backward()
    result.grads["inputs"] = xt.grad.numpy().copy()
    for i, leaf in enumerate(state_leaves):
        result.grads[f"initial_state[{i}]"] = None if leaf.grad is None else leaf.grad.numpy().copy()
    for i, p in enumerate(params):
        result.grads[f"weight[{i}] {tuple(p.shape)}"] = None if p.grad is None else p.grad.detach().numpy().copy()
    return result


def assert_results_close(expected: Result, actual: Result, label: str = "", *, nesting: bool = True) -> None:
    """Same output structure, values within 1e-5, gradients within 1e-4.

    ``nesting=False`` compares only the flattened outputs' shapes, not how they are nested.
    """
    if nesting:
        assert actual.structure == expected.structure, (
            f"{label}: output structure {actual.structure} != {expected.structure}"
        )
    shapes = [[v.shape for v in r.values] for r in (actual, expected)]
    assert shapes[0] == shapes[1], f"{label}: output shapes {shapes[0]} != {shapes[1]}"
    for i, (a, e) in enumerate(zip(actual.values, expected.values)):
        np.testing.assert_allclose(a, e, **VALUE_TOL, err_msg=f"{label}: output/state #{i}")
    assert actual.grads.keys() == expected.grads.keys(), f"{label}: {actual.grads.keys()} != {expected.grads.keys()}"
    for name, e in expected.grads.items():
        a = actual.grads[name]
        # an unused weight / state may get no gradient in one library and zeros in the other
        a = np.zeros_like(e) if a is None and e is not None else a
        e = np.zeros_like(a) if e is None and a is not None else e
        if a is None:
            continue
        np.testing.assert_allclose(a, e, **GRAD_TOL, err_msg=f"{label}: gradient w.r.t. {name}")


def check_against_keras(
    keras: Any,
    spec: Spec,
    x: np.ndarray,
    *,
    mask: np.ndarray | None = None,
    initial_state: Any = None,
    modes: Sequence[bool | str] = (False, "auto"),
    fast: bool = False,
    fused: bool = False,
    nesting: bool = True,
) -> tuple[Any, Any]:
    """Compare ``spec`` built by birnn (each ``use_cudnn`` mode) with Keras; returns the layers.

    Every mode is compared with gradients; ``"auto"`` is also run under ``torch.no_grad()``
    (values only), on the kernels birnn picks for inference (on the CPU: the compiled sequence
    kernels or PyTorch's fused ones).

    Args:
        fast: the ``"auto"`` runs must use a sequence kernel (anything but the step loop) for at
            least one recurrent layer (``False``: no requirement).
        fused: one more no-grad ``"auto"`` run, with the compiled loops off, must use a PyTorch
            fused kernel (``False``: no such run).
        nesting: also compare how the outputs are nested (not only their flattened values).
    """
    ours, theirs = build_pair(keras, spec, x.shape)
    expected = run(theirs, x, mask=mask, initial_state=initial_state)
    for mode in modes:
        set_use_cudnn(ours, mode)
        with record_kernels() as kernels:
            actual = run(ours, x, mask=mask, initial_state=initial_state)
        assert kernels, "the dispatcher was never asked"
        assert_results_close(expected, actual, label=f"use_cudnn={mode!r}, kernels {kernels}", nesting=nesting)
        if mode is False:
            assert set(kernels) == {"loop"}, f"use_cudnn=False must always run the step loop, ran {kernels}"
            continue
        if fast:
            assert set(kernels) != {"loop"}, f"only the step loop ran ({kernels}), expected a sequence kernel"
        for native in (True, False) if fused else (True,):
            with torch.no_grad(), _native.use_native(native), record_kernels() as kernels:
                inference = run(ours, x, mask=mask, initial_state=initial_state, grads=False)
            label = f"use_cudnn={mode!r} under no_grad, native={native}, kernels {kernels}"
            assert not nesting or inference.structure == expected.structure, label
            for i, (a, e) in enumerate(zip(inference.values, expected.values)):
                np.testing.assert_allclose(a, e, **VALUE_TOL, err_msg=f"{label}: output/state #{i}")
            if not native:
                assert "fused" in kernels, f"{label}: expected a fused kernel"
    return ours, theirs


@contextlib.contextmanager
def batch_split(on: bool) -> Iterator[None]:
    """Inside the block a lone layer on the compiled sequence kernels splits its batch into two halves, one per
    thread (two ATen threads), whatever the amount of work (``on``), or never (one thread)."""
    from birnn.layers.rnn import _dispatch

    previous, threads = _dispatch.SPLIT_WORK, torch.get_num_threads()
    _dispatch.SPLIT_WORK = 1 if on else 2**62
    torch.set_num_threads(2 if on else 1)
    try:
        yield
    finally:
        _dispatch.SPLIT_WORK = previous
        torch.set_num_threads(threads)


# --------------------------------------------------------------------------- covering designs
def covering_rows(
    full: dict[str, Sequence[Any]], extra: dict[str, Sequence[Any]], seed: int = 0
) -> list[dict[str, Any]]:
    """The full product over ``full``, each row completed with values of ``extra`` chosen greedily
    so that every pair of values (of any two axes, ``full`` or ``extra``) occurs in some row
    (rows are added after the product in the rare case the greedy pass left a pair behind).

    Deterministic for a given ``seed``.
    """
    axes = {**full, **extra}
    names = list(axes)
    uncovered = {
        ((a, i), (b, j))
        for a, b in itertools.combinations(names, 2)
        for i in range(len(axes[a]))
        for j in range(len(axes[b]))
    }
    rng = random.Random(seed)
    extra_choices = list(itertools.product(*(range(len(v)) for v in extra.values())))
    pairs = list(itertools.combinations(names, 2))

    def gain(indices: tuple[int, ...]) -> int:
        row = dict(zip(names, indices))
        return sum(((a, row[a]), (b, row[b])) in uncovered for a, b in pairs)

    chosen = []
    cores = list(itertools.product(*(range(len(v)) for v in full.values())))
    for core in cores:
        rng.shuffle(extra_choices)
        chosen.append(max((core + choice for choice in extra_choices), key=gain))
        uncovered -= {((a, chosen[-1][names.index(a)]), (b, chosen[-1][names.index(b)])) for a, b in pairs}
    while uncovered:  # top up: rare, when the greedy pass left a pair behind
        best = max((core + choice for core in cores for choice in extra_choices), key=gain)
        chosen.append(best)
        uncovered -= {((a, best[names.index(a)]), (b, best[names.index(b)])) for a, b in pairs}
    return [{name: axes[name][index] for name, index in zip(names, row)} for row in chosen]


def case_id(row: dict[str, Any]) -> str:
    return "-".join(f"{k}={v}" for k, v in row.items())
