"""Sequence-level kernels: the whole recurrence as one autograd function per cell type.

Autograd over a step loop records ~10 tiny operations per time step and replays them one by one
backwards. These functions instead run the recurrence over *packed* sequences (``_packing``): step
``t`` is the contiguous block of the ``n_t`` rows still running (``n_t`` non-increasing), so the
state entering step ``t`` is simply the first ``n_t`` rows of step ``t-1``'s block and no state is
ever copied. They save the activated gates and run back-propagation through time by hand: per step
only the recurrent matrix multiply (fused with its addend) and a few element-wise products;
everything independent of the step order (activation derivatives, weight gradients) is done once for
the whole sequence in large operations on the fastest GEMM engine (``_gemm``). The input projection
stays outside (one ``_gemm.linear`` over all packed steps), so its gradients are also two large
multiplies.

Each time loop has two engines with identical results: the compiled loops of ``_native`` (CPU,
where a C++ toolchain exists) and the Python loops below (any device, and the reference the
compiled ones are tested against).

Activations are arbitrary as long as their derivative can be written from their output
(:data:`DERIVATIVES`): Keras's ``tanh``, ``sigmoid``, ``relu``, ``linear``, ``hard_sigmoid`` (both
versions) and ``softsign``.

Shapes: ``S`` packed rows (sum of ``batch_sizes``), ``N`` batch, ``U`` units; states are sorted
like the packed rows (longest sequence first).
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

import torch
from torch import Tensor

from ... import _gemm, activations
from ..._autograd import keeps_graph
from . import _native
from ._concurrent import in_parallel, one_thread
from ._packing import every_row_runs

__all__ = ["DERIVATIVES", "Job", "scan", "lstm_scan", "gru_scan", "simple_scan"]

Activation = Callable[[Tensor], Tensor]


def _in_unit_interval(y: Tensor) -> Tensor:
    return ((y > 0) & (y < 1)).to(y.dtype)


DERIVATIVES: dict[Callable[..., Tensor], Callable[[Tensor], Tensor]] = {
    activations.tanh: lambda y: 1 - y * y,
    activations.sigmoid: lambda y: y * (1 - y),
    activations.relu: lambda y: (y > 0).to(y.dtype),
    activations.linear: lambda y: torch.ones_like(y),
    activations.hard_sigmoid: lambda y: _in_unit_interval(y) / 6,
    activations.legacy_hard_sigmoid: lambda y: _in_unit_interval(y) * 0.2,
    activations.softsign: lambda y: (1 - y.abs()) ** 2,
}
"""Derivative of each supported activation as a function of its *output*."""

_IN_PLACE: dict[Callable[..., Tensor], Callable[..., Tensor]] = {
    activations.tanh: torch.tanh,
    activations.sigmoid: torch.sigmoid,
    activations.relu: lambda x, out: torch.clamp_min(x, 0.0, out=out),
}


def _activate(fn: Activation, x: Tensor, out: Tensor) -> Tensor:
    """``out[...] = fn(x)``, without a temporary for the common activations."""
    fast = _IN_PLACE.get(fn)
    if fast is not None:
        return fast(x, out=out)
    return out.copy_(fn(x))


@dataclass(frozen=True)
class _Layout:
    """Where each step's block of packed rows lives, and each row's previous and last steps.

    ``offsets[t]`` is the first packed row of processing step ``t`` (``sizes[t]`` rows). Blocks
    follow one another in processing order, or (``reverse``, every block full) run from the last
    block to the first: an unmasked ``go_backwards`` layer reads its time-major input in place.
    """

    sizes: list[int]
    offsets: list[int]
    reverse: bool
    previous: Tensor  # (S,) packed row of the step before, or S + row for the initial state
    last: Tensor  # (N,) packed row of each row's last step, or S + row for an empty row
    row: Tensor  # (S,) each packed row's row of the (sorted) batch: its place within its step's block

    @staticmethod
    def of(batch_sizes: list[int], rows: int, device: torch.device, reverse: bool = False) -> _Layout:
        """The layout of these step sizes; the same object (its index tensors read, never written) for the
        same arguments while it is among the ``_LAYOUTS`` most recent, so a training loop over batches of one
        shape builds it once instead of on every call of every layer."""
        return _layout(tuple(batch_sizes), rows, device, reverse)

    @staticmethod
    def _build(sizes: list[int], rows: int, device: torch.device, reverse: bool) -> _Layout:
        total = sum(sizes)
        if reverse and any(n != rows for n in sizes):
            raise ValueError(f"reversed blocks need every step to hold all {rows} rows, got batch_sizes={sizes}")
        if reverse:
            offsets = [total - (t + 1) * rows for t in range(len(sizes))]
        else:
            offsets = [0, *itertools.accumulate(sizes)][: len(sizes)]
        size_t = torch.tensor(sizes, dtype=torch.long)
        offset_t = torch.tensor(offsets, dtype=torch.long)
        step = torch.repeat_interleave(torch.arange(len(sizes)), size_t)  # processing step of each packed row
        within = torch.arange(total) - torch.repeat_interleave(size_t.cumsum(0) - size_t, size_t)
        before = torch.where(step > 0, offset_t[(step - 1).clamp(min=0)] + within, total + within)
        previous, row_of = torch.empty(total, dtype=torch.long), torch.empty(total, dtype=torch.long)
        previous[offset_t[step] + within] = before
        row_of[offset_t[step] + within] = within
        row = torch.arange(rows)
        lengths = (size_t.unsqueeze(0) > row.unsqueeze(1)).sum(1)
        first_row_of = torch.cat([offset_t, offset_t.new_zeros(1)])  # padded: no steps at all is allowed
        last = torch.where(lengths > 0, first_row_of[(lengths - 1).clamp(min=0)] + row, total + row)
        return _Layout(sizes, offsets, reverse, previous.to(device), last.to(device), row_of.to(device))

    @property
    def steps(self) -> list[tuple[int, slice]]:
        """``(n_t, rows of step t)`` in processing order."""
        return [(n, slice(o, o + n)) for n, o in zip(self.sizes, self.offsets)]

    @property
    def full(self) -> bool:
        """Every step holds every row (no mask): each block's previous states are one whole block away."""
        rows = self.last.shape[0]
        return rows > 0 and bool(self.sizes) and all(n == rows for n in self.sizes)

    def final(self, packed: Tensor, initial: Tensor) -> Tensor:
        """``(N, U)``: each row's value at its last step, or its initial value if it has no steps."""
        if every_row_runs(self.sizes, self.last.shape[0]):  # no concatenation with the initial ones needed
            return packed.index_select(0, self.last)
        return torch.cat([packed, initial]).index_select(0, self.last)

    def previous_states(self, packed: Tensor, initial: Tensor) -> Tensor:
        """``(S, U)``: the state entering each packed row's step (one copy, no concatenation)."""
        previous = packed.index_select(0, self.previous.clamp(max=max(packed.shape[0] - 1, 0)))
        if self.sizes:  # the first block's rows start from the initial states
            n0, start = self.sizes[0], self.offsets[0]
            previous[start : start + n0] = initial[:n0]
        return previous

    def with_final(self, grad: Tensor | None, final_grad: Tensor | None, rows: int) -> Tensor:
        """Per-packed-row upstream gradient plus the final-state gradient at each row's last step.

        Returns ``(S + N, U)``: rows ``S + b`` hold the final-state gradient of empty rows.
        """
        total = grad.new_zeros(grad.shape[0] + rows, grad.shape[1]) if grad is not None else None
        if total is None:
            total = final_grad.new_zeros(self.previous.shape[0] + rows, final_grad.shape[1])
        else:
            total[: grad.shape[0]] = grad
        if final_grad is not None:
            total.index_add_(0, self.last, final_grad)
        return total


