"""``StackedRNNCells``: several cells used as one, each feeding its output to the next."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from ... import _registry
from .._layer import Layer
from ._cell import CellProtocol, call_kwargs, state_sizes

__all__ = ["StackedRNNCells"]


def _output_size(cell: Any) -> int:
    size = getattr(cell, "output_size", None)
    return size if isinstance(size, int) else state_sizes(cell)[0]


@_registry.register
class StackedRNNCells(Layer):
    """Stack cells into one cell: cell ``k`` reads cell ``k-1``'s output at the same time step.

    ``state_size`` is the list of the cells' state sizes, and states are nested per cell:
    ``[[h1, c1], [h2, c2]]`` for two LSTM cells (``RNN(..., return_state=True)`` returns
    ``(output, [h1, c1], [h2, c2])``).

    Args:
        cells: list of cells.
        **kwargs: base ``Layer`` arguments.

    Example:
        >>> import torch, birnn
        >>> cells = [birnn.layers.LSTMCell(4), birnn.layers.GRUCell(2)]
        >>> y, s1, s2 = birnn.layers.RNN(cells, return_state=True)(torch.randn(3, 5, 6))
        >>> y.shape, [t.shape[-1] for t in s1], [t.shape[-1] for t in s2]
        (torch.Size([3, 2]), [4, 4], [2])
    """

    def __init__(self, cells: list[Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        for cell in cells:
            if not callable(getattr(cell, "call", None)):
                raise ValueError(f"All cells must have a `call` method. Received cell without a `call` method: {cell}")
            if not isinstance(cell, CellProtocol):
                raise ValueError(
                    f"All cells must have a `state_size` attribute. Received cell without a `state_size`: {cell}"
                )
        self.cells = nn.ModuleList(cells)

    @property
    def state_size(self) -> list[Any]:
        return [cell.state_size for cell in self.cells]

    @property
    def output_size(self) -> int:
        return _output_size(self.cells[-1])

    def build(self, input_shape: Any) -> None:
        batch, features = input_shape[0], input_shape[-1]
        for cell in self.cells:
            if not getattr(cell, "built", False):
                cell.build((batch, features))
                cell.built = True
            features = _output_size(cell)
        self.built = True

    def call(self, inputs: Tensor, states: list[Any], training: bool | None = None) -> tuple[Tensor, list[Any]]:
        new_states = []
        for cell, cell_states in zip(self.cells, states):
            cell_states = [cell_states] if isinstance(cell_states, Tensor) else list(cell_states)
            inputs, updated = cell.call(inputs, cell_states, **call_kwargs(cell, training))
            new_states.append([updated] if isinstance(updated, Tensor) else list(updated))
        return inputs, new_states

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "cells": [_registry.serialize(cell) for cell in self.cells]}

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects: dict[str, Any] | None = None) -> StackedRNNCells:
        config = dict(config)
        cells = [_registry.deserialize(c, custom_objects, kind="cell") for c in config.pop("cells")]
        return cls(cells, **config)
