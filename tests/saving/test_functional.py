"""Keras functional models that are a single chain of layers load as ``Sequential``."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import birnn
from birnn.saving import load_model

T = 5


def _perturb(model: Any) -> None:
    model.set_weights([w + np.random.RandomState(1).uniform(-0.3, 0.3, w.shape).astype(w.dtype) for w in model.get_weights()])


def _embedding_chain(keras: Any) -> tuple[Any, np.ndarray]:
    L = keras.layers
    inputs = keras.Input((T,), dtype="int32")
    x = L.Embedding(10, 4, mask_zero=True)(inputs)
    x = L.Bidirectional(L.LSTM(3, return_sequences=True), merge_mode="sum")(x)
    outputs = L.Dense(2)(L.Bidirectional(L.GRU(2))(x))
    ids = np.random.RandomState(0).randint(1, 10, (3, T)).astype("int32")
    ids[1, 2:] = 0
    return keras.Model(inputs, outputs), ids


def _masking_chain(keras: Any) -> tuple[Any, np.ndarray]:
    L = keras.layers
    inputs = keras.Input((T, 3))
    x = L.Bidirectional(L.SimpleRNN(3, return_sequences=True))(L.Masking()(inputs))
    outputs = L.Dense(2)(L.Bidirectional(L.LSTM(2))(x))
    x = np.random.RandomState(0).standard_normal((3, T, 3)).astype("float32")
    x[2, 3:] = 0.0
    return keras.Model(inputs, outputs), x


@pytest.mark.parametrize("fmt", ["keras", "h5"])
@pytest.mark.parametrize("make", [_embedding_chain, _masking_chain], ids=["embedding_mask", "masking"])
def test_chain_loads_as_sequential(keras: Any, tmp_path: Any, make: Any, fmt: str) -> None:
    theirs, x = make(keras)
    _perturb(theirs)
    path = tmp_path / f"f.{fmt}"
    if fmt == "keras":
        theirs.save(path)
    else:
        from keras.src.legacy.saving import legacy_h5_format

        legacy_h5_format.save_model_to_hdf5(theirs, str(path))
    ours = load_model(path)
    assert isinstance(ours, birnn.Sequential)
    assert [layer.name for layer in ours.layers] == [layer.name for layer in theirs.layers if type(layer).__name__ != "InputLayer"]
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), atol=1e-5, rtol=0)


def test_branches_are_refused(keras: Any, tmp_path: Any) -> None:
    L = keras.layers
    inputs = keras.Input((T, 3))
    merged = L.Concatenate(name="concatenate")([L.LSTM(2, name="lstm")(inputs), L.GRU(2, name="gru")(inputs)])
    keras.Model(inputs, L.Dense(1)(merged)).save(tmp_path / "branches.keras")
    with pytest.raises(ValueError, match=r"layer 'concatenate' takes inputs \['lstm', 'gru'\].*single chain of layers"):
        load_model(tmp_path / "branches.keras")


def test_explicit_mask_without_a_mask_layer_is_refused(keras: Any, tmp_path: Any) -> None:
    L = keras.layers
    inputs = keras.Input((T, 3))
    mask = keras.ops.not_equal(keras.ops.sum(inputs, axis=-1), 0.0)
    outputs = L.Bidirectional(L.LSTM(2))(inputs, mask=mask)
    keras.Model(inputs, outputs).save(tmp_path / "mask.keras")
    with pytest.raises(ValueError, match=r"masks are passed explicitly, but no layer on the chain makes one"):
        load_model(tmp_path / "mask.keras")
