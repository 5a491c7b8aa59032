"""Bad files fail loudly and safely; interrupted saves keep the previous file.

Every refusal is a ``ValueError`` naming the layer and the place inside the file, and nothing named
by a file is imported or run.
"""

from __future__ import annotations

import io
import json
import os
import re
import warnings
import zipfile
from collections.abc import Callable
from typing import Any

import h5py
import numpy as np
import pytest
import torch

import birnn
from birnn import saving
from birnn.saving import load_model, load_weights, save_model, save_weights

L = birnn.layers


def _model() -> Any:
    return birnn.Sequential([L.Input(shape=(4, 3)), L.Bidirectional(L.LSTM(2), name="bi"), L.Dense(2, name="out")])


@pytest.fixture
def saved(tmp_path: Any) -> Any:
    path = tmp_path / "m.keras"
    save_model(_model(), path)
    return path


def _members(path: Any) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _rewrite(path: Any, **members: bytes) -> None:
    contents = {**_members(path), **members}
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in contents.items():
            archive.writestr(name, data)


def _edit_config(path: Any, edit: Callable[[dict[str, Any]], None]) -> None:
    config = json.loads(_members(path)["config.json"])
    edit(config)
    _rewrite(path, **{"config.json": json.dumps(config).encode()})


def _edit_weights(path: Any, edit: Callable[[h5py.File], None]) -> None:
    buffer = io.BytesIO(_members(path)["model.weights.h5"])
    with h5py.File(buffer, "a") as h5:
        edit(h5)
    _rewrite(path, **{"model.weights.h5": buffer.getvalue()})


def _layer(config: dict[str, Any], index: int) -> dict[str, Any]:
    return config["config"]["layers"][index]


# ------------------------------------------------------------------------------- configs


def test_unknown_class(saved: Any) -> None:
    _edit_config(saved, lambda c: _layer(c, 2).update(class_name="FancyAttention"))
    with pytest.raises(ValueError, match=re.escape("config.json ('sequential').config.layers[2] ('out'): unknown class 'FancyAttention' (module 'keras.layers')")):
        load_model(saved)


def test_nested_unknown_class_names_the_path(saved: Any) -> None:
    _edit_config(saved, lambda c: _layer(c, 1)["config"]["layer"].update(class_name="PeepholeLSTM"))
    with pytest.raises(ValueError, match=re.escape("layers[1] ('bi').config.layer ('forward_lstm'): unknown class 'PeepholeLSTM'")):
        load_model(saved)


@pytest.mark.parametrize(
    ("module", "class_name"),
    [("os", "system"), ("subprocess", "Popen"), ("evil.layers", "Dense")],
    ids=["os.system", "subprocess", "known_name_foreign_module"],
)
def test_config_naming_a_module_to_import(saved: Any, tmp_path: Any, module: str, class_name: str) -> None:
    marker = tmp_path / "pwned"

    def edit(config: dict[str, Any]) -> None:
        _layer(config, 2).update(module=module, class_name=class_name, config={"command": f"touch {marker}", "units": 2})

    _edit_config(saved, edit)
    with pytest.raises(ValueError, match=re.escape(f"class '{class_name}' names module '{module}'. birnn never imports modules")):
        load_model(saved)
    assert not marker.exists()


def test_lambda_bytecode_is_refused(saved: Any) -> None:
    def edit(config: dict[str, Any]) -> None:
        _layer(config, 2)["config"]["activation"] = {"class_name": "__lambda__", "config": {"code": "YQ==", "defaults": None, "closure": None}}

    _edit_config(saved, edit)
    with pytest.raises(ValueError, match=r"layers\[2\] \('out'\)\.config\.activation: a lambda \(Python bytecode\) cannot be loaded"):
        load_model(saved)


def test_keras_lambda_layer_is_refused_not_run(keras: Any, tmp_path: Any) -> None:
    model = keras.Sequential([keras.Input((3,)), keras.layers.Lambda(lambda x: x * 2)])
    with warnings.catch_warnings():  # Keras may warn that lambdas are unsafe: that is the point
        warnings.simplefilter("ignore", UserWarning)
        model.save(tmp_path / "lambda.keras")
    with pytest.raises(ValueError, match=r"unknown class 'Lambda'"):
        load_model(tmp_path / "lambda.keras")


def test_absurdly_nested_json(saved: Any) -> None:
    _rewrite(saved, **{"config.json": b"[" * 500 + b"]" * 500})
    with pytest.raises(ValueError, match=r"config\.json nests objects more than 64 levels deep"):
        load_model(saved)


def test_bad_json_in_a_legacy_file(tmp_path: Any) -> None:
    with h5py.File(tmp_path / "m.h5", "w") as f:
        f.attrs["model_config"] = '{"class_name": "Sequential", "config": {"layers": [}'
    with pytest.raises(ValueError, match=r"m\.h5: model_config is not valid JSON"):
        load_model(tmp_path / "m.h5")


