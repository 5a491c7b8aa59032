"""The kernels (step loop, sequence scan with compiled or Python loops, PyTorch fused) agree:
outputs 1e-5, gradients 1e-4."""

from __future__ import annotations

import dataclasses
import itertools

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from birnn import _gemm, activations
from birnn.layers import GRU, LSTM, SimpleRNN
from birnn.layers.rnn import _dispatch, _native, _packing, _scan
from tests.harness import threads

N, T, F, U = 4, 6, 3, 5
MASKS = {
    "none": None,
    "right": [[1] * 6, [1] * 4 + [0] * 2, [1] + [0] * 5, [1] * 6],
    "left": [[0, 0, 1, 1, 1, 1], [1] * 6, [0] * 5 + [1], [0, 1, 1, 1, 1, 1]],
    "holes": [[1, 0, 1, 1, 0, 1], [0] * 6, [0, 1, 1, 0, 0, 1], [1, 1, 1, 1, 1, 0]],
    "all_masked": [[0] * 6] * 4,
}
LAYERS = [
    (LSTM, {}), (GRU, {}), (SimpleRNN, {}), (LSTM, {"activation": "relu"}),
    (GRU, {"recurrent_activation": "hard_sigmoid"}), (SimpleRNN, {"activation": "softsign", "use_bias": False}),
    (GRU, {"reset_after": False}), (GRU, {"reset_after": False, "activation": "relu", "use_bias": False}),
]


def _pair(cls, kwargs, **flags):
    fast = cls(U, return_state=True, **kwargs, **flags)
    reference = cls.from_config({**fast.get_config(), "name": "reference"})
    for layer in (fast, reference):
        layer.build((N, T, F))
    reference.set_weights(fast.get_weights())
    reference.use_cudnn = False
    return fast, reference


def _outputs_and_grads(layer, x, mask, init, training=False):
    outputs = layer(x, mask=mask, initial_state=init or None, training=training)
    outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
    torch.manual_seed(1)
    loss = sum((o * torch.randn(o.shape)).sum() for o in outputs)
    return outputs, torch.autograd.grad(loss, [x, *init, *layer.weights])


def _loop_reference(bi):
    """A copy of ``bi`` (a ``Bidirectional`` built for ``(N, T, F)``) with its weights, both directions on the step
    loop."""
    from birnn.layers import Bidirectional

    reference = Bidirectional.from_config({**bi.get_config(), "name": "reference"})
    reference.build((N, T, F))
    reference.set_weights(bi.get_weights())
    reference.forward_layer.use_cudnn = reference.backward_layer.use_cudnn = False
    return reference


def _assert_matches(got, want, grads, ref_grads):
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
    for a, b in zip(grads, ref_grads):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=0)


@pytest.mark.parametrize("onednn, native", [(True, True), (True, False), (False, False)])
@pytest.mark.parametrize(
    "layer, mask_name, return_sequences, go_backwards, zero_output_for_mask",
    [
        (layer, mask_name, rs, gb, zo)
        for layer, mask_name, (rs, gb, zo) in itertools.product(
            LAYERS, MASKS, [(False, False, False), (True, True, False), (True, False, True), (False, True, True)]
        )
    ],
    ids=str,
)
def test_fast_kernels_match_loop(layer, mask_name, return_sequences, go_backwards, zero_output_for_mask, onednn, native):
    cls, kwargs = layer
    fast, reference = _pair(cls, kwargs, return_sequences=return_sequences, go_backwards=go_backwards,
                            zero_output_for_mask=zero_output_for_mask)
    mask = None if MASKS[mask_name] is None else torch.tensor(MASKS[mask_name], dtype=torch.bool)
    x = torch.randn(N, T, F, requires_grad=True)
    init = [torch.randn(N, U, requires_grad=True) for _ in range(2 if cls is LSTM else 1)]
    standard = not kwargs
    if not standard or (native and _native.available()):  # training on the CPU: the compiled loops win
        expected = "scan"
    elif mask is None:
        expected = "fused"
    else:  # an LSTM that returns its cell state needs the sequence kernel under a mask
        expected = "scan" if cls is LSTM else "fused_masked"
    with _gemm.use_onednn(onednn), _native.use_native(native):
        assert _dispatch.choose(fast, mask=mask, training=False, constants=None, inputs=x) == expected
        got, got_grads = _outputs_and_grads(fast, x, mask, init)
    want, want_grads = _outputs_and_grads(reference, x, mask, init)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
    for a, b in zip(got_grads, want_grads):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=0)


@pytest.mark.parametrize("onednn, native, tiled, split",
                         [(True, True, True, False), (True, True, False, False), (False, False, False, False),
                          (True, True, True, True)], ids=["tiled", "mm", "python", "split"])
@pytest.mark.parametrize("mask_name", ["none", "left", "holes", "all_masked"])
@pytest.mark.parametrize("layer", LAYERS, ids=str)
def test_recurrent_dropout_trains_on_the_sequence_kernels_as_on_the_loop(monkeypatch, layer, mask_name, onednn,
                                                                         native, tiled, split):
    """Training with ``recurrent_dropout`` (and input ``dropout``) runs the sequence kernels, never PyTorch's
    (which have no recurrent mask), and gives the step loop's outputs and gradients: the same seeded masks,
    drawn in the same order, multiply the states the recurrent product reads; also when the batch is split
    into halves on two cores (the masks drawn for the whole batch, each half taking its rows)."""
    if tiled and not (_native.available() and _native.tiled_available()):
        pytest.skip("no tiled product here (it needs the compiled kernels and AVX-512)")
    if split:
        monkeypatch.setattr(_dispatch, "SPLIT_WORK", 1)
        taken = _record(monkeypatch)
    cls, kwargs = layer
    flags = {"recurrent_dropout": 0.4, "dropout": 0.3, "seed": 11, "return_sequences": True,
             "go_backwards": mask_name == "left"}
    fast, reference = _pair(cls, kwargs, **flags)
    mask = None if MASKS[mask_name] is None else torch.tensor(MASKS[mask_name], dtype=torch.bool)
    x = torch.randn(N, T, F, requires_grad=True)
    init = [torch.randn(N, U, requires_grad=True) for _ in range(2 if cls is LSTM else 1)]
    with _gemm.use_onednn(onednn), _native.use_native(native), _native.use_tiled(tiled), threads(1 if tiled and not split else 2):
        assert _dispatch.choose(fast, mask=mask, training=True, constants=None, inputs=x) == "scan"
        got = _outputs_and_grads(fast, x, mask, init, training=True)
    if split:
        assert taken == [("scan", 2)]
    want = _outputs_and_grads(reference, x, mask, init, training=True)
    for a, b in zip(got[0], want[0]):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
    for a, b in zip(got[1], want[1]):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=0)
    without = _outputs_and_grads(reference, x, mask, init)  # inference: no dropout, other results
    assert mask_name == "all_masked" or not torch.allclose(got[0][0], without[0][0])


