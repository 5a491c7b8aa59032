"""Keras's metrics: stateful running means of per-sample values.

A :class:`Metric` accumulates over batches (``update_state``), reports with ``result()`` and
starts over with ``reset_state()``. Most metrics are a :class:`MeanMetricWrapper` around a
function ``fn(y_true, y_pred) -> values``; an output mask (``y_pred._keras_mask``) excludes padded
steps, as in Keras.

``"accuracy"`` / ``"acc"`` in ``compile(metrics=...)`` is resolved by :func:`resolve_accuracy`
from the shapes of labels and predictions, exactly as Keras 3 does: a last prediction axis of
size 1 means binary, labels of lower rank (or with a last axis of 1) mean sparse categorical,
anything else categorical.

Example:
    >>> import torch
    >>> from birnn import metrics
    >>> m = metrics.CategoricalAccuracy()
    >>> m.update_state(torch.tensor([[0.0, 1.0], [1.0, 0.0]]), torch.tensor([[0.2, 0.8], [0.3, 0.7]]))
    >>> float(m.result())
    0.5
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import torch
from torch import Tensor

from birnn import _registry, losses
from birnn.losses import squeeze_or_expand_to_same_rank

__all__ = [
    "Metric",
    "Mean",
    "MeanMetricWrapper",
    "Accuracy",
    "BinaryAccuracy",
    "CategoricalAccuracy",
    "SparseCategoricalAccuracy",
    "TopKCategoricalAccuracy",
    "SparseTopKCategoricalAccuracy",
    "MeanSquaredError",
    "MeanAbsoluteError",
    "CategoricalCrossentropy",
    "SparseCategoricalCrossentropy",
    "BinaryCrossentropy",
    "KLDivergence",
    "accuracy",
    "binary_accuracy",
    "categorical_accuracy",
    "sparse_categorical_accuracy",
    "top_k_categorical_accuracy",
    "sparse_top_k_categorical_accuracy",
    "resolve_accuracy",
    "get",
]


# --------------------------------------------------------------------------- functions
def accuracy(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """1.0 where ``y_true == y_pred`` exactly, else 0.0.

    Example:
        >>> accuracy(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 3.0]))
        tensor([1., 0.])
    """
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true.to(y_pred.dtype), y_pred)
    return (y_true == y_pred).float()


def binary_accuracy(y_true: Tensor, y_pred: Tensor, threshold: float = 0.5) -> Tensor:
    """1.0 where ``(y_pred > threshold) == y_true``, per element.

    Example:
        >>> binary_accuracy(torch.tensor([[1.0], [0.0]]), torch.tensor([[0.7], [0.6]]))
        tensor([[1.],
                [0.]])
    """
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    return (y_true == (y_pred > threshold).to(y_true.dtype)).float()


def _argmax_matches(labels: Tensor, y_pred: Tensor) -> Tensor:
    """``labels == argmax(y_pred)``; labels of the predictions' rank lose their size-1 last axis."""
    shape = labels.shape
    if labels.ndim == y_pred.ndim and labels.shape[-1] == 1:
        labels = labels.squeeze(-1)
    matches = (labels == torch.argmax(y_pred, dim=-1).to(labels.dtype)).float()
    return matches.reshape(shape) if labels.shape != shape else matches


