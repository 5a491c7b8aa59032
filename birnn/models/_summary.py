"""``print_summary``: Keras 3's model table (layer and type, output shape, parameter count, totals)."""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["print_summary", "format_shape", "readable_memory_size"]

_UNITS = ("B", "KB", "MB", "GB", "TB", "PB")


def readable_memory_size(size: float) -> str:
    """``1234`` -> ``'1.21 KB'`` (powers of 1024, two decimals), as Keras prints it.

    Example:
        >>> readable_memory_size(17060), readable_memory_size(0)
        ('16.66 KB', '0.00 B')
    """
    for unit in _UNITS:
        if size / 1024 < 1:
            return f"{size:.2f} {unit}"
        size /= 1024
    return f"{size:.2f} {_UNITS[-1]}"


def format_shape(shape: Any) -> str:
    """``(None, 5, 20)`` as Keras shows it; several outputs as a list; ``None`` (unknown) as ``"?"``.

    Example:
        >>> format_shape((None, 5, 20)), format_shape([(None, 3), (None, 3)]), format_shape(None)
        ('(None, 5, 20)', '[(None, 3), (None, 3)]', '?')
    """
    if shape is None:
        return "?"
    if isinstance(shape, (list, tuple)) and shape and isinstance(shape[0], (list, tuple)):
        return "[" + ", ".join(format_shape(s) for s in shape) + "]"
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _column_widths(line_length: int, positions: Sequence[float]) -> list[int]:
    """Column widths (cell padding included) that, with the borders, fill ``line_length`` like rich does."""
    if all(p <= 1 for p in positions):
        positions = [int(p * line_length) for p in positions]
    widths = [int(b - a) for a, b in zip([0, *positions[:-1]], positions)]
    inner = line_length - len(widths) - 1
    scaled = [w * inner // line_length for w in widths]
    for index in range(inner - sum(scaled)):
        scaled[index % len(scaled)] += 1
    return scaled


def _row(cells: Sequence[str], widths: Sequence[int], right_aligned: Sequence[bool], bar: str) -> list[str]:
    wrapped = [textwrap.wrap(cell, width - 2) or [""] for cell, width in zip(cells, widths)]
    lines = []
    for line in range(max(len(w) for w in wrapped)):
        parts = []
        for texts, width, right in zip(wrapped, widths, right_aligned):
            text = texts[line] if line < len(texts) else ""
            parts.append(" " + (text.rjust(width - 2) if right else text.ljust(width - 2)) + " ")
        lines.append(bar + bar.join(parts) + bar)
    return lines


def _rule(widths: Sequence[int], left: str, middle: str, right: str, fill: str) -> str:
    return left + middle.join(fill * w for w in widths) + right


def print_summary(
    title: str,
    rows: Sequence[tuple[str, str, str]],
    totals: tuple[tuple[int, int], tuple[int, int], tuple[int, int]],
    line_length: int | None = None,
    positions: Sequence[float] | None = None,
    print_fn: Callable[[str], Any] | None = None,
) -> None:
    """Print the table: ``rows`` of ``(layer (type), output shape, params)``; ``totals`` as
    ``((total, bytes), (trainable, bytes), (non-trainable, bytes))``.

    Example:
        >>> print_summary("m", [("dense (Dense)", "(None, 2)", "6")], ((6, 24), (6, 24), (0, 0)), line_length=60)
        Model: "m"
        ┏━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━┓
        ┃ Layer (type)             ┃ Output Shape      ┃   Param # ┃
        ┡━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━┩
        │ dense (Dense)            │ (None, 2)         │         6 │
        └──────────────────────────┴───────────────────┴───────────┘
         Total params: 6 (24.00 B)
         Trainable params: 6 (24.00 B)
         Non-trainable params: 0 (0.00 B)
    """
    emit = print_fn or print
    line_length = line_length or min(88, shutil.get_terminal_size().columns - 4)
    widths = _column_widths(line_length, positions or (0.45, 0.80, 1.0))
    header = ["Layer (type)", "Output Shape", "Param #"]
    right = (False, False, True)
    lines = [f'Model: "{title}"', _rule(widths, "┏", "┳", "┓", "━"), *_row(header, widths, right, "┃")]
    lines.append(_rule(widths, "┡", "╇", "┩", "━"))
    for index, row in enumerate(rows):
        if index:
            lines.append(_rule(widths, "├", "┼", "┤", "─"))
        lines.extend(_row(row, widths, right, "│"))
    lines.append(_rule(widths, "└", "┴", "┘", "─"))
    for label, (count, size) in zip(("Total", "Trainable", "Non-trainable"), totals):
        lines.append(f" {label} params: {count:,} ({readable_memory_size(size)})")
    for line in lines:
        emit(line)
