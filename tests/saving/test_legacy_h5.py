"""Legacy ``.h5`` import: files from Keras 3's legacy writer, and Keras 2-style files.

No Keras 2 is installed, so the Keras 2-style files are written here with h5py exactly as Keras 2's
``hdf5_format`` lays them out (``model_config`` JSON in Keras 2's spelling, ``keras_version``
``2.x``, ``layer_names`` / ``weight_names`` attributes, ``:0`` weight names, layers without weights
listed too). The oracle is a Keras 3 model computing what the Keras 2 model computed: Keras 2's
``hard_sigmoid`` written as a function, ``CuDNNLSTM``/``CuDNNGRU`` as ``LSTM``/``GRU`` with the same
weights before their conversion to cuDNN's layout.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import h5py
import numpy as np
import pytest

import birnn
from birnn.saving import load_model, load_weights

T, F = 5, 3


def _x() -> np.ndarray:
    return np.random.RandomState(0).standard_normal((4, T, F)).astype("float32")


def _perturb(model: Any) -> None:
    model.set_weights([w + np.random.RandomState(5).uniform(-0.3, 0.3, w.shape).astype(w.dtype) for w in model.get_weights()])


def _assert_predicts_like(ours: Any, theirs: Any) -> None:
    x = _x()
    np.testing.assert_allclose(ours.predict(x, verbose=0), np.asarray(theirs.predict(x, verbose=0)), atol=1e-5, rtol=0)


# --------------------------------------------------------------------- Keras 3's legacy writer


@pytest.mark.parametrize(("kind", "merge_mode"), [("SimpleRNN", "sum"), ("LSTM", "concat"), ("GRU", "mul")])
def test_keras3_legacy_h5_full_model(keras: Any, tmp_path: Any, kind: str, merge_mode: str) -> None:
    L = keras.layers
    rnn = getattr(L, kind)
    theirs = keras.Sequential([
        keras.Input((T, F)),
        L.Bidirectional(rnn(3, return_sequences=True), merge_mode=merge_mode),
        L.Dropout(0.5),
        L.Bidirectional(rnn(2), backward_layer=rnn(2, go_backwards=True, activation="relu")),
        L.Dense(2),
    ])
    _perturb(theirs)
    from keras.src.legacy.saving import legacy_h5_format

    legacy_h5_format.save_model_to_hdf5(theirs, str(tmp_path / "m.h5"))
    ours = load_model(tmp_path / "m.h5")
    assert [layer.name for layer in ours.layers] == [layer.name for layer in theirs.layers]
    _assert_predicts_like(ours, theirs)


def test_keras3_legacy_h5_weights_only(keras: Any, tmp_path: Any) -> None:
    def make(L: Any, Sequential: Any) -> Any:
        return Sequential([L.Input(shape=(T, F)), L.Bidirectional(L.LSTM(3)), L.Dense(2)])

    theirs = make(keras.layers, keras.Sequential)
    _perturb(theirs)
    from keras.src.legacy.saving import legacy_h5_format

    with h5py.File(tmp_path / "w.h5", "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, theirs)
    ours = make(birnn.layers, birnn.Sequential)
    load_weights(ours, tmp_path / "w.h5")
    _assert_predicts_like(ours, theirs)
    load_weights(ours, tmp_path / "w.h5")  # and a full-model legacy file also serves as a weights file
    legacy_h5_format.save_model_to_hdf5(theirs, str(tmp_path / "m.h5"))
    load_weights(ours, tmp_path / "m.h5")
    _assert_predicts_like(ours, theirs)


# --------------------------------------------------------------------------- Keras 2-style files

_GLOROT = {"class_name": "GlorotUniform", "config": {"seed": None}}
_ORTHOGONAL = {"class_name": "Orthogonal", "config": {"gain": 1.0, "seed": None}}
_ZEROS = {"class_name": "Zeros", "config": {}}


def _keras2_rnn(class_name: str, name: str, **config: Any) -> dict[str, Any]:
    """An RNN layer config as tf.keras 2.4 / Keras 2.2 wrote it (time_major, implementation, no module)."""
    base = {
        "name": name, "trainable": True, "dtype": "float32", "return_sequences": False, "return_state": False,
        "go_backwards": False, "stateful": False, "unroll": False, "time_major": False, "units": 3,
        "activation": "tanh", "recurrent_activation": "hard_sigmoid", "use_bias": True,
        "kernel_initializer": _GLOROT, "recurrent_initializer": _ORTHOGONAL, "bias_initializer": _ZEROS,
        "kernel_regularizer": None, "recurrent_regularizer": None, "bias_regularizer": None,
        "activity_regularizer": None, "kernel_constraint": None, "recurrent_constraint": None,
        "bias_constraint": None, "dropout": 0.0, "recurrent_dropout": 0.0, "implementation": 1,
    }  # fmt: skip
    if class_name == "LSTM":
        base["unit_forget_bias"] = True
    if class_name == "GRU":
        base["reset_after"] = False
    if class_name == "SimpleRNN":
        del base["recurrent_activation"], base["implementation"]
    if class_name.startswith("CuDNN"):  # the CuDNN layers had neither activations nor dropout
        for key in ("activation", "recurrent_activation", "use_bias", "dropout", "recurrent_dropout",
                    "implementation", "unroll", "time_major", "activity_regularizer"):
            base.pop(key)  # fmt: skip
    base.update(config)
    return {"class_name": class_name, "config": base}


def _keras2_model(first: dict[str, Any], dense_units: int = 2) -> dict[str, Any]:
    """tf.keras 2.4's Sequential config: ``batch_input_shape`` on the first layer, then Dropout and Dense."""
    first = copy.deepcopy(first)
    first["config"]["batch_input_shape"] = [None, T, F]
    dropout = {"class_name": "Dropout", "config": {"name": "dropout", "trainable": True, "dtype": "float32",
                                                   "rate": 0.5, "noise_shape": None, "seed": None}}
    dense = {"class_name": "Dense", "config": {
        "name": "dense", "trainable": True, "dtype": "float32", "units": dense_units, "activation": "linear",
        "use_bias": True, "kernel_initializer": _GLOROT, "bias_initializer": _ZEROS, "kernel_regularizer": None,
        "bias_regularizer": None, "activity_regularizer": None, "kernel_constraint": None, "bias_constraint": None}}
    return {"class_name": "Sequential", "config": {"name": "sequential", "layers": [first, dropout, dense]}}