_LAYOUTS = 64
"""How many recently used layouts ``_Layout.of`` keeps."""


@functools.lru_cache(maxsize=_LAYOUTS)
def _layout(sizes: tuple[int, ...], rows: int, device: torch.device, reverse: bool) -> _Layout:
    return _Layout._build(list(sizes), rows, device, reverse)


def _dropped(h: Tensor, dropout: Tensor | None) -> Tensor:
    """``h`` ``(n, U)`` times the first ``n`` rows of the recurrent dropout mask (``h`` itself without one)."""
    return h if dropout is None else h * dropout[: h.shape[0]]


def _recurrent_grad(dz_next: Tensor | None, kernel: Tensor, upstream: Tensor, carry: Tensor | None = None,
                    dropout: Tensor | None = None) -> Tensor:
    """``upstream`` plus ``dz_next @ kernel.T`` (times the recurrent dropout mask, if any) and ``carry`` on its
    first ``len(dz_next)`` rows."""
    if dz_next is None:
        return upstream if carry is None else upstream + carry
    n_next = dz_next.shape[0]
    if dropout is not None:
        out = upstream.clone()
        out[:n_next] += _dropped(_gemm.matmul(dz_next, kernel), dropout) + (0 if carry is None else carry)
        return out
    if n_next == upstream.shape[0]:
        addend = upstream if carry is None else upstream + carry
        return _gemm.matmul_add(dz_next, kernel, addend)
    out = upstream.clone()
    out[:n_next] = _gemm.matmul_add(dz_next, kernel, upstream[:n_next] if carry is None else upstream[:n_next] + carry)
    return out


def _compiled(*tensors: Tensor | None) -> ModuleType | None:
    """The compiled loops (``_native``) when they are enabled and every tensor is on the CPU."""
    if all(t is None or t.device.type == "cpu" for t in tensors) and _native.available():
        return _native.extension()
    return None


def _dense(t: Tensor | None, like: Tensor) -> Tensor:
    return torch.zeros_like(like) if t is None else t.contiguous()


def _rows(t: Tensor | None) -> Tensor | None:
    """An outputs' gradient as the compiled loops read it: absent, or rows of unit column stride."""
    return t if t is None or t.stride(-1) == 1 else t.contiguous()


def _previous_pieces(layout: _Layout, hs: Tensor, h0: Tensor, dropout: Tensor | None = None) -> list[Tensor]:
    """Every packed row's previous state, ``(S, U)``, as row pieces stacked in order (``_gemm.transposed_matmul``
    reads them in place): without a mask, the initial states for the first block and ``hs`` shifted by one
    block for the rest; otherwise one gathered copy. ``dropout``: the recurrent dropout mask ``(N, U)``, by
    which the states are multiplied where the recurrent product reads them (one copy)."""
    if dropout is not None:
        return [layout.previous_states(hs, h0) * dropout.index_select(0, layout.row)]
    if not layout.full:
        return [layout.previous_states(hs, h0)]
    n, total = layout.sizes[0], hs.shape[0]
    return [hs[n:], h0[:n]] if layout.reverse else [h0[:n], hs[: total - n]]


