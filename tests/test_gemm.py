"""birnn._gemm: the oneDNN linear, the tiled weight-gradient product and their fallbacks agree with
torch, gradients included."""

from __future__ import annotations

import pytest
import torch

from birnn import _gemm
from birnn.layers.rnn import _native
from tests.harness import threads


@pytest.mark.parametrize("onednn", [True, False])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_matches_torch(onednn, bias):
    x = torch.randn(3, 7, 5, requires_grad=True)
    w = torch.randn(4, 5, requires_grad=True)
    b = torch.randn(4, requires_grad=True) if bias else None
    with _gemm.use_onednn(onednn):
        assert _gemm.onednn_available() == (onednn and hasattr(torch.ops.mkldnn, "_linear_pointwise"))
        out = _gemm.linear(x, w, b)
        grads = torch.autograd.grad(out.square().sum(), [x, w] + ([b] if bias else []))
    ref = torch.nn.functional.linear(x, w, b)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
    ref_grads = torch.autograd.grad(ref.square().sum(), [x, w] + ([b] if bias else []))
    for a, r in zip(grads, ref_grads):
        torch.testing.assert_close(a, r, atol=1e-4, rtol=1e-5)


def test_float64_uses_the_fallback_exactly():
    x, w = torch.randn(2, 3, dtype=torch.float64), torch.randn(4, 3, dtype=torch.float64)
    torch.testing.assert_close(_gemm.matmul(x, w), x @ w.T)



def _tiled_here() -> bool:
    return _native._toolchain_present() and _native.tiled_available()


