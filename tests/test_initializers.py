"""birnn.initializers against keras.initializers (torch backend)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from birnn import _registry, initializers

TRUNCATED_STDDEV = 0.87962566103423978

RANDOM = [
    ("RandomNormal", {}),
    ("RandomNormal", {"mean": 0.3, "stddev": 0.2}),
    ("TruncatedNormal", {}),
    ("TruncatedNormal", {"mean": -0.1, "stddev": 0.5}),
    ("RandomUniform", {}),
    ("RandomUniform", {"minval": -0.3, "maxval": 0.7}),
    ("VarianceScaling", {}),
    ("VarianceScaling", {"scale": 3.0, "mode": "fan_out", "distribution": "uniform"}),
    ("VarianceScaling", {"scale": 0.5, "mode": "fan_avg", "distribution": "untruncated_normal"}),
    ("VarianceScaling", {"mode": "fan_avg", "distribution": "normal"}),
    ("VarianceScaling", {"input_axes": [0, 1], "output_axes": [-1]}),
    ("GlorotUniform", {}),
    ("GlorotNormal", {}),
    ("HeUniform", {}),
    ("HeNormal", {}),
    ("LecunUniform", {}),
    ("LecunNormal", {}),
    ("Orthogonal", {}),
    ("Orthogonal", {"gain": 2.0}),
]
FIXED = [
    ("Zeros", {}),
    ("Ones", {}),
    ("Constant", {"value": 0.7}),
    ("Constant", {"value": -3}),
    ("Identity", {}),
    ("Identity", {"gain": 2.5}),
]
STAT_SHAPES = [(300, 200), (3, 3, 40, 50)]


def _cases(cases: list[tuple[str, dict]]) -> list:
    return [pytest.param(name, kwargs, id=f"{name}{json.dumps(kwargs, sort_keys=True)}") for name, kwargs in cases]


def _expected_moments(keras, keras_init, shape: tuple[int, ...]) -> tuple[float, float, float | None]:
    """Mean, stddev and (when bounded) the largest |x - mean| of Keras's distribution."""
    name = type(keras_init).__name__
    if name == "RandomNormal":
        return keras_init.mean, keras_init.stddev, None
    if name == "TruncatedNormal":
        return keras_init.mean, keras_init.stddev * TRUNCATED_STDDEV, 2 * keras_init.stddev
    if name == "RandomUniform":
        low, high = keras_init.minval, keras_init.maxval
        return (low + high) / 2, (high - low) / math.sqrt(12), (high - low) / 2
    from keras.src.initializers.random_initializers import compute_fans

    fan_in, fan_out = compute_fans(shape, keras_init.input_axes, keras_init.output_axes)
    fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[keras_init.mode]
    std = math.sqrt(keras_init.scale / max(1.0, fan))
    bound = {"truncated_normal": 2 * std / TRUNCATED_STDDEV, "uniform": math.sqrt(3) * std}
    return 0.0, std, bound.get(keras_init.distribution)


@pytest.mark.parametrize("shape", STAT_SHAPES)
@pytest.mark.parametrize(("name", "kwargs"), _cases([c for c in RANDOM if c[0] != "Orthogonal"]))
def test_random_distributions_match_keras(keras, name: str, kwargs: dict, shape: tuple[int, ...]) -> None:
    keras_init = getattr(keras.initializers, name)(**kwargs)
    mean, std, bound = _expected_moments(keras, keras_init, shape)
    ours = getattr(initializers, name)(**kwargs)(shape)
    theirs = torch.as_tensor(keras.ops.convert_to_numpy(keras_init(shape)))
    assert ours.shape == shape and ours.dtype == torch.float32
    assert abs(ours.mean().item() - mean) < 0.02 * std
    assert ours.std().item() == pytest.approx(std, rel=0.02)
    assert ours.std().item() == pytest.approx(theirs.std().item(), rel=0.03)
    if bound is not None:
        assert (ours - mean).abs().max().item() <= bound * (1 + 1e-6)
        assert (ours - mean).abs().max().item() > 0.9 * bound


@pytest.mark.parametrize("gain", [1.0, 0.5])
@pytest.mark.parametrize("shape", [(8, 32), (32, 8), (16, 64), (12, 12), (4, 3, 6), (2, 3, 24)])
def test_orthogonal_is_orthogonal_over_whole_matrix(keras, shape: tuple[int, ...], gain: float) -> None:
    for init in (initializers.Orthogonal(gain=gain), keras.initializers.Orthogonal(gain=gain)):
        w = torch.as_tensor(np.asarray(init(shape))).reshape(-1, shape[-1]).double()
        gram = w @ w.T if w.shape[0] < w.shape[1] else w.T @ w
        torch.testing.assert_close(gram, gain**2 * torch.eye(gram.shape[0], dtype=torch.float64), atol=1e-5, rtol=0)


