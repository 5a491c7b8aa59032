"""The fastest matrix multiply this machine offers, with autograd.

On x86 CPUs PyTorch's default BLAS (MKL) runs AMD chips at about half speed, while oneDNN's
linear primitive (``torch.ops.mkldnn._linear_pointwise``, a private op without autograd) does not
(see ``shared/notes/cpu_facts.md``: 2.3x on the input projection of a whole sequence). ``linear``
uses oneDNN when :func:`onednn_available` says the op exists and the tensors are float32 on the
CPU, and ``torch.nn.functional.linear`` otherwise; its backward uses the same engine for both
gradient products. The choice is explicit and tested both ways (``use_onednn(False)``).

Weight gradients ``x^T g`` (``transposed_matmul``) run on birnn's own tiled product (compiled with
the recurrence kernels, ``layers/rnn/_native``) where ``tiled_ok`` allows it: float32 on a CPU with
AVX-512, one ATen thread (a Bidirectional's concurrent directions), no autograd through the product.
It reads ``x`` in place and beats MKL's transposed product by ~10 % on these shapes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from types import ModuleType

import torch
from torch import Tensor

__all__ = [
    "linear",
    "linear_grads",
    "matmul",
    "matmul_add",
    "matmul_into",
    "onednn_available",
    "tiled_ok",
    "transposed_matmul",
    "use_onednn",
]

_ENABLED = True


def onednn_available() -> bool:
    """Whether this torch build has oneDNN's linear op (and oneDNN is enabled)."""
    return (
        _ENABLED
        and torch.backends.mkldnn.is_available()
        and torch.backends.mkldnn.enabled
        and hasattr(torch.ops.mkldnn, "_linear_pointwise")
    )


@contextlib.contextmanager
def use_onednn(enabled: bool) -> Iterator[None]:
    """Temporarily force (``True``) or forbid (``False``) the oneDNN path; used by tests and benchmarks."""
    global _ENABLED
    previous, _ENABLED = _ENABLED, enabled
    try:
        yield
    finally:
        _ENABLED = previous


def _onednn_ok(*tensors: Tensor) -> bool:
    return onednn_available() and all(
        t.device.type == "cpu" and t.dtype == torch.float32 and t.numel() > 0 for t in tensors
    )


def matmul(a: Tensor, b_t: Tensor, bias: Tensor | None = None) -> Tensor:
    """``a @ b_t.T (+ bias)`` for 2-D ``a`` ``(M, K)``, ``b_t`` ``(N, K)``, without autograd (kernels' inner loops).

    Example:
        >>> a, b = torch.randn(3, 4), torch.randn(5, 4)
        >>> torch.allclose(matmul(a, b), a @ b.T, atol=1e-5)
        True
    """
    if _onednn_ok(a, b_t):
        return torch.ops.mkldnn._linear_pointwise(a.contiguous(), b_t.contiguous(), bias, "none", [], "")
    return a @ b_t.t() if bias is None else torch.addmm(bias, a, b_t.t())


def matmul_add(a: Tensor, b_t: Tensor, other: Tensor) -> Tensor:
    """``a @ b_t.T + other`` in one fused call when oneDNN is available (no autograd).

    Example:
        >>> a, b, c = torch.randn(3, 4), torch.randn(5, 4), torch.randn(3, 5)
        >>> torch.allclose(matmul_add(a, b, c), a @ b.T + c, atol=1e-5)
        True
    """
    if _onednn_ok(a, b_t, other):
        return torch.ops.mkldnn._linear_pointwise.binary(a.contiguous(), other, b_t.contiguous(), None, "add")
    return torch.addmm(other, a, b_t.t())


