"""The compiled time loops (``_native``) compute what the Python loops of ``_scan`` compute."""

from __future__ import annotations

import pytest
import torch

from birnn import activations
from birnn.layers.rnn import _native, _scan
from tests.harness import threads

pytestmark = pytest.mark.skipif(
    not _native._toolchain_present(), reason="no C++ compiler and ninja here: the Python loops run instead"
)

ACTIVATIONS = list(_native.ACTIVATIONS)
SIZES = [  # holes at the end, full, one step, no steps, full blocks run from the last to the first
    ([4, 4, 3, 1, 1], 4, False), ([3, 3], 3, False), ([2], 4, False), ([], 3, False), ([3, 3, 3], 3, True),
]
KINDS = ["lstm", "gru", "gru_before", "simple"]  # gru_before: reset_after=False
GATES = {"lstm": 4, "gru": 3, "gru_before": 3, "simple": 1}


def _core(kind: str, xp: torch.Tensor, h0: torch.Tensor, c0: torch.Tensor, kernel: torch.Tensor,
          bias: torch.Tensor | None) -> list[torch.Tensor | None]:
    """The job's tensors of ``kind`` (``_scan.Job``) from a full set of candidates."""
    return {"lstm": [xp, h0, c0, kernel], "gru": [xp, h0, kernel, bias], "gru_before": [xp, h0, kernel],
            "simple": [xp, h0, kernel]}[kind]


def _standard(kind: str) -> dict:
    """The kind's standard activations."""
    return {"phi": activations.tanh} if kind == "simple" else {"sigma": activations.sigmoid, "phi": activations.tanh}


def test_the_extension_builds_where_a_toolchain_exists():
    assert _native.available()
    assert set(_native.ACTIVATIONS) == set(_scan.DERIVATIVES)


def _run(kind: str, fns: dict, sizes: list[int], rows: int, dtype: torch.dtype, native: bool, units: int = 5,
         reverse: bool = False, upstream: str = "all", owned: bool = False, dropout: bool = False):
    """Outputs and input gradients of one scan; ``upstream``: which outputs the loss reads
    (``"all"``, ``"final"``: no gradient reaches the sequence, ``"strided"``: the sequence's
    gradient arrives as a column slice of a wider one); ``dropout``: with a recurrent dropout mask."""
    gates = GATES[kind]
    g = torch.Generator().manual_seed(0)

    def make(*shape: int, scale: float = 1.0) -> torch.Tensor:
        return (torch.randn(*shape, dtype=dtype, generator=g) * scale).requires_grad_()

    xp, h0, c0 = make(sum(sizes), gates * units), make(rows, units), make(rows, units)
    kernel, bias = make(units, gates * units, scale=0.4), make(gates * units)
    tensors = _core(kind, xp, h0, c0, kernel, bias)
    mask = [((torch.rand(rows, units, generator=g) > 0.3) / 0.7).to(dtype)] if dropout else []
    with _native.use_native(native):
        job = _scan.Job(kind, sizes, fns, reverse, owned=owned, dropout=dropout)
        # owned: the kernel may overwrite its projected inputs: give it a private copy, as the dispatcher does
        outputs = _scan.scan([job], [[tensors[0] * 1 if owned else tensors[0], *tensors[1:], *mask]])[0]
        read = list(outputs)
        if upstream == "final":
            read[0] = read[0].detach()
        elif upstream == "strided" and outputs[0].numel():
            strides = []
            outputs[0].register_hook(lambda grad: strides.append(grad.stride()))
            read[0] = torch.cat([read[0], torch.ones_like(read[0])], dim=1)
        weights = [torch.randn(o.shape, dtype=dtype, generator=g) for o in read]
        loss = sum((o * w).sum() for o, w in zip(read, weights))
        grads = torch.autograd.grad(loss, tensors, allow_unused=True)
    if upstream == "strided" and outputs[0].numel():
        assert strides == [(2 * units, 1)]  # the kernels really read a column slice in place
    return [*outputs, *grads]


@pytest.mark.parametrize("dtype, tolerance, tiled", [(torch.float64, 1e-12, False), (torch.float32, 1e-5, False),
                                                     (torch.float32, 1e-5, True)], ids=["f64", "f32", "f32_tiled"])