def _weight_grad(layout: _Layout, hs: Tensor, h0: Tensor, *d_pre: Tensor, sums: Tensor | None = None,
                 inputs: Tensor | None = None, dropout: Tensor | None = None) -> Tensor:
    """Gradient of the recurrent kernel: every step's previous state times its pre-activation gradient.

    ``d_pre``: the pre-activation gradient ``(S, G)``, possibly as column blocks (concatenated in the
    result, written in place). ``sums``: a ``(G,)`` tensor that receives the column sums of ``d_pre`` (a
    bias's gradient), taken in the same passes. ``inputs`` ``(S, F)`` (one ``d_pre`` block only): the
    packed inputs whose kernel gradient ``inputs^T d_pre`` is taken in the same pass over ``d_pre``;
    the result is then ``(F + U, G)``, the input kernel's gradient first. ``dropout``: see ``_previous_pieces``.
    """
    previous = _previous_pieces(layout, hs, h0, dropout)
    if inputs is not None:
        if len(d_pre) != 1:
            raise ValueError(f"one pre-activation gradient goes with the inputs, got {len(d_pre)}")
        return _gemm.transposed_matmul([[inputs], previous], d_pre[0], sums=sums)
    widths = [d.shape[1] for d in d_pre]
    out = hs.new_empty(hs.shape[1], sum(widths))
    sum_blocks = [None] * len(d_pre) if sums is None else sums.split(widths)
    for d, block, block_sums in zip(d_pre, out.split(widths, dim=1), sum_blocks):
        _gemm.transposed_matmul([previous], d, block, sums=block_sums)
    return out


def _lstm_forward(xp, h0, c0, kernel, *, layout, sigma, phi, owned, input_kernel=None, bias=None, out=None,
                  dropout=None, saves=True):
    """``input_kernel``, ``bias``: ``xp`` is the packed inputs, projected inside the compiled loop
    (only where ``_projects_in_loop`` allows it). ``out``: an ``(S, U)`` block (unit column stride) that
    receives ``hs``, which is then that block. ``dropout``: the recurrent dropout mask ``(N, U)`` (rows in
    packed order) that multiplies every previous state the recurrent product reads (the other kinds take it
    too). ``saves=False``: no backward pass follows, so the compiled loop keeps no ``(S, 4U)`` gates (each
    block of rows makes its gates in a scratch that stays in cache; inference)."""
    n_rows, u = h0.shape
    native = _compiled(xp, h0, c0, kernel)
    if native is not None:
        ids = _native.ACTIVATIONS
        hs, cs, gates = native.lstm_forward(xp.contiguous(), h0.contiguous(), c0.contiguous(), kernel.contiguous(),
                                            layout.sizes, layout.offsets, ids[sigma], ids[phi], owned,
                                            None if input_kernel is None else input_kernel.contiguous(),
                                            None if bias is None else bias.contiguous(), out, dropout, saves)
        outputs = (hs, layout.final(hs, h0), layout.final(cs, c0))
        return outputs, (native, layout, h0, c0, kernel, hs, cs, None, gates, dropout)
    kernel_t = kernel.t().contiguous()
    total = xp.shape[0]
    gates = torch.empty_like(xp)
    cs, tcs = xp.new_empty(total, u), xp.new_empty(total, u)
    hs = xp.new_empty(total, u) if out is None else out
    h_prev, c_prev = h0, c0
    for n, s in layout.steps:
        z = _gemm.matmul_add(_dropped(h_prev[:n], dropout), kernel_t, xp[s])
        g = gates[s]
        _activate(sigma, z, g)
        _activate(phi, z[:, 2 * u : 3 * u], g[:, 2 * u : 3 * u])
        c = torch.mul(g[:, u : 2 * u], c_prev[:n], out=cs[s]).addcmul_(g[:, :u], g[:, 2 * u : 3 * u])
        torch.mul(g[:, 3 * u :], _activate(phi, c, tcs[s]), out=hs[s])
        h_prev, c_prev = hs[s], cs[s]
    outputs = (hs, layout.final(hs, h0), layout.final(cs, c0))
    return outputs, (None, layout, h0, c0, kernel, hs, cs, tcs, gates, dropout)


def _lstm_backward(saved, d_hs, d_h, d_c, *, sigma, phi, last_use, inputs=None, sums=None, **_):
    """``inputs``, ``sums``: see ``_weight_grad`` (the kernel gradient then covers the input kernel too)."""
    native, layout, h0, c0, kernel, hs, cs, tcs, gates, dropout = saved
    if native is not None:
        ids = _native.ACTIVATIONS
        args = (_rows(d_hs), _dense(d_h, h0), _dense(d_c, c0), c0.contiguous(), kernel.contiguous(), cs, gates,
                layout.sizes, layout.offsets, ids[sigma], ids[phi], last_use)
        blocks = [*([[inputs]] if inputs is not None else []), _previous_pieces(layout, hs, h0, dropout)]
        if _gemm.tiled_ok(gates, *(piece for block in blocks for piece in block)):
            # the loop takes the kernels' gradient along, two steps' rows at a time while they are in cache
            kernels = gates.new_empty(sum(block[0].shape[1] for block in blocks), gates.shape[1])
            dz, d_h0, d_c0 = native.lstm_backward(*args, recurrent_mask=dropout, weight_pieces=blocks,
                                                  weight_grad=kernels, bias_grad=sums)
            return dz, d_h0, d_c0, kernels
        dz, d_h0, d_c0 = native.lstm_backward(*args, recurrent_mask=dropout)
        return dz, d_h0, d_c0, _gemm.transposed_matmul(blocks, dz, sums=sums)  # the pieces made above
    d_sigma, d_phi = DERIVATIVES[sigma], DERIVATIVES[phi]
    n_rows, u = h0.shape
    d_h, d_c = _dense(d_h, h0), _dense(d_c, c0)
    i, f, g, o = gates.split(u, dim=1)
    p_o = tcs * d_sigma(o)
    p_c = o * d_phi(tcs)
    c_prev = layout.previous_states(cs, c0)
    p_ifg = torch.stack([g * d_sigma(i), c_prev * d_sigma(f), i * d_phi(g)], dim=1)
    up_h = layout.with_final(d_hs, d_h, n_rows)
    up_c = layout.with_final(None, d_c, n_rows)
    dz = torch.empty_like(gates)
    dz_next = dc_carry = None
    for n, s in reversed(layout.steps):
        dh = _recurrent_grad(dz_next, kernel, up_h[s], dropout=dropout)
        torch.mul(dh, p_o[s], out=dz[s, 3 * u :])
        dc = torch.addcmul(up_c[s], dh, p_c[s])
        if dc_carry is not None:
            dc[: dc_carry.shape[0]] += dc_carry
        torch.mul(dc.unsqueeze(1), p_ifg[s], out=dz[s, : 3 * u].view(n, 3, u))
        dc_carry = dc * f[s]
        dz_next = dz[s]
    total = hs.shape[0]
    d_h0, d_c0 = up_h[total:].clone(), up_c[total:].clone()
    if dz_next is not None:
        n0 = dz_next.shape[0]
        d_h0[:n0] += _dropped(_gemm.matmul(dz_next, kernel), dropout)
        d_c0[:n0] += dc_carry
    return dz, d_h0, d_c0, _weight_grad(layout, hs, h0, dz, inputs=inputs, sums=sums, dropout=dropout)


