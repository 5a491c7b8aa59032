"""birnn.callbacks: each callback's behaviour, against Keras's where a log sequence can drive both."""

from __future__ import annotations

import csv
import math
import os

import numpy as np
import pytest
import torch

import birnn
from birnn import callbacks, saving
from birnn.layers import Dense, Input


class Stub:
    """The part of a model the monitoring callbacks touch."""

    def __init__(self, learning_rate=0.1):
        self.stop_training = False
        self.optimizer = type("Optimizer", (), {"learning_rate": learning_rate})()
        self.weights = 0
        self.restored = None
        self.metrics = []

    def get_weights(self):
        return self.weights

    def set_weights(self, weights):
        self.restored = weights


def _drive(callback, values, monitor="val_loss"):
    """Feed ``values`` as epoch logs; returns the epochs at which ``stop_training`` was set."""
    model = callback.model
    callback.on_train_begin()
    stops = []
    for epoch, value in enumerate(values):
        model.weights = epoch
        callback.on_epoch_end(epoch, {monitor: value, "loss": 1.0})
        if model.stop_training:
            stops.append(epoch)
            break
    callback.on_train_end()
    return stops


def _model(metrics=None):
    model = birnn.Sequential([Input(shape=(3,)), Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=metrics)
    return model


X = np.random.default_rng(0).random((8, 3)).astype("float32")
Y = np.arange(8) % 2

SEQUENCES = [
    [1.0, 0.9, 0.95, 0.96, 0.97, 0.5],
    [1.0, 1.0, 1.0, 1.0],
    [0.5, 0.4, 0.3, 0.2, 0.1],
    [0.3, 0.2, 0.25, 0.19, 0.24, 0.26, 0.27],
]
EARLY_STOPPING = [
    {"patience": 0},
    {"patience": 2},
    {"patience": 1, "min_delta": 0.05},
    {"patience": 2, "baseline": 0.22},
    {"patience": 1, "restore_best_weights": True},
    {"patience": 1, "start_from_epoch": 2, "restore_best_weights": True},
    {"patience": 2, "mode": "max"},
]


@pytest.mark.parametrize("kwargs", EARLY_STOPPING)
@pytest.mark.parametrize("values", SEQUENCES)
def test_early_stopping_matches_keras(keras, kwargs, values):
    ours, theirs = callbacks.EarlyStopping(**kwargs), keras.callbacks.EarlyStopping(**kwargs)
    ours.set_model(Stub())
    theirs.set_model(Stub())
    assert _drive(ours, values) == _drive(theirs, values)
    assert (ours.stopped_epoch, ours.best_epoch, ours.best) == (theirs.stopped_epoch, theirs.best_epoch, theirs.best)
    assert ours.model.restored == theirs.model.restored


REDUCE_LR = [
    {"patience": 1},
    {"patience": 2, "factor": 0.5, "cooldown": 1},
    {"patience": 0, "factor": 0.5, "min_lr": 0.03},
    {"patience": 1, "min_delta": 0.06},
]


@pytest.mark.parametrize("kwargs", REDUCE_LR)
@pytest.mark.parametrize("values", SEQUENCES)
def test_reduce_lr_on_plateau_matches_keras(keras, kwargs, values):
    ours, theirs = callbacks.ReduceLROnPlateau(**kwargs), keras.callbacks.ReduceLROnPlateau(**kwargs)
    ours.set_model(Stub())
    theirs.set_model(Stub())
    rates = []
    for callback in (ours, theirs):
        callback.on_train_begin()
        trace = []
        for epoch, value in enumerate(values):
            logs = {"val_loss": value}
            callback.on_epoch_end(epoch, logs)
            trace.append((logs["learning_rate"], callback.model.optimizer.learning_rate))
        rates.append(trace)
    np.testing.assert_allclose(rates[0], rates[1], rtol=1e-6)


def test_reduce_lr_through_fit_logs_the_rate():
    model = _model()
    history = model.fit(
        X,
        Y,
        epochs=3,
        verbose=0,
        callbacks=[callbacks.ReduceLROnPlateau("loss", factor=0.5, patience=0, min_delta=10.0)],
    )
    assert history.history["learning_rate"] == pytest.approx([0.001, 0.001, 0.0005])  # logged before reducing
    assert model.optimizer.learning_rate == pytest.approx(0.00025)
    with pytest.raises(ValueError, match=r"ReduceLROnPlateau does not support a factor >= 1.0. Received factor=1.5"):
        callbacks.ReduceLROnPlateau(factor=1.5)


def test_early_stopping_restores_best_weights_in_fit(capsys):
    model = _model()
    snapshots = []
    record = callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: snapshots.append(model.get_weights()))
    stop = callbacks.EarlyStopping(monitor="loss", mode="max", patience=1, restore_best_weights=True, verbose=1)
    history = model.fit(X, Y, epochs=10, verbose=0, callbacks=[record, stop])
    assert history.epoch == [0, 1]  # the loss falls, so "max" never improves after epoch 0
    for restored, first in zip(model.get_weights(), snapshots[0]):
        np.testing.assert_array_equal(restored, first)
    assert (
        capsys.readouterr().out
        == "Epoch 2: early stopping\nRestoring model weights from the end of the best epoch: 1.\n"
    )


