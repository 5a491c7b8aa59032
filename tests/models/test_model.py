"""Subclassed models: the shared training API, layers, summary, build, modes, losses and constraints."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import birnn
from birnn.layers import LSTM, Bidirectional, Concatenate, Dense, Dropout, Embedding, GlobalMaxPooling1D


class Tagger(birnn.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.embed = Embedding(9, 4, mask_zero=True)
        self.rnn = Bidirectional(LSTM(3, return_sequences=True))
        self.drop = Dropout(0.5)
        self.out = Dense(3, activation="softmax")

    def call(self, inputs, training=None):
        hidden = self.rnn(self.embed(inputs))
        return self.out(self.drop(hidden, training=training))


def _ids(n=8, steps=6):
    ids = np.random.default_rng(0).integers(1, 9, (n, steps))
    ids[::2, steps // 2 :] = 0
    return ids


def test_subclassed_model_trains_and_masks_flow():
    model = Tagger()
    model.compile(optimizer=birnn.optimizers.Adam(0.05), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    ids = _ids()
    labels = np.random.default_rng(1).integers(0, 3, ids.shape)
    history = model.fit(ids, labels, epochs=5, batch_size=4, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert model(ids)._keras_mask.tolist() == (ids != 0).tolist()
    assert [layer.name for layer in model.layers] == ["embedding", "bidirectional", "dropout", "dense"]
    assert model.get_layer("dense") is model.out


def test_modes_fit_trains_then_restores_inference():
    seen = []

    class Probe(birnn.Model):
        def __init__(self):
            super().__init__()
            self.dense = Dense(1)

        def call(self, inputs):
            seen.append(self.training)
            return self.dense(inputs)

    model = Probe()
    model.compile(optimizer="sgd", loss="mse")
    x, y = np.ones((4, 2)), np.ones((4, 1))
    model.fit(x, y, epochs=1, batch_size=4, verbose=0, validation_data=(x, y))
    model.evaluate(x, y, verbose=0)
    model.predict(x, verbose=0)
    model.train_on_batch(x, y)
    model.test_on_batch(x, y)
    assert seen == [True, False, False, False, True, False]
    assert model.training is False


def test_build_summary_and_layer_shapes():
    model = Tagger(name="tagger")
    model.build((None, 6))
    assert model.built and model.count_params() > 0
    lines = []
    model.summary(print_fn=lines.append, line_length=76)
    assert lines[0] == 'Model: "tagger"'
    assert any(line.startswith("│ bidirectional (Bidirectional)   │ (1, 6, 6)") for line in lines)


def test_constraints_applied_after_each_step():
    model = birnn.Sequential([Dense(3, input_shape=(2,), kernel_constraint="non_neg")])
    model.set_weights([np.full((2, 3), 0.01, dtype="float32"), np.zeros(3, dtype="float32")])
    model.compile(optimizer=birnn.optimizers.SGD(10.0), loss="mse")
    model.train_on_batch(np.ones((4, 2)), np.full((4, 3), -5.0))
    assert (model.get_weights()[0] >= 0).all()


def test_multi_input_multi_output_with_loss_weights():
    class TwoHeads(birnn.Model):
        def __init__(self):
            super().__init__()
            self.join = Concatenate()
            self.pool = GlobalMaxPooling1D()
            self.a, self.b = Dense(2, activation="softmax"), Dense(1)

        def call(self, inputs):
            hidden = self.pool(self.join(list(inputs)))
            return self.a(hidden), self.b(hidden)

    model = TwoHeads()
    model.compile(
        optimizer="adam",
        loss=["sparse_categorical_crossentropy", "mse"],
        loss_weights=[1.0, 0.5],
        metrics=[["accuracy"], ["mae"]],
    )
    rng = np.random.default_rng(0)
    x = [rng.random((6, 4, 2)).astype("float32"), rng.random((6, 4, 3)).astype("float32")]
    y = [rng.integers(0, 2, 6), rng.random((6, 1)).astype("float32")]
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert sorted(logs) == ["loss", "output_0_accuracy", "output_1_mae"]
    first, second = model.predict(x, verbose=0)
    expected = birnn.losses.get("sparse_categorical_crossentropy")(torch.as_tensor(y[0]), torch.as_tensor(first))
    expected = expected + 0.5 * birnn.losses.get("mse")(torch.as_tensor(y[1]), torch.as_tensor(second))
    assert logs["loss"] == pytest.approx(float(expected), rel=1e-5)
    model.fit(x, y, epochs=1, verbose=0)


def test_model_without_call():
    with pytest.raises(NotImplementedError, match=r"Model Model must implement call"):
        birnn.Model()(torch.zeros(1, 2))


def test_functional_api_is_refused():
    with pytest.raises(TypeError, match=r"birnn.Model has no functional API \(Model\(inputs, outputs\)\)"):
        birnn.Model(birnn.Input(shape=(3,)), Dense(2))
