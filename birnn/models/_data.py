"""Turning ``fit``/``evaluate``/``predict`` inputs into batches, with Keras's checks and splits.

Accepted data: NumPy arrays, torch tensors, lists/tuples of them (several model inputs), or a
``torch.utils.data.DataLoader`` whose items are ``x``, ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)``.
NumPy float64 arrays become float32 tensors (Keras's ``floatx``); integer arrays stay integer.

Every check here runs before the first training step and raises ``ValueError`` naming the
argument and what was received.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader

__all__ = [
    "Batch",
    "ArraySource",
    "LoaderSource",
    "Source",
    "epoch_batches",
    "make_source",
    "to_device",
    "shape_of",
    "flat_tensors",
]

Data = Any  # a tensor, or a list/tuple of tensors (several inputs or outputs)
Batch = tuple[Data, Data, Tensor | None]


def _as_tensor(value: Any, argument: str) -> Tensor:
    if isinstance(value, Tensor):
        return value
    array = np.asarray(value)
    if array.dtype == object:
        raise ValueError(
            f"Argument `{argument}` must be an array or tensor of numbers, received an object array: {value!r:.200}"
        )
    tensor = torch.from_numpy(np.ascontiguousarray(array))
    return tensor.float() if tensor.dtype == torch.float64 else tensor


def as_data(value: Any, argument: str) -> Data:
    """Tensors as given; arrays/lists of numbers as tensors; a list/tuple of arrays as a tuple of tensors.

    Example:
        >>> as_data(np.zeros((2, 3)), "x").dtype, [t.shape for t in as_data([np.zeros(2), np.ones(2)], "x")]
        (torch.float32, [torch.Size([2]), torch.Size([2])])
    """
    if value is None:
        return None
    if isinstance(value, Mapping):
        raise ValueError(
            f"Argument `{argument}` as a dict is not supported by birnn; pass an array, a tensor or a list of them."
        )
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, (np.ndarray, Tensor)) for v in value):
        return tuple(_as_tensor(v, f"{argument}[{i}]") for i, v in enumerate(value))
    return _as_tensor(value, argument)


def flat_tensors(data: Data) -> list[Tensor]:
    """The tensors of ``data`` in order (``[]`` for ``None``).

    Example:
        >>> [t.shape for t in flat_tensors((torch.zeros(2), [torch.zeros(3)]))]
        [torch.Size([2]), torch.Size([3])]
    """
    if data is None:
        return []
    if isinstance(data, Tensor):
        return [data]
    return [t for item in data for t in flat_tensors(item)]


def shape_of(data: Data) -> Any:
    """``tuple(shape)`` of a tensor, or a list of those for several tensors.

    Example:
        >>> shape_of((torch.zeros(2, 3), torch.zeros(4)))
        [(2, 3), (4,)]
    """
    if isinstance(data, Tensor):
        return tuple(data.shape)
    return [shape_of(item) for item in data]


def _map(data: Data, function: Any) -> Data:
    if data is None:
        return None
    if isinstance(data, Tensor):
        return function(data)
    return type(data)(_map(item, function) for item in data)


def to_device(data: Data, device: torch.device) -> Data:
    """Move every tensor of ``data`` to ``device`` (a no-op where it already is).

    Example:
        >>> to_device((torch.zeros(1), None), torch.device("cpu"))[0].device
        device(type='cpu')
    """
    return _map(data, lambda t: t.to(device, non_blocking=True))


def _length(data: Data, argument: str) -> int | None:
    tensors = flat_tensors(data)
    if not tensors:
        return None
    lengths = {t.shape[0] if t.ndim else 0 for t in tensors}
    if len(lengths) != 1:
        raise ValueError(
            f"All arrays of `{argument}` must have the same number of samples, received shapes {shape_of(data)}"
        )
    return lengths.pop()


def class_weights_to_sample_weights(y: Tensor, class_weight: Mapping[int, float]) -> Tensor:
    """Keras's rule: the class of each sample (its label, or the argmax of a one-hot label) picks its weight.

    Classes missing from ``class_weight`` weigh 1.0.

    Example:
        >>> class_weights_to_sample_weights(torch.tensor([0, 1, 1]), {0: 1.0, 1: 3.0})
        tensor([1., 3., 3.])
    """
    if y.ndim > 2:
        raise ValueError(f"`class_weight` not supported for 3+ dimensional targets, received y.shape={tuple(y.shape)}")
    classes = y.argmax(-1) if y.ndim == 2 and y.shape[-1] > 1 else y.reshape(-1).round()
    table = torch.ones(int(max([*class_weight, int(classes.max().item()) if classes.numel() else 0])) + 1)
    for index, weight in class_weight.items():
        table[int(index)] = float(weight)
    return table[classes.long().cpu()].to(y.device)


@dataclass
class ArraySource:
    """In-memory data: shuffled (or not) mini-batches, the last one possibly smaller.

    Example:
        >>> [tuple(x.shape) for x, _, _ in ArraySource(torch.zeros(5, 2)).batches(2)]
        [(2, 2), (2, 2), (1, 2)]
    """

    x: Data
    y: Data = None
    sample_weight: Tensor | None = None

    @property
    def size(self) -> int:
        return _length(self.x, "x") or 0

    def steps(self, batch_size: int) -> int:
        return math.ceil(self.size / batch_size)

    def take(self, index: Tensor | slice) -> Batch:
        def pick(tensor: Tensor) -> Tensor:
            return tensor[index]

        weight = None if self.sample_weight is None else self.sample_weight[index]
        return _map(self.x, pick), _map(self.y, pick), weight

    def split(self, validation_split: float) -> tuple[ArraySource, ArraySource]:
        """Keras's split: the last ``validation_split`` fraction (before shuffling) validates."""
        cut = math.floor(self.size * (1.0 - validation_split))
        train, held_out = self.take(slice(0, cut)), self.take(slice(cut, None))
        return ArraySource(*train), ArraySource(*held_out)

    def batches(self, batch_size: int, shuffle: bool = False) -> Iterator[Batch]:
        order = torch.randperm(self.size) if shuffle else None
        for start in range(0, self.size, batch_size):
            index = slice(start, start + batch_size) if order is None else order[start : start + batch_size]
            yield self.take(index)


