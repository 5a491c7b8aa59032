"""Core layers against Keras 3 (torch backend): same weights, same inputs, same outputs and masks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import birnn

N, T, F = 3, 5, 4
TOL = {"rtol": 1e-5, "atol": 1e-6}


def _floats(*shape):
    return np.random.RandomState(0).standard_normal(shape).astype("float32")


def _padded_ids():
    ids = np.random.RandomState(1).randint(1, 10, (N, T))
    ids[0, 3:] = 0
    ids[2, 1:] = 0
    return ids


def _zero_steps():
    x = _floats(N, T, F)
    x[0, 3:] = 0.0
    x[1, 1] = 0.0
    return x


def _right_mask(steps=T):
    mask = np.ones((N, steps), dtype=bool)
    mask[0, 2:] = False
    mask[1, 4:] = False
    return mask


# (id, spec(L) -> layer, inputs, mask given to the call or None)
CASES = [
    ("dense-2d", lambda L: L.Dense(3, activation="tanh"), _floats(N, F), None),
    ("dense-3d", lambda L: L.Dense(3, use_bias=False), _floats(N, T, F), None),
    ("activation", lambda L: L.Activation("softmax"), _floats(N, T, F), None),
    ("dropout-inference", lambda L: L.Dropout(0.5), _floats(N, T, F), None),
    ("spatial-dropout-inference", lambda L: L.SpatialDropout1D(0.5), _floats(N, T, F), None),
    ("embedding", lambda L: L.Embedding(10, 3), _padded_ids(), None),
    ("embedding-mask-zero", lambda L: L.Embedding(10, 3, mask_zero=True), _padded_ids(), None),
    ("masking", lambda L: L.Masking(), _zero_steps(), None),
    ("masking-value", lambda L: L.Masking(mask_value=-1.0), np.where(_zero_steps() == 0, -1.0, _zero_steps()), None),
    ("time-distributed", lambda L: L.TimeDistributed(L.Dense(2, activation="relu")), _floats(N, T, F), _right_mask()),
    ("flatten", lambda L: L.Flatten(), _floats(N, T, F), None),
    ("flatten-channels-first", lambda L: L.Flatten(data_format="channels_first"), _floats(N, 2, T, F), None),
    ("global-average", lambda L: L.GlobalAveragePooling1D(), _floats(N, T, F), None),
    ("global-average-masked", lambda L: L.GlobalAveragePooling1D(), _floats(N, T, F), _right_mask()),
    (
        "global-average-channels-first",
        lambda L: L.GlobalAveragePooling1D(data_format="channels_first", keepdims=True),
        _floats(N, F, T),
        _right_mask(),
    ),
    ("global-max", lambda L: L.GlobalMaxPooling1D(), _floats(N, T, F), None),
    ("global-max-keepdims", lambda L: L.GlobalMaxPooling1D(keepdims=True), _floats(N, T, F), None),
    ("layer-norm", lambda L: L.LayerNormalization(), _floats(N, T, F) * 3 + 1, None),
    ("layer-norm-axes", lambda L: L.LayerNormalization(axis=[1, 2], epsilon=1e-5), _floats(N, T, F), None),
]


def _namespaces(keras):
    return birnn.layers, keras.layers


def _randomize(layer):
    """Non-trivial weights (gamma/beta start at 1/0), identical for both twins."""
    rng = np.random.RandomState(7)
    return [rng.standard_normal(w.shape).astype("float32") for w in layer.get_weights()]


@pytest.mark.parametrize("spec, inputs, mask", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_against_keras(keras, spec, inputs, mask):
    ours_ns, theirs_ns = _namespaces(keras)
    ours, theirs = spec(ours_ns), spec(theirs_ns)
    call = {} if mask is None else {"mask": mask}
    ours(torch.as_tensor(inputs), **{k: torch.as_tensor(v) for k, v in call.items()})
    theirs(inputs, **call)
    weights = _randomize(ours)
    ours.set_weights(weights)
    theirs.set_weights(weights)
    expected = theirs(inputs, **call)
    received = ours(torch.as_tensor(inputs), **{k: torch.as_tensor(v) for k, v in call.items()})
    np.testing.assert_allclose(received.detach().numpy(), np.asarray(expected.detach().cpu()), **TOL)
    expected_mask = theirs.compute_mask(inputs, None if mask is None else keras.ops.convert_to_tensor(mask))
    received_mask = ours.compute_mask(torch.as_tensor(inputs), None if mask is None else torch.as_tensor(mask))
    if expected_mask is None:
        assert received_mask is None
    else:
        np.testing.assert_array_equal(received_mask.numpy(), np.asarray(expected_mask.cpu()))


def test_concatenate_against_keras(keras):
    a, b = _floats(N, T, F), _floats(N, T, 2)
    mask_a = _right_mask()
    ours, theirs = birnn.layers.Concatenate(), keras.layers.Concatenate()
    np.testing.assert_allclose(
        ours([torch.as_tensor(a), torch.as_tensor(b)]).numpy(), theirs([a, b]).cpu().detach().numpy()
    )
    expected = theirs.compute_mask([a, b], [keras.ops.convert_to_tensor(mask_a), None])
    received = ours.compute_mask([torch.as_tensor(a), torch.as_tensor(b)], [torch.as_tensor(mask_a), None])
    np.testing.assert_array_equal(received.numpy(), expected.cpu().numpy())
    axis0 = birnn.layers.Concatenate(axis=0)([torch.as_tensor(a), torch.as_tensor(a)])
    np.testing.assert_array_equal(axis0.numpy(), keras.layers.Concatenate(axis=0)([a, a]).cpu().numpy())


@pytest.mark.filterwarnings("ignore:You passed `rms_scaling=True`:UserWarning")
def test_layer_norm_rms_scaling_against_keras(keras):
    x = _floats(N, T, F) + 2
    ours, theirs = birnn.layers.LayerNormalization(rms_scaling=True), keras.layers.LayerNormalization(rms_scaling=True)
    ours(torch.as_tensor(x)), theirs(x)
    weights = _randomize(ours)
    ours.set_weights(weights), theirs.set_weights(weights)
    np.testing.assert_allclose(ours(torch.as_tensor(x)).detach().numpy(), theirs(x).cpu().detach().numpy(), **TOL)


def test_layer_norm_middle_axis_against_numpy():
    """Keras's torch backend fails on a non-trailing axis (it hands it to F.layer_norm); NumPy is the oracle."""
    x = _floats(N, T, F)
    layer = birnn.layers.LayerNormalization(axis=1, scale=False)
    layer(torch.as_tensor(x))
    beta = np.random.RandomState(3).standard_normal(T).astype("float32")
    layer.set_weights([beta])
    mean, var = x.mean(1, keepdims=True), x.var(1, keepdims=True)
    expected = (x - mean) / np.sqrt(var + 1e-3) + beta[None, :, None]
    np.testing.assert_allclose(layer(torch.as_tensor(x)).detach().numpy(), expected, rtol=1e-5, atol=1e-5)


