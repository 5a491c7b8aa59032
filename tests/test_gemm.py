"""birnn._gemm: the oneDNN linear and its fallback agree with torch, gradients included."""

from __future__ import annotations

import pytest
import torch

from birnn import _gemm


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
