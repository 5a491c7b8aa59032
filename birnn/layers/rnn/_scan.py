"""Sequence-level kernels: the whole recurrence as one autograd function per cell type.

Autograd over a step loop records ~10 tiny operations per time step and replays them one by one
backwards. These functions instead run the recurrence over *packed* sequences (``_packing``)
with preallocated buffers, save the activated gates, and run back-propagation through time by
hand: per step only the recurrent matrix multiply and a few fused element-wise products, with
everything that does not depend on the step order (activation derivatives, weight gradients)
done once for the whole sequence in large operations on the fastest GEMM engine (``_gemm``).
The input projection stays outside (one ``_gemm.linear`` over all packed steps), so its
gradients are also two large multiplies.

Activations are arbitrary as long as their derivative can be written from their output
(:data:`DERIVATIVES`), which covers Keras's ``tanh``, ``sigmoid``, ``relu``, ``linear``,
``hard_sigmoid`` (both versions) and ``softsign``.

Shapes: ``S`` packed rows (sum of ``batch_sizes``), ``N`` batch, ``U`` units.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ... import _gemm, activations
from ._packing import prev_index

__all__ = ["DERIVATIVES", "lstm_scan", "gru_scan", "simple_scan"]

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


def _steps(batch_sizes: list[int]) -> list[tuple[int, slice]]:
    out, offset = [], 0
    for n in batch_sizes:
        out.append((n, slice(offset, offset + n)))
        offset += n
    return out


def _previous(packed: Tensor, initial: Tensor, batch_sizes: list[int]) -> Tensor:
    """Packed values of the step before each packed row (the initial state at step 0)."""
    return torch.cat([packed, initial]).index_select(0, prev_index(batch_sizes, packed.device))


def _weight_grad(previous: Tensor, grad: Tensor) -> Tensor:
    """``previous.T @ grad``: ``(S, U), (S, G) -> (U, G)`` as one large multiply."""
    return _gemm.matmul(previous.t().contiguous(), grad.t().contiguous())


class _LSTMScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, xp, h0, c0, kernel, batch_sizes, sigma, phi):  # type: ignore[override]
        u = h0.shape[1]
        kernel_t = kernel.t().contiguous()
        total = xp.shape[0]
        hs, cs, gates = xp.new_empty(total, u), xp.new_empty(total, u), torch.empty_like(xp)
        h, c = h0.clone(), c0.clone()
        for n, s in _steps(batch_sizes):
            z = xp[s] + _gemm.matmul(h[:n], kernel_t)
            g = gates[s]
            g[:, : 2 * u] = sigma(z[:, : 2 * u])
            g[:, 2 * u : 3 * u] = phi(z[:, 2 * u : 3 * u])
            g[:, 3 * u :] = sigma(z[:, 3 * u :])
            c_new = torch.addcmul(g[:, u : 2 * u] * c[:n], g[:, :u], g[:, 2 * u : 3 * u], out=cs[s])
            torch.mul(g[:, 3 * u :], phi(c_new), out=hs[s])
            h[:n] = hs[s]
            c[:n] = c_new
        ctx.save_for_backward(h0, c0, kernel, hs, cs, gates)
        ctx.batch_sizes, ctx.sigma, ctx.phi = batch_sizes, sigma, phi
        return hs, h, c

    @staticmethod
    def backward(ctx, d_hs, d_h, d_c):  # type: ignore[override]
        h0, c0, kernel, hs, cs, gates = ctx.saved_tensors
        d_sigma, d_phi = DERIVATIVES[ctx.sigma], DERIVATIVES[ctx.phi]
        u = h0.shape[1]
        i, f, g, o = gates.split(u, dim=1)
        tc = ctx.phi(cs)
        p_o = tc * d_sigma(o)
        p_c = o * d_phi(tc)
        p_ifg = torch.cat([g * d_sigma(i), _previous(cs, c0, ctx.batch_sizes) * d_sigma(f), i * d_phi(g)], dim=1)
        dz = torch.empty_like(gates)
        dh = h0.new_zeros(h0.shape) if d_h is None else d_h.clone()
        dc = c0.new_zeros(c0.shape) if d_c is None else d_c.clone()
        d_hs = torch.zeros_like(hs) if d_hs is None else d_hs
        for n, s in reversed(_steps(ctx.batch_sizes)):
            dht = d_hs[s] + dh[:n]
            torch.mul(dht, p_o[s], out=dz[s, 3 * u :])
            dct = torch.addcmul(dc[:n], dht, p_c[s])
            torch.mul(dct.repeat(1, 3), p_ifg[s], out=dz[s, : 3 * u])
            dc[:n] = dct * f[s]
            dh[:n] = _gemm.matmul(dz[s], kernel)
        d_kernel = _weight_grad(_previous(hs, h0, ctx.batch_sizes), dz)
        return dz, dh, dc, d_kernel, None, None, None


class _GRUScan(torch.autograd.Function):
    """``reset_after=True`` GRU; ``bias`` is the recurrent bias row (or ``None``)."""

    @staticmethod
    def forward(ctx, xp, h0, kernel, bias, batch_sizes, sigma, phi):  # type: ignore[override]
        u = h0.shape[1]
        kernel_t = kernel.t().contiguous()
        total = xp.shape[0]
        hs, zr, cand, hu_h = xp.new_empty(total, u), xp.new_empty(total, 2 * u), xp.new_empty(total, u), xp.new_empty(total, u)
        h = h0.clone()
        for n, s in _steps(batch_sizes):
            hu = _gemm.matmul(h[:n], kernel_t)
            if bias is not None:
                hu = hu + bias
            zr_s = torch.add(xp[s, : 2 * u], hu[:, : 2 * u], out=zr[s])
            zr_s.copy_(sigma(zr_s))
            hu_h[s] = hu[:, 2 * u :]
            cand[s] = phi(torch.addcmul(xp[s, 2 * u :], zr_s[:, u:], hu[:, 2 * u :]))
            torch.addcmul(cand[s], zr_s[:, :u], h[:n] - cand[s], out=hs[s])
            h[:n] = hs[s]
        ctx.save_for_backward(h0, kernel, hs, zr, cand, hu_h)
        ctx.batch_sizes, ctx.sigma, ctx.phi, ctx.has_bias = batch_sizes, sigma, phi, bias is not None
        return hs, h

    @staticmethod
    def backward(ctx, d_hs, d_h):  # type: ignore[override]
        h0, kernel, hs, zr, cand, hu_h = ctx.saved_tensors
        d_sigma, d_phi = DERIVATIVES[ctx.sigma], DERIVATIVES[ctx.phi]
        u = h0.shape[1]
        z, r = zr[:, :u], zr[:, u:]
        previous = _previous(hs, h0, ctx.batch_sizes)
        p_z = (previous - cand) * d_sigma(z)
        p_a = (1 - z) * d_phi(cand)
        p_r = hu_h * d_sigma(r)
        d_hu = torch.empty(hs.shape[0], 3 * u, dtype=hs.dtype, device=hs.device)
        d_a = torch.empty_like(hs)
        dh = h0.new_zeros(h0.shape) if d_h is None else d_h.clone()
        d_hs = torch.zeros_like(hs) if d_hs is None else d_hs
        for n, s in reversed(_steps(ctx.batch_sizes)):
            dht = d_hs[s] + dh[:n]
            torch.mul(dht, p_z[s], out=d_hu[s, :u])
            da = torch.mul(dht, p_a[s], out=d_a[s])
            torch.mul(da, p_r[s], out=d_hu[s, u : 2 * u])
            torch.mul(da, r[s], out=d_hu[s, 2 * u :])
            dh[:n] = torch.addcmul(_gemm.matmul(d_hu[s], kernel), dht, z[s])
        d_xp = torch.cat([d_hu[:, : 2 * u], d_a], dim=1)
        d_kernel = _weight_grad(previous, d_hu)
        d_bias = d_hu.sum(0) if ctx.has_bias else None
        return d_xp, dh, d_kernel, d_bias, None, None, None


class _SimpleScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, xp, h0, kernel, batch_sizes, phi):  # type: ignore[override]
        kernel_t = kernel.t().contiguous()
        hs = torch.empty_like(xp)
        h = h0.clone()
        for n, s in _steps(batch_sizes):
            hs[s] = phi(xp[s] + _gemm.matmul(h[:n], kernel_t))
            h[:n] = hs[s]
        ctx.save_for_backward(h0, kernel, hs)
        ctx.batch_sizes, ctx.phi = batch_sizes, phi
        return hs, h

    @staticmethod
    def backward(ctx, d_hs, d_h):  # type: ignore[override]
        h0, kernel, hs = ctx.saved_tensors
        p = DERIVATIVES[ctx.phi](hs)
        d_a = torch.empty_like(hs)
        dh = h0.new_zeros(h0.shape) if d_h is None else d_h.clone()
        d_hs = torch.zeros_like(hs) if d_hs is None else d_hs
        for n, s in reversed(_steps(ctx.batch_sizes)):
            da = torch.mul(d_hs[s] + dh[:n], p[s], out=d_a[s])
            dh[:n] = _gemm.matmul(da, kernel)
        return d_a, dh, _weight_grad(_previous(hs, h0, ctx.batch_sizes), d_a), None, None


def lstm_scan(xp: Tensor, h0: Tensor, c0: Tensor, kernel: Tensor, batch_sizes: list[int],
              sigma: Activation, phi: Activation) -> tuple[Tensor, Tensor, Tensor]:
    """LSTM over packed projected inputs ``xp`` ``(S, 4U)`` -> ``(hs (S, U), h_final, c_final)``."""
    return _LSTMScan.apply(xp, h0, c0, kernel, batch_sizes, sigma, phi)


def gru_scan(xp: Tensor, h0: Tensor, kernel: Tensor, bias: Tensor | None, batch_sizes: list[int],
             sigma: Activation, phi: Activation) -> tuple[Tensor, Tensor]:
    """Reset-after GRU over packed ``xp`` ``(S, 3U)`` (input bias included) -> ``(hs, h_final)``."""
    return _GRUScan.apply(xp, h0, kernel, bias, batch_sizes, sigma, phi)


def simple_scan(xp: Tensor, h0: Tensor, kernel: Tensor, batch_sizes: list[int], phi: Activation) -> tuple[Tensor, Tensor]:
    """SimpleRNN over packed ``xp`` ``(S, U)`` -> ``(hs, h_final)``."""
    return _SimpleScan.apply(xp, h0, kernel, batch_sizes, phi)
