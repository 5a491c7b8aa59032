"""What ``compile(loss=..., metrics=..., loss_weights=...)`` turns into: one loss and metric set per output."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor

from birnn import losses as losses_module
from birnn import metrics as metrics_module

__all__ = ["CompiledLoss", "CompiledMetrics", "as_outputs"]


def as_outputs(data: Any) -> list[Any]:
    """A model output (or label) structure as a list with one entry per output.

    Example:
        >>> len(as_outputs(None)), len(as_outputs((1, 2)))
        (1, 2)
    """
    return list(data) if isinstance(data, (list, tuple)) else [data]


def _count_check(argument: str, received: int, outputs: int) -> None:
    if received != outputs:
        raise ValueError(
            f"Argument `{argument}` must hold one entry per model output ({outputs}), received {received}."
        )


class CompiledLoss:
    """The compiled loss: ``sum_i loss_weight_i * loss_i(y_i, y_pred_i, sample_weight)``.

    A single loss applies to every output; a list gives one loss per output (``None`` skips one).

    Example:
        >>> import torch
        >>> compiled = CompiledLoss("mse", loss_weights=2.0)
        >>> float(compiled(torch.zeros(2, 1), torch.ones(2, 1)))
        2.0
    """

    def __init__(self, loss: Any, loss_weights: float | Sequence[float] | None = None) -> None:
        entries = list(loss) if isinstance(loss, (list, tuple)) else [loss]
        try:
            self.losses = [None if entry is None else losses_module.get(entry) for entry in entries]
        except ValueError as error:
            raise ValueError(f"Invalid argument `loss` of compile(): received loss={loss!r}. {error}") from error
        if all(entry is None for entry in self.losses):
            raise ValueError(
                "compile() needs a `loss` (a name such as 'categorical_crossentropy', a Loss or a function), "
                f"received loss={loss!r}"
            )
        self.single = not isinstance(loss, (list, tuple))
        if loss_weights is not None and not isinstance(loss_weights, (int, float, list, tuple)):
            raise ValueError(
                f"Argument `loss_weights` of compile() must be a float or a list of floats, received: {loss_weights!r}"
            )
        self.loss_weights = loss_weights

    def _per_output(self, outputs: int) -> list[tuple[losses_module.Loss | None, float]]:
        losses = self.losses * outputs if self.single else self.losses
        _count_check("loss", len(losses), outputs)
        if self.loss_weights is None:
            weights = [1.0] * outputs
        elif isinstance(self.loss_weights, (int, float)):
            weights = [float(self.loss_weights)] * outputs
        else:
            weights = [float(w) for w in self.loss_weights]
            _count_check("loss_weights", len(weights), outputs)
        return list(zip(losses, weights))

    def check_shapes(self, y_shapes: list[tuple[int | None, ...]], pred_shapes: list[tuple[int | None, ...]]) -> None:
        """Raise ``ValueError`` (naming ``y``) when labels do not fit the losses and output shapes."""
        _count_check("y", len(y_shapes), len(pred_shapes))
        for (loss, _), y_shape, pred_shape in zip(self._per_output(len(pred_shapes)), y_shapes, pred_shapes):
            if loss is not None:
                loss.check_shapes(tuple(y_shape), tuple(pred_shape))

    def __call__(self, y: Any, y_pred: Any, sample_weight: Tensor | None = None) -> Tensor:
        predictions, labels = as_outputs(y_pred), as_outputs(y)
        _count_check("y", len(labels), len(predictions))
        total = None
        for (loss, weight), y_true, prediction in zip(self._per_output(len(predictions)), labels, predictions):
            if loss is not None:
                value = loss(y_true, prediction, sample_weight) * weight
                total = value if total is None else total + value
        assert total is not None
        return total


class CompiledMetrics:
    """The compiled metrics, resolved on the first batch (``"accuracy"`` depends on shapes, as in Keras).

    Metrics are not weighted by ``sample_weight`` (Keras's ``metrics``), but ignore masked steps.
    For several outputs pass one list per output; their names get an ``output_{i}_`` prefix.

    Example:
        >>> import torch
        >>> compiled = CompiledMetrics(["accuracy"])
        >>> compiled.update(torch.tensor([1, 0]), torch.tensor([[0.2, 0.8], [0.3, 0.7]]))
        >>> compiled.results()
        {'accuracy': 0.5}
    """

    def __init__(self, metrics: Sequence[Any] | None) -> None:
        if metrics is None:
            metrics = []
        if not isinstance(metrics, (list, tuple)):
            raise ValueError(f"Argument `metrics` of compile() must be a list, received: metrics={metrics!r}")
        self.per_output = bool(metrics) and all(isinstance(m, (list, tuple)) for m in metrics)
        groups = [list(m) for m in metrics] if self.per_output else [list(metrics)]
        for identifier in (i for group in groups for i in group):
            if not metrics_module.is_shape_resolved(identifier):
                try:
                    metrics_module.get(identifier)
                except ValueError as error:
                    raise ValueError(
                        f"Invalid argument `metrics` of compile(): received {identifier!r}. {error}"
                    ) from error
        self._groups = groups
        self.metrics: list[metrics_module.Metric] = []
        self._outputs: list[list[metrics_module.Metric]] | None = None

    @property
    def built(self) -> bool:
        return self._outputs is not None

    def build(self, y: Any, y_pred: Any) -> None:
        """Resolve the identifiers for these labels and predictions (once)."""
        if self._outputs is not None:
            return
        labels, predictions = as_outputs(y), as_outputs(y_pred)
        groups = self._groups
        if len(predictions) > 1 and groups[0]:
            if not self.per_output:
                raise ValueError(
                    f"For a model with {len(predictions)} outputs, pass `metrics` as a list of lists (one per output); "
                    f"received metrics={groups[0]!r}"
                )
            _count_check("metrics", len(groups), len(predictions))
        outputs = []
        for index, (group, y_true, prediction) in enumerate(zip(groups, labels, predictions)):
            prefix = f"output_{index}_" if len(predictions) > 1 else ""
            built = []
            for identifier in group:
                if metrics_module.is_shape_resolved(identifier):
                    metric = metrics_module.resolve_accuracy(identifier, tuple(y_true.shape), tuple(prediction.shape))
                else:
                    metric = metrics_module.get(identifier)
                metric.name = prefix + metric.name
                built.append(metric)
            outputs.append(built)
        self._outputs = outputs
        self.metrics = [m for group in outputs for m in group]

    def update(self, y: Any, y_pred: Any) -> None:
        self.build(y, y_pred)
        assert self._outputs is not None
        for group, y_true, prediction in zip(self._outputs, as_outputs(y), as_outputs(y_pred)):
            for metric in group:
                metric.update_state(y_true, prediction)

    def reset(self) -> None:
        for metric in self.metrics:
            metric.reset_state()

    def results(self) -> dict[str, float]:
        return {metric.name: float(metric.result()) for metric in self.metrics}