@pytest.mark.parametrize("tiled", [True, False], ids=["tiled", "torch"])
@pytest.mark.parametrize(
    "rows, k, m", [(6400 // 16, 256, 512), (7, 5, 20), (0, 3, 4), (130, 131, 65), (129, 4, 64), (9, 0, 17)], ids=str
)
def test_transposed_matmul_matches_torch(rows, k, m, tiled):
    """Tails of rows of the result (k not a multiple of 4), of columns (m not a multiple of 64), of the
    reduction (rows not a multiple of its chunk), no rows at all, no columns of ``a`` (column sums
    alone), strided operands and a column block of the result, plain and accumulated, with and without
    the column sums of ``b``."""
    if tiled and not _tiled_here():
        pytest.skip("no tiled product here (it needs the compiled kernels and AVX-512)")
    g = torch.Generator().manual_seed(rows + k + m)
    a = torch.randn(rows, k + 3, generator=g)[:, 2 : 2 + k]  # row stride k + 3
    b = torch.randn(rows, m, generator=g)
    wide = torch.randn(k, m + 9, generator=g)
    block = wide[:, 4 : 4 + m]  # the result written into a column block of a wider tensor
    before, outside = block.clone(), (wide[:, :4].clone(), wide[:, 4 + m :].clone())
    sums, summed = torch.full((m,), float("nan")), torch.randn(m, generator=g)
    summed_before = summed.clone()
    with _native.use_tiled(tiled), threads(1):
        assert _gemm.tiled_ok(a, b, block) == tiled
        plain = _gemm.transposed_matmul(a, b)
        with_sums = _gemm.transposed_matmul(a, b, sums=sums)
        _gemm.transposed_matmul(a, b, block, accumulate=True, sums=summed)
    want = a.T @ b
    scale = max(1.0, want.abs().max().item() if want.numel() else 0.0, b.abs().sum(0).max().item() if rows else 0.0)
    torch.testing.assert_close(plain, want, atol=1e-5 * scale, rtol=0)
    torch.testing.assert_close(with_sums, want, atol=1e-5 * scale, rtol=0)
    torch.testing.assert_close(sums, b.sum(0), atol=1e-5 * scale, rtol=0)
    torch.testing.assert_close(summed, summed_before + b.sum(0), atol=1e-5 * scale, rtol=0)
    torch.testing.assert_close(block, before + want, atol=1e-5 * scale, rtol=0)
    assert torch.equal(wide[:, :4], outside[0]) and torch.equal(wide[:, 4 + m :], outside[1])


@pytest.mark.parametrize("tiled", [True, False], ids=["tiled", "torch"])
@pytest.mark.parametrize("accumulate", [False, True], ids=["written", "accumulated"])
def test_transposed_matmul_reads_column_blocks_of_row_pieces(tiled, accumulate):
    """``[[x], [h0, hs[:-n]]]``: column blocks whose widths are not multiples of the 4-row tile, row pieces
    (strided, one empty) whose boundaries fall inside the reduction's 128-row chunks, one piece crossing a
    chunk; the same as the concatenation, sums included."""
    if tiled and not _tiled_here():
        pytest.skip("no tiled product here (it needs the compiled kernels and AVX-512)")
    g = torch.Generator().manual_seed(7)
    rows, m = 300, 70
    x = torch.randn(rows, 9, generator=g)[:, 1:6]  # width 5, row stride 9
    h0, hs = torch.randn(3, 7, generator=g), torch.randn(rows, 7, generator=g)
    tail = torch.randn(rows, 2, generator=g)
    blocks = [[x], [h0, hs[: rows - 3 - 100], hs[:0], hs[-100:]], [tail[:150], tail[150:]]]
    b = torch.randn(rows, m, generator=g)
    out, sums = torch.randn(14, m, generator=g), torch.randn(m, generator=g)
    out_before, sums_before = out.clone(), sums.clone()
    with _native.use_tiled(tiled), threads(1):
        assert _gemm.tiled_ok(b, out, *(piece for pieces in blocks for piece in pieces)) == tiled
        _gemm.transposed_matmul(blocks, b, out, accumulate=accumulate, sums=sums)
    want = torch.cat([x, torch.cat([h0, hs[: rows - 103], hs[-100:]]), tail], 1).T @ b
    torch.testing.assert_close(out, want + (out_before if accumulate else 0), atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(sums, b.sum(0) + (sums_before if accumulate else 0), atol=1e-4, rtol=1e-5)


@pytest.mark.parametrize("tiled", [True, False], ids=["tiled", "torch"])
@pytest.mark.parametrize("rows, k, m", [(3200, 512, 256), (7, 5, 20), (0, 3, 4), (9, 130, 65), (5, 0, 17)], ids=str)
def test_matmul_into_writes_and_accumulates_a_block_of_rows(rows, k, m, tiled):
    """``out (+)= a @ b_t.T`` into rows of a wider, taller result (row strides of a, b_t and out that are
    not their widths), tails of rows (not a multiple of 4) and columns (not of 64), no rows, K = 0;
    nothing outside the block is touched."""
    if tiled and not _tiled_here():
        pytest.skip("no tiled product here (it needs the compiled kernels and AVX-512)")
    g = torch.Generator().manual_seed(rows + k + m)
    a = torch.randn(rows, k + 3, generator=g)[:, 1 : 1 + k]
    b_t = torch.randn(m, k + 2, generator=g)[:, :k]
    whole = torch.randn(rows + 4, m + 6, generator=g)
    block = whole[2 : 2 + rows, 3 : 3 + m]
    outside = whole.clone()
    before = block.clone()
    with _native.use_tiled(tiled), threads(1):
        assert _gemm.tiled_ok(a, block) == tiled
        _gemm.matmul_into(a, b_t, block, accumulate=True)
        accumulated = block.clone()
        _gemm.matmul_into(a, b_t, block)
    want = a @ b_t.T
    scale = max(1.0, want.abs().max().item() if want.numel() else 0.0)
    torch.testing.assert_close(accumulated, before + want, atol=1e-5 * scale, rtol=0)
    torch.testing.assert_close(block, want, atol=1e-5 * scale, rtol=0)
    outside[2 : 2 + rows, 3 : 3 + m] = block
    assert torch.equal(whole, outside)


def test_transposed_matmul_refuses_pieces_that_do_not_cover_b():
    b = torch.randn(6, 4)
    with pytest.raises(ValueError, match="pieces hold 5 rows, b has 6"):
        _gemm.transposed_matmul([[torch.randn(6, 3)], [torch.randn(2, 1), torch.randn(3, 1)]], b)


def test_transposed_matmul_is_tiled_only_where_eligible():
    """The predicate: float32, unit column strides, one ATen thread, no graph to record."""
    if not _tiled_here():
        pytest.skip("no tiled product here (it needs the compiled kernels and AVX-512)")
    a, b = torch.randn(8, 3), torch.randn(8, 5)
    with threads(1):
        assert _gemm.tiled_ok(a, b)
        assert not _gemm.tiled_ok(a.double(), b.double())
        assert not _gemm.tiled_ok(a.t().contiguous().t(), b)  # column stride 3
        assert not _gemm.tiled_ok(a.requires_grad_(), b)
        with torch.no_grad():
            assert _gemm.tiled_ok(a, b)
        with _native.use_tiled(False):
            assert not _gemm.tiled_ok(a.detach(), b)
    if torch.get_num_threads() > 1:
        assert not _gemm.tiled_ok(a.detach(), b)