def _tiled_module(*tensors: Tensor) -> ModuleType | None:
    """The compiled extension when its tiled product may take these operands: float32 CPU tensors with
    unit column stride, no graph to record, and the extension built, enabled, with AVX-512 and one
    ATen thread (its ``use_tiled``); ``None`` otherwise."""
    if torch.is_grad_enabled() and any(t.requires_grad for t in tensors):
        return None
    if not all(t.device.type == "cpu" and t.dtype == torch.float32 and t.dim() == 2 and t.stride(1) == 1 for t in tensors):
        return None
    from .layers.rnn import _native  # the extension lives with the recurrence kernels (imported late: a cycle)

    module = _native.extension() if _native.enabled() else None
    return module if module is not None and module.use_tiled(tensors[0]) else None


def tiled_ok(*tensors: Tensor) -> bool:
    """Whether ``transposed_matmul`` uses the compiled tiled product for these operands."""
    return _tiled_module(*tensors) is not None


def transposed_matmul(
    a: Tensor | Sequence[Sequence[Tensor]],
    b: Tensor,
    out: Tensor | None = None,
    accumulate: bool = False,
    sums: Tensor | None = None,
) -> Tensor:
    """``a.T @ b`` for ``a`` ``(S, K)`` and ``b`` ``(S, M)``, into ``out`` ``(K, M)`` when given (added to
    it with ``accumulate``); no autograd (kernels' backward passes).

    ``a`` may also be given as column blocks, each a list of row pieces stacked in order: ``[[x], [h0,
    hs[:-n]]]`` stands for ``[x | cat(h0, hs[:-n])]``. The product then reads every piece in place and
    ``b`` once (the gradient of ``[x_t | h_{t-1}] @ [W; U]`` in one pass).

    ``sums``: a contiguous ``(M,)`` tensor that receives (or, with ``accumulate``, gains) the column sums of
    ``b``, a weight gradient's bias gradient; the tiled product takes them in its pass over ``b``.

    Example:
        >>> a, b, db = torch.randn(6, 3), torch.randn(6, 5), torch.empty(5)
        >>> torch.allclose(transposed_matmul(a, b, sums=db), a.T @ b, atol=1e-5), torch.allclose(db, b.sum(0), atol=1e-5)
        (True, True)
        >>> x, h0, hs = torch.randn(6, 2), torch.randn(2, 4), torch.randn(6, 4)
        >>> joint = transposed_matmul([[x], [h0, hs[:4]]], b)
        >>> torch.allclose(joint, torch.cat([x, torch.cat([h0, hs[:4]])], 1).T @ b, atol=1e-5)
        True
    """
    blocks = [[a]] if isinstance(a, Tensor) else [list(pieces) for pieces in a]
    for pieces in blocks:
        rows = sum(piece.shape[0] for piece in pieces)
        if rows != b.shape[0]:
            raise ValueError(f"transposed_matmul: a column block's pieces hold {rows} rows, b has {b.shape[0]}")
    if out is None:
        out = b.new_empty(sum(pieces[0].shape[1] for pieces in blocks), b.shape[1])
        accumulate = False
    pieces_flat = [piece for pieces in blocks for piece in pieces]
    module = _tiled_module(b, out, *pieces_flat, *([] if sums is None else [sums.view(1, -1)]))
    if module is not None:
        module.transposed_product(blocks, b, out, accumulate, sums)
        return out
    if not accumulate:
        out.zero_()
    first = 0
    for pieces in blocks:
        rows = out[first : first + pieces[0].shape[1]]
        start = 0
        for piece in pieces:
            rows.addmm_(piece.t(), b[start : start + piece.shape[0]])
            start += piece.shape[0]
        first += pieces[0].shape[1]
    if sums is not None:
        if accumulate:
            sums.add_(b.sum(0))
        else:
            torch.sum(b, 0, out=sums)
    return out