def test_a_recurrent_dropout_pair_trains_on_one_sequence_kernel_call_as_on_the_loop():
    """Both directions of a ``Bidirectional`` with recurrent dropout: one sequence-kernel call (their masks
    drawn forward first, as the loop draws them) with the loop's results."""
    from birnn.layers import Bidirectional

    def make(use_cudnn: bool) -> Bidirectional:
        layer = Bidirectional(LSTM(U, recurrent_dropout=0.5, seed=4, return_sequences=True, use_cudnn=use_cudnn))
        layer.build((N, T, F))
        return layer

    fast, reference = make(True), make(False)
    reference.set_weights(fast.get_weights())
    x = torch.randn(N, T, F, requires_grad=True)
    calls = []
    real = _dispatch.run_scan
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_dispatch, "run_scan", lambda layers, *a, **k: calls.append(len(layers)) or real(layers, *a, **k))
        got = _outputs_and_grads(fast, x, None, [], training=True)
    assert calls == [2]
    want = _outputs_and_grads(reference, x, None, [], training=True)
    for a, b in zip([*got[0], *got[1]], [*want[0], *want[1]]):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=0)


@pytest.mark.parametrize("cls, kwargs", [(LSTM, {}), (GRU, {}), (SimpleRNN, {}), (SimpleRNN, {"activation": "relu"})])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_fused_matches_loop_at_inference(cls, kwargs, go_backwards):
    fast, reference = _pair(cls, kwargs, return_sequences=True, go_backwards=go_backwards)
    x = torch.randn(N, T, F)
    init = [torch.randn(N, U) for _ in range(2 if cls is LSTM else 1)]
    with torch.no_grad(), _native.use_native(False):  # with them, GRU and SimpleRNN run the compiled loops
        assert _dispatch.choose(fast, mask=None, training=False, constants=None, inputs=x) == "fused"
        for a, b in zip(fast(x, initial_state=init), reference(x, initial_state=init)):
            torch.testing.assert_close(a, b, atol=1e-5, rtol=0)


@pytest.mark.parametrize("native, kernel", [(False, "fused"), (True, "scan")])
def test_input_dropout_runs_on_the_fast_paths(native, kernel):
    if native and not _native.available():
        pytest.skip("the compiled loops are not available here (no C++ toolchain)")
    layer = LSTM(U, dropout=0.5, seed=4, return_sequences=True)
    x = torch.randn(N, T, F, requires_grad=True)
    layer.build(x.shape)
    twin = LSTM.from_config({**layer.get_config(), "name": "twin", "use_cudnn": False})
    twin.build(x.shape)
    twin.set_weights(layer.get_weights())
    with _native.use_native(native):
        assert _dispatch.choose(layer, mask=None, training=True, constants=None, inputs=x) == kernel
        torch.testing.assert_close(layer(x, training=True), twin(x, training=True), atol=1e-5, rtol=0)


def test_unpack_joint_takes_masked_sequences_over_one_batch():
    x = torch.randn(2, 3, 1)
    mask = torch.tensor([[False, True, True], [True, False, False]])
    (a, pa), (b, pb) = _packing.pack(x, mask, False), _packing.pack(x, None, True)
    with pytest.raises(ValueError, match="masked sequences only"):
        _packing.unpack_joint([a, b], [pa, pb], [False, True])
    c, pc = _packing.pack(torch.randn(2, 4, 1), torch.ones(2, 4, dtype=torch.bool), False)
    with pytest.raises(ValueError, match=r"one \(N, T\) batch, got \[\(2, 3\), \(2, 4\)\]"):
        _packing.unpack_joint([a, c], [pa, pc], [False, False])


def test_packing_round_trip():
    x = torch.arange(2 * 4 * 1.0).view(2, 4, 1)
    mask = torch.tensor([[False, True, False, True], [True, True, True, False]])
    packed, p = _packing.pack(x, mask, go_backwards=True)
    assert p.batch_sizes == [2, 2, 1] and p.order.tolist() == [1, 0]
    assert packed.flatten().tolist() == [6.0, 3.0, 5.0, 1.0, 4.0]
    seq = _packing.unpack_sequence(packed, p, zero_output_for_mask=False)
    assert seq[0].flatten().tolist() == [3.0, 3.0, 1.0, 1.0]  # processing order: t=3, 2, 1, 0
    assert seq[1].flatten().tolist() == [0.0, 6.0, 5.0, 4.0]
    assert _packing.unpack_last(packed, p, zero_output_for_mask=True).flatten().tolist() == [0.0, 4.0]


@pytest.mark.parametrize("native", [True, False], ids=["compiled", "python"])
@pytest.mark.parametrize("batch_sizes, rows", [([3, 3, 2, 1], 4), ([2, 1], 3), ([], 2)])
@pytest.mark.parametrize(
    "kind, activation_names",
    [("lstm", ("sigmoid", "tanh")), ("lstm", ("hard_sigmoid", "softsign")), ("gru", ("sigmoid", "tanh")),
     ("gru_no_bias", ("legacy_hard_sigmoid", "relu")), ("gru_before", ("sigmoid", "tanh")),
     ("gru_before", ("hard_sigmoid", "softsign")), ("simple", ("tanh",)), ("simple", ("linear",))],
)
def test_scan_gradients_by_finite_differences(kind, activation_names, batch_sizes, rows, native):

    fns = [getattr(activations, name) for name in activation_names]
    total, u = sum(batch_sizes), 2
    torch.manual_seed(0)

    def make(*shape):
        return torch.randn(*shape, dtype=torch.float64, requires_grad=True)

    if kind == "lstm":
        fn, args = (lambda a, b, c, k: _scan.lstm_scan(a, b, c, k, batch_sizes, *fns)), (make(total, 4 * u), make(rows, u), make(rows, u), make(u, 4 * u))
    elif kind == "gru":
        fn, args = (lambda a, b, k, e: _scan.gru_scan(a, b, k, e, batch_sizes, *fns)), (make(total, 3 * u), make(rows, u), make(u, 3 * u), make(3 * u))
    elif kind == "gru_no_bias":
        fn, args = (lambda a, b, k: _scan.gru_scan(a, b, k, None, batch_sizes, *fns)), (make(total, 3 * u), make(rows, u), make(u, 3 * u))
    elif kind == "gru_before":
        job = _scan.Job(kind, batch_sizes, {"sigma": fns[0], "phi": fns[1]})
        fn, args = (lambda a, b, k: _scan.scan([job], [[a, b, k]])[0]), (make(total, 3 * u), make(rows, u), make(u, 3 * u))
    else:
        fn, args = (lambda a, b, k: _scan.simple_scan(a, b, k, batch_sizes, *fns)), (make(total, u), make(rows, u), make(u, u))
    with _native.use_native(native):
        assert torch.autograd.gradcheck(fn, args)


