"""Keras's training callbacks: hooks that ``fit``/``evaluate``/``predict`` call at fixed points.

Hook order inside ``fit``: ``on_train_begin``; per epoch ``on_epoch_begin``, per batch
``on_train_batch_begin``/``on_train_batch_end`` (also reachable as ``on_batch_begin``/``on_batch_end``),
validation (``on_test_*``), ``on_epoch_end``; finally ``on_train_end``. ``logs`` are dicts of Python
floats (``{"loss": 0.31, "accuracy": 0.9, "val_loss": ...}``); batch logs hold the running epoch means.

The callbacks list of a ``fit`` call is: the progress bar (unless ``verbose=0``), the user's callbacks
in order, then :class:`History`, as in Keras.

Example:
    >>> import numpy as np
    >>> import birnn
    >>> model = birnn.Sequential([birnn.layers.Dense(1, input_shape=(3,))])
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> stop = birnn.callbacks.EarlyStopping(monitor="loss", patience=0, min_delta=10.0)
    >>> history = model.fit(np.ones((8, 3)), np.ones((8, 1)), epochs=5, verbose=0, callbacks=[stop])
    >>> len(history.epoch)
    2
"""

from __future__ import annotations

import csv
import math
import os
import tempfile
import warnings
from collections.abc import Callable, Iterable
from typing import Any, TextIO

import torch

from birnn.models._progbar import Progbar

__all__ = [
    "Callback",
    "CallbackList",
    "History",
    "ProgbarLogger",
    "EarlyStopping",
    "ModelCheckpoint",
    "ReduceLROnPlateau",
    "CSVLogger",
    "TerminateOnNaN",
    "LambdaCallback",
]

Logs = dict[str, float]


class Callback:
    """Base class: override the hooks you need; ``self.model`` and ``self.params`` are set by ``fit``.

    Attributes:
        model: the model being trained.
        params: ``{"verbose", "epochs", "steps"}`` of the current run.

    Example:
        >>> class Count(Callback):
        ...     def on_train_begin(self, logs=None):
        ...         self.batches = 0
        ...     def on_train_batch_end(self, batch, logs=None):
        ...         self.batches += 1
        >>> Count().model is None
        True
    """

    def __init__(self) -> None:
        self.model: Any = None
        self.params: dict[str, Any] = {}

    def set_model(self, model: Any) -> None:
        self.model = model

    def set_params(self, params: dict[str, Any]) -> None:
        self.params = params

    def on_train_begin(self, logs: Logs | None = None) -> None: ...

    def on_train_end(self, logs: Logs | None = None) -> None: ...

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None: ...

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None: ...

    def on_batch_begin(self, batch: int, logs: Logs | None = None) -> None: ...

    def on_batch_end(self, batch: int, logs: Logs | None = None) -> None: ...

    def on_train_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        self.on_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        self.on_batch_end(batch, logs=logs)

    def on_test_begin(self, logs: Logs | None = None) -> None: ...

    def on_test_end(self, logs: Logs | None = None) -> None: ...

    def on_test_batch_begin(self, batch: int, logs: Logs | None = None) -> None: ...

    def on_test_batch_end(self, batch: int, logs: Logs | None = None) -> None: ...

    def on_predict_begin(self, logs: Logs | None = None) -> None: ...

    def on_predict_end(self, logs: Logs | None = None) -> None: ...

    def on_predict_batch_begin(self, batch: int, logs: Logs | None = None) -> None: ...

    def on_predict_batch_end(self, batch: int, logs: Logs | None = None) -> None: ...


_HOOKS = tuple(name for name in vars(Callback) if name.startswith("on_"))


