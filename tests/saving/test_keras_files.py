"""``.keras`` files both ways, with the installed Keras 3 as the oracle.

Each model is a ``Sequential`` tagger/classifier over padded token ids (``Embedding(mask_zero=True)``
gives the mask): ``Embedding -> Bidirectional(<kind>) -> Dropout -> Dense``, for every recurrent
kind, every merge mode (``None`` last, as it returns two tensors) and a custom backward layer.
birnn writes a file that ``keras.saving.load_model`` opens, Keras writes a file that
``birnn.saving.load_model`` opens, and the predictions agree within 1e-5.
"""

from __future__ import annotations

import json
import zipfile
from typing import Any

import numpy as np
import pytest

import birnn
from birnn.saving import load_model, load_weights, save_model, save_weights

T, VOCAB = 6, 12
KINDS = ("SimpleRNN", "LSTM", "GRU")
MERGES = ("concat", "sum", "ave", "mul", None)


def _model(L: Any, Sequential: Any, kind: str, merge_mode: Any, custom_backward: bool) -> Any:
    rnn = getattr(L, kind)
    backward = rnn(3, return_sequences=True, go_backwards=True, activation="relu") if custom_backward else None
    bidirectional = L.Bidirectional(rnn(3, return_sequences=True), merge_mode=merge_mode, backward_layer=backward)
    layers = [L.Input(shape=(T,), dtype="int32"), L.Embedding(VOCAB, 4, mask_zero=True), bidirectional]
    if merge_mode is not None:
        layers += [L.Dropout(0.25), L.Bidirectional(rnn(2)), L.Dense(2, activation="softmax")]
    return Sequential(layers)


CASES = [(kind, merge, False) for kind in KINDS for merge in MERGES] + [(kind, "concat", True) for kind in KINDS]


def _id(case: tuple[str, Any, bool]) -> str:
    kind, merge, custom = case
    return f"{kind}-{merge}" + ("-custom_backward" if custom else "")


def _ids() -> np.ndarray:
    """Right-padded ids (0 = padding), one row fully used, one with a single token."""
    ids = np.random.RandomState(3).randint(1, VOCAB, size=(4, T)).astype("int32")
    for row, length in enumerate([T, 4, 1, 3]):
        ids[row, length:] = 0
    return ids


def _predict(model: Any) -> list[np.ndarray]:
    out = model.predict(_ids(), verbose=0)
    return [np.asarray(o) for o in out] if isinstance(out, (list, tuple)) else [np.asarray(out)]


def _assert_same(ours: Any, theirs: Any) -> None:
    for a, b in zip(_predict(ours), _predict(theirs), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=0)


def _perturb(model: Any) -> None:
    """Non-zero biases everywhere, so that a misplaced or dropped bias cannot hide."""
    model.set_weights([w + np.random.RandomState(7).uniform(-0.3, 0.3, w.shape).astype(w.dtype) for w in model.get_weights()])


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_birnn_file_opens_in_keras(keras: Any, tmp_path: Any, case: tuple[str, Any, bool]) -> None:
    ours = _model(birnn.layers, birnn.Sequential, *case)
    _perturb(ours)
    path = tmp_path / "ours.keras"
    save_model(ours, path)
    theirs = keras.saving.load_model(path)
    assert [layer.name for layer in theirs.layers] == [layer.name for layer in ours.layers]
    _assert_same(ours, theirs)


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_keras_file_opens_in_birnn(keras: Any, tmp_path: Any, case: tuple[str, Any, bool]) -> None:
    theirs = _model(keras.layers, keras.Sequential, *case)
    _perturb(theirs)
    path = tmp_path / "theirs.keras"
    theirs.save(path)
    ours = load_model(path)
    assert isinstance(ours, birnn.Sequential)
    assert [layer.name for layer in ours.layers] == [layer.name for layer in theirs.layers]
    _assert_same(ours, theirs)