@pytest.mark.parametrize("native, tiled", [(True, True), (True, False), (False, False)], ids=["tiled", "mm", "python"])
@pytest.mark.parametrize("kind", ["lstm", "gru", "gru_before", "simple"])
def test_joint_output_is_the_directions_column_blocks_with_the_same_gradients(kind, native, tiled):
    """``scan(..., joint=True)``: each job's ``hs`` is written into (the LSTM) or copied into (the others)
    its column block of one output, in job order; outputs and gradients equal separate outputs whether
    the loss reads the joint tensor, the jobs' own ``hs`` or both (their gradients add)."""

    if tiled and not (_native.available() and _native.tiled_available()):
        pytest.skip("no tiled product here (it needs the compiled kernels and AVX-512)")
    fns = {"phi": activations.tanh} if kind == "simple" else {"sigma": activations.sigmoid, "phi": activations.tanh}
    gates, units, sizes = {"lstm": 4, "gru": 3, "gru_before": 3, "simple": 1}[kind], [5, 7], [3, 3, 3, 3]
    g = torch.Generator().manual_seed(4)

    def make(*shape):
        return (torch.randn(*shape, generator=g) * 0.5).requires_grad_()

    x = make(12, 6)
    groups = []
    for u, reverse in zip(units, (False, True)):
        core = {"lstm": [make(3, u), make(3, u), make(u, 4 * u)], "gru": [make(3, u), make(u, 3 * u), make(3 * u)],
                "gru_before": [make(3, u), make(u, 3 * u)], "simple": [make(3, u), make(u, u)]}[kind]
        groups.append([x, *core, make(6, gates * u), make(gates * u)])
    jobs = [_scan.Job(kind, sizes, fns, reverse, projects=True) for reverse in (False, True)]
    leaves = [x, *(t for group in groups for t in group[1:])]
    weights = [torch.randn(12, units[0], generator=g), torch.randn(12, units[1], generator=g)]
    results = {}
    with _native.use_native(native), _native.use_tiled(tiled), threads(1 if tiled else torch.get_num_threads()):
        for joint in (False, True):
            outputs = _scan.scan(jobs, groups, joint)
            hs = [out[0] for out in outputs]
            if joint:
                base = hs[0]._base
                assert base is not None and hs[1]._base is base and base.shape == (12, sum(units))
                assert hs[1].data_ptr() == hs[0].data_ptr() + units[0] * 4
                together = base
            else:
                together = torch.cat(hs, 1)
            for reads in ("together", "own", "both"):
                loss = sum((out[1] * 0.3).sum() for out in outputs)
                if reads != "own":
                    loss = loss + (together * torch.cat(weights, 1)).sin().sum()
                if reads != "together":
                    loss = loss + sum((h * w).cos().sum() for h, w in zip(hs, weights))
                results[joint, reads] = [t.detach().clone() for out in outputs for t in out] + list(
                    torch.autograd.grad(loss, leaves, retain_graph=True, allow_unused=True))
    for reads in ("together", "own", "both"):
        for a, b in zip(results[True, reads], results[False, reads]):
            assert (a is None) == (b is None)
            if a is not None:
                torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_a_joint_output_needs_jobs_over_the_same_rows():

    fns = {"phi": activations.tanh}
    jobs = [_scan.Job("simple", [2, 2], fns), _scan.Job("simple", [2, 1], fns)]
    tensors = [[torch.randn(4, 3), torch.zeros(2, 3), torch.randn(3, 3)], [torch.randn(3, 3), torch.zeros(2, 3), torch.randn(3, 3)]]
    with pytest.raises(ValueError, match=r"same number of packed rows; got \[4, 3\]"):
        _scan.scan(jobs, tensors, joint=True)
    assert [out[0].shape for out in _scan.scan(jobs, tensors)] == [(4, 3), (3, 3)]


def _record(monkeypatch):
    """Record which kernels ``_dispatch`` runs, and for how many directions at once."""
    taken = []
    for name, kernel in (("run_scan", "scan"), ("run_fused", "fused"), ("run_fused_masked", "fused_masked")):
        original = getattr(_dispatch, name)

        def runner(layers, calls, aligned=False, original=original, kernel=kernel, **options):
            taken.append((kernel, len(layers)))
            return original(layers, calls, aligned, **options)

        monkeypatch.setattr(_dispatch, name, runner)
    return taken


RELU_BACKWARD = lambda: LSTM(U, activation="relu", go_backwards=True, return_sequences=True, return_state=True)  # noqa: E731
GRU_BACKWARD = lambda: GRU(U, go_backwards=True, return_sequences=True, return_state=True)  # noqa: E731


@pytest.mark.parametrize(
    "make_backward, grad, expected",
    [
        (None, True, [("fused", 1), ("fused", 1)]),
        (None, False, [("fused", 1), ("fused", 1)]),  # without the compiled loops: concurrently, one core each
        (RELU_BACKWARD, True, [("fused", 1), ("scan", 1)]),
        (RELU_BACKWARD, False, [("fused", 1), ("scan", 1)]),
        (GRU_BACKWARD, True, [("fused", 1), ("fused", 1)]),
    ],
)
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("native", [True, False], ids=["compiled", "python"])
def test_bidirectional_pairs_match_separate_loops(monkeypatch, make_backward, grad, expected, masked, native):
    from birnn.layers import Bidirectional

    backward = make_backward() if make_backward else None
    bi = Bidirectional(LSTM(U, return_sequences=True, return_state=True), backward_layer=backward, merge_mode=None)
    reference = Bidirectional.from_config(bi.get_config())
    x = torch.randn(N, T, F, requires_grad=grad)
    for layer in (bi, reference):
        layer.build(x.shape)
    reference.set_weights(bi.get_weights())
    reference.forward_layer.use_cudnn = reference.backward_layer.use_cudnn = False
    mask = torch.tensor(MASKS["holes"], dtype=torch.bool) if masked else None
    taken = _record(monkeypatch)
    with torch.set_grad_enabled(grad), _native.use_native(native):
        got = bi(x, mask=mask)
        if masked:
            expected = sorted((_dispatch.kernel_for(d, d.prepare_call(x, None, mask, None, None), paired=True), 1)
                              for d in bi._directions)
        elif native and _native.available():  # on the CPU a pair trains and infers on the compiled kernels
            expected = [("scan", 1), ("scan", 1)]
    if expected == [("scan", 1), ("scan", 1)]:  # two sequence-kernel directions: one call, two threads
        expected = [("scan", 2)]
    assert sorted(taken) == expected
    want = reference(x, mask=mask)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
    if grad:
        weights = [torch.randn(o.shape) for o in got]
        grads = torch.autograd.grad(sum((o * w).sum() for o, w in zip(got, weights)), [x, *bi.weights])
        ref_grads = torch.autograd.grad(sum((o * w).sum() for o, w in zip(want, weights)), [x, *reference.weights])
        for a, b in zip(grads, ref_grads):
            torch.testing.assert_close(a, b, atol=1e-4, rtol=0)


