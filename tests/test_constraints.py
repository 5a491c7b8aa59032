"""birnn.constraints against keras.constraints (torch backend)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from birnn import _registry, constraints

CASES = [
    ("MaxNorm", {}),
    ("MaxNorm", {"max_value": 0.5, "axis": 1}),
    ("MaxNorm", {"max_value": 1.5, "axis": [0, 1]}),
    ("NonNeg", {}),
    ("UnitNorm", {}),
    ("UnitNorm", {"axis": -1}),
    ("UnitNorm", {"axis": [0, -1]}),
    ("MinMaxNorm", {}),
    ("MinMaxNorm", {"min_value": 1.0, "max_value": 2.0}),
    ("MinMaxNorm", {"min_value": 0.5, "max_value": 3.0, "rate": 0.3, "axis": 1}),
]
SHAPES = [(6, 9), (3, 4, 5)]


def _cases(cases: list[tuple[str, dict]]) -> list:
    return [pytest.param(name, kwargs, id=f"{name}{json.dumps(kwargs, sort_keys=True)}") for name, kwargs in cases]


@pytest.mark.parametrize("scale", [0.1, 1.0, 5.0])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(("name", "kwargs"), _cases(CASES))
def test_output_equals_keras(keras, name: str, kwargs: dict, shape: tuple[int, ...], scale: float) -> None:
    weight = scale * torch.randn(shape)
    expected = keras.ops.convert_to_numpy(getattr(keras.constraints, name)(**kwargs)(weight.clone()))
    got = getattr(constraints, name)(**kwargs)(weight)
    assert got.shape == weight.shape and got.dtype == torch.float32
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(("name", "kwargs"), _cases([CASES[0], CASES[4], CASES[7]]))
def test_zero_slices_use_keras_epsilon(keras, name: str, kwargs: dict) -> None:
    weight = torch.randn(5, 4)
    weight[:, 1] = 0.0
    weight[:, 2] = 1e-8
    expected = keras.ops.convert_to_numpy(getattr(keras.constraints, name)(**kwargs)(weight.clone()))
    got = getattr(constraints, name)(**kwargs)(weight)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-6, atol=1e-6)


def test_base_constraint_is_the_identity() -> None:
    weight = torch.randn(3, 3)
    assert constraints.Constraint()(weight) is weight


@pytest.mark.parametrize(("name", "kwargs"), _cases(CASES))
def test_config_matches_keras_and_round_trips(keras, name: str, kwargs: dict) -> None:
    ours = getattr(constraints, name)(**kwargs)
    theirs = getattr(keras.constraints, name)(**kwargs)
    config = ours.get_config()
    assert config == theirs.get_config()
    envelope = json.loads(json.dumps(constraints.serialize(ours)))
    assert envelope == {"class_name": name, "config": config}
    for rebuilt in (constraints.deserialize(envelope), constraints.get(envelope), type(ours).from_config(config)):
        assert type(rebuilt) is type(ours) and rebuilt.get_config() == config
    assert keras.constraints.deserialize(envelope).get_config() == theirs.get_config()
    assert constraints.get(keras.constraints.serialize(theirs)).get_config() == config


KERAS_NAMES = ["MaxNorm", "NonNeg", "UnitNorm", "MinMaxNorm", "max_norm", "non_neg", "unit_norm", "min_max_norm"]


@pytest.mark.parametrize("name", KERAS_NAMES)
def test_keras_names_resolve_to_the_same_defaults(keras, name: str) -> None:
    ours, theirs = constraints.get(name), keras.constraints.get(name)
    assert type(ours).__name__ == type(theirs).__name__
    assert ours.get_config() == theirs.get_config()


def test_get_passes_instances_and_callables_and_instantiates_classes() -> None:
    constraint = constraints.MaxNorm(3.0)

    def clip(weight: torch.Tensor) -> torch.Tensor:
        return weight.clamp(-1, 1)

    assert constraints.get(constraint) is constraint
    assert constraints.get(clip) is clip
    assert isinstance(constraints.get(constraints.NonNeg), constraints.NonNeg)
    assert constraints.get(None) is None and constraints.serialize(None) is None


@_registry.register(package="BirnnTests")
class _Clip(constraints.Constraint):
    def __init__(self, bound: float = 1.0) -> None:
        self.bound = bound

    def __call__(self, weight: torch.Tensor) -> torch.Tensor:
        return weight.clamp(-self.bound, self.bound)

    def get_config(self) -> dict:
        return {"bound": self.bound}


def test_registered_user_constraint_round_trips() -> None:
    envelope = constraints.serialize(_Clip(0.5))
    assert envelope == {"class_name": "_Clip", "config": {"bound": 0.5}, "registered_name": "BirnnTests>_Clip"}
    assert constraints.deserialize(envelope).bound == 0.5
    assert isinstance(constraints.deserialize("non_neg", custom_objects={"non_neg": _Clip}), _Clip)


@pytest.mark.parametrize("bad", ["nonneg", "max-norm", {"class_name": "Nope", "config": {}}])
def test_unknown_name_lists_accepted_names(bad) -> None:
    with pytest.raises(ValueError, match=r"Accepted names: MaxNorm, MinMaxNorm, NonNeg, UnitNorm, max_norm, .*"):
        constraints.get(bad)


@pytest.mark.parametrize("bad", [3, 0.5, [1]])
def test_uninterpretable_identifier_raises(bad) -> None:
    with pytest.raises(ValueError, match="Could not interpret constraint identifier"):
        constraints.get(bad)


@pytest.mark.parametrize(
    ("cls", "kwargs", "argument"),
    [
        (constraints.MaxNorm, {"max_value": -1.0}, "max_value=-1.0"),
        (constraints.MaxNorm, {"max_value": "2"}, "max_value='2'"),
        (constraints.MaxNorm, {"axis": 0.5}, "axis=0.5"),
        (constraints.MaxNorm, {"axis": True}, "axis=True"),
        (constraints.UnitNorm, {"axis": []}, r"axis=\[\]"),
        (constraints.UnitNorm, {"axis": "0"}, "axis='0'"),
        (constraints.MinMaxNorm, {"min_value": -0.5}, "min_value=-0.5"),
        (constraints.MinMaxNorm, {"min_value": 2.0, "max_value": 1.0}, "max_value=1.0"),
        (constraints.MinMaxNorm, {"rate": 1.5}, "rate=1.5"),
        (constraints.MinMaxNorm, {"rate": float("nan")}, "rate=nan"),
    ],
)
def test_bad_arguments_raise(cls, kwargs: dict, argument: str) -> None:
    with pytest.raises(ValueError, match=f"received: {argument}"):
        cls(**kwargs)
