"""The Keras 3 ``.keras`` file: a zip of ``metadata.json``, ``config.json`` and ``model.weights.h5``.

``config.json`` is the model's Keras envelope (``{"module", "class_name", "config",
"registered_name", "build_config"}``, translated by :mod:`._keras_config`); ``model.weights.h5`` is
Keras's H5 weight layout (:mod:`._h5_weights`). Files written here load in Keras 3
(``keras.saving.load_model``) and files Keras 3 writes load here.

Reading trusts nothing: the archive, the JSON and the H5 file are each checked, only registered
classes are built, and every failure is a ``ValueError`` that names the file, the member and the
place inside it.

Example:
    >>> import os, tempfile, zipfile, birnn
    >>> from birnn.layers import Dense, Input
    >>> model = birnn.Sequential([Input(shape=(3,)), Dense(2)])
    >>> path = os.path.join(tempfile.mkdtemp(), "model.keras")
    >>> save_keras(model, path)
    >>> sorted(zipfile.ZipFile(path).namelist())
    ['config.json', 'metadata.json', 'model.weights.h5']
    >>> clone = load_keras(path)
    >>> [w.shape for w in clone.get_weights()]
    [(3, 2), (2,)]
"""

from __future__ import annotations

import datetime
import io
import json
import os
import warnings
import zipfile
import zlib
from collections.abc import Mapping
from typing import Any

import h5py

from .. import _registry
from ..layers import Layer
from ._atomic import atomic_write
from ._functional import functional_as_sequential, is_functional
from ._h5_weights import read_weights, write_weights
from ._keras_config import describe, from_keras, parse_json, resolve_class, to_keras

__all__ = ["save_keras", "load_keras", "load_keras_weights", "weights_bytes", "build_model", "restore_compile", "KERAS_FORMAT_VERSION"]

CONFIG, METADATA, WEIGHTS = "config.json", "metadata.json", "model.weights.h5"
KERAS_FORMAT_VERSION = "3.15.1"
"""The Keras release whose ``.keras`` layout birnn writes (and is tested against)."""


# ------------------------------------------------------------------------------------ saving


def _sequential() -> type:
    from ..models import Sequential  # models build on layers; imported late so that either may import saving

    return Sequential


def model_config(model: Layer) -> dict[str, Any]:
    """The Keras ``config.json`` content for a ``Sequential`` model.

    Raises:
        ValueError: not a ``Sequential`` (subclassed models: use ``save_weights``), or something Keras
            3 cannot represent.
    """
    if not isinstance(model, _sequential()):
        raise ValueError(
            f"save_model writes Sequential models; received {type(model).__name__} '{model.name}'. For a subclassed "
            "model, save its weights with birnn.saving.save_weights(model, 'x.weights.h5') and rebuild it in code."
        )
    envelope = to_keras(_registry.serialize(model), "model")
    shape = envelope["config"].get("build_input_shape")
    if shape is not None:
        envelope["build_config"] = {"input_shape": shape}
    return envelope


def weights_bytes(model: Layer) -> bytes:
    """``model``'s weights as the bytes of a Keras H5 weights file."""
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as h5:
        write_weights(h5, model)
    return buffer.getvalue()


def save_keras(model: Layer, path: str | os.PathLike[str], *, overwrite: bool = True) -> None:
    """Write ``model`` to ``path`` in the Keras 3 ``.keras`` format, atomically.

    Everything is serialized before the file is touched; the archive is then written to a temporary
    file that replaces ``path`` only once complete.
    """
    from .. import __version__ as birnn_version  # the package may still be initialising when saving is imported

    config = json.dumps(model_config(model))
    weights = weights_bytes(model)
    metadata = json.dumps(
        {
            "keras_version": KERAS_FORMAT_VERSION,
            "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
            "birnn_version": birnn_version,
        }
    )
    with atomic_write(path, overwrite=overwrite) as file, zipfile.ZipFile(file, "w") as archive:
        archive.writestr(METADATA, metadata)
        archive.writestr(CONFIG, config)
        archive.writestr(WEIGHTS, weights)


# ----------------------------------------------------------------------------------- loading

_ARCHIVE_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, KeyError, NotImplementedError)


def _read_member(archive: zipfile.ZipFile, member: str, source: str) -> bytes:
    if member not in archive.namelist():
        raise ValueError(f"{source} is not a complete .keras archive: it has no '{member}' (found {archive.namelist()}).")
    try:
        return archive.read(member)
    except _ARCHIVE_ERRORS as error:
        raise ValueError(f"{source}: '{member}' cannot be read (truncated or corrupt archive): {error}") from None


def _open_archive(path: str) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except _ARCHIVE_ERRORS as error:
        raise ValueError(f"{path} is not a valid .keras archive (truncated or corrupt zip file): {error}") from None


def _open_h5(data: bytes, where: str) -> h5py.File:
    try:
        return h5py.File(io.BytesIO(data), "r")
    except OSError as error:
        raise ValueError(f"{where} is not a readable HDF5 file (truncated or corrupt): {error}") from None


