"""The demo's picture: training curves of both models and held-out code coloured by their predictions.

Matplotlib is optional: :func:`matplotlib_missing` says how to get it, and the demo skips the picture
without it. The figure is drawn on a ``matplotlib.figure.Figure`` directly (no ``pyplot``), so
the global backend and any open figures of the caller are left alone.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final

import numpy as np

from ._data import PAD, decode
from ._labels import CLASSES

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["COLORS", "matplotlib_missing", "snippet_lines", "write_figure"]

COLORS: Final = {
    "identifier": "#1f5fa8",
    "keyword": "#8e3fb5",
    "operator": "#d9730d",
    "number": "#c2185b",
    "string": "#2e8b2e",
    "comment": "#8a8a8a",
    "whitespace": "#c8c8c8",
    "other": "#6d4c41",
}
"""Colour of each class in the picture (whitespace shows as a light dot)."""

_ERROR_BACKGROUND: Final = "#ffcccc"
_ADVANCE: Final = 0.6021  # width of a DejaVu Sans Mono character, in em
_MAX_COLUMNS: Final = 100
_SHOWN: Final = {" ": "\u00b7", "\t": "\u2192", "\ufffd": "?"}


def matplotlib_missing() -> str | None:
    """``None`` if matplotlib can be imported, else a message saying how to install it.

    Example:
        >>> matplotlib_missing() is None or "pip install matplotlib" in matplotlib_missing()
        True
    """
    if importlib.util.find_spec("matplotlib") is None:
        return "matplotlib is not installed, so no picture was drawn: `pip install matplotlib` and run again"
    return None


def snippet_lines(ids: np.ndarray, labels: Mapping[str, np.ndarray]) -> tuple[list[str], dict[str, list[list[int]]]]:
    """Whole lines of text from consecutive windows, with each labelling split the same way.

    The text before the first and after the last newline is dropped (the windows start and end in the
    middle of a line), lines are cut at 100 columns, and padding is left out.

    Args:
        ids: ``(N, T)`` character ids of consecutive windows.
        labels: name -> ``(N, T)`` class per character (the truth, each model's predictions).

    Returns:
        ``(lines, per_line)``: the text lines and, for each name, the classes of each line's characters.

    Example:
        >>> from birnn.demo import encode
        >>> lines, per_line = snippet_lines(encode("x\\nif a:\\n    b\\nc")[None], {"t": np.arange(15)[None]})
        >>> lines, per_line["t"]
        (['if a:', '    b'], [[2, 3, 4, 5, 6], [8, 9, 10, 11, 12]])
    """
    keep = np.asarray(ids).ravel() != PAD
    text = decode(np.asarray(ids).ravel()[keep])
    flat = {name: np.asarray(v).ravel()[keep].tolist() for name, v in labels.items()}
    first, last = text.find("\n") + 1, text.rfind("\n")
    if first == 0 or last < first:  # no complete line: show it all
        first, last = 0, len(text)
    lines: list[str] = []
    per_line: dict[str, list[list[int]]] = {name: [] for name in flat}
    start = first
    for line in text[first:last].split("\n"):
        lines.append(line[:_MAX_COLUMNS])
        for name, values in flat.items():
            per_line[name].append(values[start : start + len(lines[-1])])
        start += len(line) + 1
    return lines, per_line


def _runs(values: Sequence[int]) -> list[tuple[int, int, int]]:
    """``(start, stop, value)`` of each run of equal values."""
    runs: list[tuple[int, int, int]] = []
    for i, v in enumerate(values):
        if runs and runs[-1][2] == v and runs[-1][1] == i:
            runs[-1] = (runs[-1][0], i + 1, v)
        else:
            runs.append((i, i + 1, v))
    return runs


def _draw_code(
    ax: Axes, figure: Figure, lines: list[str], predicted: list[list[int]], truth: list[list[int]]
) -> None:
    """Write ``lines`` in ``ax``, each character in the colour of its predicted class, errors on red."""
    from matplotlib.patches import Rectangle

    columns = max(1, max(map(len, lines), default=1))
    width_points = ax.get_position().width * figure.get_figwidth() * 72
    height_points = ax.get_position().height * figure.get_figheight() * 72
    size = min(width_points / (columns * _ADVANCE), 0.8 * height_points / max(1, len(lines)), 11.0)
    ax.set_xlim(0, width_points / (size * _ADVANCE))  # one x unit = one character's advance at this size
    ax.set_ylim(-len(lines), 0)
    for row, (line, classes, true) in enumerate(zip(lines, predicted, truth)):
        errors = [int(p != t) for p, t in zip(classes, true)]
        for start, stop, error in _runs(errors):
            if error:
                ax.add_patch(Rectangle((start, -row - 1), stop - start, 1, color=_ERROR_BACKGROUND, linewidth=0))
        for start, stop, label in _runs(classes):
            text = "".join(_SHOWN.get(c, c) for c in line[start:stop])
            ax.text(start, -row - 0.5, text, family="monospace", fontsize=size, va="center", ha="left",
                    color=COLORS[CLASSES[label]])


def write_figure(
    path: str | Path,
    histories: Mapping[str, Mapping[str, Sequence[float]]],
    snippet_ids: np.ndarray,
    snippet_truth: np.ndarray,
    snippet_predictions: Mapping[str, np.ndarray],
) -> Path:
    """Draw the training curves and the coloured snippet, and save them as a PNG.

    Args:
        path: where to write the PNG.
        histories: model name -> ``History.history`` (``loss``, ``accuracy`` and their ``val_`` twins).
        snippet_ids: ``(N, T)`` character ids of consecutive held-out windows.
        snippet_truth: ``(N, T)`` true classes.
        snippet_predictions: model name -> ``(N, T)`` predicted classes.

    Returns:
        ``path``.

    Raises:
        ModuleNotFoundError: matplotlib is missing (see :func:`matplotlib_missing`).

    Example:
        >>> import tempfile
        >>> from birnn.demo import encode, label_source
        >>> code = "x = 1\\nif x:\\n    y = 'a'\\n"
        >>> ids, truth = encode(code)[None], np.frombuffer(label_source(code), np.uint8)[None]
        >>> history = {"loss": [1.0, 0.5], "val_loss": [1.1, 0.7]}
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     out = write_figure(Path(folder) / "demo.png", {"m": history}, ids, truth, {"m": truth})
        ...     out.read_bytes()[:4]
        b'\\x89PNG'
    """
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch
    from matplotlib.ticker import MaxNLocator

    lines, per_line = snippet_lines(snippet_ids, {"tokenize": snippet_truth, **snippet_predictions})
    names = list(snippet_predictions)
    code_height = 0.23 * max(4, len(lines))
    figure = Figure(figsize=(13, 3.6 + (len(names) + 1) * code_height + 0.6), layout="constrained")
    grid = figure.add_gridspec(len(names) + 3, 2, height_ratios=[3.2] + [code_height] * (len(names) + 1) + [0.35])
    for column, metric in enumerate(("loss", "accuracy")):
        ax = figure.add_subplot(grid[0, column])
        for index, (name, history) in enumerate(histories.items()):
            color = f"C{index}"
            for key, style in ((metric, "-"), (f"val_{metric}", "--")):
                values = history.get(key)
                if values:
                    epochs = np.arange(1, len(values) + 1)
                    label = f"{name} ({'held-out' if key.startswith('val_') else 'training'})"
                    ax.plot(epochs, values, style, marker="o", color=color, label=label)
        ax.set_xlabel("epoch")
        ax.set_title(f"{metric} per epoch", loc="left", fontsize=11)
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=8)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    panels = [figure.add_subplot(grid[row, :]) for row in range(1, len(names) + 2)]
    total = sum(map(len, lines))
    for ax, name in zip(panels, ["tokenize", *names]):
        wrong = sum(p != t for line, truth in zip(per_line[name], per_line["tokenize"]) for p, t in zip(line, truth))
        title = "the truth (tokenize)" if name == "tokenize" else f"{name}: {wrong} of {total} characters wrong"
        ax.set_title(title, loc="left", fontsize=11)
        ax.set_axis_off()
    legend = figure.add_subplot(grid[-1, :])
    legend.set_axis_off()
    handles = [Patch(color=c, label=k) for k, c in COLORS.items()] + [Patch(color=_ERROR_BACKGROUND, label="wrong")]
    legend.legend(handles=handles, loc="center", ncol=len(handles), frameon=False, fontsize=9)
    figure.draw_without_rendering()  # runs the layout, so that the code panels know their size in points
    for ax, name in zip(panels, ["tokenize", *names]):
        _draw_code(ax, figure, lines, per_line[name], per_line["tokenize"])
    figure.savefig(path, dpi=110)
    return Path(path)
