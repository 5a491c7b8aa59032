"""birnn peer: ``birnn.layers.Bidirectional`` over ``birnn.layers.LSTM``/``GRU``.

Primary variant: the birnn layers inside a plain PyTorch training step (``torch.optim.RMSprop``,
``F.cross_entropy``), shared with the plain-PyTorch peer through ``torch_common``, so that the
two differ only in the recurrent layers.

Variant ``model``: when ``birnn.models.Sequential`` exists with ``compile`` and
``train_on_batch`` (and ``birnn.layers`` has ``Dense``, plus ``Embedding`` for the masked case),
the Keras-style model API is measured as well (``train_on_batch``; ``predict_on_batch`` or a
no-grad call for inference). Otherwise the variant is reported as skipped, with the reason.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
from typing import Any

import torch
from torch import Tensor, nn

from ..cases import Batch, Case
from . import torch_common
from .base import Prepared, Step

__all__ = ["BirnnBody", "bidirectional_stack", "configure", "prepare", "versions"]

MODEL_VARIANT = "model"


def configure(threads: int, device: str) -> None:
    torch_common.configure(threads, device)


def versions() -> dict[str, str]:
    import birnn

    return {**torch_common.versions(), "birnn": birnn.__version__}


def bidirectional_stack(case: Case, first_input_shape: tuple[int, ...] | None = None) -> list[nn.Module]:
    """The case's two ``birnn.layers.Bidirectional`` layers, or plain forward layers for one direction (the first
    optionally with ``input_shape``)."""
    from birnn import layers

    rnn = layers.LSTM if case.cell == "lstm" else functools.partial(layers.GRU, reset_after=case.reset_after)
    rnn = functools.partial(rnn, recurrent_dropout=case.recurrent_dropout)
    stack = []
    for return_sequences in (True, False):
        backward = None
        if case.relu_backward:
            backward = rnn(case.units, activation="relu", go_backwards=True, return_sequences=return_sequences)
        extra: dict[str, Any] = {}
        if return_sequences and first_input_shape is not None:
            extra["input_shape"] = first_input_shape
        if case.directions == 1:
            stack.append(rnn(case.units, return_sequences=return_sequences, **extra))
            continue
        stack.append(
            layers.Bidirectional(rnn(case.units, return_sequences=return_sequences), backward_layer=backward, **extra)
        )
    return stack


class BirnnBody(nn.Module):
    """The two birnn ``Bidirectional`` layers; the masked case derives its mask from token id 0."""

    def __init__(self, case: Case) -> None:
        super().__init__()
        self.embedding = nn.Embedding(case.vocab, case.features) if case.masked else None
        self.first, self.second = bidirectional_stack(case)

    def forward(self, inputs: Tensor, lengths: Tensor | None) -> Tensor:
        if self.embedding is None:
            return self.second(self.first(inputs))
        mask = inputs != 0
        return self.second(self.first(self.embedding(inputs), mask=mask), mask=mask)


def _model_api_gap(case: Case) -> str | None:
    """Why the Keras-style model API cannot be measured for ``case`` (``None``: it can)."""
    if importlib.util.find_spec("birnn.models") is None:
        return "birnn.models not available yet"
    models = importlib.import_module("birnn.models")
    sequential = getattr(models, "Sequential", None)
    if sequential is None or not all(hasattr(sequential, m) for m in ("compile", "train_on_batch")):
        return "birnn.models.Sequential with compile/train_on_batch not available yet"
    from birnn import layers

    needed = ["Dense"] + (["Embedding"] if case.masked else [])
    missing = [name for name in needed if not hasattr(layers, name)]
    if missing:
        return f"birnn.layers lacks {', '.join(missing)}"
    return None


def _model_api_step(case: Case, batch: Batch, device: str) -> tuple[Step, nn.Module]:
    """One ``train_on_batch`` (or ``predict_on_batch``) of the case's model built with ``birnn.models``,
    and the model."""
    from birnn import layers, models

    head: list[nn.Module] = []
    if case.masked:
        head = [layers.Embedding(case.vocab, case.features, mask_zero=True, input_shape=(case.timesteps,))]
        stack = bidirectional_stack(case)
    else:
        stack = bidirectional_stack(case, first_input_shape=(case.timesteps, case.features))
    model = models.Sequential([*head, *stack, layers.Dense(case.classes, activation="softmax")])
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy")
    if hasattr(model, "to"):
        model.to(device)
    inputs, _, _ = torch_common.to_inputs(batch, device)
    targets = torch.from_numpy(batch.targets).to(device)
    sync = torch_common.synchronizer(device)
    if case.training:

        def train() -> object:
            result = model.train_on_batch(inputs, targets)
            sync()
            return result

        return train, model
    predict = getattr(model, "predict_on_batch", None)

    def infer() -> object:
        if predict is not None:
            result = predict(inputs)
        else:
            with torch.no_grad():
                result = model(inputs)
        sync()
        return result

    return infer, model


def prepare(case: Case, batch: Batch, device: str) -> Prepared:
    prepared = torch_common.steps_for(BirnnBody(case), case, batch, device)
    gap = _model_api_gap(case)
    if gap is None:
        prepared.steps[MODEL_VARIANT], model = _model_api_step(case, batch, device)
        if case.training:
            prepared.snapshots[MODEL_VARIANT] = torch_common.weights_snapshot(model)
    else:
        prepared.skipped[MODEL_VARIANT] = gap
    return prepared
