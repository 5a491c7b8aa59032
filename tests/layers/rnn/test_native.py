"""The compiled time loops (``_native``) compute what the Python loops of ``_scan`` compute."""

from __future__ import annotations

import pytest
import torch

from birnn import activations
from birnn.layers.rnn import _native, _scan

pytestmark = pytest.mark.skipif(
    not _native._toolchain_present(), reason="no C++ compiler and ninja here: the Python loops run instead"
)

ACTIVATIONS = list(_native.ACTIVATIONS)
SIZES = [([4, 4, 3, 1, 1], 4), ([3, 3], 3), ([2], 4), ([], 3)]  # holes at the end, full, one step, no steps


def test_the_extension_builds_where_a_toolchain_exists():
    assert _native.available()
    assert set(_native.ACTIVATIONS) == set(_scan.DERIVATIVES)


def _run(kind: str, fns: dict, sizes: list[int], rows: int, dtype: torch.dtype, native: bool, units: int = 5):
    gates = {"lstm": 4, "gru": 3, "simple": 1}[kind]
    g = torch.Generator().manual_seed(0)

    def make(*shape: int, scale: float = 1.0) -> torch.Tensor:
        return (torch.randn(*shape, dtype=dtype, generator=g) * scale).requires_grad_()

    xp, h0, c0 = make(sum(sizes), gates * units), make(rows, units), make(rows, units)
    kernel, bias = make(units, gates * units, scale=0.4), make(gates * units)
    tensors = {"lstm": [xp, h0, c0, kernel], "gru": [xp, h0, kernel, bias], "simple": [xp, h0, kernel]}[kind]
    with _native.use_native(native):
        outputs = _scan.scan([_scan.Job(kind, sizes, fns)], [tensors])[0]
        weights = [torch.randn(o.shape, dtype=dtype, generator=g) for o in outputs]
        grads = torch.autograd.grad(sum((o * w).sum() for o, w in zip(outputs, weights)), tensors)
    return [*outputs, *grads]


@pytest.mark.parametrize("dtype, tolerance", [(torch.float64, 1e-12), (torch.float32, 1e-5)], ids=["f64", "f32"])
@pytest.mark.parametrize("sizes, rows", SIZES, ids=["ragged", "full", "one_step", "empty"])
@pytest.mark.parametrize("kind", ["lstm", "gru", "simple"])
@pytest.mark.parametrize("activation", ACTIVATIONS, ids=lambda fn: fn.__name__)
def test_compiled_loops_match_python_loops(kind, activation, sizes, rows, dtype, tolerance):
    # every activation once as the cell's activation and once as the gates' (sigmoid or it)
    fns = {"phi": activation} if kind == "simple" else {"sigma": activation, "phi": activations.tanh}
    _assert_same(_run(kind, fns, sizes, rows, dtype, True), _run(kind, fns, sizes, rows, dtype, False), tolerance)
    if kind != "simple":
        fns = {"sigma": activations.sigmoid, "phi": activation}
        _assert_same(_run(kind, fns, sizes, rows, dtype, True), _run(kind, fns, sizes, rows, dtype, False), tolerance)


def _assert_same(got: list[torch.Tensor], want: list[torch.Tensor], tolerance: float) -> None:
    """Equal up to ``tolerance`` relative to each tensor's scale (linear gates grow values past 1)."""
    for a, b in zip(got, want):
        scale = max(1.0, b.abs().max().item()) if b.numel() else 1.0
        torch.testing.assert_close(a, b, atol=tolerance * scale, rtol=0)


def test_large_units_use_the_vectorised_tails():
    """Units that are not a multiple of the vector width (here 131) exercise the loops' remainders."""
    fns = {"sigma": activations.sigmoid, "phi": activations.tanh}
    _assert_same(_run("lstm", fns, [6, 5, 5], 6, torch.float32, True, units=131),
                 _run("lstm", fns, [6, 5, 5], 6, torch.float32, False, units=131), 1e-5)


def test_use_native_restores_the_previous_setting():
    before = _native.enabled()
    with _native.use_native(False):
        assert not _native.enabled()
        with _native.use_native(True):
            assert _native.enabled() == _native.available()
        assert not _native.enabled()
    assert _native.enabled() == before