def test_tracing_uses_plain_tensor_ops():
    from birnn.layers import Bidirectional

    model = Bidirectional(LSTM(U, return_sequences=True))
    x = torch.randn(N, T, F)
    model.build(x.shape)
    traced = torch.jit.trace(model, (x,))
    x2 = torch.randn(N, T, F)
    torch.testing.assert_close(traced(x2), model(x2), atol=1e-5, rtol=0)
    assert sum(node.kind() == "aten::lstm" for node in traced.inlined_graph.nodes()) == 1  # both directions


def test_tracing_a_stack_of_cells_records_its_step_loop():
    """While tracing, stacked cells run whole on the step loop (plain tensor ops; a reset-before GRU cell has no
    PyTorch kernel to trace), and the trace computes what the untraced layer does."""
    from birnn.layers import RNN, GRUCell, LSTMCell

    layer = RNN([LSTMCell(U), GRUCell(3, reset_after=False)], return_sequences=True)
    x = torch.randn(N, T, F)
    layer.build(x.shape)
    traced = torch.jit.trace(layer, (x,))
    x2 = torch.randn(N, T, F)
    torch.testing.assert_close(traced(x2), layer(x2), atol=1e-5, rtol=0)
    assert not any("lstm" in node.kind() for node in traced.inlined_graph.nodes())


def test_a_standard_pair_is_one_call_off_the_cpu_and_when_traced(monkeypatch):
    layers = [LSTM(U), LSTM(U, go_backwards=True)]
    for layer in layers:
        layer.build((N, T, F))

    def calls(device: str, mask: torch.Tensor | None = None) -> list:
        x = torch.empty(N, T, F, device=device)
        return [_dispatch.Call(x, [], mask, False, None)] * 2

    for grad in (False, True):  # training too: one cuDNN call, forward and backward
        with torch.set_grad_enabled(grad):
            assert not _dispatch._one_call(layers, calls("cpu"), tracing=False)  # two cores, one direction each
            assert _dispatch._one_call(layers, calls("meta"), tracing=False)  # stands in for a GPU: one cuDNN call
            assert _dispatch._one_call(layers, calls("cpu"), tracing=True)
    mask = torch.ones(N, T, dtype=torch.bool)
    assert _dispatch._same_mask(calls("cpu", mask)) and _dispatch._same_mask(calls("cpu"))
    assert not _dispatch._same_mask([calls("cpu", mask)[0], calls("cpu", mask.clone().fill_(False))[0]])
    assert not _dispatch._same_mask([calls("cpu", mask)[0], calls("cpu")[0]])
    x = torch.empty(N, T, F, device="meta")  # stands in for a GPU: masked calls run packed sequences on CUDA
    assert not _dispatch._packed_device(x) and not _dispatch._packed_device(torch.empty(0))
    masked = {"mask": mask.to("meta"), "training": False, "constants": None, "inputs": x}
    assert [_dispatch.choose(layer, **masked, paired=True) for layer in layers] == ["fused_masked"] * 2
    monkeypatch.setattr(_dispatch, "_packed_device", lambda inputs: inputs.device.type == "meta")
    assert [_dispatch.choose(layer, **masked, paired=True) for layer in layers] == ["fused_packed"] * 2
    lstm_state = LSTM(U, return_state=True)  # the packed call gives its cell state too
    assert _dispatch.choose(lstm_state, **masked) == "fused_packed"
    assert _dispatch.choose(lstm_state, **{**masked, "mask": mask, "inputs": torch.empty(N, T, F)}) == "scan"
    dropping = LSTM(U, recurrent_dropout=0.5)
    assert _dispatch.choose(dropping, **{**masked, "training": True}) == "scan"  # PyTorch's kernels have no such mask
    relu = [LSTM(U, activation="relu"), LSTM(U, activation="relu", go_backwards=True)]
    for layer in relu:
        layer.build((N, T, F))
    assert not _dispatch._fusable_pair(*relu, calls("cpu"))  # no PyTorch kernel for either direction


@pytest.mark.parametrize("mask_name", ["right", "left", "holes", "all_masked"])
@pytest.mark.parametrize("cls, kwargs", [(LSTM, {}), (GRU, {}), (SimpleRNN, {}), (SimpleRNN, {"activation": "relu"})],
                         ids=str)
@pytest.mark.parametrize("return_sequences, merge_mode, stateful", [(True, "concat", False), (True, "sum", True),
                                                                    (False, None, False)])
def test_a_masked_pair_off_the_cpu_is_one_packed_call_with_the_loops_results(monkeypatch, cls, kwargs, mask_name,
                                                                             return_sequences, merge_mode, stateful):
    """Off the CPU a standard pair under a mask is one bidirectional kernel call over packed sequences (the CPU
    stands in here, sent down that path): outputs, final states (an LSTM's cell state included), the states a
    stateful pair keeps and every gradient are the step loop's, for left padding, holes and fully masked rows."""
    from birnn.layers import Bidirectional

    monkeypatch.setattr(_dispatch, "_one_call", lambda layers, calls, tracing: True)
    monkeypatch.setattr(_dispatch, "_packed_device", lambda inputs: True)
    monkeypatch.setattr(_dispatch, "_compiled_wins", lambda kind, inputs, paired: False)
    taken = []
    real = _dispatch.run_fused_packed
    monkeypatch.setattr(_dispatch, "run_fused_packed", lambda *a, **k: taken.append(len(a[0])) or real(*a, **k))
    flags = {"return_sequences": return_sequences, "return_state": True, "stateful": stateful}
    bi = Bidirectional(cls(U, **kwargs, **flags), merge_mode=merge_mode)
    bi.build((N, T, F))
    reference = _loop_reference(bi)
    mask = torch.tensor(MASKS[mask_name], dtype=torch.bool)
    states = 2 if cls is LSTM else 1
    for call in range(2 if stateful else 1):  # a stateful pair's second call starts from the kept states
        x = torch.randn(N, T, F, requires_grad=True)
        init = [] if stateful else [torch.randn(N, U, requires_grad=True) for _ in range(2 * states)]
        got, grads = _outputs_and_grads(bi, x, mask, init)
        want, ref_grads = _outputs_and_grads(reference, x, mask, init)
        assert len(got) == len(want) == (2 if merge_mode is None else 1) + 2 * states
        _assert_matches(got, want, grads, ref_grads)
    assert taken == [2] * (2 if stateful else 1)


