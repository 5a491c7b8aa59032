"""Run the two directions of a ``Bidirectional`` at the same time, forward *and* backward.

A recurrence is latency-bound: each step is a small matrix multiply and a few element-wise
operations that cannot use two cores well. Two independent directions can, one per core. Running
them on two Python threads overlaps their forward passes, but autograd would still replay both
backward passes one after the other on one thread. ``concurrently`` therefore wraps the two
directions in one autograd function: its forward runs each direction's own differentiable
computation on its own thread (recording a private graph), and its backward replays the two
private graphs on two threads with ``torch.autograd.grad``, summing the gradients of shared inputs
(the input sequence). The private graphs are retained exactly when the caller retains its own
(``retain_graph=True``), and released right after their backward otherwise.

Any per-direction computation works (PyTorch's fused kernels, the sequence kernels, the step
loop); the caller keeps random draws (dropout masks) out of it so results stay reproducible. Two
directions that both run on the sequence kernels skip this wrapper: they are one ``_scan`` autograd
call whose forward and backward hand the two jobs to ``in_parallel`` themselves (no private graphs,
and the Python around the kernels stays on the calling thread).

Each task runs with one OpenMP thread (``one_thread``): two directions on two cores, instead of two
teams of ``torch.get_num_threads()`` threads competing for them. For the small per-step matrix
multiplies of a recurrence this is faster (one thread reaches ~2/3 of two threads' speed).

One more thing keeps the cores free for the two directions. After each parallel region, libgomp's idle
workers spin (~300k iterations) before they sleep. The main thread's own OpenMP worker, woken by any
parallel operation between two layers (a concatenation, the loss), would spin on the core the other
direction needs (the benchmark's LSTM step: ~126 -> ~155 ms, that worker burning ~35 ms of CPU per
step). So right before the directions start, the calling thread releases its OpenMP workers
(``omp_pause_resource_all``, OpenMP 5.0; ``_release_openmp_workers``): they exit, and its next parallel
region starts new ones (tens of microseconds, a few times per step). Making libgomp throttle its spinning
everywhere instead (it does when it manages more threads than there are cores) cost ~2 ms per step in
the many small parallel operations outside the recurrences (the optimizer step: 2.5 vs 0.5 ms).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import ctypes
from collections.abc import Callable, Iterator, Sequence
from functools import cache
from typing import Any

import torch
from torch import Tensor
from torch.autograd.graph import get_gradient_edge

from ..._autograd import keeps_graph

__all__ = ["concurrently", "in_parallel", "one_thread"]

Task = Callable[[], Sequence[Tensor | None]]

_POOL: concurrent.futures.ThreadPoolExecutor | None = None


@cache
def _openmp() -> ctypes.CDLL | None:
    """PyTorch's OpenMP runtime when ATen parallelises with it (its thread count is then per thread)."""
    if "parallel backend: OpenMP" not in torch.__config__.parallel_info():
        return None
    try:  # the soname PyTorch's own libgomp carries: dlopen returns the copy already loaded
        return ctypes.CDLL("libgomp.so.1")
    except OSError:
        return None


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run the block with one OpenMP thread on this thread (no-op without PyTorch's OpenMP runtime).

    Example:
        >>> with one_thread():
        ...     inside = torch.get_num_threads()
        >>> inside == 1 or _openmp() is None
        True
    """
    runtime = _openmp()
    if runtime is None:
        yield
        return
    previous = torch.get_num_threads()
    runtime.omp_set_num_threads(1)
    try:
        yield
    finally:
        runtime.omp_set_num_threads(previous)


_OMP_PAUSE_SOFT = 1


def _release_openmp_workers() -> None:
    """Let the calling thread's idle OpenMP workers exit now instead of spinning on the cores the
    directions are about to use (module docstring); a no-op where the runtime lacks OpenMP 5.0's call."""
    pause = getattr(_openmp(), "omp_pause_resource_all", None)
    if pause is not None:
        pause(_OMP_PAUSE_SOFT)


def in_parallel(tasks: Sequence[Callable[[], object]]) -> list[object]:
    """Results of ``tasks``, the first on this thread and the others on a worker thread.

    Grad mode is thread-local, so each task runs under this thread's current grad mode.

    Example:
        >>> in_parallel([lambda: 1, lambda: 2])
        [1, 2]
    """
    global _POOL
    grad_enabled = torch.is_grad_enabled()

    def under_grad_mode(task: Callable[[], object]) -> Callable[[], object]:
        def run() -> object:
            with torch.set_grad_enabled(grad_enabled), one_thread():
                return task()

        return run

    if len(tasks) < 2 or torch.get_num_threads() < 2:
        return [task() for task in tasks]
    if _POOL is None:
        _POOL = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="birnn-direction")
    _release_openmp_workers()
    pending = [_POOL.submit(under_grad_mode(task)) for task in tasks[1:]]
    first = under_grad_mode(tasks[0])()
    return [first, *(future.result() for future in pending)]


