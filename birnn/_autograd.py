"""What the running backward pass promised its caller, for hand-written autograd functions.

A custom ``torch.autograd.Function`` that keeps tensors on ``ctx`` (rather than through
``save_for_backward``) or runs a private graph in its backward must know whether the caller asked
for ``retain_graph=True``: only then may a second backward pass come, so only then must the saved
state survive. Otherwise it frees that state as soon as its backward is done, as PyTorch's own
functions do, instead of holding it until the whole graph is dropped.
"""

from __future__ import annotations

import torch

__all__ = ["keeps_graph"]


def keeps_graph() -> bool:
    """Whether the backward pass running now retains its graph (``retain_graph=True``).

    Asks PyTorch's engine (a private query, present in the torch versions birnn supports); where
    it is missing the answer is ``True``, which only costs memory. Outside a backward pass: ``True``.

    Example:
        >>> class Probe(torch.autograd.Function):
        ...     seen = []
        ...     @staticmethod
        ...     def forward(ctx, x):
        ...         return x * 1
        ...     @staticmethod
        ...     def backward(ctx, g):
        ...         Probe.seen.append(keeps_graph())
        ...         return g
        >>> y = Probe.apply(torch.ones(1, requires_grad=True)).sum()
        >>> y.backward(retain_graph=True); y.backward()
        >>> Probe.seen
        [True, False]
    """
    query = getattr(torch._C._autograd, "_get_current_graph_task_keep_graph", None)
    return True if query is None else bool(query())
