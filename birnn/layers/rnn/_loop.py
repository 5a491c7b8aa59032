"""The time loop: the one place that owns direction, masks and ``zero_output_for_mask``.

Semantics (Keras's reference loop, the same for every path and for ``unroll`` True or False).
For each processing step ``t`` (``T-1 .. 0`` when ``go_backwards``) with mask ``m``::

    out, new_states = step(x[:, t], states)
    states  = where(m, new_states, states)          # masked steps carry every state over
    emitted = where(m, out, 0 if zero_output_for_mask else previous_emitted)   # starts at 0

``outputs`` stacks ``emitted`` in *processing* order (reversed time when ``go_backwards``), and
``last_output`` is the final ``emitted``. A fully masked row therefore yields zeros and keeps its
initial states.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

__all__ = ["Step", "run_loop", "check_mask", "check_time_axis"]

Step = Callable[[Tensor, list[Tensor]], tuple[Tensor, list[Tensor]]]


def check_time_axis(inputs: Tensor) -> None:
    """Refuse a sequence with no time steps (Keras fails there with an IndexError): every kernel would have
    to invent its outputs.

    Example:
        >>> check_time_axis(torch.zeros(2, 0, 3))
        Traceback (most recent call last):
        ...
        ValueError: Cannot run an RNN over an empty time axis: inputs have shape (2, 0, 3)
    """
    if torch.jit.is_tracing():  # sizes are traced values there; an exported graph has its sample's shape anyway
        return
    if inputs.dim() >= 2 and inputs.shape[1] == 0:
        raise ValueError(f"Cannot run an RNN over an empty time axis: inputs have shape {tuple(inputs.shape)}")


def check_mask(mask: Tensor | None, inputs: Tensor) -> Tensor | None:
    """Validate a ``(N, T)`` mask against ``(N, T, ...)`` inputs and return it as ``bool``.

    Example:
        >>> check_mask(torch.ones(2, 4), torch.zeros(2, 3, 1))
        Traceback (most recent call last):
        ...
        ValueError: Argument `mask` must have shape (batch, time) = (2, 3), received shape (2, 4)
    """
    if mask is None:
        return None
    if not isinstance(mask, Tensor):
        mask = torch.as_tensor(mask)
    if tuple(mask.shape) != tuple(inputs.shape[:2]):
        raise ValueError(
            f"Argument `mask` must have shape (batch, time) = {tuple(inputs.shape[:2])}, "
            f"received shape {tuple(mask.shape)}"
        )
    return mask.to(device=inputs.device, dtype=torch.bool)


def _row_mask(mask: Tensor, like: Tensor) -> Tensor:
    return mask.view(mask.shape[0], *([1] * (like.ndim - 1)))


def run_loop(
    step: Step,
    inputs: Tensor,
    states: list[Tensor],
    *,
    mask: Tensor | None = None,
    go_backwards: bool = False,
    return_sequences: bool = False,
    zero_output_for_mask: bool = False,
) -> tuple[Tensor, Tensor | None, list[Tensor]]:
    """Run ``step`` over the time axis of ``inputs`` ``(N, T, ...)``.

    Args:
        step: ``(x_t, states) -> (output_t, new_states)``; states are a flat list of tensors.
        inputs: per-step inputs, time on axis 1 (already projected for birnn's own cells).
        states: initial states.
        mask: optional ``(N, T)`` boolean mask, ``True`` = keep (see the module docstring).
        go_backwards: process ``T-1 .. 0``; outputs stay in processing order.
        return_sequences: also return the stacked ``(N, T, U)`` outputs.
        zero_output_for_mask: emit zeros, not the previous output, at masked steps.

    Returns:
        ``(last_output, outputs or None, final_states)``.

    Example:
        >>> step = lambda x, s: (x + s[0], [x + s[0]])          # running sum
        >>> x = torch.ones(1, 3, 1)
        >>> last, seq, (h,) = run_loop(step, x, [torch.zeros(1, 1)], return_sequences=True,
        ...                            mask=torch.tensor([[True, False, True]]))
        >>> seq.flatten().tolist(), h.item()
        ([1.0, 1.0, 2.0], 2.0)
    """
    check_time_axis(inputs)
    steps = inputs.shape[1]
    order = range(steps - 1, -1, -1) if go_backwards else range(steps)
    emitted: Tensor | None = None
    collected: list[Tensor] = []
    for t in order:
        out, new_states = step(inputs[:, t], states)
        if mask is None:
            states = new_states
        else:
            keep = mask[:, t]
            states = [torch.where(_row_mask(keep, new), new, old) for new, old in zip(new_states, states)]
            fallback = torch.zeros_like(out) if zero_output_for_mask or emitted is None else emitted
            out = torch.where(_row_mask(keep, out), out, fallback)
        emitted = out
        if return_sequences:
            collected.append(out)
    assert emitted is not None
    return emitted, (torch.stack(collected, dim=1) if return_sequences else None), states
