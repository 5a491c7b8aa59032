"""birnn.losses against keras.losses (torch backend): values, reductions, weights, masks, shape checks."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from birnn import _registry, losses

N, T, C = 4, 3, 5
RNG = np.random.RandomState(0)
PROBS = RNG.dirichlet(np.ones(C), size=(N, T)).astype("float32")
LOGITS = RNG.standard_normal((N, T, C)).astype("float32")
ONE_HOT = np.eye(C, dtype="float32")[RNG.randint(0, C, (N, T))]
SPARSE = RNG.randint(0, C, (N, T))
BINARY = RNG.randint(0, 2, (N, T, 1)).astype("float32")
SIGMOID = RNG.uniform(0.01, 0.99, (N, T, 1)).astype("float32")
REGRESSION = RNG.standard_normal((N, T, 2)).astype("float32")
TARGET = RNG.standard_normal((N, T, 2)).astype("float32") * 2

# (class name, kwargs, y_true, y_pred)
CASES = [
    ("CategoricalCrossentropy", {}, ONE_HOT, PROBS),
    ("CategoricalCrossentropy", {"from_logits": True, "label_smoothing": 0.1}, ONE_HOT, LOGITS),
    ("SparseCategoricalCrossentropy", {}, SPARSE, PROBS),
    ("SparseCategoricalCrossentropy", {"from_logits": True}, SPARSE[..., None], LOGITS),
    ("SparseCategoricalCrossentropy", {"ignore_class": 2}, SPARSE, PROBS),
    ("BinaryCrossentropy", {}, BINARY, SIGMOID),
    ("BinaryCrossentropy", {"from_logits": True, "label_smoothing": 0.2}, BINARY, LOGITS[..., :1]),
    ("MeanSquaredError", {}, TARGET, REGRESSION),
    ("MeanAbsoluteError", {}, TARGET, REGRESSION),
    ("Huber", {"delta": 0.5}, TARGET, REGRESSION),
    ("KLDivergence", {}, PROBS[::-1].copy(), PROBS),
]
REDUCTIONS = ["sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none"]


def _keras_value(keras, name, kwargs, y_true, y_pred, sample_weight=None, mask=None):
    loss = getattr(keras.losses, name)(**kwargs)
    y_pred = torch.as_tensor(y_pred)
    if mask is not None:
        y_pred._keras_mask = torch.as_tensor(mask)
    return np.asarray(loss(y_true, y_pred, sample_weight=sample_weight).detach().cpu())


def _ours(name, kwargs, y_true, y_pred, sample_weight=None, mask=None):
    y_pred = torch.as_tensor(y_pred)
    if mask is not None:
        y_pred._keras_mask = torch.as_tensor(mask)
    weight = None if sample_weight is None else torch.as_tensor(sample_weight)
    return getattr(losses, name)(**kwargs)(torch.as_tensor(y_true), y_pred, sample_weight=weight).detach().numpy()


@pytest.mark.parametrize("name, kwargs, y_true, y_pred", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_against_keras(keras, name, kwargs, y_true, y_pred, reduction):
    kwargs = {**kwargs, "reduction": reduction}
    weight = RNG.uniform(0, 2, (N, T)).astype("float32")
    mask = np.ones((N, T), dtype=bool)
    mask[0, 1:] = False
    mask[2, 2] = False
    for extra in ({}, {"sample_weight": weight}, {"mask": mask}, {"sample_weight": weight, "mask": mask}):
        expected = _keras_value(keras, name, kwargs, y_true, y_pred, **extra)
        np.testing.assert_allclose(_ours(name, kwargs, y_true, y_pred, **extra), expected, rtol=1e-5, atol=1e-6)


def test_masked_loss_counts_only_valid_steps():
    y_pred = torch.tensor([[[0.5, 0.5], [0.9, 0.1], [0.1, 0.9]]])
    y_pred._keras_mask = torch.tensor([[True, False, False]])
    value = losses.SparseCategoricalCrossentropy()(torch.tensor([[0, 1, 1]]), y_pred)
    torch.testing.assert_close(value, torch.tensor(np.log(2.0), dtype=torch.float32))
    y_pred._keras_mask = torch.zeros(1, 3, dtype=torch.bool)
    assert float(losses.SparseCategoricalCrossentropy()(torch.tensor([[0, 1, 1]]), y_pred)) == 0.0


def test_per_sample_weight_broadcasts_over_time():
    """Keras 3 fails on (N,) weights for (N, T) losses; birnn weighs every step of a sample."""
    loss = losses.MeanSquaredError(reduction="sum")
    y_true, y_pred = torch.zeros(2, 3, 1), torch.ones(2, 3, 1)
    assert float(loss(y_true, y_pred, sample_weight=torch.tensor([1.0, 0.0]))) == 3.0


def test_probability_clipping_and_renormalisation():
    y_true = torch.tensor([[1.0, 0.0]])
    assert float(losses.categorical_crossentropy(y_true, torch.tensor([[0.0, 1.0]]))[0]) == pytest.approx(
        -np.log(1e-7), rel=1e-5
    )
    torch.testing.assert_close(
        losses.categorical_crossentropy(y_true, torch.tensor([[2.0, 2.0]])),
        torch.tensor([np.log(2.0)], dtype=torch.float32),
    )


@pytest.mark.parametrize(
    "loss, y_shape, pred_shape, message",
    [
        (
            "categorical_crossentropy",
            (8,),
            (None, 5),
            r"needs one-hot labels `y` with the shape of the model output \(None, 5\); received y.shape=\(8,\)",
        ),
        (
            "sparse_categorical_crossentropy",
            (8, 5),
            (None, 5),
            r"integer class labels `y` of shape \(None,\) \(or \(None, 1\)\) .* received y.shape=\(8, 5\)",
        ),
        ("binary_crossentropy", (8, 2), (None, 1), r"received y.shape=\(8, 2\)"),
        ("mse", (8, 3, 2), (None, 3), r"Loss 'mean_squared_error' needs labels `y` with the shape of the model output"),
    ],
)
def test_shape_checks(loss, y_shape, pred_shape, message):
    with pytest.raises(ValueError, match=message):
        losses.get(loss).check_shapes(y_shape, pred_shape)


@pytest.mark.parametrize(
    "loss, y_shape, pred_shape",
    [
        ("categorical_crossentropy", (8, 5), (None, 5)),
        ("sparse_categorical_crossentropy", (8,), (None, 5)),
        ("sparse_categorical_crossentropy", (8, 7, 1), (None, 7, 5)),
        ("binary_crossentropy", (8,), (None, 1)),
        ("mse", (8, 1), (None,)),
        ("huber", (8, 7, 2), (None, 7, 2)),
    ],
)
def test_shapes_accepted(loss, y_shape, pred_shape):
    losses.get(loss).check_shapes(y_shape, pred_shape)


def test_function_errors():
    with pytest.raises(
        ValueError, match=r"Arguments `target` and `output` must have the same shape. Received: target.shape=\(2, 3\)"
    ):
        losses.categorical_crossentropy(torch.zeros(2, 3), torch.ones(2, 4))
    with pytest.raises(ValueError, match=r"must have the same shape up until the last dimension"):
        losses.sparse_categorical_crossentropy(torch.zeros(2, 3), torch.ones(2, 4))
    with pytest.raises(ValueError, match=r"Invalid value for argument `reduction`. .* Received: reduction='avg'"):
        losses.MeanSquaredError(reduction="avg")
    with pytest.raises(ValueError, match=r"`label_smoothing` must be in \[0, 1\], received: label_smoothing=2"):
        losses.BinaryCrossentropy(label_smoothing=2)


def test_lookup_and_serialization():
    assert type(losses.get("mse")) is losses.MeanSquaredError
    assert type(losses.get("kld")) is losses.KLDivergence
    assert type(losses.get("BinaryCrossentropy")) is losses.BinaryCrossentropy
    custom = losses.get(lambda y_true, y_pred: (y_true - y_pred).abs().mean(-1))
    assert float(custom(torch.zeros(2, 1), torch.ones(2, 1))) == 1.0
    with pytest.raises(ValueError, match=r"Unknown loss 'categorical_crossentropyy'. Accepted names: "):
        losses.get("categorical_crossentropyy")
    with pytest.raises(ValueError, match=r"Could not interpret loss identifier: 3"):
        losses.get(3)
    for loss in (
        losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1),
        losses.Huber(delta=2.0),
        losses.SparseCategoricalCrossentropy(ignore_class=0),
        losses.MeanSquaredError(reduction="sum"),
    ):
        envelope = json.loads(json.dumps(losses.serialize(loss)))
        rebuilt = losses.deserialize(envelope)
        assert type(rebuilt) is type(loss) and rebuilt.get_config() == loss.get_config()
        assert _registry.deserialize(envelope).get_config() == loss.get_config()


def test_config_matches_keras(keras):
    for name, kwargs in [
        ("CategoricalCrossentropy", {"from_logits": True}),
        ("Huber", {"delta": 0.3}),
        ("SparseCategoricalCrossentropy", {"ignore_class": 1}),
        ("MeanAbsoluteError", {}),
    ]:
        theirs = getattr(keras.losses, name)(**kwargs).get_config()
        ours = getattr(losses, name)(**kwargs).get_config()
        for key in ours:
            if key in theirs:
                assert ours[key] == theirs[key], (name, key)
        if ours.keys() <= theirs.keys():  # Keras's Huber config drops `delta`
            rebuilt = getattr(losses, name).from_config({k: v for k, v in theirs.items() if k != "fn"})
            assert rebuilt.get_config() == ours
