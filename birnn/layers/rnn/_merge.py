"""The one merge helper every ``Bidirectional`` path uses."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Union

import torch
from torch import Tensor

from ... import _registry

__all__ = ["MERGE_MODES", "MergeMode", "merge", "resolve_merge_mode", "serialize_merge_mode"]

MergeFn = Callable[[Tensor, Tensor], Tensor]
MergeMode = Union[str, MergeFn, None]

def _concat(y: Tensor, y_rev: Tensor) -> Tensor:
    """``cat([y, y_rev], -1)``, without a copy when it can be a view.

    When both are the two adjacent halves of the last axis of one tensor (PyTorch's bidirectional
    kernel output, batch-first or time-major; the sequence kernels' joint output of two directions) the
    result is that tensor's view over both halves: a reshape of it where it is all of that tensor's
    memory in time-major order (as_strided's backward would zero and copy a whole gradient).
    Time-major sequences seen batch-first (the sequence kernels' outputs) are concatenated in that
    memory order, so the next layer reads the result time-major without a copy.
    """
    base = y._base
    if (
        base is not None
        and not torch.jit.is_tracing()
        and y_rev._base is base
        and y.shape[:-1] == y_rev.shape[:-1]
        and y.stride() == y_rev.stride()
        and y.stride(-1) == 1
        and y_rev.storage_offset() == y.storage_offset() + y.shape[-1]
    ):
        both = base.as_strided((*y.shape[:-1], y.shape[-1] + y_rev.shape[-1]), y.stride(), y.storage_offset())
        if both.shape == base.shape and both.stride() == base.stride():
            return base
        if both.dim() == 3 and _all_of_time_major(both, base):  # plain views: their backward moves no memory
            return base.view(both.transpose(0, 1).shape).transpose(0, 1)
        return both
    if y.dim() == 3 and y.transpose(0, 1).is_contiguous() and y_rev.transpose(0, 1).is_contiguous():
        return torch.cat([y.transpose(0, 1), y_rev.transpose(0, 1)], dim=-1).transpose(0, 1)
    return torch.cat([y, y_rev], dim=-1)


def _all_of_time_major(both: Tensor, base: Tensor) -> bool:
    """``both`` ``(N, T, C)`` is exactly the memory of the contiguous ``base``, laid out time-major."""
    return (
        base.is_contiguous()
        and both.numel() == base.numel()
        and both.storage_offset() == base.storage_offset()
        and both.transpose(0, 1).is_contiguous()
    )


MERGE_MODES: dict[str, MergeFn] = {
    "concat": _concat,
    "sum": lambda y, y_rev: y + y_rev,
    "ave": lambda y, y_rev: (y + y_rev) / 2,
    "mul": lambda y, y_rev: y * y_rev,
}


def resolve_merge_mode(merge_mode: Any, custom_objects: dict[str, Any] | None = None) -> MergeMode:
    """Validate ``merge_mode``: a Keras name, ``None``, a callable, or a registered callable's name.

    Example:
        >>> resolve_merge_mode("max")
        Traceback (most recent call last):
        ...
        ValueError: Invalid merge mode. Received: max. Merge mode should be one of {"sum", "mul", "ave", "concat", None} or a callable merge_mode(y_fwd, y_bwd) -> y
    """
    if merge_mode is None or merge_mode in MERGE_MODES:
        return merge_mode
    if isinstance(merge_mode, str):
        registered = _registry.get_registered_object(merge_mode, custom_objects)
        if callable(registered):
            return registered
    elif callable(merge_mode):
        return merge_mode
    raise ValueError(
        f"Invalid merge mode. Received: {merge_mode}. Merge mode should be one of "
        '{"sum", "mul", "ave", "concat", None} or a callable merge_mode(y_fwd, y_bwd) -> y'
    )


def serialize_merge_mode(merge_mode: MergeMode) -> str | None:
    """Built-in names as they are; a callable by its registered name (it must be registered)."""
    if merge_mode is None or isinstance(merge_mode, str):
        return merge_mode
    name = _registry.get_registered_name(merge_mode)
    if _registry.get_registered_object(name) is not merge_mode:
        raise ValueError(
            f"Cannot serialize merge_mode={merge_mode!r}: register it with "
            "@birnn.saving.register_keras_serializable() so that it can be found again when loading."
        )
    return name


def merge(y: Tensor, y_rev: Tensor, merge_mode: MergeMode) -> Tensor | tuple[Tensor, Tensor]:
    """Combine the forward output and the (time-aligned) backward output.

    Example:
        >>> y, y_rev = torch.ones(1, 2), torch.full((1, 2), 3.0)
        >>> merge(y, y_rev, "ave").tolist(), merge(y, y_rev, "concat").shape
        ([[2.0, 2.0]], torch.Size([1, 4]))
    """
    if merge_mode is None:
        return y, y_rev
    if isinstance(merge_mode, str):
        if merge_mode not in MERGE_MODES:
            raise ValueError(
                f"Unrecognized value for `merge_mode`. Received: {merge_mode}. "
                'Expected one of {"concat", "sum", "ave", "mul"}.'
            )
        return MERGE_MODES[merge_mode](y, y_rev)
    return merge_mode(y, y_rev)
