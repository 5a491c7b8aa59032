"""fit / evaluate / predict / *_on_batch: data forms, splits, weights, epochs and steps, return forms."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import birnn
from birnn.layers import Dense, Input


def _model(metrics=None):
    model = birnn.Sequential([Input(shape=(3,)), Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=metrics)
    return model


def _data(n=20):
    rng = np.random.default_rng(0)
    return rng.random((n, 3)).astype("float32"), rng.integers(0, 2, n)


def test_numpy_and_tensor_inputs_agree():
    x, y = _data()
    a, b = _model(), _model()
    b.set_weights(a.get_weights())
    ha = a.fit(x, y, batch_size=5, epochs=2, shuffle=False, verbose=0)
    hb = b.fit(torch.as_tensor(x), torch.as_tensor(y), batch_size=5, epochs=2, shuffle=False, verbose=0)
    np.testing.assert_allclose(ha.history["loss"], hb.history["loss"], rtol=1e-6)
    assert ha.params == {"verbose": 0, "epochs": 2, "steps": 4} and ha.epoch == [0, 1]
    assert a.history is ha


def test_dataloader_training_and_validation():
    x, y = _data()
    loader = DataLoader(TensorDataset(torch.as_tensor(x), torch.as_tensor(y)), batch_size=5)
    arrays, loaded = _model(["accuracy"]), _model(["accuracy"])
    loaded.set_weights(arrays.get_weights())
    expected = arrays.fit(x, y, batch_size=5, epochs=2, shuffle=False, verbose=0, validation_data=(x, y)).history
    received = loaded.fit(loader, epochs=2, verbose=0, validation_data=loader).history
    for name in expected:
        np.testing.assert_allclose(received[name], expected[name], rtol=1e-5)
    weighted = DataLoader(TensorDataset(torch.as_tensor(x), torch.as_tensor(y), torch.ones(20)), batch_size=10)
    assert loaded.evaluate(weighted, verbose=0)[0] == pytest.approx(loaded.evaluate(x, y, verbose=0)[0], rel=1e-6)
    assert loaded.predict(DataLoader(TensorDataset(torch.as_tensor(x)), batch_size=7), verbose=0).shape == (20, 2)


def test_validation_split_takes_the_tail():
    x, y = _data()
    model = _model()
    history = model.fit(x, y, batch_size=4, epochs=1, validation_split=0.25, shuffle=False, verbose=0)
    assert history.params["steps"] == 4  # 15 training samples
    assert history.history["val_loss"][0] == pytest.approx(model.evaluate(x[15:], y[15:], verbose=0), rel=1e-6)


def test_initial_epoch_and_steps_per_epoch():
    x, y = _data()
    model = _model()
    history = model.fit(x, y, batch_size=8, epochs=4, initial_epoch=2, verbose=0)
    assert history.epoch == [2, 3]
    steps = []
    callback = birnn.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: steps.append(batch))
    model.fit(x, y, batch_size=8, epochs=2, steps_per_epoch=5, callbacks=[callback], verbose=0)
    assert steps == [0, 1, 2, 3, 4] * 2  # batches continue across the data's end


def test_class_and_sample_weights():
    x, y = _data()
    model = _model()
    zero_for_class_1 = model.evaluate(x, y, sample_weight=(y == 0).astype("float32"), verbose=0)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    before = model.get_weights()
    model.fit(x, y, class_weight={0: 0.0, 1: 0.0}, epochs=1, verbose=0)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)  # every sample weighs 0: nothing learned
    assert zero_for_class_1 > 0


def test_return_forms():
    x, y = _data(6)
    plain, with_metrics = _model(), _model(["accuracy", "sparse_categorical_crossentropy"])
    assert isinstance(plain.evaluate(x, y, verbose=0), float)
    assert isinstance(plain.train_on_batch(x, y), float)
    values = with_metrics.evaluate(x, y, verbose=0)
    assert isinstance(values, list) and len(values) == 3
    logs = with_metrics.test_on_batch(x, y, return_dict=True)
    assert list(logs) == ["accuracy", "loss", "sparse_categorical_crossentropy"]
    assert logs["loss"] == pytest.approx(values[0]) and logs["accuracy"] == pytest.approx(values[1])
    assert logs["loss"] == pytest.approx(logs["sparse_categorical_crossentropy"], rel=1e-6)
    predictions = plain.predict_on_batch(x)
    assert isinstance(predictions, np.ndarray) and predictions.shape == (6, 2)
    np.testing.assert_allclose(plain.predict(x, batch_size=4, verbose=0), predictions, rtol=1e-6)


def test_stop_training_stops_mid_epoch():
    x, y = _data()
    model = _model()

    def stop(batch, logs):
        if batch == 1:
            model.stop_training = True

    batches = []
    history = model.fit(
        x,
        y,
        batch_size=2,
        epochs=3,
        verbose=0,
        callbacks=[
            birnn.callbacks.LambdaCallback(
                on_train_batch_begin=lambda batch, logs: batches.append(batch), on_train_batch_end=stop
            )
        ],
    )
    assert batches == [0, 1] and history.epoch == [0]


def test_compile_accepts_objects():
    x, y = _data()
    model = birnn.Sequential([Input(shape=(3,)), Dense(2)])
    model.compile(
        optimizer=birnn.optimizers.SGD(learning_rate=0.1, momentum=0.9),
        loss=birnn.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[birnn.metrics.SparseCategoricalAccuracy(name="acc"), lambda y_true, y_pred: y_pred.mean(-1)],
    )
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert sorted(logs) == ["<lambda>", "acc", "loss"]
    torch_model = birnn.Sequential([Input(shape=(3,)), Dense(2)])
    torch_model.compile(optimizer=torch.optim.SGD(torch_model.parameters(), lr=0.1), loss="mse")
    torch_model.fit(x, np.zeros((20, 2)), verbose=0)


def test_frozen_model_warns_and_stays_unchanged():
    x, y = _data()
    model = _model()
    model.trainable = False
    before = model.get_weights()
    with pytest.warns(UserWarning, match=r"Model 'sequential' has no trainable weights: fit\(\) leaves it unchanged."):
        model.fit(x, y, verbose=0)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
