"""Keras 3's weight constraints: callables projecting a weight tensor after each update.

Norms are taken over ``axis`` (an int or a sequence of ints) with Keras's
``epsilon = 1e-7`` in the denominator, so results equal Keras's.

Example:
    >>> from birnn import constraints
    >>> constraints.get("non_neg")(torch.tensor([-1.0, 2.0]))
    tensor([0., 2.])
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

from birnn import _registry

__all__ = [
    "Constraint",
    "MaxNorm",
    "MinMaxNorm",
    "NonNeg",
    "UnitNorm",
    "deserialize",
    "get",
    "serialize",
]

Axis = int | Sequence[int]

# keras.backend.epsilon(), added to every norm before dividing by it.
_EPSILON = 1e-7


def _check_number(name: str, value: Any, low: float, high: float = math.inf) -> None:
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not is_number or math.isnan(value) or not low <= value <= high:
        raise ValueError(f"`{name}` must be a number in [{low}, {high}], received: {name}={value!r}")


def _check_axis(axis: Any) -> None:
    items = (axis,) if isinstance(axis, int) else axis
    if not isinstance(items, Sequence) or not items or any(type(a) is not int for a in items):
        raise ValueError(f"`axis` must be an int or a sequence of ints, received: axis={axis!r}")


def _norms(weight: torch.Tensor, axis: Axis) -> torch.Tensor:
    dims = axis if isinstance(axis, int) else tuple(axis)
    return weight.square().sum(dim=dims, keepdim=True).sqrt()


class Constraint:
    """Base class: ``constraint(weight)`` returns the projected weight; the base returns it unchanged.

    Example:
        >>> class Clip(Constraint):
        ...     def __call__(self, weight):
        ...         return weight.clamp(-1.0, 1.0)
        >>> Clip()(torch.tensor([-3.0, 0.5]))
        tensor([-1.0000,  0.5000])
    """

    def __call__(self, weight: torch.Tensor) -> torch.Tensor:
        """The constrained weight."""
        return weight

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments, JSON-serializable."""
        return {}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Constraint:
        """Rebuild a constraint from :meth:`get_config`'s output."""
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


@_registry.register
class MaxNorm(Constraint):
    """Rescales slices whose L2 norm over ``axis`` exceeds ``max_value``.

    Computes ``w * clip(n, 0, max_value) / (eps + n)`` with ``n`` the norms.

    Args:
        max_value: Largest allowed norm, >= 0.
        axis: Axis or axes the norms are taken over (0 for a ``(input, units)`` kernel).

    Example:
        >>> MaxNorm(1.0)(torch.tensor([[3.0], [4.0]]))
        tensor([[0.6000],
                [0.8000]])
    """

    def __init__(self, max_value: float = 2.0, axis: Axis = 0) -> None:
        _check_number("max_value", max_value, 0.0)
        _check_axis(axis)
        self.max_value, self.axis = max_value, axis

    def __call__(self, weight: torch.Tensor) -> torch.Tensor:
        norms = _norms(weight, self.axis)
        return weight * (torch.clamp(norms, 0.0, self.max_value) / (_EPSILON + norms))

    def get_config(self) -> dict[str, Any]:
        return {"max_value": self.max_value, "axis": self.axis}


@_registry.register
class NonNeg(Constraint):
    """Replaces negative entries by 0.

    Example:
        >>> NonNeg()(torch.tensor([-1.0, 2.0]))
        tensor([0., 2.])
    """

    def __call__(self, weight: torch.Tensor) -> torch.Tensor:
        return torch.clamp(weight, min=0.0)


