"""Keras-style default layer names: ``lstm``, ``lstm_1``, ``lstm_2`` ..."""

from __future__ import annotations

import itertools
import re
from collections import defaultdict

__all__ = ["to_snake_case", "unique_name", "reset_names"]

_COUNTERS: defaultdict[str, itertools.count] = defaultdict(itertools.count)


def to_snake_case(class_name: str) -> str:
    """``"SimpleRNN"`` -> ``"simple_rnn"``, ``"LSTMCell"`` -> ``"lstm_cell"``.

    Example:
        >>> to_snake_case("GlobalAveragePooling1D"), to_snake_case("StackedRNNCells")
        ('global_average_pooling1d', 'stacked_rnn_cells')
    """
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", re.sub(r"\W+", "", class_name))
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def unique_name(base: str) -> str:
    """The next free name for ``base`` in this process: ``base``, then ``base_1``, ...

    Example:
        >>> reset_names()
        >>> unique_name("lstm"), unique_name("lstm")
        ('lstm', 'lstm_1')
    """
    n = next(_COUNTERS[base])
    return base if n == 0 else f"{base}_{n}"


def reset_names() -> None:
    """Restart every name counter (Keras's ``clear_session`` for names)."""
    _COUNTERS.clear()