def matmul_into(a: Tensor, b_t: Tensor, out: Tensor, accumulate: bool = False) -> Tensor:
    """``out = a @ b_t.T`` (``out += a @ b_t.T`` with ``accumulate``) for ``a`` ``(M, K)``, ``b_t`` ``(N, K)``
    and a preallocated ``out`` ``(M, N)`` (any row stride: a block of rows of a larger result); no autograd.

    On the tiled product where ``tiled_ok(a, out)`` (it packs ``b_t`` into panels itself), ``torch.mm``
    otherwise.

    Example:
        >>> a, b, out = torch.randn(4, 3), torch.randn(5, 3), torch.ones(4, 5)
        >>> torch.allclose(matmul_into(a, b, out, accumulate=True), 1 + a @ b.T, atol=1e-5)
        True
    """
    module = _tiled_module(a, out)
    if module is not None:
        module.product(a, b_t.t(), out, accumulate)
    elif accumulate:
        out.addmm_(a, b_t.t())
    else:
        torch.mm(a, b_t.t(), out=out)
    return out


class _Linear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        flat = x.reshape(-1, x.shape[-1])
        if _onednn_ok(flat, weight):
            out = torch.ops.mkldnn._linear_pointwise(flat.contiguous(), weight.contiguous(), bias, "none", [], "")
        else:
            out = torch.nn.functional.linear(flat, weight, bias)
        return out.view(*x.shape[:-1], weight.shape[0])

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, Tensor | None, Tensor | None]:  # type: ignore[override]
        x, weight = ctx.saved_tensors
        wants = (ctx.needs_input_grad[0], ctx.needs_input_grad[1], ctx.has_bias and ctx.needs_input_grad[2])
        dx, d_kernel, db = linear_grads(x, weight.t(), grad, wants)
        return dx, None if d_kernel is None else d_kernel.t(), db


def linear_grads(
    x: Tensor, kernel: Tensor, grad: Tensor, wants: tuple[bool, bool, bool]
) -> tuple[Tensor | None, Tensor | None, Tensor | None]:
    """Gradients of ``x @ kernel + bias`` given the output's ``grad``: ``(dx, d_kernel, d_bias)``, each
    computed only where ``wants`` says so (``None`` otherwise). No autograd.

    ``x`` ``(..., K)``, ``kernel`` ``(K, M)``, ``grad`` ``(..., M)``. ``d_kernel = x^T g`` reads the
    (flattened) input in place, which costs less than transposing it, and takes the bias gradient's
    column sums in the same pass over ``g``.

    Example:
        >>> x, k, g = torch.randn(4, 3), torch.randn(3, 2), torch.randn(4, 2)
        >>> dx, dk, db = linear_grads(x, k, g, (True, True, True))
        >>> torch.allclose(dx, g @ k.T, atol=1e-6), torch.allclose(dk, x.T @ g, atol=1e-6), torch.allclose(db, g.sum(0))
        (True, True, True)
    """
    g = grad.reshape(-1, grad.shape[-1])
    dx = d_kernel = db = None
    if wants[0]:
        dx = matmul(g, kernel).view(*x.shape[:-1], kernel.shape[0])
    if wants[2]:
        db = g.new_empty(g.shape[1])
    if wants[1]:
        d_kernel = transposed_matmul(x.reshape(-1, x.shape[-1]), g, sums=db)
    elif wants[2]:
        torch.sum(g, 0, out=db)
    return dx, d_kernel, db


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``x @ weight.T + bias`` like ``torch.nn.functional.linear``, on the fastest engine.

    Args:
        x: ``(..., K)``.
        weight: ``(M, K)``.
        bias: ``(M,)`` or ``None``.

    Example:
        >>> x, w, b = torch.randn(2, 3, 4), torch.randn(5, 4), torch.randn(5)
        >>> torch.allclose(linear(x, w, b), torch.nn.functional.linear(x, w, b), atol=1e-5)
        True
    """
    if torch.jit.is_tracing() or torch.compiler.is_compiling():
        return torch.nn.functional.linear(x, weight, bias)  # exporters and compilers need a standard op
    return _Linear.apply(x, weight, bias)