def _gru_forward(xp, h0, kernel, bias, *, layout, sigma, phi, owned, dropout=None):
    """``reset_after=True`` GRU; ``bias`` is the recurrent bias row (or ``None``)."""
    n_rows, u = h0.shape
    native = _compiled(xp, h0, kernel, bias)
    if native is not None:
        ids = _native.ACTIVATIONS
        hs, gates, hu_h = native.gru_forward(xp.contiguous(), h0.contiguous(), kernel.contiguous(),
                                             None if bias is None else bias.contiguous(), layout.sizes, layout.offsets,
                                             ids[sigma], ids[phi], owned, recurrent_mask=dropout)
        # the compiled loops keep z, r and the candidate in one (S, 3U) buffer (in the zr slot)
        return (hs, layout.final(hs, h0)), (native, layout, h0, kernel, bias is not None, hs, gates, None, hu_h, dropout)
    kernel_t = kernel.t().contiguous()
    total = xp.shape[0]
    zr = xp.new_empty(total, 2 * u)
    hs, cand, hu_h = (xp.new_empty(total, u) for _ in range(3))
    h_prev = h0
    for n, s in layout.steps:
        hu = _gemm.matmul(_dropped(h_prev[:n], dropout), kernel_t, bias)
        gates = _activate(sigma, torch.add(xp[s, : 2 * u], hu[:, : 2 * u], out=zr[s]), zr[s])
        hu_h[s] = hu[:, 2 * u :]
        c = _activate(phi, torch.addcmul(xp[s, 2 * u :], gates[:, u:], hu_h[s]), cand[s])
        torch.addcmul(c, gates[:, :u], h_prev[:n] - c, out=hs[s])
        h_prev = hs[s]
    return (hs, layout.final(hs, h0)), (None, layout, h0, kernel, bias is not None, hs, zr, cand, hu_h, dropout)


def _gru_backward(saved, d_hs, d_h, *, sigma, phi, last_use, **_):
    native, layout, h0, kernel, has_bias, hs, zr, cand, hu_h, dropout = saved
    if native is not None:
        ids = _native.ACTIVATIONS
        d_xp, d_hh, d_h0 = native.gru_backward(_rows(d_hs), _dense(d_h, h0), h0.contiguous(), kernel.contiguous(),
                                               hs, zr, hu_h, layout.sizes, layout.offsets, ids[sigma], ids[phi], last_use,
                                               recurrent_mask=dropout)
        d_zr = d_xp[:, : 2 * h0.shape[1]]  # with d_hh: the gradient of the recurrent pre-activations
        bias_grad = d_xp.new_empty(d_xp.shape[1]) if has_bias else None
        return d_xp, d_h0, _weight_grad(layout, hs, h0, d_zr, d_hh, sums=bias_grad, dropout=dropout), bias_grad
    d_sigma, d_phi = DERIVATIVES[sigma], DERIVATIVES[phi]
    n_rows, u = h0.shape
    d_h = _dense(d_h, h0)
    z, r = zr[:, :u], zr[:, u:]
    previous = layout.previous_states(hs, h0)
    p_z = (previous - cand) * d_sigma(z)
    p_a = (1 - z) * d_phi(cand)
    p_r = hu_h * d_sigma(r)
    up_h = layout.with_final(d_hs, d_h, n_rows)
    total = hs.shape[0]
    d_hu = hs.new_empty(total, 3 * u)
    d_a = torch.empty_like(hs)
    d_next = carry = None
    for _, s in reversed(layout.steps):
        dh = _recurrent_grad(d_next, kernel, up_h[s], carry, dropout)
        torch.mul(dh, p_z[s], out=d_hu[s, :u])
        da = torch.mul(dh, p_a[s], out=d_a[s])
        torch.mul(da, p_r[s], out=d_hu[s, u : 2 * u])
        torch.mul(da, r[s], out=d_hu[s, 2 * u :])
        carry = dh * z[s]
        d_next = d_hu[s]
    d_h0 = up_h[total:].clone()
    if d_next is not None:
        d_h0[: d_next.shape[0]] += _dropped(_gemm.matmul(d_next, kernel), dropout) + carry
    d_xp = torch.cat([d_hu[:, : 2 * u], d_a], dim=1)
    bias_grad = d_hu.new_empty(d_hu.shape[1]) if has_bias else None
    return d_xp, d_h0, _weight_grad(layout, hs, h0, d_hu, sums=bias_grad, dropout=dropout), bias_grad


