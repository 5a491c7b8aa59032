"""Bad input: each a ValueError naming the argument and what was received, before any training step."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import birnn
from birnn.layers import LSTM, Bidirectional, Dense, Input


def _seed_model(compile=True):
    model = birnn.Sequential([Input(shape=(5, 10)), Bidirectional(LSTM(4)), Dense(5, activation="softmax")])
    if compile:
        model.compile(loss="categorical_crossentropy", optimizer="rmsprop")
    return model


X = np.random.default_rng(0).random((10, 5, 10)).astype("float32")
Y = np.eye(5, dtype="float32")[np.arange(10) % 5]


class Recorder(birnn.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.calls = []

    def on_train_begin(self, logs=None):
        self.calls.append("train_begin")


FIT_CASES = [
    (
        "length",
        dict(x=X, y=Y[:9]),
        r"Arguments `x`, `y` and `sample_weight` must have the same number of samples: x has 10 \(shape \(10, 5, 10\)\), y has 9 \(shape \(9, 5\)\).",
    ),
    (
        "weight-length",
        dict(x=X, y=Y, sample_weight=np.ones(3)),
        r"x has 10 .*, y has 10 .*, sample_weight has 3 \(shape \(3,\)\)",
    ),
    (
        "rank",
        dict(x=X[:, 0], y=Y),
        r"Argument `x` has shape \(10, 10\), but model 'sequential' expects inputs of shape \(None, 5, 10\)",
    ),
    (
        "features",
        dict(x=X[..., :3], y=Y),
        r"Argument `x` has shape \(10, 5, 3\), but model 'sequential' expects inputs of shape \(None, 5, 10\)",
    ),
    (
        "sparse-labels",
        dict(x=X, y=np.arange(10) % 5),
        r"Loss 'categorical_crossentropy' needs one-hot labels `y` with the shape of the model output \(None, 5\); received y.shape=\(10,\). For integer class labels use loss='sparse_categorical_crossentropy'.",
    ),
    ("label-width", dict(x=X, y=Y[:, :3]), r"received y.shape=\(10, 3\)"),
    ("no-labels", dict(x=X), r"Argument `y` \(the labels\) is required to compute the compiled loss, received y=None."),
    ("no-x", dict(y=Y), r"fit\(\) needs input data `x`, received x=None"),
    (
        "batch-size",
        dict(x=X, y=Y, batch_size=0),
        r"Argument `batch_size` must be a positive integer, received: batch_size=0",
    ),
    ("verbose", dict(x=X, y=Y, verbose=3), r"Argument `verbose` must be 'auto', 0, 1 or 2, received: verbose=3"),
    (
        "split",
        dict(x=X, y=Y, validation_split=1.0),
        r"Argument `validation_split` must be in \[0, 1\), received: validation_split=1.0",
    ),
    (
        "weights-both",
        dict(x=X, y=Y, sample_weight=np.ones(10), class_weight={0: 1.0}),
        r"You cannot use `class_weight` and `sample_weight` at the same time.",
    ),
    (
        "class-weight-type",
        dict(x=X, y=Y, class_weight=[1.0, 2.0]),
        r"Argument `class_weight` must be a dict \{class index: weight\}, received: \[1.0, 2.0\]",
    ),
    (
        "validation-form",
        dict(x=X, y=Y, validation_data=(X,)),
        r"Argument `validation_data` must be a tuple \(x_val, y_val\) .* received: tuple of length 1",
    ),
    (
        "validation-labels",
        dict(x=X, y=Y, validation_data=(X, np.zeros(10))),
        r"needs one-hot labels `y` .* received y.shape=\(10,\)",
    ),
    ("validation-length", dict(x=X, y=Y, validation_data=(X, Y[:2])), r"x has 10 \(shape \(10, 5, 10\)\), y has 2"),
    (
        "split-loader",
        dict(x=DataLoader(TensorDataset(torch.as_tensor(X), torch.as_tensor(Y))), validation_split=0.5),
        r"Argument `validation_split` is only supported for arrays and tensors, received a DataLoader",
    ),
    (
        "loader-with-y",
        dict(x=DataLoader(TensorDataset(torch.as_tensor(X))), y=Y),
        r"Argument `y` must be None when `x` is a DataLoader \(the loader yields it\), received y of type ndarray",
    ),
    (
        "object-array",
        dict(x=np.array([[1], "a"], dtype=object), y=Y),
        r"Argument `x` must be an array or tensor of numbers, received an object array",
    ),
]


@pytest.mark.parametrize("kwargs, message", [c[1:] for c in FIT_CASES], ids=[c[0] for c in FIT_CASES])
def test_fit_rejects_before_training(kwargs, message):
    model = _seed_model()
    before = model.get_weights()
    recorder = Recorder()
    with pytest.raises(ValueError, match=message):
        model.fit(**{"verbose": 0, **kwargs}, callbacks=[recorder])
    assert recorder.calls == []
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("method", ["fit", "evaluate", "train_on_batch", "test_on_batch"])
def test_methods_before_compile(method):
    model = _seed_model(compile=False)
    with pytest.raises(
        ValueError,
        match=rf"You must call `compile\(\)` before using `{method}\(\)` on model 'sequential': received no optimizer and no loss.",
    ):
        getattr(model, method)(X, Y)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            dict(optimizer="adamm", loss="mse"),
            r"Invalid argument `optimizer` of compile\(\): received optimizer='adamm'. Unknown optimizer 'adamm'",
        ),
        (
            dict(optimizer="adam", loss="categorical_crossentropyy"),
            r"Invalid argument `loss` of compile\(\): received loss='categorical_crossentropyy'. Unknown loss",
        ),
        (
            dict(optimizer="adam", loss="mse", metrics=["acuracy"]),
            r"Invalid argument `metrics` of compile\(\): received 'acuracy'. Unknown metric 'acuracy'",
        ),
        (
            dict(optimizer="adam", loss="mse", metrics="accuracy"),
            r"Argument `metrics` of compile\(\) must be a list, received: metrics='accuracy'",
        ),
        (dict(optimizer="adam", loss=None), r"compile\(\) needs a `loss` .* received loss=None"),
        (
            dict(optimizer="adam", loss="mse", loss_weights="x"),
            r"Argument `loss_weights` of compile\(\) must be a float or a list of floats, received: 'x'",
        ),
    ],
)
def test_compile_rejects_unknown_names(kwargs, message):
    with pytest.raises(ValueError, match=message):
        _seed_model(compile=False).compile(**kwargs)


def test_evaluate_and_predict_check_inputs():
    model = _seed_model()
    with pytest.raises(ValueError, match=r"Argument `x` has shape \(10, 5, 3\)"):
        model.evaluate(X[..., :3], Y, verbose=0)
    with pytest.raises(ValueError, match=r"Argument `x` has shape \(10, 5\)"):
        model.predict(X[..., 0], verbose=0)
    with pytest.raises(ValueError, match=r"needs one-hot labels `y`"):
        model.train_on_batch(X, np.zeros(10))


def test_dataloader_and_subclassed_models_fail_before_the_first_update():
    """Without static shapes the check runs on the first batch, after the forward pass, before any update."""

    class Free(birnn.Model):
        def __init__(self):
            super().__init__()
            self.dense = Dense(5, activation="softmax")

        def call(self, inputs):
            return self.dense(inputs)

    subclassed = Free()
    subclassed.compile(optimizer="sgd", loss="categorical_crossentropy")
    subclassed.build((None, 10))
    before = subclassed.get_weights()
    with pytest.raises(ValueError, match=r"received y.shape=\(10, 3\)"):
        subclassed.fit(X[:, 0], Y[:, :3], verbose=0)
    loader = DataLoader(TensorDataset(torch.as_tensor(X[..., :3]), torch.as_tensor(Y)), batch_size=5)
    model = _seed_model()
    with pytest.raises(
        ValueError,
        match=r"Argument `x` has shape \(5, 5, 3\), but model 'sequential' expects inputs of shape \(None, 5, 10\)",
    ):
        model.fit(loader, verbose=0)
    for a, b in zip(before, subclassed.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_multi_output_structure_errors():
    class Two(birnn.Model):
        def __init__(self):
            super().__init__()
            self.a, self.b = Dense(1), Dense(1)

        def call(self, inputs):
            return self.a(inputs), self.b(inputs)

    model = Two()
    model.compile(optimizer="sgd", loss=["mse", "mse", "mse"])
    with pytest.raises(ValueError, match=r"Argument `loss` must hold one entry per model output \(2\), received 3."):
        model.train_on_batch(np.ones((2, 3)), [np.ones((2, 1)), np.ones((2, 1))])
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    with pytest.raises(ValueError, match=r"For a model with 2 outputs, pass `metrics` as a list of lists"):
        model.train_on_batch(np.ones((2, 3)), [np.ones((2, 1)), np.ones((2, 1))])
    with pytest.raises(ValueError, match=r"Argument `y` must hold one entry per model output \(2\), received 1."):
        model.compile(optimizer="sgd", loss="mse")
        model.train_on_batch(np.ones((2, 3)), np.ones((2, 1)))


@pytest.mark.parametrize("method", ["train_on_batch", "test_on_batch", "predict_on_batch"])
def test_single_batch_methods_reject_dataloaders(method):
    loader = DataLoader(TensorDataset(torch.as_tensor(X), torch.as_tensor(Y)))
    with pytest.raises(
        ValueError,
        match=rf"Argument `x` of {method}\(\) must be an array, a tensor or a list of them, received a DataLoader.",
    ):
        getattr(_seed_model(), method)(loader)