def categorical_accuracy(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """1.0 where ``argmax(y_true) == argmax(y_pred)``.

    Example:
        >>> categorical_accuracy(torch.tensor([[0.0, 1.0]]), torch.tensor([[0.4, 0.6]]))
        tensor([1.])
    """
    return _argmax_matches(torch.argmax(y_true, dim=-1).to(y_pred.dtype), y_pred)


def sparse_categorical_accuracy(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """1.0 where the integer label equals ``argmax(y_pred)``.

    Example:
        >>> sparse_categorical_accuracy(torch.tensor([1, 0]), torch.tensor([[0.4, 0.6], [0.3, 0.7]]))
        tensor([1., 0.])
    """
    matches = _argmax_matches(y_true.to(y_pred.dtype), y_pred)
    return matches.squeeze(-1) if matches.ndim > 1 and matches.shape[-1] == 1 else matches


def _in_top_k(labels: Tensor, y_pred: Tensor, k: int) -> Tensor:
    shape = labels.shape
    flat_pred = y_pred.reshape(-1, y_pred.shape[-1])
    target = flat_pred.gather(-1, labels.reshape(-1, 1).long())
    # Ties count in favour of the label, as in Keras's in_top_k.
    better = (flat_pred > target).sum(-1)
    return (better < k).float().reshape(shape)


def top_k_categorical_accuracy(y_true: Tensor, y_pred: Tensor, k: int = 5) -> Tensor:
    """1.0 where the one-hot label's class is among the ``k`` highest predictions.

    Example:
        >>> top_k_categorical_accuracy(torch.tensor([[0.0, 0.0, 1.0]]), torch.tensor([[0.5, 0.3, 0.2]]), k=2)
        tensor([0.])
    """
    return _in_top_k(torch.argmax(y_true, dim=-1), y_pred, k)


def sparse_top_k_categorical_accuracy(y_true: Tensor, y_pred: Tensor, k: int = 5) -> Tensor:
    """1.0 where the integer label is among the ``k`` highest predictions.

    Example:
        >>> sparse_top_k_categorical_accuracy(torch.tensor([1]), torch.tensor([[0.5, 0.3, 0.2]]), k=2)
        tensor([1.])
    """
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = y_true.squeeze(-1)
    return _in_top_k(y_true.long(), y_pred, k)


# --------------------------------------------------------------------------- base classes
class Metric(abc.ABC):
    """A stateful metric: ``update_state`` per batch, ``result()`` so far, ``reset_state()``.

    Attributes:
        name: the key under which the value is logged.
        direction: ``"up"`` if larger is better, ``"down"`` if smaller is better, ``None`` if
            unknown; callbacks with ``mode="auto"`` read it.

    Example:
        >>> class Count(Metric):
        ...     def __init__(self):
        ...         super().__init__(name="count")
        ...         self.reset_state()
        ...     def update_state(self, y_true, y_pred, sample_weight=None):
        ...         self.n += len(y_true)
        ...     def result(self):
        ...         return torch.tensor(float(self.n))
        ...     def reset_state(self):
        ...         self.n = 0
        >>> c = Count(); c.update_state([1, 2], None); float(c.result())
        2.0
    """

    direction: ClassVar[str | None] = None

    def __init__(self, name: str | None = None, dtype: Any = None) -> None:
        if dtype not in (None, "float32") and not isinstance(dtype, Mapping):
            raise ValueError(f"Argument `dtype` of a metric must be None or 'float32', received: dtype={dtype!r}")
        self.name = name or type(self).__name__.lower()

    @abc.abstractmethod
    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None: ...

    @abc.abstractmethod
    def result(self) -> Tensor: ...

    @abc.abstractmethod
    def reset_state(self) -> None: ...

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Metric:
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r}>"


@_registry.register
class Mean(Metric):
    """The (weighted) mean of the values given to ``update_state(values, sample_weight=None)``.

    Values of rank > 1 are first averaged per sample; ``sample_weight`` (a scalar, ``(N,)`` or
    the values' shape) weighs the samples.

    Example:
        >>> m = Mean()
        >>> m.update_state(torch.tensor([1.0, 3.0])); m.update_state(torch.tensor(5.0), sample_weight=2.0)
        >>> float(m.result())
        3.5
    """

    def __init__(self, name: str = "mean", dtype: Any = None) -> None:
        super().__init__(name=name, dtype=dtype)
        self.reset_state()

    def reset_state(self) -> None:
        self.total = torch.zeros(())
        self.count = torch.zeros(())

    def update_state(self, values: Any, sample_weight: Any = None, *args: Any) -> None:  # type: ignore[override]
        values = torch.as_tensor(values).detach().float()
        if sample_weight is None:
            per_sample = values.reshape(values.shape[0], -1).mean(-1) if values.ndim > 1 else values
            total, count = per_sample.sum(), float(per_sample.numel() if values.ndim else 1)
        else:
            weight = torch.as_tensor(sample_weight, device=values.device).detach().float()
            values, weight = squeeze_or_expand_to_same_rank(values, weight)
            while weight.ndim < values.ndim:
                weight = weight.unsqueeze(-1)
            weight = torch.broadcast_to(weight, values.shape)
            total, count = (values * weight), weight
            if values.ndim > 1:
                total, count = total.flatten(1).mean(-1), count.flatten(1).mean(-1)
            total, count = total.sum(), count.sum()
        self.total = self.total.to(values.device) + total
        self.count = self.count.to(values.device) + count

    def result(self) -> Tensor:
        return torch.where(self.count != 0, self.total / torch.where(self.count != 0, self.count, 1.0), 0.0)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name}


