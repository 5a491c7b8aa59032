"""birnn.regularizers against keras.regularizers (torch backend)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from birnn import _registry, regularizers

CASES = [
    ("L1", {}),
    ("L1", {"l1": 0.3}),
    ("L2", {}),
    ("L2", {"l2": 1.5}),
    ("L1L2", {}),
    ("L1L2", {"l1": 0.01}),
    ("L1L2", {"l2": 0.2}),
    ("L1L2", {"l1": 0.05, "l2": 0.2}),
    ("OrthogonalRegularizer", {}),
    ("OrthogonalRegularizer", {"factor": 0.5, "mode": "columns"}),
]
SHAPES = [(7, 5), (5, 12), (16, 64)]


def _cases(cases: list[tuple[str, dict]]) -> list:
    return [pytest.param(name, kwargs, id=f"{name}{json.dumps(kwargs, sort_keys=True)}") for name, kwargs in cases]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(("name", "kwargs"), _cases(CASES))
def test_penalty_equals_keras(keras, name: str, kwargs: dict, shape: tuple[int, int]) -> None:
    weight = torch.randn(shape)
    expected = keras.ops.convert_to_numpy(getattr(keras.regularizers, name)(**kwargs)(weight.clone()))
    got = getattr(regularizers, name)(**kwargs)(weight)
    assert got.shape == () and got.dtype == torch.float32
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("mode", ["rows", "columns"])
@pytest.mark.parametrize("scale", [0.0, 1e-9])
def test_orthogonal_penalty_floors_tiny_norms_like_keras(keras, mode: str, scale: float) -> None:
    weight = torch.randn(4, 6)
    weight[1] *= scale  # norm below keras.backend.epsilon(): Keras caps the inverse norm at 1e7
    weight = weight if mode == "rows" else weight.T.contiguous()
    keras_reg = keras.regularizers.OrthogonalRegularizer(factor=1.0, mode=mode)
    expected = keras.ops.convert_to_numpy(keras_reg(weight.clone()))
    got = regularizers.OrthogonalRegularizer(factor=1.0, mode=mode)(weight)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-6, atol=1e-9)


def test_orthogonal_penalty_is_the_mean_pairwise_cosine() -> None:
    weight = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 2.0]])
    cosines = [1 / 2**0.5, 0.0, 1 / 2**0.5]
    got = regularizers.OrthogonalRegularizer(factor=0.1)(weight)
    assert got.item() == pytest.approx(0.1 * sum(cosines) / 3, rel=1e-6)


def test_penalty_is_differentiable() -> None:
    weight = torch.randn(4, 3, requires_grad=True)
    regularizers.L1L2(l1=0.1, l2=0.5)(weight).backward()
    torch.testing.assert_close(weight.grad, 0.1 * weight.detach().sign() + 1.0 * weight.detach())


@pytest.mark.parametrize(("name", "kwargs"), _cases(CASES))
def test_config_matches_keras_and_round_trips(keras, name: str, kwargs: dict) -> None:
    ours = getattr(regularizers, name)(**kwargs)
    theirs = getattr(keras.regularizers, name)(**kwargs)
    config = ours.get_config()
    # Keras keeps L1's and OrthogonalRegularizer's factors as float32 tensors: 0.01 -> 0.009999999776...
    assert config == pytest.approx(theirs.get_config(), rel=1e-7)
    envelope = json.loads(json.dumps(regularizers.serialize(ours)))
    assert envelope == {"class_name": name, "config": config}
    for rebuilt in (regularizers.deserialize(envelope), regularizers.get(envelope), type(ours).from_config(config)):
        assert type(rebuilt) is type(ours) and rebuilt.get_config() == config
    assert keras.regularizers.deserialize(envelope).get_config() == theirs.get_config()
    assert regularizers.get(keras.regularizers.serialize(theirs)).get_config() == pytest.approx(config, rel=1e-7)


KERAS_NAMES = ["L1", "L2", "L1L2", "OrthogonalRegularizer", "l1", "l2", "l1l2", "orthogonal_regularizer"]


@pytest.mark.parametrize("name", KERAS_NAMES)
def test_keras_names_resolve_to_the_same_defaults(keras, name: str) -> None:
    ours, theirs = regularizers.get(name), keras.regularizers.get(name)
    assert type(ours).__name__ == type(theirs).__name__
    assert ours.get_config() == pytest.approx(theirs.get_config(), rel=1e-7)


@pytest.mark.parametrize(("alias", "cls"), [("l1", "L1"), ("l2", "L2"), ("l1_l2", "L1L2")])
def test_lower_case_aliases_construct_like_keras(keras, alias: str, cls: str) -> None:
    assert getattr(regularizers, alias) is getattr(regularizers, cls)
    keras_config = getattr(keras.regularizers, alias)().get_config()
    assert getattr(regularizers, alias)().get_config() == pytest.approx(keras_config)
    assert regularizers.get(alias).get_config() == getattr(regularizers, alias)().get_config()
    assert regularizers.l1_l2(l2=0.1).get_config() == {"l1": 0.0, "l2": 0.1}


def test_get_passes_instances_and_callables_and_instantiates_classes() -> None:
    reg = regularizers.L2(0.3)

    def total(weight: torch.Tensor) -> torch.Tensor:
        return weight.sum()

    assert regularizers.get(reg) is reg
    assert regularizers.get(total) is total
    assert isinstance(regularizers.get(regularizers.L1), regularizers.L1)
    assert regularizers.get(None) is None and regularizers.serialize(None) is None


@_registry.register(package="BirnnTests")
class _Total(regularizers.Regularizer):
    def __init__(self, factor: float = 1.0) -> None:
        self.factor = factor

    def __call__(self, weight: torch.Tensor) -> torch.Tensor:
        return self.factor * weight.sum()

    def get_config(self) -> dict:
        return {"factor": self.factor}


def test_registered_user_regularizer_round_trips() -> None:
    envelope = regularizers.serialize(_Total(2.0))
    assert envelope == {"class_name": "_Total", "config": {"factor": 2.0}, "registered_name": "BirnnTests>_Total"}
    assert regularizers.deserialize(envelope).factor == 2.0
    assert isinstance(regularizers.deserialize("l2", custom_objects={"l2": _Total}), _Total)


def test_regularizer_without_config_works_but_cannot_be_serialized() -> None:
    class Total(regularizers.Regularizer):
        def __call__(self, weight: torch.Tensor) -> torch.Tensor:
            return weight.sum()

    assert Total()(torch.ones(3)).item() == 3.0
    with pytest.raises(NotImplementedError, match="Total must implement get_config"):
        regularizers.serialize(Total())


@pytest.mark.parametrize("bad", ["l3", "L1_L2", {"class_name": "Nope", "config": {}}])
def test_unknown_name_lists_accepted_names(bad) -> None:
    with pytest.raises(ValueError, match=r"Accepted names: L1, L1L2, L2, OrthogonalRegularizer, l1, l1_l2, .*l2"):
        regularizers.get(bad)


@pytest.mark.parametrize("bad", [3, 0.5, [1]])
def test_uninterpretable_identifier_raises(bad) -> None:
    with pytest.raises(ValueError, match="Could not interpret regularizer identifier"):
        regularizers.get(bad)


@pytest.mark.parametrize(
    ("cls", "kwargs", "argument"),
    [
        (regularizers.L1, {"l1": -0.1}, "l1=-0.1"),
        (regularizers.L1, {"l1": "0.1"}, "l1='0.1'"),
        (regularizers.L2, {"l2": float("inf")}, "l2=inf"),
        (regularizers.L2, {"l2": None}, "l2=None"),
        (regularizers.L1L2, {"l1": float("nan")}, "l1=nan"),
        (regularizers.L1L2, {"l2": -1}, "l2=-1"),
        (regularizers.L1L2, {"l1": True}, "l1=True"),
        (regularizers.OrthogonalRegularizer, {"factor": -0.5}, "factor=-0.5"),
        (regularizers.OrthogonalRegularizer, {"mode": "diagonal"}, "mode='diagonal'"),
    ],
)
def test_bad_arguments_raise(cls, kwargs: dict, argument: str) -> None:
    with pytest.raises(ValueError, match=f"received: {argument}"):
        cls(**kwargs)


def test_orthogonal_regularizer_needs_a_matrix() -> None:
    with pytest.raises(ValueError, match=r"weight.shape=\(2, 3, 4\)"):
        regularizers.OrthogonalRegularizer()(torch.ones(2, 3, 4))
