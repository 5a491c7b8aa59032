"""The benchmark cases (the speed issue's five, plus a size sweep) and their input data.

Every case trains or runs the same model, described once here and built by each peer:

    Input(T, F) -> Bidirectional(RNN(U, return_sequences=True)) -> Bidirectional(RNN(U))
                -> Dense(C, softmax)

with categorical cross-entropy and RMSprop (Keras's defaults: learning rate 1e-3, rho 0.9,
epsilon 1e-7). ``RNN`` is ``LSTM`` or ``GRU``; the masked case puts
``Embedding(vocab, F, mask_zero=True)`` in front of right-padded integer inputs; the
``relu_backward`` case gives both ``Bidirectional`` layers the backward layer
``LSTM(U, activation='relu', go_backwards=True, ...)``; the ``variants`` group runs the model with
``GRU(reset_after=False)`` and with ``LSTM(U, recurrent_dropout=0.2)``.

Peers never make their own data: :func:`make_batch` draws one seeded batch per case, so every
peer trains on the same numbers.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

import numpy as np

__all__ = ["ALL_CASES", "GROUPS", "MAIN_CASES", "SAME_KERNEL_CASES", "SWEEP_CASES", "VARIANT_CASES", "Batch", "Case", "make_batch", "select", "tiny"]

Task = Literal["inference", "train"]
Cell = Literal["lstm", "gru"]


@dataclass(frozen=True)
class Case:
    """One benchmark case: what to run (task, cell, mask, backward layer) and at what size.

    Attributes:
        name: short unique identifier used on the command line and in reports.
        title: human-readable description for tables.
        task: ``"inference"`` (forward only, no autograd) or ``"train"`` (one optimizer step).
        cell: ``"lstm"`` or ``"gru"``.
        masked: integer inputs through ``Embedding(mask_zero=True)``, right-padded.
        relu_backward: the seed's custom backward layer (``activation='relu'``, ``go_backwards``).
        reset_after: GRU only: ``False`` is Keras 2's default GRU (reset gate before the recurrent
            multiply), which PyTorch has no kernel for.
        recurrent_dropout: Keras's ``recurrent_dropout`` of every recurrent layer (training drops the
            state's units the recurrent product reads; PyTorch's kernels have no such mask).
        directions: 2 (each layer a ``Bidirectional``) or 1 (a plain forward layer, no wrapper; neither
            masked nor with the custom backward layer).
        timesteps, features, units, batch, classes: ``T``, ``F``, ``U``, ``N``, ``C``.
        vocab: embedding vocabulary size (masked case; id 0 is padding).
        min_length: shortest sequence of the masked case (lengths are uniform in
            ``min_length .. timesteps``).
    """

    name: str
    title: str
    task: Task = "train"
    cell: Cell = "lstm"
    masked: bool = False
    relu_backward: bool = False
    reset_after: bool = True
    recurrent_dropout: float = 0.0
    directions: int = 2
    timesteps: int = 100
    features: int = 64
    units: int = 128
    batch: int = 64
    classes: int = 5
    vocab: int = 1000
    min_length: int = 10

    def __post_init__(self) -> None:
        if self.directions not in (1, 2):
            raise ValueError(f"Case.directions must be 1 or 2, got {self.directions!r}")
        if self.directions == 1 and (self.masked or self.relu_backward):
            raise ValueError(f"case {self.name!r}: one direction has no mask case and no backward layer")

    @property
    def training(self) -> bool:
        return self.task == "train"

    def flops(self) -> float:
        """Approximate floating-point operations of one forward pass (GEMMs only).

        ``directions`` times two layers of ``T`` steps, each step a ``(N, in + U) @ (in + U, G*U)``
        product (``G`` = 4 gates for LSTM, 3 for GRU), plus the small dense head. A training step
        costs about three times this (forward, input and weight gradients).
        """
        gates = 4 if self.cell == "lstm" else 3
        width = self.directions * self.units

        def per_step(inputs: int) -> int:
            return 2 * self.batch * (inputs + self.units) * gates * self.units

        layers = per_step(self.features) + per_step(width)
        return self.directions * self.timesteps * layers + 2.0 * self.batch * width * self.classes


_BASE = Case("lstm_train", "LSTM training step")

MAIN_CASES: tuple[Case, ...] = (
    dataclasses.replace(_BASE, name="inference", title="inference (forward only)", task="inference"),
    _BASE,
    dataclasses.replace(_BASE, name="gru_train", title="GRU training step", cell="gru"),
    dataclasses.replace(
        _BASE,
        name="masked_lstm_train",
        title="masked LSTM training (Embedding mask_zero, lengths 10..100)",
        masked=True,
    ),
    dataclasses.replace(
        _BASE,
        name="relu_backward_train",
        title="custom backward layer LSTM(relu, go_backwards) training",
        relu_backward=True,
    ),
)

SWEEP_CASES: tuple[Case, ...] = (
    dataclasses.replace(_BASE, name="lstm_train_T50", title="LSTM training, T=50", timesteps=50),
    dataclasses.replace(_BASE, name="lstm_train_T200", title="LSTM training, T=200", timesteps=200),
    dataclasses.replace(_BASE, name="lstm_train_U64", title="LSTM training, U=64", units=64),
    dataclasses.replace(_BASE, name="lstm_train_U256", title="LSTM training, U=256", units=256),
)

VARIANT_CASES: tuple[Case, ...] = (
    dataclasses.replace(
        _BASE, name="gru_reset_before_train", title="GRU(reset_after=False) training step", cell="gru",
        reset_after=False,
    ),
    dataclasses.replace(
        _BASE, name="lstm_recurrent_dropout_train", title="LSTM(recurrent_dropout=0.2) training step",
        recurrent_dropout=0.2,
    ),
)
"""Layer variants off the speed issue's table (none of PyTorch's kernels covers them)."""

ONE_DIRECTION_CASES: tuple[Case, ...] = (
    dataclasses.replace(_BASE, name="lstm_one_direction_train", title="LSTM stack, one direction, training step",
                        directions=1),
    dataclasses.replace(_BASE, name="gru_one_direction_train", title="GRU stack, one direction, training step",
                        cell="gru", directions=1),
)
"""The same two-layer models with plain forward layers (no ``Bidirectional``): one recurrence per layer."""

_ONE_WAY_INFERENCE = dataclasses.replace(
    _BASE, name="lstm_one_direction_inference", title="LSTM stack, one direction, inference", task="inference",
    directions=1,
)
SAME_KERNEL_CASES: tuple[Case, ...] = (
    _ONE_WAY_INFERENCE,
    dataclasses.replace(_ONE_WAY_INFERENCE, name="lstm_one_direction_inference_b4",
                        title="LSTM stack, one direction, inference, batch 4", batch=4),
)
"""Where birnn runs the very kernel plain PyTorch runs (oneDNN's LSTM, each lone layer using both cores at
inference): ``birnn / PyTorch`` is birnn's overhead around it, a fixed cost per call that shows at small
batches."""

ALL_CASES: tuple[Case, ...] = MAIN_CASES + SWEEP_CASES + VARIANT_CASES + ONE_DIRECTION_CASES + SAME_KERNEL_CASES
GROUPS: dict[str, tuple[Case, ...]] = {
    "main": MAIN_CASES, "sweep": SWEEP_CASES, "variants": VARIANT_CASES, "one_direction": ONE_DIRECTION_CASES,
    "same_kernel": SAME_KERNEL_CASES, "all": ALL_CASES,
}
_BY_NAME = {case.name: case for case in ALL_CASES}


def select(names: list[str] | None) -> list[Case]:
    """Cases named by ``names`` (case names or the groups ``main``, ``sweep``, ``all``), in order.

    Raises:
        ValueError: an unknown name.
    """
    if not names:
        return list(ALL_CASES)
    chosen: list[Case] = []
    for name in names:
        if name in GROUPS:
            found = list(GROUPS[name])
        elif name in _BY_NAME:
            found = [_BY_NAME[name]]
        else:
            known = ", ".join([*GROUPS, *_BY_NAME])
            raise ValueError(f"unknown case {name!r}; choose from: {known}")
        chosen += [case for case in found if case not in chosen]
    return chosen


def tiny(case: Case) -> Case:
    """The same case at a toy size (for smoke tests of the suite machinery)."""
    return dataclasses.replace(
        case,
        timesteps=max(3, case.timesteps // 20),
        features=max(2, case.features // 16),
        units=max(2, case.units // 32),
        batch=4,
        vocab=20,
        min_length=2,
    )


@dataclass(frozen=True)
class Batch:
    """One batch of inputs and targets, as NumPy arrays (each peer converts them).

    Attributes:
        inputs: ``(N, T, F)`` float32, or ``(N, T)`` int32 token ids (0 = padding) when masked.
        labels: ``(N,)`` int64 class indices.
        targets: ``(N, C)`` float32 one-hot of ``labels`` (Keras's categorical cross-entropy).
        lengths: ``(N,)`` int64 valid lengths when masked, else ``None``.
    """

    inputs: np.ndarray
    labels: np.ndarray
    targets: np.ndarray
    lengths: np.ndarray | None

    @property
    def mask(self) -> np.ndarray | None:
        """``(N, T)`` boolean mask (``True`` = valid step) of the masked case."""
        return None if self.lengths is None else self.inputs != 0


def make_batch(case: Case, seed: int = 0) -> Batch:
    """The seeded batch for ``case``: identical for every peer and every run."""
    rng = np.random.default_rng(seed)
    n, t = case.batch, case.timesteps
    labels = rng.integers(0, case.classes, size=n).astype(np.int64)
    targets = np.eye(case.classes, dtype=np.float32)[labels]
    if not case.masked:
        inputs = rng.standard_normal((n, t, case.features)).astype(np.float32)
        return Batch(inputs, labels, targets, None)
    lengths = rng.integers(min(case.min_length, t), t + 1, size=n).astype(np.int64)
    ids = rng.integers(1, case.vocab, size=(n, t)).astype(np.int32)
    ids[np.arange(t)[None, :] >= lengths[:, None]] = 0
    return Batch(ids, labels, targets, lengths)
