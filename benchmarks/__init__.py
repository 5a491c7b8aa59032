"""Benchmark suite of birnn against plain PyTorch and Keras 3 (issue 5).

Run ``python -m benchmarks --help``. Modules, one concern each:

* ``cases``: the five cases of the speed issue, the size sweep, the seeded data;
* ``peers``: the registry and one runner per peer (``birnn``, ``torch_nn``, ``keras_tf``,
  ``keras_jax``, ``keras_torch``), sharing ``torch_common`` / ``keras_common``;
* ``measure``: timing (median after warm-up) and peak step memory (RSS high-water mark);
* ``load``: CPU time other processes take (waiting for a quiet machine, flagging busy runs);
* ``worker``: one peer x one case in a fresh process, printing JSON;
* ``suite``: runs the workers one after another and collects their results;
* ``report``: ratios, markdown, JSON and the PNG bar chart;
* ``merge``: re-measured cases into earlier results;
* ``cli``: ``main(argv)``, the command line; ``profile``: torch.profiler view of one torch peer.
"""

from __future__ import annotations

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmarks`` as a function (see ``benchmarks.cli.main``)."""
    from .cli import main as cli_main  # imported lazily: ``python -m benchmarks.worker`` must not pre-import it

    return cli_main(argv)
