"""birnn.optimizers against keras.optimizers: defaults, update rules, clipping, weight decay, config."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

from birnn import _registry, optimizers

NAMES = ["SGD", "RMSprop", "Adam", "AdamW", "Adagrad", "Adadelta", "Adamax", "Nadam"]
START = np.random.RandomState(0).standard_normal((3, 4)).astype("float32")
TARGET = np.random.RandomState(1).standard_normal((3, 4)).astype("float32")


def _gradient(w: np.ndarray) -> np.ndarray:
    return 2 * (w - TARGET) + 0.5 * w**3


@pytest.mark.parametrize("name", NAMES)
def test_defaults_match_keras(keras, name):
    theirs = getattr(keras.optimizers, name)().get_config()
    ours = getattr(optimizers, name)().get_config()
    assert ours.keys() == theirs.keys()
    theirs["name"] = re.sub(r"_\d+$", "", theirs["name"])  # Keras numbers names per session: adam, adam_1 ...
    for key, value in theirs.items():
        if isinstance(value, float):
            assert ours[key] == pytest.approx(value, rel=1e-6), key
        else:
            assert ours[key] == value, key


CASES = [(name, {}) for name in NAMES] + [
    ("SGD", {"momentum": 0.9}),
    ("SGD", {"momentum": 0.9, "nesterov": True}),
    ("RMSprop", {"momentum": 0.5, "centered": True}),
    ("Adam", {"amsgrad": True}),
    ("Adam", {"clipnorm": 0.5}),
    ("Adam", {"global_clipnorm": 0.5}),
    ("RMSprop", {"clipvalue": 0.1}),
    ("SGD", {"weight_decay": 0.1}),
    ("Adamax", {"beta_1": 0.8, "epsilon": 1e-3}),
]


@pytest.mark.parametrize("name, kwargs", CASES, ids=[f"{n}-{'-'.join(k)}" for n, k in CASES])
def test_updates_match_keras(keras, name, kwargs):
    kwargs = {**kwargs, "learning_rate": 0.05}
    variable = keras.Variable(START.copy())
    theirs = getattr(keras.optimizers, name)(**kwargs)
    weight = torch.nn.Parameter(torch.tensor(START.copy()))
    ours = getattr(optimizers, name)(**kwargs)
    for step in range(6):
        if step == 3:  # a learning-rate change mid-way (ReduceLROnPlateau does this)
            theirs.learning_rate = ours.learning_rate = 0.02
        theirs.apply_gradients([(keras.ops.convert_to_tensor(_gradient(variable.numpy())), variable)])
        weight.grad = torch.tensor(_gradient(weight.detach().numpy()))
        ours.apply([weight])
    np.testing.assert_allclose(weight.detach().numpy(), variable.numpy(), rtol=1e-5, atol=1e-5)
    assert ours.iterations == 6


def test_epsilon_placement_differs_from_torch():
    """Keras's RMSprop puts epsilon inside the square root; torch.optim.RMSprop outside: birnn follows Keras."""
    weight = torch.nn.Parameter(torch.tensor([1.0]))
    weight.grad = torch.tensor([1e-4])
    optimizers.RMSprop(learning_rate=1.0).apply([weight])
    expected = 1.0 - 1e-4 / np.sqrt(0.1 * 1e-8 + 1e-7)
    assert float(weight.detach()) == pytest.approx(expected, rel=1e-5)


def test_rebinds_and_skips_missing_gradients():
    a, b = torch.nn.Parameter(torch.ones(2)), torch.nn.Parameter(torch.ones(2))
    opt = optimizers.SGD(learning_rate=0.5)
    a.grad = torch.ones(2)
    opt.apply([a, b])
    assert torch.equal(b.detach(), torch.ones(2)) and torch.equal(a.detach(), torch.full((2,), 0.5))
    b.grad = torch.ones(2)
    opt.apply([b])  # a different weight list: rebuilt, still stepping
    assert torch.equal(b.detach(), torch.full((2,), 0.5))
    assert opt.torch_optimizer.param_groups[0]["params"] == [b]


def test_state_dict_round_trip():
    weight = torch.nn.Parameter(torch.ones(3))
    opt = optimizers.Adam()
    for _ in range(2):
        weight.grad = torch.ones(3)
        opt.apply([weight])
    clone = optimizers.Adam()
    clone.build([weight])
    clone.load_state_dict(opt.state_dict())
    assert clone.iterations == 2
    torch.testing.assert_close(
        clone.torch_optimizer.state[weight]["velocity"], opt.torch_optimizer.state[weight]["velocity"]
    )


def test_learning_rate_schedule_and_torch_optimizer():
    weight = torch.nn.Parameter(torch.zeros(1))
    opt = optimizers.SGD(learning_rate=lambda step: 0.1 * (step + 1))
    for _ in range(2):
        weight.grad = torch.ones(1)
        opt.apply([weight])
    assert float(weight.detach()) == pytest.approx(-0.3)
    wrapped = optimizers.get(torch.optim.SGD([weight], lr=0.5))
    assert isinstance(wrapped, optimizers.TorchOptimizer) and wrapped.learning_rate == 0.5
    wrapped.learning_rate = 0.25
    assert wrapped.torch_optimizer.param_groups[0]["lr"] == 0.25


@pytest.mark.parametrize("name", NAMES)
def test_config_round_trip(name):
    opt = getattr(optimizers, name)(learning_rate=0.3, clipnorm=1.0)
    envelope = json.loads(json.dumps(optimizers.serialize(opt)))
    for rebuilt in (optimizers.deserialize(envelope), _registry.deserialize(envelope)):
        assert type(rebuilt) is type(opt) and rebuilt.get_config() == opt.get_config()


def test_lookup_is_case_insensitive():
    assert type(optimizers.get("RMSprop")) is optimizers.RMSprop
    assert type(optimizers.get("rmsprop")) is optimizers.RMSprop
    assert type(optimizers.get("ADAM")) is optimizers.Adam


@pytest.mark.parametrize(
    "make, message",
    [
        (
            lambda: optimizers.get("adamm"),
            r"Unknown optimizer 'adamm'. Accepted names: adadelta, adagrad, adam, adamax, adamw, nadam, rmsprop, sgd",
        ),
        (lambda: optimizers.get(3), r"Could not interpret optimizer identifier: 3"),
        (
            lambda: optimizers.Adam(clipnorm=1.0, clipvalue=1.0),
            r"Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set",
        ),
        (lambda: optimizers.SGD(momentum=2.0), r"`momentum` must be in the range \[0, 1\]. Received: momentum=2.0"),
        (
            lambda: optimizers.Adam(learning_rate=-1.0),
            r"`learning_rate` must be a non-negative number, received: learning_rate=-1.0",
        ),
        (lambda: optimizers.Adam(use_ema=True), r"Argument `use_ema` is not supported by birnn optimizers"),
    ],
)
def test_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make()
