"""Keras functional models that are a single chain of layers, read as ``Sequential``.

``keras.Model(inputs, outputs)`` over ``Input -> A -> B -> C`` saves a ``Functional`` config whose
layers carry ``inbound_nodes``. When every layer reads exactly the previous one, the model *is* a
``Sequential``, and its weight paths are the same (``layers/<snake_case>``). Masks need no wiring:
``Sequential`` hands each layer's ``compute_mask`` to the next, which is what Keras's functional
graph does; Keras 3 records an ``Embedding``'s mask as a separate ``NotEqual`` operation feeding the
``mask`` argument, and such mask-only operations are dropped.

Anything else (branches, several inputs or outputs, shared layers, call arguments other than
``mask``/``training``) is refused with a ``ValueError`` naming the layer.

Example:
    >>> config = {"class_name": "Functional", "config": {"name": "f", "layers": [
    ...     {"class_name": "InputLayer", "name": "in", "config": {"batch_shape": [None, 3]}, "inbound_nodes": []},
    ...     {"class_name": "Dense", "name": "d", "config": {"units": 2},
    ...      "inbound_nodes": [[["in", 0, 0, {}]]]}],
    ...     "input_layers": [["in", 0, 0]], "output_layers": [["d", 0, 0]]}}
    >>> seq = functional_as_sequential(config, "config.json")
    >>> seq["class_name"], [layer["class_name"] for layer in seq["config"]["layers"]]
    ('Sequential', ['InputLayer', 'Dense'])
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["is_functional", "functional_as_sequential"]

_CALL_ARGUMENTS = ("mask", "training")


def is_functional(envelope: Any) -> bool:
    """Whether ``envelope`` is a Keras ``Functional``/``Model`` (not a registered user subclass)."""
    if not isinstance(envelope, Mapping) or envelope.get("class_name") not in ("Functional", "Model"):
        return False
    module = envelope.get("module")
    return module is None or module == "keras" or (isinstance(module, str) and module.startswith("keras."))


def _single(refs: Any, what: str, where: str) -> str:
    """The layer name of ``input_layers``/``output_layers``: ``[name, 0, 0]`` or ``[[name, 0, 0]]``."""
    if isinstance(refs, list) and refs and isinstance(refs[0], str):
        return refs[0]
    if isinstance(refs, list) and len(refs) == 1 and isinstance(refs[0], list) and refs[0]:
        return str(refs[0][0])
    raise ValueError(f"{where}: birnn loads functional models with one input and one output, received {what}={refs!r}.")


def _ref(value: Any) -> str | None:
    """The source layer of a tensor reference (Keras 3 ``__keras_tensor__`` or Keras 2 ``[name, i, j, kw]``)."""
    if isinstance(value, Mapping) and value.get("class_name") == "__keras_tensor__":
        history = value.get("config", {}).get("keras_history")
        return str(history[0]) if isinstance(history, list) and history else None
    if isinstance(value, list) and value and isinstance(value[0], str):
        return value[0]
    return None


def _calls(layer: Mapping[str, Any], where: str) -> tuple[list[str], dict[str, Any]]:
    """``(input layer names, keyword arguments)`` of the layer's only call."""
    nodes = layer.get("inbound_nodes") or []
    if len(nodes) != 1:
        raise ValueError(
            f"{where}: layer '{layer.get('name')}' is called {len(nodes)} times; birnn loads functional models "
            "that are a single chain of layers (a Sequential)."
        )
    node = nodes[0]
    if isinstance(node, Mapping):  # Keras 3: {"args": [...], "kwargs": {...}}
        args, kwargs = list(node.get("args", [])), dict(node.get("kwargs", {}))
    else:  # Keras 2: [[name, node_index, tensor_index, kwargs], ...]
        args, kwargs = list(node), dict(node[0][3]) if node and len(node[0]) > 3 else {}
    return [name for arg in args for name in _refs(arg)], kwargs


