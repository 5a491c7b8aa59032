"""Layer-level pieces of the Keras format, with Keras as the oracle.

For each ``Bidirectional`` configuration: birnn's exported config is rebuilt by Keras, and the
weights birnn writes at Keras's H5 paths load into a Keras model holding that layer; and the other
way round, a Keras layer's config and ``save_weights`` file rebuild the birnn layer. Predictions
(with and without masks) must agree within 1e-5.
"""

from __future__ import annotations

import json
from typing import Any

import h5py
import numpy as np
import pytest
import torch

import birnn
from birnn import _registry
from birnn.saving._h5_weights import read_weights, write_weights
from birnn.saving._keras_config import from_keras, to_keras

B, T, F = 3, 5, 4

MERGES = ["concat", "sum", "ave", "mul", None]


def _spec(L: Any, kind: str, merge_mode: Any, backward: bool) -> Any:
    inner = {"simple_rnn": L.SimpleRNN, "lstm": L.LSTM, "gru": L.GRU}[kind]
    options = {"return_sequences": True}
    backward_layer = inner(2, go_backwards=True, activation="relu", **options) if backward else None
    return L.Bidirectional(inner(2, **options), merge_mode=merge_mode, backward_layer=backward_layer)


CASES = [(k, m, False) for k in ("simple_rnn", "lstm", "gru") for m in MERGES] + [
    (k, "concat", True) for k in ("simple_rnn", "lstm", "gru")
]


def _ids(case: tuple[str, Any, bool]) -> str:
    kind, merge, backward = case
    return f"{kind}-{merge}" + ("-custom_backward" if backward else "")


def _inputs() -> tuple[np.ndarray, np.ndarray]:
    x = np.random.RandomState(1).standard_normal((B, T, F)).astype("float32")
    mask = np.arange(T)[None, :] < np.array([T, 3, 1])[:, None]
    return x, mask


def _outputs(y: Any) -> list[np.ndarray]:
    items = y if isinstance(y, (list, tuple)) else [y]
    return [np.asarray(item.detach().cpu() if isinstance(item, torch.Tensor) else item) for item in items]


def _assert_same_predictions(birnn_layer: Any, keras_layer: Any) -> None:
    x, mask = _inputs()
    for m in (None, mask):
        theirs = keras_layer(x, mask=None if m is None else torch.as_tensor(m))
        ours = birnn_layer(torch.as_tensor(x), mask=None if m is None else torch.as_tensor(m))
        for a, b in zip(_outputs(ours), _outputs(theirs), strict=True):
            np.testing.assert_allclose(a, b, atol=1e-5, rtol=0)


def _keras_model(keras: Any, layer: Any) -> Any:
    return keras.Sequential([keras.Input((T, F)), layer])


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_birnn_layer_into_keras(keras: Any, tmp_path: Any, case: tuple[str, Any, bool]) -> None:
    ours = _spec(birnn.layers, *case)
    ours(torch.zeros(1, T, F))
    config = json.loads(json.dumps(to_keras(_registry.serialize(ours), "layer")))
    theirs = keras.saving.deserialize_keras_object(config)
    model = _keras_model(keras, theirs)
    path = tmp_path / "w.weights.h5"
    with h5py.File(path, "w") as f:
        write_weights(f, ours, "layers/bidirectional")
        f.create_group("vars").attrs["name"] = "sequential"
    model.load_weights(path)
    _assert_same_predictions(ours, theirs)


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_keras_layer_into_birnn(keras: Any, tmp_path: Any, case: tuple[str, Any, bool]) -> None:
    theirs = _spec(keras.layers, *case)
    model = _keras_model(keras, theirs)
    path = tmp_path / "w.weights.h5"
    model.save_weights(path)
    config = json.loads(json.dumps(keras.saving.serialize_keras_object(theirs)))
    ours = _registry.deserialize(from_keras(config, "config.json"))
    ours.build((None, T, F))
    with h5py.File(path, "r") as f:
        read_weights(f, ours, str(path), "layers/bidirectional")
    _assert_same_predictions(ours, theirs)
    assert ours.forward_layer.name == theirs.forward_layer.name
    assert ours.backward_layer.name == theirs.backward_layer.name


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        return {k: v for key, item in value.items() for k, v in _flat(item, f"{prefix}.{key}").items()}
    if isinstance(value, list):
        return {k: v for i, item in enumerate(value) for k, v in _flat(item, f"{prefix}[{i}]").items()}
    return {prefix: value}