class MeanMetricWrapper(Mean):
    """The running mean of ``fn(y_true, y_pred, **kwargs)``; masked entries of ``y_pred`` don't count.

    Example:
        >>> m = MeanMetricWrapper(losses.mean_absolute_error, name="mae")
        >>> m.update_state(torch.zeros(2, 1), torch.ones(2, 1))
        >>> float(m.result())
        1.0
    """

    def __init__(self, fn: Callable[..., Tensor], name: str | None = None, dtype: Any = None, **kwargs: Any) -> None:
        super().__init__(name=name or getattr(fn, "__name__", "metric"), dtype=dtype)
        self.fn = fn
        self.fn_kwargs = kwargs

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:  # type: ignore[override]
        mask = getattr(y_pred, "_keras_mask", None)
        y_pred = torch.as_tensor(y_pred)
        y_true = torch.as_tensor(y_true, device=y_pred.device)
        with torch.no_grad():
            values = self.fn(y_true, y_pred, **self.fn_kwargs)
        if mask is not None:
            mask = mask.to(device=values.device, dtype=torch.float32)
            if sample_weight is not None:
                mask, weight = squeeze_or_expand_to_same_rank(
                    mask, torch.as_tensor(sample_weight, device=values.device)
                )
                while weight.ndim < mask.ndim:
                    weight = weight.unsqueeze(-1)
                mask = mask * weight
            sample_weight = mask
        super().update_state(values, sample_weight=sample_weight)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, **self.fn_kwargs}


class _FunctionMetric(MeanMetricWrapper):
    """A built-in metric: a fixed function, a default name and a direction."""

    _function: Callable[..., Tensor]
    _default_name: str

    def __init__(self, name: str | None = None, dtype: Any = None, **kwargs: Any) -> None:
        super().__init__(type(self)._function, name=name or self._default_name, dtype=dtype, **kwargs)


@_registry.register
class Accuracy(_FunctionMetric):
    """Fraction of exact matches ``y_true == y_pred``.

    Example:
        >>> m = Accuracy(); m.update_state(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 0.0])); float(m.result())
        0.5
    """

    _function = staticmethod(accuracy)
    _default_name = "accuracy"
    direction = "up"


@_registry.register
class CategoricalAccuracy(_FunctionMetric):
    """Fraction of one-hot labels whose class is the predictions' argmax.

    Example:
        >>> m = CategoricalAccuracy(); m.update_state(torch.eye(2), torch.eye(2)); float(m.result())
        1.0
    """

    _function = staticmethod(categorical_accuracy)
    _default_name = "categorical_accuracy"
    direction = "up"


@_registry.register
class SparseCategoricalAccuracy(_FunctionMetric):
    """Fraction of integer labels equal to the predictions' argmax.

    Example:
        >>> m = SparseCategoricalAccuracy(); m.update_state(torch.tensor([0, 0]), torch.eye(2)); float(m.result())
        0.5
    """

    _function = staticmethod(sparse_categorical_accuracy)
    _default_name = "sparse_categorical_accuracy"
    direction = "up"


@_registry.register
class MeanSquaredError(_FunctionMetric):
    """Running mean squared error.

    Example:
        >>> m = MeanSquaredError(); m.update_state(torch.zeros(2, 1), torch.full((2, 1), 2.0)); float(m.result())
        4.0
    """

    _function = staticmethod(losses.mean_squared_error)
    _default_name = "mean_squared_error"
    direction = "down"


@_registry.register
class MeanAbsoluteError(_FunctionMetric):
    """Running mean absolute error.

    Example:
        >>> m = MeanAbsoluteError(); m.update_state(torch.zeros(2, 1), torch.full((2, 1), 2.0)); float(m.result())
        2.0
    """

    _function = staticmethod(losses.mean_absolute_error)
    _default_name = "mean_absolute_error"
    direction = "down"


