"""Training against Keras 3 (torch backend): same initial weights and data, same losses and weights.

This pins the optimizers' defaults and update rules, the loss reductions (masked ones included),
the running means that ``fit`` logs, and the mask flow through ``Sequential``.
"""

from __future__ import annotations

import numpy as np
import pytest

import birnn
from birnn import layers as B

TOL = {"rtol": 1e-4, "atol": 1e-4}


def _seed_models(keras):
    K = keras.layers
    theirs = keras.Sequential(
        [
            keras.Input(shape=(5, 10)),
            K.Bidirectional(K.LSTM(10, return_sequences=True)),
            K.Bidirectional(K.LSTM(10)),
            K.Dense(5, activation="softmax"),
        ]
    )
    ours = birnn.Sequential(
        [
            B.Input(shape=(5, 10)),
            B.Bidirectional(B.LSTM(10, return_sequences=True)),
            B.Bidirectional(B.LSTM(10)),
            B.Dense(5, activation="softmax"),
        ]
    )
    ours.set_weights(theirs.get_weights())
    return ours, theirs


def _seed_data(n=16):
    rng = np.random.default_rng(0)
    return rng.random((n, 5, 10)).astype("float32"), np.eye(5, dtype="float32")[rng.integers(0, 5, n)]


def _assert_same_weights(ours, theirs):
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, **TOL)


@pytest.mark.parametrize("optimizer", ["rmsprop", "adam"])
def test_seed_model_train_on_batch(keras, optimizer):
    ours, theirs = _seed_models(keras)
    for model in (ours, theirs):
        model.compile(loss="categorical_crossentropy", optimizer=optimizer)
    x, y = _seed_data()
    for _ in range(5):
        np.testing.assert_allclose(ours.train_on_batch(x, y), theirs.train_on_batch(x, y), **TOL)
    _assert_same_weights(ours, theirs)


def test_seed_model_fit_history(keras):
    """Epoch logs are batch-size-weighted means of the batch losses (last batch smaller), as in Keras."""
    ours, theirs = _seed_models(keras)
    for model in (ours, theirs):
        model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    x, y = _seed_data(20)
    kwargs = dict(batch_size=8, epochs=2, shuffle=False, verbose=0, validation_split=0.2)
    expected, received = theirs.fit(x, y, **kwargs).history, ours.fit(x, y, **kwargs).history
    assert list(received) == list(expected)
    for name in expected:
        np.testing.assert_allclose(received[name], expected[name], **TOL)
    _assert_same_weights(ours, theirs)
    np.testing.assert_allclose(ours.evaluate(x, y, verbose=0), theirs.evaluate(x, y, verbose=0), **TOL)
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), **TOL)


def _tagger_data():
    rng = np.random.default_rng(1)
    ids = rng.integers(1, 9, (6, 7))
    for row, length in enumerate([7, 5, 3, 6, 2, 4]):
        ids[row, length:] = 0
    return ids, rng.integers(0, 4, (6, 7))


@pytest.mark.parametrize("head", ["dense", "time_distributed"])
def test_masked_sequence_tagger(keras, head):
    K = keras.layers

    def make(L, model_cls, input_fn):
        output = L.Dense(4, activation="softmax")
        return model_cls(
            [
                input_fn(shape=(7,), dtype="int32"),
                L.Embedding(9, 5, mask_zero=True),
                L.Bidirectional(L.LSTM(6, return_sequences=True)),
                output if head == "dense" else L.TimeDistributed(output),
            ]
        )

    theirs = make(K, keras.Sequential, keras.Input)
    ours = make(B, birnn.Sequential, B.Input)
    ours.set_weights(theirs.get_weights())
    for model in (ours, theirs):
        model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    ids, labels = _tagger_data()
    np.testing.assert_allclose(ours.evaluate(ids, labels, verbose=0), theirs.evaluate(ids, labels, verbose=0), **TOL)
    for _ in range(2):
        np.testing.assert_allclose(ours.train_on_batch(ids, labels), theirs.train_on_batch(ids, labels), **TOL)
    _assert_same_weights(ours, theirs)
    # The padding's labels do not count: changing them changes nothing.
    relabelled = np.where(ids == 0, 3 - labels, labels)
    np.testing.assert_allclose(
        ours.evaluate(ids, relabelled, verbose=0), ours.evaluate(ids, labels, verbose=0), rtol=1e-6
    )
    assert ours(ids)._keras_mask.tolist() == (ids != 0).tolist()


def test_weighted_training(keras):
    """sample_weight and class_weight weigh the loss as in Keras."""
    K = keras.layers
    theirs = keras.Sequential([keras.Input(shape=(3,)), K.Dense(4, activation="softmax")])
    ours = birnn.Sequential([B.Input(shape=(3,)), B.Dense(4, activation="softmax")])
    ours.set_weights(theirs.get_weights())
    for model in (ours, theirs):
        model.compile(loss="sparse_categorical_crossentropy", optimizer="sgd")
    rng = np.random.default_rng(2)
    x, y = rng.random((12, 3)).astype("float32"), rng.integers(0, 4, 12)
    weights = rng.random(12).astype("float32")
    np.testing.assert_allclose(
        ours.train_on_batch(x, y, sample_weight=weights), theirs.train_on_batch(x, y, sample_weight=weights), **TOL
    )
    class_weight = {0: 1.0, 1: 2.0, 2: 0.5, 3: 3.0}
    np.testing.assert_allclose(
        ours.train_on_batch(x, y, class_weight=class_weight),
        theirs.train_on_batch(x, y, class_weight=class_weight),
        **TOL,
    )
    _assert_same_weights(ours, theirs)


def test_regularization_losses_are_added(keras):
    K = keras.layers
    theirs = keras.Sequential(
        [
            keras.Input(shape=(3,)),
            K.Dense(2, kernel_regularizer=keras.regularizers.L2(0.1), activity_regularizer=keras.regularizers.L1(0.01)),
        ]
    )
    ours = birnn.Sequential(
        [
            B.Input(shape=(3,)),
            B.Dense(2, kernel_regularizer=birnn.regularizers.L2(0.1), activity_regularizer=birnn.regularizers.L1(0.01)),
        ]
    )
    ours.set_weights(theirs.get_weights())
    for model in (ours, theirs):
        model.compile(loss="mse", optimizer="sgd")
    x, y = np.ones((4, 3), dtype="float32"), np.zeros((4, 2), dtype="float32")
    for _ in range(2):
        np.testing.assert_allclose(ours.train_on_batch(x, y), theirs.train_on_batch(x, y), **TOL)
    _assert_same_weights(ours, theirs)