class CallbackList:
    """Calls a hook on every callback in order; ``fit`` builds it with the progress bar and ``History``.

    Args:
        callbacks: the user's callbacks.
        model: the model (given to every callback).
        add_history: append a :class:`History` (its instance is ``self.history``).
        add_progbar: prepend a :class:`ProgbarLogger`.
        **params: the run parameters (``verbose``, ``epochs``, ``steps``).

    Example:
        >>> calls = []
        >>> hooks = CallbackList([LambdaCallback(on_epoch_end=lambda epoch, logs: calls.append(epoch))], epochs=1)
        >>> hooks.on_epoch_end(0, {"loss": 1.0}); calls
        [0]
    """

    def __init__(
        self,
        callbacks: Iterable[Callback] | None = None,
        model: Any = None,
        add_history: bool = False,
        add_progbar: bool = False,
        **params: Any,
    ) -> None:
        self.callbacks = list(callbacks or [])
        for callback in self.callbacks:
            if not isinstance(callback, Callback):
                raise ValueError(
                    f"Argument `callbacks` must hold birnn.callbacks.Callback instances, received: {callback!r}"
                )
        self.history = History() if add_history else None
        if add_progbar:
            self.callbacks.insert(0, ProgbarLogger())
        if self.history is not None:
            self.callbacks.append(self.history)
        for callback in self.callbacks:
            if model is not None:
                callback.set_model(model)
            callback.set_params(dict(params))

    def __getattr__(self, name: str) -> Callable[..., None]:
        if name not in _HOOKS:
            raise AttributeError(name)

        def dispatch(*args: Any, **kwargs: Any) -> None:
            for callback in self.callbacks:
                getattr(callback, name)(*args, **kwargs)

        return dispatch


class History(Callback):
    """Records the epoch logs: ``history.history["loss"]`` is the list of epoch losses (``fit`` returns it).

    Example:
        >>> h = History(); h.on_train_begin(); h.on_epoch_end(0, {"loss": 0.5}); h.history
        {'loss': [0.5]}
    """

    def __init__(self) -> None:
        super().__init__()
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self.epoch = []

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        self.epoch.append(epoch)
        for name, value in (logs or {}).items():
            self.history.setdefault(name, []).append(value)


class ProgbarLogger(Callback):
    """Prints the Keras progress bar (added by ``fit``/``evaluate``/``predict`` when ``verbose`` is not 0).

    Inside ``fit`` the validation run is silent; ``"Epoch i/n"`` headers appear when ``epochs > 1``.

    Example:
        >>> ProgbarLogger().verbose
        1
    """

    def __init__(self) -> None:
        super().__init__()
        self.verbose = 1
        self.epochs = 1
        self.target: int | None = None
        self.progbar: Progbar | None = None
        self.seen = 0
        self._in_fit = False

    def set_params(self, params: dict[str, Any]) -> None:
        verbose = params.get("verbose", 1)
        self.verbose = 1 if verbose == "auto" else int(verbose)
        self.epochs = params.get("epochs", 1)
        self.target = params.get("steps")

    def _start(self) -> None:
        self.seen = 0
        self.progbar = Progbar(self.target, verbose=self.verbose)

    def _update(self, batch: int, logs: Logs | None) -> None:
        if self.progbar is None:
            self._start()
        self.seen = batch + 1
        if self.verbose == 1:
            assert self.progbar is not None
            self.progbar.update(self.seen, list((logs or {}).items()), finalize=False)

    def _finish(self, logs: Logs | None) -> None:
        if self.progbar is None:
            self._start()
        assert self.progbar is not None
        if self.progbar.target is None:
            self.progbar.target = self.seen
        self.progbar.update(self.progbar.target, list((logs or {}).items()), finalize=True)

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self._in_fit = True

    def on_train_end(self, logs: Logs | None = None) -> None:
        self._in_fit = False

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        self._start()
        if self.verbose and self.epochs > 1:
            print(f"Epoch {epoch + 1}/{self.epochs}", flush=True)

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        self._update(batch, logs)

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        self._finish(logs)

    def on_test_begin(self, logs: Logs | None = None) -> None:
        if not self._in_fit:
            self._start()

    def on_test_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        if not self._in_fit:
            self._update(batch, logs)

    def on_test_end(self, logs: Logs | None = None) -> None:
        if not self._in_fit:
            self._finish(logs)

    def on_predict_begin(self, logs: Logs | None = None) -> None:
        self._start()

    def on_predict_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        self._update(batch, None)

    def on_predict_end(self, logs: Logs | None = None) -> None:
        self._finish(None)


