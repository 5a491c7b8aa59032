"""The two seed pages' examples (shared/seeds/), run verbatim, compiled and trained.

The code blocks below are copied from the pages; only the imports are birnn's. The Keras 3 page
has a typo (``Bidirectional(LSTM(10, return_sequences=True),`` lacks its closing parenthesis) that
makes it a syntax error in Keras too; it is fixed here and nothing else is changed.
"""

from __future__ import annotations

import numpy as np
import pytest

from birnn import Input, Sequential
from birnn.layers import LSTM, Activation, Bidirectional, Dense


def keras3_stacked():
    model = Sequential(
        [
            Input(shape=(5, 10)),
            Bidirectional(LSTM(10, return_sequences=True)),
            Bidirectional(LSTM(10)),
            Dense(5, activation="softmax"),
        ]
    )
    model.compile(loss="categorical_crossentropy", optimizer="rmsprop")
    return model


def keras3_custom_backward():
    # With custom backward layer
    forward_layer = LSTM(10, return_sequences=True)
    backward_layer = LSTM(10, activation="relu", return_sequences=True, go_backwards=True)
    model = Sequential(
        [
            Input(shape=(5, 10)),
            Bidirectional(forward_layer, backward_layer=backward_layer),
            Dense(5, activation="softmax"),
        ]
    )
    model.compile(loss="categorical_crossentropy", optimizer="rmsprop")
    return model


def tf_keras_24_stacked():
    model = Sequential()
    model.add(Bidirectional(LSTM(10, return_sequences=True), input_shape=(5, 10)))
    model.add(Bidirectional(LSTM(10)))
    model.add(Dense(5))
    model.add(Activation("softmax"))
    model.compile(loss="categorical_crossentropy", optimizer="rmsprop")
    return model


def tf_keras_24_custom_backward():
    # With custom backward layer
    model = Sequential()
    forward_layer = LSTM(10, return_sequences=True)
    backward_layer = LSTM(10, activation="relu", return_sequences=True, go_backwards=True)
    model.add(Bidirectional(forward_layer, backward_layer=backward_layer, input_shape=(5, 10)))
    model.add(Dense(5))
    model.add(Activation("softmax"))
    model.compile(loss="categorical_crossentropy", optimizer="rmsprop")
    return model


EXAMPLES = {
    "keras3-stacked": (keras3_stacked, (5,)),
    "keras3-custom-backward": (keras3_custom_backward, (5, 5)),
    "tf-keras-2.4-stacked": (tf_keras_24_stacked, (5,)),
    "tf-keras-2.4-custom-backward": (tf_keras_24_custom_backward, (5, 5)),
}


@pytest.mark.parametrize("build, output_shape", EXAMPLES.values(), ids=EXAMPLES.keys())
def test_seed_example_trains(build, output_shape):
    model = build()
    assert model.input_shape == (None, 5, 10)
    assert model.compute_output_shape((None, 5, 10)) == (None, *output_shape)
    rng = np.random.default_rng(0)
    x = rng.random((32, 5, 10)).astype("float32")
    y = np.eye(5, dtype="float32")[rng.integers(0, 5, (32, *output_shape[:-1]))]
    history = model.fit(x, y, batch_size=8, epochs=4, verbose=0)
    losses = history.history["loss"]
    assert len(losses) == 4 and losses[-1] < losses[0]
    assert model.predict(x[:3], verbose=0).shape == (3, *output_shape)
