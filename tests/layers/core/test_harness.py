"""Every core layer through the shared layer-test harness (config, shapes, weights, masks, one step)."""

from __future__ import annotations

import pytest
import torch

from birnn.layers import (
    Activation,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    GlobalAveragePooling1D,
    GlobalMaxPooling1D,
    InputLayer,
    LayerNormalization,
    Masking,
    SpatialDropout1D,
    TimeDistributed,
)
from tests.harness import run_layer_test

N, T, F = 2, 4, 3

# (id, factory, input shape, expected output shape, trainable weights, supports masking)
CASES = [
    ("dense-2d", lambda: Dense(5), (N, F), (N, 5), 2, True),
    ("dense-3d", lambda: Dense(5, activation="tanh", use_bias=False), (N, T, F), (N, T, 5), 1, True),
    (
        "dense-regularized",
        lambda: Dense(2, kernel_regularizer="l2", bias_constraint="non_neg"),
        (N, F),
        (N, 2),
        2,
        True,
    ),
    ("activation", lambda: Activation("softmax"), (N, T, F), (N, T, F), 0, True),
    ("dropout", lambda: Dropout(0.3, seed=1), (N, T, F), (N, T, F), 0, True),
    ("dropout-noise-shape", lambda: Dropout(0.3, noise_shape=(None, 1, None)), (N, T, F), (N, T, F), 0, True),
    ("spatial-dropout", lambda: SpatialDropout1D(0.5), (N, T, F), (N, T, F), 0, True),
    ("masking", lambda: Masking(mask_value=0.5), (N, T, F), (N, T, F), 0, True),
    ("time-distributed", lambda: TimeDistributed(Dense(4)), (N, T, F), (N, T, 4), 2, True),
    ("flatten", lambda: Flatten(), (N, T, F), (N, T * F), 0, False),
    ("flatten-channels-first", lambda: Flatten(data_format="channels_first"), (N, T, F), (N, T * F), 0, False),
    ("global-average", lambda: GlobalAveragePooling1D(), (N, T, F), (N, F), 0, True),
    ("global-average-keepdims", lambda: GlobalAveragePooling1D(keepdims=True), (N, T, F), (N, 1, F), 0, True),
    ("global-max", lambda: GlobalMaxPooling1D(), (N, T, F), (N, F), 0, True),
    # channels-first with F == T, because the harness masks the first two axes
    ("global-max-channels-first", lambda: GlobalMaxPooling1D(data_format="channels_first"), (N, T, T), (N, T), 0, True),
    ("layer-norm", lambda: LayerNormalization(), (N, T, F), (N, T, F), 2, True),
    ("layer-norm-axes", lambda: LayerNormalization(axis=[1, 2], center=False), (N, T, F), (N, T, F), 1, True),
    ("input-layer", lambda: InputLayer(shape=(T, F)), (N, T, F), (N, T, F), 0, True),
]


@pytest.mark.parametrize(
    "factory, input_shape, output_shape, trainable, masking", [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_harness(factory, input_shape, output_shape, trainable, masking):
    run_layer_test(
        factory,
        input_shape,
        expected_output_shape=output_shape,
        expected_num_trainable_weights=trainable,
        supports_masking=masking,
    )


@pytest.mark.parametrize("mask_zero", [False, True])
def test_harness_embedding(monkeypatch, mask_zero):
    """The harness feeds ``torch.randn`` inputs; an Embedding needs ids, so they are drawn as integers."""
    monkeypatch.setattr(torch, "randn", lambda *shape: torch.randint(0, 10, shape))
    run_layer_test(
        lambda: Embedding(10, 4, mask_zero=mask_zero),
        (N, T),
        expected_output_shape=(N, T, 4),
        expected_num_trainable_weights=1,
        supports_masking=mask_zero,
    )