class _MonitorCallback(Callback):
    """Shared logic of callbacks that watch one logged value (``monitor``) for improvement.

    ``mode="auto"`` minimises losses and follows a compiled metric's ``direction``; Keras raises
    when it cannot tell, and so does this class.
    """

    def __init__(
        self, monitor: str = "val_loss", mode: str = "auto", baseline: float | None = None, min_delta: float = 0.0
    ) -> None:
        super().__init__()
        if mode not in ("auto", "min", "max"):
            raise ValueError(
                f"Argument `mode` of {type(self).__name__} must be 'auto', 'min' or 'max', received: mode={mode!r}"
            )
        self.monitor = monitor
        self.mode = mode
        self.best: float | None = baseline
        self.min_delta = abs(min_delta)
        self._sign: int | None = None  # -1: lower is better, +1: higher is better

    def _direction(self) -> int:
        if self.mode != "auto":
            return -1 if self.mode == "min" else 1
        name = self.monitor.removeprefix("val_")
        if name == "loss" or name.endswith("_loss"):
            return -1
        direction = next((m.direction for m in self.model.metrics if m.name == name), None)
        if direction is None:
            raise ValueError(
                f"{type(self).__name__} callback received monitor={self.monitor}, but birnn cannot tell whether that "
                "metric should be maximized or minimized. Pass `mode='max'` or `mode='min'`."
            )
        return 1 if direction == "up" else -1

    def _is_improvement(self, value: float, reference: float | None) -> bool:
        if self._sign is None:
            self._sign = self._direction()
        if reference is None:
            return True
        return (value - reference) * self._sign > self.min_delta

    def _monitored(self, logs: Logs | None, what: str) -> float | None:
        value = (logs or {}).get(self.monitor)
        if value is None:
            warnings.warn(
                f"{what} conditioned on metric `{self.monitor}` which is not available. "
                f"Available metrics are: {','.join(logs or {})}",
                stacklevel=3,
            )
        return value


