"""``GRUCell`` (one step of GRU math, both ``reset_after`` variants) and the ``GRU`` layer."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from ... import _registry, activations
from ._cell import ProjectedCell
from ._rnn import CellLayer

__all__ = ["GRUCell", "GRU"]


@_registry.register
class GRUCell(ProjectedCell):
    r"""Gated recurrent unit cell with Keras's weight layout (gate order ``z, r, h``).

    ``reset_after=True`` (default, the cuDNN / ``torch.nn.GRU`` form), with ``bias`` ``(2, 3U)``
    (row 0 input bias, row 1 recurrent bias):

    .. math::
        x_z, x_r, x_h = x W + b_0,\quad h_z, h_r, h_h = h U + b_1

        z = \sigma(x_z + h_z),\ r = \sigma(x_r + h_r),\ \tilde h = \phi(x_h + r \odot h_h),\
        h' = z \odot h + (1 - z) \odot \tilde h

    ``reset_after=False`` (Keras 2's default), with ``bias`` ``(3U,)``: the reset gate is applied
    before the recurrent multiply, :math:`\tilde h = \phi(x_h + (r \odot h) U_h)`.
    Weights: ``kernel`` ``(F, 3U)``, ``recurrent_kernel`` ``(U, 3U)``. State: ``[h]``.

    Args:
        units: number of units ``U``.
        recurrent_activation: gate activation (default ``"sigmoid"``).
        reset_after: where the reset gate is applied (see above).
        **kwargs: the arguments shared by every cell (see ``ProjectedCell``).

    Example:
        >>> import torch, birnn
        >>> cell = birnn.layers.GRUCell(3, reset_after=False)
        >>> h, [h2] = cell(torch.ones(2, 4), [torch.zeros(2, 3)])
        >>> h.shape, tuple(cell.bias.shape)
        (torch.Size([2, 3]), (9,))
    """

    gate_count = 3

    def __init__(self, units: int, recurrent_activation: Any = "sigmoid", reset_after: bool = True, **kwargs: Any) -> None:
        super().__init__(units, **kwargs)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.reset_after = bool(reset_after)

    @property
    def bias_shape(self) -> tuple[int, ...]:
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def input_bias(self) -> Tensor | None:
        if not self.use_bias:
            return None
        return self.bias[0] if self.reset_after else self.bias  # reset-after: the input row of the (2, 3U) bias

    def recurrent_step(
        self, projected: Tensor, states: list[Tensor], recurrent_mask: Tensor | None = None
    ) -> tuple[Tensor, list[Tensor]]:
        (h,) = states
        h_in = h if recurrent_mask is None else h * recurrent_mask
        x_z, x_r, x_h = projected.chunk(3, dim=-1)
        sigma, u = self.recurrent_activation, self.units
        if self.reset_after:
            hu = h_in @ self.recurrent_kernel
            if self.use_bias:
                hu = hu + self.bias[1]
            h_z, h_r, h_h = hu.chunk(3, dim=-1)
            z, r = sigma(x_z + h_z), sigma(x_r + h_r)
            candidate = self.activation(x_h + r * h_h)
        else:
            h_z, h_r = (h_in @ self.recurrent_kernel[:, : 2 * u]).chunk(2, dim=-1)
            z, r = sigma(x_z + h_z), sigma(x_r + h_r)
            candidate = self.activation(x_h + (r * h_in) @ self.recurrent_kernel[:, 2 * u :])
        h = z * h + (1.0 - z) * candidate
        return h, [h]

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "recurrent_activation": activations.serialize(self.recurrent_activation),
            "reset_after": self.reset_after,
        }


@_registry.register
class GRU(CellLayer):
    """Gated recurrent unit layer (Keras's ``GRU``): a ``GRUCell`` run over time by ``RNN``.

    Example:
        >>> import torch, birnn
        >>> gru = birnn.layers.GRU(4, go_backwards=True)
        >>> gru(torch.randn(2, 7, 3)).shape
        torch.Size([2, 4])
    """

    cell_class = GRUCell