def test_birnn_round_trip_keeps_config_and_weights(tmp_path: Any) -> None:
    model = _model(birnn.layers, birnn.Sequential, "LSTM", "ave", True)
    _perturb(model)
    save_model(model, tmp_path / "m.keras")
    clone = load_model(tmp_path / "m.keras")
    assert clone.get_config() == model.get_config()
    for a, b in zip(clone.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_tf_keras_24_form_with_input_shape_and_activation(keras: Any, tmp_path: Any) -> None:
    """The seed's tf.keras 2.4 form: ``input_shape=`` on the first layer and an ``Activation`` layer."""
    L = birnn.layers
    model = birnn.Sequential()
    model.add(L.Bidirectional(L.LSTM(10, return_sequences=True), input_shape=(5, 10)))
    model.add(L.Bidirectional(L.LSTM(10)))
    model.add(L.Dense(5))
    model.add(L.Activation("softmax"))
    _perturb(model)
    save_model(model, tmp_path / "seed.keras")
    theirs = keras.saving.load_model(tmp_path / "seed.keras")
    x = np.random.RandomState(0).standard_normal((3, 5, 10)).astype("float32")
    np.testing.assert_allclose(model.predict(x, verbose=0), theirs.predict(x, verbose=0), atol=1e-5, rtol=0)


def test_weights_from_a_keras_archive(keras: Any, tmp_path: Any) -> None:
    theirs = _model(keras.layers, keras.Sequential, "LSTM", "sum", False)
    _perturb(theirs)
    theirs.save(tmp_path / "theirs.keras")
    ours = _model(birnn.layers, birnn.Sequential, "LSTM", "sum", False)
    load_weights(ours, tmp_path / "theirs.keras")
    _assert_same(ours, theirs)


def test_archive_layout(tmp_path: Any) -> None:
    save_model(_model(birnn.layers, birnn.Sequential, "LSTM", "concat", False), tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as archive:
        metadata = json.loads(archive.read("metadata.json"))
        config = json.loads(archive.read("config.json"))
    assert metadata["keras_version"].startswith("3.") and "date_saved" in metadata
    assert (config["module"], config["class_name"]) == ("keras", "Sequential")
    assert config["config"]["layers"][0]["class_name"] == "InputLayer"
    assert config["build_config"] == {"input_shape": [None, T]}


def test_save_model_refuses_other_suffixes_and_subclassed_models(tmp_path: Any) -> None:
    model = _model(birnn.layers, birnn.Sequential, "GRU", "concat", False)
    with pytest.raises(ValueError, match=r"must end in '\.keras'; received filepath='.*m\.h5'"):
        save_model(model, str(tmp_path / "m.h5"))
    with pytest.raises(ValueError, match=r"must end in `\.weights\.h5`"):
        save_weights(model, str(tmp_path / "m.h5"))

    class Tagger(birnn.Model):
        def __init__(self) -> None:
            super().__init__()
            self.dense = birnn.layers.Dense(2)

        def call(self, inputs: Any) -> Any:
            return self.dense(inputs)

    with pytest.raises(ValueError, match="save_model writes Sequential models; received Tagger"):
        save_model(Tagger(), tmp_path / "t.keras")


def _tagger_class(base: Any, L: Any) -> Any:
    """The same subclassed model in either library; ``embed`` sorts before ``layers``, ``rnn`` after."""

    class Tagger(base):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            super().__init__()
            self.rnn = L.Bidirectional(L.GRU(3, return_sequences=True))
            self.embed = L.Embedding(VOCAB, 4, mask_zero=True)
            self.out = L.Dense(2)

        def call(self, inputs: Any) -> Any:
            x = self.embed(inputs)
            return self.out(self.rnn(x, mask=self.embed.compute_mask(inputs)))

    return Tagger


@pytest.mark.parametrize("kind", ["sequential", "subclassed"])
def test_weights_files_both_ways(keras: Any, tmp_path: Any, kind: str) -> None:
    if kind == "sequential":
        ours = _model(birnn.layers, birnn.Sequential, "GRU", "concat", False)
        theirs = _model(keras.layers, keras.Sequential, "GRU", "concat", False)
    else:
        ours, theirs = _tagger_class(birnn.Model, birnn.layers)(), _tagger_class(keras.Model, keras.layers)()
        ours.predict(_ids(), verbose=0), theirs.predict(_ids(), verbose=0)  # build both
    _perturb(ours)
    save_weights(ours, tmp_path / "ours.weights.h5")
    theirs.load_weights(tmp_path / "ours.weights.h5")
    _assert_same(ours, theirs)
    _perturb(theirs)
    theirs.save_weights(tmp_path / "theirs.weights.h5")
    load_weights(ours, tmp_path / "theirs.weights.h5")
    _assert_same(ours, theirs)


def test_keras_training_configuration_is_restored(keras: Any, tmp_path: Any) -> None:
    theirs = _model(keras.layers, keras.Sequential, "GRU", "concat", False)
    theirs.compile(optimizer=keras.optimizers.Adam(0.01, clipnorm=1.0), loss="sparse_categorical_crossentropy",
                   metrics=["accuracy"])
    theirs.save(tmp_path / "compiled.keras")
    ours = load_model(tmp_path / "compiled.keras")
    assert ours.compiled
    assert type(ours.optimizer).__name__ == "Adam"
    assert ours.optimizer.clipnorm == 1.0 and abs(ours.optimizer.learning_rate - 0.01) < 1e-8
    ours.train_on_batch(_ids(), np.array([0, 1, 1, 0]))
    assert not load_model(tmp_path / "compiled.keras", compile=False).compiled


def test_unrestorable_training_configuration_warns(keras: Any, tmp_path: Any) -> None:
    theirs = _model(keras.layers, keras.Sequential, "GRU", "concat", False)
    theirs.compile(optimizer="sgd", loss="mse")
    theirs.save(tmp_path / "compiled.keras")
    with zipfile.ZipFile(tmp_path / "compiled.keras") as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(members["config.json"])
    config["compile_config"]["loss"] = {"module": "my_losses", "class_name": "FocalLoss", "config": {}, "registered_name": None}
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(tmp_path / "compiled.keras", "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    with pytest.warns(UserWarning, match=r"its training configuration could not be restored \(.*'FocalLoss' names module 'my_losses'"):
        ours = load_model(tmp_path / "compiled.keras")
    assert not ours.compiled


def _core_layers_model(L: Any, Sequential: Any) -> Any:
    """The other core layers whose weights and masks cross the format: Masking, TimeDistributed,
    LayerNormalization, SpatialDropout1D, Activation, mask-aware global pooling."""
    return Sequential([
        L.Input(shape=(T, 3)),
        L.Masking(mask_value=0.0),
        L.Bidirectional(L.LSTM(3, return_sequences=True, use_bias=False, unit_forget_bias=False)),
        L.TimeDistributed(L.Dense(4)),
        L.LayerNormalization(),
        L.SpatialDropout1D(0.2),
        L.Bidirectional(L.GRU(2, return_sequences=True, reset_after=False), merge_mode="ave"),
        L.GlobalAveragePooling1D(),
        L.Activation("tanh"),
    ])  # fmt: skip


@pytest.mark.parametrize("direction", ["birnn_to_keras", "keras_to_birnn"])
def test_core_layers_both_ways(keras: Any, tmp_path: Any, direction: str) -> None:
    x = np.random.RandomState(4).standard_normal((4, T, 3)).astype("float32")
    x[1, 3:] = 0.0  # masked by Masking
    path = tmp_path / "core.keras"
    if direction == "birnn_to_keras":
        ours = _core_layers_model(birnn.layers, birnn.Sequential)
        _perturb(ours)
        save_model(ours, path)
        theirs = keras.saving.load_model(path)
    else:
        theirs = _core_layers_model(keras.layers, keras.Sequential)
        _perturb(theirs)
        theirs.save(path)
        ours = load_model(path)
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), atol=1e-5, rtol=0)


def test_bfloat16_weights_from_keras(keras: Any, tmp_path: Any) -> None:
    """Keras stores bfloat16 variables as 2-byte opaque data with a ``dtype`` attribute."""
    theirs = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, dtype="bfloat16")])
    theirs.save_weights(tmp_path / "bf16.weights.h5")
    ours = birnn.Sequential([birnn.layers.Input(shape=(3,)), birnn.layers.Dense(4, dtype="bfloat16")])
    load_weights(ours, tmp_path / "bf16.weights.h5")
    for a, b in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_array_equal(a, np.asarray(b, dtype="float32"))
    save_weights(ours, tmp_path / "back.weights.h5")
    theirs.load_weights(tmp_path / "back.weights.h5")
    for a, b in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_array_equal(a, np.asarray(b, dtype="float32"))