@_registry.register
class UnitNorm(Constraint):
    """Scales slices to unit L2 norm over ``axis``: ``w / (eps + n)``.

    Args:
        axis: Axis or axes the norms are taken over.

    Example:
        >>> UnitNorm()(torch.tensor([[3.0], [4.0]]))
        tensor([[0.6000],
                [0.8000]])
    """

    def __init__(self, axis: Axis = 0) -> None:
        _check_axis(axis)
        self.axis = axis

    def __call__(self, weight: torch.Tensor) -> torch.Tensor:
        return weight / (_EPSILON + _norms(weight, self.axis))

    def get_config(self) -> dict[str, Any]:
        return {"axis": self.axis}


@_registry.register
class MinMaxNorm(Constraint):
    """Moves slice norms over ``axis`` toward ``[min_value, max_value]`` at ``rate``.

    Computes ``w * (rate * clip(n, min_value, max_value) + (1 - rate) * n) / (eps + n)``.

    Args:
        min_value: Smallest allowed norm, >= 0.
        max_value: Largest allowed norm, >= ``min_value``.
        rate: 1.0 enforces the bounds at once; smaller values move part of the way (0 to 1).
        axis: Axis or axes the norms are taken over.

    Example:
        >>> MinMaxNorm(min_value=2.0, max_value=3.0)(torch.tensor([[0.6], [0.8]]))
        tensor([[1.2000],
                [1.6000]])
    """

    def __init__(self, min_value: float = 0.0, max_value: float = 1.0, rate: float = 1.0, axis: Axis = 0) -> None:
        _check_number("min_value", min_value, 0.0)
        _check_number("max_value", max_value, min_value)
        _check_number("rate", rate, 0.0, 1.0)
        _check_axis(axis)
        self.min_value, self.max_value, self.rate, self.axis = min_value, max_value, rate, axis

    def __call__(self, weight: torch.Tensor) -> torch.Tensor:
        norms = _norms(weight, self.axis)
        desired = self.rate * torch.clamp(norms, self.min_value, self.max_value) + (1 - self.rate) * norms
        return weight * (desired / (_EPSILON + norms))

    def get_config(self) -> dict[str, Any]:
        return {
            "min_value": self.min_value,
            "max_value": self.max_value,
            "rate": self.rate,
            "axis": self.axis,
        }


_BUILTINS: dict[str, type[Constraint]] = {
    "MaxNorm": MaxNorm,
    "MinMaxNorm": MinMaxNorm,
    "NonNeg": NonNeg,
    "UnitNorm": UnitNorm,
    "max_norm": MaxNorm,
    "min_max_norm": MinMaxNorm,
    "non_neg": NonNeg,
    "unit_norm": UnitNorm,
}


def serialize(constraint: Constraint | None) -> dict[str, Any] | None:
    """The ``{"class_name", "config"}`` envelope of ``constraint`` (``None`` stays ``None``).

    Example:
        >>> serialize(UnitNorm(axis=1))
        {'class_name': 'UnitNorm', 'config': {'axis': 1}}
    """
    return None if constraint is None else _registry.serialize(constraint)


def deserialize(config: str | Mapping[str, Any], custom_objects: Mapping[str, Any] | None = None) -> Constraint:
    """Build a constraint from a name or an envelope.

    Names are Keras's class names and snake-case names; ``custom_objects`` is
    searched first, then the built-ins, then the registry.

    Raises:
        ValueError: unknown name, or a malformed envelope.

    Example:
        >>> deserialize("max_norm")
        MaxNorm(max_value=2.0, axis=0)
    """
    return _registry.deserialize_named(config, _BUILTINS, custom_objects, kind="constraint")


def get(
    identifier: str | Mapping[str, Any] | type[Constraint] | Callable[[torch.Tensor], torch.Tensor] | None,
) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """Resolve a constraint identifier.

    ``None`` gives ``None``; a name or envelope is deserialized; a class is
    instantiated with its defaults; an instance or any other callable is
    returned unchanged.

    Raises:
        ValueError: unknown name, or an identifier of another type.

    Example:
        >>> get("unit_norm")
        UnitNorm(axis=0)
    """
    return _registry.resolve(identifier, deserialize, kind="constraint")