def _gru_before_forward(xp, h0, kernel, *, layout, sigma, phi, owned, dropout=None):
    """``reset_after=False`` GRU (the reset gate scales the state before the candidate's recurrent multiply).

    Saves the activated gates ``[z | r | candidate]`` ``(S, 3U)`` and ``r * h_prev`` ``(S, U)``, the
    candidate's recurrent input, whose product with the candidate's gradient is that block's kernel gradient.
    """
    u = h0.shape[1]
    native = _compiled(xp, h0, kernel)
    if native is not None:
        ids = _native.ACTIVATIONS
        hs, gates, reset_h = native.gru_before_forward(xp.contiguous(), h0.contiguous(), kernel.contiguous(),
                                                       layout.sizes, layout.offsets, ids[sigma], ids[phi], owned,
                                                       recurrent_mask=dropout)
        return (hs, layout.final(hs, h0)), (native, layout, h0, kernel, hs, gates, reset_h, dropout)
    gates_kernel_t, candidate_kernel_t = (k.t().contiguous() for k in kernel.split([2 * u, u], dim=1))
    total = xp.shape[0]
    gates, hs, reset_h = xp.new_empty(total, 3 * u), xp.new_empty(total, u), xp.new_empty(total, u)
    h_prev = h0
    for n, s in layout.steps:
        previous = h_prev[:n]
        read = _dropped(previous, dropout)  # the state as the products read it
        zr = _activate(sigma, _gemm.matmul_add(read, gates_kernel_t, xp[s, : 2 * u]), gates[s, : 2 * u])
        torch.mul(zr[:, u:], read, out=reset_h[s])
        candidate = _activate(phi, _gemm.matmul_add(reset_h[s], candidate_kernel_t, xp[s, 2 * u :]), gates[s, 2 * u :])
        torch.addcmul(candidate, zr[:, :u], previous - candidate, out=hs[s])
        h_prev = hs[s]
    return (hs, layout.final(hs, h0)), (None, layout, h0, kernel, hs, gates, reset_h, dropout)


def _gru_before_backward(saved, d_hs, d_h, *, sigma, phi, last_use, **_):
    native, layout, h0, kernel, hs, gates, reset_h, dropout = saved
    n_rows, u = h0.shape
    if native is not None:
        ids = _native.ACTIVATIONS
        d_xp, d_h0 = native.gru_before_backward(_rows(d_hs), _dense(d_h, h0), h0.contiguous(), kernel.contiguous(),
                                                hs, gates, layout.sizes, layout.offsets, ids[sigma], ids[phi],
                                                last_use, recurrent_mask=dropout)
        return d_xp, d_h0, _gru_before_kernel_grad(layout, hs, h0, reset_h, d_xp, dropout)
    d_sigma, d_phi = DERIVATIVES[sigma], DERIVATIVES[phi]
    gates_kernel, candidate_kernel = kernel.split([2 * u, u], dim=1)
    z, r, candidate = gates.split(u, dim=1)
    previous = layout.previous_states(hs, h0)
    p_z = (previous - candidate) * d_sigma(z)
    p_a = (1 - z) * d_phi(candidate)
    p_r = (previous if dropout is None else previous * dropout.index_select(0, layout.row)) * d_sigma(r)
    up_h = layout.with_final(d_hs, _dense(d_h, h0), n_rows)
    total = hs.shape[0]
    d_xp = hs.new_empty(total, 3 * u)
    d_next = carry = None
    for _, s in reversed(layout.steps):
        dh = _recurrent_grad(d_next, gates_kernel, up_h[s], carry, dropout)
        d_a = torch.mul(dh, p_a[s], out=d_xp[s, 2 * u :])
        d_reset_h = _gemm.matmul(d_a, candidate_kernel)
        torch.mul(dh, p_z[s], out=d_xp[s, :u])
        torch.mul(d_reset_h, p_r[s], out=d_xp[s, u : 2 * u])
        carry = dh * z[s] + _dropped(d_reset_h * r[s], dropout)
        d_next = d_xp[s, : 2 * u]
    d_h0 = up_h[total:].clone()
    if d_next is not None:
        d_h0[: d_next.shape[0]] += _dropped(_gemm.matmul(d_next, gates_kernel), dropout) + carry
    return d_xp, d_h0, _gru_before_kernel_grad(layout, hs, h0, reset_h, d_xp, dropout)


def _gru_before_kernel_grad(layout: _Layout, hs: Tensor, h0: Tensor, reset_h: Tensor, d_xp: Tensor,
                            dropout: Tensor | None) -> Tensor:
    """``(U, 3U)``: the z and r columns from every step's previous state, the candidate's from ``r * h_prev``
    (both as the products read them, times the recurrent dropout mask if any)."""
    u = h0.shape[1]
    out = hs.new_empty(u, 3 * u)
    _gemm.transposed_matmul([_previous_pieces(layout, hs, h0, dropout)], d_xp[:, : 2 * u], out[:, : 2 * u])
    _gemm.transposed_matmul(reset_h, d_xp[:, 2 * u :], out[:, 2 * u :])
    return out


def _simple_forward(xp, h0, kernel, *, layout, phi, owned, dropout=None):
    native = _compiled(xp, h0, kernel)
    if native is not None:
        hs = native.simple_forward(xp.contiguous(), h0.contiguous(), kernel.contiguous(), layout.sizes, layout.offsets,
                                   _native.ACTIVATIONS[phi], recurrent_mask=dropout)
        return (hs, layout.final(hs, h0)), (native, layout, h0, kernel, hs, dropout)
    kernel_t = kernel.t().contiguous()
    hs = torch.empty_like(xp)
    h_prev = h0
    for n, s in layout.steps:
        h_prev = _activate(phi, _gemm.matmul_add(_dropped(h_prev[:n], dropout), kernel_t, xp[s]), hs[s])
    return (hs, layout.final(hs, h0)), (None, layout, h0, kernel, hs, dropout)


