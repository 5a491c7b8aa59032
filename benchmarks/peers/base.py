"""What a peer runner hands back to the worker."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["PRIMARY", "Prepared", "Step"]

Step = Callable[[], object]
"""One synchronous training or inference step (its return value is ignored)."""

PRIMARY = ""
"""Variant key of a peer's main way of running a case (reported under the peer's own name)."""


@dataclass
class Prepared:
    """The step callables of one peer for one case.

    Attributes:
        steps: variant key -> step. ``PRIMARY`` is the peer's main figure; other keys name
            alternatives measured alongside (e.g. ``"predict_on_batch"``, ``"model"``).
        skipped: variant key -> why that variant was not measured.
    """

    steps: dict[str, Step] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
