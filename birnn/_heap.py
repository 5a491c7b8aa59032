"""Keep freed memory in the process heap between training steps (glibc only).

A training step allocates and frees the same large buffers every time (activations, gradients,
packed sequences: a few MiB each). glibc's ``malloc`` hands the top of its heap back to the kernel
whenever more than ``M_TRIM_THRESHOLD`` bytes there are free (by default twice the largest block it
has seen freed, a few MiB here), so the next step asks for the same pages again and the kernel
zero-fills each one on first touch: in the benchmark's masked LSTM step that was 2,000 to 9,000
page faults per step and about 10 % of its time (``benchmarks/``).

``keep_freed_memory()`` raises the trim threshold to ``TRIM_THRESHOLD`` bytes and fixes the size
above which blocks get their own ``mmap`` at ``MMAP_THRESHOLD`` (the most glibc's own adaptive
rule would reach; setting one parameter turns that rule off, so both are set). The price is that up
to ``TRIM_THRESHOLD`` bytes of freed memory stay resident in the heap, which a training process
reuses on its next step anyway. birnn applies it once, the first time a compiled sequence kernel
trains on the CPU. It changes a process-wide setting, so it stays off when:

* the environment variable ``BIRNN_HEAP=0`` is set;
* the user already tuned glibc's allocator (any ``MALLOC_*`` environment variable, or
  ``glibc.malloc`` in ``GLIBC_TUNABLES``), or preloaded another allocator (``LD_PRELOAD``);
* the C library is not glibc.

Example:
    >>> from birnn._heap import reason_not_applied
    >>> reason_not_applied({"BIRNN_HEAP": "0"})
    'BIRNN_HEAP=0'
    >>> reason_not_applied({"MALLOC_ARENA_MAX": "2"})
    "glibc's allocator is already tuned (MALLOC_ARENA_MAX)"
"""

from __future__ import annotations

import ctypes
import functools
import os

__all__ = ["MMAP_THRESHOLD", "TRIM_THRESHOLD", "keep_freed_memory", "reason_not_applied"]

TRIM_THRESHOLD = 128 << 20
"""Free bytes at the top of the heap that glibc keeps instead of returning them to the kernel."""

MMAP_THRESHOLD = 32 << 20
"""Blocks of this many bytes or more get their own ``mmap`` (glibc's adaptive rule stops here too)."""

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def _glibc() -> ctypes.CDLL | None:
    libc = ctypes.CDLL(None)
    return libc if hasattr(libc, "gnu_get_libc_version") and hasattr(libc, "mallopt") else None


def reason_not_applied(environ: dict[str, str] | os._Environ[str] = os.environ) -> str | None:
    """Why ``keep_freed_memory`` leaves the allocator alone here, or ``None`` if it may tune it."""
    if environ.get("BIRNN_HEAP", "1") == "0":
        return "BIRNN_HEAP=0"
    tuned = sorted(k for k in environ if k.startswith("MALLOC_"))
    if tuned:
        return f"glibc's allocator is already tuned ({', '.join(tuned)})"
    if "glibc.malloc" in environ.get("GLIBC_TUNABLES", ""):
        return "glibc's allocator is already tuned (GLIBC_TUNABLES)"
    if environ.get("LD_PRELOAD", ""):
        return f"another allocator may be preloaded (LD_PRELOAD={environ['LD_PRELOAD']!r})"
    if _glibc() is None:
        return "the C library is not glibc"
    return None


@functools.cache
def keep_freed_memory() -> bool:
    """Tune glibc (once per process) to keep freed memory for the next step; whether it is tuned."""
    libc = _glibc()
    return (
        reason_not_applied() is None
        and libc is not None
        and libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
        and libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
    )