@pytest.mark.parametrize("dtype", [None, "float64"])
@pytest.mark.parametrize("shape", [(3, 5), (4, 4), (6, 2)])
@pytest.mark.parametrize(("name", "kwargs"), _cases(FIXED))
def test_fixed_values_equal_keras(keras, name: str, kwargs: dict, shape: tuple[int, int], dtype: str | None) -> None:
    expected = keras.ops.convert_to_numpy(getattr(keras.initializers, name)(**kwargs)(shape, dtype=dtype))
    got = getattr(initializers, name)(**kwargs)(shape, dtype=dtype)
    assert got.dtype == (torch.float64 if dtype else torch.float32)
    np.testing.assert_array_equal(got.numpy(), expected)


@pytest.mark.parametrize(("name", "kwargs"), _cases(RANDOM))
def test_seeded_calls_repeat_and_seeds_differ(name: str, kwargs: dict) -> None:
    cls = getattr(initializers, name)
    first = cls(**kwargs, seed=7)((6, 10))
    assert torch.equal(first, cls(**kwargs, seed=7)((6, 10)))
    assert torch.equal(first, cls(**kwargs, seed=7)((6, 10)))
    assert not torch.equal(first, cls(**kwargs, seed=8)((6, 10)))


@pytest.mark.parametrize(("name", "kwargs"), _cases(RANDOM))
def test_unseeded_calls_follow_global_torch_rng(name: str, kwargs: dict) -> None:
    init = getattr(initializers, name)(**kwargs)
    torch.manual_seed(123)
    first, second = init((6, 10)), init((6, 10))
    assert not torch.equal(first, second)
    torch.manual_seed(123)
    assert torch.equal(first, init((6, 10)))


@pytest.mark.parametrize(
    ("dtype", "expected"),
    [(None, torch.float32), ("float64", torch.float64), (torch.float16, torch.float16), ("bfloat16", torch.bfloat16)],
)
@pytest.mark.parametrize(("name", "kwargs"), _cases(RANDOM[:1] + RANDOM[-2:] + FIXED[-2:]))
def test_dtypes(name: str, kwargs: dict, dtype, expected: torch.dtype) -> None:
    assert getattr(initializers, name)(**kwargs)((4, 4), dtype=dtype).dtype == expected


@pytest.mark.parametrize(("name", "kwargs"), _cases([RANDOM[0], RANDOM[11], RANDOM[-1], FIXED[2], FIXED[-1]]))
def test_tensors_are_made_on_the_default_device(name: str, kwargs: dict) -> None:
    init = getattr(initializers, name)(**kwargs)
    with torch.device("meta"):
        assert init((4, 4)).device.type == "meta"
    assert init((4, 4)).device.type == "cpu"


@pytest.mark.parametrize(("name", "kwargs"), _cases([(n, {**k, "seed": 3}) for n, k in RANDOM] + FIXED))
def test_config_matches_keras_and_round_trips(keras, name: str, kwargs: dict) -> None:
    ours = getattr(initializers, name)(**kwargs)
    theirs = getattr(keras.initializers, name)(**kwargs)
    config = ours.get_config()
    from_keras = config
    if name == "Identity":  # Keras 3.15's Identity.get_config() forgets the gain.
        assert theirs.get_config() == {} and config == {"gain": kwargs.get("gain", 1.0)}
        assert keras.initializers.deserialize({"class_name": name, "config": config}).gain == config["gain"]
        from_keras = {"gain": 1.0}
    else:
        assert config == theirs.get_config()
    envelope = json.loads(json.dumps(initializers.serialize(ours)))
    assert envelope == {"class_name": name, "config": config}
    for rebuilt in (initializers.deserialize(envelope), initializers.get(envelope), type(ours).from_config(config)):
        assert type(rebuilt) is type(ours) and rebuilt.get_config() == config
    assert keras.initializers.deserialize(envelope).get_config() == theirs.get_config()
    assert initializers.get(keras.initializers.serialize(theirs)).get_config() == from_keras


def _keras_names() -> list[str]:
    from keras.src.initializers import ALL_OBJECTS_DICT

    # Not ported: STFT and the abstract base. keras.initializers.get("constant") raises KeyError.
    skipped = {"Initializer", "initializer", "Constant", "constant"}
    return sorted(n for n in ALL_OBJECTS_DICT if n not in skipped and "stft" not in n.lower())


