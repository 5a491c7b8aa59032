"""Legacy HDF5 (``.h5``) import: Keras 1/2 and tf.keras files, and Keras 3's ``legacy_h5_format``.

A full-model file has the attributes ``model_config`` (JSON), ``keras_version`` and ``backend``, and
the weights in the group ``model_weights``; a weights-only file has that group's content at its root:
the attribute ``layer_names`` and one group per layer whose attribute ``weight_names`` lists its
datasets in the layer's weight order (trainable then non-trainable; for ``Bidirectional`` the
forward layer's then the backward layer's). Weights are matched to the model's layers that have
weights, in order, and the dataset *names* are never interpreted, only their order.

Keras 2 pitfalls handled (``keras_semantics.md`` §4.3-4.4):

* ``time_major`` is dropped when false and refused when true; ``enable_caching_device`` is dropped;
  ``implementation``, ``input_dim``, ``input_length`` and ``batch_input_shape`` are accepted by birnn;
* Keras 1/2's ``"hard_sigmoid"`` (``clip(0.2 x + 0.5, 0, 1)``) becomes ``legacy_hard_sigmoid``, because
  Keras 3's ``hard_sigmoid`` is another function;
* ``CuDNNLSTM`` becomes ``LSTM`` and ``CuDNNGRU`` becomes ``GRU(reset_after=True)``; their weights are
  converted (per gate: the input kernel's cuDNN "Fortran" layout, transposed recurrent kernels, the
  LSTM bias halves summed, the GRU bias reshaped to ``(2, 3U)``);
* a Keras <= 2.1 ``Sequential`` config (a bare list of layers) and Keras 2's ``Policy`` dtypes.

Example:
    >>> upgrade_config({"class_name": "CuDNNGRU", "config": {"units": 2, "time_major": False}}, keras2=True, where="x")
    {'class_name': 'GRU', 'config': {'units': 2, 'reset_after': True, 'recurrent_activation': 'sigmoid'}}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import h5py
import numpy as np
import torch
from torch import nn

from ..layers import GRU, LSTM, Bidirectional, Layer
from ._h5_weights import LayerContainer, read_array, safe_group
from ._keras_config import parse_json

__all__ = ["upgrade_config", "read_model_config", "load_legacy_weights", "is_legacy_weights"]

_CUDNN = {
    "CuDNNLSTM": ("LSTM", {}),
    "CuDNNGRU": ("GRU", {"reset_after": True, "recurrent_activation": "sigmoid"}),
}
_TF_ONLY_KEYS = ("enable_caching_device",)


def _decode(value: Any) -> str:
    return value.decode("utf8") if isinstance(value, bytes) else str(value)


def _version(h5: h5py.Group) -> str:
    """``keras_version`` of the file; files without one were written by Keras 1."""
    return _decode(h5.attrs["keras_version"]) if "keras_version" in h5.attrs else "1"


def _upgrade_layer_config(config: dict[str, Any], keras2: bool, where: str) -> dict[str, Any]:
    if config.get("time_major"):
        raise ValueError(
            f"{where}: time_major=True is not supported: birnn layers are batch-major (batch, time, features). "
            "Re-save the model with time_major=False and transposed inputs."
        )
    config.pop("time_major", None)
    for key in _TF_ONLY_KEYS:
        config.pop(key, None)
    if keras2:
        for key, value in config.items():
            if key.endswith("activation") and value == "hard_sigmoid":
                config[key] = "legacy_hard_sigmoid"
    return config


def upgrade_config(value: Any, *, keras2: bool, where: str) -> Any:
    """A legacy config rewritten into what :func:`~birnn.saving._keras_config.from_keras` reads.

    Args:
        value: the parsed ``model_config`` (or any part of it).
        keras2: the file was written by Keras 1 or 2 (``hard_sigmoid`` then means Keras 2's formula).
        where: the path inside the file, for messages.
    """
    if isinstance(value, list):
        return [upgrade_config(item, keras2=keras2, where=f"{where}[{i}]") for i, item in enumerate(value)]
    if not isinstance(value, Mapping):
        return value
    if "class_name" not in value:
        return {k: upgrade_config(v, keras2=keras2, where=f"{where}.{k}") for k, v in value.items()}
    envelope = dict(value)
    class_name, config = envelope["class_name"], envelope.get("config")
    if class_name == "Policy":  # Keras 2's mixed-precision policy
        return {"class_name": "DTypePolicy", "config": config}
    if class_name == "Sequential" and isinstance(config, list):  # Keras <= 2.1
        config = {"layers": config}
    if class_name in _CUDNN:
        class_name, extra = _CUDNN[class_name]
        config = {**(config or {}), **extra}
    if isinstance(config, Mapping):
        name = config.get("name")
        here = f"{where} ('{name}')" if isinstance(name, str) else where
        config = {k: upgrade_config(v, keras2=keras2, where=f"{here}.config.{k}") for k, v in config.items()}
        config = _upgrade_layer_config(config, keras2, here)
    envelope.update(class_name=class_name, config=config)
    return envelope


def read_model_config(h5: h5py.File, source: str) -> Any:
    """The parsed ``model_config`` of a full-model file, upgraded from Keras 1/2 when they wrote it.

    Raises:
        ValueError: no ``model_config`` (a weights-only file) or invalid JSON.
    """
    if "model_config" not in h5.attrs:
        raise ValueError(
            f"{source} has no 'model_config' attribute: it is a weights-only file. Build the model and call "
            "model.load_weights() on it instead."
        )
    config = parse_json(_decode(h5.attrs["model_config"]), f"{source}: model_config")
    keras2 = _version(h5).split(".")[0] in ("1", "2")
    return upgrade_config(config, keras2=keras2, where=f"{source}: model_config")


# ----------------------------------------------------------------------------------- weights


def _attr_list(obj: h5py.Group, name: str) -> list[str]:
    """An attribute list, joining Keras's chunks ``name0``, ``name1``, ... of large lists."""
    if name in obj.attrs:
        return [_decode(v) for v in np.asarray(obj.attrs[name]).ravel()]
    chunks, index = [], 0
    while f"{name}{index}" in obj.attrs:
        chunks += [_decode(v) for v in np.asarray(obj.attrs[f"{name}{index}"]).ravel()]
        index += 1
    return chunks


def is_legacy_weights(h5: h5py.Group) -> bool:
    """Whether ``h5`` (a file or its ``model_weights`` group) has the legacy ``layer_names`` layout."""
    return bool(_attr_list(h5, "layer_names")) or "layer_names0" in h5.attrs


def _per_gate(kernel: np.ndarray, gates: int, transform: Any) -> np.ndarray:
    return np.hstack([transform(k) for k in np.hsplit(kernel, gates)])


def _from_cudnn(arrays: list[np.ndarray], gates: int) -> list[np.ndarray]:
    """cuDNN-layout ``[kernel, recurrent_kernel, bias]`` -> Keras's (bias still in cuDNN's halves)."""
    kernel = _per_gate(arrays[0], gates, lambda k: k.T.reshape(k.shape, order="F"))
    recurrent = _per_gate(arrays[1], gates, lambda k: k.T)
    return [kernel, recurrent, arrays[2]]


def _convert_rnn(layer: Layer, arrays: list[np.ndarray], where: str) -> list[np.ndarray]:
    """Convert ``CuDNNLSTM``/``CuDNNGRU`` weights (recognised by their bias) for ``layer``."""
    if len(arrays) != 3 or not isinstance(layer, (LSTM, GRU)):
        return arrays
    units = arrays[1].shape[0]
    gates = 4 if isinstance(layer, LSTM) else 3
    if arrays[2].shape != (2 * gates * units,):
        return arrays
    kernel, recurrent, bias = _from_cudnn(arrays, gates)
    if isinstance(layer, LSTM):
        return [kernel, recurrent, bias[: gates * units] + bias[gates * units :]]
    if not layer.cell.reset_after:
        raise ValueError(
            f"{where}: CuDNNGRU weights are not compatible with GRU(reset_after=False) layer '{layer.name}' "
            "(cuDNN's GRU applies the reset gate after the recurrent multiply)."
        )
    return [kernel, recurrent, bias.reshape(2, -1)]


def _convert(layer: Layer, arrays: list[np.ndarray], where: str) -> list[np.ndarray]:
    if isinstance(layer, Bidirectional):
        half = len(arrays) // 2
        return _convert(layer.forward_layer, arrays[:half], where) + _convert(layer.backward_layer, arrays[half:], where)
    return _convert_rnn(layer, arrays, where)


def _legacy_weights(layer: Layer) -> list[nn.Parameter]:
    """Keras 2's ``layer.trainable_weights + layer.non_trainable_weights`` (the two never overlap)."""
    return layer.trainable_weights + layer.non_trainable_weights


def _file_layers(h5: h5py.Group, source: str) -> list[tuple[str, h5py.Group, list[str]]]:
    """``(layer name, group, weight names)`` of the file's layers that have weights, in file order."""
    found = []
    for name in _attr_list(h5, "layer_names"):
        group = safe_group(h5, name, source)
        if group is None:
            raise ValueError(f"{source}: the file lists layer '{name}' but has no group '{name}'.")
        weight_names = _attr_list(group, "weight_names")
        if weight_names:
            found.append((name, group, weight_names))
    return found


def _model_layers(model: Layer) -> list[Layer]:
    layers = list(model.layers) if isinstance(model, LayerContainer) else [model]
    return [layer for layer in layers if _legacy_weights(layer)]


def load_legacy_weights(h5: h5py.Group, model: Layer, source: str) -> None:
    """Load a legacy ``layer_names``/``weight_names`` group into ``model``'s layers, in order.

    Raises:
        ValueError: different numbers of layers with weights, a missing dataset, or a count or shape
            mismatch, naming the layer and the dataset; nothing is copied then.
    """
    file_layers, layers = _file_layers(h5, source), _model_layers(model)
    if len(file_layers) != len(layers):
        raise ValueError(
            f"{source} holds weights for {len(file_layers)} layer(s) {[n for n, _, _ in file_layers]}, but the model "
            f"has {len(layers)} layer(s) with weights {[layer.name for layer in layers]}."
        )
    pending: list[tuple[nn.Parameter, Any]] = []
    for (group_name, group, weight_names), layer in zip(file_layers, layers):
        arrays = []
        for weight_name in weight_names:
            where = f"{group_name}/{weight_name}"
            parent, _, leaf = weight_name.rpartition("/")
            holder = safe_group(group, parent, source) if parent else group
            if holder is None or leaf not in holder:
                raise ValueError(f"{source}: layer '{layer.name}' lists weight '{where}', which the file does not contain.")
            arrays.append(read_array(holder, leaf, source, where))
        arrays = _convert(layer, arrays, f"{source}: '{group_name}'")
        params = _legacy_weights(layer)
        if len(arrays) != len(params):
            raise ValueError(
                f"{source}: layer '{layer.name}' ({type(layer).__name__}) expects {len(params)} weight(s), but the "
                f"file's layer '{group_name}' has {len(arrays)}: {weight_names}."
            )
        for param, array, weight_name in zip(params, arrays, weight_names):
            if tuple(array.shape) != tuple(param.shape):
                raise ValueError(
                    f"{source}: layer '{layer.name}' expects shape {tuple(param.shape)} for its weight #"
                    f"{params.index(param)}, but '{group_name}/{weight_name}' has shape {tuple(array.shape)}."
                )
            pending.append((param, array))
    with torch.no_grad():
        for param, array in pending:
            tensor = array if isinstance(array, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(array))
            param.copy_(tensor.to(param.device, param.dtype))
