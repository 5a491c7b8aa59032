"""Keras 3's H5 weight layout (``model.weights.h5``, ``*.weights.h5``), written and read for birnn layers.

Keras visits objects recursively. Each visited layer gets a group ``<path>/vars`` (attribute
``name`` = the layer's name) holding its *own* weights as datasets ``"0"``, ``"1"``, ... in creation
order (trainable first). A child layer held in attribute ``attr`` lives at ``<path>/<attr>``; a list
of layers is a container whose items are named by their snake-cased class, made unique by a counter
(``lstm_cell``, ``lstm_cell_1``); a model's ``layers`` list is such a container. Attributes are
visited alphabetically, private ones last, and each layer once (at the first path reached). So a
``Bidirectional(LSTM)`` that is a model's first ``Bidirectional`` keeps its forward kernel at
``layers/bidirectional/forward_layer/cell/vars/0``.

birnn layers keep their sub-layers under Keras's attribute names (``forward_layer``, ``cell``,
``cells``, ``layer``), so the same walk over ``nn.Module`` children gives Keras's paths.

Reading never follows soft or external links, and accepts only plain numeric datasets.

Example:
    >>> import io, h5py, torch, birnn
    >>> bi = birnn.layers.Bidirectional(birnn.layers.GRU(2), name="bi")
    >>> _ = bi(torch.zeros(1, 3, 4))
    >>> [path for path, _ in saveable_entries(bi, "layers/bidirectional")][:3]
    ['layers/bidirectional', 'layers/bidirectional/backward_layer', 'layers/bidirectional/backward_layer/cell']
    >>> buffer = io.BytesIO()
    >>> with h5py.File(buffer, "w") as f:
    ...     write_weights(f, bi)
    ...     f["forward_layer/cell/vars/0"].shape
    (4, 6)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol, runtime_checkable

import h5py
import numpy as np
import torch
from torch import nn

from ..layers import InputLayer, Layer
from ..layers._naming import to_snake_case

__all__ = ["LayerContainer", "saveable_entries", "own_weights", "write_weights", "read_weights", "read_array", "safe_get", "safe_group"]


@runtime_checkable
class LayerContainer(Protocol):
    """A model: an object whose ``layers`` Keras saves first, as the container ``layers``."""

    layers: list[Any]


def _container_items(modules: list[Any], path: str) -> Iterator[tuple[str, Layer]]:
    """A list's layers, named by snake-cased class and a counter; ``InputLayer`` s hold nothing and are skipped."""
    used: dict[str, int] = {}
    for module in modules:
        if not isinstance(module, Layer) or isinstance(module, InputLayer):
            continue
        name = to_snake_case(type(module).__name__)
        used[name] = used.get(name, -1) + 1
        yield (f"{path}/{name}" if used[name] == 0 else f"{path}/{name}_{used[name]}"), module


def _children(obj: Layer, path: str) -> Iterator[tuple[str, Layer]]:
    """``(path, layer)`` of the direct children Keras would visit, in Keras's order.

    A model's ``layers`` list is one more attribute, sorted with the others (Sequential models hold
    their layers privately, so for them ``layers`` comes first).
    """
    attributes: dict[str, Any] = dict(obj._modules)
    if isinstance(obj, LayerContainer):
        attributes["layers"] = list(obj.layers)
    for attr in sorted(attributes, key=lambda a: (a.startswith("_"), a)):
        where = f"{path}/{attr}" if path else attr
        value = attributes[attr]
        if isinstance(value, Layer):
            yield where, value
        elif isinstance(value, (list, nn.ModuleList, nn.Sequential)):
            yield from _container_items(list(value), where)
        elif isinstance(value, nn.ModuleDict):
            yield from _container_items(list(value.values()), where)
        elif value is not None and any(True for _ in value.parameters()):
            raise ValueError(
                f"Layer '{obj.name}' holds a plain torch module ({type(value).__name__}) with parameters in "
                f"attribute '{attr}'; the Keras format can only save birnn layers."
            )


def saveable_entries(root: Layer, path: str = "") -> list[tuple[str, Layer]]:
    """Every layer reachable from ``root`` with its Keras H5 path, each layer once, in Keras's order."""
    entries: list[tuple[str, Layer]] = []
    seen: set[int] = set()

    def visit(obj: Layer, where: str) -> None:
        if id(obj) in seen:
            return
        seen.add(id(obj))
        entries.append((where, obj))
        for child_path, child in _children(obj, where):
            visit(child, child_path)

    visit(root, path)
    return entries


def own_weights(layer: Layer) -> list[nn.Parameter]:
    """The layer's own weights in Keras's ``vars`` order: created-trainable first, then the others."""
    return layer._own_weights(True) + layer._own_weights(False)


def _vars_path(path: str) -> str:
    return f"{path}/vars" if path else "vars"


def write_weights(h5: h5py.Group, root: Layer, path: str = "") -> None:
    """Write ``root``'s weights (and every sub-layer's) into ``h5`` at Keras's paths under ``path``."""
    for where, layer in saveable_entries(root, path):
        group = h5.create_group(_vars_path(where))
        group.attrs["name"] = layer.name
        for index, weight in enumerate(own_weights(layer)):
            value = weight.detach().cpu()
            if value.dtype == torch.bfloat16:  # Keras casts on load; float32 holds bfloat16 exactly
                value = value.float()
            group.create_dataset(str(index), data=value.numpy())


