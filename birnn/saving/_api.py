"""``save_model`` / ``load_model`` / ``save_weights`` / ``load_weights``: pick the format, then delegate.

Formats are recognised by content, not by name: a zip is a ``.keras`` archive, an HDF5 file with a
``model_config`` attribute is a legacy full-model file, one with ``layer_names`` is a legacy
weights-only file, anything else HDF5 is Keras 3's ``.weights.h5`` layout.

Example:
    >>> import os, tempfile, numpy as np, birnn
    >>> from birnn.layers import LSTM, Bidirectional, Dense, Input
    >>> model = birnn.Sequential([Input(shape=(4, 3)), Bidirectional(LSTM(2)), Dense(1)])
    >>> folder = tempfile.mkdtemp()
    >>> save_model(model, os.path.join(folder, "m.keras"))
    >>> clone = load_model(os.path.join(folder, "m.keras"))
    >>> x = np.ones((1, 4, 3), "float32")
    >>> bool(np.allclose(clone.predict(x, verbose=0), model.predict(x, verbose=0)))
    True
    >>> save_weights(model, os.path.join(folder, "m.weights.h5"))
    >>> load_weights(clone, os.path.join(folder, "m.weights.h5"))
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import h5py

from ..layers import Layer
from . import _keras_format, _legacy_h5
from ._atomic import atomic_write
from ._functional import functional_as_sequential, is_functional
from ._h5_weights import read_weights, safe_group
from ._keras_config import from_keras

__all__ = ["save_model", "load_model", "save_weights", "load_weights"]

_ZIP_MAGIC = b"PK\x03\x04"
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def _kind(path: str) -> str:
    """``"zip"``, ``"hdf5"``, or raise: what the file's first bytes say it is."""
    try:
        with open(path, "rb") as file:
            head = file.read(8)
    except FileNotFoundError:
        raise FileNotFoundError(f"No file or directory found at {path}") from None
    if head.startswith(_ZIP_MAGIC):
        return "zip"
    if head == _HDF5_MAGIC:
        return "hdf5"
    raise ValueError(
        f"{path} is neither a .keras archive (zip) nor an HDF5 file (.h5 / .weights.h5): it starts with {head!r}. "
        "An empty or truncated file reads this way too."
    )


def _open_hdf5(path: str) -> h5py.File:
    try:
        return h5py.File(path, "r")
    except OSError as error:
        raise ValueError(f"{path} is not a readable HDF5 file (truncated or corrupt): {error}") from None


def save_model(model: Layer, filepath: str | os.PathLike[str], overwrite: bool = True) -> None:
    """Save a ``Sequential`` model as a Keras 3 ``.keras`` file (loadable by ``keras.saving.load_model``).

    The write is atomic: an interrupted save leaves any previous file at ``filepath`` intact.

    Args:
        model: the model (``Sequential``).
        filepath: destination ending in ``.keras``.
        overwrite: replace an existing file (``False``: raise ``FileExistsError``).

    Raises:
        ValueError: a path not ending in ``.keras``, a model that is not ``Sequential``, or a setting
            Keras 3 cannot represent (named).
    """
    path = os.fspath(filepath)
    if not path.endswith(".keras"):
        raise ValueError(
            f"save_model writes the Keras 3 format, whose file name must end in '.keras'; received filepath={path!r}. "
            "(Legacy .h5 files can be loaded but not written.)"
        )
    _keras_format.save_keras(model, path, overwrite=overwrite)


def load_model(
    filepath: str | os.PathLike[str], custom_objects: Mapping[str, Any] | None = None, compile: bool = True
) -> Layer:
    """Load a model from a ``.keras`` file (Keras 3 or birnn) or a legacy Keras 1/2/3 ``.h5`` file.

    Loading never unpickles and never runs code from the file: JSON and HDF5 are parsed as data,
    and only birnn's own classes and registered ones (``register_keras_serializable``, or
    ``custom_objects``) are built.

    Args:
        filepath: the file.
        custom_objects: extra classes/functions by name (a class's registered or plain name).
        compile: restore the training configuration Keras 3 saved in a ``.keras`` file
            (``compile_config``: optimizer, loss, metrics); if it cannot be rebuilt, a warning says so
            and the model loads uncompiled. Legacy ``.h5`` files and files birnn wrote load
            uncompiled: call ``model.compile(...)`` before training.

    Raises:
        ValueError: an unknown class, a config naming a module to import, bytecode, invalid JSON, a
            truncated or corrupt file, or missing or mis-shaped weights; the message names the layer
            and the place inside the file.
    """
    path = os.fspath(filepath)
    if _kind(path) == "zip":
        return _keras_format.load_keras(path, custom_objects, compile=compile)
    with _open_hdf5(path) as h5:
        config = _legacy_h5.read_model_config(h5, path)
        weights = safe_group(h5, "model_weights", path)
        if weights is None:
            raise ValueError(f"{path} has a model_config but no 'model_weights' group.")
        where = f"{path}: model_config"
        if is_functional(config):
            config = functional_as_sequential(config, where)
        model = _keras_format.build_model(from_keras(config, where, custom_objects), where, custom_objects)
        _legacy_h5.load_legacy_weights(weights, model, f"{path}: model_weights")
    return model


def save_weights(model: Layer, filepath: str | os.PathLike[str], overwrite: bool = True) -> None:
    """Write ``model``'s weights in Keras 3's H5 layout (``model.save_weights`` in Keras), atomically.

    Raises:
        ValueError: ``filepath`` does not end in ``.weights.h5`` (Keras's rule).
    """
    path = os.fspath(filepath)
    if not path.endswith(".weights.h5"):
        raise ValueError(f"The filename must end in `.weights.h5`. Received: filepath={path!r}")
    data = _keras_format.weights_bytes(model)
    with atomic_write(path, overwrite=overwrite) as file:
        file.write(data)


def load_weights(model: Layer, filepath: str | os.PathLike[str]) -> None:
    """Load weights into a built ``model``: from a ``.weights.h5`` file, a ``.keras`` file, or a legacy
    ``.h5`` (weights-only or full model, weights matched to the layers that have weights, in order).

    Raises:
        ValueError: a corrupt file, or missing, extra or mis-shaped weights, naming the layer and the
            path inside the file; the model's weights are then unchanged.
    """
    path = os.fspath(filepath)
    if _kind(path) == "zip":
        _keras_format.load_keras_weights(path, model)
        return
    with _open_hdf5(path) as h5:
        full_model = safe_group(h5, "model_weights", path)
        if full_model is not None and _legacy_h5.is_legacy_weights(full_model):
            _legacy_h5.load_legacy_weights(full_model, model, f"{path}: model_weights")
        elif _legacy_h5.is_legacy_weights(h5):
            _legacy_h5.load_legacy_weights(h5, model, path)
        else:
            read_weights(h5, model, path)
