"""The kernel dispatcher: which implementation runs one call of an ``RNN`` layer.

Three implementations compute the same thing (tests hold them to 1e-5 / 1e-4 of each other):

* ``"loop"``: ``_loop.run_loop`` over the cell's step, autograd per step. It runs everything:
  user cells, ``constants``, any activation, ``use_cudnn=False``.
* ``"scan"``: the sequence-level kernels of ``_scan`` (hand-written back-propagation through time,
  masks of any pattern as packed sequences, whole-sequence GEMMs). For birnn's own cells (both GRU
  variants; ``reset_after=False`` has no PyTorch kernel, so it runs here at inference too) whose
  activations have a known derivative (``_scan.DERIVATIVES``), recurrent dropout included (one mask
  per call multiplies the previous states the recurrent product reads, as Keras does; PyTorch's kernels
  have no such mask, so a training call with it always runs here). Their time loops are compiled
  (``_native``) where a C++ toolchain exists, Python-driven otherwise.
* ``"fused"``: PyTorch's own recurrent kernels (``torch._VF.lstm`` / ``gru`` / ``rnn_tanh`` /
  ``rnn_relu``: cuDNN on CUDA, oneDNN on CPU) for the exact configurations they implement
  (tanh/sigmoid LSTM, reset-after GRU, tanh/relu SimpleRNN) without a mask. They win on CUDA, and
  at inference on the CPU for a lone LSTM (oneDNN's kernel on both cores). Elsewhere on the CPU the
  compiled sequence kernels are faster (``_compiled_wins``): when training (the benchmark's LSTM, GRU
  and masked steps, ``benchmarks/``), and at inference for GRU and SimpleRNN (PyTorch has no oneDNN
  kernel for them) and for each LSTM direction of a pair (one core each either way).

* ``"fused_masked"``: the same kernels under a mask of any pattern (off CUDA): valid steps compacted, rows
  grouped by length, each group run for its own length (``run_fused_masked``). Not for an LSTM whose
  final cell state is returned or kept (the kernel's per-row cell state at each row's end is not
  observable); those use ``"scan"``.
* ``"fused_packed"``: the same kernels under a mask on CUDA (cuDNN), over packed sequences
  (``run_fused_packed``): one call, exact final states for every cell, a ``Bidirectional`` pair in one
  bidirectional call.

Both directions of a ``Bidirectional`` run at the same time on two threads, forward and backward
(``_concurrent``), at inference too: on the CPU two one-directional kernel calls on one core each beat
one bidirectional call on both (oneDNN parallelises each step's small product poorly: ~3 % in the
benchmark's inference case, where the compiled loops, one per core, take ~0.95x the time of oneDNN's
two calls). On a GPU, and while tracing, a standard pair is one bidirectional PyTorch call, training
included; on a GPU also under a mask, over packed sequences (``run_fused_packed``).
Two directions on the sequence kernels are one ``_scan`` call instead, whose two jobs run on the two
threads: packing, unpacking and merging stay on the calling thread (on two threads their Python would
take turns on the GIL: ~0.5 ms at each start of a layer), and the input gradient of a sequence both
directions read is one sum over both, half the rows per thread (no addition of two gradients afterwards).

An ``RNN`` over stacked cells runs as one layer per cell in turn (``_stacked``), each on its own kernels.
A lone direction on the compiled sequence kernels (not a ``Bidirectional``'s) runs the two halves of its batch
as the two jobs of one ``_scan`` call instead, one core each (``_splits_batch``): a recurrence's rows never
meet, and two one-core tiled loops beat one loop on MKL's two-thread product per step.

While tracing or compiling (``torch.jit.trace``, ``torch.onnx.export``, ``torch.compile``) only
``"fused"`` or ``"loop"`` is chosen. ``choose(layer, ...)`` is the single, explicit predicate; ``reason_for_loop`` says why a call
falls back to the loop (tests assert on it).
"""

from __future__ import annotations

import dataclasses
import functools
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from ... import _heap, activations
from . import _native
from ._concurrent import concurrently
from ._cell import DropoutMasks, state_sizes
from ._loop import run_loop
from ._packing import (Packing, every_row_runs, mirrored, pack, pack_joint, packing_of, unpack_joint, unpack_last,
                       unpack_sequence)
from ._scan import DERIVATIVES, Job, _Layout, scan

if TYPE_CHECKING:
    from ._rnn import RNN

__all__ = ["Call", "choose", "reason_for_loop", "run", "run_pair", "torch_parameters"]


@functools.cache
def _kinds() -> dict[type, str]:
    """birnn's cell classes and their sequence-kernel kinds (imported on first use: the cells' modules import
    ``_rnn``, which imports this one)."""
    from ._gru import GRUCell
    from ._lstm import LSTMCell
    from ._simple_rnn import SimpleRNNCell

    return {LSTMCell: "lstm", GRUCell: "gru", SimpleRNNCell: "simple"}


def _cell_kind(layer: RNN) -> str | None:
    """The layer's sequence-kernel kind, or ``None`` for a cell without one (subclasses included: their step
    may differ)."""
    kind = _kinds().get(type(layer.cell))
    return "gru_before" if kind == "gru" and not layer.cell.reset_after else kind