@_registry.register
class KLDivergence(_FunctionMetric):
    """Running Kullback-Leibler divergence.

    Example:
        >>> m = KLDivergence()
        >>> m.update_state(torch.tensor([[1.0, 0.0]]), torch.tensor([[1.0, 0.0]])); float(m.result())
        0.0
    """

    _function = staticmethod(losses.kl_divergence)
    _default_name = "kl_divergence"
    direction = "down"


@_registry.register
class BinaryAccuracy(_FunctionMetric):
    """Fraction of predictions on the right side of ``threshold``.

    Example:
        >>> m = BinaryAccuracy(threshold=0.5)
        >>> m.update_state(torch.tensor([[1.0], [0.0]]), torch.tensor([[0.9], [0.8]]))
        >>> float(m.result())
        0.5
    """

    _function = staticmethod(binary_accuracy)
    _default_name = "binary_accuracy"
    direction = "up"

    def __init__(self, name: str = "binary_accuracy", dtype: Any = None, threshold: float = 0.5) -> None:
        super().__init__(name=name, dtype=dtype, threshold=float(threshold))


class _TopK(_FunctionMetric):
    direction = "up"

    def __init__(self, k: int = 5, name: str | None = None, dtype: Any = None) -> None:
        super().__init__(name=name, dtype=dtype, k=int(k))


@_registry.register
class TopKCategoricalAccuracy(_TopK):
    """Fraction of one-hot labels among the ``k`` highest predictions.

    Example:
        >>> m = TopKCategoricalAccuracy(k=1)
        >>> m.update_state(torch.tensor([[0.0, 1.0]]), torch.tensor([[0.3, 0.7]]))
        >>> float(m.result())
        1.0
    """

    _function = staticmethod(top_k_categorical_accuracy)
    _default_name = "top_k_categorical_accuracy"


@_registry.register
class SparseTopKCategoricalAccuracy(_TopK):
    """Fraction of integer labels among the ``k`` highest predictions.

    Example:
        >>> m = SparseTopKCategoricalAccuracy(k=1)
        >>> m.update_state(torch.tensor([0]), torch.tensor([[0.3, 0.7]]))
        >>> float(m.result())
        0.0
    """

    _function = staticmethod(sparse_top_k_categorical_accuracy)
    _default_name = "sparse_top_k_categorical_accuracy"


class _CrossentropyMetric(MeanMetricWrapper):
    """A cross-entropy loss function reported as a metric (lower is better)."""

    direction = "down"
    _function: Callable[..., Tensor]
    _default_name: str

    def __init__(self, name: str | None = None, dtype: Any = None, from_logits: bool = False, **kwargs: Any) -> None:
        super().__init__(
            type(self)._function, name=name or self._default_name, dtype=dtype, from_logits=from_logits, **kwargs
        )


@_registry.register
class CategoricalCrossentropy(_CrossentropyMetric):
    """Running categorical cross-entropy (``from_logits``, ``label_smoothing``, ``axis`` as for the loss).

    Example:
        >>> m = CategoricalCrossentropy()
        >>> m.update_state(torch.tensor([[0.0, 1.0]]), torch.tensor([[0.5, 0.5]]))
        >>> round(float(m.result()), 4)
        0.6931
    """

    _function = staticmethod(losses.categorical_crossentropy)
    _default_name = "categorical_crossentropy"


@_registry.register
class SparseCategoricalCrossentropy(_CrossentropyMetric):
    """Running sparse categorical cross-entropy.

    Example:
        >>> m = SparseCategoricalCrossentropy()
        >>> m.update_state(torch.tensor([1]), torch.tensor([[0.5, 0.5]]))
        >>> round(float(m.result()), 4)
        0.6931
    """

    _function = staticmethod(losses.sparse_categorical_crossentropy)
    _default_name = "sparse_categorical_crossentropy"