def test_every_keras_name_resolves_to_the_same_class(keras) -> None:
    names = _keras_names()
    assert len(names) == 34
    for name in names:
        ours, theirs = initializers.get(name), keras.initializers.get(name)
        assert type(ours).__name__ == type(theirs).__name__, name
        if not isinstance(ours, initializers.Identity):
            assert ours.get_config() == theirs.get_config(), name
    assert initializers.get("constant").get_config() == {"value": 0.0}


def test_get_passes_instances_and_callables_and_instantiates_classes() -> None:
    init = initializers.HeUniform(seed=1)

    def halves(shape, dtype=None):
        return torch.full(shape, 0.5, dtype=dtype)

    assert initializers.get(init) is init
    assert initializers.get(halves) is halves
    assert isinstance(initializers.get(initializers.GlorotNormal), initializers.GlorotNormal)
    assert initializers.get(None) is None and initializers.serialize(None) is None


@_registry.register(package="BirnnTests")
class _Twos(initializers.Initializer):
    def __call__(self, shape, dtype=None):
        return torch.full(tuple(shape), 2.0)


def test_registered_user_initializer_round_trips() -> None:
    envelope = initializers.serialize(_Twos())
    assert envelope["registered_name"] == "BirnnTests>_Twos"
    assert isinstance(initializers.deserialize(envelope), _Twos)
    assert isinstance(initializers.deserialize("zeros", custom_objects={"zeros": _Twos}), _Twos)


@pytest.mark.parametrize("bad", ["glorot", "GlorotUniformm", {"class_name": "Nope", "config": {}}])
def test_unknown_name_lists_accepted_names(bad) -> None:
    with pytest.raises(ValueError, match=r"Accepted names: Constant, GlorotNormal, .*, zeros"):
        initializers.get(bad)


@pytest.mark.parametrize("bad", [3, 2.5, [1, 2]])
def test_uninterpretable_identifier_raises(bad) -> None:
    with pytest.raises(ValueError, match="Could not interpret initializer identifier"):
        initializers.get(bad)


@pytest.mark.parametrize(
    ("cls", "kwargs", "argument"),
    [
        (initializers.RandomNormal, {"stddev": -1.0}, "stddev=-1.0"),
        (initializers.RandomNormal, {"mean": "0"}, "mean='0'"),
        (initializers.TruncatedNormal, {"stddev": 0.0}, "stddev=0.0"),
        (initializers.RandomUniform, {"minval": 1.0, "maxval": 0.0}, "maxval=0.0"),
        (initializers.VarianceScaling, {"scale": 0.0}, "scale=0.0"),
        (initializers.VarianceScaling, {"scale": -2.0}, "scale=-2.0"),
        (initializers.VarianceScaling, {"mode": "fan"}, "mode='fan'"),
        (initializers.VarianceScaling, {"distribution": "gaussian"}, "distribution='gaussian'"),
        (initializers.VarianceScaling, {"input_axes": [0]}, "input_axes=[0]"),
        (initializers.GlorotUniform, {"seed": "1"}, "seed='1'"),
        (initializers.HeNormal, {"seed": 1.5}, "seed=1.5"),
        (initializers.Orthogonal, {"gain": float("nan")}, "gain=nan"),
        (initializers.Constant, {"value": "a"}, "value='a'"),
        (initializers.Identity, {"gain": None}, "gain=None"),
    ],
)
def test_bad_arguments_raise(cls, kwargs: dict, argument: str) -> None:
    with pytest.raises(ValueError, match=f"received: .*{argument.replace('[', '.').replace(']', '.')}"):
        cls(**kwargs)


@pytest.mark.parametrize(
    ("init", "shape", "dtype", "argument"),
    [
        (initializers.Identity(), (2, 2, 2), None, "shape=(2, 2, 2)"),
        (initializers.Orthogonal(), (5,), None, "shape=(5,)"),
        (initializers.Zeros(), (2, -1), None, "shape=(2, -1)"),
        (initializers.GlorotUniform(), (2, 2), "int32", "dtype='int32'"),
        (initializers.Ones(), (2, 2), "floaty", "dtype='floaty'"),
    ],
)
def test_bad_call_arguments_raise(init, shape, dtype, argument: str) -> None:
    with pytest.raises(ValueError, match=argument.replace("(", r"\(").replace(")", r"\)")):
        init(shape, dtype=dtype)
