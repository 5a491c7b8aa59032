"""``Progbar``: Keras's per-epoch progress line.

Verbose 1 (on a terminal) redraws one line in place::

    8/8 ━━━━━━━━━━━━━━━━━━━━ 1s 95ms/step - accuracy: 0.5000 - loss: 1.4394

with colours and an ETA while the epoch runs; when the output is not a terminal (a file, a CI log,
a captured stream) only the final line of each epoch is written, without colour codes.
Verbose 2 writes one line per epoch: ``8/8 - 1s - 95ms/step - loss: 1.4394``.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Iterable
from typing import TextIO

__all__ = ["Progbar", "format_value"]

_BAR = "━"


def format_value(value: float) -> str:
    """Keras's number format: 4 decimals, scientific notation for magnitudes at or below 1e-3.

    Example:
        >>> format_value(0.25), format_value(0.0)
        ('0.2500', '0.0000e+00')
    """
    return f"{value:.4f}" if abs(value) > 1e-3 else f"{value:.4e}"


def _format_time(seconds_per_unit: float, unit: str) -> str:
    if seconds_per_unit >= 1 or seconds_per_unit == 0:
        return f"{seconds_per_unit:.0f}s/{unit}"
    if seconds_per_unit >= 1e-3:
        return f"{seconds_per_unit * 1e3:.0f}ms/{unit}"
    return f"{seconds_per_unit * 1e6:.0f}us/{unit}"


def _format_eta(seconds: float) -> str:
    if seconds > 3600:
        return f"{int(seconds // 3600)}:{int(seconds % 3600 // 60):02d}:{int(seconds % 60):02d}"
    if seconds > 60:
        return f"{int(seconds // 60)}:{int(seconds % 60):02d}"
    return f"{int(seconds)}s"


class Progbar:
    """A progress line over ``target`` steps (``None``: unknown until the end).

    Args:
        target: number of steps, or ``None``.
        verbose: 1 (bar) or 2 (one line at the end); 0 prints nothing.
        width: bar width in characters.
        unit_name: the unit shown in the time-per-step field.
        stream: where to write (default ``sys.stdout`` at the time of writing).
        interval: minimum seconds between two redraws of the bar.

    Example:
        >>> import io
        >>> out = io.StringIO()
        >>> bar = Progbar(2, verbose=2, stream=out)
        >>> bar.update(1, [("loss", 0.5)]); bar.update(2, [("loss", 0.25)], finalize=True)
        >>> out.getvalue().startswith("2/2 - ") and out.getvalue().endswith(" - loss: 0.2500\\n")
        True
    """

    def __init__(
        self,
        target: int | None,
        verbose: int = 1,
        width: int = 20,
        unit_name: str = "step",
        stream: TextIO | None = None,
        interval: float = 0.05,
    ) -> None:
        self.target = target
        self.verbose = verbose
        self.width = width
        self.unit_name = unit_name
        self.interval = interval
        self._stream = stream
        self._values: dict[str, float] = {}
        self._start = time.time()
        self._after_first_step: float | None = None
        self._last_update = 0.0
        self._previous_width = 0

    @property
    def stream(self) -> TextIO:
        return self._stream if self._stream is not None else sys.stdout

    @property
    def dynamic(self) -> bool:
        """Whether the line can be redrawn in place (a terminal or a notebook)."""
        isatty = getattr(self.stream, "isatty", None)
        return bool(isatty and isatty()) or "ipykernel" in sys.modules

    def _time_per_unit(self, current: int, now: float) -> float:
        if not current:
            return 0.0
        if self._after_first_step is not None and current > 1:
            per_unit = (now - self._after_first_step) / (current - 1)
        else:
            per_unit = (now - self._start) / current
        if current == 1:
            self._after_first_step = now
        return per_unit

    def _metrics(self) -> str:
        return "".join(f" - {name}: {format_value(value)}" for name, value in self._values.items())

    def _counter(self, current: int) -> str:
        digits = int(math.log10(self.target)) + 1 if self.target else 1
        return f"{current:{digits}d}/{self.target}" if self.target else f"{current:7d}/Unknown"

    def update(
        self, current: int, values: Iterable[tuple[str, float]] | None = None, finalize: bool | None = None
    ) -> None:
        """Record ``values`` (shown as given: they are running means already) at step ``current``."""
        if finalize is None:
            finalize = self.target is not None and current >= self.target
        for name, value in values or ():
            self._values[name] = float(value)
        now = time.time()
        per_unit = self._time_per_unit(current, now)
        if self.verbose == 1:
            self._draw_bar(current, now, per_unit, finalize)
        elif self.verbose == 2 and finalize:
            self.stream.write(
                f"{self._counter(current)} - {now - self._start:.0f}s - "
                f"{_format_time(per_unit, self.unit_name)}{self._metrics()}\n"
            )
            self.stream.flush()

    def _draw_bar(self, current: int, now: float, per_unit: float, finalize: bool) -> None:
        dynamic = self.dynamic
        if not finalize and (not dynamic or now - self._last_update < self.interval):
            return
        self._last_update = now
        done = int(self.width * current / self.target) if self.target else 0
        bar = _BAR * self.width
        if self.target and dynamic:
            bar = f"\x1b[32m{_BAR * done}\x1b[0m\x1b[37m{_BAR * (self.width - done)}\x1b[0m"
        timing = (
            _format_eta(per_unit * (self.target - current))
            if self.target and not finalize
            else f"{now - self._start:.0f}s"
        )
        tail = f" {timing} {_format_time(per_unit, self.unit_name)}{self._metrics()}"
        line = f"{self._counter(current)} {bar}{tail}" if self.target else f"{self._counter(current)}{tail}"
        if dynamic:
            visible = len(line) - len(bar) + self.width if self.target else len(line)
            line = "\r" + line + " " * max(0, self._previous_width - visible)
            self._previous_width = visible
        self.stream.write(line + ("\n" if finalize else ""))
        self.stream.flush()