def test_inference_weight_cache_follows_weight_updates():
    layer = LSTM(U, return_sequences=True)
    x = torch.randn(N, T, F)
    layer.build(x.shape)
    with torch.no_grad():
        before = layer(x)
        layer.set_weights([w * 0.5 for w in layer.get_weights()])
        after = layer(x)
        for w in layer.parameters():
            w.add_(0.01)
        stepped = layer(x)
        reference = LSTM.from_config({**layer.get_config(), "name": "reference", "use_cudnn": False})
        reference.build(x.shape)
        reference.set_weights(layer.get_weights())
        torch.testing.assert_close(stepped, reference(x), atol=1e-5, rtol=0)
        # a weight replaced by a new tensor is a new weight too, though its version counter may equal the last's
        for _ in range(2):
            replaced = {name: torch.randn_like(w) for name, w in layer.state_dict().items()}
            layer.load_state_dict(replaced, assign=True)
            reference.load_state_dict(replaced)
            torch.testing.assert_close(layer(x), reference(x), atol=1e-5, rtol=0)
    assert not torch.allclose(before, after)


class _OperationLog(TorchDispatchMode):
    """The ATen operations dispatched while active, by name."""

    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        self.names.append(str(func))
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("return_sequences", [True, False])
def test_a_lone_lstm_at_inference_dispatches_no_more_operations_than_nn_lstm(return_sequences):
    """birnn's overhead around PyTorch's kernel: one zero tensor for both initial states (not two made and
    reshaped), and none of the outputs the layer does not return (its last output, its final states)."""
    x = torch.randn(N, T, F)
    layer, reference = LSTM(U, return_sequences=return_sequences).eval(), torch.nn.LSTM(F, U, batch_first=True).eval()
    layer.build(x.shape)
    with torch.no_grad():
        layer(x)  # converts and caches the weights
        with _OperationLog() as ours:
            layer(x)
        with _OperationLog() as theirs:
            reference(x)
    assert set(theirs.names) <= set(ours.names)  # the very kernel nn.LSTM runs (oneDNN's layer op here)
    assert ours.names.count("aten.zeros.default") == 1
    assert len(ours.names) <= len(theirs.names) + (0 if return_sequences else 1)  # + the last output's select


def test_zero_initial_states_are_made_when_a_kernel_reads_them():
    x = torch.randn(N, T, F, dtype=torch.float64)
    call = _dispatch.Call(x, None, None, False, None, zero_sizes=(U, 2))
    assert "states" not in vars(call)
    states = call.states
    assert [tuple(s.shape) for s in states] == [(N, U), (N, 2)] and all(s.dtype == torch.float64 for s in states)
    assert not any(s.any() for s in states) and call.states is states
    given = [torch.ones(N, U)]
    assert _dispatch.Call(x, given, None, False, None).states is given


def test_concat_of_the_two_halves_of_one_tensor_is_that_tensor():
    from birnn.layers.rnn._merge import merge

    both = torch.randn(2, 3, 8)
    assert merge(both[..., :4], both[..., 4:], "concat") is both
    other = torch.randn(2, 3, 4)
    torch.testing.assert_close(merge(both[..., :4], other, "concat"), torch.cat([both[..., :4], other], -1))
    torch.testing.assert_close(merge(both[..., 4:], both[..., :4], "concat"), torch.cat([both[..., 4:], both[..., :4]], -1))


def test_concat_of_time_major_sequences_stays_time_major():
    from birnn.layers.rnn._merge import merge

    a, b = torch.randn(5, 2, 3).transpose(0, 1), torch.randn(5, 2, 4).transpose(0, 1)  # (N, T, U) views
    both = merge(a, b, "concat")
    torch.testing.assert_close(both, torch.cat([a.contiguous(), b.contiguous()], -1))
    assert both.transpose(0, 1).is_contiguous()


@pytest.mark.parametrize("merge_mode, masked, joint", [("concat", False, True), ("sum", False, False), ("concat", True, False)])
def test_a_concatenating_pair_writes_both_directions_into_one_output(monkeypatch, merge_mode, masked, joint):
    """A training ``Bidirectional`` on the sequence kernels that concatenates unmasked sequences asks for the
    joint output: the concatenation is plain views of it (no copy, and a backward that moves no memory);
    other merges and masked calls (two packings) do not, but a masked concatenation is the one tensor both
    directions' rows are scattered into (``unpack_joint``). Values and gradients equal step loops' either way."""
    from birnn.layers import Bidirectional

    asked = []
    real = _scan.scan
    monkeypatch.setattr(_dispatch, "scan", lambda jobs, tensors, joint=False: asked.append(joint) or real(jobs, tensors, joint))
    layer = Bidirectional(LSTM(U, activation="relu", return_sequences=True), merge_mode=merge_mode)  # scan either way
    reference = Bidirectional(LSTM(U, activation="relu", return_sequences=True, use_cudnn=False), merge_mode=merge_mode)
    x = torch.randn(N, T, F, requires_grad=True)
    for each in (layer, reference):
        each.build(x.shape)
    reference.set_weights(layer.get_weights())
    mask = torch.tensor(MASKS["holes"], dtype=torch.bool) if masked else None
    y = layer(x, mask=mask)
    assert asked == [joint]
    if joint:
        assert type(y.grad_fn).__name__ == "TransposeBackward0" and y.transpose(0, 1).is_contiguous()
        assert type(y.grad_fn.next_functions[0][0]).__name__ == "ViewBackward0"
    if masked and merge_mode == "concat":
        assert type(y.grad_fn).__name__ == "_ScatterJointBackward" and y.is_contiguous()
    want = reference(x, mask=mask)
    torch.testing.assert_close(y, want, atol=1e-5, rtol=0)
    weights = torch.randn(y.shape)
    grads = torch.autograd.grad((y * weights).sum(), [x, *layer.weights])
    ref_grads = torch.autograd.grad((want * weights).sum(), [x, *reference.weights])
    for a, b in zip(grads, ref_grads):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=0)


def test_concat_of_the_halves_of_a_time_major_output_is_a_reshape_of_it():
    """Two column blocks of a contiguous ``(T * N, 2U)`` tensor seen batch-first concatenate to a reshape of
    it (view and transpose, whose backward moves no memory), not an as_strided view."""
    from birnn.layers.rnn._merge import merge

    base = torch.randn(T * N, 8, requires_grad=True) * 1
    halves = [base[:, :4].view(T, N, 4).transpose(0, 1), base[:, 4:].view(T, N, 4).transpose(0, 1)]
    both = merge(*halves, "concat")
    assert type(both.grad_fn).__name__ == "TransposeBackward0" and both.data_ptr() == base.data_ptr()
    torch.testing.assert_close(both, torch.cat(halves, -1))
    part = torch.randn(T * N + 1, 8)[1:]  # not all of its base's memory: the as_strided view over both halves
    halves = [part[:, :4].view(T, N, 4).transpose(0, 1), part[:, 4:].view(T, N, 4).transpose(0, 1)]
    both = merge(*halves, "concat")
    assert both.data_ptr() == part.data_ptr() and torch.equal(both, torch.cat(halves, -1))