def _activations(layer: RNN, kind: str | None) -> tuple[Any, ...]:
    cell = layer.cell
    return (cell.activation,) if kind == "simple" else (cell.recurrent_activation, cell.activation)


def reason_for_loop(layer: RNN, *, training: bool, constants: Any) -> str | None:
    """Why this call must use the step loop, or ``None`` if a sequence kernel can run it."""
    return _reason_for_loop(layer, _cell_kind(layer), constants)


def _reason_for_loop(layer: RNN, kind: str | None, constants: Any) -> str | None:
    if layer.use_cudnn is False:
        return "use_cudnn=False"
    if kind is None:
        return "no sequence kernel for this cell"
    if constants is not None:
        return "constants were given"
    if any(fn not in DERIVATIVES for fn in _activations(layer, kind)):
        return "an activation without a known derivative"
    return None


def _fused_name(layer: RNN, kind: str | None = None) -> str | None:
    """PyTorch's kernel for this layer's cell (of sequence-kernel ``kind``, looked up when not given), or
    ``None`` (its GRU applies the reset gate after the recurrent multiply only)."""
    kind = kind or _cell_kind(layer)
    if kind == "simple":
        return {activations.tanh: "rnn_tanh", activations.relu: "rnn_relu"}.get(layer.cell.activation)
    if kind not in ("lstm", "gru"):
        return None
    standard = _activations(layer, kind) == (activations.sigmoid, activations.tanh)
    return kind if standard else None


def choose(layer: RNN, *, mask: Tensor | None, training: bool, constants: Any, inputs: Tensor,
           paired: bool = False) -> str:
    """This call's kernel, ``"fused"``, ``"fused_masked"``, ``"fused_packed"``, ``"scan"`` or ``"loop"`` (see the
    module docstring). ``paired``: the call is one direction of a ``Bidirectional`` pair, which runs on one core
    beside the other direction."""
    kind = _cell_kind(layer)
    if _reason_for_loop(layer, kind, constants) is not None:
        return "loop"
    fused = _fused_name(layer, kind)
    if torch.jit.is_tracing() or torch.compiler.is_compiling():
        # exporters and compilers see plain tensor ops: PyTorch's kernel (one ONNX LSTM/GRU/RNN node)
        # or the step loop, never the sequence kernels' Python-level autograd functions
        return "fused" if mask is None and fused is not None else "loop"
    if fused is not None and not _compiled_wins(kind, inputs, paired) and not _recurrent_dropout(layer, training):
        if mask is None:
            return "fused"
        if _packed_device(inputs):
            return "fused_packed"
        if kind != "lstm" or not (layer.return_state or layer.stateful):
            return "fused_masked"
    return "scan"


def _packed_device(inputs: Tensor) -> bool:
    """PyTorch's kernels run packed sequences well here (cuDNN), so masked calls take ``"fused_packed"``. Not on
    the CPU, where its packed path (no oneDNN) is slower than four length groups on oneDNN's kernel: 12.1 vs
    8.0 ms at inference, 60.9 vs 31.1 training, for the benchmark's masked layer (64 rows, lengths 10..100);
    nor on other devices, whose packed-sequence support is untested here (they keep the length groups)."""
    return inputs.device.type == "cuda"


def _recurrent_dropout(layer: RNN, training: bool) -> bool:
    """This call drops recurrent units (a rate of exactly 1.0 means none, as in Keras)."""
    return training and 0.0 < layer.cell.recurrent_dropout < 1.0


def _compiled_wins(kind: str, inputs: Tensor, paired: bool) -> bool:
    """The compiled sequence kernels beat PyTorch's on this call: on the CPU when training (``_compiled_training``)
    and at inference too, except for an LSTM direction that has the cores to itself. PyTorch runs GRU and
    SimpleRNN there as one at::mm per step (no oneDNN kernel): 0.3-0.9x its time with the compiled loops, masked
    or not; its oneDNN LSTM on two cores beats one compiled loop on one core (~1.3x at 64 rows of 128 units and
    more), but one direction of a pair has one core either way, and there the compiled loop takes 0.84-0.96x
    oneDNN's time up to 128 units, about the same at 256 (the inference case of ``benchmarks/``: 0.92x)."""
    if _compiled_training(inputs):
        return True
    return inputs.device.type == "cpu" and (kind != "lstm" or paired) and _native.available()


def _compiled_training(inputs: Tensor) -> bool:
    """Training on the CPU with the compiled sequence kernels (``_native``), which beat PyTorch's fused
    kernels there once a backward pass follows (``benchmarks/``). Weights may require grad even when
    the inputs do not, so grad mode alone decides."""
    return torch.is_grad_enabled() and inputs.device.type == "cpu" and _native.available()


def _torch_order(weight: Tensor, kind: str, units: int) -> Tensor:
    """Keras gate blocks on the last axis -> PyTorch's (only GRU differs: ``z, r, h -> r, z, h``)."""
    if kind != "gru":
        return weight
    z, r, h = weight.split(units, dim=-1)
    return torch.cat([r, z, h], dim=-1)


