"""What the two PyTorch-module peers (birnn, plain ``torch.nn``) share.

Each of them supplies only a *body*: an ``nn.Module`` mapping ``(inputs, lengths)`` to the
``(N, 2U)`` features of the second ``Bidirectional`` layer. This module adds the head
(``Linear(2U, C)``; softmax + categorical cross-entropy is computed as ``F.cross_entropy`` on the
logits, the same mathematics in its numerically stable form), the optimizer (RMSprop with Keras's
defaults), the step callables, seeding and thread settings.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..cases import Batch, Case
from .base import PRIMARY, Prepared, Step

__all__ = ["Classifier", "Inputs", "configure", "rmsprop", "steps_for", "synchronizer", "to_inputs", "versions"]


def configure(threads: int, device: str) -> None:
    """Fix the intra-op thread count and the seed."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {device!r} requested but torch.cuda.is_available() is False")


def versions() -> dict[str, str]:
    return {"torch": torch.__version__}


class Classifier(nn.Module):
    """``body`` followed by ``Linear(2U, C)``; returns logits."""

    def __init__(self, body: nn.Module, case: Case) -> None:
        super().__init__()
        self.body = body
        self.head = nn.Linear(2 * case.units, case.classes)

    def forward(self, inputs: Tensor, lengths: Tensor | None) -> Tensor:
        return self.head(self.body(inputs, lengths))


def rmsprop(parameters: object) -> torch.optim.Optimizer:
    """``torch.optim.RMSprop`` with Keras's defaults (lr 1e-3, rho 0.9, epsilon 1e-7)."""
    return torch.optim.RMSprop(parameters, lr=1e-3, alpha=0.9, eps=1e-7)  # type: ignore[arg-type]


Inputs = tuple[Tensor, Tensor | None, Tensor]
"""``(inputs, lengths or None, labels)`` as tensors."""


def to_inputs(batch: Batch, device: str) -> Inputs:
    """The batch as tensors on ``device`` (lengths stay on the CPU, as ``pack_padded_sequence`` wants)."""
    inputs = torch.from_numpy(batch.inputs).to(device)
    lengths = None if batch.lengths is None else torch.from_numpy(batch.lengths)
    return inputs, lengths, torch.from_numpy(batch.labels).to(device)


def synchronizer(device: str) -> Callable[[], None]:
    """Waits for queued device work (a no-op on the CPU)."""
    if device.startswith("cuda"):
        return torch.cuda.synchronize
    return lambda: None


def _train_step(model: nn.Module, data: Inputs, sync: Callable[[], None]) -> Step:
    inputs, lengths, labels = data
    optimizer = rmsprop(model.parameters())
    model.train()

    def step() -> float:
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(inputs, lengths), labels)
        loss.backward()
        optimizer.step()
        sync()
        return 0.0

    return step


def _inference_step(model: nn.Module, data: Inputs, sync: Callable[[], None]) -> Step:
    inputs, lengths, _ = data
    model.eval()

    def step() -> Tensor:
        with torch.no_grad():
            out = torch.softmax(model(inputs, lengths), dim=-1)
        sync()
        return out

    return step


def steps_for(body: nn.Module, case: Case, batch: Batch, device: str) -> Prepared:
    """The primary step of ``case`` for a model made of ``body`` and the shared head.

    The model is called once without gradients first, so that lazily built layers create their
    weights before the optimizer collects them.
    """
    model = Classifier(body, case).to(device)
    data = to_inputs(batch, device)
    with torch.no_grad():
        model(data[0], data[1])
    sync = synchronizer(device)
    step = _train_step(model, data, sync) if case.training else _inference_step(model, data, sync)
    return Prepared(steps={PRIMARY: step})
