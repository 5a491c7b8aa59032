"""What a peer runner hands back to the worker."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["PRIMARY", "Prepared", "Snapshot", "Step"]

Step = Callable[[], object]
"""One synchronous training or inference step (its return value is ignored)."""

Snapshot = Callable[[], Callable[[], None]]
"""Copies a model's weights now and returns the function that puts them back (in place).

The worker snapshots after the warm-up steps and restores before every timed step (untimed), so
every measured step trains from the same weights: one batch trained on again and again can
otherwise run away (the relu case did, with every library) and the steps would be timed on NaNs.
Optimizer state is kept, so updates stay the size they are after warm-up."""

PRIMARY = ""
"""Variant key of a peer's main way of running a case (reported under the peer's own name)."""


@dataclass
class Prepared:
    """The step callables of one peer for one case.

    Attributes:
        steps: variant key -> step. ``PRIMARY`` is the peer's main figure; other keys name
            alternatives measured alongside (e.g. ``"predict_on_batch"``, ``"model"``).
        skipped: variant key -> why that variant was not measured.
        snapshots: variant key -> a training variant's :data:`Snapshot` of its model's weights.
    """

    steps: dict[str, Step] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    snapshots: dict[str, Snapshot] = field(default_factory=dict)