def torch_parameters(cell: Any, kind: str) -> list[Tensor]:
    """``[weight_ih, weight_hh, bias_ih, bias_hh]`` in PyTorch's layout, differentiable w.r.t. the cell.

    Without grad mode the converted weights are cached on the cell until a weight changes (the
    tensors' version counters, bumped by every in-place update such as an optimizer step), so
    repeated inference does not copy the weights on every call.
    """
    cacheable = not (torch.is_grad_enabled() or torch.jit.is_tracing() or torch.compiler.is_compiling())
    if cacheable:
        key = (kind, *((id(w), w._version, w.device) for w in cell._parameters.values()))  # every weight of the cell
        cached = cell.__dict__.get("_torch_parameters")
        if cached is not None and cached[0] == key:
            return cached[1]
    u = cell.units
    params = [
        _torch_order(cell.kernel, kind, u).t().contiguous(),
        _torch_order(cell.recurrent_kernel, kind, u).t().contiguous(),
    ]
    if cell.use_bias:
        if kind == "gru":
            params += [_torch_order(cell.bias[0], kind, u), _torch_order(cell.bias[1], kind, u)]
        else:
            params += [cell.bias, torch.zeros_like(cell.bias)]
    if cacheable:
        cell.__dict__["_torch_parameters"] = (key, params)
    return params


def _kernel_parameters(layers: list[Any], name: str) -> list[Tensor]:
    """The weights PyTorch's kernel ``name`` takes for ``layers`` (one direction or a pair), each layer's
    ``torch_parameters`` in turn."""
    kind = "gru" if name == "gru" else "lstm"
    return [p for layer in layers for p in torch_parameters(layer.cell, kind)]


@dataclass(frozen=True)
class Call:
    """One call's validated arguments, as ``RNN`` prepared them. ``initial_states``: the states given or kept
    (``None``: the cell's zero states, one ``(N, s)`` tensor for each of ``zero_sizes``, made when a kernel first
    reads ``states``; PyTorch's kernels take their zeros in their own layout instead, ``_kernel_states``).
    ``dropout``: dropout masks already drawn for it (a half of a split batch takes its rows of the whole call's
    masks, ``_halves``); ``None``: the kernel draws them."""

    sequences: Tensor
    initial_states: list[Tensor] | None
    mask: Tensor | None
    training: bool
    constants: Any
    dropout: DropoutMasks | None = None
    zero_sizes: tuple[int, ...] = ()

    @functools.cached_property
    def states(self) -> list[Tensor]:
        """The initial states, ``(N, s)`` each."""
        if self.initial_states is not None:
            return self.initial_states
        x = self.sequences
        return [torch.zeros(x.shape[0], size, dtype=x.dtype, device=x.device) for size in self.zero_sizes]


Result = tuple["Tensor | None", "Tensor | None", list[Tensor]]
"""``(last_output, outputs, final_states)``: the contract of every kernel. A kernel may leave out what the layer
does not read (``RNN.finish_call``; ``run_fused`` does, where the few tensor operations saved are a lone call's
time at small batches): the last output (``None``) when the layer returns sequences, the outputs (``None``)
when it does not, the final states (``[]``) when it neither returns nor keeps them."""


def kernel_for(layer: RNN, call: Call, paired: bool = False) -> str:
    return choose(layer, mask=call.mask, training=call.training, constants=call.constants, inputs=call.sequences,
                  paired=paired)


def _dropped(layer: RNN, call: Call) -> Tensor:
    """The call's inputs after the cell's input dropout (none at inference)."""
    if not call.training:
        return call.sequences
    cell = layer.cell
    return cell._dropped_inputs(call.sequences, cell.dropout_masks(call.sequences, call.states, call.training).inputs)


def run_loop_kernel(layer: RNN, call: Call) -> Result:
    step, per_step_inputs = layer._step(call.sequences, call.states, call.training, call.constants)
    return run_loop(step, per_step_inputs, call.states, mask=call.mask, go_backwards=layer.go_backwards,
                    return_sequences=layer.return_sequences, zero_output_for_mask=layer.zero_output_for_mask)


def _torch_kernel(name: str, x: Tensor, states: list[Tensor], params: list[Tensor], use_bias: bool,
                  bidirectional: bool, batch_sizes: list[int] | None = None) -> tuple[Tensor, list[Tensor]]:
    """One ``torch._VF`` recurrent call on batch-first ``x``, or on packed rows ``x`` ``(S, F)`` with their
    ``batch_sizes`` (a ``PackedSequence``'s layout); states stacked ``(directions, N, U)``."""
    if batch_sizes is None:
        data, args = (x,), (params, use_bias, 1, 0.0, False, bidirectional, True)
    else:
        data, args = (x, torch.tensor(batch_sizes, dtype=torch.long)), (params, use_bias, 1, 0.0, False, bidirectional)
    if x.device.type != "cuda":
        return _vf_call(name, data, states, args)
    # cuDNN copies weights that are not views of one buffer into one on every call and PyTorch warns about it
    # (it expects nn.RNNBase.flatten_parameters); birnn converts its Keras-layout weights on every training call
    # anyway (torch_parameters), so the copy is expected here
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="RNN module weights are not part of single contiguous chunk")
        return _vf_call(name, data, states, args)


