"""Translate object configs between birnn's envelopes and Keras's, checking every class on the way in.

birnn serializes an object as ``{"class_name", "config"[, "registered_name"]}`` with birnn's configs
(which use Keras's argument names). Keras 3 adds ``module`` and ``registered_name`` to every envelope,
writes dtypes as ``DTypePolicy`` envelopes, tuples as ``__tuple__`` envelopes and functions as
``{"class_name": "function", "config": name}``.

Loading is where safety lives: :func:`from_keras` is a pure JSON-to-JSON pass that resolves every
class name against birnn's registry (or ``custom_objects``) and refuses anything else. Nothing named
by the file is ever imported: a ``module`` other than Keras's own is only accepted for a class the
user registered, and then ignored. Bytecode (``__lambda__``) is refused outright.

Example:
    >>> import birnn
    >>> from birnn import _registry
    >>> env = to_keras(_registry.serialize(birnn.layers.SimpleRNN(2, name="rnn")), "layer")
    >>> env["module"], env["class_name"], env["config"]["units"]
    ('keras.layers', 'SimpleRNN', 2)
    >>> from_keras({"module": "os", "class_name": "system", "config": {}}, "config.json")
    Traceback (most recent call last):
    ...
    ValueError: config.json: class 'system' names module 'os'. birnn never imports modules named in a file and only builds registered classes; register the class with @birnn.saving.register_keras_serializable() or pass it in custom_objects.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .. import _registry
from ..layers import Layer

__all__ = ["to_keras", "from_keras", "describe", "resolve_class", "parse_json"]

# birnn's package layout mirrors Keras's public modules.
_KERAS_MODULES = {
    "birnn.models": "keras",
    "birnn.layers": "keras.layers",
    "birnn.initializers": "keras.initializers",
    "birnn.regularizers": "keras.regularizers",
    "birnn.constraints": "keras.constraints",
}

# birnn config keys Keras's constructor refuses, per class (they have no effect on those layers).
_NOT_IN_KERAS: dict[str, tuple[str, ...]] = {"SpatialDropout1D": ("trainable",)}

_DTYPE_POLICIES = ("DTypePolicy", "FloatDTypePolicy")
_MERGE_NAMES = ("concat", "sum", "ave", "mul", None)


def describe(where: str, config: Any) -> str:
    """``where`` followed by the object's name when its config has one: ``layers[1] ('bidirectional')``."""
    name = config.get("name") if isinstance(config, Mapping) else None
    return f"{where} ('{name}')" if isinstance(name, str) else where


def _keras_module(cls: type) -> str | None:
    module = cls.__module__
    for prefix, keras_module in _KERAS_MODULES.items():
        if module == prefix or module.startswith(prefix + "."):
            return keras_module
    return None


_MAX_DEPTH = 64
"""Deepest nesting accepted in ``config.json`` (real models stay far below it)."""


def _depth(value: Any) -> int:
    depth, level = 0, [value]
    while level:
        depth += 1
        level = [v for item in level if isinstance(item, (dict, list)) for v in (item.values() if isinstance(item, dict) else item)]
    return depth


def parse_json(data: bytes | str, where: str) -> Any:
    """Parse a configuration (``config.json``, ``model_config``) as plain data, refusing absurd nesting."""
    try:
        value = json.loads(data.decode("utf8") if isinstance(data, bytes) else data)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise ValueError(f"{where} is not valid JSON: {error}") from None
    if _depth(value) > _MAX_DEPTH:
        raise ValueError(f"{where} nests objects more than {_MAX_DEPTH} levels deep; it is not a model configuration.")
    return value


# ------------------------------------------------------------------------------ birnn -> Keras


def _keras_activation(name: str, where: str) -> Any:
    if name == "legacy_hard_sigmoid":
        raise ValueError(
            f"{where}: activation 'legacy_hard_sigmoid' (Keras 2's hard_sigmoid) does not exist in Keras 3, so "
            "Keras could not load this file. Use 'hard_sigmoid' (Keras 3's formula) or a registered function."
        )
    if ">" not in name:
        return name
    fn = _registry.get_registered_object(name)
    return {"module": getattr(fn, "__module__", None), "class_name": "function", "config": name, "registered_name": name}


def _to_keras_value(key: str, value: Any, where: str) -> Any:
    if isinstance(value, Mapping) and "class_name" in value:
        return to_keras(value, where)
    if isinstance(value, (list, tuple)):
        return [_to_keras_value(key, item, f"{where}[{i}]") for i, item in enumerate(value)]
    if key.endswith("activation") and isinstance(value, str):
        return _keras_activation(value, where)
    if key == "merge_mode" and value not in _MERGE_NAMES:
        raise ValueError(
            f"{where}: Keras 3 only knows the merge modes {list(_MERGE_NAMES)}, received merge_mode={value!r}."
        )
    return value


