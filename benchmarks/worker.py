"""Worker process: run one peer on one case and print the measurements as one JSON line.

Run by the suite (``benchmarks.suite``), never imported by it, so that every peer/case pair gets
a fresh interpreter: the Keras backend is fixed at import, frameworks keep thread pools and
caches, and the peak-memory method needs a process whose allocator settings no later timing
depends on. Usage::

    python -m benchmarks.worker --peer torch_nn --case lstm_train --warmup 3 --repeats 10

The result is the last stdout line that starts with :data:`MARKER`. A variant that raises is
reported with its error (and the traceback on stderr) instead of ending the worker, so that one
broken variant does not hide the others.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any

import numpy as np

from . import cases as cases_module
from .measure import peak_step_memory_mib, time_step
from .peers import PEERS, Prepared

__all__ = ["MARKER", "main", "run"]

MARKER = "@@benchmark-result@@ "


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.worker", description=__doc__.splitlines()[0])
    parser.add_argument("--peer", required=True, choices=sorted(PEERS))
    parser.add_argument("--case", required=True)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--no-memory", dest="memory", action="store_false")
    parser.add_argument("--tiny", action="store_true", help="toy sizes (smoke tests)")
    return parser


def _measure_variant(
    prepared: Prepared, key: str, args: argparse.Namespace
) -> tuple[dict[str, Any], Callable[[], None]]:
    """Time one variant; training variants restart every timed step from the weights they had after
    the warm-up (``Prepared.snapshots``), and the step's result is checked for NaNs once more.
    Returns the record and the (untimed) restart, for the memory step."""
    record: dict[str, Any] = {"variant": key}
    step, snapshot = prepared.steps[key], prepared.snapshots.get(key)
    restore: Callable[[], None] | None = None

    def before() -> None:
        nonlocal restore
        if snapshot is None:
            return
        if restore is None:  # the first call, right after the warm-up steps
            restore = snapshot()
        restore()

    try:
        timing = time_step(step, warmup=args.warmup, repeats=args.repeats, before=before)
    except Exception as error:  # noqa: BLE001 - reported per variant, see the module docstring
        traceback.print_exc()
        record["error"] = f"{type(error).__name__}: {error}"
        return record, before
    record.update(times_ms=list(timing.times_ms), median_ms=timing.median_ms, min_ms=timing.min_ms)
    before()
    record["finite"] = finite(step())
    record["restarted"] = snapshot is not None
    return record, before


def finite(result: object) -> bool:
    """Whether a step's result (loss or predictions: tensor, array, number or a list of them) is
    all finite; a step that trained into NaNs is timed on NaN arithmetic and is flagged."""
    if result is None:
        return True
    if isinstance(result, (list, tuple)):
        return all(finite(item) for item in result)
    if hasattr(result, "detach"):  # torch tensor
        result = result.detach().cpu().numpy()
    return bool(np.isfinite(np.asarray(result, dtype=np.float64)).all())


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Configure the peer, build the case, time every variant, then measure peak memory."""
    spec = PEERS[args.peer]
    case = cases_module.select([args.case])[0]
    if args.tiny:
        case = cases_module.tiny(case)
    runner = importlib.import_module(spec.module)
    runner.configure(args.threads, args.device)
    prepared: Prepared = runner.prepare(case, cases_module.make_batch(case), args.device)
    measured = [_measure_variant(prepared, key, args) for key in prepared.steps]
    records = [record for record, _ in measured]
    if args.memory and case.training:
        for record, before in measured:
            if "error" not in record:
                before()  # restoring weights in place allocates nothing
                record["peak_mib"] = peak_step_memory_mib(prepared.steps[record["variant"]], args.device)
    records += [{"variant": key, "skipped": why} for key, why in prepared.skipped.items()]
    return {
        "peer": args.peer,
        "case": args.case,
        "versions": runner.versions(),
        "variants": records,
        "load_average": list(os.getloadavg()),
    }


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    result = run(args)
    sys.stdout.write(MARKER + json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
