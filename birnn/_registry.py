"""Name -> class registry and the ``{"class_name", "config"}`` envelope.

Every serializable birnn object (layers, cells, initializers, regularizers,
constraints, user classes) is found by name here. Deserialization only ever
builds classes that were registered (or passed in ``custom_objects``): a config
can never name a module to import, so loading a file cannot run foreign code.

Example:
    >>> import birnn
    >>> from birnn import _registry
    >>> env = _registry.serialize(birnn.layers.SimpleRNN(2, name="rnn"))
    >>> env["class_name"], env["config"]["units"]
    ('SimpleRNN', 2)
    >>> _registry.deserialize(env).name
    'rnn'
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

__all__ = [
    "deserialize_named",
    "resolve",
    "register",
    "register_keras_serializable",
    "get_registered_object",
    "get_registered_name",
    "serialize",
    "deserialize",
]

T = TypeVar("T")

_BY_NAME: dict[str, Any] = {}
_NAME_OF: dict[Any, str] = {}


def register(obj: T | None = None, *, package: str | None = None, name: str | None = None) -> Any:
    """Register a class (or function) for deserialization by name.

    Built-in birnn classes are registered under their bare class name; user
    objects under ``"<package>>Name"`` as Keras does (``package`` defaults to
    ``"Custom"`` through :func:`register_keras_serializable`).

    Usable as ``@register`` or ``@register(package="MyLib")``.
    """

    def decorate(target: T) -> T:
        bare = name or target.__name__
        key = f"{package}>{bare}" if package else bare
        _BY_NAME[key] = target
        _NAME_OF[target] = key
        return target

    if obj is not None:
        return decorate(obj)
    return decorate


def register_keras_serializable(package: str = "Custom", name: str | None = None) -> Callable[[T], T]:
    """Keras-compatible spelling: ``@birnn.saving.register_keras_serializable()``."""
    return register(package=package, name=name)


def get_registered_name(obj: Any) -> str:
    """The name ``obj`` (a class, an instance or a function) is registered under."""
    key = obj if isinstance(obj, type) or inspect.isfunction(obj) else type(obj)
    return _NAME_OF.get(key, getattr(key, "__name__", str(key)))


def get_registered_object(name: str, custom_objects: Mapping[str, Any] | None = None) -> Any | None:
    """Look ``name`` up in ``custom_objects``, then in the registry; ``None`` if unknown."""
    if custom_objects and name in custom_objects:
        return custom_objects[name]
    return _BY_NAME.get(name)


def serialize(obj: Any) -> dict[str, Any]:
    """``{"class_name": ..., "config": obj.get_config()}`` (plus ``registered_name`` for user classes)."""
    key = _NAME_OF.get(type(obj))
    class_name = type(obj).__name__
    envelope: dict[str, Any] = {"class_name": class_name, "config": obj.get_config()}
    if key is not None and key != class_name:
        envelope["registered_name"] = key
    return envelope


def deserialize(
    config: Mapping[str, Any],
    custom_objects: Mapping[str, Any] | None = None,
    *,
    kind: str = "object",
) -> Any:
    """Rebuild an object from its envelope; only registered classes are built.

    Raises:
        ValueError: ``config`` is not an envelope, or names an unknown class.
    """
    if not isinstance(config, Mapping) or "class_name" not in config:
        raise ValueError(
            f"Could not deserialize {kind}: expected a dict with 'class_name' and 'config', "
            f"received: {config!r}"
        )
    names = [n for n in (config.get("registered_name"), config["class_name"]) if n]
    cls = next((c for c in (get_registered_object(n, custom_objects) for n in names) if c is not None), None)
    if cls is None:
        raise ValueError(
            f"Unknown {kind} class {config['class_name']!r}. Register it with "
            "@birnn.saving.register_keras_serializable() or pass it in custom_objects."
        )
    inner = config.get("config", {})
    if not isinstance(inner, Mapping):
        raise ValueError(f"The 'config' of {kind} {config['class_name']!r} must be a dict, received: {inner!r}")
    from_config = getattr(cls, "from_config", None)
    if from_config is None:
        raise ValueError(f"{kind} class {config['class_name']!r} has no from_config() and cannot be rebuilt.")
    if "custom_objects" in inspect.signature(from_config).parameters:
        return from_config(dict(inner), custom_objects=custom_objects)
    return from_config(dict(inner))


def deserialize_named(
    config: str | Mapping[str, Any],
    builtins: Mapping[str, Any],
    custom_objects: Mapping[str, Any] | None = None,
    *,
    kind: str,
) -> Any:
    """A name or envelope -> object, for a family with its own ``builtins`` names.

    ``custom_objects`` is searched first, then ``builtins``, then the registry; an unknown name
    raises a ``ValueError`` listing the accepted ones.
    """
    envelope = {"class_name": config, "config": {}} if isinstance(config, str) else config
    known = {**builtins, **(custom_objects or {})}
    if isinstance(envelope, Mapping):
        names = [n for n in (envelope.get("registered_name"), envelope.get("class_name")) if n]
        if not any(get_registered_object(n, known) for n in names):
            raise ValueError(
                f"Unknown {kind} {envelope.get('class_name')!r}. Accepted names: "
                f"{', '.join(sorted(builtins))}; register custom classes with "
                "@birnn.saving.register_keras_serializable()."
            )
    return deserialize(envelope, known, kind=kind)


def resolve(identifier: Any, from_name: Callable[[Any], Any], *, kind: str) -> Any:
    """Keras's ``get``: ``None`` stays ``None``, names and envelopes go through ``from_name``, a
    class is instantiated with its defaults, an instance or other callable is returned as is."""
    if identifier is None:
        return None
    if isinstance(identifier, (str, Mapping)):
        return from_name(identifier)
    if isinstance(identifier, type):
        return identifier()
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret {kind} identifier: {identifier!r}")