def to_keras(envelope: Mapping[str, Any], where: str) -> dict[str, Any]:
    """The Keras 3 envelope of a birnn envelope (``_registry.serialize`` output), recursively.

    ``batch_input_shape`` is dropped (a model writes it as its ``InputLayer``).

    Raises:
        ValueError: the object uses something Keras 3 cannot represent (named, with ``where``).
    """
    key = envelope.get("registered_name") or envelope["class_name"]
    cls = _registry.get_registered_object(key)
    config = envelope.get("config", {})
    here = describe(where, config)
    if cls is None:
        raise ValueError(f"{here}: class {key!r} is not registered, so it cannot be saved by name.")
    if config.get("num_constants") is not None:
        raise ValueError(f"{here}: Keras 3's Bidirectional has no `constants`, received num_constants={config['num_constants']}.")
    module = _keras_module(cls)
    skipped = ("batch_input_shape", "num_constants", *_NOT_IN_KERAS.get(envelope["class_name"], ()))
    keras_config = {k: _to_keras_value(k, v, f"{here}.config.{k}") for k, v in config.items() if k not in skipped}
    if isinstance(keras_config.get("dtype"), str) and issubclass(cls, Layer) and cls.__name__ != "InputLayer":
        policy = {"name": keras_config["dtype"]}
        keras_config["dtype"] = {"module": "keras", "class_name": "DTypePolicy", "config": policy, "registered_name": None}
    return {
        "module": module or cls.__module__,
        "class_name": envelope["class_name"] if module else cls.__name__,
        "config": keras_config,
        "registered_name": None if module else key,
    }


# ------------------------------------------------------------------------------ Keras -> birnn


def _is_keras_module(module: Any) -> bool:
    return module is None or module in ("keras", "builtins") or (isinstance(module, str) and module.startswith("keras."))


def resolve_class(envelope: Mapping[str, Any], where: str, custom_objects: Mapping[str, Any] | None) -> str:
    """The registry key (or ``custom_objects`` key) that builds ``envelope``; never imports anything.

    A user class is found by its ``registered_name`` (``"Package>Name"``) or, in ``custom_objects``, by
    its class name; its ``module`` is ignored. A Keras class must come from a Keras module and have a
    birnn counterpart of the same name.

    Raises:
        ValueError: a foreign module, or an unknown class.
    """
    class_name, registered, module = envelope.get("class_name"), envelope.get("registered_name"), envelope.get("module")
    if not isinstance(class_name, str):
        raise ValueError(f"{where}: 'class_name' must be a string, received {class_name!r}.")
    if isinstance(registered, str) and registered != class_name:
        if _registry.get_registered_object(registered, custom_objects) is not None:
            return registered
    if custom_objects and class_name in custom_objects:
        return class_name
    if not _is_keras_module(module):
        raise ValueError(
            f"{where}: class {class_name!r} names module {module!r}. birnn never imports modules named in a file "
            "and only builds registered classes; register the class with "
            "@birnn.saving.register_keras_serializable() or pass it in custom_objects."
        )
    if _registry.get_registered_object(class_name) is None:
        raise ValueError(
            f"{where}: unknown class {class_name!r} (module {module!r}). birnn builds only its own layers and "
            "registered classes; register it with @birnn.saving.register_keras_serializable() or pass it in "
            "custom_objects."
        )
    return class_name


def from_keras(value: Any, where: str, custom_objects: Mapping[str, Any] | None = None) -> Any:
    """A Keras config value with every envelope checked and turned into a birnn envelope.

    Envelopes keep their ``build_config`` (used by the loader to build layers); ``module``,
    ``shared_object_id`` and ``compile_config`` are dropped, dtype policies become dtype names,
    ``__tuple__`` becomes a list and a function reference becomes its name.

    Raises:
        ValueError: an unknown class, a foreign module, bytecode, or a malformed envelope, naming
            ``where`` (the path inside the file, with object names).
    """
    if isinstance(value, list):
        return [from_keras(item, f"{where}[{i}]", custom_objects) for i, item in enumerate(value)]
    if not isinstance(value, Mapping):
        return value
    if "class_name" not in value:
        return {k: from_keras(v, f"{where}.{k}", custom_objects) for k, v in value.items()}
    class_name, config = value["class_name"], value.get("config", {})
    here = describe(where, config)
    if class_name == "__lambda__":
        raise ValueError(f"{here}: a lambda (Python bytecode) cannot be loaded: birnn never executes code from a file.")
    if class_name == "__tuple__":
        return from_keras(config.get("value", []) if isinstance(config, Mapping) else config, here, custom_objects)
    if class_name in _DTYPE_POLICIES:
        return config.get("name") if isinstance(config, Mapping) else config
    if class_name == "function":
        if not isinstance(config, str):
            raise ValueError(f"{here}: a function reference must name the function, received {config!r}.")
        return config
    key = resolve_class(value, here, custom_objects)
    if not isinstance(config, Mapping):
        raise ValueError(f"{here}: the 'config' of {class_name!r} must be a dict, received {type(config).__name__}.")
    inner = {name: from_keras(item, f"{here}.config.{name}", custom_objects) for name, item in config.items()}
    envelope: dict[str, Any] = {"class_name": class_name, "config": inner}
    if key != class_name:
        envelope["registered_name"] = key
    if isinstance(value.get("build_config"), Mapping):
        envelope["build_config"] = dict(value["build_config"])
    return envelope