@dataclass
class LoaderSource:
    """A ``DataLoader``: its own batching and shuffling; ``class_weight`` applied per batch.

    Example:
        >>> from torch.utils.data import TensorDataset
        >>> loader = DataLoader(TensorDataset(torch.zeros(4, 2), torch.ones(4)), batch_size=3)
        >>> [tuple(y.shape) for _, y, _ in LoaderSource(loader).batches(3)]
        [(3,), (1,)]
    """

    loader: DataLoader
    class_weight: Mapping[int, float] | None = None

    def steps(self, batch_size: int) -> int | None:
        try:
            return len(self.loader)
        except TypeError:
            return None

    def batches(self, batch_size: int, shuffle: bool = False) -> Iterator[Batch]:
        for item in self.loader:
            x, y, weight = _unpack(item)
            if self.class_weight is not None and y is not None:
                weight = class_weights_to_sample_weights(as_data(y, "y"), self.class_weight)
            yield as_data(x, "x"), as_data(y, "y"), None if weight is None else as_data(weight, "sample_weight")


Source = ArraySource | LoaderSource


def epoch_batches(
    source: Source, batch_size: int, shuffle: bool, steps_per_epoch: int | None
) -> Iterator[Iterator[Batch]]:
    """One batch iterator per epoch: a full pass over ``source``, or ``steps_per_epoch`` batches taken
    from a stream that restarts the data (reshuffled) whenever it runs out, as Keras does.

    Example:
        >>> source = ArraySource(torch.arange(5.0).reshape(5, 1))
        >>> epochs = epoch_batches(source, 2, False, 2)
        >>> [[b[0].flatten().tolist() for b in next(epochs)] for _ in range(2)]
        [[[0.0, 1.0], [2.0, 3.0]], [[4.0], [0.0, 1.0]]]
    """
    if steps_per_epoch is None:
        while True:
            yield source.batches(batch_size, shuffle)

    def stream() -> Iterator[Batch]:
        while True:
            produced = False
            for batch in source.batches(batch_size, shuffle):
                produced = True
                yield batch
            if not produced:
                return

    batches = stream()
    while True:
        yield (batch for _, batch in zip(range(steps_per_epoch), batches))