CONFIG_CASES = [
    lambda L: L.Dense(3, activation="relu", use_bias=False),
    lambda L: L.Activation("tanh"),
    lambda L: L.Dropout(0.25, seed=3),
    lambda L: L.Embedding(7, 2, mask_zero=True),
    lambda L: L.Masking(mask_value=2.0),
    lambda L: L.Flatten(),
    lambda L: L.GlobalAveragePooling1D(keepdims=True),
    lambda L: L.GlobalMaxPooling1D(),
    lambda L: L.Concatenate(axis=1),
    lambda L: L.LayerNormalization(epsilon=1e-5, center=False),
]


@pytest.mark.parametrize("spec", CONFIG_CASES)
def test_keras_config_loads(keras, spec):
    """A Keras layer config (with its Keras-only keys) rebuilds the same birnn layer configuration."""
    theirs = spec(keras.layers)
    config = theirs.get_config()
    ours = type(spec(birnn.layers)).from_config(config)
    reference = spec(birnn.layers).get_config()
    for key in reference.keys() - {"name", "dtype"}:
        assert ours.get_config()[key] == reference[key], key


def test_weight_names_and_order_match_keras(keras):
    specs = [
        lambda L: L.Dense(3),
        lambda L: L.Embedding(5, 2),
        lambda L: L.LayerNormalization(),
        lambda L: L.TimeDistributed(L.Dense(2)),
    ]
    for spec in specs:
        ours, theirs = spec(birnn.layers), spec(keras.layers)
        shape = (N, T) if isinstance(ours, birnn.layers.Embedding) else (N, T, F)
        ours(torch.zeros(shape, dtype=torch.long if len(shape) == 2 else torch.float32))
        theirs(np.zeros(shape, dtype="int32" if len(shape) == 2 else "float32"))
        assert [w.shape for w in ours.get_weights()] == [tuple(w.shape) for w in theirs.get_weights()]
        assert [n for n, _ in ours.named_parameters()][-1].split(".")[-1] == theirs.weights[-1].path.split("/")[-1]