def _simple_backward(saved, d_hs, d_h, *, phi, inputs=None, sums=None, **_):
    """``inputs``, ``sums``: see ``_weight_grad``."""
    native, layout, h0, kernel, hs, dropout = saved
    if native is not None:
        d_a, d_h0 = native.simple_backward(_rows(d_hs), _dense(d_h, h0), kernel.contiguous(), hs, layout.sizes,
                                           layout.offsets, _native.ACTIVATIONS[phi], recurrent_mask=dropout)
        return d_a, d_h0, _weight_grad(layout, hs, h0, d_a, inputs=inputs, sums=sums, dropout=dropout)
    p = DERIVATIVES[phi](hs)
    up_h = layout.with_final(d_hs, _dense(d_h, h0), h0.shape[0])
    d_a = torch.empty_like(hs)
    d_next = None
    for _, s in reversed(layout.steps):
        d_next = torch.mul(_recurrent_grad(d_next, kernel, up_h[s], dropout=dropout), p[s], out=d_a[s])
    total = hs.shape[0]
    d_h0 = up_h[total:].clone()
    if d_next is not None:
        d_h0[: d_next.shape[0]] += _dropped(_gemm.matmul(d_next, kernel), dropout)
    return d_a, d_h0, _weight_grad(layout, hs, h0, d_a, inputs=inputs, sums=sums, dropout=dropout)


@dataclass(frozen=True)
class Job:
    """One direction's recurrence: its cell kind, packed step sizes and activations.

    Tensor inputs, in order: ``lstm``: ``xp, h0, c0, kernel``; ``gru`` (reset after the recurrent
    multiply): ``xp, h0, kernel, bias`` (the recurrent bias row, or ``None``); ``gru_before`` (reset
    before it, Keras's ``reset_after=False``, whose only bias is the inputs'): ``xp, h0, kernel``;
    ``simple``: ``xp, h0, kernel``. Outputs: ``hs`` and the final
    states (``h``, and ``c`` for LSTM). ``reverse``: run the (full) blocks from the last to the
    first (see ``_Layout``). ``owned``: ``xp`` was made for this call alone (an input projection no one
    else reads), so the kernel may overwrite it (the LSTM turns it into its gates in place).
    ``projects``: the first tensor is the packed inputs ``x`` ``(S, F)`` and two more follow the
    kind's: the input kernel ``(F, G)`` and its bias (or ``None``); the job projects the inputs itself
    (inside the compiled LSTM loop where ``_projects_in_loop`` allows, one matrix multiply otherwise)
    and returns their gradients too. ``dropout``: one more tensor comes last, the recurrent dropout mask
    ``(N, U)`` (rows in packed order, no gradient), by which every previous state is multiplied where the
    recurrent product reads it (Keras's ``recurrent_dropout``: one mask for all steps of a call).
    """

    kind: str
    batch_sizes: list[int]
    activations: dict[str, Activation]
    reverse: bool = False
    owned: bool = False
    projects: bool = False
    dropout: bool = False

    def layout(self, h0: Tensor) -> _Layout:
        return _Layout.of(self.batch_sizes, h0.shape[0], h0.device, self.reverse)

    @property
    def arity(self) -> int:
        return {"lstm": 4, "gru": 4, "gru_before": 3, "simple": 3}[self.kind] + 2 * self.projects + self.dropout

    @property
    def outputs(self) -> int:
        return 3 if self.kind == "lstm" else 2


_FORWARD = {"lstm": _lstm_forward, "gru": _gru_forward, "gru_before": _gru_before_forward, "simple": _simple_forward}
_BACKWARD = {"lstm": _lstm_backward, "gru": _gru_backward, "gru_before": _gru_before_backward,
             "simple": _simple_backward}


def _split(items: tuple, sizes: list[int]) -> list[tuple]:
    out, start = [], 0
    for size in sizes:
        out.append(tuple(items[start : start + size]))
        start += size
    return out


def _projects_in_loop(job: Job, x: Tensor) -> bool:
    """The compiled LSTM loop projects the inputs step by step inside its tiled product (``_native``'s
    ``use_tiled``: float32, AVX-512, one ATen thread), saving the whole-sequence projection's buffer and
    the pass that reads it back."""
    native = _compiled(x)
    return job.kind == "lstm" and native is not None and native.use_tiled(x)


def _run_forward(job: Job, group: tuple, out: Tensor | None = None, saves: bool = True
                 ) -> tuple[tuple[Tensor, ...], tuple]:
    """The job's outputs and what its backward pass needs. ``out``: an ``(S, U)`` block that receives ``hs``
    (the LSTM writes there directly; the others' ``hs`` is copied in, their saved one stays contiguous).
    ``saves=False``: no backward pass follows (the LSTM then keeps no gates)."""
    if job.dropout:
        *group, mask = group
        kwargs = {"layout": job.layout(group[1]), "dropout": mask, **job.activations}
    else:
        kwargs = {"layout": job.layout(group[1]), **job.activations}
    direct = {}  # the LSTM writes hs into ``out`` itself and can skip keeping its gates
    if job.kind == "lstm":
        direct = {"saves": saves} if out is None else {"out": out, "saves": saves}
    if not job.projects:
        outputs, saved = _FORWARD[job.kind](*group, owned=job.owned, **direct, **kwargs)
    else:
        x, *core, input_kernel, bias = group
        if _projects_in_loop(job, x):
            outputs, saved = _lstm_forward(x, *core, owned=False, input_kernel=input_kernel, bias=bias, **direct,
                                           **kwargs)
        else:
            xp = _gemm.matmul(x, input_kernel.t(), bias)
            outputs, saved = _FORWARD[job.kind](xp, *core, owned=True, **direct, **kwargs)
        saved = (saved, x, input_kernel)
    if out is not None and not direct:
        outputs = (out.copy_(outputs[0]), *outputs[1:])
    return outputs, saved


