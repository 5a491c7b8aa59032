"""birnn._heap: glibc keeps a training step's freed memory for the next step."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import textwrap

import pytest

from birnn import _heap


@pytest.mark.parametrize(
    ("environ", "reason"),
    [
        ({"BIRNN_HEAP": "0"}, "BIRNN_HEAP=0"),
        ({"MALLOC_TRIM_THRESHOLD_": "0"}, "already tuned (MALLOC_TRIM_THRESHOLD_)"),
        ({"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=1"}, "already tuned (GLIBC_TUNABLES)"),
        ({"LD_PRELOAD": "libjemalloc.so"}, "LD_PRELOAD='libjemalloc.so'"),
    ],
)
def test_user_settings_leave_the_allocator_alone(environ: dict[str, str], reason: str) -> None:
    assert reason in (_heap.reason_not_applied(environ) or "")


def test_a_plain_glibc_environment_may_be_tuned() -> None:
    if _heap._glibc() is None:
        pytest.skip("the C library is not glibc")
    assert _heap.reason_not_applied({"BIRNN_HEAP": "1", "GLIBC_TUNABLES": "glibc.rtld.nns=2"}) is None


_PROBE = textwrap.dedent(
    """
    import ctypes, sys
    import torch
    from birnn import _heap

    class Info(ctypes.Structure):  # struct mallinfo2
        _fields_ = [(n, ctypes.c_size_t) for n in
                    "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]

    libc = ctypes.CDLL(None)
    libc.mallinfo2.restype = Info
    applied = _heap.keep_freed_memory()
    assert _heap.keep_freed_memory() == applied  # once per process, same answer
    blocks = [torch.ones(5 << 18) for _ in range(8)]  # 8 blocks of 5 MiB
    del blocks
    print(int(applied), libc.mallinfo2().fordblks >> 20)
    """
)


def _probe(birnn_heap: str) -> tuple[bool, int]:
    """(tuned, MiB free in the heap after 40 MiB were freed) in a fresh process without allocator settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "LD_PRELOAD"}
    out = subprocess.run(
        [sys.executable, "-c", _PROBE], env={**env, "BIRNN_HEAP": birnn_heap}, capture_output=True, text=True,
        check=True,
    ).stdout.split()
    return out[0] == "1", int(out[1])


def test_freed_step_memory_stays_in_the_heap() -> None:
    if _heap._glibc() is None or not hasattr(ctypes.CDLL(None), "mallinfo2"):
        pytest.skip("needs glibc >= 2.33 (mallinfo2)")
    tuned, kept = _probe("1")
    untuned, kept_untuned = _probe("0")
    assert tuned and not untuned
    assert kept >= 38, f"only {kept} MiB of 40 MiB freed stayed in the heap"
    assert kept_untuned < 20, "glibc's defaults hand large freed blocks back (the reason for the tuning)"
