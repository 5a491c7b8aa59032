"""``LSTMCell`` (one step of LSTM math) and the ``LSTM`` layer (that cell run by ``RNN``)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ... import _registry, activations
from ._cell import ProjectedCell
from ._rnn import CellLayer

__all__ = ["LSTMCell", "LSTM"]


@_registry.register
class LSTMCell(ProjectedCell):
    r"""Long short-term memory cell with Keras's weight layout (gate order ``i, f, c, o``).

    .. math::
        z = x W + h U + b,\quad (z_i, z_f, z_c, z_o) = \mathrm{split}(z, 4)

        c' = \sigma(z_f) \odot c + \sigma(z_i) \odot \phi(z_c),\quad h' = \sigma(z_o) \odot \phi(c')

    with :math:`\sigma` = ``recurrent_activation`` and :math:`\phi` = ``activation``.
    Weights: ``kernel`` ``(F, 4U)``, ``recurrent_kernel`` ``(U, 4U)``, ``bias`` ``(4U,)``.
    States: ``[h, c]``, each ``(N, U)``; the output is ``h'``.

    Args:
        units: number of units ``U``.
        recurrent_activation: gate activation (default ``"sigmoid"``).
        unit_forget_bias: initialise the forget-gate slice of the bias to exactly 1.0 (the other
            slices use ``bias_initializer``), as Keras does.
        **kwargs: the arguments shared by every cell (see ``ProjectedCell``).

    Call arguments:
        inputs: ``(N, F)``. states: ``[h, c]``. training: apply dropout (default: ``self.training``).

    Example:
        >>> import torch, birnn
        >>> cell = birnn.layers.LSTMCell(3)
        >>> h, (h2, c2) = cell(torch.ones(2, 4), [torch.zeros(2, 3), torch.zeros(2, 3)])
        >>> h.shape, bool((h == h2).all())
        (torch.Size([2, 3]), True)
    """

    gate_count = 4

    def __init__(self, units: int, recurrent_activation: Any = "sigmoid", unit_forget_bias: bool = True, **kwargs: Any) -> None:
        super().__init__(units, **kwargs)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.unit_forget_bias = bool(unit_forget_bias)

    @property
    def state_size(self) -> list[int]:
        return [self.units, self.units]

    def bias_initial_value(self, shape: tuple[int, ...], dtype: torch.dtype | None = None) -> Tensor:
        if not self.unit_forget_bias:
            return self.bias_initializer(shape, dtype=dtype)
        u = self.units
        init = self.bias_initializer
        return torch.cat([init((u,), dtype=dtype), torch.ones(u, dtype=dtype), init((2 * u,), dtype=dtype)])

    def recurrent_step(
        self, projected: Tensor, states: list[Tensor], recurrent_mask: Tensor | None = None
    ) -> tuple[Tensor, list[Tensor]]:
        h, c = states
        if recurrent_mask is not None:
            h = h * recurrent_mask
        i, f, g, o = (projected + h @ self.recurrent_kernel).chunk(4, dim=-1)
        sigma, phi = self.recurrent_activation, self.activation
        c = sigma(f) * c + sigma(i) * phi(g)
        h = sigma(o) * phi(c)
        return h, [h, c]

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "recurrent_activation": activations.serialize(self.recurrent_activation),
            "unit_forget_bias": self.unit_forget_bias,
        }


@_registry.register
class LSTM(CellLayer):
    """Long short-term memory layer (Keras's ``LSTM``): an ``LSTMCell`` run over time by ``RNN``.

    Takes every ``LSTMCell`` argument plus ``RNN``'s (``return_sequences``, ``return_state``,
    ``go_backwards``, ``stateful``, ``unroll``, ``zero_output_for_mask``) and ``use_cudnn``.

    Example:
        >>> import torch, birnn
        >>> lstm = birnn.layers.LSTM(4, return_sequences=True, return_state=True)
        >>> y, h, c = lstm(torch.randn(2, 7, 3))
        >>> y.shape, h.shape, c.shape
        (torch.Size([2, 7, 4]), torch.Size([2, 4]), torch.Size([2, 4]))
    """

    cell_class = LSTMCell
