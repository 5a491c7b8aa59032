"""Run the suite: every selected case x peer, one worker subprocess at a time, into one result dict.

Cases are the outer loop and peers the inner one, so that the peers of one case are measured
minutes apart at most and their ratios share the machine's conditions. Workers run strictly one
after another (the project's CPU machines have 2 cores; two workers would measure each other).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import load
from .cases import Case, tiny
from .peers import PEERS, missing_requirement
from .worker import MARKER

__all__ = ["SuiteConfig", "machine_info", "run_suite", "run_worker", "source_info"]

_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class SuiteConfig:
    """What to run and how (see ``python -m benchmarks --help`` for each option).

    Shared machines: before each worker the suite waits (at most ``max_wait_s``) until other
    processes use fewer than ``quiet_cores`` cores, and it runs a worker again (at most
    ``retries`` times) when others used more than that while it ran, keeping the quietest result.
    ``rounds`` > 1 measures every case's peers that many times, in alternating order (A B C, C B A,
    ...), and pools each peer's timed steps: a machine whose speed drifts over minutes then slows all
    peers of a case alike instead of whichever ran during the slow stretch.
    """

    cases: tuple[Case, ...]
    peers: tuple[str, ...]
    warmup: int = 3
    repeats: int = 10
    threads: int = 2
    device: str = "cpu"
    memory: bool = True
    tiny: bool = False
    timeout_s: float = 900.0
    quiet_cores: float = 0.25
    max_wait_s: float = 300.0
    retries: int = 2
    rounds: int = 1
    python: str = field(default=sys.executable)

    def __post_init__(self) -> None:
        if self.rounds < 1:
            raise ValueError(f"rounds must be at least 1, got {self.rounds}")

    def worker_args(self, peer: str, case: Case) -> list[str]:
        args = [
            self.python,
            "-m",
            "benchmarks.worker",
            "--peer",
            peer,
            "--case",
            case.name,
            "--warmup",
            str(self.warmup),
            "--repeats",
            str(self.repeats),
            "--threads",
            str(self.threads),
            "--device",
            self.device,
        ]
        return args + (["--no-memory"] if not self.memory else []) + (["--tiny"] if self.tiny else [])


def _cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _memory_gib() -> float | None:
    meminfo = Path("/proc/meminfo")
    if not meminfo.exists():
        return None
    for line in meminfo.read_text().splitlines():
        if line.startswith("MemTotal:"):
            return round(int(line.split()[1]) / 1024**2, 1)
    return None


def source_info() -> dict[str, Any]:
    """The measured checkout: commit and whether ``birnn/`` has uncommitted changes (read-only git)."""
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}

    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["git", *args], cwd=_ROOT, env=env, capture_output=True, text=True, timeout=30, check=False)

    try:
        commit = git("rev-parse", "--short", "HEAD")
        status = git("status", "--porcelain", "--", "birnn")
    except (OSError, subprocess.TimeoutExpired):
        return {"commit": None, "birnn_modified": None}
    if commit.returncode != 0:
        return {"commit": None, "birnn_modified": None}
    return {"commit": commit.stdout.strip(), "birnn_modified": bool(status.stdout.strip())}


def machine_info() -> dict[str, Any]:
    """CPU model, core count, memory, OS and Python of the machine running the suite."""
    return {
        "cpu": _cpu_model(),
        "cpus": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def run_worker(config: SuiteConfig, peer: str, case: Case) -> dict[str, Any]:
    """Run one worker; return its result, or ``{"error": ...}`` with the tail of its stderr."""
    spec = PEERS[peer]
    env = {**os.environ, **spec.env, "OMP_NUM_THREADS": str(config.threads)}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_ROOT), env.get("PYTHONPATH")]))
    try:
        proc = subprocess.run(
            config.worker_args(peer, case),
            cwd=_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=config.timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {config.timeout_s:.0f} s"}
    lines = [line for line in proc.stdout.splitlines() if line.startswith(MARKER)]
    if proc.returncode != 0 or not lines:
        tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
        return {"error": f"worker exited with {proc.returncode}: {tail}"}
    result: dict[str, Any] = json.loads(lines[-1][len(MARKER) :])
    if any("error" in record for record in result["variants"]):
        result["stderr_tail"] = proc.stderr.strip().splitlines()[-5:]
    return result


def run_quietly(config: SuiteConfig, peer: str, case: Case, log: Callable[[str], None]) -> dict[str, Any]:
    """``run_worker`` on a quiet machine: wait, measure foreign load, retry when it was busy."""
    best: dict[str, Any] | None = None
    for attempt in range(1, config.retries + 2):
        if config.max_wait_s > 0 and load.available():
            busy, waited = load.wait_until_quiet(config.quiet_cores, config.max_wait_s)
            if waited > 5:
                log(f"  waited {waited:.0f} s for a quiet machine (others now use {busy:.2f} cores)")
        before = load.snapshot()
        result = run_worker(config, peer, case)
        result["foreign_cores"] = load.foreign_cores(before, load.snapshot()) if load.available() else None
        result["attempt"] = attempt
        if best is None or (result["foreign_cores"] or 0.0) < (best["foreign_cores"] or 0.0):
            best = result
        if "error" in result or (result["foreign_cores"] or 0.0) <= config.quiet_cores:
            break
        if attempt <= config.retries:
            log(f"  other processes used {result['foreign_cores']:.2f} cores during {case.name} / {peer}; again")
    assert best is not None
    return best


def _rows(peer: str, case: Case, result: dict[str, Any]) -> list[dict[str, Any]]:
    """Flatten one worker result into one row per variant."""
    base = {
        "case": case.name,
        "peer": peer,
        "foreign_cores": result.get("foreign_cores"),
        "attempt": result.get("attempt"),
    }
    if "error" in result and "variants" not in result:
        return [{**base, "variant": "", "error": result["error"]}]
    rows = [{**base, **record, "load_average": result.get("load_average")} for record in result["variants"]]
    for row in rows:
        if "error" in row and "stderr_tail" in result:
            row["stderr_tail"] = result["stderr_tail"]
    return rows


def run_suite(config: SuiteConfig, log: Callable[[str], None] = lambda line: None) -> dict[str, Any]:
    """Run every case x peer of ``config``; return the results as a JSON-serializable dict."""
    started = dt.datetime.now(dt.timezone.utc)
    load_start = list(os.getloadavg())
    skipped = {peer: note for peer in config.peers if (note := missing_requirement(PEERS[peer])) is not None}
    for peer, note in skipped.items():
        log(f"skipping {peer}: {note}")
    runnable = [peer for peer in config.peers if peer not in skipped]
    rows: list[dict[str, Any]] = []
    versions: dict[str, str] = {}
    total, done = len(config.cases) * len(runnable) * config.rounds, 0
    for case in config.cases:
        measured: dict[str, list[list[dict[str, Any]]]] = {peer: [] for peer in runnable}
        for order in round_orders(runnable, config.rounds):
            for peer in order:
                done += 1
                result = run_quietly(config, peer, case, log)
                versions.update(result.get("versions", {}))
                new_rows = _rows(peer, case, result)
                measured[peer].append(new_rows)
                log(f"[{done}/{total}] {case.name} / {peer}: " + "; ".join(_summary(row) for row in new_rows))
        rows += [row for peer in runnable for row in pool_rounds(measured[peer])]
    shown_cases = [tiny(case) if config.tiny else case for case in config.cases]
    run = {
        "started": started.isoformat(timespec="seconds"),
        "finished": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "source": source_info(),
        "load_average_start": load_start,
        "load_average_end": list(os.getloadavg()),
        "config": {
            "warmup": config.warmup,
            "repeats": config.repeats,
            "threads": config.threads,
            "device": config.device,
            "memory": config.memory,
            "tiny": config.tiny,
            "peers": list(config.peers),
            "quiet_cores": config.quiet_cores,
            "max_wait_s": config.max_wait_s,
            "retries": config.retries,
            "rounds": config.rounds,
        },
        "cases": [case.name for case in config.cases],
    }
    return {
        **run,
        "runs": [run],
        "machine": machine_info(),
        "versions": versions,
        "cases": [{**asdict(case), "gflops_forward": case.flops() / 1e9} for case in shown_cases],
        "skipped_peers": skipped,
        "rows": rows,
    }


def round_orders(peers: list[str], rounds: int) -> list[list[str]]:
    """The order of the peers in each round: as given, then reversed, and so on (A B C, C B A, A B C)."""
    return [list(peers) if r % 2 == 0 else list(reversed(peers)) for r in range(rounds)]


def pool_rounds(rounds: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """One row per variant from one peer's rows of every round: the timed steps of all rounds together
    (median and minimum over them), each round's median kept as ``round_medians_ms``, the largest peak
    memory, foreign load and attempt count; a variant that failed in any round keeps that round's error.

    Example:
        >>> a = [{"variant": "", "times_ms": [3.0, 5.0], "median_ms": 4.0, "min_ms": 3.0, "finite": True}]
        >>> b = [{"variant": "", "times_ms": [9.0], "median_ms": 9.0, "min_ms": 9.0, "finite": True}]
        >>> row = pool_rounds([a, b])[0]
        >>> row["times_ms"], row["median_ms"], row["min_ms"], row["round_medians_ms"]
        ([3.0, 5.0, 9.0], 5.0, 3.0, [4.0, 9.0])
    """
    if len(rounds) == 1:
        return rounds[0]
    pooled: list[dict[str, Any]] = []
    for variant in dict.fromkeys(row["variant"] for rows in rounds for row in rows):
        same = [row for rows in rounds for row in rows if row["variant"] == variant]
        untimed = [row for row in same if "error" in row or "times_ms" not in row]  # failed or skipped
        if untimed:
            pooled.append(untimed[0])
            continue
        times = [t for row in same for t in row["times_ms"]]
        row = {**same[-1], "times_ms": times, "median_ms": statistics.median(times), "min_ms": min(times)}
        row["round_medians_ms"] = [r["median_ms"] for r in same]
        for key in ("finite", "restarted"):
            if key in same[-1]:
                row[key] = all(r.get(key, True) for r in same)
        for key in ("peak_mib", "foreign_cores", "attempt"):
            values = [r[key] for r in same if r.get(key) is not None]
            row[key] = max(values) if values else same[-1].get(key)
        pooled.append(row)
    return pooled


def _summary(row: dict[str, Any]) -> str:
    name = row["variant"] or "main"
    if "error" in row:
        return f"{name}: ERROR {row['error']}"
    if "skipped" in row:
        return f"{name}: skipped ({row['skipped']})"
    text = f"{name}: {row['median_ms']:.1f} ms"
    if row.get("foreign_cores") is not None:
        text += f" (others used {row['foreign_cores']:.2f} cores)"
    return text + (f", peak {row['peak_mib']:.0f} MiB" if row.get("peak_mib") is not None else "")