def _edge(output: Tensor | None) -> Any:
    """Where a task's output enters its private graph, without keeping the output's memory alive
    (the caller's graph holds it only as long as it needs it); ``None`` if no gradient flows."""
    if output is None or not output.requires_grad:
        return None
    return output if output.grad_fn is None else get_gradient_edge(output)


class _Concurrently(torch.autograd.Function):
    @staticmethod
    def forward(ctx, tasks, counts, *inputs):  # type: ignore[override]
        ctx.set_materialize_grads(False)  # an unused output (say, the last output of a sequence layer) costs nothing
        with torch.enable_grad():
            results = in_parallel(tasks)
        counts.extend(len(r) for r in results)  # how the caller cuts the flat outputs back into the tasks' lists
        ctx.results = [[_edge(out) for out in r] for r in results]
        ctx.inputs = inputs
        return tuple(None if out is None else out.detach() for r in results for out in r)

    @staticmethod
    def backward(ctx, *grads):  # type: ignore[override]
        if ctx.results is None:
            raise RuntimeError(
                "Trying to backward through a birnn Bidirectional layer a second time; its graph was freed after "
                "the first backward pass. Pass retain_graph=True to the first one."
            )
        wanted = [i for i, t in enumerate(ctx.inputs) if isinstance(t, Tensor) and t.requires_grad]
        offsets, start = [], 0
        for outputs in ctx.results:
            offsets.append((start, start + len(outputs)))
            start += len(outputs)

        def replay(outputs: list[Any], upstream: tuple[Tensor | None, ...]) -> Callable[[], object]:
            def run() -> tuple[Tensor | None, ...]:
                pairs = [(o, g) for o, g in zip(outputs, upstream) if o is not None and g is not None]
                if not pairs or not wanted:
                    return (None,) * len(wanted)
                return torch.autograd.grad(
                    [o for o, _ in pairs],
                    [ctx.inputs[i] for i in wanted],
                    [g for _, g in pairs],
                    retain_graph=keep,
                    allow_unused=True,
                )

            return run

        keep = keeps_graph()
        per_task = in_parallel([replay(outputs, grads[a:b]) for outputs, (a, b) in zip(ctx.results, offsets)])
        if not keep:  # free the private graphs (and what they saved) now, not when the caller drops its graph
            ctx.results = None
        summed: list[Tensor | None] = [None] * len(ctx.inputs)
        upstream = {g.untyped_storage().data_ptr() for g in grads if g is not None}
        for task_grads in per_task:
            for i, g in zip(wanted, task_grads):
                if g is None:
                    continue
                if summed[i] is None:
                    summed[i] = g
                elif _non_overlapping_and_dense(summed[i]) and summed[i].shape == g.shape and not (
                    summed[i].untyped_storage().data_ptr() in upstream
                ):  # made by the task's backward pass (not an upstream gradient passed through): ours to add to
                    summed[i].add_(g)
                else:
                    summed[i] = summed[i] + g
        return (None, None, *summed)


def _non_overlapping_and_dense(t: Tensor) -> bool:
    """Every element has its own memory and no gaps between them, in some order of the dimensions (the
    input gradient of a layer reading a time-major sequence through a batch-major view is)."""
    order = sorted(range(t.dim()), key=lambda d: t.stride(d), reverse=True)
    return t.permute(order).is_contiguous()


def concurrently(tasks: Sequence[Task], inputs: Sequence[Tensor]) -> list[list[Tensor | None]]:
    """Run ``tasks`` (each returning a list of tensors or ``None`` s) on two threads.

    Gradients flow to ``inputs``: every tensor the tasks read that may need a gradient (sequences,
    states, weights). Both backward passes run on two threads too. Without grad mode the tasks
    simply run in parallel.

    Example:
        >>> w = torch.ones(3, requires_grad=True)
        >>> (a,), (b,) = concurrently([lambda: [w * 2], lambda: [w * 3]], [w])
        >>> (a + b).sum().backward()
        >>> w.grad.tolist()
        [5.0, 5.0, 5.0]
    """
    if not torch.is_grad_enabled() or not any(t.requires_grad for t in inputs):
        return [list(r) for r in in_parallel(tasks)]
    counts: list[int] = []
    flat = _Concurrently.apply(list(tasks), counts, *inputs)
    results, start = [], 0
    for count in counts:
        results.append(list(flat[start : start + count]))
        start += count
    return results
