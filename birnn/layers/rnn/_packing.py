"""Masks of any pattern as packed sequences, and the way back to Keras's masked outputs.

The sequence kernels (``_scan``) only ever see *packed* inputs: for each row, its valid steps in
processing order, moved to the front ("compacted"); rows sorted by number of valid steps, longest
first; time-major, so step ``t`` is one contiguous block of the ``n_t`` rows still running. A
left-padded row, a row with holes and a fully masked row (zero steps) are all handled alike, and
no work is spent on masked steps.

Without a mask nothing is moved: the packed rows are the time-major input itself (a free view when
the input is already time-major in memory, as a ``Bidirectional``'s concatenated output is), and a
``go_backwards`` layer runs its blocks from the last one (``blocks_reversed``) instead of flipping
the sequence, so its outputs come out in input time order too.

``unpack`` rebuilds exactly what the step loop emits (``_loop`` semantics): at a masked step the
previous output, or zero with ``zero_output_for_mask``; zero before the first valid step.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["Packing", "every_row_runs", "mirrored", "pack", "pack_joint", "packing_of", "unpack_sequence", "unpack_last",
           "unpack_joint"]


def every_row_runs(batch_sizes: list[int], rows: int) -> bool:
    """Whether each of ``rows`` rows has at least one step (the first step holds them all)."""
    return rows > 0 and bool(batch_sizes) and batch_sizes[0] == rows


@dataclass(frozen=True)
class Packing:
    """How the rows and steps of one ``(N, T)`` batch map to packed rows.

    Attributes:
        batch_sizes: ``n_t`` for each compacted step ``t`` (non-increasing Python ints).
        order: ``(N,)`` original row of each sorted row.
        inverse: ``(N,)`` sorted position of each original row.
        source: ``(S,)`` flat index ``row * T + step`` (processing order) of each packed row, or
            ``None`` when nothing is masked (packed rows are then simply time-major ``(T * N)``).
        lengths: ``(N,)`` valid steps per original row.
        processing_mask: ``(N, T)`` mask in processing order, or ``None``.
        steps: ``T``.
        blocks_reversed: the packed blocks are in input time order while processing runs from the
            last block to the first (unmasked ``go_backwards``).
    """

    batch_sizes: list[int]
    order: Tensor
    inverse: Tensor
    source: Tensor | None
    lengths: Tensor
    processing_mask: Tensor | None
    steps: int
    blocks_reversed: bool = False


def packing_of(mask: Tensor, go_backwards: bool) -> Packing:
    """The ``Packing`` that ``pack`` makes of ``mask``, without packing any inputs."""
    return _plan(mask, go_backwards)[0]


def pack(inputs: Tensor, mask: Tensor | None, go_backwards: bool) -> tuple[Tensor, Packing]:
    """``(N, T, F)`` inputs -> packed ``(S, F)`` rows and the ``Packing`` that describes them.

    Example:
        >>> x = torch.arange(6.).view(2, 3, 1)
        >>> packed, p = pack(x, torch.tensor([[False, True, True], [True, False, False]]), False)
        >>> packed.flatten().tolist(), p.batch_sizes
        ([1.0, 3.0, 2.0], [2, 1])
    """
    n, steps = inputs.shape[:2]
    device = inputs.device
    if mask is None:
        order = torch.arange(n, device=device)
        packed = inputs.transpose(0, 1).reshape(steps * n, *inputs.shape[2:])
        lengths = torch.full((n,), steps, device=device)
        return packed, Packing([n] * steps, order, order, None, lengths, None, steps, blocks_reversed=go_backwards)
    packing, read = _plan(mask, go_backwards)
    return inputs.reshape(n * steps, *inputs.shape[2:]).index_select(0, read), packing


def mirrored(p: Packing) -> Tensor:
    """``(S,)``: for each packed row of the other direction's packing of the same mask (the same batch sizes and
    row order, steps counted from each row's other end), the index of that same step in ``p`` (masked ``p``).
    A bidirectional kernel over ``p``'s rows returns its reverse direction's outputs at ``p``'s positions; this
    gathers them into the ``go_backwards`` packing's. Its own inverse.

    Example:
        >>> mask = torch.tensor([[True, True, False], [True, True, True]])
        >>> mirrored(pack(torch.zeros(2, 3, 1), mask, False)[1]).tolist()  # rows of 2 and 3 valid steps, longest first
        [4, 3, 2, 1, 0]
    """
    device = p.order.device
    sizes = torch.tensor(p.batch_sizes, device=device, dtype=torch.long)
    offsets = sizes.cumsum(0) - sizes
    step = torch.repeat_interleave(torch.arange(len(p.batch_sizes), device=device), sizes)
    row = torch.arange(int(sizes.sum()), device=device) - offsets[step]  # sorted position of each packed row
    return offsets[p.lengths[p.order][row] - 1 - step] + row


def _plan(mask: Tensor, go_backwards: bool) -> tuple[Packing, Tensor]:
    """The ``Packing`` of an ``(N, T)`` mask and ``(S,)`` the flat index ``row * T + t`` (input time order)
    each packed row reads."""
    n, steps = mask.shape
    device = mask.device
    pm = mask.flip(1) if go_backwards else mask
    lengths = pm.sum(1)
    order = torch.argsort(lengths, descending=True, stable=True)
    inverse = torch.empty_like(order)
    inverse[order] = torch.arange(n, device=device)
    sorted_lengths = lengths[order]
    longest = int(sorted_lengths[0]) if n else 0
    valid_first = torch.sort((~pm).to(torch.int8), dim=1, stable=True).indices[:, :longest]
    alive = sorted_lengths.unsqueeze(1) > torch.arange(longest, device=device)
    step_of, sorted_row = alive.t().nonzero(as_tuple=True)
    rows = order[sorted_row]
    step = valid_first[rows, step_of]  # in processing order
    source = rows * steps + step
    batch_sizes = alive.sum(0).tolist()
    read = rows * steps + (steps - 1 - step) if go_backwards else source  # the input's own time order: no flipped copy
    return Packing(batch_sizes, order, inverse, source, lengths, pm, steps), read


class _GatherJoint(torch.autograd.Function):
    """Rows of one ``(N * T, F)`` input gathered by several indices; the backward adds every gradient into
    one zero-filled tensor (autograd would fill one per gather and add them)."""

    @staticmethod
    def forward(ctx, reads, flat):  # type: ignore[override]
        ctx.set_materialize_grads(False)
        ctx.reads, ctx.rows = reads, flat.shape[0]
        return tuple(flat.index_select(0, read) for read in reads)

    @staticmethod
    def backward(ctx, *grads):  # type: ignore[override]
        present = [(read, g) for read, g in zip(ctx.reads, grads) if g is not None]
        if not present:
            return None, None
        out = present[0][1].new_zeros(ctx.rows, present[0][1].shape[-1])
        for read, g in present:
            out.index_add_(0, read, g)
        return None, out


def pack_joint(inputs: Tensor, mask: Tensor, go_backwards: list[bool]) -> list[tuple[Tensor, Packing]]:
    """``pack(inputs, mask, b)`` for each ``b`` in ``go_backwards`` (the directions of a masked pair reading
    the same inputs), with one gradient buffer for the input instead of one per direction and their sum.

    Example:
        >>> x, mask = torch.arange(6.).view(2, 3, 1), torch.tensor([[False, True, True], [True, False, False]])
        >>> [(a, pa), (b, pb)] = pack_joint(x, mask, [False, True])
        >>> torch.equal(a, pack(x, mask, False)[0]), torch.equal(b, pack(x, mask, True)[0]), pb.batch_sizes
        (True, True, [2, 1])
    """
    plans = [_plan(mask, backwards) for backwards in go_backwards]
    n, steps = mask.shape
    packed = _GatherJoint.apply([read for _, read in plans], inputs.reshape(n * steps, *inputs.shape[2:]))
    return [(rows, packing) for rows, (packing, _) in zip(packed, plans)]


def _packed_position(p: Packing) -> Tensor:
    """``(N, T_max)`` packed index of (original row, compacted step); garbage past each length."""
    offsets = torch.tensor([0, *p.batch_sizes[:-1]], device=p.order.device).cumsum(0)
    return (offsets.unsqueeze(0) + p.inverse.unsqueeze(1)).clamp(max=sum(p.batch_sizes) - 1)


def unpack_sequence(packed: Tensor, p: Packing, zero_output_for_mask: bool, reverse: bool = False) -> Tensor:
    """Packed per-step outputs ``(S, U)`` -> ``(N, T, U)`` emitted outputs in processing order
    (``reverse=True``: the reverse of processing order, at no extra cost when masked)."""
    n, steps = p.order.shape[0], p.steps
    if p.source is None:  # a view of the time-major rows, flipped only if memory order is not the one asked for
        out = packed.view(steps, n, -1).transpose(0, 1)
        return out.flip(1) if reverse != p.blocks_reversed else out
    if not p.batch_sizes:
        return packed.new_zeros(n, steps, packed.shape[-1])
    if zero_output_for_mask:
        # every packed row is the output of exactly one step and every other step is zero: one scatter of
        # the packed rows (its backward one gather of theirs), where the general case gathers a row for
        # every step and zeroes some (its backward a multiply and a scatter-add over all N * T rows)
        out = packed.new_zeros(n * steps, packed.shape[-1])
        return out.index_copy_(0, _scatter_position(p, reverse), packed).view(n, steps, -1)
    seen = p.processing_mask.cumsum(1)
    index = _packed_position(p).gather(1, (seen - 1).clamp(min=0))
    keep = seen > 0  # masked steps repeat the last valid output (zeros took the scatter above)
    if reverse:
        index, keep = index.flip(1), keep.flip(1)
    out = packed.index_select(0, index.flatten()).view(n, steps, -1)
    return out.mul_(keep.unsqueeze(-1).to(out.dtype))  # in place: index_select's backward does not read its output


def _scatter_position(p: Packing, reverse: bool) -> Tensor:
    """``(S,)``: the flat index ``row * T + step`` of each packed row's output (masked ``p``), steps in
    processing order or (``reverse``) its reverse."""
    steps = p.steps
    return p.source if not reverse else p.source + (steps - 1) - 2 * (p.source % steps)


class _ScatterJoint(torch.autograd.Function):
    """Packed rows of several masked sequences scattered into the column blocks of one zero tensor."""

    @staticmethod
    def forward(ctx, shape, positions, *packed):  # type: ignore[override]
        n, steps = shape
        widths = [t.shape[-1] for t in packed]
        out = packed[0].new_zeros(n, steps, sum(widths))  # the output itself, not a view: its views' base
        for block, position, rows in zip(out.view(n * steps, -1).split(widths, dim=1), positions, packed):
            block.index_copy_(0, position, rows)
        ctx.positions, ctx.widths = positions, widths
        return out

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        flat = grad.reshape(-1, grad.shape[-1])
        return (None, None, *(block.index_select(0, position)
                              for block, position in zip(flat.split(ctx.widths, dim=1), ctx.positions)))


def unpack_joint(packed: list[Tensor], packings: list[Packing], reverse: list[bool]) -> list[Tensor]:
    """``unpack_sequence(..., zero_output_for_mask=True)`` of several masked sequences over one ``(N, T)``
    batch, as the column blocks (views) of one ``(N, T, sum of U)`` tensor: a concatenation of them is
    then a view (``_merge``), and the backward pass gathers each gradient from its block (no zero-filled
    per-sequence outputs, no copy into and out of a concatenation).

    Example:
        >>> x = torch.arange(6.).view(2, 3, 1)
        >>> mask = torch.tensor([[False, True, True], [True, False, False]])
        >>> (a, pa), (b, pb) = pack(x, mask, False), pack(x, mask, True)
        >>> f, g = unpack_joint([a, b], [pa, pb], [False, True])
        >>> f._base is g._base, torch.equal(f, unpack_sequence(a, pa, True)), torch.equal(g, unpack_sequence(b, pb, True, True))
        (True, True, True)
        >>> f._base.shape
        torch.Size([2, 3, 2])
    """
    p = packings[0]
    if any(q.source is None for q in packings):
        raise ValueError("unpack_joint takes masked sequences only (packings with a source)")
    shape = (p.order.shape[0], p.steps)
    if any((q.order.shape[0], q.steps) != shape for q in packings):
        raise ValueError(f"unpack_joint takes sequences over one (N, T) batch, got {[(q.order.shape[0], q.steps) for q in packings]}")
    positions = [_scatter_position(q, r) for q, r in zip(packings, reverse)]
    joint = _ScatterJoint.apply(shape, positions, *packed)
    return list(joint.split([t.shape[-1] for t in packed], dim=-1))


def unpack_last(packed: Tensor, p: Packing, zero_output_for_mask: bool) -> Tensor:
    """Packed per-step outputs ``(S, U)`` -> ``(N, U)``: what the loop emits at its last step."""
    n = p.order.shape[0]
    if p.source is None:
        return packed[:n] if p.blocks_reversed else packed[packed.shape[0] - n :]
    if not p.batch_sizes:
        return packed.new_zeros(n, packed.shape[-1])
    index = _packed_position(p).gather(1, (p.lengths - 1).clamp(min=0).unsqueeze(1)).squeeze(1)
    keep = p.lengths > 0
    if zero_output_for_mask:
        keep = keep & p.processing_mask[:, -1]
    return packed.index_select(0, index) * keep.unsqueeze(-1).to(packed.dtype)

