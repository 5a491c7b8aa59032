"""Train the two taggers with the same budget and report what reading ahead buys."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .. import callbacks, layers, optimizers
from ..models import Sequential
from ._data import PAD, VOCABULARY_SIZE, build_dataset
from ._figure import matplotlib_missing, write_figure
from ._labels import CLASSES
from ._table import AccuracyTable, accuracy_table

__all__ = ["SIZES", "DemoResult", "build_tagger", "run_demo"]

SIZES: dict[str, tuple[int, int]] = {"tiny": (48, 24), "small": (600, 150), "default": (6000, 600)}
"""``--size`` name -> (training windows, held-out windows) of 128 characters."""


@dataclass
class DemoResult:
    """What one demo run produced."""

    table: AccuracyTable
    histories: dict[str, dict[str, list[float]]]
    model_path: Path
    table_path: Path
    figure_path: Path | None
    seconds: float
    notes: list[str] = field(default_factory=list)


def build_tagger(bidirectional: bool, units: int = 64, embedding: int = 32) -> Sequential:
    """Embedding (padding id 0 masked) -> (Bidirectional) LSTM over characters -> per-character softmax.

    Example:
        >>> model = build_tagger(bidirectional=True, units=8)
        >>> model(torch.ones(2, 5, dtype=torch.long)).shape[-1] == len(CLASSES)
        True
    """
    recurrent = layers.LSTM(units, return_sequences=True)
    return Sequential([
        layers.Input(shape=(None,), dtype="int64"),
        layers.Embedding(VOCABULARY_SIZE, embedding, mask_zero=True),
        layers.Bidirectional(recurrent) if bidirectional else recurrent,
        layers.Dense(len(CLASSES), activation="softmax"),
    ])


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def run_demo(
    *,
    out: str | Path = "birnn_demo_output",
    size: str = "default",
    epochs: int = 6,
    seed: int = 0,
    source: str | Path | None = None,
    device: str = "auto",
    verbose: int = 1,
) -> DemoResult:
    """Build the data set, train a one-directional and a bidirectional tagger, compare, save.

    The one-directional model gets 64 units and the bidirectional one 46 per direction, so both
    have about the same number of weights and the same number of epochs and steps.

    Raises:
        ValueError: an unknown ``size``, a non-positive ``epochs``, or a ``source`` with no Python files.
    """
    if size not in SIZES:
        raise ValueError(f"Argument `size` must be one of {sorted(SIZES)}, received: size={size!r}")
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"Argument `epochs` must be a positive integer, received: epochs={epochs!r}")
    started = time.perf_counter()
    torch.manual_seed(seed)
    np.random.seed(seed)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    train_windows, test_windows = SIZES[size]
    data = build_dataset(source, train_windows=train_windows, test_windows=test_windows, seed=seed)
    if verbose:
        print(f"data: {data.train.characters} training and {data.test.characters} held-out characters "
              f"from {len(set(data.train.files) | set(data.test.files))} files under {data.root}")
    target = torch.device(_device(device))
    models = {"LSTM": build_tagger(False, units=64), "Bidirectional(LSTM)": build_tagger(True, units=46)}
    histories: dict[str, dict[str, list[float]]] = {}
    for name, model in models.items():
        torch.manual_seed(seed)
        model.to(target)
        # clipped gradients and the best epoch's weights: the same recipe for both models
        model.compile(optimizer=optimizers.Adam(clipnorm=1.0), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        if verbose:
            print(f"\n{name}: {model.count_params()} weights")
        best = callbacks.EarlyStopping(monitor="val_loss", patience=epochs, restore_best_weights=True)
        history = model.fit(data.train.x, data.train.y, batch_size=32, epochs=epochs, shuffle=True,
                            validation_data=(data.test.x, data.test.y), callbacks=[best], verbose=verbose)
        histories[name] = dict(history.history)
    real = data.test.x != PAD
    predictions = {name: model.predict(data.test.x, verbose=0).argmax(-1) for name, model in models.items()}
    table = accuracy_table(data.test.y[real], {name: p[real] for name, p in predictions.items()}, CLASSES)
    table_path = out / "accuracy.md"
    table_path.write_text(table.format(markdown=True) + "\n")
    model_path = out / "bidirectional.keras"
    models["Bidirectional(LSTM)"].save(model_path)
    notes = []
    figure_path: Path | None = out / "demo.png"
    missing = matplotlib_missing()
    if missing:
        notes.append(missing)
        figure_path = None
    else:
        snippet = {name: model.predict(data.snippet.x, verbose=0).argmax(-1) for name, model in models.items()}
        write_figure(figure_path, histories, data.snippet.x, data.snippet.y, snippet)
    result = DemoResult(table, histories, model_path, table_path, figure_path, time.perf_counter() - started, notes)
    if verbose:
        print("\nheld-out accuracy per character class:\n")
        print(table.format())
        print(f"\nsaved {model_path}, {table_path}" + (f", {figure_path}" if figure_path else ""))
        for note in notes:
            print(note)
        print(f"done in {result.seconds:.0f} s")
    return result
