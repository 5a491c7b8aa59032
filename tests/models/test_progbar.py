"""The Keras-style progress output of fit / evaluate / predict for verbose 0, 1 and 2."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest

import birnn
from birnn.layers import Dense, Input
from birnn.models._progbar import Progbar, format_value

BAR = "━" * 20
TIME = r"\d+(s|ms|us)/step"


def _model():
    model = birnn.Sequential([Input(shape=(3,)), Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


X = np.random.default_rng(0).random((10, 3)).astype("float32")
Y = np.arange(10) % 2


def _lines(capsys):
    return capsys.readouterr().out.splitlines()


def test_fit_verbose_0_is_silent(capsys):
    _model().fit(X, Y, epochs=2, verbose=0, validation_split=0.2)
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("verbose", [1, "auto"])
def test_fit_verbose_1_bar_per_epoch(capsys, verbose):
    history = _model().fit(X, Y, batch_size=4, epochs=2, verbose=verbose, validation_split=0.2)
    lines = _lines(capsys)
    assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2" and len(lines) == 4
    for epoch, line in enumerate(lines[1::2]):
        h = {k: v[epoch] for k, v in history.history.items()}
        metrics = " - ".join(
            f"{name}: {re.escape(format_value(h[name]))}" for name in ("accuracy", "loss", "val_accuracy", "val_loss")
        )
        assert re.fullmatch(rf"2/2 {BAR} \d+s {TIME} - {metrics}", line), line


def test_fit_verbose_2_one_line_per_epoch(capsys):
    history = _model().fit(X, Y, batch_size=4, epochs=2, verbose=2)
    lines = _lines(capsys)
    assert lines[0::2] == ["Epoch 1/2", "Epoch 2/2"]
    for epoch, line in enumerate(lines[1::2]):
        loss = history.history["loss"][epoch]
        assert re.fullmatch(rf"3/3 - \d+s - {TIME} - accuracy: \d\.\d{{4}} - loss: {loss:.4f}", line), line


def test_single_epoch_has_no_header_and_evaluate_predict_bars(capsys):
    model = _model()
    model.fit(X, Y, batch_size=10, verbose=1)
    assert re.fullmatch(rf"1/1 {BAR} \d+s {TIME} - accuracy: \d\.\d{{4}} - loss: \d\.\d{{4}}", _lines(capsys)[0])
    loss, accuracy = model.evaluate(X, Y, batch_size=4, verbose=1)
    (line,) = _lines(capsys)
    assert re.fullmatch(
        rf"3/3 {BAR} \d+s {TIME} - accuracy: {re.escape(format_value(accuracy))} - loss: {loss:.4f}", line
    )
    model.evaluate(X, Y, verbose=2)
    assert re.fullmatch(rf"1/1 - \d+s - {TIME} - accuracy: \d\.\d{{4}} - loss: \d\.\d{{4}}", _lines(capsys)[0])
    model.predict(X, batch_size=3, verbose=1)
    assert re.fullmatch(rf"4/4 {BAR} \d+s {TIME}", _lines(capsys)[0])
    model.predict(X, verbose=0)
    assert capsys.readouterr().out == ""


def test_terminal_redraws_in_place_with_colours():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    out = Terminal()
    bar = Progbar(4, stream=out, interval=0.0)
    bar.update(1, [("loss", 0.5)])
    bar.update(4, [("loss", 0.25)])
    text = out.getvalue()
    assert text.startswith("\r1/4 \x1b[32m━━━━━\x1b[0m\x1b[37m" + "━" * 15 + "\x1b[0m ")
    assert text.count("\r") == 2 and text.endswith(" - loss: 0.2500\n")


def test_small_values_use_scientific_notation():
    out = io.StringIO()
    Progbar(1, verbose=2, stream=out).update(1, [("loss", 0.0001)])
    assert out.getvalue().endswith("- loss: 1.0000e-04\n")