def _write_keras2_file(path: Any, config: dict[str, Any], layers: list[tuple[str, list[tuple[str, np.ndarray]]]],
                       keras_version: str = "2.4.0", chunk_layer_names: bool = False) -> None:
    """Keras 2's ``save_model`` layout: attrs on the root, weights in ``model_weights``."""
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = keras_version.encode("utf8")
        f.attrs["backend"] = b"tensorflow"
        f.attrs["model_config"] = json.dumps(config).encode("utf8")
        group = f.create_group("model_weights")
        names = np.array([name.encode("utf8") for name, _ in layers])
        if chunk_layer_names:  # what Keras does when the attribute would exceed the HDF5 header limit
            group.attrs["layer_names0"], group.attrs["layer_names1"] = names[:1], names[1:]
        else:
            group.attrs["layer_names"] = names
        group.attrs["backend"], group.attrs["keras_version"] = b"tensorflow", keras_version.encode("utf8")
        for name, weights in sorted(layers):
            g = group.create_group(name)
            g.attrs["weight_names"] = np.array([w.encode("utf8") for w, _ in weights], dtype="S")
            for weight_name, value in weights:
                g.create_dataset(weight_name, data=value)


def _named(prefix: str, arrays: list[np.ndarray], names: list[str]) -> list[tuple[str, np.ndarray]]:
    return [(f"{prefix}/{n}:0", a) for n, a in zip(names, arrays)]


def keras2_hard_sigmoid(x: Any) -> Any:
    """Keras 2's ``hard_sigmoid``, for the Keras 3 oracle."""
    import keras

    return keras.ops.clip(0.2 * x + 0.5, 0.0, 1.0)


def _oracle(keras: Any, layer: Any, dense_units: int = 2) -> Any:
    model = keras.Sequential([keras.Input((T, F)), layer, keras.layers.Dropout(0.5), keras.layers.Dense(dense_units)])
    _perturb(model)
    return model


def _dense_weights(theirs: Any) -> tuple[str, list[tuple[str, np.ndarray]]]:
    return "dense", _named("dense", theirs.layers[-1].get_weights(), ["kernel", "bias"])


CELL_WEIGHTS = ["kernel", "recurrent_kernel", "bias"]


