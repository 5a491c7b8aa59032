"""The two taggers and the one training recipe they share.

Both models read character ids, embed them (id 0 is padding and masked), run an LSTM over the
window and classify every character::

    Input (N, T) -> Embedding(99, 32, mask_zero=True) -> LSTM(64, return_sequences=True)
                 -> Dense(8, softmax)                                     28,520 weights
    Input (N, T) -> Embedding(99, 32, mask_zero=True) -> Bidirectional(LSTM(42, return_sequences=True))
                 -> Dense(8, softmax)                                     29,048 weights

The bidirectional model has 42 units per direction, so that both have about the same number of
weights (within 2%): what it gains comes from reading ahead, not from size. Both get the same
recipe (:func:`compile_tagger`), the same batches and the same number of steps.
"""

from __future__ import annotations

from typing import Final

import torch

from .. import layers, optimizers
from ..models import Sequential
from ._data import VOCABULARY_SIZE, Dataset
from ._labels import CLASSES

__all__ = ["BATCH_SIZE", "EMBEDDING", "LEARNING_RATE", "UNITS", "build_tagger", "compile_tagger", "train_tagger"]

EMBEDDING: Final = 32
UNITS: Final = {"LSTM": 64, "Bidirectional(LSTM)": 42}
"""Units per direction of each tagger (chosen for equal weight counts)."""
BATCH_SIZE: Final = 32
LEARNING_RATE: Final = 0.005


def build_tagger(bidirectional: bool, units: int, embedding: int = EMBEDDING) -> Sequential:
    """A character tagger: embedding -> (bidirectional) LSTM over the window -> per-character softmax.

    Args:
        bidirectional: wrap the LSTM in ``Bidirectional`` (``merge_mode="concat"``).
        units: LSTM units (per direction).
        embedding: size of the character embedding.

    Returns:
        An uncompiled ``Sequential`` model taking ``(N, T)`` ids and returning ``(N, T, 8)`` class
        probabilities.

    Example:
        >>> model = build_tagger(bidirectional=True, units=42)
        >>> model.count_params()
        29048
        >>> model(torch.ones(2, 5, dtype=torch.long)).shape
        torch.Size([2, 5, 8])
    """
    recurrent = layers.LSTM(units, return_sequences=True, name="lstm")
    return Sequential(
        [
            layers.Input(shape=(None,), dtype="int64"),
            layers.Embedding(VOCABULARY_SIZE, embedding, mask_zero=True, name="characters"),
            layers.Bidirectional(recurrent, name="bidirectional") if bidirectional else recurrent,
            layers.Dense(len(CLASSES), activation="softmax", name="classes"),
        ],
        name="bidirectional_tagger" if bidirectional else "lstm_tagger",
    )


def compile_tagger(model: Sequential) -> None:
    """The shared recipe: Adam (learning rate 0.005, gradients clipped to norm 1), sparse
    categorical cross-entropy and accuracy, both over real characters only (the mask drops padding).

    Example:
        >>> model = build_tagger(bidirectional=False, units=4)
        >>> compile_tagger(model)
        >>> model.compiled
        True
    """
    model.compile(
        optimizer=optimizers.Adam(learning_rate=LEARNING_RATE, clipnorm=1.0),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )


def train_tagger(
    model: Sequential, data: Dataset, *, epochs: int, seed: int, device: torch.device, verbose: int = 1
) -> dict[str, list[float]]:
    """Move ``model`` to ``device``, compile it and fit it on ``data.train``.

    The held-out split is passed as ``validation_data`` for the curves only: nothing is chosen on
    it (no early stopping, no best-epoch weights), so the held-out table stays an honest estimate.

    Args:
        model: a tagger from :func:`build_tagger`.
        data: the data set.
        epochs: passes over the training windows.
        seed: seeds the order of the batches (the weights exist already: seed before
            :func:`build_tagger` for reproducible weights).
        device: where to train.
        verbose: ``fit``'s verbosity (1: Keras-style progress bars, 0: silent).

    Returns:
        ``History.history``: ``loss``, ``accuracy``, ``val_loss``, ``val_accuracy`` per epoch.

    Example:
        >>> from birnn.demo import build_dataset
        >>> data = build_dataset(train_windows=4, test_windows=2, seed=0)
        >>> history = train_tagger(build_tagger(False, units=4), data, epochs=1, seed=0,
        ...                        device=torch.device("cpu"), verbose=0)
        >>> sorted(history)
        ['accuracy', 'loss', 'val_accuracy', 'val_loss']
    """
    torch.manual_seed(seed)
    model.to(device)
    compile_tagger(model)
    history = model.fit(
        data.train.x,
        data.train.y,
        batch_size=BATCH_SIZE,
        epochs=epochs,
        shuffle=True,
        validation_data=(data.test.x, data.test.y),
        verbose=verbose,
    )
    return {name: list(values) for name, values in history.history.items()}
