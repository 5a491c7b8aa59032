"""Keras's losses on torch tensors: the functions, the ``Loss`` classes and their reductions.

A loss function maps ``(y_true, y_pred)`` to one value per sample (per time step for sequence
outputs); a :class:`Loss` object reduces those values the way Keras 3 does:

* ``sample_weight`` multiplies the values (a ``(N,)`` weight is broadcast over trailing axes);
* an output mask (``y_pred._keras_mask``, set by ``Embedding(mask_zero=True)`` / ``Masking`` and
  propagated by the model) removes padded steps: with the default ``"sum_over_batch_size"``
  reduction the loss is ``sum(values * mask) / sum(mask)``, so padding never counts;
* reductions: ``"sum_over_batch_size"`` (default) and ``"mean"`` divide the weighted sum by the
  number of values, ``"mean_with_sample_weight"`` by the sum of the weights, ``"sum"`` sums,
  ``"none"`` / ``None`` returns the values.

Probabilities are clipped to ``[1e-7, 1 - 1e-7]`` before logs are taken (Keras's ``epsilon``).

Shape legend: ``N`` batch, ``T`` time, ``C`` classes.

Example:
    >>> import torch
    >>> from birnn import losses
    >>> y_true = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    >>> y_pred = torch.tensor([[0.2, 0.8], [0.6, 0.4]])
    >>> round(float(losses.CategoricalCrossentropy()(y_true, y_pred)), 4)
    0.367
    >>> losses.get("mse").name
    'mean_squared_error'
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from birnn import _registry

__all__ = [
    "EPSILON",
    "REDUCTIONS",
    "Loss",
    "LossFunctionWrapper",
    "MeanSquaredError",
    "MeanAbsoluteError",
    "Huber",
    "KLDivergence",
    "CategoricalCrossentropy",
    "SparseCategoricalCrossentropy",
    "BinaryCrossentropy",
    "mean_squared_error",
    "mean_absolute_error",
    "huber",
    "kl_divergence",
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
    "binary_crossentropy",
    "squeeze_or_expand_to_same_rank",
    "get",
    "serialize",
    "deserialize",
]

EPSILON = 1e-7
REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None)

Shape = tuple[int | None, ...]


# --------------------------------------------------------------------------- shape helpers
def squeeze_or_expand_to_same_rank(x1: Tensor, x2: Tensor) -> tuple[Tensor, Tensor]:
    """Make two tensors whose ranks differ by one agree, as Keras does.

    The higher-rank tensor loses a trailing axis of size 1, except that a rank-1 partner gains one
    instead (so ``(N,)`` labels meet ``(N, 1)`` predictions as ``(N, 1)``).

    Example:
        >>> a, b = squeeze_or_expand_to_same_rank(torch.zeros(4), torch.zeros(4, 1))
        >>> tuple(a.shape), tuple(b.shape)
        ((4, 1), (4, 1))
    """
    if x1.ndim == x2.ndim + 1 and x1.shape[-1] == 1:
        return (x1, x2.unsqueeze(-1)) if x2.ndim == 1 else (x1.squeeze(-1), x2)
    if x2.ndim == x1.ndim + 1 and x2.shape[-1] == 1:
        return (x1.unsqueeze(-1), x2) if x1.ndim == 1 else (x1, x2.squeeze(-1))
    return x1, x2


def _aligned_shapes(y_true: Shape, y_pred: Shape) -> tuple[Shape, Shape]:
    """``squeeze_or_expand_to_same_rank`` on static shapes (``None`` for unknown sizes)."""
    if len(y_true) == len(y_pred) + 1 and y_true[-1] == 1:
        return (y_true, (*y_pred, 1)) if len(y_pred) == 1 else (y_true[:-1], y_pred)
    if len(y_pred) == len(y_true) + 1 and y_pred[-1] == 1:
        return ((*y_true, 1), y_pred) if len(y_true) == 1 else (y_true, y_pred[:-1])
    return y_true, y_pred


def _same(a: Shape, b: Shape) -> bool:
    return len(a) == len(b) and all(x is None or y is None or x == y for x, y in zip(a, b))


# --------------------------------------------------------------------------- loss functions
def mean_squared_error(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """``mean((y_true - y_pred) ** 2, axis=-1)``.

    Example:
        >>> mean_squared_error(torch.tensor([[1.0, 2.0]]), torch.tensor([[1.0, 4.0]]))
        tensor([2.])
    """
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true.to(y_pred.dtype), y_pred)
    return torch.mean(torch.square(y_true - y_pred), dim=-1)


def mean_absolute_error(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """``mean(|y_true - y_pred|, axis=-1)``.

    Example:
        >>> mean_absolute_error(torch.tensor([[1.0, 2.0]]), torch.tensor([[1.0, 4.0]]))
        tensor([1.])
    """
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true.to(y_pred.dtype), y_pred)
    return torch.mean(torch.abs(y_true - y_pred), dim=-1)


def huber(y_true: Tensor, y_pred: Tensor, delta: float = 1.0) -> Tensor:
    """Huber loss: ``0.5 e**2`` where ``|e| <= delta``, else ``delta * |e| - 0.5 delta**2``; mean over the last axis.

    Example:
        >>> huber(torch.tensor([[0.0, 0.0]]), torch.tensor([[0.5, 3.0]]))
        tensor([1.3125])
    """
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true.to(y_pred.dtype), y_pred)
    error = torch.abs(y_pred - y_true)
    quadratic = 0.5 * torch.square(error)
    linear = delta * error - 0.5 * delta**2
    return torch.mean(torch.where(error <= delta, quadratic, linear), dim=-1)


def kl_divergence(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """``sum(y_true * log(y_true / y_pred), axis=-1)`` with both clipped to ``[1e-7, 1]``.

    Example:
        >>> kl_divergence(torch.tensor([[0.5, 0.5]]), torch.tensor([[0.5, 0.5]]))
        tensor([0.])
    """
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true.to(y_pred.dtype), y_pred)
    y_true = torch.clamp(y_true, EPSILON, 1.0)
    y_pred = torch.clamp(y_pred, EPSILON, 1.0)
    return torch.sum(y_true * torch.log(y_true / y_pred), dim=-1)


def _log_probabilities(y_pred: Tensor, from_logits: bool, axis: int) -> Tensor:
    if from_logits:
        return F.log_softmax(y_pred, dim=axis)
    probabilities = y_pred / torch.sum(y_pred, dim=axis, keepdim=True)
    return torch.log(torch.clamp(probabilities, EPSILON, 1.0 - EPSILON))


def categorical_crossentropy(
    y_true: Tensor, y_pred: Tensor, from_logits: bool = False, label_smoothing: float = 0.0, axis: int = -1
) -> Tensor:
    """Cross-entropy between one-hot (or soft) labels and predicted class probabilities.

    Probabilities are renormalised along ``axis`` and clipped; ``label_smoothing`` mixes the labels
    with the uniform distribution.

    Example:
        >>> categorical_crossentropy(torch.tensor([[0.0, 1.0]]), torch.tensor([[0.5, 0.5]]))
        tensor([0.6931])
    """
    y_true = y_true.to(y_pred.dtype)
    if tuple(y_true.shape) != tuple(y_pred.shape):
        raise ValueError(
            "Arguments `target` and `output` must have the same shape. "
            f"Received: target.shape={tuple(y_true.shape)}, output.shape={tuple(y_pred.shape)}"
        )
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / y_true.shape[axis]
    return -torch.sum(y_true * _log_probabilities(y_pred, from_logits, axis), dim=axis)


def sparse_categorical_crossentropy(
    y_true: Tensor, y_pred: Tensor, from_logits: bool = False, ignore_class: int | None = None, axis: int = -1
) -> Tensor:
    """Cross-entropy between integer class labels ``(N, ...)`` and class probabilities ``(N, ..., C)``.

    With ``ignore_class`` the entries whose label equals it get a zero loss and are masked out of
    the reduction (the result carries that mask as ``_keras_mask``).

    Example:
        >>> sparse_categorical_crossentropy(torch.tensor([1]), torch.tensor([[0.5, 0.5]]))
        tensor([0.6931])
    """
    if y_true.ndim == y_pred.ndim and y_true.shape[axis] == 1:
        y_true = y_true.squeeze(axis)
    labels = y_true.long()
    expected = tuple(s for i, s in enumerate(y_pred.shape) if i != axis % y_pred.ndim)
    if tuple(labels.shape) != expected:
        raise ValueError(
            "Arguments `target` and `output` must have the same shape up until the last dimension: "
            f"target.shape={tuple(y_true.shape)}, output.shape={tuple(y_pred.shape)}"
        )
    valid = None if ignore_class is None else labels != ignore_class
    if valid is not None:
        labels = torch.where(valid, labels, 0)
    log_probabilities = _log_probabilities(y_pred, from_logits, axis)
    values = -torch.gather(log_probabilities.movedim(axis, -1), -1, labels.unsqueeze(-1)).squeeze(-1)
    if valid is not None:
        values = torch.where(valid, values, 0.0)
        values._keras_mask = valid
    return values


def binary_crossentropy(
    y_true: Tensor, y_pred: Tensor, from_logits: bool = False, label_smoothing: float = 0.0, axis: int = -1
) -> Tensor:
    """Element-wise binary cross-entropy, averaged over ``axis``.

    Example:
        >>> binary_crossentropy(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.5, 0.5]]))
        tensor([0.6931])
    """
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true.to(y_pred.dtype), y_pred)
    if tuple(y_true.shape) != tuple(y_pred.shape):
        raise ValueError(
            "Arguments `target` and `output` must have the same shape. "
            f"Received: target.shape={tuple(y_true.shape)}, output.shape={tuple(y_pred.shape)}"
        )
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        values = F.binary_cross_entropy_with_logits(y_pred, y_true, reduction="none")
    else:
        values = F.binary_cross_entropy(torch.clamp(y_pred, EPSILON, 1.0 - EPSILON), y_true, reduction="none")
    return torch.mean(values, dim=axis)


# --------------------------------------------------------------------------- reduction
def _align_weight(values: Tensor, weight: Tensor) -> tuple[Tensor, Tensor]:
    """Keras's rank alignment, then trailing axes on ``weight`` so a per-sample ``(N,)`` weight
    also broadcasts over a time axis (Keras 3 fails on that case)."""
    values, weight = squeeze_or_expand_to_same_rank(values, weight)
    while weight.ndim < values.ndim:
        weight = weight.unsqueeze(-1)
    return values, weight


def _reduce(values: Tensor, sample_weight: Tensor | None, mask: Tensor | None, reduction: str | None) -> Tensor:
    if mask is not None:
        mask = mask.to(device=values.device, dtype=torch.bool)
        if reduction in ("mean", "sum_over_batch_size"):
            # Valid entries weigh total/valid, so the mean over all entries becomes sum / valid.
            valid = mask.sum()
            scale = torch.where(valid > 0, mask.numel() / valid.clamp(min=1), 0.0)
            float_mask = torch.where(mask, scale, 0.0).to(values.dtype)
        else:
            float_mask = mask.to(values.dtype)
        if sample_weight is not None:
            float_mask, sample_weight = _align_weight(float_mask, sample_weight.to(values.dtype))
            float_mask = float_mask * sample_weight
        sample_weight = float_mask
    if sample_weight is not None:
        values, sample_weight = _align_weight(values, sample_weight.to(device=values.device, dtype=values.dtype))
        values = values * sample_weight
    if reduction in (None, "none") or values.ndim == 0:
        return values
    total = values.sum()
    if reduction == "sum":
        return total
    if reduction == "mean_with_sample_weight" and sample_weight is not None:
        divisor = torch.broadcast_to(sample_weight, values.shape).sum()
    else:
        divisor = torch.tensor(float(values.numel()), dtype=values.dtype, device=values.device)
    return torch.where(divisor != 0, total / torch.where(divisor != 0, divisor, 1.0), 0.0)


# --------------------------------------------------------------------------- Loss classes
class Loss:
    """Base of every loss object: ``__call__`` computes per-sample values with :meth:`call` and reduces them.

    Subclasses implement ``call(y_true, y_pred)`` and, to validate labels before training,
    ``check_shapes``.

    Args:
        name: name of the loss (used in error messages and configs).
        reduction: one of :data:`REDUCTIONS` (default ``"sum_over_batch_size"``).

    Call arguments:
        y_true: labels. y_pred: predictions (their ``_keras_mask``, if any, masks the values).
        sample_weight: optional weights, ``(N,)`` or the shape of the per-sample values.

    Example:
        >>> class Squared(Loss):
        ...     def call(self, y_true, y_pred):
        ...         return ((y_true - y_pred) ** 2).mean(-1)
        >>> float(Squared(name="squared")(torch.ones(2, 3), torch.zeros(2, 3)))
        1.0
    """

    def __init__(
        self, name: str | None = None, reduction: str | None = "sum_over_batch_size", dtype: Any = None
    ) -> None:
        if reduction not in REDUCTIONS:
            raise ValueError(
                f"Invalid value for argument `reduction`. Expected one of {REDUCTIONS}. "
                f"Received: reduction={reduction!r}"
            )
        if dtype not in (None, "float32") and not isinstance(dtype, Mapping):
            raise ValueError(f"Argument `dtype` of a loss must be None or 'float32', received: dtype={dtype!r}")
        self.name = name or type(self).__name__.lower()
        self.reduction = reduction

    def call(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} must implement call(y_true, y_pred)")

    def check_shapes(self, y_true_shape: Shape, y_pred_shape: Shape) -> None:
        """Raise ``ValueError`` if labels of ``y_true_shape`` cannot be scored against ``y_pred_shape``.

        The default accepts any shapes (custom losses decide for themselves).
        """

    def __call__(self, y_true: Any, y_pred: Tensor, sample_weight: Any = None) -> Tensor:
        in_mask = getattr(y_pred, "_keras_mask", None)
        y_true = torch.as_tensor(y_true, device=y_pred.device)
        y_pred = y_pred if y_pred.is_floating_point() else y_pred.float()
        if sample_weight is not None:
            sample_weight = torch.as_tensor(sample_weight, device=y_pred.device)
        values = self.call(y_true, y_pred)
        out_mask = getattr(values, "_keras_mask", None)
        mask = in_mask if out_mask is None else (out_mask if in_mask is None else in_mask & out_mask)
        return _reduce(values, sample_weight, mask, self.reduction)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Loss:
        return cls(**config)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, reduction={self.reduction!r})"


@_registry.register
class LossFunctionWrapper(Loss):
    """A :class:`Loss` around a function ``fn(y_true, y_pred, **kwargs) -> per-sample values``.

    Example:
        >>> wrapped = LossFunctionWrapper(mean_absolute_error, name="mae")
        >>> float(wrapped(torch.zeros(2, 1), torch.ones(2, 1)))
        1.0
    """

    _shape_rule: str = "any"

    def __init__(
        self,
        fn: Callable[..., Tensor],
        reduction: str | None = "sum_over_batch_size",
        name: str | None = None,
        dtype: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name or getattr(fn, "__name__", None), reduction=reduction, dtype=dtype)
        self.fn = fn
        self.fn_kwargs = kwargs

    def call(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        return self.fn(y_true, y_pred, **self.fn_kwargs)

    def check_shapes(self, y_true_shape: Shape, y_pred_shape: Shape) -> None:
        if self._shape_rule == "sparse":
            _check_sparse_shapes(self.name, y_true_shape, y_pred_shape)
        elif self._shape_rule == "same":
            _check_same_shapes(self.name, y_true_shape, y_pred_shape)

    def get_config(self) -> dict[str, Any]:
        if type(self) is LossFunctionWrapper:
            raise NotImplementedError(
                f"Loss {self.name!r} wraps the plain function {self.fn!r} and cannot be serialized; "
                "subclass birnn.losses.Loss instead."
            )
        return {**super().get_config(), **self.fn_kwargs}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Loss:
        return cls(**config)


def _check_same_shapes(name: str, y_true: Shape, y_pred: Shape) -> None:
    true_aligned, pred_aligned = _aligned_shapes(tuple(y_true), tuple(y_pred))
    if not _same(true_aligned, pred_aligned):
        raise ValueError(
            f"Loss '{name}' needs labels `y` with the shape of the model output {tuple(y_pred)} "
            f"(a trailing axis of size 1 may be added or dropped); received y.shape={tuple(y_true)}."
        )


def _check_sparse_shapes(name: str, y_true: Shape, y_pred: Shape) -> None:
    y_true, y_pred = tuple(y_true), tuple(y_pred)
    if not (_same(y_true, y_pred[:-1]) or _same(y_true, (*y_pred[:-1], 1))):
        raise ValueError(
            f"Loss '{name}' needs integer class labels `y` of shape {y_pred[:-1]} (or {(*y_pred[:-1], 1)}) "
            f"for a model output of shape {y_pred}; received y.shape={y_true}."
        )


class _SimpleLoss(LossFunctionWrapper):
    """A built-in loss whose only argument beyond the base ones is its function."""

    _function: Callable[..., Tensor]
    _default_name: str
    _shape_rule = "same"

    def __init__(
        self, reduction: str | None = "sum_over_batch_size", name: str | None = None, dtype: Any = None
    ) -> None:
        super().__init__(type(self)._function, reduction=reduction, name=name or self._default_name, dtype=dtype)


@_registry.register
class MeanSquaredError(_SimpleLoss):
    """Mean of squared errors over the last axis (``"mse"``).

    Example:
        >>> float(MeanSquaredError()(torch.zeros(2, 2), torch.ones(2, 2)))
        1.0
    """

    _function = staticmethod(mean_squared_error)
    _default_name = "mean_squared_error"


@_registry.register
class MeanAbsoluteError(_SimpleLoss):
    """Mean of absolute errors over the last axis (``"mae"``).

    Example:
        >>> float(MeanAbsoluteError()(torch.zeros(2, 2), torch.ones(2, 2)))
        1.0
    """

    _function = staticmethod(mean_absolute_error)
    _default_name = "mean_absolute_error"


@_registry.register
class KLDivergence(_SimpleLoss):
    """Kullback-Leibler divergence ``sum(y_true * log(y_true / y_pred))`` (``"kld"``).

    Example:
        >>> float(KLDivergence()(torch.tensor([[1.0, 0.0]]), torch.tensor([[1.0, 0.0]])))
        0.0
    """

    _function = staticmethod(kl_divergence)
    _default_name = "kl_divergence"


@_registry.register
class Huber(LossFunctionWrapper):
    """Huber loss with threshold ``delta`` (quadratic below, linear above).

    Example:
        >>> float(Huber(delta=1.0)(torch.zeros(1, 1), torch.full((1, 1), 3.0)))
        2.5
    """

    _shape_rule = "same"

    def __init__(
        self,
        delta: float = 1.0,
        reduction: str | None = "sum_over_batch_size",
        name: str = "huber_loss",
        dtype: Any = None,
    ) -> None:
        super().__init__(huber, reduction=reduction, name=name, dtype=dtype, delta=float(delta))


class _Crossentropy(LossFunctionWrapper):
    """Shared constructor of the categorical and binary cross-entropies."""

    _function: Callable[..., Tensor]
    _default_name: str

    def __init__(
        self,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        axis: int = -1,
        reduction: str | None = "sum_over_batch_size",
        name: str | None = None,
        dtype: Any = None,
    ) -> None:
        if not 0.0 <= float(label_smoothing) <= 1.0:
            raise ValueError(
                f"Argument `label_smoothing` must be in [0, 1], received: label_smoothing={label_smoothing!r}"
            )
        super().__init__(
            type(self)._function,
            reduction=reduction,
            name=name or self._default_name,
            dtype=dtype,
            from_logits=bool(from_logits),
            label_smoothing=float(label_smoothing),
            axis=int(axis),
        )

    @property
    def from_logits(self) -> bool:
        return self.fn_kwargs["from_logits"]


@_registry.register
class CategoricalCrossentropy(_Crossentropy):
    """Cross-entropy for one-hot labels ``(N, ..., C)`` (``"categorical_crossentropy"``).

    Args:
        from_logits: ``y_pred`` holds logits (softmax applied inside) instead of probabilities.
        label_smoothing: in ``[0, 1]``; labels become ``y * (1 - s) + s / C``.
        axis: the class axis.
        reduction: see the module docstring. name: loss name.

    Example:
        >>> loss = CategoricalCrossentropy(from_logits=True)
        >>> round(float(loss(torch.tensor([[0.0, 1.0]]), torch.tensor([[0.0, 0.0]]))), 4)
        0.6931
    """

    _function = staticmethod(categorical_crossentropy)
    _default_name = "categorical_crossentropy"
    _shape_rule = "same"

    def check_shapes(self, y_true_shape: Shape, y_pred_shape: Shape) -> None:
        if not _same(tuple(y_true_shape), tuple(y_pred_shape)):
            raise ValueError(
                f"Loss '{self.name}' needs one-hot labels `y` with the shape of the model output "
                f"{tuple(y_pred_shape)}; received y.shape={tuple(y_true_shape)}. For integer class labels "
                "use loss='sparse_categorical_crossentropy'."
            )


@_registry.register
class BinaryCrossentropy(_Crossentropy):
    """Binary cross-entropy for 0/1 labels, averaged over the last axis (``"binary_crossentropy"``).

    Args:
        from_logits: ``y_pred`` holds logits (sigmoid applied inside).
        label_smoothing: labels become ``y * (1 - s) + 0.5 * s``.
        axis: the axis averaged over. reduction, name: as for every loss.

    Example:
        >>> round(float(BinaryCrossentropy()(torch.tensor([[1.0]]), torch.tensor([[0.9]]))), 4)
        0.1054
    """

    _function = staticmethod(binary_crossentropy)
    _default_name = "binary_crossentropy"
    _shape_rule = "same"


@_registry.register
class SparseCategoricalCrossentropy(LossFunctionWrapper):
    """Cross-entropy for integer labels ``(N, ...)`` against probabilities ``(N, ..., C)``.

    Args:
        from_logits: ``y_pred`` holds logits.
        ignore_class: a label value whose entries are excluded from the loss (e.g. padding).
        reduction, name: as for every loss.

    Example:
        >>> loss = SparseCategoricalCrossentropy()
        >>> round(float(loss(torch.tensor([1, 0]), torch.tensor([[0.1, 0.9], [0.8, 0.2]]))), 4)
        0.1643
    """

    _shape_rule = "sparse"

    def __init__(
        self,
        from_logits: bool = False,
        ignore_class: int | None = None,
        reduction: str | None = "sum_over_batch_size",
        axis: int = -1,
        name: str = "sparse_categorical_crossentropy",
        dtype: Any = None,
    ) -> None:
        super().__init__(
            sparse_categorical_crossentropy,
            reduction=reduction,
            name=name,
            dtype=dtype,
            from_logits=bool(from_logits),
            ignore_class=ignore_class,
            axis=int(axis),
        )

    @property
    def from_logits(self) -> bool:
        return self.fn_kwargs["from_logits"]


# --------------------------------------------------------------------------- lookup
_CLASSES: dict[str, type[Loss]] = {
    cls.__name__: cls
    for cls in (
        MeanSquaredError, MeanAbsoluteError, Huber, KLDivergence,
        CategoricalCrossentropy, SparseCategoricalCrossentropy, BinaryCrossentropy,
    )
}  # fmt: skip
_NAMES: dict[str, type[Loss]] = {
    "mean_squared_error": MeanSquaredError,
    "mse": MeanSquaredError,
    "MSE": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError,
    "mae": MeanAbsoluteError,
    "MAE": MeanAbsoluteError,
    "huber": Huber,
    "huber_loss": Huber,
    "kl_divergence": KLDivergence,
    "kld": KLDivergence,
    "KLD": KLDivergence,
    "kullback_leibler_divergence": KLDivergence,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "binary_crossentropy": BinaryCrossentropy,
    "bce": BinaryCrossentropy,
    "BCE": BinaryCrossentropy,
}


def serialize(loss: Loss) -> dict[str, Any]:
    """The ``{"class_name", "config"}`` envelope of a built-in or registered loss.

    Example:
        >>> serialize(Huber(delta=2.0))["config"]["delta"]
        2.0
    """
    return _registry.serialize(loss)


def deserialize(config: str | Mapping[str, Any], custom_objects: Mapping[str, Any] | None = None) -> Loss:
    """Build a loss from a name or an envelope.

    Raises:
        ValueError: unknown name or class.

    Example:
        >>> deserialize({"class_name": "Huber", "config": {"delta": 2.0}}).fn_kwargs
        {'delta': 2.0}
    """
    if isinstance(config, str):
        cls = _NAMES.get(config) or _CLASSES.get(config) or _registry.get_registered_object(config, custom_objects)
        if cls is None:
            raise ValueError(
                f"Unknown loss {config!r}. Accepted names: {', '.join(sorted({*_NAMES, *_CLASSES}))}, "
                "or pass a birnn.losses.Loss instance or a function (y_true, y_pred) -> values."
            )
        return cls() if isinstance(cls, type) else LossFunctionWrapper(cls, name=config)
    return _registry.deserialize(config, {**_CLASSES, **(custom_objects or {})}, kind="loss")


def get(identifier: str | Mapping[str, Any] | Loss | Callable[..., Tensor]) -> Loss:
    """Resolve a loss identifier (name, envelope, ``Loss`` instance or class, or function) to a ``Loss``.

    Raises:
        ValueError: an unknown name or an identifier of another type.

    Example:
        >>> get("sparse_categorical_crossentropy").from_logits
        False
        >>> get(mean_absolute_error).name
        'mean_absolute_error'
    """
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, (str, Mapping)):
        return deserialize(identifier)
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if callable(identifier):
        return LossFunctionWrapper(identifier)
    raise ValueError(f"Could not interpret loss identifier: {identifier!r}")