@pytest.mark.parametrize("sizes, rows, reverse", SIZES, ids=["ragged", "full", "one_step", "empty", "reversed"])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("activation", ACTIVATIONS, ids=lambda fn: fn.__name__)
def test_compiled_loops_match_python_loops(kind, activation, sizes, rows, reverse, dtype, tolerance, tiled):
    if tiled and not _native.tiled_available():
        pytest.skip("this CPU or build has no tiled product (it needs AVX-512): at::mm runs instead")
    # every activation once as the cell's activation and once as the gates' (sigmoid or it)
    fns = {"phi": activation} if kind == "simple" else {"sigma": activation, "phi": activations.tanh}
    fn_sets = [fns] if kind == "simple" else [fns, {"sigma": activations.sigmoid, "phi": activation}]
    for fns in fn_sets:
        args = (kind, fns, sizes, rows, dtype)
        with _native.use_tiled(tiled), threads(1):
            assert _native.extension().use_tiled(torch.empty(0, dtype=dtype)) == tiled
            got = _run(*args, True, reverse=reverse)
        _assert_same(got, _run(*args, False, reverse=reverse), tolerance)


@pytest.mark.parametrize("dtype, tolerance, tiled", [(torch.float64, 1e-12, False), (torch.float32, 1e-5, True)],
                         ids=["f64", "f32_tiled"])
@pytest.mark.parametrize("sizes, rows, reverse", SIZES, ids=["ragged", "full", "one_step", "empty", "reversed"])
@pytest.mark.parametrize("kind", KINDS)
def test_compiled_loops_apply_the_recurrent_dropout_mask(kind, sizes, rows, reverse, dtype, tolerance, tiled):
    """With a recurrent dropout mask (``Job.dropout``) the compiled loops give the Python loops' outputs and
    gradients, owned buffers reused or not, and the mask changes them."""
    if tiled and not _native.tiled_available():
        pytest.skip("this CPU or build has no tiled product (it needs AVX-512): at::mm runs instead")
    args = (kind, _standard(kind), sizes, rows, dtype)
    with _native.use_tiled(tiled), threads(1):
        got = _run(*args, True, reverse=reverse, dropout=True)
        owned = _run(*args, True, reverse=reverse, dropout=True, owned=True)
        plain = _run(*args, True, reverse=reverse)
    want = _run(*args, False, reverse=reverse, dropout=True)
    _assert_same(got, want, tolerance)
    _assert_same(owned, want, tolerance)
    if len(sizes) > 1:  # the mask reaches a recurrent product: outputs and kernel gradient differ without it
        assert not torch.allclose(got[0], plain[0]) and not torch.allclose(got[-1], plain[-1])


@pytest.mark.parametrize("upstream", ["final", "strided"])
@pytest.mark.parametrize("sizes, rows, reverse", SIZES, ids=["ragged", "full", "one_step", "empty", "reversed"])
@pytest.mark.parametrize("kind", KINDS)
def test_compiled_loops_read_any_upstream_gradient(kind, sizes, rows, reverse, upstream):
    """No gradient for the sequence (only final states read) and a strided one give the Python loops' results."""
    fns = _standard(kind)
    args = (kind, fns, sizes, rows, torch.float64)
    _assert_same(_run(*args, True, reverse=reverse, upstream=upstream),
                 _run(*args, False, reverse=reverse, upstream=upstream), 1e-12)


@pytest.mark.parametrize("sizes, rows, reverse", SIZES, ids=["ragged", "full", "one_step", "empty", "reversed"])
@pytest.mark.parametrize("kind", KINDS)
def test_owned_inputs_and_buffers_reused_by_a_last_backward_change_nothing(kind, sizes, rows, reverse):
    """``owned`` (the projection becomes the gates in place) and the backward pass overwriting saved
    buffers when no graph is retained give the Python loops' results, and a retained graph still
    gives the same gradients twice."""
    fns = _standard(kind)
    args = (kind, fns, sizes, rows, torch.float64)
    _assert_same(_run(*args, True, reverse=reverse, owned=True), _run(*args, False, reverse=reverse), 1e-12)
    g = torch.Generator().manual_seed(3)
    gates = GATES[kind]
    xp = torch.randn(sum(sizes), gates * 5, dtype=torch.float64, generator=g, requires_grad=True)
    h0, c0 = torch.randn(rows, 5, dtype=torch.float64, generator=g), torch.randn(rows, 5, dtype=torch.float64, generator=g)
    kernel = torch.randn(5, gates * 5, dtype=torch.float64, generator=g, requires_grad=True)
    tensors = _core(kind, xp * 1, h0, c0, kernel, None)
    with _native.use_native(True):
        (hs, *_), = _scan.scan([_scan.Job(kind, sizes, fns, reverse, owned=True)], [tensors])
    loss = (hs * torch.randn(hs.shape, dtype=torch.float64, generator=g)).sum()
    first = torch.autograd.grad(loss, [xp, kernel], retain_graph=True, allow_unused=True)
    second = torch.autograd.grad(loss, [xp, kernel], allow_unused=True)
    for a, b in zip(first, second):
        assert (a is None and b is None) or torch.equal(a, b)