def test_keras2_bidirectional_lstm_hard_sigmoid(keras: Any, tmp_path: Any) -> None:
    with keras.saving.custom_object_scope({"keras2_hard_sigmoid": keras2_hard_sigmoid}):  # Bidirectional copies its layer
        layer = keras.layers.Bidirectional(keras.layers.LSTM(3, recurrent_activation=keras2_hard_sigmoid))
    theirs = _oracle(keras, layer)
    weights = theirs.layers[0].get_weights()
    bidirectional = {"class_name": "Bidirectional", "config": {
        "name": "bidirectional", "trainable": True, "dtype": "float32", "merge_mode": "concat",
        "layer": _keras2_rnn("LSTM", "lstm")}}
    names = _named("bidirectional/forward_lstm/lstm_cell", weights[:3], CELL_WEIGHTS)
    names += _named("bidirectional/backward_lstm/lstm_cell", weights[3:], CELL_WEIGHTS)
    _write_keras2_file(tmp_path / "m.h5", _keras2_model(bidirectional),
                       [("bidirectional", names), ("dropout", []), _dense_weights(theirs)], chunk_layer_names=True)
    ours = load_model(tmp_path / "m.h5")
    cell = ours.layers[0].forward_layer.cell
    assert cell.recurrent_activation is birnn.activations.legacy_hard_sigmoid
    assert ours.layers[0].backward_layer.name == "backward_lstm"
    _assert_predicts_like(ours, theirs)


def test_keras22_gru_reset_before(keras: Any, tmp_path: Any) -> None:
    """Keras 2.2: GRU(reset_after=False) with hard_sigmoid, K2.2-era weight names."""
    theirs = _oracle(keras, keras.layers.GRU(3, reset_after=False, recurrent_activation=keras2_hard_sigmoid))
    gru = _keras2_rnn("GRU", "gru_1")
    names = _named("gru_1", theirs.layers[0].get_weights(), CELL_WEIGHTS)
    _write_keras2_file(tmp_path / "m.h5", _keras2_model(gru), [("gru_1", names), ("dropout", []), _dense_weights(theirs)],
                       keras_version="2.2.4")
    ours = load_model(tmp_path / "m.h5")
    assert not ours.layers[0].cell.reset_after
    _assert_predicts_like(ours, theirs)


def test_hard_sigmoid_keeps_its_keras3_meaning_in_keras3_files(keras: Any, tmp_path: Any) -> None:
    theirs = _oracle(keras, keras.layers.LSTM(3, recurrent_activation="hard_sigmoid"))
    from keras.src.legacy.saving import legacy_h5_format

    legacy_h5_format.save_model_to_hdf5(theirs, str(tmp_path / "m.h5"))
    ours = load_model(tmp_path / "m.h5")
    assert ours.layers[0].cell.recurrent_activation is birnn.activations.hard_sigmoid
    _assert_predicts_like(ours, theirs)


def _to_cudnn(weights: list[np.ndarray], gates: int) -> list[np.ndarray]:
    """Keras -> cuDNN layout (tf.keras's ``_convert_rnn_weights`` in the other direction)."""
    kernel = np.hstack([k.T.reshape(k.shape, order="C") for k in np.hsplit(weights[0], gates)])
    recurrent = np.hstack([k.T for k in np.hsplit(weights[1], gates)])
    return [kernel, recurrent, weights[2]]


def test_keras2_bidirectional_cudnn_lstm(keras: Any, tmp_path: Any) -> None:
    # units != features, so that the per-gate cuDNN layout is not a plain transpose
    theirs = _oracle(keras, keras.layers.Bidirectional(keras.layers.LSTM(2, return_sequences=True)), dense_units=1)
    weights = theirs.layers[0].get_weights()
    arrays: list[np.ndarray] = []
    for direction in (weights[:3], weights[3:]):
        kernel, recurrent, bias = _to_cudnn(direction, 4)
        split = np.random.RandomState(2).uniform(-1, 1, bias.shape).astype("float32")
        arrays += [kernel, recurrent, np.concatenate([split, bias - split])]  # cuDNN: input bias + recurrent bias
    bidirectional = {"class_name": "Bidirectional", "config": {
        "name": "bidirectional", "trainable": True, "dtype": "float32", "merge_mode": "concat",
        "layer": _keras2_rnn("CuDNNLSTM", "cu_dnnlstm", return_sequences=True, units=2)}}
    names = _named("bidirectional/forward_cu_dnnlstm", arrays[:3], CELL_WEIGHTS)
    names += _named("bidirectional/backward_cu_dnnlstm", arrays[3:], CELL_WEIGHTS)
    _write_keras2_file(tmp_path / "m.h5", _keras2_model(bidirectional, dense_units=1),
                       [("bidirectional", names), ("dropout", []), _dense_weights(theirs)])
    ours = load_model(tmp_path / "m.h5")
    assert isinstance(ours.layers[0].forward_layer, birnn.layers.LSTM)
    _assert_predicts_like(ours, theirs)


