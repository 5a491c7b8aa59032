"""``SimpleRNNCell`` (a fully connected recurrent step) and the ``SimpleRNN`` layer."""

from __future__ import annotations

from torch import Tensor

from ... import _registry
from ._cell import ProjectedCell
from ._rnn import CellLayer

__all__ = ["SimpleRNNCell", "SimpleRNN"]


@_registry.register
class SimpleRNNCell(ProjectedCell):
    r"""Fully connected recurrent cell: :math:`h' = \phi(x W + b + h U)`.

    Weights: ``kernel`` ``(F, U)``, ``recurrent_kernel`` ``(U, U)``, ``bias`` ``(U,)``. State: ``[h]``.

    Example:
        >>> import torch, birnn
        >>> cell = birnn.layers.SimpleRNNCell(2, activation="relu")
        >>> out, [h] = cell(torch.ones(3, 4), [torch.zeros(3, 2)])
        >>> bool((out >= 0).all())
        True
    """

    gate_count = 1

    def recurrent_step(
        self, projected: Tensor, states: list[Tensor], recurrent_mask: Tensor | None = None
    ) -> tuple[Tensor, list[Tensor]]:
        (h,) = states
        if recurrent_mask is not None:
            h = h * recurrent_mask
        h = self.activation(projected + h @ self.recurrent_kernel)
        return h, [h]


@_registry.register
class SimpleRNN(CellLayer):
    """Fully connected RNN layer (Keras's ``SimpleRNN``): a ``SimpleRNNCell`` run over time.

    Example:
        >>> import torch, birnn
        >>> birnn.layers.SimpleRNN(5, return_sequences=True)(torch.randn(2, 7, 3)).shape
        torch.Size([2, 7, 5])
    """

    cell_class = SimpleRNNCell
    takes_use_cudnn = False