@pytest.mark.parametrize("native", [True, False], ids=["compiled", "python"])
@pytest.mark.parametrize("kind", KINDS)
def test_reversed_blocks_are_the_sequence_run_backwards(kind, native):
    """A reversed layout over blocks in time order == the ordinary layout over the time-flipped blocks."""
    steps, rows, units = 4, 3, 5
    fns = _standard(kind)
    gates = GATES[kind]
    g = torch.Generator().manual_seed(1)
    xp = torch.randn(steps, rows, gates * units, dtype=torch.float64, generator=g)
    h0, c0 = torch.randn(rows, units, dtype=torch.float64, generator=g), torch.randn(rows, units, dtype=torch.float64, generator=g)
    kernel, bias = torch.randn(units, gates * units, dtype=torch.float64, generator=g), torch.randn(gates * units, dtype=torch.float64, generator=g)

    def run(x: torch.Tensor, reverse: bool) -> tuple[torch.Tensor, ...]:
        tensors = _core(kind, x, h0, c0, kernel, bias)
        with _native.use_native(native):
            return _scan.scan([_scan.Job(kind, [rows] * steps, fns, reverse)], [tensors])[0]

    hs_rev, *final_rev = run(xp.reshape(steps * rows, -1), True)
    hs, *final = run(xp.flip(0).reshape(steps * rows, -1), False)
    torch.testing.assert_close(hs_rev.view(steps, rows, units), hs.view(steps, rows, units).flip(0), atol=1e-12, rtol=0)
    for a, b in zip(final_rev, final):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=0)


def test_reversed_blocks_need_full_steps():
    with pytest.raises(ValueError, match=r"every step to hold all 3 rows, got batch_sizes=\[3, 2\]"):
        _scan._Layout.of([3, 2], 3, torch.device("cpu"), reverse=True)


def _assert_same(got: list[torch.Tensor], want: list[torch.Tensor], tolerance: float) -> None:
    """Equal up to ``tolerance`` relative to each tensor's scale (linear gates grow values past 1)."""
    for a, b in zip(got, want):
        scale = max(1.0, b.abs().max().item()) if b.numel() else 1.0
        torch.testing.assert_close(a, b, atol=tolerance * scale, rtol=0)


@pytest.mark.parametrize("tiled, thread_count", [(False, 1), (True, 1), (True, 2)], ids=["mm", "tiled", "two_threads"])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("units, sizes", [(131, [6, 5, 5]), (16, [9, 9, 7]), (64, [24, 17, 3])], ids=str)
def test_large_units_use_the_vectorised_tails(kind, units, sizes, tiled, thread_count):
    """Units that are not (131) or are (16, 64) a multiple of the vector width exercise the loops'
    remainders and, tiled, the panels' partial and unused column groups (with two ATen threads the
    threaded at::mm is used even when tiling is on)."""
    if tiled and not _native.tiled_available():
        pytest.skip("this CPU or build has no tiled product (it needs AVX-512)")
    fns = _standard(kind)
    with _native.use_tiled(tiled), threads(thread_count):
        assert _native.extension().use_tiled(torch.empty(0)) == (tiled and thread_count == 1)
        got = _run(kind, fns, sizes, sizes[0], torch.float32, True, units=units)
    _assert_same(got, _run(kind, fns, sizes, sizes[0], torch.float32, False, units=units), 1e-5)