_JOINT_KERNEL_GRADS = frozenset({"lstm", "simple"})
"""Kinds whose input projection and recurrent product share one pre-activation gradient: both kernels'
gradients come from one pass over it (``_weight_grad``'s ``inputs``)."""


def _run_backward(job: Job, saved: tuple, grads: tuple, wants: tuple[bool, ...], last_use: bool,
                  input_grad: bool = True) -> tuple[tuple, tuple[Tensor, Tensor] | None]:
    """The job's input gradients, and (for a projecting job) its pre-activation gradient with the input
    kernel. ``input_grad=False``: the packed inputs' gradient is left to the caller (``_summed_input_grad``)."""
    if job.dropout:  # the mask, the job's last tensor, has no gradient (the saved activations hold it)
        job_grads, pre = _run_backward(dataclasses.replace(job, dropout=False), saved, grads, wants[:-1], last_use,
                                       input_grad)
        return (*job_grads, None), pre
    if not job.projects:
        return _BACKWARD[job.kind](saved, *grads, last_use=last_use, **job.activations), None
    inner, x, input_kernel = saved
    want_dx = wants[0] and input_grad
    if job.kind in _JOINT_KERNEL_GRADS and wants[-2]:
        flat = x.reshape(-1, x.shape[-1])
        d_bias = flat.new_empty(input_kernel.shape[1]) if wants[-1] else None
        d_xp, *states, kernels = _BACKWARD[job.kind](inner, *grads, last_use=last_use, inputs=flat, sums=d_bias,
                                                     **job.activations)
        dx = _gemm.linear_grads(x, input_kernel, d_xp, (want_dx, False, False))[0]
        return (dx, *states, kernels[flat.shape[1] :], kernels[: flat.shape[1]], d_bias), (d_xp, input_kernel)
    d_xp, *rest = _BACKWARD[job.kind](inner, *grads, last_use=last_use, **job.activations)
    dx, d_kernel, d_bias = _gemm.linear_grads(x, input_kernel, d_xp, (want_dx, wants[-2], wants[-1]))
    return (dx, *rest, d_kernel, d_bias), (d_xp, input_kernel)


def _one_input(jobs: list[Job], saved: list[tuple], wants: list[tuple[bool, ...]]) -> bool:
    """Every job projects the very same packed inputs (one tensor: ``_dispatch`` packs an unmasked input once
    for both directions) and wants their gradient: then one sum over the jobs serves them all
    (``_summed_input_grad``), instead of one gradient per job and an addition of them."""
    if len(jobs) < 2 or not all(job.projects and job_wants[0] for job, job_wants in zip(jobs, wants)):
        return False
    return all(job_saved[1] is saved[0][1] for job_saved in saved[1:])


def _summed_input_grad(parts: list[tuple[Tensor, Tensor]], like: Tensor) -> Tensor:
    """``sum_j d_j @ kernel_j^T`` for the jobs' pre-activation gradients ``d_j`` ``(S, G_j)`` and input kernels
    ``(F, G_j)``, shaped like the packed inputs ``like``: each thread writes half the rows (every job's
    product accumulated in place), so the sum costs no pass of its own and the two threads share the work
    evenly whichever direction finished its time loop first."""
    rows, features = parts[0][0].shape[0], parts[0][1].shape[0]
    out = parts[0][0].new_empty(rows, features)

    def fill(start: int, stop: int) -> None:
        for j, (d, kernel) in enumerate(parts):
            _gemm.matmul_into(d[start:stop], kernel, out[start:stop], accumulate=j > 0)

    half = rows // 2
    in_parallel([functools.partial(fill, 0, half), functools.partial(fill, half, rows)])
    return out.view_as(like)


ONE_THREAD_ROWS = 16
"""A lone job whose widest step has at most this many rows runs on one OpenMP thread (``_on_threads``)."""


def _on_threads(jobs: list[Job], tasks: list[Callable[[], object]]) -> list[object]:
    """Run one task per job: two jobs on two threads (``in_parallel``); a lone job with few rows per step on one
    OpenMP thread, so its compiled loop takes the one-core tiled product instead of a two-thread at::mm per step
    that cannot split a few rows (a lone direction with more work is split in two jobs, ``_dispatch``). One row of
    100 steps trains in 0.71x the time (LSTM, 128 units; GRU 0.54x, its inference 0.54x), 4 rows of 20 steps
    0.68x (GRU 0.72x), 16 rows of 5 steps 0.75x (GRU 0.98x); GRU at 32 rows of 3 steps 1.03x, 100 rows of one
    step 1.06x."""
    if len(jobs) == 1 and max(jobs[0].batch_sizes, default=0) <= ONE_THREAD_ROWS:
        with one_thread():
            return [tasks[0]()]
    return in_parallel(tasks)