def test_monitor_direction_from_metrics():
    model = _model(["accuracy"])
    stop = callbacks.EarlyStopping(monitor="val_accuracy", patience=5)
    model.fit(X, Y, epochs=1, verbose=0, validation_data=(X, Y), callbacks=[stop])
    assert stop._sign == 1
    unknown = callbacks.EarlyStopping(monitor="mystery")
    with pytest.raises(ValueError, match=r"EarlyStopping callback received monitor=mystery, but birnn cannot tell"):
        model.fit(
            X,
            Y,
            epochs=1,
            verbose=0,
            callbacks=[callbacks.LambdaCallback(on_epoch_end=lambda e, logs: logs.update(mystery=1.0)), unknown],
        )
    with pytest.warns(
        UserWarning,
        match=r"Early stopping conditioned on metric `val_loss` which is not available. Available metrics are: accuracy,loss",
    ):
        model.fit(X, Y, epochs=1, verbose=0, callbacks=[callbacks.EarlyStopping()])
    with pytest.raises(
        ValueError, match=r"Argument `mode` of EarlyStopping must be 'auto', 'min' or 'max', received: mode='up'"
    ):
        callbacks.EarlyStopping(mode="up")


def test_model_checkpoint_writes_each_epoch(tmp_path):
    model = _model()
    path = tmp_path / "ckpt-{epoch:02d}-{loss:.2f}.pt"
    history = model.fit(X, Y, epochs=2, verbose=0, callbacks=[callbacks.ModelCheckpoint(path)])
    names = sorted(os.listdir(tmp_path))
    assert names == [f"ckpt-{e + 1:02d}-{loss:.2f}.pt" for e, loss in enumerate(history.history["loss"])]
    state = torch.load(tmp_path / names[-1])
    for key, value in model.state_dict().items():
        torch.testing.assert_close(state[key], value)


def test_model_checkpoint_best_only_and_batches(tmp_path, capsys):
    model = _model()
    best = callbacks.ModelCheckpoint(
        tmp_path / "best.weights.pt", monitor="loss", mode="max", save_best_only=True, verbose=1
    )
    model.fit(X, Y, epochs=3, verbose=0, callbacks=[best])
    out = capsys.readouterr().out
    assert out.count("saving model to") == 1 and out.count("loss did not improve from") == 2
    saved = []
    every_two = callbacks.ModelCheckpoint(tmp_path / "b{epoch}-{batch}.pt", save_freq=2)
    every_two._save = lambda epoch, batch, logs: saved.append((epoch, batch))
    model.fit(X, Y, batch_size=2, epochs=2, verbose=0, callbacks=[every_two])
    assert saved == [(0, 1), (0, 3), (1, 1), (1, 3)]
    with pytest.raises(ValueError, match=r"Unrecognized save_freq: 'batch'"):
        callbacks.ModelCheckpoint("x.pt", save_freq="batch")


def test_model_checkpoint_is_atomic(tmp_path, monkeypatch):
    model = _model()
    target = tmp_path / "model.pt"
    target.write_bytes(b"previous checkpoint")
    real_save = torch.save

    def crash(obj, path):
        real_save(obj, path)
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        model.fit(X, Y, epochs=1, verbose=0, callbacks=[callbacks.ModelCheckpoint(target)])
    assert target.read_bytes() == b"previous checkpoint"
    assert os.listdir(tmp_path) == ["model.pt"]


