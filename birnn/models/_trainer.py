"""``Trainer``: Keras's ``compile``/``fit``/``evaluate``/``predict`` for any birnn model.

Modes: ``fit`` and ``train_on_batch`` run the model in training mode (``model.train()``: dropout
active), ``evaluate``/``predict`` and validation in inference mode (``model.eval()``, no gradients);
the model's previous mode is restored afterwards, so a model called directly stays in inference
mode as in Keras.

One training step: forward pass; compiled loss plus the regularization losses in ``model.losses``;
backward; the optimizer's update (Keras's clipping and weight decay); ``apply_constraints()``.
Batches move to the device of the model's weights.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from birnn import callbacks as callbacks_module
from birnn import metrics as metrics_module
from birnn import optimizers as optimizers_module
from birnn.layers import Layer

from ._compile import CompiledLoss, CompiledMetrics, as_outputs
from ._data import ArraySource, Source, epoch_batches, make_source, make_validation_source, shape_of, to_device

__all__ = ["Trainer"]

Shape = tuple[int | None, ...]


def _check_batch_size(batch_size: Any) -> int:
    if batch_size is None:
        return 32
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
        raise ValueError(f"Argument `batch_size` must be a positive integer, received: batch_size={batch_size!r}")
    return batch_size


def _check_verbose(verbose: Any) -> int:
    if verbose == "auto":
        return 1
    if verbose not in (0, 1, 2):
        raise ValueError(f"Argument `verbose` must be 'auto', 0, 1 or 2, received: verbose={verbose!r}")
    return int(verbose)


def _matches(expected: Shape, received: Sequence[int]) -> bool:
    return len(expected) == len(received) and all(e is None or e == r for e, r in zip(expected[1:], received[1:]))


class Trainer(Layer):
    """A ``Layer`` with Keras's training methods: the base of :class:`~birnn.models.Model`.

    Subclasses may implement ``expected_input_shape()`` / ``expected_output_shape(input_shape)`` so
    that data can be checked before training starts (``Sequential`` does).

    Args:
        **kwargs: base ``Layer`` arguments.

    Example:
        >>> import numpy as np, birnn
        >>> model = birnn.Sequential([birnn.layers.Dense(1, input_shape=(2,))])
        >>> model.compile(optimizer="sgd", loss="mse")
        >>> isinstance(model.train_on_batch(np.ones((4, 2)), np.zeros((4, 1))), float)
        True
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.optimizer: optimizers_module.Optimizer | None = None
        self.stop_training = False
        self.history: callbacks_module.History | None = None
        self._compiled_loss: CompiledLoss | None = None
        self._compiled_metrics: CompiledMetrics | None = None
        self._loss_tracker = metrics_module.Mean(name="loss")

    # ------------------------------------------------------------------ compile
    def compile(
        self,
        optimizer: Any = "rmsprop",
        loss: Any = None,
        metrics: Sequence[Any] | None = None,
        loss_weights: float | Sequence[float] | None = None,
    ) -> None:
        """Configure training: optimizer, loss(es), metrics and loss weights (names or objects).

        Args:
            optimizer: a name (``"rmsprop"``, ``"adam"`` ... with Keras's defaults), a
                ``birnn.optimizers.Optimizer`` or a ``torch.optim.Optimizer``.
            loss: a name (``"categorical_crossentropy"``, ``"mse"`` ...), a ``birnn.losses.Loss``, a
                function ``(y_true, y_pred) -> values``, or a list with one per output.
            metrics: a list of names (``"accuracy"`` resolved from shapes as Keras does), ``Metric``
                objects or functions; one list per output for several outputs.
            loss_weights: a float or one float per output multiplying the loss(es).

        Raises:
            ValueError: an unknown optimizer, loss or metric, naming the argument and the value.
        """
        try:
            self.optimizer = optimizers_module.get(optimizer)
        except ValueError as error:
            raise ValueError(
                f"Invalid argument `optimizer` of compile(): received optimizer={optimizer!r}. {error}"
            ) from error
        self._compiled_loss = CompiledLoss(loss, loss_weights)
        self._compiled_metrics = CompiledMetrics(metrics)

    @property
    def compiled(self) -> bool:
        """Whether ``compile()`` has been called."""
        return self._compiled_loss is not None

    def _require_compiled(self, caller: str) -> tuple[CompiledLoss, CompiledMetrics]:
        if self._compiled_loss is None or self._compiled_metrics is None:
            raise ValueError(
                f"You must call `compile()` before using `{caller}()` on model '{self.name}': "
                "received no optimizer and no loss. Call model.compile(optimizer=..., loss=...) first."
            )
        return self._compiled_loss, self._compiled_metrics

    @property
    def metrics(self) -> list[metrics_module.Metric]:
        """The loss tracker followed by the compiled metrics (built on the first batch)."""
        compiled = [] if self._compiled_metrics is None else self._compiled_metrics.metrics
        return [self._loss_tracker, *compiled]

    def reset_metrics(self) -> None:
        """Start every metric over (``fit`` does it at each epoch, ``evaluate`` at each call)."""
        self._loss_tracker.reset_state()
        if self._compiled_metrics is not None:
            self._compiled_metrics.reset()

    def _logs(self) -> dict[str, float]:
        logs = {"loss": float(self._loss_tracker.result())}
        if self._compiled_metrics is not None:
            logs.update(self._compiled_metrics.results())
        return dict(sorted(logs.items()))

    def _ordered(self, logs: dict[str, float]) -> float | list[float]:
        """Keras's list form: ``loss`` first, then the metrics in compile order; a scalar if only the loss."""
        names = ["loss"] + [m.name for m in (self._compiled_metrics.metrics if self._compiled_metrics else [])]
        values = [logs[name] for name in names if name in logs]
        return values[0] if len(values) == 1 else values

    # ------------------------------------------------------------------ checks
    def expected_input_shape(self) -> Shape | None:
        """The model's input shape with ``None`` batch, when known (``Sequential`` knows it)."""
        return None

    def expected_output_shape(self, input_shape: Shape) -> Any:
        """The output shape for ``input_shape``, when it can be computed without running the model."""
        return None

    def _device(self) -> torch.device:
        parameter = next(self.parameters(), None)
        return parameter.device if parameter is not None else torch.device("cpu")

    def _check_x(self, x: Any) -> None:
        expected = self.expected_input_shape()
        if expected is None or not isinstance(x, Tensor):
            return
        if not _matches(expected, tuple(x.shape)):
            raise ValueError(
                f"Argument `x` has shape {tuple(x.shape)}, but model '{self.name}' expects inputs of "
                f"shape {expected} (batch first: {len(expected)} dimensions, the sizes after the batch axis "
                "must match)."
            )

    def _check_labels(self, compiled: CompiledLoss, y: Any, y_pred_shape: Any) -> None:
        if y is None:
            raise ValueError("Argument `y` (the labels) is required to compute the compiled loss, received y=None.")
        pred_shapes = y_pred_shape if isinstance(y_pred_shape, list) else [y_pred_shape]
        label_shapes = shape_of(y)
        compiled.check_shapes(label_shapes if isinstance(label_shapes, list) else [label_shapes], pred_shapes)

    def _check_source(self, source: Source, compiled: CompiledLoss | None) -> None:
        """Check in-memory data against the model before any step runs (DataLoaders: per batch)."""
        if not isinstance(source, ArraySource):
            return
        self._check_x(source.x)
        if compiled is None or not isinstance(source.x, Tensor):
            return
        output_shape = self.expected_output_shape((None, *source.x.shape[1:]))
        if output_shape is not None:
            self._check_labels(compiled, source.y, output_shape)

    # ------------------------------------------------------------------ steps
    def _forward(self, x: Any) -> Any:
        self._check_x(x)
        return self(x)

    def compute_loss(self, y: Any, y_pred: Any, sample_weight: Tensor | None = None) -> Tensor:
        """The compiled loss of ``y_pred`` against ``y`` plus every regularization loss in ``self.losses``."""
        compiled, _ = self._require_compiled("compute_loss")
        self._check_labels(compiled, y, shape_of(y_pred))
        loss = compiled(y, y_pred, sample_weight)
        for extra in self.losses:
            loss = loss + extra.sum()
        return loss

    def _track(self, loss: Tensor, y: Any, y_pred: Any, batch_size: int) -> dict[str, float]:
        self._loss_tracker.update_state(loss.detach(), sample_weight=batch_size)
        assert self._compiled_metrics is not None
        self._compiled_metrics.update(y, y_pred)
        return self._logs()

    def train_step(self, x: Any, y: Any, sample_weight: Tensor | None = None) -> dict[str, float]:
        """One optimizer step on a batch; returns the running logs. Override for custom training."""
        _, compiled_metrics = self._require_compiled("fit")
        assert self.optimizer is not None
        y_pred = self._forward(x)
        compiled_metrics.build(y, y_pred)
        loss = self.compute_loss(y, y_pred, sample_weight)
        weights = self.trainable_weights
        if weights:
            self.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.apply(weights)
            self.apply_constraints()
        else:
            warnings.warn(f"Model '{self.name}' has no trainable weights: fit() leaves it unchanged.", stacklevel=3)
        return self._track(loss, y, _detached(y_pred), _batch_size(x))

    def test_step(self, x: Any, y: Any, sample_weight: Tensor | None = None) -> dict[str, float]:
        """Loss and metrics of a batch without updating weights; returns the running logs."""
        self._require_compiled("evaluate")
        y_pred = self._forward(x)
        loss = self.compute_loss(y, y_pred, sample_weight)
        return self._track(loss, y, y_pred, _batch_size(x))

    # ------------------------------------------------------------------ loops
    def fit(
        self,
        x: Any = None,
        y: Any = None,
        batch_size: int | None = None,
        epochs: int = 1,
        verbose: int | str = "auto",
        callbacks: Sequence[callbacks_module.Callback] | None = None,
        validation_split: float = 0.0,
        validation_data: Any = None,
        shuffle: bool = True,
        class_weight: dict[int, float] | None = None,
        sample_weight: Any = None,
        initial_epoch: int = 0,
        steps_per_epoch: int | None = None,
    ) -> callbacks_module.History:
        """Train for ``epochs`` epochs on ``(x, y)`` (arrays, tensors) or a DataLoader ``x``.

        Args:
            x, y: inputs and labels (``y`` omitted with a DataLoader).
            batch_size: samples per step for arrays (default 32).
            epochs: index of the last epoch (training runs ``initial_epoch .. epochs - 1``).
            verbose: ``"auto"``/1 progress bar, 2 one line per epoch, 0 silent.
            callbacks: ``birnn.callbacks.Callback`` objects.
            validation_split: fraction of the arrays (taken from the end, before shuffling) held out.
            validation_data: ``(x_val, y_val)``, ``(x_val, y_val, sample_weight)`` or a DataLoader.
            shuffle: reshuffle the arrays every epoch.
            class_weight: ``{class: weight}`` turned into per-sample weights.
            sample_weight: per-sample (or per-step) loss weights.
            initial_epoch: epoch to start from (to resume training).
            steps_per_epoch: steps per epoch; batches then continue across epochs.

        Returns:
            A ``History`` whose ``history`` maps each logged name to its per-epoch values.

        Raises:
            ValueError: for any bad input (see the module docstring of ``birnn.models``), before
                the first step.
        """
        compiled, _ = self._require_compiled("fit")
        batch_size = _check_batch_size(batch_size)
        verbose = _check_verbose(verbose)
        if not 0.0 <= validation_split < 1.0:
            raise ValueError(
                f"Argument `validation_split` must be in [0, 1), received: validation_split={validation_split!r}"
            )
        source = make_source(x, y, sample_weight, class_weight, caller="fit")
        validation = None
        if validation_split:
            if not isinstance(source, ArraySource):
                raise ValueError(
                    "Argument `validation_split` is only supported for arrays and tensors, received a DataLoader; "
                    "pass `validation_data` instead."
                )
            source, validation = source.split(validation_split)
        elif validation_data is not None:
            validation = make_validation_source(validation_data)
        self._check_source(source, compiled)
        if validation is not None:
            self._check_source(validation, compiled)
        steps = steps_per_epoch or source.steps(batch_size)
        hooks = callbacks_module.CallbackList(
            callbacks,
            model=self,
            add_history=True,
            add_progbar=verbose != 0,
            verbose=verbose,
            epochs=epochs,
            steps=steps,
        )
        self.stop_training = False
        self.history = hooks.history
        was_training = self.training
        epoch_logs: dict[str, float] = {}
        hooks.on_train_begin()
        try:
            device = self._device()
            epochs_iterator = epoch_batches(source, batch_size, shuffle, steps_per_epoch)
            for epoch in range(initial_epoch, epochs):
                self.reset_metrics()
                hooks.on_epoch_begin(epoch)
                self.train()
                logs: dict[str, float] = {}
                for step, (bx, by, bw) in enumerate(next(epochs_iterator)):
                    hooks.on_train_batch_begin(step)
                    logs = self.train_step(*to_device((bx, by, bw), device))
                    hooks.on_train_batch_end(step, logs)
                    if self.stop_training:
                        break
                epoch_logs = dict(logs)
                if validation is not None:
                    val_logs = self._test_loop(validation, batch_size, None, hooks)
                    epoch_logs.update({f"val_{name}": value for name, value in val_logs.items()})
                hooks.on_epoch_end(epoch, epoch_logs)
                if self.stop_training:
                    break
            hooks.on_train_end(epoch_logs)
        finally:
            self.train(was_training)
        assert hooks.history is not None
        return hooks.history

    def _test_loop(
        self, source: Source, batch_size: int, steps: int | None, hooks: callbacks_module.CallbackList
    ) -> dict[str, float]:
        was_training = self.training
        self.eval()
        self.reset_metrics()
        logs: dict[str, float] = {}
        device = self._device()
        hooks.on_test_begin()
        try:
            with torch.no_grad():
                for step, (bx, by, bw) in enumerate(source.batches(batch_size)):
                    if steps is not None and step >= steps:
                        break
                    hooks.on_test_batch_begin(step)
                    logs = self.test_step(*to_device((bx, by, bw), device))
                    hooks.on_test_batch_end(step, logs)
        finally:
            self.train(was_training)
        hooks.on_test_end(logs)
        return logs

    def evaluate(
        self,
        x: Any = None,
        y: Any = None,
        batch_size: int | None = None,
        verbose: int | str = "auto",
        sample_weight: Any = None,
        steps: int | None = None,
        callbacks: Sequence[callbacks_module.Callback] | None = None,
        return_dict: bool = False,
    ) -> float | list[float] | dict[str, float]:
        """Loss (and metrics) over the data, in inference mode.

        Returns:
            The loss if no metrics were compiled, else ``[loss, *metrics]`` in compile order; the
            logs dict with ``return_dict=True``.
        """
        compiled, _ = self._require_compiled("evaluate")
        batch_size = _check_batch_size(batch_size)
        verbose = _check_verbose(verbose)
        source = make_source(x, y, sample_weight, caller="evaluate")
        self._check_source(source, compiled)
        total = steps or source.steps(batch_size)
        hooks = callbacks_module.CallbackList(
            callbacks, model=self, add_progbar=verbose != 0, verbose=verbose, epochs=1, steps=total
        )
        logs = self._test_loop(source, batch_size, steps, hooks)
        return logs if return_dict else self._ordered(logs)

    def predict(
        self,
        x: Any,
        batch_size: int | None = None,
        verbose: int | str = "auto",
        steps: int | None = None,
        callbacks: Sequence[callbacks_module.Callback] | None = None,
    ) -> np.ndarray | list[np.ndarray]:
        """Model outputs for ``x``, batch by batch in inference mode, as NumPy arrays."""
        batch_size = _check_batch_size(batch_size)
        verbose = _check_verbose(verbose)
        source = make_source(x, caller="predict")
        if isinstance(source, ArraySource):
            self._check_x(source.x)
        total = steps or source.steps(batch_size)
        hooks = callbacks_module.CallbackList(
            callbacks, model=self, add_progbar=verbose != 0, verbose=verbose, epochs=1, steps=total
        )
        was_training = self.training
        self.eval()
        device = self._device()
        chunks: list[list[np.ndarray]] = []
        hooks.on_predict_begin()
        try:
            with torch.no_grad():
                for step, (bx, _, _) in enumerate(source.batches(batch_size)):
                    if steps is not None and step >= steps:
                        break
                    hooks.on_predict_batch_begin(step)
                    outputs = as_outputs(self._forward(to_device(bx, device)))
                    chunks.append([_to_numpy(o) for o in outputs])
                    hooks.on_predict_batch_end(step, {})
        finally:
            self.train(was_training)
        hooks.on_predict_end()
        if not chunks:
            raise ValueError("predict() received no samples in `x`.")
        merged = [np.concatenate(parts) for parts in zip(*chunks)]
        return merged[0] if len(merged) == 1 else merged

    # ------------------------------------------------------------------ single batches
    def train_on_batch(
        self,
        x: Any,
        y: Any = None,
        sample_weight: Any = None,
        class_weight: dict[int, float] | None = None,
        return_dict: bool = False,
    ) -> float | list[float] | dict[str, float]:
        """One optimizer step on one batch; returns that batch's loss (and metrics)."""
        compiled, _ = self._require_compiled("train_on_batch")
        source = _single_batch(x, y, sample_weight, class_weight, caller="train_on_batch")
        self._check_source(source, compiled)
        self.reset_metrics()
        was_training = self.training
        self.train()
        try:
            logs = self.train_step(*to_device((source.x, source.y, source.sample_weight), self._device()))
        finally:
            self.train(was_training)
        return logs if return_dict else self._ordered(logs)

    def test_on_batch(
        self, x: Any, y: Any = None, sample_weight: Any = None, return_dict: bool = False
    ) -> float | list[float] | dict[str, float]:
        """Loss (and metrics) of one batch in inference mode."""
        compiled, _ = self._require_compiled("test_on_batch")
        source = _single_batch(x, y, sample_weight, caller="test_on_batch")
        self._check_source(source, compiled)
        logs = self._test_loop(source, max(source.size, 1), None, callbacks_module.CallbackList())
        return logs if return_dict else self._ordered(logs)

    def predict_on_batch(self, x: Any) -> np.ndarray | list[np.ndarray]:
        """Model outputs for one batch, in inference mode, as NumPy arrays."""
        source = _single_batch(x, caller="predict_on_batch")
        return self.predict(source.x, batch_size=max(source.size, 1), verbose=0)


def _single_batch(
    x: Any, y: Any = None, sample_weight: Any = None, class_weight: Any = None, *, caller: str
) -> ArraySource:
    source = make_source(x, y, sample_weight, class_weight, caller=caller)
    if not isinstance(source, ArraySource):
        raise ValueError(
            f"Argument `x` of {caller}() must be an array, a tensor or a list of them, received a DataLoader."
        )
    return source


def _batch_size(x: Any) -> int:
    tensor = x if isinstance(x, Tensor) else next(t for t in x if isinstance(t, Tensor))
    return int(tensor.shape[0])


def _detached(y_pred: Any) -> Any:
    """Predictions without their graph, keeping the output mask the metrics need."""
    if isinstance(y_pred, Tensor):
        out = y_pred.detach()
        mask = getattr(y_pred, "_keras_mask", None)
        if mask is not None:
            out._keras_mask = mask
        return out
    return type(y_pred)(_detached(p) for p in y_pred)


def _to_numpy(tensor: Tensor) -> np.ndarray:
    tensor = tensor.detach().cpu()
    return (tensor.float() if tensor.dtype == torch.bfloat16 else tensor).numpy()