def _deserialize(envelope: Any, where: str, custom_objects: Mapping[str, Any] | None) -> Layer:
    if not isinstance(envelope, Mapping) or "class_name" not in envelope:
        raise ValueError(f"{where}: expected an object config with 'class_name' and 'config', received {envelope!r:.200}.")
    here = describe(where, envelope.get("config"))
    try:
        obj = _registry.deserialize(envelope, custom_objects, kind="layer")
    except (ValueError, TypeError, KeyError) as error:
        raise ValueError(f"{here}: cannot build {envelope['class_name']}: {error}") from None
    if not isinstance(obj, Layer):
        raise ValueError(f"{here}: {envelope['class_name']} is not a birnn layer or model.")
    return obj


def build_model(envelope: Any, where: str, custom_objects: Mapping[str, Any] | None = None) -> Layer:
    """Build (and build the weights of) the model described by a birnn envelope from :func:`from_keras`.

    A ``Sequential`` is assembled layer by layer, so that an error names the layer's index and name.
    """
    if not isinstance(envelope, Mapping) or "class_name" not in envelope:
        raise ValueError(f"{where}: expected a model config with 'class_name' and 'config', received {envelope!r:.200}.")
    config = envelope.get("config")
    cls = _registry.get_registered_object(resolve_class(envelope, where, custom_objects), custom_objects)
    if isinstance(cls, type) and issubclass(cls, _sequential()):
        if not isinstance(config, Mapping) or not isinstance(config.get("layers"), list):
            raise ValueError(f"{describe(where, config)}: a Sequential config needs a 'layers' list.")
        here = f"{describe(where, config)}.config.layers"
        layers = [_deserialize(entry, f"{here}[{i}]", custom_objects) for i, entry in enumerate(config["layers"])]
        try:
            model = cls(layers, trainable=config.get("trainable", True), name=config.get("name"))
        except ValueError as error:
            raise ValueError(f"{describe(where, config)}: {error}") from None
        shape = config.get("build_input_shape") or envelope.get("build_config", {}).get("input_shape")
    else:
        model = _deserialize(envelope, where, custom_objects)
        shape = envelope.get("build_config", {}).get("input_shape")
    if not model.built and shape is not None:
        model.build(tuple(shape))
    return model


def _built(value: Any, custom_objects: Mapping[str, Any] | None) -> Any:
    """A translated compile argument: envelopes become objects, names and ``None`` stay as they are."""
    if isinstance(value, list):
        return [_built(item, custom_objects) for item in value]
    if isinstance(value, Mapping) and "class_name" in value:
        return _registry.deserialize(value, custom_objects)
    return value


def restore_compile(model: Layer, compile_config: Any, where: str, custom_objects: Mapping[str, Any] | None) -> None:
    """``model.compile(...)`` from Keras's ``compile_config``; on failure a warning, as in Keras.

    A model whose training configuration cannot be rebuilt (an unregistered loss, say) still loads
    for inference; nothing in the configuration is imported or run either way.
    """
    if not isinstance(compile_config, Mapping) or not compile_config.get("optimizer"):
        return
    try:
        config = from_keras(dict(compile_config), where, custom_objects)
        model.compile(
            optimizer=_built(config["optimizer"], custom_objects),
            loss=_built(config.get("loss"), custom_objects),
            metrics=_built(config.get("metrics"), custom_objects),
            loss_weights=config.get("loss_weights"),
        )
    except (ValueError, TypeError, KeyError) as error:
        warnings.warn(
            f"{where}: the model loaded, but its training configuration could not be restored ({error}). "
            "Call model.compile(...) before training.",
            stacklevel=3,
        )


def load_keras_weights(archive_path: str, model: Layer) -> None:
    """Load the weights of the ``.keras`` file ``archive_path`` into ``model``."""
    with _open_archive(archive_path) as archive:
        where = f"{archive_path}: {WEIGHTS}"
        with _open_h5(_read_member(archive, WEIGHTS, archive_path), where) as h5:
            read_weights(h5, model, where)


def load_keras(
    path: str | os.PathLike[str], custom_objects: Mapping[str, Any] | None = None, compile: bool = True
) -> Layer:
    """Load a ``.keras`` file written by Keras 3 or by birnn (compiled as saved when ``compile``).

    Raises:
        ValueError: a corrupt or truncated archive, invalid JSON, an unknown class or a module to
            import, a config birnn cannot build, or missing or mis-shaped weights (each named).
    """
    source = os.fspath(path)
    with _open_archive(source) as archive:
        where = f"{source}: {CONFIG}"
        raw = parse_json(_read_member(archive, CONFIG, source), where)
        if is_functional(raw):
            raw = functional_as_sequential(raw, where)
        model = build_model(from_keras(raw, where, custom_objects), where, custom_objects)
        where = f"{source}: {WEIGHTS}"
        with _open_h5(_read_member(archive, WEIGHTS, source), where) as h5:
            read_weights(h5, model, where)
    if compile and isinstance(raw, Mapping):
        restore_compile(model, raw.get("compile_config"), f"{source}: {CONFIG} compile_config", custom_objects)
    return model
