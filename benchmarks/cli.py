"""Command line of the suite: ``python -m benchmarks`` (and, later, ``birnn bench``).

Examples::

    python -m benchmarks                                   # every case and peer, results/ folder
    python -m benchmarks --quick                           # main cases, 3 repetitions
    python -m benchmarks --cases lstm_train sweep --peers birnn torch_nn --repeats 20
    python -m benchmarks --cases gru_train --merge-into results/benchmark.json   # re-measure one case
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import cases as cases_module
from .merge import merge_results
from .peers import PEERS
from .report import to_markdown, write_all
from .suite import SuiteConfig, run_suite

__all__ = ["build_parser", "config_from_args", "main"]

QUICK_REPEATS, QUICK_WARMUP = 3, 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Benchmark birnn against plain PyTorch and Keras 3 (TensorFlow, JAX, torch backends).",
    )
    case_names = [*cases_module.GROUPS, *(case.name for case in cases_module.ALL_CASES)]
    parser.add_argument(
        "--cases",
        nargs="+",
        metavar="CASE",
        help=f"cases or groups to run (default: all; --quick: main). Choices: {', '.join(case_names)}",
    )
    parser.add_argument(
        "--peers",
        nargs="+",
        metavar="PEER",
        choices=list(PEERS),
        default=None,
        help=f"peers to run (default: all). Choices: {', '.join(PEERS)}",
    )
    parser.add_argument("--repeats", type=int, default=None, help="timed steps per measurement (default 10)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps first (default 3)")
    parser.add_argument("--quick", action="store_true", help="main cases only, 3 repetitions after 1 warm-up step")
    parser.add_argument("--out", type=Path, default=Path("results"), help="results folder (default: results/)")
    parser.add_argument("--threads", type=int, default=2, help="intra-op threads of each peer (default 2)")
    parser.add_argument("--device", default="cpu", help="torch device of the birnn and PyTorch peers (default cpu)")
    parser.add_argument("--no-memory", dest="memory", action="store_false", help="skip the peak-memory step")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds allowed to one worker (default 900)")
    parser.add_argument(
        "--quiet-cores",
        type=float,
        default=0.25,
        help="a machine is quiet when other processes use fewer cores than this (default 0.25)",
    )
    parser.add_argument(
        "--max-wait", type=float, default=300.0, help="seconds to wait for quiet per worker (default 300; 0: no wait)"
    )
    parser.add_argument(
        "--retries", type=int, default=2, help="re-runs of a worker during which others were busy (default 2)"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="measure each case's peers this many times in alternating order and pool their steps (default 1)",
    )
    parser.add_argument(
        "--merge-into",
        type=Path,
        metavar="JSON",
        help="merge this run into an earlier benchmark.json (re-measured cases replace its rows) and report both",
    )
    parser.add_argument("--tiny", action="store_true", help="toy sizes: checks the machinery, measures nothing")
    return parser


def config_from_args(args: argparse.Namespace) -> SuiteConfig:
    """The :class:`SuiteConfig` the parsed arguments ask for (``--quick`` fills unset values)."""
    names = args.cases if args.cases else (["main"] if args.quick else None)
    repeats = args.repeats if args.repeats is not None else (QUICK_REPEATS if args.quick else 10)
    warmup = args.warmup if args.warmup is not None else (QUICK_WARMUP if args.quick else 3)
    return SuiteConfig(
        cases=tuple(cases_module.select(names)),
        peers=tuple(args.peers or PEERS),
        warmup=warmup,
        repeats=repeats,
        threads=args.threads,
        device=args.device,
        memory=args.memory,
        tiny=args.tiny,
        timeout_s=args.timeout,
        quiet_cores=args.quiet_cores,
        max_wait_s=args.max_wait,
        retries=args.retries,
        rounds=args.rounds,
    )


def main(argv: list[str] | None = None) -> int:
    """Run the suite, print the markdown report, write it with the JSON and PNG to ``--out``.

    Returns 0, or 1 when a worker or a variant failed (its error is in the report).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args)
    except ValueError as error:
        parser.error(str(error))
    results = run_suite(config, log=lambda line: print(line, file=sys.stderr, flush=True))
    if args.merge_into is not None:
        results = merge_results(json.loads(args.merge_into.read_text()), results)
    print(to_markdown(results))
    paths = write_all(results, args.out)
    print("wrote " + ", ".join(str(path) for path in paths.values()), file=sys.stderr)
    failed = [row for row in results["rows"] if "error" in row]
    return 1 if failed else 0
