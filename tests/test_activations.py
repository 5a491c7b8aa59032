"""birnn.activations against keras.activations (torch backend)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from birnn import _registry, activations

KERAS_NAMES = tuple(n for n in activations.ALL_NAMES if n != "legacy_hard_sigmoid")
# Keras 3.15's sparsemax is wrong whenever the support has more than one element
# (keras-team/keras#23425); it is checked against a reference below instead.
ORACLE_NAMES = tuple(n for n in KERAS_NAMES if n != "sparsemax")
REQUIRED_ARGS = {"threshold": {"threshold": 0.3, "default_value": -2.0}}
VARIANTS = [
    ("relu", {"negative_slope": 0.1}),
    ("relu", {"max_value": 6}),
    ("relu", {"max_value": 2.5}),
    ("relu", {"threshold": 0.5}),
    ("relu", {"threshold": -1.0}),
    ("relu", {"threshold": -1.0, "max_value": 3.0}),
    ("relu", {"negative_slope": 0.1, "max_value": 4.0, "threshold": 1.0}),
    ("relu", {"negative_slope": 0.3, "max_value": 6}),
    ("leaky_relu", {"negative_slope": 0.01}),
    ("elu", {"alpha": 0.5}),
    ("celu", {"alpha": 2.0}),
    ("gelu", {"approximate": True}),
    ("softmax", {"axis": 0}),
    ("log_softmax", {"axis": 0}),
    ("glu", {"axis": 0}),
    ("squareplus", {"b": 1.0}),
    ("hard_shrink", {"threshold": 1.0}),
    ("soft_shrink", {"threshold": 1.0}),
    ("threshold", {"threshold": -1.0, "default_value": 7.0}),
]


def _grid(kind: str) -> torch.Tensor:
    if kind == "sweep":
        edges = torch.tensor([-100.0, -30.0, -20.5, -1.0, -1e-3, 0.0, 1e-3, 1.0, 20.5, 30.0, 100.0])
        values = torch.cat([torch.linspace(-6.0, 6.0, 37), edges])
        return values.reshape(4, 12)
    generator = torch.Generator().manual_seed(1)
    return 4.0 * torch.randn(6, 10, generator=generator)


def _assert_matches_keras(keras, name: str, kwargs: dict, x: torch.Tensor) -> None:
    expected = keras.ops.convert_to_numpy(getattr(keras.activations, name)(x.clone(), **kwargs))
    got = getattr(activations, name)(x, **kwargs)
    assert got.dtype == torch.float32
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("kind", ["sweep", "random"])
@pytest.mark.parametrize("name", ORACLE_NAMES)
def test_default_arguments_match_keras(keras, name: str, kind: str) -> None:
    _assert_matches_keras(keras, name, REQUIRED_ARGS.get(name, {}), _grid(kind))


@pytest.mark.parametrize("kind", ["sweep", "random"])
@pytest.mark.parametrize(("name", "kwargs"), VARIANTS)
def test_arguments_match_keras(keras, name: str, kwargs: dict, kind: str) -> None:
    _assert_matches_keras(keras, name, kwargs, _grid(kind))


def _reference_sparsemax(row: np.ndarray) -> np.ndarray:
    """Martins & Astudillo (2016), Algorithm 1, one vector at a time in float64."""
    ranked = np.sort(row)[::-1]
    cumulative = np.cumsum(ranked)
    k = np.arange(1, row.size + 1)
    support = int(np.sum(1 + k * ranked > cumulative))
    return np.maximum(row - (cumulative[support - 1] - 1) / support, 0.0)


@pytest.mark.parametrize("axis", [-1, 0, 1])
@pytest.mark.parametrize("kind", ["sweep", "random", "close"])
def test_sparsemax_matches_reference(kind: str, axis: int) -> None:
    x = torch.rand(5, 8) / 4 if kind == "close" else _grid(kind)[:, :8]
    moved = x.movedim(axis, -1).double().numpy()
    expected = np.apply_along_axis(_reference_sparsemax, -1, moved)
    got = activations.sparsemax(x, axis=axis)
    np.testing.assert_allclose(got.movedim(axis, -1).numpy(), expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(got.sum(dim=axis).numpy(), 1.0, rtol=1e-6)


@pytest.mark.parametrize("axis", [-1, 0])
def test_sparsemax_matches_keras_where_support_is_one_element(keras, axis: int) -> None:
    x = torch.linspace(1.0, 12.0, 24).reshape(4, 6) ** 2
    _assert_matches_keras(keras, "sparsemax", {"axis": axis}, x)


def test_names_are_exactly_keras_names_plus_legacy(keras) -> None:
    exported = {n for n in dir(keras.activations) if not n.startswith("_")}
    assert set(KERAS_NAMES) == exported - {"get", "serialize", "deserialize"}
    assert list(activations.ALL_NAMES) == sorted(activations.ALL_NAMES)


@pytest.mark.parametrize("name", KERAS_NAMES)
def test_serialize_gives_keras_canonical_name(keras, name: str) -> None:
    expected = keras.activations.serialize(keras.activations.get(name))
    assert activations.serialize(activations.get(name)) == expected


@pytest.mark.parametrize("name", activations.ALL_NAMES)
def test_name_round_trip(name: str) -> None:
    fn = activations.get(name)
    assert fn is getattr(activations, name)
    assert activations.deserialize(activations.serialize(fn)) is fn


@pytest.mark.parametrize(
    ("fn", "name"),
    [
        (torch.tanh, "tanh"),
        (torch.sigmoid, "sigmoid"),
        (torch.relu, "relu"),
        (F.relu, "relu"),
        (torch.exp, "exponential"),
        (F.hardswish, "hard_silu"),
        (F.hardsigmoid, "hard_sigmoid"),
    ],
)
def test_torch_functions_serialize_to_keras_names(fn, name: str) -> None:
    assert activations.serialize(fn) == name
    x = _grid("sweep")
    torch.testing.assert_close(activations.deserialize(name)(x), fn(x), rtol=0, atol=0)


def test_legacy_hard_sigmoid_is_keras2_formula() -> None:
    x = _grid("sweep")
    expected = np.clip(0.2 * x.numpy() + 0.5, 0.0, 1.0)
    np.testing.assert_allclose(activations.legacy_hard_sigmoid(x).numpy(), expected, rtol=0, atol=1e-7)
    assert not torch.allclose(activations.legacy_hard_sigmoid(x), activations.hard_sigmoid(x))


@pytest.mark.parametrize("name", ["tanh", "sigmoid"])
def test_fused_kernel_activations_are_stable_and_exact(name: str) -> None:
    fn = getattr(activations, name)
    assert activations.get(name) is fn
    assert activations.deserialize({"class_name": name}) is fn
    x = _grid("random")
    assert torch.equal(fn(x), getattr(torch, name)(x))


@pytest.mark.parametrize("name", ["tanh", "relu", "swish"])
def test_keras_function_envelope_is_accepted(keras, name: str) -> None:
    envelope = keras.saving.serialize_keras_object(keras.activations.get(name))
    assert activations.get(envelope) is activations.get(name)


def test_none_and_callables() -> None:
    assert activations.get(None) is activations.linear

    def double(x: torch.Tensor) -> torch.Tensor:
        return 2 * x

    assert activations.get(double) is double


def _registered_cube(x: torch.Tensor) -> torch.Tensor:
    return x**3


_registry.register(_registered_cube, package="BirnnTests")


def test_registered_user_function_round_trips() -> None:
    assert activations.serialize(_registered_cube) == "BirnnTests>_registered_cube"
    assert activations.get("BirnnTests>_registered_cube") is _registered_cube


def test_custom_objects_take_precedence() -> None:
    def my_tanh(x: torch.Tensor) -> torch.Tensor:
        return x

    assert activations.deserialize("tanh", custom_objects={"tanh": my_tanh}) is my_tanh
    assert activations.deserialize("mine", custom_objects={"mine": my_tanh}) is my_tanh


def test_unregistered_function_cannot_be_serialized() -> None:
    with pytest.raises(ValueError, match="register_keras_serializable"):
        activations.serialize(lambda x: x)


@pytest.mark.parametrize("bad", ["tanhh", "Tanh", "hard-sigmoid", "Zeros"])
def test_unknown_name_lists_accepted_names(bad: str) -> None:
    with pytest.raises(ValueError) as info:
        activations.get(bad)
    assert repr(bad) in str(info.value)
    assert ", ".join(activations.ALL_NAMES) in str(info.value)


@pytest.mark.parametrize("bad", [42, 1.5, {"class_name": "function", "config": 3}, {"config": "tanh"}])
def test_uninterpretable_identifier_raises(bad) -> None:
    with pytest.raises(ValueError, match=r"received|Could not interpret"):
        activations.get(bad)