class _Scan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, jobs, joint, saves, *tensors):  # type: ignore[override]
        ctx.set_materialize_grads(False)  # an unused output's gradient stays None (no (S, U) block of zeros)
        groups = _split(tensors, [job.arity for job in jobs])
        widths = [group[1].shape[1] for group in groups]
        both = groups[0][1].new_empty(sum(jobs[0].batch_sizes), sum(widths)) if joint else None
        blocks = both.split(widths, dim=1) if joint else [None] * len(jobs)
        results = _on_threads(jobs, [
            functools.partial(_run_forward, job, group, block, saves)
            for job, group, block in zip(jobs, groups, blocks)
        ])
        ctx.jobs, ctx.widths = jobs, widths if joint else None
        ctx.saved = [saved for _, saved in results] if saves else None
        return (*(t for outputs, _ in results for t in outputs), *([both] if joint else []))

    @staticmethod
    def backward(ctx, *grads):  # type: ignore[override]
        if ctx.saved is None:
            raise RuntimeError(
                "Trying to backward through birnn's sequence kernel a second time; its saved activations were "
                "freed after the first backward pass. Pass retain_graph=True to the first one."
            )
        groups = _split(grads, [job.outputs for job in ctx.jobs])
        if ctx.widths is not None:  # the joint output's column blocks add to each job's hs gradient
            blocks = _blocks(grads[-1], ctx.widths)
            groups = [(_added(group[0], block), *group[1:]) for group, block in zip(groups, blocks)]
        last_use = not keeps_graph()  # no second backward can come: saved buffers may be reused, then freed
        wants = _split(ctx.needs_input_grad[3:], [job.arity for job in ctx.jobs])
        one_input = _one_input(ctx.jobs, ctx.saved, wants)
        results = _on_threads(ctx.jobs, [
            functools.partial(_run_backward, job, saved, group, job_wants, last_use, not one_input)
            for job, saved, group, job_wants in zip(ctx.jobs, ctx.saved, groups, wants)
        ])
        grads_out = [list(job_grads) for job_grads, _ in results]
        if one_input:  # the first job's input takes the sum, the others' (the same tensor) nothing
            grads_out[0][0] = _summed_input_grad([pre for _, pre in results], ctx.saved[0][1])
        if last_use:  # free the saved activations now, like PyTorch's own functions
            ctx.saved = None
        return (None, None, None, *(g for job_grads in grads_out for g in job_grads))


def _blocks(t: Tensor | None, widths: list[int]) -> list[Tensor | None]:
    """``t``'s column blocks of ``widths`` (views), or a ``None`` for each when ``t`` is ``None``."""
    return [None] * len(widths) if t is None else list(t.split(widths, dim=1))


def _added(a: Tensor | None, b: Tensor | None) -> Tensor | None:
    """``a + b`` where either gradient may be absent (``None``)."""
    return b if a is None else a if b is None else a + b


def scan(jobs: list[Job], tensors: list[list[Tensor | None]], joint: bool = False) -> list[tuple[Tensor, ...]]:
    """Run recurrences (one per job) in one autograd call; two jobs run on two threads (``in_parallel``:
    one core each, forward and backward), and when both project the very same packed inputs their
    gradient is one sum (``_summed_input_grad``).

    Returns, per job, ``(hs, h_final)`` or ``(hs, h_final, c_final)``. ``joint`` (jobs over the same
    packed rows, ``S`` each): every job's ``hs`` is a column block of one ``(S, sum of U)`` output, in job
    order (a ``Bidirectional``'s concatenation of two unmasked directions is then a view of it).

    Example:
        >>> xp, h0 = torch.randn(5, 8), torch.zeros(2, 2)
        >>> job = Job("lstm", [2, 2, 1], {"sigma": activations.sigmoid, "phi": activations.tanh})
        >>> [(hs, h, c)] = scan([job], [[xp, h0, h0, torch.randn(2, 8)]])
        >>> hs.shape, bool(torch.equal(h[0], hs[4])), bool(torch.equal(h[1], hs[3]))
        (torch.Size([5, 2]), True, True)
    """
    if joint and len({sum(job.batch_sizes) for job in jobs}) > 1:
        raise ValueError(
            "scan(joint=True) writes every job's outputs into one tensor, so the jobs need the same number of "
            f"packed rows; got {[sum(job.batch_sizes) for job in jobs]}"
        )
    flat_inputs = [t for group in tensors for t in group]
    saves = torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in flat_inputs)
    flat = _Scan.apply(jobs, joint, saves, *flat_inputs)
    return [tuple(group) for group in _split(flat, [job.outputs for job in jobs])]


def lstm_scan(xp: Tensor, h0: Tensor, c0: Tensor, kernel: Tensor, batch_sizes: list[int],
              sigma: Activation, phi: Activation) -> tuple[Tensor, Tensor, Tensor]:
    """LSTM over packed projected inputs ``xp`` ``(S, 4U)`` -> ``(hs (S, U), h_final, c_final)``."""
    return scan([Job("lstm", batch_sizes, {"sigma": sigma, "phi": phi})], [[xp, h0, c0, kernel]])[0]


def gru_scan(xp: Tensor, h0: Tensor, kernel: Tensor, bias: Tensor | None, batch_sizes: list[int],
             sigma: Activation, phi: Activation) -> tuple[Tensor, Tensor]:
    """Reset-after GRU over packed ``xp`` ``(S, 3U)`` (input bias included) -> ``(hs, h_final)``."""
    return scan([Job("gru", batch_sizes, {"sigma": sigma, "phi": phi})], [[xp, h0, kernel, bias]])[0]


def simple_scan(xp: Tensor, h0: Tensor, kernel: Tensor, batch_sizes: list[int], phi: Activation) -> tuple[Tensor, Tensor]:
    """SimpleRNN over packed ``xp`` ``(S, U)`` -> ``(hs, h_final)``."""
    return scan([Job("simple", batch_sizes, {"phi": phi})], [[xp, h0, kernel]])[0]
