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
from .base import PRIMARY, Prepared, Snapshot, Step

__all__ = ["Classifier", "Inputs", "KerasRMSprop", "configure", "rmsprop", "steps_for", "synchronizer", "to_inputs", "versions", "weights_snapshot"]


def configure(threads: int, device: str) -> None:
    """Fix the intra-op thread count and the seed."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {device!r} requested but torch.cuda.is_available() is False")


def versions() -> dict[str, str]:
    return {"torch": torch.__version__}


class Classifier(nn.Module):
    """``body`` followed by ``Linear(directions * U, C)``; returns logits."""

    def __init__(self, body: nn.Module, case: Case) -> None:
        super().__init__()
        self.body = body
        self.head = nn.Linear(case.directions * case.units, case.classes)

    def forward(self, inputs: Tensor, lengths: Tensor | None) -> Tensor:
        return self.head(self.body(inputs, lengths))


class KerasRMSprop(torch.optim.Optimizer):
    """RMSprop as Keras computes it, for both PyTorch peers: ``v = rho v + (1 - rho) g**2``,
    ``p -= lr g / sqrt(v + epsilon)``.

    ``torch.optim.RMSprop`` adds epsilon *outside* the root, so its first steps move every weight by
    about ``3 lr`` whatever its gradient (``g / sqrt(0.1 g**2)``); with Keras's orthogonal recurrent
    initialisation that pushes the seed's relu LSTM past stability within three steps, and the
    timed steps then run on NaNs. The Keras peers never see that; with this optimizer all peers do
    the same updates. Multi-tensor (``torch._foreach_*``) operations, as ``torch.optim`` uses.
    """

    def __init__(self, parameters: object, lr: float = 1e-3, rho: float = 0.9, epsilon: float = 1e-7) -> None:
        super().__init__(parameters, {"lr": lr, "rho": rho, "epsilon": epsilon})  # type: ignore[arg-type]

    @torch.no_grad()
    def step(self, closure: None = None) -> None:  # type: ignore[override]
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            grads = [p.grad for p in params]
            for p in params:  # created once (setdefault would build and drop a zero tensor every step)
                if "velocity" not in self.state[p]:
                    self.state[p]["velocity"] = torch.zeros_like(p)
            velocities = [self.state[p]["velocity"] for p in params]
            torch._foreach_mul_(velocities, group["rho"])
            torch._foreach_addcmul_(velocities, grads, grads, value=1 - group["rho"])
            roots = torch._foreach_add(velocities, group["epsilon"])
            torch._foreach_sqrt_(roots)
            torch._foreach_addcdiv_(params, grads, roots, value=-group["lr"])


def rmsprop(parameters: object) -> torch.optim.Optimizer:
    """RMSprop with Keras's defaults and mathematics (lr 1e-3, rho 0.9, epsilon 1e-7)."""
    return KerasRMSprop(parameters)


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

    def step() -> Tensor:
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(inputs, lengths), labels)
        loss.backward()
        optimizer.step()
        sync()
        return loss.detach()

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


def weights_snapshot(model: nn.Module) -> Snapshot:
    """:data:`Snapshot` of a torch module's parameters (copied back in place)."""

    def snapshot() -> Callable[[], None]:
        saved = [p.detach().clone() for p in model.parameters()]

        def restore() -> None:
            with torch.no_grad():
                for p, value in zip(model.parameters(), saved):
                    p.copy_(value)

        return restore

    return snapshot


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
    if case.training:
        return Prepared(steps={PRIMARY: _train_step(model, data, sync)}, snapshots={PRIMARY: weights_snapshot(model)})
    return Prepared(steps={PRIMARY: _inference_step(model, data, sync)})