def test_model_checkpoint_keras_formats_use_the_model_methods(tmp_path):
    model = _model()
    model.fit(
        X,
        Y,
        epochs=2,
        verbose=0,
        callbacks=[
            callbacks.ModelCheckpoint(tmp_path / "m-{epoch}.keras"),
            callbacks.ModelCheckpoint(tmp_path / "w.weights.h5", save_weights_only=True),
        ],
    )
    assert sorted(os.listdir(tmp_path)) == ["m-1.keras", "m-2.keras", "w.weights.h5"]
    loaded = saving.load_model(tmp_path / "m-2.keras")
    np.testing.assert_allclose(loaded.predict(X, verbose=0), model.predict(X, verbose=0), rtol=1e-6)
    fresh = _model()
    fresh.load_weights(tmp_path / "w.weights.h5")
    for a, b in zip(fresh.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(
        ValueError,
        match=r"ModelCheckpoint\(filepath='m.keras'\) needs `model.save\(path\)`, which object does not have",
    ):
        callbacks.ModelCheckpoint("m.keras").set_model(object())


def test_csv_logger(tmp_path):
    path = tmp_path / "log.csv"
    model = _model(["accuracy"])
    history = model.fit(X, Y, epochs=2, verbose=0, callbacks=[callbacks.CSVLogger(path)])
    with open(path) as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]
    assert [int(r["epoch"]) for r in rows] == [0, 1] and rows[0]["val_loss"] == "NA"
    assert float(rows[1]["loss"]) == pytest.approx(history.history["loss"][1])
    model.fit(X, Y, epochs=1, verbose=0, callbacks=[callbacks.CSVLogger(path, append=True)])
    with open(path) as handle:
        assert len(list(csv.DictReader(handle))) == 3
    model.fit(X, Y, epochs=1, verbose=0, callbacks=[callbacks.CSVLogger(path, separator=";")])
    with open(path) as handle:
        assert handle.readline().strip() == "epoch;accuracy;loss;val_accuracy;val_loss"


def test_terminate_on_nan(capsys):
    model = _model()
    bad = X.copy()
    bad[0, 0] = np.nan
    history = model.fit(
        bad, Y, batch_size=2, epochs=3, shuffle=False, verbose=0, callbacks=[callbacks.TerminateOnNaN()]
    )
    assert history.epoch == [0] and math.isnan(history.history["loss"][0])
    assert capsys.readouterr().out == "Batch 0: Invalid loss, terminating training\n"
    with pytest.raises(RuntimeError, match=r"NaN or Inf loss encountered at batch 0"):
        model.fit(
            bad, Y, batch_size=2, shuffle=False, verbose=0, callbacks=[callbacks.TerminateOnNaN(raise_error=True)]
        )


def test_lambda_callback_and_hook_order():
    events = []
    hooks = callbacks.LambdaCallback(
        on_train_begin=lambda logs: events.append("train_begin"),
        on_epoch_begin=lambda epoch, logs: events.append(f"epoch_begin {epoch}"),
        on_batch_end=lambda batch, logs: events.append(f"batch_end {batch} {sorted(logs)}"),
        on_test_end=lambda logs: events.append(f"test_end {sorted(logs)}"),
        on_epoch_end=lambda epoch, logs: events.append(f"epoch_end {epoch} {sorted(logs)}"),
        on_train_end=lambda logs: events.append("train_end"),
    )
    _model().fit(X, Y, batch_size=4, epochs=1, verbose=0, validation_data=(X, Y), callbacks=[hooks])
    assert events == [
        "train_begin",
        "epoch_begin 0",
        "batch_end 0 ['loss']",
        "batch_end 1 ['loss']",
        "test_end ['loss']",
        "epoch_end 0 ['loss', 'val_loss']",
        "train_end",
    ]
    with pytest.raises(ValueError, match=r"LambdaCallback got an unknown hook 'on_epoch_ending'"):
        callbacks.LambdaCallback(on_epoch_ending=print)


def test_callback_list_and_history():
    with pytest.raises(
        ValueError, match=r"Argument `callbacks` must hold birnn.callbacks.Callback instances, received: 'stop'"
    ):
        _model().fit(X, Y, verbose=0, callbacks=["stop"])
    model = _model()
    first = model.fit(X, Y, epochs=2, verbose=0)
    second = model.fit(X, Y, epochs=1, verbose=0)
    assert first is not second and model.history is second and len(first.history["loss"]) == 2
    evaluated = []
    model.evaluate(
        X,
        Y,
        verbose=0,
        callbacks=[callbacks.LambdaCallback(on_test_batch_end=lambda batch, logs: evaluated.append(batch))],
    )
    model.predict(
        X,
        batch_size=3,
        verbose=0,
        callbacks=[callbacks.LambdaCallback(on_predict_batch_end=lambda batch, logs: evaluated.append(-batch))],
    )
    assert evaluated == [0, 0, -1, -2]
