"""Sequential: construction, input shapes, building, masks, layers API, summary, config, states."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import birnn
from birnn import _registry
from birnn.layers import (
    GRU,
    LSTM,
    Bidirectional,
    Dense,
    Dropout,
    Embedding,
    GlobalAveragePooling1D,
    Input,
    InputLayer,
    Layer,
    Masking,
)
from birnn.models import Sequential


def test_input_shape_sources_build_eagerly():
    for model in (
        Sequential([Input(shape=(5, 10)), LSTM(3)]),
        Sequential([LSTM(3, input_shape=(5, 10))]),
        Sequential([LSTM(3, batch_input_shape=(None, 5, 10))]),
    ):
        assert model.input_shape == (None, 5, 10)
        assert model.built and all(layer.built for layer in model.layers)
        assert [w.shape for w in model.get_weights()] == [(10, 12), (3, 12), (12,)]
    added = Sequential()
    added.add(Dense(4, input_dim=3))
    assert added.input_shape == (None, 3) and added.count_params() == 16


def test_lazy_build_on_first_call():
    model = Sequential([Dense(4), Dense(2)])
    assert not model.built and model.input_shape is None and model.weights == []
    assert model(np.ones((3, 6), dtype="float32")).shape == (3, 2)
    assert model.input_shape == (None, 6) and model.count_params() == 6 * 4 + 4 + 4 * 2 + 2


def test_add_pop_and_errors():
    model = Sequential([Input(shape=(3,)), Dense(4)])
    model.add(Dense(2))
    assert [type(layer).__name__ for layer in model.layers] == ["Dense", "Dense"]
    assert model(torch.ones(1, 3)).shape == (1, 2)
    popped = model.pop()
    assert popped.name == "dense_1" and model(torch.ones(1, 3)).shape == (1, 4)
    with pytest.raises(
        ValueError, match=r"Only instances of `birnn.layers.Layer` can be added to a Sequential model. Received: Linear"
    ):
        model.add(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match=r"Name 'dense' is already the name of a layer in this model"):
        model.add(Dense(2, name="dense"))
    with pytest.raises(ValueError, match=r"has already been configured to use input shape \(None, 3\)"):
        model.add(Input(shape=(4,)))
    with pytest.raises(ValueError, match=r"An InputLayer can only be the first layer"):
        Sequential([Dense(2), InputLayer(shape=(3,))])
    model.pop()
    with pytest.raises(IndexError, match=r"Sequential model 'sequential' has no layers to pop."):
        model.pop()


def test_layers_get_layer_weights():
    model = Sequential([Input(shape=(4,)), Dense(3, name="hidden"), Dense(2, name="out")])
    assert [layer.name for layer in model.layers] == ["hidden", "out"]
    assert model.get_layer("out") is model.layers[1] and model.get_layer(index=0).name == "hidden"
    assert model.get_layer(index=-1).name == "out"
    with pytest.raises(ValueError, match=r"No such layer: nope. Existing layers are: \['hidden', 'out'\]."):
        model.get_layer("nope")
    with pytest.raises(ValueError, match=r"Was asked to retrieve layer at index 5 but model only has 2 layers."):
        model.get_layer(index=5)
    with pytest.raises(ValueError, match=r"Provide either a layer name or a layer index"):
        model.get_layer()
    weights = model.get_weights()
    assert [w.shape for w in weights] == [(4, 3), (3,), (3, 2), (2,)]
    model.set_weights([np.zeros_like(w) for w in weights])
    assert not any(w.any() for w in model.get_weights())
    assert len(model.trainable_weights) == 4
    model.layers[0].trainable = False
    assert len(model.trainable_weights) == 2 and len(model.non_trainable_weights) == 2


def test_mask_flows_to_every_layer_and_the_output():
    seen = {}

    class Spy(Layer):
        supports_masking = True

        def call(self, inputs, mask=None):
            seen[self.name] = mask
            return inputs

        def compute_output_shape(self, input_shape):
            return input_shape

    ids = torch.tensor([[3, 1, 0, 0], [2, 2, 2, 0]])
    model = Sequential(
        [
            Input(shape=(4,), dtype="int64"),
            Embedding(5, 3, mask_zero=True),
            Spy(name="after_embedding"),
            Bidirectional(LSTM(2, return_sequences=True)),
            Dropout(0.1),
            Spy(name="after_rnn"),
            Dense(2),
        ]
    )
    output = model(ids)
    for name in ("after_embedding", "after_rnn"):
        assert seen[name].tolist() == (ids != 0).tolist()
    assert output._keras_mask.tolist() == (ids != 0).tolist()
    # Masked steps of the bidirectional output are zero: the mask reached it.
    hidden = Sequential(model.layers[:3])(ids)
    assert torch.equal(hidden[ids == 0], torch.zeros_like(hidden[ids == 0]))


def test_mask_ends_at_pooling_and_at_non_sequence_rnn():
    x = torch.tensor([[[1.0], [0.0]], [[2.0], [3.0]]])
    assert getattr(Sequential([Masking(), GlobalAveragePooling1D()])(x), "_keras_mask", None) is None
    assert getattr(Sequential([Masking(), GRU(2)])(x), "_keras_mask", None) is None
    masked = Sequential([Masking(), GRU(2, return_sequences=True)])(x)
    assert masked._keras_mask.tolist() == [[True, False], [True, True]]


def test_input_layer_checks_shape_and_dtype():
    model = Sequential([Input(shape=(5, 10)), LSTM(2)])
    with pytest.raises(
        ValueError,
        match=r'Input 0 of layer "input_layer" is incompatible with the layer: expected axis 2 of input shape to have value 10',
    ):
        model(torch.zeros(2, 5, 3))
    assert model(np.zeros((2, 5, 10))).dtype == torch.float32


def test_summary_matches_keras(keras, capsys):
    keras.backend.clear_session()
    K = keras.layers
    theirs = keras.Sequential(
        [
            keras.Input(shape=(7,)),
            K.Embedding(20, 4, mask_zero=True),
            K.Bidirectional(K.LSTM(3, return_sequences=True)),
            K.TimeDistributed(K.Dense(5, activation="softmax")),
        ]
    )
    ours = Sequential(
        [
            Input(shape=(7,)),
            Embedding(20, 4, mask_zero=True),
            Bidirectional(LSTM(3, return_sequences=True)),
            birnn.layers.TimeDistributed(Dense(5, activation="softmax")),
        ]
    )
    theirs.summary(line_length=76)
    expected = capsys.readouterr().out
    ours.summary(line_length=76)
    assert capsys.readouterr().out == expected


def test_summary_of_unbuilt_model():
    lines = []
    Sequential([Dense(3)]).summary(print_fn=lines.append, line_length=76)
    assert "│ dense (Dense)                   │ ?                      │   0 (unbuilt) │" in lines
    assert " Total params: 0 (0.00 B)" in lines


def test_config_round_trip_and_registry():
    model = Sequential(
        [Input(shape=(5, 4)), Bidirectional(LSTM(3, return_sequences=True)), Dense(2, activation="softmax")],
        name="tagger",
    )
    config = json.loads(json.dumps(model.get_config()))
    assert [entry["class_name"] for entry in config["layers"]] == ["InputLayer", "Bidirectional", "Dense"]
    clone = Sequential.from_config(config)
    assert clone.name == "tagger" and clone.input_shape == (None, 5, 4)
    clone.set_weights(model.get_weights())
    x = torch.randn(2, 5, 4)
    torch.testing.assert_close(clone(x), model(x))
    rebuilt = _registry.deserialize(_registry.serialize(model))
    assert type(rebuilt) is Sequential and rebuilt.count_params() == model.count_params()
    lazy = Sequential.from_config(
        {"name": "m", "layers": [_registry.serialize(Dense(2))], "build_input_shape": [None, 3]}
    )
    assert lazy.input_shape == (None, 3) and lazy.built


def test_keras_config_loads(keras):
    K = keras.layers
    theirs = keras.Sequential([keras.Input(shape=(5, 10)), K.Dense(3), K.Activation("softmax")])
    ours = Sequential.from_config(theirs.get_config())
    assert ours.input_shape == (None, 5, 10)
    ours.set_weights(theirs.get_weights())
    x = np.random.rand(2, 5, 10).astype("float32")
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_reset_states_resets_stateful_layers():
    model = Sequential(
        [
            Input(batch_shape=(2, 3, 4)),
            Bidirectional(LSTM(2, stateful=True, return_sequences=True)),
            GRU(2, stateful=True),
        ]
    )
    x = torch.randn(2, 3, 4)
    first = model(x)
    assert not torch.allclose(model(x), first)
    model.reset_states()
    torch.testing.assert_close(model(x), first)


def test_to_moves_weights_and_inputs_follow():
    model = Sequential([Input(shape=(3,)), Dense(2)]).to(torch.float64)
    assert all(w.dtype == torch.float64 for w in model.weights)
    assert model.to("cpu") is model
    assert model.predict(np.ones((2, 3)), verbose=0).dtype == np.float64