def test_bad_json(saved: Any) -> None:
    _rewrite(saved, **{"config.json": b'{"class_name": "Sequential", "config": {'})
    with pytest.raises(ValueError, match=r"m\.keras: config\.json is not valid JSON: Expecting property name"):
        load_model(saved)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda c: c.update(config=[1, 2]), "config.json: the 'config' of 'Sequential' must be a dict, received list"),
        (lambda c: c["config"].pop("layers"), "a Sequential config needs a 'layers' list"),
        (lambda c: _layer(c, 2).update(config="units=2"), "the 'config' of 'Dense' must be a dict, received str"),
        (lambda c: _layer(c, 2)["config"].update(units=-1), "layers[2] ('out'): cannot build Dense: "),
        (lambda c: _layer(c, 1)["config"]["layer"]["config"].update(peepholes=True), "Unrecognized keyword arguments passed to LSTM: {'peepholes': True}"),
        (lambda c: _layer(c, 2)["config"].update(quantization_config={"mode": "int8"}), "layers[2] ('out'): cannot build Dense: Argument `quantization_config` of Dense is not supported by birnn, received: quantization_config={'mode': 'int8'}"),
        (lambda c: _layer(c, 1).update(class_name=7), "'class_name' must be a string, received 7"),
    ],
    ids=["config_is_a_list", "no_layers", "config_not_a_dict", "bad_value", "unknown_argument", "keras_only_option", "class_name_type"],
)
def test_malformed_config(saved: Any, edit: Callable[[dict[str, Any]], None], message: str) -> None:
    _edit_config(saved, edit)
    with pytest.raises(ValueError, match=re.escape(message)):
        load_model(saved)


def test_registered_classes_load_and_unregistered_ones_do_not(tmp_path: Any) -> None:
    @saving.register_keras_serializable(package="TestPkg")
    class Scale(L.Layer):
        def __init__(self, factor: float = 2.0, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.factor = factor

        def call(self, inputs: torch.Tensor) -> torch.Tensor:
            return inputs * self.factor

        def compute_output_shape(self, input_shape: Any) -> Any:
            return input_shape

        def get_config(self) -> dict[str, Any]:
            return {**super().get_config(), "factor": self.factor}

    model = birnn.Sequential([L.Input(shape=(3,)), L.Dense(2), Scale(3.0)])
    save_model(model, tmp_path / "s.keras")
    config = json.loads(_members(tmp_path / "s.keras")["config.json"])
    assert _layer(config, 2)["registered_name"] == "TestPkg>Scale"
    x = np.ones((1, 3), "float32")
    np.testing.assert_allclose(load_model(tmp_path / "s.keras").predict(x, verbose=0), model.predict(x, verbose=0))

    _edit_config(tmp_path / "s.keras", lambda c: _layer(c, 2).update(registered_name="OtherPkg>Scale", class_name="Scale2"))
    with pytest.raises(ValueError, match=r"layers\[2\] \('scale'\): class 'Scale2' names module '.*'\. birnn never imports"):
        load_model(tmp_path / "s.keras")
    assert isinstance(load_model(tmp_path / "s.keras", custom_objects={"OtherPkg>Scale": Scale}).layers[1], Scale)


# ------------------------------------------------------------------------------- weights


def test_wrong_shape(saved: Any) -> None:
    def edit(h5: h5py.File) -> None:
        del h5["layers/dense/vars/0"]
        h5["layers/dense/vars/0"] = np.zeros((5, 2), "float32")

    _edit_weights(saved, edit)
    with pytest.raises(ValueError, match=re.escape("model.weights.h5: layer 'out' weight 'kernel' has shape (4, 2), but 'layers/dense/vars/0' has shape (5, 2).")):
        load_model(saved)


def test_missing_weight(saved: Any) -> None:
    _edit_weights(saved, lambda h5: h5.__delitem__("layers/bidirectional/backward_layer/cell/vars/2"))
    with pytest.raises(ValueError, match=re.escape("layer 'lstm_cell' (LSTMCell) expects 3 weight(s) but 'layers/bidirectional/backward_layer/cell/vars' holds 2.")):
        load_model(saved)


def test_missing_group(saved: Any) -> None:
    _edit_weights(saved, lambda h5: h5.__delitem__("layers/bidirectional/forward_layer"))
    with pytest.raises(ValueError, match=re.escape("no weights for layer 'lstm_cell' (LSTMCell): expected the group 'layers/bidirectional/forward_layer/cell/vars'")):
        load_model(saved)


def test_non_numeric_and_linked_weights(saved: Any, tmp_path: Any) -> None:
    def strings(h5: h5py.File) -> None:
        del h5["layers/dense/vars/1"]
        h5["layers/dense/vars/1"] = np.array([b"a", b"b"])

    _edit_weights(saved, strings)
    with pytest.raises(ValueError, match=re.escape("'layers/dense/vars/1' holds |S1 data; weights must be numeric")):
        load_model(saved)

    save_model(_model(), saved)

    def linked(h5: h5py.File) -> None:
        del h5["layers/dense/vars/1"]
        h5["layers/dense/vars/1"] = h5py.ExternalLink(str(tmp_path / "other.h5"), "/secret")

    _edit_weights(saved, linked)
    with pytest.raises(ValueError, match=re.escape("'layers/dense/vars/1' is a ExternalLink; birnn does not follow links")):
        load_model(saved)


def test_weights_into_an_unbuilt_model(saved: Any) -> None:
    unbuilt = birnn.Sequential([L.Bidirectional(L.LSTM(2), name="bi"), L.Dense(2, name="out")])
    with pytest.raises(ValueError, match=r"holds 3 weight\(s\) for layer 'lstm_cell', which has none yet: build the model"):
        load_weights(unbuilt, saved)


def test_failed_weight_load_changes_nothing(saved: Any, tmp_path: Any) -> None:
    model = _model()
    before = model.get_weights()
    _edit_weights(saved, lambda h5: h5.__delitem__("layers/dense/vars/1"))
    with pytest.raises(ValueError, match="expects 2 weight"):
        load_weights(model, saved)
    for a, b in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------------------- archives


def test_truncated_zip(saved: Any) -> None:
    data = saved.read_bytes()
    saved.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"m\.keras is not a valid \.keras archive \(truncated or corrupt zip file\)"):
        load_model(saved)


