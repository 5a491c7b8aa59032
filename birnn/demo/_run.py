"""``run_demo``: data, both taggers, the held-out table, the ``.keras`` file and the picture."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import torch

from ..models import Sequential
from ._data import PAD, build_dataset
from ._figure import matplotlib_missing, write_figure
from ._labels import CLASSES
from ._table import AccuracyTable, accuracy_table
from ._train import UNITS, build_tagger, train_tagger

__all__ = ["SIZES", "DemoResult", "dataset_size", "resolve_device", "run_demo"]

SIZES: Final = {"tiny": (48, 24), "small": (1000, 150), "default": (6000, 600)}
"""``--size`` name -> (training windows, held-out windows), 128 characters each."""


def dataset_size(size: str | int) -> tuple[int, int]:
    """(training, held-out) windows for a name of :data:`SIZES` or a number of training windows.

    A number ``n`` holds out ``max(24, n // 10)`` windows.

    Raises:
        ValueError: neither a known name nor a positive integer.

    Example:
        >>> dataset_size("small"), dataset_size(2000), dataset_size("100")
        ((1000, 150), (2000, 200), (100, 24))
    """
    if isinstance(size, str) and size in SIZES:
        return SIZES[size]
    try:
        count = int(size)
    except (TypeError, ValueError):
        count = 0
    if count < 1 or isinstance(size, bool):
        raise ValueError(f"Argument `size` must be one of {', '.join(SIZES)} or a positive number of training "
                         f"windows, received: size={size!r}")
    return count, max(24, count // 10)


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` -> CUDA when available, else the CPU; any other name is checked and returned.

    Raises:
        ValueError: not a device name, or a CUDA device on a machine without one.

    Example:
        >>> resolve_device("cpu")
        device(type='cpu')
        >>> resolve_device("gpu")
        Traceback (most recent call last):
        ...
        ValueError: Argument `device` must be 'auto', 'cpu', 'cuda' or a torch device name, received: device='gpu'
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"Argument `device` must be 'auto', 'cpu', 'cuda' or a torch device name, "
                         f"received: device={device!r}") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"Argument `device` asks for CUDA, but PyTorch sees no CUDA device here, received: "
                         f"device={device!r}; use device='cpu' or 'auto'")
    return resolved


@dataclass(frozen=True)
class DemoResult:
    """What one demo run produced.

    Attributes:
        table: held-out accuracy per class and overall, one column per model.
        histories: model name -> ``History.history`` (per-epoch loss and accuracy, training and held-out).
        model_path: the saved bidirectional model (``.keras``).
        table_path: the table as Markdown.
        figure_path: the PNG, or ``None`` without matplotlib.
        device: where the models trained.
        seconds: wall time of the whole run.
        notes: what was skipped and why.
    """

    table: AccuracyTable
    histories: dict[str, dict[str, list[float]]]
    model_path: Path
    table_path: Path
    figure_path: Path | None
    device: torch.device
    seconds: float
    notes: tuple[str, ...]


def run_demo(
    *,
    out: str | Path = "birnn_demo_output",
    size: str | int = "default",
    epochs: int = 6,
    seed: int = 0,
    source: str | Path | None = None,
    device: str | torch.device = "auto",
    verbose: int = 1,
) -> DemoResult:
    """Build the data set, train a one-directional and a bidirectional tagger, compare them, save.

    Both taggers (:mod:`birnn.demo._train`) have about the same number of weights and get the same
    epochs, batches and optimizer. With the same seed (and source files) a run on the CPU repeats
    exactly; on a GPU, up to cuDNN's nondeterminism.

    Args:
        out: output folder (created): ``bidirectional.keras``, ``accuracy.md``, ``demo.png``.
        size: a name of :data:`SIZES` or a number of training windows.
        epochs: passes over the training windows, for each model.
        seed: seed of the data selection, the weights and the batch order.
        source: folder of ``.py`` files; ``None`` for the running Python's standard library.
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``, ...
        verbose: 1 prints progress bars and the table, 0 prints nothing.

    Returns:
        A :class:`DemoResult`.

    Raises:
        ValueError: a bad ``size``, ``epochs`` or ``device``.
        SourceError: ``source`` is not a folder, holds no Python files, or fewer than two that tokenize.

    Example:
        >>> import tempfile
        >>> result = run_demo(out=tempfile.mkdtemp(), size="tiny", epochs=1, verbose=0)
        >>> list(result.table.overall), result.model_path.name
        (['LSTM', 'Bidirectional(LSTM)'], 'bidirectional.keras')
    """
    train_windows, test_windows = dataset_size(size)
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"Argument `epochs` must be a positive integer, received: epochs={epochs!r}")
    target = resolve_device(device)
    started = time.perf_counter()
    data = build_dataset(source, train_windows=train_windows, test_windows=test_windows, seed=seed)
    say = print if verbose else _silent
    files = len(data.train.files) + len(data.test.files)
    say(f"data: {data.train.characters:,} training and {data.test.characters:,} held-out characters "
        f"({len(data.train.x):,} + {len(data.test.x):,} windows of {data.train.x.shape[1]}) from {files} files "
        f"under {data.root}; training on {target}")
    models: dict[str, Sequential] = {}
    histories: dict[str, dict[str, list[float]]] = {}
    for name, units in UNITS.items():
        bidirectional = name.startswith("Bidirectional")
        torch.manual_seed(seed)  # the same seed for both: same batch order, comparable initial weights
        models[name] = build_tagger(bidirectional=bidirectional, units=units)
        say(f"\n{name}: {units} units{' per direction' if bidirectional else ''}, "
            f"{models[name].count_params():,} weights")
        histories[name] = train_tagger(models[name], data, epochs=epochs, seed=seed, device=target, verbose=verbose)

    real = data.test.x != PAD
    predicted = {name: _classes(model, data.test.x) for name, model in models.items()}
    table = accuracy_table(data.test.y[real], {name: p[real] for name, p in predicted.items()}, CLASSES)

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    table_path = out / "accuracy.md"
    table_path.write_text(table.format(markdown=True) + "\n")
    model_path = out / "bidirectional.keras"
    models["Bidirectional(LSTM)"].save(model_path)
    notes = []
    figure_path: Path | None = None
    missing = matplotlib_missing()
    if missing:
        notes.append(missing)
    else:
        snippet = {name: _classes(model, data.snippet.x) for name, model in models.items()}
        figure_path = write_figure(out / "demo.png", histories, data.snippet.x, data.snippet.y, snippet)

    seconds = time.perf_counter() - started
    say(f"\nheld-out accuracy per character class ({len(data.test.files)} files never seen in training):\n")
    say(table.format())
    say(f"\nwrote {', '.join(str(p) for p in (model_path, table_path, figure_path) if p is not None)}")
    for note in notes:
        say(note)
    say(f"done in {seconds:.0f} s")
    return DemoResult(table, histories, model_path, table_path, figure_path, target, seconds, tuple(notes))


def _classes(model: Sequential, x: np.ndarray) -> np.ndarray:
    """The most probable class of every character, ``(N, T)``."""
    probabilities = model.predict(x, verbose=0)
    assert isinstance(probabilities, np.ndarray)  # one output
    classes: np.ndarray = probabilities.argmax(-1)
    return classes


def _silent(*args: object) -> None:
    """``print``'s stand-in when ``verbose=0``."""