def _run_projecting(kind: str, sizes: list[int], rows: int, reverse: bool, features: int, with_bias: bool,
                    native: bool) -> list[torch.Tensor]:
    """Outputs and every input's gradient of one job that projects its packed inputs itself."""
    gates, units = GATES[kind], 19
    g = torch.Generator().manual_seed(features)

    def make(*shape: int, scale: float = 1.0) -> torch.Tensor:
        return (torch.randn(*shape, generator=g) * scale).requires_grad_()

    x, h0, c0 = make(sum(sizes), features), make(rows, units), make(rows, units)
    kernel, input_kernel = make(units, gates * units, scale=0.4), make(features, gates * units, scale=0.4)
    bias = make(gates * units) if with_bias else None
    core = _core(kind, x, h0, c0, kernel, make(gates * units))
    tensors = [*core, input_kernel, bias]
    fns = _standard(kind)
    job = _scan.Job(kind, sizes, fns, reverse, projects=True)
    with _native.use_native(native):
        assert _scan._projects_in_loop(job, x) == (native and kind == "lstm" and _native.extension().use_tiled(x))
        outputs = _scan.scan([job], [tensors])[0]
        weights = [torch.randn(o.shape, generator=g) for o in outputs]
        loss = sum((o * w).sum() for o, w in zip(outputs, weights))
        wanted = [t for t in tensors if t is not None]
        grads = torch.autograd.grad(loss, wanted, allow_unused=True)
    return [*outputs, *grads]


@pytest.mark.parametrize("tiled", [True, False], ids=["tiled", "mm"])
@pytest.mark.parametrize("features, with_bias", [(3, True), (17, False), (64, True)], ids=str)
@pytest.mark.parametrize("sizes, rows, reverse", SIZES, ids=["ragged", "full", "one_step", "empty", "reversed"])
@pytest.mark.parametrize("kind", KINDS)
def test_jobs_that_project_their_inputs_match_python_loops(kind, sizes, rows, reverse, features, with_bias, tiled):
    """``Job.projects``: the LSTM's compiled loop projecting its inputs step by step inside the tiled
    product ([x_t | h] @ [W; U], the bias as addend: features not a multiple of the tile, no bias) and the
    other kinds' one projection before the loop give the Python loops' outputs and gradients (inputs,
    both kernels, bias, initial states)."""
    if tiled and not _native.tiled_available():
        pytest.skip("this CPU or build has no tiled product (it needs AVX-512)")
    args = (kind, sizes, rows, reverse, features, with_bias)
    with _native.use_tiled(tiled), threads(1):
        got = _run_projecting(*args, True)
    _assert_same(got, _run_projecting(*args, False), 1e-5)


@pytest.mark.parametrize("kind, passes", [("lstm", 1), ("simple", 1), ("gru", 3), ("gru_before", 3)])
def test_both_kernels_gradients_take_one_pass_where_they_share_it(kind, passes, monkeypatch):
    """LSTM and SimpleRNN: the input projection and the recurrent product have the same pre-activation
    gradient, so one product over [x | previous states] gives both kernels' gradients (one pass over the
    (S, G) gradient instead of two); the GRUs' differ (three products: the input kernel's and the recurrent
    kernel's two column blocks, [z r] and the candidate's, the latter over r * h_prev without a reset
    after the multiply)."""
    calls = []
    real = _scan._gemm.transposed_matmul
    monkeypatch.setattr(_scan._gemm, "transposed_matmul", lambda *a, **k: calls.append(a[0]) or real(*a, **k))
    with _native.use_tiled(False):  # the tiled LSTM loop takes its gradient along instead (the test below)
        _run_projecting(kind, [3, 3, 3], 3, False, 5, True, True)
    assert len(calls) == passes
    if passes == 1:
        assert [len(pieces) for pieces in calls[0]] == [1, 2]  # x; h0 and the states shifted by one block


LONG_SIZES = [  # few rows over many steps: the weight gradient is added every 32 rows or more, not every 2 steps
    ([3] * 20 + [2] * 30 + [1] * 25, 3, False), ([1] * 70, 1, True),
]


@pytest.mark.parametrize("sizes, rows, reverse", SIZES + LONG_SIZES,
                         ids=["ragged", "full", "one_step", "empty", "reversed", "long_ragged", "long_reversed"])