class EarlyStopping(_MonitorCallback):
    """Stop training when ``monitor`` has not improved for ``patience`` epochs.

    Args:
        monitor: logged value to watch (default ``"val_loss"``).
        min_delta: smallest change that counts as an improvement.
        patience: epochs without improvement before stopping.
        verbose: 1 prints when it stops and when it restores weights.
        mode: ``"auto"``, ``"min"`` or ``"max"``.
        baseline: a value the monitor must beat; the wait only resets when it is beaten.
        restore_best_weights: at the end of training, load the weights of the best epoch.
        start_from_epoch: epochs to wait before monitoring.

    Example:
        >>> EarlyStopping(patience=3).patience
        3
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        min_delta: float = 0.0,
        patience: int = 0,
        verbose: int = 0,
        mode: str = "auto",
        baseline: float | None = None,
        restore_best_weights: bool = False,
        start_from_epoch: int = 0,
    ) -> None:
        super().__init__(monitor, mode, min_delta=min_delta)
        self.patience = patience
        self.verbose = verbose
        self.baseline = baseline
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = start_from_epoch
        self.wait = 0
        self.stopped_epoch = 0
        self.best_epoch = 0
        self.best_weights: list[Any] | None = None

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self.wait, self.stopped_epoch, self.best_epoch = 0, 0, 0
        self.best, self.best_weights = None, None

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        current = self._monitored(logs, "Early stopping")
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights, self.best_epoch = self.model.get_weights(), epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best, self.best_epoch = current, epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs: Logs | None = None) -> None:
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)


def _atomic_write(path: str, write: Callable[[str], None]) -> None:
    """Call ``write(temporary_path)`` in ``path``'s folder, then move the result onto ``path`` atomically.

    The temporary name ends with ``path``'s own name so format checks on the suffix still pass.
    """
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".tmp-", suffix="-" + os.path.basename(path), dir=folder)
    os.close(handle)
    os.remove(temporary)
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


class ModelCheckpoint(_MonitorCallback):
    """Save the model (or its weights) after every epoch, or every ``save_freq`` batches; never half-written.

    Files are written to a temporary name in the target folder and moved into place with
    ``os.replace``, so a crash never leaves a truncated checkpoint. Formats by file name:

    * ``*.pt`` (e.g. ``ckpt.weights.pt``): ``torch.save(model.state_dict())``;
    * anything else: ``model.save_weights(path)`` when ``save_weights_only`` else ``model.save(path)``;
      birnn models write the Keras formats there (``.weights.h5`` / ``.keras``, see ``birnn.saving``).
      A model without that method raises ``ValueError`` when training starts.

    Args:
        filepath: target path; may contain ``{epoch}`` (1-based), ``{batch}`` and logged names,
            e.g. ``"ckpt-{epoch:02d}-{val_loss:.2f}.pt"``.
        monitor: logged value for ``save_best_only``.
        verbose: 1 prints a line per save.
        save_best_only: only save when ``monitor`` improves.
        save_weights_only: save weights rather than the whole model.
        mode: ``"auto"``, ``"min"`` or ``"max"``.
        save_freq: ``"epoch"`` or a number of batches.
        initial_value_threshold: a value the monitor must beat before the first save.

    Example:
        >>> ModelCheckpoint("best.weights.pt", save_best_only=True).save_best_only
        True
    """

    def __init__(
        self,
        filepath: str | os.PathLike[str],
        monitor: str = "val_loss",
        verbose: int = 0,
        save_best_only: bool = False,
        save_weights_only: bool = False,
        mode: str = "auto",
        save_freq: str | int = "epoch",
        initial_value_threshold: float | None = None,
    ) -> None:
        super().__init__(monitor, mode, baseline=initial_value_threshold)
        if save_freq != "epoch" and not (isinstance(save_freq, int) and save_freq > 0):
            raise ValueError(
                f"Unrecognized save_freq: {save_freq!r}. Expected save_freq are 'epoch' or a positive integer."
            )
        self.filepath = os.fspath(filepath)
        self.verbose = verbose
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        self.save_freq = save_freq
        self._epoch = 0
        self._batches_since_save = 0

    def set_model(self, model: Any) -> None:
        super().set_model(model)
        if not self.filepath.endswith(".pt"):
            method = "save_weights" if self.save_weights_only else "save"
            if not callable(getattr(model, method, None)):
                raise ValueError(
                    f"ModelCheckpoint(filepath={self.filepath!r}) needs `model.{method}(path)`, which "
                    f"{type(model).__name__} does not have. Use a filepath ending in '.pt' (torch.save of the "
                    "state_dict) instead."
                )

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        if self.save_freq == "epoch":
            return
        self._batches_since_save += 1
        if self._batches_since_save >= self.save_freq:
            self._batches_since_save = 0
            self._save(self._epoch, batch, logs)

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        if self.save_freq == "epoch":
            self._save(epoch, None, logs)

    def _path(self, epoch: int, batch: int | None, logs: Logs | None) -> str:
        fields = {**(logs or {}), "epoch": epoch + 1}
        if batch is not None:
            fields["batch"] = batch + 1
        try:
            return self.filepath.format(**fields)
        except KeyError as error:
            raise KeyError(f'Failed to format this callback filepath: "{self.filepath}". Reason: {error}') from error

    def _should_save(self, epoch: int, path: str, logs: Logs | None) -> bool:
        if not self.save_best_only:
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: saving model to {path}")
            return True
        current = self._monitored(logs, "Saving the best model")
        if current is None:
            return True
        best = "None" if self.best is None else f"{self.best:.5f}"
        if self._is_improvement(current, self.best):
            if self.verbose > 0:
                print(
                    f"\nEpoch {epoch + 1}: {self.monitor} improved from {best} to {current:.5f}, saving model to {path}"
                )
            self.best = current
            return True
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {best}")
        return False

    def _save(self, epoch: int, batch: int | None, logs: Logs | None) -> None:
        path = self._path(epoch, batch, logs)
        if os.path.isdir(path):
            raise OSError(
                "Please specify a non-directory filepath for ModelCheckpoint. "
                f"Filepath used is an existing directory: {path}"
            )
        if not self._should_save(epoch, path, logs):
            return
        if path.endswith(".pt"):
            _atomic_write(path, lambda target: torch.save(self.model.state_dict(), target))
        elif self.save_weights_only:
            _atomic_write(path, lambda target: self.model.save_weights(target))
        else:
            _atomic_write(path, lambda target: self.model.save(target))


class ReduceLROnPlateau(_MonitorCallback):
    """Multiply the learning rate by ``factor`` when ``monitor`` stops improving for ``patience`` epochs.

    The current rate is logged as ``learning_rate`` every epoch.

    Args:
        monitor: logged value to watch. factor: multiplier (< 1). patience: epochs to wait.
        verbose: 1 prints each reduction. mode: ``"auto"``, ``"min"``, ``"max"``.
        min_delta: smallest change that counts as an improvement.
        cooldown: epochs to wait after a reduction before counting again.
        min_lr: lower bound of the learning rate.

    Example:
        >>> ReduceLROnPlateau(factor=0.5).factor
        0.5
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        factor: float = 0.1,
        patience: int = 10,
        verbose: int = 0,
        mode: str = "auto",
        min_delta: float = 1e-4,
        cooldown: int = 0,
        min_lr: float = 0.0,
    ) -> None:
        super().__init__(monitor, mode, min_delta=min_delta)
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau does not support a factor >= 1.0. Received factor={factor}")
        self.factor = factor
        self.patience = patience
        self.verbose = verbose
        self.cooldown = cooldown
        self.min_lr = min_lr
        self.wait = 0
        self.cooldown_counter = 0

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self.best, self.wait, self.cooldown_counter = None, 0, 0

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        optimizer = self.model.optimizer
        if logs is not None:
            logs["learning_rate"] = optimizer.learning_rate
        current = self._monitored(logs, "Learning rate reduction")
        if current is None:
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._is_improvement(current, self.best):
            self.best, self.wait = current, 0
        elif self.cooldown_counter <= 0:
            self.wait += 1
            if self.wait >= self.patience and optimizer.learning_rate > self.min_lr:
                new_lr = max(optimizer.learning_rate * self.factor, self.min_lr)
                optimizer.learning_rate = new_lr
                if self.verbose > 0:
                    print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new_lr}.")
                self.cooldown_counter, self.wait = self.cooldown, 0


