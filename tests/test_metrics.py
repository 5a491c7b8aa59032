"""birnn.metrics against keras.metrics: values (with masks), accuracy resolution, names, lookup."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from birnn import metrics

N, T, C = 4, 3, 5
RNG = np.random.RandomState(0)
PROBS = RNG.dirichlet(np.ones(C), size=(N, T)).astype("float32")
ONE_HOT = np.eye(C, dtype="float32")[RNG.randint(0, C, (N, T))]
SPARSE = RNG.randint(0, C, (N, T))
BINARY = RNG.randint(0, 2, (N, T, 1)).astype("float32")
SIGMOID = RNG.uniform(0, 1, (N, T, 1)).astype("float32")
MASK = np.array([[1, 1, 1], [1, 0, 0], [1, 1, 0], [0, 0, 0]], dtype=bool)

CASES = [
    ("CategoricalAccuracy", {}, ONE_HOT, PROBS),
    ("SparseCategoricalAccuracy", {}, SPARSE, PROBS),
    ("SparseCategoricalAccuracy", {}, SPARSE[..., None], PROBS),
    ("BinaryAccuracy", {"threshold": 0.3}, BINARY, SIGMOID),
    ("TopKCategoricalAccuracy", {"k": 2}, ONE_HOT, PROBS),
    ("SparseTopKCategoricalAccuracy", {"k": 3}, SPARSE, PROBS),
    ("MeanSquaredError", {}, PROBS[::-1].copy(), PROBS),
    ("MeanAbsoluteError", {}, PROBS[::-1].copy(), PROBS),
    ("KLDivergence", {}, PROBS[::-1].copy(), PROBS),
    ("CategoricalCrossentropy", {}, ONE_HOT, PROBS),
    ("SparseCategoricalCrossentropy", {}, SPARSE, PROBS),
    ("BinaryCrossentropy", {}, BINARY, SIGMOID),
    ("Accuracy", {}, SPARSE.astype("float32"), np.argmax(PROBS, -1).astype("float32")),
]


@pytest.mark.parametrize("name, kwargs, y_true, y_pred", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
@pytest.mark.parametrize("masked", [False, True])
def test_against_keras(keras, name, kwargs, y_true, y_pred, masked):
    theirs, ours = getattr(keras.metrics, name)(**kwargs), getattr(metrics, name)(**kwargs)
    for half in (slice(0, 2), slice(2, 4)):  # two batches accumulate
        pred_k, pred_o = torch.as_tensor(y_pred[half]), torch.as_tensor(y_pred[half])
        if masked:
            pred_k._keras_mask = torch.as_tensor(MASK[half])
            pred_o._keras_mask = torch.as_tensor(MASK[half])
        theirs.update_state(y_true[half], pred_k)
        ours.update_state(torch.as_tensor(y_true[half]), pred_o)
    np.testing.assert_allclose(float(ours.result()), float(theirs.result()), rtol=1e-5, atol=1e-6)
    assert ours.name == theirs.name
    ours.reset_state()
    assert float(ours.result()) == 0.0


@pytest.mark.parametrize(
    "y_shape, pred_shape",
    [
        ((8,), (8, 5)),
        ((8, 1), (8, 5)),
        ((8, 5), (8, 5)),
        ((8, 1), (8, 1)),
        ((8,), (8, 1)),
        ((8, 7), (8, 7, 4)),
        ((8, 7, 4), (8, 7, 4)),
    ],
)
def test_accuracy_resolution_matches_keras(keras, y_shape, pred_shape):
    from keras.src.trainers.compile_utils import get_metric

    for name in ("accuracy", "acc"):
        theirs = get_metric(name, np.zeros(y_shape), np.zeros(pred_shape, dtype="float32"))
        ours = metrics.resolve_accuracy(name, y_shape, pred_shape)
        assert type(ours).__name__ == type(theirs).__name__ and ours.name == name


def test_mean_weights_and_directions():
    mean = metrics.Mean()
    mean.update_state(torch.tensor([[1.0, 3.0], [5.0, 7.0]]), sample_weight=torch.tensor([1.0, 0.0]))
    assert float(mean.result()) == 2.0
    assert metrics.CategoricalAccuracy.direction == "up" and metrics.MeanSquaredError.direction == "down"


def test_lookup():
    assert metrics.get("mae").name == "mae" and type(metrics.get("mse")) is metrics.MeanSquaredError
    assert type(metrics.get("CategoricalAccuracy")) is metrics.CategoricalAccuracy
    custom = metrics.get(lambda y_true, y_pred: (y_true == y_pred).float())
    custom.update_state(torch.ones(2), torch.ones(2))
    assert float(custom.result()) == 1.0
    with pytest.raises(ValueError, match=r"Unknown metric 'acuracy'. Accepted names: "):
        metrics.get("acuracy")
    with pytest.raises(ValueError, match=r"Could not interpret metric identifier: 1.5"):
        metrics.get(1.5)
