"""Keras 3's weight regularizers: callables mapping a weight tensor to a scalar penalty.

Example:
    >>> from birnn import regularizers
    >>> reg = regularizers.get({"class_name": "L1L2", "config": {"l1": 0.5, "l2": 1.0}})
    >>> reg(torch.tensor([1.0, -2.0]))
    tensor(6.5000)
"""

from __future__ import annotations

import abc
import math
from collections.abc import Callable, Mapping
from typing import Any

import torch

from birnn import _registry

__all__ = [
    "L1",
    "L1L2",
    "L2",
    "OrthogonalRegularizer",
    "Regularizer",
    "deserialize",
    "get",
    "l1",
    "l1_l2",
    "l2",
    "orthogonal_regularizer",
    "serialize",
]

# keras.backend.epsilon(): the floor Keras puts under row/column norms.
_EPSILON = 1e-7


def _non_negative(name: str, value: Any) -> float:
    """``value`` as a float; raise unless it is a finite number >= 0 (as Keras validates)."""
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not is_number or not math.isfinite(value) or value < 0:
        raise ValueError(f"`{name}` must be a non-negative finite number, received: {name}={value!r}")
    return float(value)


class Regularizer(abc.ABC):
    """Base class: ``regularizer(weight)`` returns a scalar penalty in the weight's dtype.

    Example:
        >>> class Total(Regularizer):
        ...     def __call__(self, weight):
        ...         return weight.sum()
        >>> Total()(torch.ones(3))
        tensor(3.)
    """

    @abc.abstractmethod
    def __call__(self, weight: torch.Tensor) -> torch.Tensor:
        """The scalar penalty of ``weight``."""

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments, JSON-serializable; subclasses that are saved must define it."""
        raise NotImplementedError(f"{type(self).__name__} must implement get_config() to be serialized.")

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Regularizer:
        """Rebuild a regularizer from :meth:`get_config`'s output."""
        return cls(**config)


@_registry.register
class L1L2(Regularizer):
    """``l1 * sum(|w|) + l2 * sum(w**2)``.

    Args:
        l1: L1 factor, >= 0.
        l2: L2 factor, >= 0.

    Example:
        >>> L1L2(l1=0.1, l2=0.5)(torch.tensor([1.0, -2.0]))
        tensor(2.8000)
    """

    def __init__(self, l1: float = 0.0, l2: float = 0.0) -> None:
        self.l1 = _non_negative("l1", l1)
        self.l2 = _non_negative("l2", l2)

    def __call__(self, weight: torch.Tensor) -> torch.Tensor:
        return self.l1 * weight.abs().sum() + self.l2 * weight.square().sum()

    def get_config(self) -> dict[str, Any]:
        return {"l1": self.l1, "l2": self.l2}


@_registry.register
class L1(Regularizer):
    """``l1 * sum(|w|)``.

    Args:
        l1: L1 factor, >= 0.

    Example:
        >>> L1(0.5)(torch.tensor([1.0, -2.0]))
        tensor(1.5000)
    """

    def __init__(self, l1: float = 0.01) -> None:
        self.l1 = _non_negative("l1", l1)

    def __call__(self, weight: torch.Tensor) -> torch.Tensor:
        return self.l1 * weight.abs().sum()

    def get_config(self) -> dict[str, Any]:
        return {"l1": self.l1}


@_registry.register
class L2(Regularizer):
    """``l2 * sum(w**2)``.

    Args:
        l2: L2 factor, >= 0.

    Example:
        >>> L2(0.5)(torch.tensor([1.0, -2.0]))
        tensor(2.5000)
    """

    def __init__(self, l2: float = 0.01) -> None:
        self.l2 = _non_negative("l2", l2)

    def __call__(self, weight: torch.Tensor) -> torch.Tensor:
        return self.l2 * weight.square().sum()

    def get_config(self) -> dict[str, Any]:
        return {"l2": self.l2}