def _vf_call(name: str, data: tuple[Tensor, ...], states: list[Tensor], args: tuple) -> tuple[Tensor, list[Tensor]]:
    if name == "lstm":
        outputs, h, c = torch._VF.lstm(*data, (states[0], states[1]), *args)
        return outputs, [h, c]
    outputs, h = getattr(torch._VF, name)(*data, states[0], *args)
    return outputs, [h]


def run_fused(layers: list[RNN], calls: list[Call], aligned: bool = False) -> list[Result]:
    """PyTorch's kernel for one direction, or for a standard forward/backward pair in one call.

    ``aligned``: return the sequences in input time order instead of processing order. A lone layer's call at
    small batches is mostly this function's own time, so it keeps to the tensor operations the layer's outputs
    need (``Result``).
    """
    first = layers[0]
    name = _fused_name(first)
    assert name is not None
    cell = first.cell
    x = _dropped(first, calls[0])
    states, params = _kernel_states(calls, cell.units), _kernel_parameters(layers, name)
    if len(layers) == 1:
        backwards = first.go_backwards
        outputs, stacked = _torch_kernel(name, x.flip(1) if backwards else x, states, params, cell.use_bias, False)
        to_input_order = backwards and aligned  # the last output processed is then the first in time
        sequence = outputs.flip(1) if to_input_order else outputs
        return [_fused_result(first, sequence, 0 if to_input_order else -1, stacked, 0)]
    outputs, stacked = _torch_kernel(name, x, states, params, cell.use_bias, True)
    u = cell.units
    backward = outputs[..., u:] if aligned else outputs[..., u:].flip(1)
    return [_fused_result(first, outputs[..., :u], -1, stacked, 0),
            _fused_result(layers[1], backward, 0 if aligned else -1, stacked, 1)]


def _kernel_states(calls: list[Call], units: int) -> list[Tensor]:
    """The calls' initial states as PyTorch's kernels take them, ``(directions, N, U)`` per state: one zero tensor
    for all of them when every call starts from zeros (one tensor operation instead of one per state and call)."""
    if all(call.initial_states is None for call in calls):
        x = calls[0].sequences
        zeros = torch.zeros(len(calls), x.shape[0], units, dtype=x.dtype, device=x.device)
        return [zeros] * len(calls[0].zero_sizes)
    if len(calls) == 1:
        return [s.unsqueeze(0) for s in calls[0].states]
    return [torch.stack(pair) for pair in zip(*(call.states for call in calls))]


def _fused_result(layer: RNN, sequence: Tensor, last: int, stacked: list[Tensor], direction: int) -> Result:
    """One direction's ``Result`` from PyTorch's kernel (its output ``sequence``, the time index of its last output,
    the kernel's final states stacked over directions), with only what ``layer`` reads."""
    return (
        None if layer.return_sequences else sequence[:, last],
        sequence if layer.return_sequences else None,
        [s[direction] for s in stacked] if layer.return_state or layer.stateful else [],
    )


_LENGTH_GROUPS = 4
"""Masked batches run PyTorch's kernel on this many groups of rows of similar length."""