@pytest.mark.skipif(not _native.available(), reason="no C++ toolchain: training runs PyTorch's fused kernel, not the sequence kernels this checks")
def test_stacked_bidirectional_training_moves_no_sequence_between_layers():
    """Unmasked training: each direction's outputs are views of its time-major packed rows (both
    directions in input time order), the concatenation is time-major, and the next layer's packing
    of it is a free view."""
    from birnn.layers import Bidirectional

    first = Bidirectional(LSTM(4, return_sequences=True))
    x = torch.randn(3, 6, 5, requires_grad=True)
    y = first(x)
    assert y.shape == (3, 6, 8) and y.transpose(0, 1).is_contiguous()
    packed, packing = _packing.pack(y, None, go_backwards=True)
    assert packing.blocks_reversed and packed.data_ptr() == y.data_ptr()
    reference = Bidirectional(LSTM(4, return_sequences=True, use_cudnn=False))
    reference.build(x.shape)
    reference.set_weights(first.get_weights())
    torch.testing.assert_close(y, reference(x), atol=1e-5, rtol=0)


@pytest.mark.parametrize("native", [True, False], ids=["compiled", "python"])
@pytest.mark.parametrize("masked, input_grad, time_major", [(False, True, True), (False, True, False), (True, True, True),
                                                           (False, False, True)], ids=str)
def test_a_sequence_kernel_pair_runs_on_two_threads_and_sums_one_input_gradient(monkeypatch, masked, input_grad,
                                                                                time_major, native):
    """Both directions on the sequence kernels are one autograd call whose jobs run on two threads,
    forward and backward. When they read the very same packed inputs (no mask: a time-major sequence is
    packed as a view, a batch-major one copied once for both) and its gradient is wanted, it is one sum
    over both directions, half the rows per thread, instead of two gradients and an addition; with a mask
    (two packings, made together: ``pack_joint``) or no input gradient, each direction takes its own. Either
    way the gradients equal separate step loops'."""
    import threading

    from birnn.layers import Bidirectional

    ran, summed, packed, packed_together = [], [], [], []
    real_pack, real_joint = _dispatch.pack, _dispatch.pack_joint
    monkeypatch.setattr(_dispatch, "pack", lambda *a: packed.append(a) or real_pack(*a))
    monkeypatch.setattr(_dispatch, "pack_joint", lambda *a: packed_together.append(a) or real_joint(*a))
    for name, record in (("_run_forward", ran), ("_run_backward", ran)):
        original = getattr(_scan, name)
        monkeypatch.setattr(
            _scan, name, lambda *a, original=original, record=record, **k: record.append(threading.get_ident()) or original(*a, **k)
        )
    real_sum = _scan._summed_input_grad
    monkeypatch.setattr(_scan, "_summed_input_grad", lambda *a: summed.append(a) or real_sum(*a))
    layer = Bidirectional(LSTM(U, activation="relu", return_sequences=True), merge_mode="sum")  # relu: scan either way
    reference = Bidirectional(LSTM(U, activation="relu", return_sequences=True, use_cudnn=False), merge_mode="sum")
    leaf = torch.randn(T, N, F) if time_major else torch.randn(N, T, F)  # time-major: a stacked layer's input
    leaf.requires_grad_(input_grad)
    x = leaf.transpose(0, 1) if time_major else leaf
    for each in (layer, reference):
        each.build(x.shape)
    reference.set_weights(layer.get_weights())
    mask = torch.tensor(MASKS["holes"], dtype=torch.bool) if masked else None
    with _native.use_native(native):
        y = layer(x, mask=mask)
        wrt = [leaf, *layer.weights] if input_grad else layer.weights
        grads = torch.autograd.grad((y * torch.arange(y.numel()).view_as(y).sin()).sum(), wrt)
    want = reference(x, mask=mask)
    ref_wrt = [leaf, *reference.weights] if input_grad else reference.weights
    ref_grads = torch.autograd.grad((want * torch.arange(want.numel()).view_as(want).sin()).sum(), ref_wrt)
    torch.testing.assert_close(y, want, atol=1e-5, rtol=0)
    for a, b in zip(grads, ref_grads):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=0)
    assert len(ran) == 4 and len(set(ran)) == (2 if torch.get_num_threads() > 1 else 1)
    assert len(summed) == (1 if input_grad and not masked else 0)
    assert (len(packed), len(packed_together)) == ((0, 1) if masked else (1, 0))


@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_a_masked_pair_packs_its_input_together_unless_input_dropout_makes_two(monkeypatch, dropout):
    """A masked pair packs its one input in one go (one gradient buffer for it); with input dropout while
    training the directions read two different inputs and pack them apart. Both equal the step loops."""
    from birnn.layers import Bidirectional

    packed, packed_together = [], []
    real_pack, real_joint = _dispatch.pack, _dispatch.pack_joint
    monkeypatch.setattr(_dispatch, "pack", lambda *a: packed.append(a) or real_pack(*a))
    monkeypatch.setattr(_dispatch, "pack_joint", lambda *a: packed_together.append(a) or real_joint(*a))
    make = lambda **kw: Bidirectional(LSTM(U, activation="relu", dropout=dropout, seed=2, return_sequences=True, **kw))
    layer, reference = make(), make(use_cudnn=False)
    x = torch.randn(N, T, F, requires_grad=True)
    for each in (layer, reference):
        each.build(x.shape)
    reference.set_weights(layer.get_weights())
    mask = torch.tensor(MASKS["left"], dtype=torch.bool)
    got = _outputs_and_grads(layer, x, mask, [], training=True)
    assert (len(packed), len(packed_together)) == ((2, 0) if dropout else (0, 1))
    want = _outputs_and_grads(reference, x, mask, [], training=True)
    for a, b in zip([*got[0], *got[1]], [*want[0], *want[1]]):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=0)


@pytest.mark.parametrize("native", [True, False], ids=["compiled", "python"])
@pytest.mark.parametrize("wrap", [False, True], ids=["rnn", "bidirectional"])
def test_retain_graph_allows_a_second_backward_and_a_third_is_refused(wrap, native):
    from birnn.layers import Bidirectional

    with _native.use_native(native):
        layer = Bidirectional(LSTM(4)) if wrap else LSTM(4)
        x = torch.randn(3, 6, 5, requires_grad=True)
        loss = layer(x).square().sum()
        loss.backward(retain_graph=True)
        first = [p.grad.clone() for p in (x, *layer.parameters())]
        loss.backward()
        for g, p in zip(first, (x, *layer.parameters())):
            torch.testing.assert_close(p.grad, 2 * g)
        with pytest.raises(RuntimeError, match="a second time"):
            loss.backward()