@_registry.register
class OrthogonalRegularizer(Regularizer):
    """Penalises non-orthogonality of the rows (or columns) of a 2-D weight.

    The rows (``mode="rows"``) or columns ``v_i`` are L2-normalised (norms
    floored at 1e-7) and the penalty is ``factor`` times the mean of
    ``|<v_i, v_j>|`` over the ``n * (n - 1) / 2`` distinct pairs.

    Args:
        factor: Penalty factor, >= 0.
        mode: ``"rows"`` or ``"columns"``.

    Example:
        >>> OrthogonalRegularizer(factor=1.0)(torch.tensor([[1.0, 0.0], [1.0, 1.0]]))
        tensor(0.7071)
    """

    def __init__(self, factor: float = 0.01, mode: str = "rows") -> None:
        self.factor = _non_negative("factor", factor)
        if mode not in ("rows", "columns"):
            raise ValueError(f"`mode` must be 'rows' or 'columns', received: mode={mode!r}")
        self.mode = mode

    def __call__(self, weight: torch.Tensor) -> torch.Tensor:
        if weight.dim() != 2:
            raise ValueError(f"OrthogonalRegularizer needs a 2-D weight, received: weight.shape={tuple(weight.shape)}")
        vectors = weight if self.mode == "rows" else weight.T
        inverse_norms = torch.clamp(vectors.square().sum(dim=1, keepdim=True).rsqrt(), max=1 / _EPSILON)
        unit = vectors * inverse_norms
        size = unit.shape[0]
        overlaps = (unit @ unit.T).abs() * (1 - torch.eye(size, dtype=weight.dtype, device=weight.device))
        return self.factor * 0.5 * overlaps.sum() / (size * (size - 1) / 2)

    def get_config(self) -> dict[str, Any]:
        return {"factor": self.factor, "mode": self.mode}


# Keras's lower-case names are the classes themselves (``l1_l2()`` is ``L1L2()``, l1 = l2 = 0).
l1 = L1
l2 = L2
l1_l2 = L1L2
orthogonal_regularizer = OrthogonalRegularizer

_BUILTINS: dict[str, type[Regularizer]] = {
    "L1": L1,
    "L2": L2,
    "L1L2": L1L2,
    "OrthogonalRegularizer": OrthogonalRegularizer,
    "l1": L1,
    "l2": L2,
    "l1l2": L1L2,
    "l1_l2": L1L2,
    "orthogonal_regularizer": OrthogonalRegularizer,
}


def serialize(regularizer: Regularizer | None) -> dict[str, Any] | None:
    """The ``{"class_name", "config"}`` envelope of ``regularizer`` (``None`` stays ``None``).

    Example:
        >>> serialize(L2(0.5))
        {'class_name': 'L2', 'config': {'l2': 0.5}}
    """
    return None if regularizer is None else _registry.serialize(regularizer)


def deserialize(config: str | Mapping[str, Any], custom_objects: Mapping[str, Any] | None = None) -> Regularizer:
    """Build a regularizer from a name or an envelope.

    Names are Keras's class names and lower-case names (plus ``"l1_l2"``);
    ``custom_objects`` is searched first, then the built-ins, then the registry.

    Raises:
        ValueError: unknown name, or a malformed envelope.

    Example:
        >>> deserialize("l2").get_config()
        {'l2': 0.01}
    """
    return _registry.deserialize_named(config, _BUILTINS, custom_objects, kind="regularizer")


def get(
    identifier: str | Mapping[str, Any] | type[Regularizer] | Callable[[torch.Tensor], torch.Tensor] | None,
) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """Resolve a regularizer identifier.

    ``None`` gives ``None``; a name or envelope is deserialized; a class is
    instantiated with its defaults; an instance or any other callable is
    returned unchanged.

    Raises:
        ValueError: unknown name, or an identifier of another type.

    Example:
        >>> get("l1").get_config()
        {'l1': 0.01}
    """
    return _registry.resolve(identifier, deserialize, kind="regularizer")