@_registry.register
class BinaryCrossentropy(_CrossentropyMetric):
    """Running binary cross-entropy.

    Example:
        >>> m = BinaryCrossentropy()
        >>> m.update_state(torch.tensor([[1.0]]), torch.tensor([[0.5]]))
        >>> round(float(m.result()), 4)
        0.6931
    """

    _function = staticmethod(losses.binary_crossentropy)
    _default_name = "binary_crossentropy"


# --------------------------------------------------------------------------- lookup
_CLASSES: dict[str, type[Metric]] = {
    cls.__name__: cls
    for cls in (
        Mean, Accuracy, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy,
        TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy, MeanSquaredError, MeanAbsoluteError,
        KLDivergence, CategoricalCrossentropy, SparseCategoricalCrossentropy, BinaryCrossentropy,
    )
}  # fmt: skip
_NAMES: dict[str, type[Metric]] = {
    "binary_accuracy": BinaryAccuracy,
    "categorical_accuracy": CategoricalAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "top_k_categorical_accuracy": TopKCategoricalAccuracy,
    "sparse_top_k_categorical_accuracy": SparseTopKCategoricalAccuracy,
    "mean_squared_error": MeanSquaredError,
    "mse": MeanSquaredError,
    "MSE": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError,
    "mae": MeanAbsoluteError,
    "MAE": MeanAbsoluteError,
    "kl_divergence": KLDivergence,
    "kld": KLDivergence,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "binary_crossentropy": BinaryCrossentropy,
    "bce": BinaryCrossentropy,
}
_SHAPE_RESOLVED = ("accuracy", "acc")


def resolve_accuracy(name: str, y_true_shape: tuple[int, ...], y_pred_shape: tuple[int, ...]) -> Metric:
    """Keras 3's choice for ``"accuracy"``/``"acc"``: binary, sparse categorical or categorical by shapes.

    Example:
        >>> type(resolve_accuracy("accuracy", (8,), (8, 5))).__name__
        'SparseCategoricalAccuracy'
        >>> type(resolve_accuracy("acc", (8, 5), (8, 5))).__name__, resolve_accuracy("acc", (8, 1), (8, 1)).name
        ('CategoricalAccuracy', 'acc')
    """
    if y_pred_shape[-1] == 1:
        return BinaryAccuracy(name=name)
    if len(y_true_shape) < len(y_pred_shape) or y_true_shape[-1] == 1:
        return SparseCategoricalAccuracy(name=name)
    return CategoricalAccuracy(name=name)


def is_shape_resolved(identifier: Any) -> bool:
    """Whether ``identifier`` is ``"accuracy"``/``"acc"``, which needs label and output shapes to resolve.

    Example:
        >>> is_shape_resolved("acc"), is_shape_resolved("mae")
        (True, False)
    """
    return isinstance(identifier, str) and identifier.lower() in _SHAPE_RESOLVED


def get(identifier: str | Mapping[str, Any] | Metric | type[Metric] | Callable[..., Tensor]) -> Metric:
    """Resolve a metric identifier to a fresh :class:`Metric` (``"accuracy"`` needs :func:`resolve_accuracy`).

    A name keeps itself as the metric's name (``"mae"`` logs as ``mae``), as in Keras.

    Raises:
        ValueError: an unknown name or an identifier of another type.

    Example:
        >>> get("mae").name, type(get("mae")).__name__
        ('mae', 'MeanAbsoluteError')
    """
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, str):
        if is_shape_resolved(identifier):
            raise ValueError(f"Metric {identifier!r} depends on label shapes; resolve it with resolve_accuracy().")
        cls = _NAMES.get(identifier) or _CLASSES.get(identifier) or _registry.get_registered_object(identifier)
        if not (isinstance(cls, type) and issubclass(cls, Metric)):
            accepted = sorted({*_NAMES, *_CLASSES, *_SHAPE_RESOLVED})
            raise ValueError(
                f"Unknown metric {identifier!r}. Accepted names: {', '.join(accepted)}; or pass a "
                "birnn.metrics.Metric instance or a function (y_true, y_pred) -> values."
            )
        return cls(name=identifier)
    if isinstance(identifier, Mapping):
        return _registry.deserialize(identifier, _CLASSES, kind="metric")
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if callable(identifier):
        return MeanMetricWrapper(identifier)
    raise ValueError(f"Could not interpret metric identifier: {identifier!r}")