class CSVLogger(Callback):
    """Stream the epoch logs to a CSV file: an ``epoch`` column, then the logged names in sorted order.

    Args:
        filename: the CSV file.
        separator: the field separator.
        append: append to an existing file (no second header) instead of overwriting it.

    Example:
        >>> CSVLogger("log.csv").separator
        ','
    """

    def __init__(self, filename: str | os.PathLike[str], separator: str = ",", append: bool = False) -> None:
        super().__init__()
        self.filename = os.fspath(filename)
        self.separator = separator
        self.append = append
        self.keys: list[str] | None = None
        self._file: TextIO | None = None
        self._writer: csv.DictWriter[str] | None = None
        self._write_header = True

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self._write_header = True
        if self.append and os.path.exists(self.filename):
            with open(self.filename) as existing:
                self._write_header = not existing.readline()
        # The file stays open from on_train_begin to on_train_end, so no `with` block.
        self._file = open(self.filename, "a" if self.append else "w", newline="")  # noqa: SIM115
        self.keys, self._writer = None, None

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
            if self.keys and not any(k.startswith("val_") for k in self.keys):
                self.keys += [f"val_{k}" for k in self.keys]
        if self._writer is None:
            assert self._file is not None
            self._writer = csv.DictWriter(self._file, fieldnames=["epoch", *self.keys], delimiter=self.separator)
            if self._write_header:
                self._writer.writeheader()
        self._writer.writerow({"epoch": epoch, **{k: logs.get(k, "NA") for k in self.keys}})
        assert self._file is not None
        self._file.flush()

    def on_train_end(self, logs: Logs | None = None) -> None:
        if self._file is not None:
            self._file.close()
        self._file, self._writer = None, None