# ----------------------------------------------------------------------------------- reading


def safe_get(group: h5py.Group, key: str, source: str, where: str) -> Any:
    """``group[key]`` if it is a hard link (``None`` if absent); soft and external links are refused."""
    link = group.get(key, getlink=True)
    if link is None:
        return None
    if not isinstance(link, h5py.HardLink):
        raise ValueError(f"{source}: '{where}' is a {type(link).__name__}; birnn does not follow links inside weight files.")
    return group[key]


def safe_group(h5: h5py.Group, path: str, source: str) -> h5py.Group | None:
    """The group at ``path`` (``None`` if absent), walked one hard link at a time."""
    group: Any = h5
    walked = []
    for part in path.split("/"):
        walked.append(part)
        group = safe_get(group, part, source, "/".join(walked))
        if group is None:
            return None
        if not isinstance(group, h5py.Group):
            raise ValueError(f"{source}: '{'/'.join(walked)}' should be a group, found a {type(group).__name__}.")
    return group


def read_array(group: h5py.Group, key: str, source: str, where: str) -> np.ndarray | torch.Tensor:
    """A numeric dataset stored in the file itself (Keras's bfloat16 datasets come back as a tensor)."""
    dataset = safe_get(group, key, source, where)
    if not isinstance(dataset, h5py.Dataset):
        raise ValueError(f"{source}: '{where}' should be a dataset, found {type(dataset).__name__}.")
    if dataset.external or dataset.is_virtual:
        raise ValueError(f"{source}: '{where}' stores its data outside the file; birnn refuses external data.")
    if dataset.attrs.get("dtype") == "bfloat16" and dataset.dtype.itemsize == 2:
        raw = np.frombuffer(np.asarray(dataset[()]).tobytes(), dtype=np.int16).reshape(dataset.shape)
        return torch.from_numpy(raw.copy()).view(torch.bfloat16)
    if dataset.dtype.kind not in "fiub":
        raise ValueError(f"{source}: '{where}' holds {dataset.dtype} data; weights must be numeric.")
    return np.asarray(dataset[()])


def _locate(h5: h5py.Group, path: str, source: str) -> h5py.Group | None:
    """The ``vars`` group of ``path``, or of the ``_layer_checkpoint_dependencies`` path of tf.keras 2.13 files."""
    group = safe_group(h5, _vars_path(path), source)
    if group is None and "_layer_checkpoint_dependencies" in h5 and path.startswith("layers"):
        group = safe_group(h5, _vars_path(path.replace("layers", "_layer_checkpoint_dependencies", 1)), source)
    return group


def read_weights(h5: h5py.Group, root: Layer, source: str, path: str = "") -> None:
    """Load Keras-layout weights from ``h5`` into ``root`` (built), checking everything before copying.

    Args:
        h5: the open file or group.
        root: the model or layer to fill.
        source: the file's description for messages (``"m.keras: model.weights.h5"``).
        path: where ``root`` lives in the file.

    Raises:
        ValueError: a missing group or weight, a wrong count or shape, or a non-numeric dataset, naming
            the layer and the path inside the file. Nothing is copied then.
    """
    pending: list[tuple[nn.Parameter, Any]] = []
    for where, layer in saveable_entries(root, path):
        weights = own_weights(layer)
        group = _locate(h5, where, source)
        vars_path = _vars_path(where)
        if not weights:
            if group is not None and len(group) and not layer.built:
                raise ValueError(
                    f"{source}: '{vars_path}' holds {len(group)} weight(s) for layer '{layer.name}', which has none yet: "
                    "build the model (give it an Input, call it once, or model.build(input_shape)) before loading."
                )
            continue
        if group is None:
            raise ValueError(
                f"{source}: no weights for layer '{layer.name}' ({type(layer).__name__}): expected the group "
                f"'{vars_path}' with {len(weights)} weight(s)."
            )
        if len(group) != len(weights):
            raise ValueError(
                f"{source}: layer '{layer.name}' ({type(layer).__name__}) expects {len(weights)} weight(s) but "
                f"'{vars_path}' holds {len(group)}."
            )
        for index, param in enumerate(weights):
            where_weight = f"{vars_path}/{index}"
            if str(index) not in group:
                raise ValueError(f"{source}: layer '{layer.name}' is missing its weight '{where_weight}'.")
            value = read_array(group, str(index), source, where_weight)
            if tuple(value.shape) != tuple(param.shape):
                name = next(n for n, p in layer.named_parameters(recurse=False) if p is param)
                raise ValueError(
                    f"{source}: layer '{layer.name}' weight '{name}' has shape {tuple(param.shape)}, but "
                    f"'{where_weight}' has shape {tuple(value.shape)}."
                )
            pending.append((param, value))
    with torch.no_grad():
        for param, value in pending:
            tensor = value if isinstance(value, torch.Tensor) else torch.from_numpy(value)
            param.copy_(tensor.to(param.device, param.dtype))