def run_fused_masked(layers: list[RNN], calls: list[Call], aligned: bool = False) -> list[Result]:
    """PyTorch's kernel under a mask of any pattern, for cells whose final state is their output.

    Each row's valid steps are compacted to the front (``_packing``), rows are sorted by length and
    cut into a few groups, and each group runs for its own longest length only, so masked steps
    cost (almost) nothing. Steps a group runs past a row's end only feed outputs that are never
    read, so they change neither results nor gradients. Final states are the outputs at each row's
    last valid step (exact for GRU and SimpleRNN; an LSTM qualifies only when its cell state is not
    returned or kept, see ``choose``).
    """
    (layer,), (call,) = layers, calls
    cell, name = layer.cell, _fused_name(layer)
    assert name is not None
    packed, packing = pack(_dropped(layer, call), call.mask, layer.go_backwards)
    rows, longest = len(packing.order), len(packing.batch_sizes)
    if longest == 0:  # nothing to run; the sequence kernels keep the (all-zero) gradients connected
        return run_scan(layers, calls, aligned)
    offsets = torch.tensor([0, *packing.batch_sizes], device=packed.device).cumsum(0)
    steps = torch.arange(longest, device=packed.device)
    row_ids = torch.arange(rows, device=packed.device)
    to_padded = (offsets[:-1].unsqueeze(0) + row_ids.unsqueeze(1)).clamp(max=max(packed.shape[0] - 1, 0))
    padded = packed.index_select(0, to_padded.flatten()).view(rows, longest, -1)
    params = _kernel_parameters(layers, name)
    states = [s.index_select(0, packing.order) for s in call.states]
    lengths = [sum(1 for n in packing.batch_sizes if n > i) for i in range(rows)]
    pieces = []
    bounds = sorted({0, rows, *(rows * g // _LENGTH_GROUPS for g in range(1, _LENGTH_GROUPS))})
    for start, stop in zip(bounds, bounds[1:]):
        steps_here = lengths[start]
        if steps_here == 0:
            pieces.append(packed.new_zeros(stop - start, longest, cell.units))
            continue
        group_states = [s[start:stop].unsqueeze(0) for s in states]
        outputs, _ = _torch_kernel(name, padded[start:stop, :steps_here], group_states, params, cell.use_bias, False)
        pieces.append(torch.nn.functional.pad(outputs, (0, 0, 0, longest - steps_here)))
    outputs = torch.cat(pieces)
    in_packed_order = (row_ids.unsqueeze(1) * longest + steps.unsqueeze(0)).t()[
        (torch.tensor(packing.batch_sizes, device=packed.device).unsqueeze(1) > row_ids.unsqueeze(0))
    ]
    hs = outputs.reshape(rows * longest, cell.units).index_select(0, in_packed_order)
    last = _Layout.of(packing.batch_sizes, rows, packed.device).last
    # an LSTM's final cell state is not computed here (``choose`` only sends LSTMs whose ``c`` is unused)
    final = [torch.cat([hs, states[0]]).index_select(0, last), *([None] * (len(states) - 1))]
    return [_scan_result(layer, (hs, *final), packing, aligned)]


Packed = tuple[Tensor, "Tensor | None", bool, Tensor, Packing]
"""A packing made in this call: ``(inputs, mask, go_backwards, packed rows, packing)``."""


def _scan_job(layer: RNN, call: Call, packs: list[Packed]) -> tuple[Job, list[Tensor | None], Packing]:
    """The sequence kernel's job for one direction: it projects the packed inputs itself (``Job.projects``).

    ``packs``: the packings already made in this call, with their inputs (kept alive, so identity is
    meaningful). The other direction of an unmasked pair reuses the packed rows of the very same input (one
    time-major copy of a batch-major input, not two); a masked pair's were made together (``run_scan``)."""
    cell, kind = layer.cell, _cell_kind(layer)
    masks = call.dropout or cell.dropout_masks(call.sequences, call.states, call.training)  # as the loop draws them
    inputs = cell._dropped_inputs(call.sequences, masks.inputs)
    if call.mask is None:
        made = next((p for p in packs if p[0] is inputs and p[1] is None), None)
    else:
        made = next((p for p in packs if p[0] is inputs and p[1] is call.mask and p[2] == layer.go_backwards), None)
    if made is not None:
        packed, packing = made[3], made[4]
        if call.mask is None:
            packing = dataclasses.replace(packing, blocks_reversed=layer.go_backwards)
    else:
        packed, packing = pack(inputs, call.mask, layer.go_backwards)
        if call.mask is None:
            packs.append((inputs, None, layer.go_backwards, packed, packing))
    states = [s.index_select(0, packing.order) for s in call.states]
    if kind == "lstm":
        fns = {"sigma": cell.recurrent_activation, "phi": cell.activation}
        tensors = [packed, *states, cell.recurrent_kernel]
    elif kind == "gru":
        fns = {"sigma": cell.recurrent_activation, "phi": cell.activation}
        tensors = [packed, *states, cell.recurrent_kernel, cell.bias[1] if cell.use_bias else None]
    elif kind == "gru_before":  # its bias is all the inputs' (``input_bias``)
        fns = {"sigma": cell.recurrent_activation, "phi": cell.activation}
        tensors = [packed, *states, cell.recurrent_kernel]
    else:
        fns = {"phi": cell.activation}
        tensors = [packed, *states, cell.recurrent_kernel]
    tensors += [cell.kernel, cell.input_bias()]
    dropout = masks.recurrent is not None
    if dropout:  # in packed row order, like the states
        tensors.append(masks.recurrent.index_select(0, packing.order))
    job = Job(kind, packing.batch_sizes, fns, packing.blocks_reversed, projects=True, dropout=dropout)
    return job, tensors, packing


def _scan_result(layer: RNN, outputs: tuple[Tensor, ...], packing: Packing, aligned: bool,
                 sequence: Tensor | None = None) -> Result:
    """``sequence``: the output sequence when the caller unpacked it already (``unpack_joint``)."""
    hs, *final = outputs
    final = [None if s is None else s.index_select(0, packing.inverse) for s in final]
    zero = layer.zero_output_for_mask
    reverse = aligned and layer.go_backwards
    if sequence is None and layer.return_sequences:
        sequence = unpack_sequence(hs, packing, zero, reverse)
    # the last output is the final state when every row runs to its end (no mask) or, without zeros at masked
    # steps, carries its last valid output to the end (no row fully masked): taking it from there keeps the
    # outputs' gradient a None instead of a scatter into an (S, U) block of zeros
    carried = not zero and every_row_runs(packing.batch_sizes, len(packing.order))
    last = final[0] if packing.source is None or carried else unpack_last(hs, packing, zero)
    return last, sequence, final


def _joint_packs(layers: list[RNN], calls: list[Call]) -> list[Packed]:
    """A masked pair reading the very same inputs under one mask (no input dropout drawn) is packed in one go
    (``pack_joint``: one gradient buffer for the input, not one per direction and their sum)."""
    first, *others = calls
    mask = first.mask
    if not others or mask is None or any(
        call.sequences is not first.sequences or call.mask is None
        or not (call.mask is mask or torch.equal(call.mask, mask)) for call in others
    ):
        return []
    if any(call.training and 0.0 < getattr(layer.cell, "dropout", 0.0) < 1.0 for layer, call in zip(layers, calls)):
        return []
    backwards = [layer.go_backwards for layer in layers]
    made = pack_joint(first.sequences, mask, backwards)
    return [(first.sequences, call.mask, b, packed, packing) for call, b, (packed, packing) in zip(calls, backwards, made)]


def run_scan(layers: list[RNN], calls: list[Call], aligned: bool = False, concatenated: bool = False) -> list[Result]:
    """The sequence kernels, one or two directions in one autograd call.

    ``concatenated``: the caller concatenates the output sequences (a ``Bidirectional``'s ``"concat"``); when
    every direction returns sequences without a mask, they are written into the column blocks of one output,
    so the concatenation is a view of it (``_merge``) instead of a copy; masked ones with zeros at masked
    steps are scattered into the column blocks of one tensor (``unpack_joint``) to the same end.
    """
    if _compiled_training(calls[0].sequences):
        _heap.keep_freed_memory()  # a training loop reallocates the same buffers every step
    packs = _joint_packs(layers, calls)
    prepared = [_scan_job(layer, call, packs) for layer, call in zip(layers, calls)]
    joint = concatenated and len(layers) > 1 and all(
        layer.return_sequences and packing.source is None for layer, (_, _, packing) in zip(layers, prepared)
    )
    outputs = scan([job for job, _, _ in prepared], [tensors for _, tensors, _ in prepared], joint)
    return _packed_results(layers, outputs, [p for _, _, p in prepared], aligned, concatenated)


def _packed_results(layers: list[RNN], outputs: list[tuple[Tensor, ...]], packings: list[Packing], aligned: bool,
                    concatenated: bool) -> list[Result]:
    """Each direction's result from its packed ``(hs, *final_states)`` (states in packed row order)."""
    sequences: list[Tensor | None] = [None] * len(layers)
    if concatenated and len(layers) > 1 and all(  # masked: unpacked into the column blocks of one tensor
        layer.return_sequences and layer.zero_output_for_mask and p.source is not None
        for layer, p in zip(layers, packings)
    ):
        sequences = unpack_joint([out[0] for out in outputs], packings,
                                 [aligned and layer.go_backwards for layer in layers])
    return [_scan_result(layer, out, p, aligned, seq) for layer, out, p, seq in zip(layers, outputs, packings, sequences)]


def run_fused_packed(layers: list[RNN], calls: list[Call], aligned: bool = False,
                     concatenated: bool = False) -> list[Result]:
    """PyTorch's kernel under a mask of any pattern, over packed sequences (cuDNN's way; ``_packed_device``): one
    direction, or a standard pair under one mask in one bidirectional call.

    Each row's valid steps are compacted in processing order (``_packing``), so padded steps cost nothing and
    the kernel's final states are each row's own, an LSTM's cell state included (``run_fused_masked``'s length
    groups cannot give it); fully masked rows stay out of the call and keep their initial states. A pair's
    rows are packed in input time order: the reverse direction starts at each row's last valid step, as a
    ``go_backwards`` layer under the mask does, and its outputs, which come back at those positions, are
    gathered into the ``go_backwards`` packing (``mirrored``). ``aligned``, ``concatenated``: see ``run_scan``.
    """
    first, call = layers[0], calls[0]
    name, cell = _fused_name(first), first.cell
    assert name is not None
    pair = len(layers) == 2
    packed, packing = pack(_dropped(first, call), call.mask, first.go_backwards)
    rows = packing.batch_sizes[0] if packing.batch_sizes else 0
    if rows == 0:  # nothing runs; the sequence kernels keep the (all-zero) gradients connected
        return run_scan(layers, calls, aligned, concatenated)
    states = [[s.index_select(0, packing.order) for s in c.states] for c in calls]  # sorted like the packed rows
    params = _kernel_parameters(layers, name)
    running = [torch.stack([direction[k][:rows] for direction in states]) for k in range(len(states[0]))]
    outputs, finals = _torch_kernel(name, packed, running, params, cell.use_bias, pair, packing.batch_sizes)
    u = cell.units
    hs = [outputs[:, :u], outputs[:, u:].index_select(0, mirrored(packing))] if pair else [outputs]
    packings = [packing, packing_of(call.mask, True)] if pair else [packing]
    per_direction = [
        (hs[k], *(torch.cat([final[k], initial[rows:]]) for final, initial in zip(finals, states[k])))
        for k in range(len(layers))
    ]
    return _packed_results(layers, per_direction, packings, aligned, concatenated)


def run(layer: RNN, call: Call, aligned: bool = False, paired: bool = False) -> Result:
    """Run one layer's call on the kernel ``choose`` picks.

    ``aligned``: return the output sequence in input time order (``Bidirectional`` asks for this to
    avoid flipping twice); the default is the layer's processing order. ``paired``: see ``choose``.
    """
    kernel = kernel_for(layer, call, paired)
    if kernel == "scan" and not paired and _splits_batch(layer, call):  # dropout masks drawn for the whole batch
        drawn = layer.cell.dropout_masks(call.sequences, call.states, call.training)
        return _joined(run_scan([layer, layer], _halves(dataclasses.replace(call, dropout=drawn)), aligned))
    if kernel == "loop":  # a stack of cells (no kernel of its own) may still run cell by cell on theirs
        views = _stacked(layer, call)
        if views is not None:
            return _run_stacked(views, call, aligned, paired)
        last, sequence, final = run_loop_kernel(layer, call)
        if aligned and layer.go_backwards and sequence is not None:
            sequence = sequence.flip(1)
        return last, sequence, final
    runner = {"fused": run_fused, "fused_masked": run_fused_masked, "fused_packed": run_fused_packed,
              "scan": run_scan}[kernel]
    return runner([layer], [call], aligned)[0]


@dataclass(frozen=True)
class CellView:
    """One cell of a ``StackedRNNCells`` seen as a layer of its own: the attributes of an ``RNN`` that the
    kernels read (``_stacked``)."""

    cell: Any
    go_backwards: bool
    return_sequences: bool
    zero_output_for_mask: bool
    return_state: bool
    stateful: bool
    use_cudnn: bool | str = "auto"


def _stacked(layer: RNN, call: Call) -> list[CellView] | None:
    """An ``RNN`` over stacked cells (``RNN([cell, cell])``) as one layer per cell, or ``None`` to run it whole.

    Cell ``k`` reads cell ``k - 1``'s output at the same step only, and every cell skips the same masked steps,
    so running each cell over the whole sequence the one below returned gives the step loop's numbers, and
    each cell its own kernels (fused, sequence kernels, a batch split). Only when every cell has a sequence
    kernel (``reason_for_loop``), without ``constants`` or ``use_cudnn=False``, when no dropout is drawn
    (the step loop draws a stacked cell's masks at every step, not once per call), and not while tracing or
    compiling (exporters see the whole stack's step loop).
    """
    from ._stacked import StackedRNNCells

    if not isinstance(layer.cell, StackedRNNCells) or layer.use_cudnn is False or call.constants is not None:
        return None
    if torch.jit.is_tracing() or torch.compiler.is_compiling():
        return None
    top = len(layer.cell.cells) - 1
    views = [
        CellView(cell, layer.go_backwards, layer.return_sequences if i == top else True,
                 layer.zero_output_for_mask if i == top else True, layer.return_state, layer.stateful)
        for i, cell in enumerate(layer.cell.cells)
    ]
    if any(reason_for_loop(view, training=call.training, constants=None) is not None for view in views):
        return None
    return None if _draws_random_numbers(views, [call] * len(views)) else views


def _run_stacked(views: list[CellView], call: Call, aligned: bool, paired: bool) -> Result:
    """Run ``_stacked``'s layers in turn, each on the sequence the one below returned (in input time order)."""
    states, sequences, finals = iter(call.states), call.sequences, []
    for i, view in enumerate(views):
        own = [next(states) for _ in state_sizes(view.cell)]
        top = i == len(views) - 1
        own_call = dataclasses.replace(call, sequences=sequences, initial_states=own)
        last, sequences, final = run(view, own_call, aligned=aligned if top else True, paired=paired)  # type: ignore[arg-type]
        finals += final
    return last, sequences, finals


SPLIT_WORK = 384
"""A lone direction's batch is split into two halves from this many rows times steps on (``_splits_batch``)."""


def _splits_batch(layer: RNN, call: Call) -> bool:
    """A lone direction on the compiled sequence kernels runs its batch as two halves, one per core (a
    recurrence's rows are independent), each on the one-core tiled product, instead of one loop whose per-step
    product is MKL's on both cores: a training step of 64 rows, 100 steps and 128 units takes 0.77x the time
    (LSTM; GRU 0.81x, 0.60-0.82x from 2 to 256 rows), GRU inference 0.65-0.83x. Not with one thread, for less
    work than ``SPLIT_WORK`` (handing a half to the other thread costs ~0.4 ms; the lone job runs on one core
    instead, ``_scan._on_threads``: 0.85x the split's time at 2 rows of 100 steps or 8 rows of 20, LSTM
    training, GRU 0.75x; about even at 4 rows of 100, where the split starts; 1.4x at 8 rows of 100), or
    without the compiled loops (two Python-driven loops take turns on the GIL). Dropout masks
    are drawn for the whole batch first, as the loop draws them, and each half takes its rows."""
    rows, steps = call.sequences.shape[:2]
    return (
        torch.get_num_threads() >= 2
        and rows >= 2
        and rows * steps >= SPLIT_WORK
        and _native.available()
    )


def _halves(call: Call) -> list[Call]:
    """The call over the first and over the last half of its rows (views), dropout masks included."""
    rows = call.sequences.shape[0]
    sizes = [rows // 2, rows - rows // 2]

    def split(t: Tensor | None) -> tuple[Tensor | None, ...]:
        return (None, None) if t is None else t.split(sizes)

    sequences, mask, states = split(call.sequences), split(call.mask), [split(s) for s in call.states]
    drawn = call.dropout or DropoutMasks()
    inputs, recurrent = split(drawn.inputs), split(drawn.recurrent)
    return [
        dataclasses.replace(call, sequences=sequences[i], initial_states=[s[i] for s in states], mask=mask[i],
                            dropout=DropoutMasks(inputs[i], recurrent[i]))
        for i in range(2)
    ]


def _joined(results: list[Result]) -> Result:
    """One result from the halves' (``_halves``): every tensor concatenated along the batch."""
    (last_a, seq_a, final_a), (last_b, seq_b, final_b) = results
    cat = lambda a, b: None if a is None else torch.cat([a, b])  # noqa: E731
    return cat(last_a, last_b), cat(seq_a, seq_b), [cat(a, b) for a, b in zip(final_a, final_b)]


def _fusable_pair(forward: RNN, backward: RNN, calls: list[Call]) -> bool:
    """Both directions fit one bidirectional PyTorch kernel call."""
    a, b = forward.cell, backward.cell
    name = _fused_name(forward)
    return (
        type(a) is type(b)
        and name is not None
        and name == _fused_name(backward)
        and a.units == b.units
        and a.use_bias == b.use_bias
        and (forward.go_backwards, backward.go_backwards) == (False, True)
        and not any(c.training and c.dropout > 0 for c in (a, b))
        and calls[0].sequences is calls[1].sequences
    )


def _one_call(layers: list[RNN], calls: list[Call], tracing: bool) -> bool:
    """A fusable pair runs as one bidirectional call: when traced (exporters see one node) and off the CPU
    (cuDNN: one call for both directions, forward and backward, where two calls would queue on one stream);
    on the CPU the directions run concurrently, one core each (module docstring)."""
    return tracing or calls[0].sequences.device.type != "cpu"


def _same_mask(calls: list[Call]) -> bool:
    first, second = (call.mask for call in calls)
    return first is second or (first is not None and second is not None and torch.equal(first, second))


def _draws_random_numbers(layers: list[RNN], calls: list[Call]) -> bool:
    """Dropout masks would be drawn on two threads in a nondeterministic order."""
    return any(
        call.training and (getattr(layer.cell, "dropout", 0.0) > 0 or getattr(layer.cell, "recurrent_dropout", 0.0) > 0)
        for layer, call in zip(layers, calls)
    )


def _unique(tensors: list[Tensor]) -> list[Tensor]:
    seen: set[int] = set()
    return [t for t in tensors if not (id(t) in seen or seen.add(id(t)))]


def run_pair(forward: RNN, backward: RNN, calls: list[Call], concatenated: bool = False) -> list[Result]:
    """Both directions of a ``Bidirectional``, sequences in input time order.

    A standard pair off the CPU (or while tracing) is one bidirectional PyTorch kernel call (``_one_call``), under a
    mask too on CUDA (``run_fused_packed``); two sequence-kernel directions are one ``run_scan`` call (its jobs run on two
    threads, and input dropout is drawn on this thread, in order; ``concatenated``: see ``run_scan``);
    otherwise the two directions run concurrently on two threads, forward and backward
    (``_concurrent``), each on its own kernel, unless dropout draws random numbers (kept sequential to
    stay reproducible).
    """
    layers = [forward, backward]
    kernels = [kernel_for(forward, calls[0], paired=True), kernel_for(backward, calls[1], paired=True)]
    tracing = torch.jit.is_tracing() or torch.compiler.is_compiling()
    if _fusable_pair(forward, backward, calls) and _one_call(layers, calls, tracing):
        if kernels == ["fused", "fused"]:
            return run_fused(layers, calls, aligned=True)
        if kernels == ["fused_packed", "fused_packed"] and _same_mask(calls):
            return run_fused_packed(layers, calls, aligned=True, concatenated=concatenated)
    if kernels == ["scan", "scan"]:  # one autograd call whose jobs run on two threads (``_scan.scan``)
        return run_scan(layers, calls, aligned=True, concatenated=concatenated)
    if tracing or _draws_random_numbers(layers, calls):
        return [run(layer, call, aligned=True) for layer, call in zip(layers, calls)]

    def task(layer: RNN, call: Call) -> Any:
        return lambda: _flatten_result(run(layer, call, aligned=True, paired=True))

    inputs = _unique([  # what gradients flow to (zero states made inside need none)
        t for layer, call in zip(layers, calls) for t in (call.sequences, *(call.initial_states or ()), *layer.parameters())
    ])
    flat = concurrently([task(layer, call) for layer, call in zip(layers, calls)], inputs)
    return [(f[0], f[1], list(f[2:])) for f in flat]


def _flatten_result(result: Result) -> list[Tensor | None]:
    last, sequence, final = result
    return [last, sequence, *final]
