"""Per-class and overall accuracy of several models on the same held-out characters."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["AccuracyTable", "accuracy_table"]


@dataclass(frozen=True)
class AccuracyTable:
    """Accuracy per true class and overall, for each model.

    Attributes:
        classes: class names, one row each.
        counts: held-out characters of each class.
        accuracy: model name -> fraction correct per class (``nan`` for a class with no characters).
        overall: model name -> fraction of all held-out characters correct.
    """

    classes: tuple[str, ...]
    counts: tuple[int, ...]
    accuracy: Mapping[str, tuple[float, ...]]
    overall: Mapping[str, float]

    def format(self, markdown: bool = False) -> str:
        """The table as aligned text, or as Markdown; a last column compares the last two models (points).

        Example:
            >>> table = accuracy_table(np.array([0, 0, 1, 1]), {"a": np.array([0, 1, 1, 1]),
            ...                                                  "b": np.array([0, 0, 1, 1])}, ("x", "y"))
            >>> print(table.format())
            class    characters       a       b  change
            x                 2   50.0%  100.0%   +50.0
            y                 2  100.0%  100.0%    +0.0
            overall           4   75.0%  100.0%   +25.0
            >>> print(table.format(markdown=True).splitlines()[1])
            |:--|--:|--:|--:|--:|
        """
        names = list(self.accuracy)
        header = ["class", "characters", *names] + (["change"] if len(names) > 1 else [])
        scores = [[self.accuracy[m][i] for m in names] for i in range(len(self.classes))]
        scores.append([self.overall[m] for m in names])
        counts = [*self.counts, sum(self.counts)]
        cells = [
            [name, f"{count:,}", *map(_percent, row)] + ([_change(row[-2], row[-1])] if len(row) > 1 else [])
            for name, count, row in zip([*self.classes, "overall"], counts, scores)
        ]
        if markdown:
            lines = ["| " + " | ".join(header) + " |", "|:--|" + "--:|" * (len(header) - 1)]
            lines += ["| " + " | ".join(row) + " |" for row in cells]
            return "\n".join(lines)
        widths = [max(len(row[k]) for row in [header, *cells]) for k in range(len(header))]
        return "\n".join(
            "  ".join(v.ljust(w) if k == 0 else v.rjust(w) for k, (v, w) in enumerate(zip(row, widths)))
            for row in [header, *cells]
        )


def _percent(value: float) -> str:
    return "-" if np.isnan(value) else f"{100 * value:.1f}%"


def _change(before: float, after: float) -> str:
    return "-" if np.isnan(before) or np.isnan(after) else f"{100 * (after - before):+.1f}"


def accuracy_table(
    truth: np.ndarray, predictions: Mapping[str, np.ndarray], classes: Sequence[str]
) -> AccuracyTable:
    """Compare models on the same characters.

    Args:
        truth: true class of each character (any shape; pass only real characters, not padding).
        predictions: model name -> predicted class of each character, the same shape as ``truth``.
        classes: class names; ``truth`` holds indices into them.

    Returns:
        An :class:`AccuracyTable`; its rows follow ``classes``, its columns ``predictions``.

    Example:
        >>> table = accuracy_table(np.array([0, 1, 1]), {"m": np.array([0, 1, 0])}, ("a", "b"))
        >>> table.counts, table.accuracy["m"], round(table.overall["m"], 3)
        ((1, 2), (1.0, 0.5), 0.667)
    """
    truth = np.asarray(truth).ravel()
    counts = np.bincount(truth, minlength=len(classes))[: len(classes)]
    accuracy: dict[str, tuple[float, ...]] = {}
    overall: dict[str, float] = {}
    for name, predicted in predictions.items():
        correct = np.asarray(predicted).ravel() == truth
        hits = np.bincount(truth[correct], minlength=len(classes))[: len(classes)]
        accuracy[name] = tuple(float(h / n) if n else float("nan") for h, n in zip(hits, counts))
        overall[name] = float(correct.mean()) if truth.size else float("nan")
    return AccuracyTable(tuple(classes), tuple(int(n) for n in counts), accuracy, overall)