@pytest.mark.parametrize("extra_step", [False, True])
def test_the_tiled_lstm_loop_takes_its_kernels_gradient_along(sizes, rows, reverse, extra_step, monkeypatch):
    """On the tiled product the LSTM's backward loop adds [x | h_prev]^T dz (both kernels' gradient and the
    bias's) right behind itself every two steps, or as many as make 32 rows, while those rows are in cache: no
    separate pass (``transposed_matmul`` is not called), the Python loops' results for every layout, with one
    step more (an odd and an even number of steps)."""
    if not _native.tiled_available():
        pytest.skip("this CPU or build has no tiled product (it needs AVX-512)")
    sizes = sizes + sizes[-1:] if extra_step and sizes and not reverse else sizes
    calls = []
    real = _scan._gemm.transposed_matmul
    monkeypatch.setattr(_scan._gemm, "transposed_matmul", lambda *a, **k: calls.append(a) or real(*a, **k))
    with _native.use_tiled(True), threads(1):
        got = _run_projecting("lstm", sizes, rows, reverse, 7, True, True)
    assert calls == []
    _assert_same(got, _run_projecting("lstm", sizes, rows, reverse, 7, True, False), 1e-5)


@pytest.mark.parametrize("name, reference", [("tanh", torch.tanh), ("sigmoid", torch.sigmoid)])
def test_compiled_sigmoid_and_tanh_are_accurate_everywhere(name, reference):
    """The compiled float32 sigmoid and tanh (a one-step SimpleRNN with a zero kernel applies them) are
    within a few float32 ulp of float64 torch across the whole range, saturated inputs and tiny ones
    (where expm1 must keep tanh's relative accuracy) included; infinities saturate and NaN stays NaN."""
    special = torch.tensor([0.0, float("inf"), -float("inf"), float("nan"), 87.9, 88.1, -88.1, 0.625, -0.625, 1e-45])
    x = torch.cat([torch.linspace(-100, 100, 20001), torch.logspace(-30, 2, 2000), -torch.logspace(-30, 2, 2000), special])
    x = torch.cat([x, torch.zeros(-x.numel() % 16)]).view(-1, 16)
    with threads(1):
        y = _native.extension().simple_forward(x.clone(), torch.zeros(x.shape), torch.zeros(16, 16), [x.shape[0]], [0],
                                               _native.ACTIVATIONS[getattr(activations, name)])
    want = reference(x.double())
    finite = torch.isfinite(want)
    torch.testing.assert_close(y.double()[finite], want[finite], atol=2e-7, rtol=3e-7)
    assert torch.isnan(y[torch.isnan(x)]).all()
    tails = y[torch.isinf(x)].tolist()
    assert tails == ([1.0, -1.0] if name == "tanh" else [1.0, pytest.approx(0.0, abs=1e-38)])


def test_use_tiled_restores_the_previous_setting():
    if not _native.tiled_available():
        pytest.skip("this CPU or build has no tiled product (it needs AVX-512)")
    module = _native.extension()
    with _native.use_tiled(False):
        assert module.set_tiled(False) is False  # reading the flag means setting it: put it back
        with _native.use_tiled(True):
            assert module.set_tiled(True) is True
        assert module.set_tiled(False) is False
    assert module.set_tiled(True) is True


def test_use_native_restores_the_previous_setting():
    before = _native.enabled()
    with _native.use_native(False):
        assert not _native.enabled()
        with _native.use_native(True):
            assert _native.enabled() == _native.available()
        assert not _native.enabled()
    assert _native.enabled() == before


