"""The ``birnn`` command: ``birnn demo`` (the main job) and ``birnn bench``.

Example:
    >>> main(["demo", "--size", "nope"])
    Traceback (most recent call last):
    ...
    SystemExit: 2
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="birnn", description="Keras's Bidirectional RNNs on PyTorch.")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo",
        help="tag every character of Python's own source code, one-directional vs bidirectional LSTM",
        description="Train a one-directional and a bidirectional LSTM character tagger on the standard "
        "library's source (labelled by `tokenize`), compare them per class, save the model and a PNG.",
    )
    from .demo._train import SIZES

    demo.add_argument("--epochs", type=int, default=6, help="training epochs of each model (default 6)")
    demo.add_argument("--size", choices=sorted(SIZES), default="default", help="data set size (default: default)")
    demo.add_argument("--out", default="birnn_demo_output", help="output folder (default ./birnn_demo_output)")
    demo.add_argument("--seed", type=int, default=0, help="seed of data, weights and shuffling (default 0)")
    demo.add_argument("--source", default=None, help="folder of your own .py files (default: the standard library)")
    demo.add_argument("--device", default="auto", help="auto (CUDA when available), cpu or cuda")
    demo.add_argument("--quiet", action="store_true", help="no progress bars")
    commands.add_parser("bench", help="run the benchmark suite (see benchmarks/README.md)", add_help=False)
    return parser


def _bench(argv: Sequence[str]) -> int:
    try:
        benchmarks = importlib.import_module("benchmarks")
    except ModuleNotFoundError:
        print("The benchmark suite lives in the birnn repository's benchmarks/ folder: run `birnn bench` "
              "from the repository root (pip install -e \".[bench]\" adds the Keras peers).", file=sys.stderr)
        return 1
    return int(benchmarks.main(list(argv)) or 0)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``birnn`` console command (also ``python -m birnn``)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["bench"]:
        return _bench(argv[1:])
    args = _parser().parse_args(argv)
    from .demo._data import SourceError
    from .demo._train import run_demo

    try:
        run_demo(out=args.out, size=args.size, epochs=args.epochs, seed=args.seed, source=args.source,
                 device=args.device, verbose=0 if args.quiet else 1)
    except SourceError as error:
        print(f"birnn demo: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