def test_corrupt_member(saved: Any) -> None:
    data = bytearray(saved.read_bytes())
    start = data.index(b"\x89HDF")  # the stored H5 member: flip bytes in its payload
    data[start + 2000 : start + 2010] = b"\x00" * 10
    saved.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"'model\.weights\.h5' cannot be read \(truncated or corrupt archive\): Bad CRC-32"):
        load_model(saved)


def test_missing_member_and_corrupt_h5(saved: Any) -> None:
    members = _members(saved)
    with zipfile.ZipFile(saved, "w") as archive:
        archive.writestr("config.json", members["config.json"])
    with pytest.raises(ValueError, match=r"not a complete \.keras archive: it has no 'model\.weights\.h5'"):
        load_model(saved)
    _rewrite(saved, **{"model.weights.h5": b"\x89HDF\r\n\x1a\n" + b"\x00" * 100})
    with pytest.raises(ValueError, match=r"model\.weights\.h5 is not a readable HDF5 file \(truncated or corrupt\)"):
        load_model(saved)


@pytest.mark.parametrize("content", [b"", b"not a model"], ids=["empty", "text"])
def test_not_a_model_file(tmp_path: Any, content: bytes) -> None:
    (tmp_path / "m.keras").write_bytes(content)
    with pytest.raises(ValueError, match=r"is neither a \.keras archive \(zip\) nor an HDF5 file"):
        load_model(tmp_path / "m.keras")


def test_truncated_h5(tmp_path: Any) -> None:
    save_weights(_model(), tmp_path / "m.weights.h5")
    data = (tmp_path / "m.weights.h5").read_bytes()
    (tmp_path / "m.weights.h5").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"m\.weights\.h5 is not a readable HDF5 file \(truncated or corrupt\)"):
        load_weights(_model(), tmp_path / "m.weights.h5")


# ------------------------------------------------------------------------------- atomic saves


def _interrupt_on_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    real = zipfile.ZipFile.writestr

    def writestr(self: zipfile.ZipFile, name: Any, data: Any, *args: Any, **kwargs: Any) -> None:
        if name == "model.weights.h5":
            real(self, name, data[: len(data) // 2], *args, **kwargs)  # half the weights are on disk
            raise KeyboardInterrupt("interrupted mid-save")
        real(self, name, data, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "writestr", writestr)


def test_interrupted_save_keeps_the_old_file(saved: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    old = saved.read_bytes()
    _interrupt_on_weights(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        save_model(_model(), saved)
    assert saved.read_bytes() == old
    assert os.listdir(saved.parent) == ["m.keras"]
    monkeypatch.undo()
    assert isinstance(load_model(saved), birnn.Sequential)


def test_interrupted_weights_save_keeps_the_old_file(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "m.weights.h5"
    save_weights(_model(), path)
    old = path.read_bytes()
    monkeypatch.setattr(os, "replace", lambda *args: (_ for _ in ()).throw(OSError("disk vanished")))
    with pytest.raises(OSError, match="disk vanished"):
        save_weights(_model(), path)
    assert path.read_bytes() == old
    assert os.listdir(tmp_path) == ["m.weights.h5"]


def test_save_does_not_touch_the_file_when_serialization_fails(saved: Any) -> None:
    old = saved.read_bytes()
    model = birnn.Sequential([L.Input(shape=(4, 3)), L.LSTM(2, recurrent_activation="legacy_hard_sigmoid")])
    with pytest.raises(ValueError, match=r"activation 'legacy_hard_sigmoid' \(Keras 2's hard_sigmoid\) does not exist in Keras 3"):
        save_model(model, saved)
    assert saved.read_bytes() == old


def test_overwrite_false(saved: Any) -> None:
    with pytest.raises(FileExistsError, match="already exists and overwrite=False"):
        save_model(_model(), saved, overwrite=False)