@pytest.mark.parametrize("tiled", [True, False], ids=["tiled", "mm"])
@pytest.mark.parametrize("sizes, rows, reverse", SIZES, ids=["ragged", "full", "one_step", "empty", "reversed"])
def test_lstm_forward_writes_its_states_into_a_column_block(sizes, rows, reverse, tiled):
    """``out``: hs goes into a column block of a wider tensor (its rows 2U + 3 apart), identical to the
    contiguous result; nothing outside the block is written."""
    if tiled and not _native.tiled_available():
        pytest.skip("this CPU or build has no tiled product (it needs AVX-512): at::mm runs instead")
    units, g = 20, torch.Generator().manual_seed(5)
    layout = _scan._Layout.of(sizes, rows, torch.device("cpu"), reverse)
    xp = torch.randn(sum(sizes), 4 * units, generator=g)
    h0, c0 = torch.randn(rows, units, generator=g), torch.randn(rows, units, generator=g)
    kernel = torch.randn(units, 4 * units, generator=g) * 0.3
    wide = torch.full((sum(sizes), 2 * units + 3), float("nan"))
    block = wide[:, 2 : 2 + units]
    module, ids = _native.extension(), _native.ACTIVATIONS
    with _native.use_tiled(tiled), threads(1):
        args = (h0, c0, kernel, layout.sizes, layout.offsets, ids[activations.sigmoid], ids[activations.tanh], False)
        plain = module.lstm_forward(xp.clone(), *args)
        into = module.lstm_forward(xp.clone(), *args, out=block)
    assert into[0].data_ptr() == block.data_ptr()
    torch.testing.assert_close(block, plain[0], atol=0, rtol=0)
    for a, b in zip(into[1:], plain[1:]):
        torch.testing.assert_close(a, b, atol=0, rtol=0)
    assert wide[:, :2].isnan().all() and wide[:, 2 + units :].isnan().all()
    with pytest.raises(RuntimeError, match="block with unit column stride"):
        module.lstm_forward(xp.clone(), *args, out=torch.empty(sum(sizes), units, 2)[..., 0])  # column stride 2


@pytest.mark.parametrize("projects", [False, True], ids=["projected", "projecting"])
@pytest.mark.parametrize("sizes, rows, reverse", SIZES, ids=["ragged", "full", "one_step", "empty", "reversed"])
def test_lstm_forward_without_saved_gates_gives_the_same_states(sizes, rows, reverse, projects):
    """``save_gates=False`` (inference): the tiled loop makes each block's gates in a four-row scratch
    (returned instead of the ``(S, 4U)`` gates) and gives the same outputs and cell states, bit for bit,
    with or without projecting its inputs and with a recurrent mask."""
    if not _native.tiled_available():
        pytest.skip("this CPU or build has no tiled product (it needs AVX-512)")
    units, features, g = 20, 7, torch.Generator().manual_seed(6)
    layout = _scan._Layout.of(sizes, rows, torch.device("cpu"), reverse)
    xp = torch.randn(sum(sizes), features if projects else 4 * units, generator=g)
    h0, c0 = torch.randn(rows, units, generator=g), torch.randn(rows, units, generator=g)
    kernel = torch.randn(units, 4 * units, generator=g) * 0.3
    inputs = (torch.randn(features, 4 * units, generator=g), torch.randn(4 * units, generator=g)) if projects else (None, None)
    dropout = (torch.rand(rows, units, generator=g) > 0.3).float() / 0.7
    module, ids = _native.extension(), _native.ACTIVATIONS
    args = (h0, c0, kernel, layout.sizes, layout.offsets, ids[activations.hard_sigmoid], ids[activations.tanh], False,
            *inputs, None, dropout)
    with threads(1):
        kept = module.lstm_forward(xp, *args)
        hs, cs, scratch = module.lstm_forward(xp, *args, save_gates=False)
    torch.testing.assert_close(hs, kept[0], atol=0, rtol=0)
    torch.testing.assert_close(cs, kept[1], atol=0, rtol=0)
    assert kept[2].shape == (sum(sizes), 4 * units) and scratch.shape == (4, 4 * units)


def test_a_lone_job_with_few_rows_runs_on_one_thread(monkeypatch):
    """A lone job with at most ``ONE_THREAD_ROWS`` rows per step runs forward and backward on one OpenMP thread
    (its compiled loop then takes the one-core tiled product); with more rows it keeps the caller's threads."""
    from birnn.layers.rnn import _concurrent

    threads = torch.get_num_threads()
    if _concurrent._openmp() is None or threads < 2:
        pytest.skip("needs PyTorch's OpenMP runtime and two threads")
    seen = []
    for name in ("_run_forward", "_run_backward"):
        real = getattr(_scan, name)
        monkeypatch.setattr(_scan, name, lambda *a, _real=real, _name=name, **k:
                            seen.append((_name, torch.get_num_threads())) or _real(*a, **k))
    for rows, expected in ((1, 1), (_scan.ONE_THREAD_ROWS, 1), (_scan.ONE_THREAD_ROWS + 1, threads)):
        seen.clear()
        _run_projecting("gru", [rows] * 3, rows, False, 5, True, True)
        assert seen == [("_run_forward", expected), ("_run_backward", expected)]
    assert torch.get_num_threads() == threads
