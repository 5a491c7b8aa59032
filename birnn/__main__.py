"""The ``birnn`` command (also ``python -m birnn``): ``birnn demo`` and ``birnn bench``.

``birnn demo`` trains a one-directional and a bidirectional LSTM character tagger on the standard
library's source and compares them (see :mod:`birnn.demo`). ``birnn bench`` hands its arguments to
the benchmark suite (``benchmarks.main``), which lives in the repository's ``benchmarks/`` folder.

Example:
    >>> main(["demo", "--size", "huge"])
    Traceback (most recent call last):
    ...
    SystemExit: 2
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["main"]


def _checked(convert: Callable[[str], Any]) -> Callable[[str], str]:
    """An argparse ``type`` that validates with ``convert`` but keeps the string (errors become usage errors)."""

    def check(value: str) -> str:
        try:
            convert(value)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
        return value

    return check


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, received {value!r}")
    return number


def _parser() -> argparse.ArgumentParser:
    from .demo import SIZES, dataset_size, resolve_device

    parser = argparse.ArgumentParser(prog="birnn", description="Keras's Bidirectional RNNs as native PyTorch modules.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="{demo,bench}")
    demo = commands.add_parser(
        "demo",
        help="tag every character of Python source: one-directional vs bidirectional LSTM",
        description="Train a one-directional LSTM and a Bidirectional(LSTM) character tagger (about the same "
        "number of weights, the same budget) on the Python standard library's own source, each character "
        "labelled by `tokenize`; print a per-class accuracy table on held-out files, save the bidirectional "
        "model (.keras), the table (accuracy.md) and a picture (demo.png).",
    )
    sizes = ", ".join(f"{name} = {train:,} windows" for name, (train, _) in SIZES.items())
    demo.add_argument("--epochs", type=_positive, default=6, help="passes over the training data (default 6)")
    demo.add_argument("--size", type=_checked(dataset_size), default="default", metavar="SIZE",
                      help=f"tiny, small, default, or a number of 128-character training windows ({sizes})")
    demo.add_argument("--out", default="birnn_demo_output", metavar="DIR",
                      help="output folder (default ./birnn_demo_output)")
    demo.add_argument("--seed", type=int, default=0, help="seed of data, weights and batch order (default 0)")
    demo.add_argument("--source", default=None, metavar="DIR",
                      help="a folder of your own .py files (default: this Python's standard library)")
    demo.add_argument("--device", type=_checked(resolve_device), default="auto",
                      help="auto (CUDA when available, default), cpu, cuda, cuda:1, ...")
    demo.add_argument("--quiet", action="store_true", help="print nothing")
    commands.add_parser("bench", help="run the benchmark suite (birnn bench --help for its options)", add_help=False)
    return parser


def _benchmarks() -> Any | None:
    """The ``benchmarks`` package: installed, or the ``benchmarks/`` folder of the current directory."""
    try:
        return importlib.import_module("benchmarks")
    except ModuleNotFoundError as error:
        if error.name != "benchmarks":
            raise
    if not (Path.cwd() / "benchmarks" / "__init__.py").is_file():
        return None
    sys.path.insert(0, str(Path.cwd()))  # a console script's sys.path does not include the current directory
    return importlib.import_module("benchmarks")


def _bench(argv: Sequence[str]) -> int:
    benchmarks = _benchmarks()
    if benchmarks is None:
        print("birnn bench: the benchmark suite is the benchmarks/ folder of the birnn repository; run "
              "`birnn bench` from the repository root (`pip install -e \".[bench]\"` adds the Keras peers)",
              file=sys.stderr)
        return 2
    return int(benchmarks.main(list(argv)) or 0)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``birnn`` command with ``argv`` (default ``sys.argv[1:]``); returns the exit status.

    Args:
        argv: command-line arguments, e.g. ``["demo", "--size", "small"]``.

    Returns:
        0 on success, 2 for a data source that cannot be used (the message goes to stderr).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["bench"]:
        return _bench(argv[1:])
    args = _parser().parse_args(argv)
    from .demo import SourceError, run_demo

    try:
        run_demo(out=args.out, size=args.size, epochs=args.epochs, seed=args.seed, source=args.source,
                 device=args.device, verbose=0 if args.quiet else 1)
    except SourceError as error:
        print(f"birnn demo: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
