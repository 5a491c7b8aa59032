"""Where a PyTorch-based peer spends one step: ``torch.profiler`` operator table.

Runs in this process (no worker), for the peers that execute through PyTorch::

    python -m benchmarks.profile --peer birnn --case lstm_train --steps 3
    python -m benchmarks.profile --peer torch_nn --case masked_lstm_train --sort cpu_time_total
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from . import cases as cases_module
from .peers import PEERS, Prepared
from .peers.base import PRIMARY

__all__ = ["main", "profile_table"]

TORCH_PEERS = ("birnn", "torch_nn", "keras_torch")


def profile_table(
    peer: str,
    case_name: str,
    *,
    steps: int = 3,
    warmup: int = 2,
    rows: int = 20,
    sort: str = "self_cpu_time_total",
    threads: int = 2,
    variant: str = PRIMARY,
) -> str:
    """The profiler's operator table (averaged over ``steps`` profiled steps) of one peer and case."""
    spec = PEERS[peer]
    if peer not in TORCH_PEERS:
        raise ValueError(f"profiling needs a PyTorch-based peer ({', '.join(TORCH_PEERS)}), got {peer!r}")
    os.environ.update(spec.env)
    from torch.profiler import ProfilerActivity, profile

    runner = importlib.import_module(spec.module)
    runner.configure(threads, "cpu")
    case = cases_module.select([case_name])[0]
    prepared: Prepared = runner.prepare(case, cases_module.make_batch(case), "cpu")
    step = prepared.steps[variant]
    for _ in range(warmup):
        step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step()
    return prof.key_averages().table(sort_by=sort, row_limit=rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile", description=__doc__.splitlines()[0])
    parser.add_argument("--peer", default="birnn", choices=TORCH_PEERS)
    parser.add_argument("--case", default="lstm_train")
    parser.add_argument("--variant", default=PRIMARY)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--rows", type=int, default=20)
    parser.add_argument("--sort", default="self_cpu_time_total")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    print(
        profile_table(
            args.peer,
            args.case,
            steps=args.steps,
            rows=args.rows,
            sort=args.sort,
            threads=args.threads,
            variant=args.variant,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
