"""Timing and peak-memory measurement of one step callable.

Timing: ``warmup`` untimed calls (they absorb graph tracing, XLA compilation, lazy builds and
allocator warm-up), then ``repeats`` individually timed calls with ``time.perf_counter``; the
figure reported is the median in milliseconds. Every step callable must be synchronous (peers
convert their outputs or call ``synchronize`` themselves).

Peak memory (CPU), the *transient* memory of one step above the process's steady state:

1. glibc is told to serve every allocation of 64 KiB or more with its own ``mmap`` and to give
   freed memory back at once (``mallopt(M_MMAP_THRESHOLD, 64 KiB)``, ``mallopt(M_TRIM_THRESHOLD,
   0)``), and ``malloc_trim(0)`` returns what the earlier steps left cached, so that the resident
   set size (RSS) follows live memory;
2. the kernel's RSS high-water mark is reset to the current RSS (``5`` written to
   ``/proc/self/clear_refs``, Linux >= 4.0) and that RSS is read;
3. one step runs; the figure is ``VmHWM - RSS before`` from ``/proc/self/status``.

This works the same for PyTorch, TensorFlow and JAX (all allocate CPU memory through malloc),
needs no framework hooks (``tracemalloc`` does not see native allocations), and counts
everything the step touches: saved activations, gradients (freed between steps by
``zero_grad(set_to_none=True)``), optimizer temporaries and library workspaces. It runs after
the timed steps, since the malloc settings slow allocation-heavy code. Persistent memory
(weights, optimizer slots, caches kept across steps) is not part of the figure. On CUDA the
figure is ``torch.cuda.max_memory_allocated()`` minus the memory allocated before the step.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Timing", "memory_method_available", "peak_step_memory_mib", "time_step"]

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_MIB = 1024 * 1024


@dataclass(frozen=True)
class Timing:
    """Per-call wall times of the timed repetitions, in milliseconds."""

    times_ms: tuple[float, ...]

    @property
    def median_ms(self) -> float:
        return statistics.median(self.times_ms)

    @property
    def min_ms(self) -> float:
        return min(self.times_ms)


def time_step(step: Callable[[], object], *, warmup: int, repeats: int,
              before: Callable[[], object] | None = None) -> Timing:
    """Call ``step`` ``warmup`` times untimed, then time ``repeats`` calls one by one, each after an
    untimed call of ``before`` (if given)."""
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    for _ in range(warmup):
        step()
    gc.collect()
    times = []
    for _ in range(repeats):
        if before is not None:
            before()
        start = time.perf_counter()
        step()
        times.append((time.perf_counter() - start) * 1e3)
    return Timing(tuple(times))


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    libc = ctypes.CDLL(name)
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


def memory_method_available() -> str | None:
    """``None`` when the RSS high-water method works here, else the reason it does not."""
    if not Path("/proc/self/clear_refs").exists():
        return "no /proc/self/clear_refs (not Linux)"
    if _libc() is None:
        return "no glibc mallopt/malloc_trim"
    return None


def peak_step_memory_mib(step: Callable[[], object], device: str = "cpu") -> float | None:
    """Transient memory of one call of ``step`` in MiB (see the module docstring), or ``None``."""
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        step()
        torch.cuda.synchronize()
        return (torch.cuda.max_memory_allocated() - before) / _MIB
    if memory_method_available() is not None:
        return None
    libc = _libc()
    assert libc is not None
    libc.mallopt(_M_MMAP_THRESHOLD, 64 * 1024)
    libc.mallopt(_M_TRIM_THRESHOLD, 0)
    gc.collect()
    libc.malloc_trim(0)
    Path("/proc/self/clear_refs").write_text("5")
    before = _status_kib("VmRSS")
    step()
    peak = _status_kib("VmHWM")
    return max(0, peak - before) / 1024