def test_keras2_cudnn_gru(keras: Any, tmp_path: Any) -> None:
    theirs = _oracle(keras, keras.layers.GRU(2))
    kernel, recurrent, bias = _to_cudnn(theirs.layers[0].get_weights(), 3)
    names = _named("cu_dnngru", [kernel, recurrent, bias.reshape(-1)], CELL_WEIGHTS)
    _write_keras2_file(tmp_path / "m.h5", _keras2_model(_keras2_rnn("CuDNNGRU", "cu_dnngru", units=2)),
                       [("cu_dnngru", names), ("dropout", []), _dense_weights(theirs)])
    ours = load_model(tmp_path / "m.h5")
    assert ours.layers[0].cell.reset_after
    _assert_predicts_like(ours, theirs)


def test_keras2_weights_only_file(keras: Any, tmp_path: Any) -> None:
    theirs = _oracle(keras, keras.layers.SimpleRNN(3))
    with h5py.File(tmp_path / "w.h5", "w") as f:
        f.attrs["layer_names"] = np.array([b"simple_rnn", b"dropout", b"dense"])
        f.attrs["keras_version"] = b"2.4.0"
        for name, weights in [("simple_rnn", _named("simple_rnn", theirs.layers[0].get_weights(), CELL_WEIGHTS)),
                              ("dropout", []), _dense_weights(theirs)]:
            g = f.create_group(name)
            g.attrs["weight_names"] = np.array([w.encode() for w, _ in weights], dtype="S")
            for weight_name, value in weights:
                g.create_dataset(weight_name, data=value)
    L = birnn.layers
    ours = birnn.Sequential([L.Input(shape=(T, F)), L.SimpleRNN(3), L.Dropout(0.5), L.Dense(2)])
    load_weights(ours, tmp_path / "w.h5")
    _assert_predicts_like(ours, theirs)


# ------------------------------------------------------------------------------------ refusals


def test_time_major_true_is_refused(tmp_path: Any) -> None:
    config = _keras2_model(_keras2_rnn("LSTM", "lstm", time_major=True))
    _write_keras2_file(tmp_path / "m.h5", config, [])
    with pytest.raises(ValueError, match=r"layers\[0\] \('lstm'\): time_major=True is not supported"):
        load_model(tmp_path / "m.h5")


def test_cudnn_gru_weights_into_reset_before_gru(tmp_path: Any) -> None:
    u = 3
    cudnn = [np.zeros((F, 3 * u), "float32"), np.zeros((u, 3 * u), "float32"), np.zeros(6 * u, "float32")]
    _write_keras2_file(tmp_path / "m.h5", _keras2_model(_keras2_rnn("GRU", "gru")),
                       [("gru", _named("gru", cudnn, CELL_WEIGHTS)),
                        ("dense", _named("dense", [np.zeros((u, 2), "float32"), np.zeros(2, "float32")], ["kernel", "bias"]))])
    with pytest.raises(ValueError, match=r"CuDNNGRU weights are not compatible with GRU\(reset_after=False\) layer 'gru'"):
        load_model(tmp_path / "m.h5")


def test_weight_count_and_shape_mismatches_name_the_layer(keras: Any, tmp_path: Any) -> None:
    theirs = _oracle(keras, keras.layers.SimpleRNN(3))
    rnn = _named("simple_rnn", theirs.layers[0].get_weights(), CELL_WEIGHTS)
    config = _keras2_model(_keras2_rnn("SimpleRNN", "simple_rnn"))
    _write_keras2_file(tmp_path / "few.h5", config, [("simple_rnn", rnn)])
    with pytest.raises(ValueError, match=r"holds weights for 1 layer\(s\) \['simple_rnn'\], but the model has 2"):
        load_model(tmp_path / "few.h5")
    bad_dense = [("dense/kernel:0", np.zeros((4, 2), "float32")), ("dense/bias:0", np.zeros(2, "float32"))]
    _write_keras2_file(tmp_path / "shape.h5", config, [("simple_rnn", rnn), ("dense", bad_dense)])
    with pytest.raises(ValueError, match=r"layer 'dense' expects shape \(3, 2\) for its weight #0, but 'dense/dense/kernel:0' has shape \(4, 2\)"):
        load_model(tmp_path / "shape.h5")


def test_weights_only_file_is_not_a_model(tmp_path: Any) -> None:
    with h5py.File(tmp_path / "w.h5", "w") as f:
        f.attrs["layer_names"] = np.array([b"dense"])
    with pytest.raises(ValueError, match="no 'model_config' attribute: it is a weights-only file"):
        load_model(tmp_path / "w.h5")