def _nodes(root):
    seen, stack = set(), [root]
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        yield node
        stack.extend(next_node for next_node, _ in node.next_functions)


@pytest.mark.parametrize("wrap", [False, True], ids=["rnn", "bidirectional"])
def test_saved_activations_are_freed_by_the_backward_pass(wrap):
    """Without retain_graph the sequence kernels drop what they saved when their backward is done
    (not when the caller drops the graph), as PyTorch's own functions do."""
    from birnn.layers import Bidirectional

    layer = Bidirectional(LSTM(4)) if wrap else LSTM(4)
    loss = layer(torch.randn(3, 6, 5)).square().sum()
    holders = [n for n in _nodes(loss.grad_fn) if type(n).__name__ in ("_ScanBackward", "_ConcurrentlyBackward")]
    assert holders
    loss.backward()
    for node in holders:
        assert getattr(node, "saved", None) is None and getattr(node, "results", None) is None


def test_concat_of_the_halves_of_a_time_major_tensor_is_a_view_with_gradients():
    from birnn.layers.rnn._merge import merge

    leaf = torch.randn(5, 2, 8, requires_grad=True)
    out = (leaf * 2).transpose(0, 1)  # (N, T, 2U) seen batch-first, as PyTorch's batch_first kernel returns it
    both = merge(out[..., :4], out[..., 4:], "concat")
    assert both.data_ptr() == out.data_ptr() and both.stride() == out.stride()
    weights = torch.randn(2, 5, 8)
    (both * weights).sum().backward()
    torch.testing.assert_close(leaf.grad, 2 * weights.transpose(0, 1))


def test_cpu_training_on_the_sequence_kernels_keeps_freed_memory(monkeypatch):
    from birnn import _heap

    calls = []
    monkeypatch.setattr(_heap, "keep_freed_memory", lambda: calls.append(1) or True)
    layer = LSTM(U, return_sequences=True)
    x = torch.randn(N, T, F)
    with torch.no_grad():
        layer(x)
    assert calls == []  # inference runs PyTorch's kernel and leaves the allocator alone
    layer(x).sum().backward()
    assert calls == ([1] if _native.available() else [])


def test_layouts_are_built_once_per_shape_and_match_a_fresh_build():
    from birnn.layers.rnn._scan import _Layout

    cpu = torch.device("cpu")
    sizes = [4, 3, 3, 1]
    layout = _Layout.of(sizes, 5, cpu)
    assert _Layout.of(list(sizes), 5, cpu) is layout  # a training loop's next batch of the same shape
    assert _Layout.of(sizes, 6, cpu) is not layout and _Layout.of([4, 3, 1], 5, cpu) is not layout
    fresh = _Layout._build(list(sizes), 5, cpu, False)
    assert (layout.sizes, layout.offsets) == (fresh.sizes, fresh.offsets) == (sizes, [0, 4, 7, 10])
    assert torch.equal(layout.previous, fresh.previous) and torch.equal(layout.last, fresh.last)
    assert layout.last.tolist() == [10, 8, 9, 3, 15]  # row 3 stops after step 0; row 4 has no steps: S + 4


@pytest.mark.parametrize("native", [True, False], ids=["compiled", "python"])
def test_the_lstm_keeps_its_gates_only_when_a_backward_pass_can_follow(monkeypatch, native):
    """Under ``no_grad`` (or with nothing that requires grad) the sequence kernel saves nothing for a backward pass,
    and the LSTM's compiled loop keeps no ``(S, 4U)`` gates; with grad the same call can be differentiated."""
    seen = []
    real = _scan._lstm_forward

    def recording(*args, **kwargs):
        seen.append(kwargs["saves"])
        return real(*args, **kwargs)

    monkeypatch.setitem(_scan._FORWARD, "lstm", recording)
    job = _scan.Job("lstm", [2, 2, 1], {"sigma": activations.sigmoid, "phi": activations.tanh})
    xp, h0, kernel = torch.randn(5, 8), torch.zeros(2, 2), torch.randn(2, 8, requires_grad=True)
    with _native.use_native(native):
        with torch.no_grad():
            [quiet] = _scan.scan([job], [[xp, h0, h0, kernel]])
        [plain] = _scan.scan([job], [[xp, h0, h0, kernel.detach()]])
        [trained] = _scan.scan([job], [[xp, h0, h0, kernel]])
        trained[0].sum().backward()
    assert seen == [False, False, True]
    assert kernel.grad is not None and kernel.grad.abs().sum() > 0
    for a, b, c in zip(quiet, plain, trained):
        torch.testing.assert_close(a, c, atol=0, rtol=0)
        torch.testing.assert_close(b, c, atol=0, rtol=0)


@pytest.mark.parametrize("grad", [True, False], ids=["training", "inference"])
@pytest.mark.parametrize("mask_name", list(MASKS))
@pytest.mark.parametrize("layer", LAYERS, ids=str)
def test_a_lone_layer_splits_its_batch_across_the_cores_with_the_loops_results(monkeypatch, layer, mask_name, grad):
    """A lone direction on the compiled sequence kernels runs the two halves of its batch as two jobs of one call
    (one core each) and gives the step loop's outputs, states and gradients, over two calls of a stateful layer
    too (the halves' rows 2 + 2 here; "holes" masks a whole row of the first half). A standard unmasked LSTM at
    inference stays on PyTorch's kernel (both cores for one call), unsplit."""
    if not _native.available():
        pytest.skip("the compiled loops are not available here (no C++ toolchain)")
    cls, kwargs = layer
    fast, reference = _pair(cls, kwargs, return_sequences=True, go_backwards=mask_name == "left", stateful=True)
    monkeypatch.setattr(_dispatch, "SPLIT_WORK", 1)
    taken = _record(monkeypatch)
    mask = None if MASKS[mask_name] is None else torch.tensor(MASKS[mask_name], dtype=torch.bool)
    for _ in range(2):  # the second call starts from the states the first one left
        x = torch.randn(N, T, F, requires_grad=grad)
        with threads(2), torch.set_grad_enabled(grad):
            if grad:
                got, got_grads = _outputs_and_grads(fast, x, mask, [])
                want, want_grads = _outputs_and_grads(reference, x, mask, [])
            else:
                got, want, got_grads, want_grads = fast(x, mask=mask), reference(x, mask=mask), [], []
        for a, b in zip([*got, *got_grads], [*want, *want_grads]):
            torch.testing.assert_close(a, b, atol=1e-4, rtol=0)
    on_pytorchs = cls is LSTM and not kwargs and not grad and mask is None  # masked, the stateful c needs a scan
    assert taken == ([("fused", 1)] * 2 if on_pytorchs else [("scan", 2)] * 2)
    monkeypatch.setattr(_dispatch, "SPLIT_WORK", N * T + 1)  # less work than that: one job
    taken.clear()
    with threads(2), torch.set_grad_enabled(grad):
        fast(x, mask=mask)
    assert taken == [("fused" if on_pytorchs else "scan", 1)]