def _refs(arg: Any) -> list[str]:
    """Source layers of one call argument: a tensor, a list of tensors (``Concatenate``), or a constant."""
    name = _ref(arg)
    if name is not None:
        return [name]
    if isinstance(arg, list):
        return [n for item in arg for n in _refs(item)]
    return ["<constant>"]


def _makes_mask(layer: Mapping[str, Any]) -> bool:
    config = layer.get("config") or {}
    return layer.get("class_name") == "Masking" or (layer.get("class_name") == "Embedding" and bool(config.get("mask_zero")))


def _mask_ops(sources: set[str], layers: Mapping[str, Any], chain: list[str], where: str) -> set[str]:
    """The operations computing the ``mask`` arguments, back to the chain; they must be Keras ops."""
    found: set[str] = set()
    pending = sorted(sources - set(chain))
    while pending:
        name = pending.pop()
        layer = layers.get(name)
        module = layer.get("module", "keras.src.ops") if isinstance(layer, Mapping) else None
        if not (isinstance(module, str) and module.startswith("keras.src.ops")):  # legacy files name no module
            raise ValueError(
                f"{where}: a mask argument comes from '{name}', which is not one of Keras's mask operations; birnn "
                "loads functional models that are a single chain of layers (a Sequential)."
            )
        found.add(name)
        pending += [n for n in _calls(layer, where)[0] if n != "<constant>" and n not in chain and n not in found]
    return found


def functional_as_sequential(envelope: Mapping[str, Any], where: str) -> dict[str, Any]:
    """The ``Sequential`` envelope equivalent to a chain-shaped functional ``envelope``.

    Raises:
        ValueError: the model is not a single chain (named layer and reason).
    """
    config = envelope.get("config")
    if not isinstance(config, Mapping) or not isinstance(config.get("layers"), list):
        raise ValueError(f"{where}: a Functional config needs a 'layers' list.")
    layers = {layer.get("name"): layer for layer in config["layers"] if isinstance(layer, Mapping)}
    first = _single(config.get("input_layers"), "input_layers", where)
    current = _single(config.get("output_layers"), "output_layers", where)
    chain: list[str] = []
    mask_sources: set[str] = set()
    while current != first:
        if current not in layers or current in chain:
            raise ValueError(f"{where}: layer '{current}' is missing from the config, or the graph has a cycle.")
        inputs, kwargs = _calls(layers[current], where)
        unexpected = sorted(set(kwargs) - set(_CALL_ARGUMENTS))
        if len(inputs) != 1 or unexpected:
            raise ValueError(
                f"{where}: layer '{current}' takes inputs {inputs} and arguments {unexpected}; birnn loads "
                "functional models that are a single chain of layers (a Sequential)."
            )
        if _ref(kwargs.get("mask")) is not None:
            mask_sources.add(_ref(kwargs["mask"]))  # type: ignore[arg-type]
        chain.append(current)
        current = inputs[0]
    chain.append(first)
    if mask_sources and not any(_makes_mask(layers[name]) for name in chain):
        raise ValueError(
            f"{where}: masks are passed explicitly, but no layer on the chain makes one (Embedding(mask_zero=True) "
            "or Masking); as a Sequential the model would run unmasked, so birnn refuses to load it."
        )
    leftover = sorted(set(layers) - set(chain) - _mask_ops(mask_sources, layers, chain, where))
    if leftover:
        raise ValueError(
            f"{where}: layers {leftover} are not on the chain from '{first}' to the output; birnn loads functional "
            "models that are a single chain of layers (a Sequential)."
        )
    ordered = [
        {k: v for k, v in layers[name].items() if k not in ("inbound_nodes", "name")} for name in reversed(chain)
    ]
    sequential: dict[str, Any] = {
        "module": "keras",
        "class_name": "Sequential",
        "config": {"name": config.get("name"), "trainable": config.get("trainable", True), "layers": ordered},
    }
    if "build_config" in envelope:
        sequential["build_config"] = envelope["build_config"]
    if "compile_config" in envelope:
        sequential["compile_config"] = envelope["compile_config"]
    return sequential
