"""How much CPU *other* processes take: the suite waits for a quiet machine and flags busy runs.

The project's machines are shared (2 cores) and a PyTorch step loop slows down many times over
when another process competes for a core (OpenMP barriers wait on descheduled threads), so every
measurement records the CPU time that processes other than the worker used while it ran:

    foreign cores = (busy CPU time of the machine, from /proc/stat
                     - CPU time of the worker, from getrusage(RUSAGE_CHILDREN)) / wall time

0.0 means the worker had the machine to itself; 1.0 means another process kept one core busy.
"""

from __future__ import annotations

import os
import resource
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CpuSnapshot", "available", "foreign_cores", "snapshot", "wait_until_quiet"]

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True)
class CpuSnapshot:
    """Busy seconds of the whole machine and CPU seconds of finished children, at one instant."""

    wall: float
    machine_busy_s: float
    children_cpu_s: float


def available() -> bool:
    return Path("/proc/stat").exists()


def _machine_busy_s() -> float:
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / _TICKS


def snapshot() -> CpuSnapshot:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return CpuSnapshot(time.perf_counter(), _machine_busy_s(), children.ru_utime + children.ru_stime)


def foreign_cores(before: CpuSnapshot, after: CpuSnapshot) -> float:
    """Average number of cores kept busy by processes other than the children finished in between."""
    wall = after.wall - before.wall
    if wall <= 0:
        return 0.0
    own = after.children_cpu_s - before.children_cpu_s
    return max(0.0, (after.machine_busy_s - before.machine_busy_s - own) / wall)


def wait_until_quiet(threshold: float, max_wait_s: float, window_s: float = 2.0) -> tuple[float, float]:
    """Sleep until other processes use fewer than ``threshold`` cores over ``window_s`` (at most ``max_wait_s``).

    Returns ``(last measured foreign cores, seconds waited)``. Nothing of ours runs meanwhile, so
    all busy time counts as foreign.
    """
    start = time.perf_counter()
    while True:
        before = snapshot()
        time.sleep(window_s)
        busy = foreign_cores(before, snapshot())
        waited = time.perf_counter() - start
        if busy < threshold or waited >= max_wait_s:
            return busy, waited