@pytest.mark.parametrize("grad", [True, False], ids=["training", "inference"])
@pytest.mark.parametrize("mask_name", list(MASKS))
@pytest.mark.parametrize("go_backwards, return_sequences, zero_output_for_mask",
                         [(False, True, True), (True, True, False), (True, False, True)])
def test_stacked_cells_run_one_layer_per_cell_on_the_kernels(monkeypatch, mask_name, go_backwards,
                                                             return_sequences, zero_output_for_mask, grad):
    """``RNN([cell, cell, cell])`` runs as one layer per cell, each on its own kernels over the sequence the
    one below returned, with the step loop's outputs, nested states and gradients, over two stateful calls."""
    from birnn.layers import RNN, GRUCell, LSTMCell, SimpleRNNCell

    def make(use_cudnn):
        cells = [LSTMCell(U, activation="relu"), GRUCell(3, reset_after=False), SimpleRNNCell(2)]
        layer = RNN(cells, return_sequences=return_sequences, return_state=True, go_backwards=go_backwards,
                    zero_output_for_mask=zero_output_for_mask, stateful=True)
        layer.build((N, T, F))
        layer.use_cudnn = use_cudnn
        return layer

    def outputs_and_grads(layer, x):
        output, *states = layer(x, mask=mask)
        assert [len(s) for s in states] == [2, 1, 1]  # nested per cell
        flat = [output, *(t for s in states for t in s)]
        if not grad:
            return flat
        torch.manual_seed(1)
        loss = sum((o * torch.randn(o.shape)).sum() for o in flat)
        return [*flat, *torch.autograd.grad(loss, [x, *layer.weights])]

    fast, reference = make("auto"), make(False)
    reference.set_weights(fast.get_weights())
    taken = _record(monkeypatch)
    mask = None if MASKS[mask_name] is None else torch.tensor(MASKS[mask_name], dtype=torch.bool)
    for _ in range(2):
        x = torch.randn(N, T, F, requires_grad=grad)
        with torch.set_grad_enabled(grad):
            for a, b in zip(outputs_and_grads(fast, x), outputs_and_grads(reference, x)):
                torch.testing.assert_close(a, b, atol=1e-4, rtol=0)
    assert len(taken) == 6 and "loop" not in {kernel for kernel, _ in taken}


def test_stacked_cells_keep_the_step_loop_where_a_cell_needs_it():
    """Dropout drawn in training (the loop draws a stacked cell's masks at every step), a cell without a
    sequence kernel, ``constants`` and ``use_cudnn=False`` keep the whole stack on the step loop."""
    from birnn.layers import RNN, GRUCell, LSTMCell

    x = torch.randn(N, T, F)

    def views(cells, training=False, constants=None, use_cudnn="auto"):
        layer = RNN(cells)
        layer.build((N, T, F))
        layer.use_cudnn = use_cudnn
        call = _dispatch.Call(x, [torch.zeros(N, s) for s in (U, U, 3)][: len(cells) + 1], None, training, constants)
        return _dispatch._stacked(layer, call)

    assert [v.cell.units for v in views([LSTMCell(U), GRUCell(3)])] == [U, 3]
    assert views([LSTMCell(U), GRUCell(3)], use_cudnn=False) is None
    assert views([LSTMCell(U), GRUCell(3)], constants=[x]) is None
    assert views([LSTMCell(U, dropout=0.5), GRUCell(3)], training=True) is None
    assert views([LSTMCell(U, dropout=0.5), GRUCell(3)], training=False) is not None
    assert views([LSTMCell(U, activation=torch.nn.functional.gelu), GRUCell(3)]) is None


@pytest.mark.parametrize("cls", [LSTM, GRU, SimpleRNN])
def test_an_unmasked_pair_off_the_cpu_trains_in_one_bidirectional_call(monkeypatch, cls):
    """Off the CPU (the CPU standing in, on PyTorch's kernels) a standard pair trains through one bidirectional
    kernel call: the step loop's outputs, states and gradients, initial states split half and half."""
    from birnn.layers import Bidirectional

    monkeypatch.setattr(_dispatch, "_one_call", lambda layers, calls, tracing: True)
    taken = _record(monkeypatch)
    bi = Bidirectional(cls(U, return_sequences=True, return_state=True))
    bi.build((N, T, F))
    reference = _loop_reference(bi)
    x = torch.randn(N, T, F, requires_grad=True)
    init = [torch.randn(N, U, requires_grad=True) for _ in range(4 if cls is LSTM else 2)]
    with _native.use_native(False):
        got, grads = _outputs_and_grads(bi, x, None, init)
    assert taken == [("fused", 2)]
    want, ref_grads = _outputs_and_grads(reference, x, None, init)
    _assert_matches(got, want, grads, ref_grads)



@pytest.mark.parametrize("mask_name", ["right", "left", "holes", "all_masked"])
@pytest.mark.parametrize("cls", [LSTM, GRU, SimpleRNN])
@pytest.mark.parametrize("go_backwards, return_sequences, zero_output_for_mask",
                         [(False, True, False), (True, True, True), (True, False, False)])
def test_a_masked_layer_off_the_cpu_runs_packed_sequences_with_the_loops_results(
        monkeypatch, cls, mask_name, go_backwards, return_sequences, zero_output_for_mask):
    """A lone masked layer off the CPU is one kernel call over its packed sequences (the CPU standing in): the
    step loop's outputs (previous output or zero at masked steps), final states (an LSTM's cell state too) and
    gradients, for either direction."""
    monkeypatch.setattr(_dispatch, "_packed_device", lambda inputs: True)
    monkeypatch.setattr(_dispatch, "_compiled_wins", lambda kind, inputs, paired: False)
    taken = []
    real = _dispatch.run_fused_packed
    monkeypatch.setattr(_dispatch, "run_fused_packed", lambda *a, **k: taken.append(len(a[0])) or real(*a, **k))
    fast, reference = _pair(cls, {}, go_backwards=go_backwards, return_sequences=return_sequences,
                            zero_output_for_mask=zero_output_for_mask)
    x = torch.randn(N, T, F, requires_grad=True)
    mask = torch.tensor(MASKS[mask_name], dtype=torch.bool)
    init = [torch.randn(N, U, requires_grad=True) for _ in range(2 if cls is LSTM else 1)]
    got, grads = _outputs_and_grads(fast, x, mask, init)
    assert taken == [1]
    want, ref_grads = _outputs_and_grads(reference, x, mask, init)
    _assert_matches(got, want, grads, ref_grads)