class TerminateOnNaN(Callback):
    """Stop training as soon as a batch loss is NaN or infinite.

    Args:
        raise_error: raise ``RuntimeError`` immediately instead of stopping gracefully.

    Example:
        >>> TerminateOnNaN().raise_error
        False
    """

    def __init__(self, raise_error: bool = False) -> None:
        super().__init__()
        self.raise_error = raise_error

    def on_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is None or math.isfinite(loss):
            return
        if self.raise_error:
            raise RuntimeError(
                f"NaN or Inf loss encountered at batch {batch}. Loss value: {loss}. Terminating training immediately."
            )
        print(f"Batch {batch}: Invalid loss, terminating training")
        self.model.stop_training = True


class LambdaCallback(Callback):
    """A callback made of plain functions, e.g. ``LambdaCallback(on_epoch_end=lambda epoch, logs: ...)``.

    Args:
        on_epoch_begin, on_epoch_end: ``f(epoch, logs)``.
        on_train_begin, on_train_end: ``f(logs)``.
        on_train_batch_begin, on_train_batch_end: ``f(batch, logs)``.
        **kwargs: any other hook by name (``on_batch_end=...``, ``on_test_end=...``).

    Example:
        >>> seen = []
        >>> LambdaCallback(on_train_begin=lambda logs: seen.append("start")).on_train_begin(); seen
        ['start']
    """

    def __init__(
        self,
        on_epoch_begin: Callable[..., Any] | None = None,
        on_epoch_end: Callable[..., Any] | None = None,
        on_train_begin: Callable[..., Any] | None = None,
        on_train_end: Callable[..., Any] | None = None,
        on_train_batch_begin: Callable[..., Any] | None = None,
        on_train_batch_end: Callable[..., Any] | None = None,
        **kwargs: Callable[..., Any],
    ) -> None:
        super().__init__()
        hooks = {
            "on_epoch_begin": on_epoch_begin,
            "on_epoch_end": on_epoch_end,
            "on_train_begin": on_train_begin,
            "on_train_end": on_train_end,
            "on_train_batch_begin": on_train_batch_begin,
            "on_train_batch_end": on_train_batch_end,
            **kwargs,
        }
        for name, function in hooks.items():
            if name not in _HOOKS:
                raise ValueError(f"LambdaCallback got an unknown hook {name!r}; known hooks: {', '.join(_HOOKS)}")
            if function is not None:
                setattr(self, name, _positional(function, takes_index="batch" in name or "epoch" in name))


def _positional(function: Callable[..., Any], takes_index: bool) -> Callable[..., Any]:
    """Adapt a user function to a hook: it always receives ``(index, logs)`` or ``(logs)`` positionally."""
    count = 1 if takes_index else 0

    def hook(*args: Any, logs: Logs | None = None) -> Any:
        if len(args) > count:
            args, logs = args[:count], args[count]
        return function(*args, logs)

    return hook