@pytest.mark.parametrize("kind", ["SimpleRNN", "LSTM", "GRU"])
def test_exported_config_matches_keras_own(keras: Any, kind: str) -> None:
    """Beyond loading: birnn writes Keras's keys and values (Keras also spells out a null
    activity_regularizer; birnn's SimpleRNN also writes its seed, which Keras accepts)."""

    def make(L: Any) -> Any:
        return L.Bidirectional(getattr(L, kind)(3, return_sequences=True, name="rnn"), merge_mode="sum", name="bi")

    ours = _flat(to_keras(_registry.serialize(make(birnn.layers)), "layer"))
    theirs = _flat(json.loads(json.dumps(keras.saving.serialize_keras_object(make(keras.layers)))))
    theirs = {k: v for k, v in theirs.items() if "shared_object_id" not in k and "build_config" not in k}
    assert {k: v for k, v in ours.items() if k in theirs} == {k: v for k, v in theirs.items() if k in ours}
    assert {k: theirs[k] for k in set(theirs) - set(ours)} == {
        f".config.{d}.config.activity_regularizer": None for d in ("layer", "backward_layer")
    }
    assert {k.rsplit(".", 1)[-1] for k in set(ours) - set(theirs)} <= {"seed"}


# Every layer birnn shares with Keras, with non-default options where it has them.
LAYERS = {
    "Dense": lambda L: L.Dense(3, activation="relu", kernel_regularizer="l2", bias_initializer="ones"),
    "Embedding": lambda L: L.Embedding(5, 3, mask_zero=True, embeddings_constraint="non_neg"),
    "Dropout": lambda L: L.Dropout(0.3, noise_shape=(None, 1, 4), seed=3),
    "Activation": lambda L: L.Activation("relu"),
    "Masking": lambda L: L.Masking(0.5),
    "SpatialDropout1D": lambda L: L.SpatialDropout1D(0.2, seed=1),
    "Flatten": lambda L: L.Flatten(),
    "GlobalAveragePooling1D": lambda L: L.GlobalAveragePooling1D(),
    "GlobalMaxPooling1D": lambda L: L.GlobalMaxPooling1D(keepdims=True),
    "Concatenate": lambda L: L.Concatenate(axis=1),
    "LayerNormalization": lambda L: L.LayerNormalization(epsilon=1e-5, center=False),
    "TimeDistributed": lambda L: L.TimeDistributed(L.Dense(2, name="inner")),
    "RNN_stacked_cells": lambda L: L.RNN([L.LSTMCell(3), L.GRUCell(2, reset_after=False)], return_sequences=True),
    "RNN_cell": lambda L: L.RNN(L.SimpleRNNCell(3, dropout=0.1), return_state=True),
    "LSTM": lambda L: L.LSTM(
        3, unit_forget_bias=False, kernel_initializer="he_normal", recurrent_regularizer={"class_name": "L1", "config": {"l1": 0.5}},
        kernel_constraint="max_norm", dropout=0.2, recurrent_dropout=0.1, seed=4, go_backwards=True, unroll=True,
    ),
    "GRU": lambda L: L.GRU(3, reset_after=False, activation="relu", use_bias=False, stateful=True),
    "SimpleRNN": lambda L: L.SimpleRNN(3, activation=None, bias_initializer={"class_name": "Constant", "config": {"value": 0.5}}),
}


def _comparable(envelope: Any) -> Any:
    """A Keras envelope without what legitimately differs: object ids, build configs, auto names."""
    if isinstance(envelope, dict):
        return {k: _comparable(v) for k, v in envelope.items() if k not in ("shared_object_id", "build_config", "name")}
    return [_comparable(v) for v in envelope] if isinstance(envelope, list) else envelope


@pytest.mark.parametrize("name", list(LAYERS))
def test_layer_config_both_ways(keras: Any, name: str) -> None:
    """birnn's export rebuilds in Keras into the layer Keras itself would make, and Keras's config
    rebuilds in birnn into the layer birnn would make."""
    ours, theirs = LAYERS[name](birnn.layers), LAYERS[name](keras.layers)
    exported = json.loads(json.dumps(to_keras(_registry.serialize(ours), name)))
    keras_config = json.loads(json.dumps(keras.saving.serialize_keras_object(theirs)))
    rebuilt_in_keras = keras.saving.serialize_keras_object(keras.saving.deserialize_keras_object(exported))
    assert _comparable(json.loads(json.dumps(rebuilt_in_keras))) == _comparable(keras_config)
    rebuilt_in_birnn = _registry.deserialize(from_keras(keras_config, "config.json"))
    assert _comparable(rebuilt_in_birnn.get_config()) == _comparable(ours.get_config())
