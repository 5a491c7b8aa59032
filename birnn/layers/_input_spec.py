"""``InputSpec``: what rank and feature sizes a layer accepts, checked on every call."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

__all__ = ["InputSpec", "check_input"]


@dataclass(frozen=True)
class InputSpec:
    """Constraints on one input of a layer (Keras's ``InputSpec``).

    Args:
        ndim: exact rank, or ``None``.
        min_ndim: minimum rank, or ``None``.
        axes: ``{axis: size}`` entries the input's shape must match (negative axes allowed).

    Example:
        >>> InputSpec(ndim=3, axes={-1: 8})
        InputSpec(ndim=3, min_ndim=None, axes={-1: 8})
    """

    ndim: int | None = None
    min_ndim: int | None = None
    axes: Mapping[int, int] = field(default_factory=dict)


def check_input(spec: InputSpec | None, shape: Sequence[int], layer_name: str, index: int = 0) -> None:
    """Raise a ``ValueError`` naming the layer, the expectation and the shape if ``shape`` breaks ``spec``.

    Example:
        >>> check_input(InputSpec(ndim=3), (4, 3), "lstm")
        Traceback (most recent call last):
        ...
        ValueError: Input 0 of layer "lstm" is incompatible with the layer: expected ndim=3, found ndim=2. Full shape received: (4, 3)
    """
    if spec is None:
        return
    shape = tuple(shape)
    if spec.ndim is not None and len(shape) != spec.ndim:
        problem = f"expected ndim={spec.ndim}, found ndim={len(shape)}. Full shape received: {shape}"
    elif spec.min_ndim is not None and len(shape) < spec.min_ndim:
        problem = f"expected min_ndim={spec.min_ndim}, found ndim={len(shape)}. Full shape received: {shape}"
    else:
        for axis, size in spec.axes.items():
            if -len(shape) <= axis < len(shape) and shape[axis] is not None and shape[axis] != size:
                problem = f"expected axis {axis} of input shape to have value {size}, but received input with shape {shape}"
                break
        else:
            return
    # the message is only built on failure: this runs on every call of every layer
    raise ValueError(f'Input {index} of layer "{layer_name}" is incompatible with the layer: {problem}')