def _unpack(item: Any) -> tuple[Any, Any, Any]:
    if isinstance(item, (Tensor, np.ndarray)):
        return item, None, None
    if isinstance(item, (list, tuple)) and 1 <= len(item) <= 3:
        return (*item, *([None] * (3 - len(item))))  # type: ignore[return-value]
    raise ValueError(
        "A DataLoader given to birnn must yield `x`, `(x,)`, `(x, y)` or `(x, y, sample_weight)`; "
        f"received an item of type {type(item).__name__}"
    )


def make_source(
    x: Any,
    y: Any = None,
    sample_weight: Any = None,
    class_weight: Mapping[int, float] | None = None,
    *,
    caller: str,
) -> Source:
    """Check and wrap the data given to ``caller`` (``"fit"``, ``"evaluate"``, ...).

    Example:
        >>> make_source(np.zeros((3, 2)), [0, 1, 1], caller="fit").size
        3

    Raises:
        ValueError: missing ``x``; ``y``/``sample_weight`` given with a DataLoader; lengths of ``x``,
            ``y`` and ``sample_weight`` that differ; ``class_weight`` together with ``sample_weight``.
    """
    if x is None:
        raise ValueError(f"{caller}() needs input data `x`, received x=None")
    if class_weight is not None and sample_weight is not None:
        raise ValueError("You cannot use `class_weight` and `sample_weight` at the same time.")
    if class_weight is not None and not isinstance(class_weight, Mapping):
        raise ValueError(f"Argument `class_weight` must be a dict {{class index: weight}}, received: {class_weight!r}")
    if isinstance(x, DataLoader):
        for argument, value in {"y": y, "sample_weight": sample_weight}.items():
            if value is not None:
                raise ValueError(
                    f"Argument `{argument}` must be None when `x` is a DataLoader (the loader yields it), "
                    f"received {argument} of type {type(value).__name__}"
                )
        return LoaderSource(x, class_weight)
    x, y = as_data(x, "x"), as_data(y, "y")
    weight = None if sample_weight is None else as_data(sample_weight, "sample_weight")
    given = {name: data for name, data in {"x": x, "y": y, "sample_weight": weight}.items() if data is not None}
    lengths = {name: _length(data, name) for name, data in given.items()}
    if len(set(lengths.values())) > 1:
        described = ", ".join(f"{name} has {lengths[name]} (shape {shape_of(data)})" for name, data in given.items())
        raise ValueError(f"Arguments `x`, `y` and `sample_weight` must have the same number of samples: {described}.")
    if class_weight is not None and isinstance(y, Tensor):
        weight = class_weights_to_sample_weights(y, class_weight)
    return ArraySource(x, y, weight)


def make_validation_source(validation_data: Any) -> Source:
    """``validation_data`` as ``(x, y)``, ``(x, y, sample_weight)`` or a DataLoader.

    Example:
        >>> make_validation_source((np.zeros((2, 1)), np.ones(2))).size
        2
    """
    if isinstance(validation_data, DataLoader):
        return LoaderSource(validation_data)
    if not isinstance(validation_data, (list, tuple)) or len(validation_data) not in (2, 3):
        raise ValueError(
            "Argument `validation_data` must be a tuple (x_val, y_val) or (x_val, y_val, val_sample_weight), or a "
            f"DataLoader; received: {type(validation_data).__name__}"
            + (f" of length {len(validation_data)}" if isinstance(validation_data, (list, tuple)) else "")
        )
    return make_source(*validation_data, caller="fit(validation_data)")
