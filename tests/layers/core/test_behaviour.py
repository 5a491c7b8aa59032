"""Core layers: argument checks, training/inference behaviour, masks, and the Keras 2 spellings."""

from __future__ import annotations

import pytest
import torch

from birnn.layers import (
    Concatenate,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    GlobalAveragePooling1D,
    GlobalMaxPooling1D,
    Input,
    InputLayer,
    LayerNormalization,
    Masking,
    SpatialDropout1D,
    TimeDistributed,
)


@pytest.mark.parametrize(
    "make, message",
    [
        (
            lambda: Dense(0),
            r"Received an invalid value for `units` of Dense, expected a positive integer. Received: units=0",
        ),
        (lambda: Dense(2.5), r"units=2.5"),
        (
            lambda: Dense(2, lora_rank=4),
            r"Argument `lora_rank` of Dense is not supported by birnn, received: lora_rank=4",
        ),
        (lambda: Dropout(1.5), r"Expected a float value between 0 and 1. Received: rate=1.5"),
        (lambda: SpatialDropout1D(-0.1), r"Received: rate=-0.1"),
        (lambda: Embedding(0, 3), r"`input_dim` of Embedding, expected a positive integer. Received: input_dim=0"),
        (lambda: Embedding(3, True), r"output_dim=True"),
        (lambda: GlobalMaxPooling1D(data_format="nchw"), r"Received: data_format='nchw'"),
        (lambda: InputLayer(shape=(2,), batch_shape=(None, 2)), r"You cannot pass both `shape` and `batch_shape`"),
        (lambda: InputLayer(), r"You must pass a `shape` argument"),
        (lambda: InputLayer(shape=(2,), sparse=True), r"Argument `sparse` of InputLayer is not supported"),
        (lambda: InputLayer(shape=(2,), dtype="complex64"), r"received: dtype='complex64'"),
        (
            lambda: TimeDistributed(torch.nn.Linear(2, 2)),
            r"Please initialize `TimeDistributed` layer with a `birnn.layers.Layer`",
        ),
    ],
)
def test_argument_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_layer_norm_axis_type():
    with pytest.raises(
        TypeError, match=r"Expected an int or a list/tuple of ints for the argument 'axis', but received: 'x'"
    ):
        LayerNormalization(axis="x")
    with pytest.raises(ValueError, match=r"out of range for inputs of rank 2: axis=3"):
        LayerNormalization(axis=3)(torch.zeros(2, 3))


def test_dense_rejects_other_feature_size_after_build():
    dense = Dense(2)
    dense(torch.zeros(1, 3))
    with pytest.raises(
        ValueError,
        match=r'Input 0 of layer "dense" is incompatible with the layer: expected axis -1 of input shape to have value 3',
    ):
        dense(torch.zeros(1, 4))


def test_dense_keeps_mask_and_adds_regularization_loss():
    dense = Dense(2, kernel_regularizer="l2")
    x = torch.ones(2, 3, 4)
    x._keras_mask = torch.tensor([[True, True, False], [True, False, False]])
    y = dense(x)
    assert torch.equal(y._keras_mask, x._keras_mask)
    assert len(dense.losses) == 1 and dense.losses[0] > 0


def test_dropout_training_and_inference():
    layer = Dropout(0.5)
    x = torch.ones(20000)
    assert torch.equal(layer(x), x)  # layers start in inference mode
    dropped = layer(x, training=True)
    assert set(dropped.unique().tolist()) == {0.0, 2.0}
    assert abs(float(dropped.mean()) - 1.0) < 0.05
    layer.train()
    assert not torch.equal(layer(x), x)
    assert torch.equal(Dropout(1.0)(x, training=True), torch.zeros_like(x))


def test_dropout_seed_and_noise_shape():
    x = torch.ones(4, 6, 8)
    first = Dropout(0.5, seed=3)(x, training=True)
    second = Dropout(0.5, seed=3)(x, training=True)
    assert torch.equal(first, second)
    shared = Dropout(0.5, noise_shape=(None, 1, None), seed=1)(x, training=True)
    assert torch.equal(shared, shared[:, :1].expand_as(shared))
    with pytest.raises(ValueError, match=r"`noise_shape` of layer 'dropout_3' must have rank 3"):
        Dropout(0.5, noise_shape=(1, 1))(x, training=True)


def test_spatial_dropout_drops_channels():
    y = SpatialDropout1D(0.5, seed=0)(torch.ones(3, 7, 16), training=True)
    assert torch.equal(y, y[:, :1].expand_as(y))
    assert "noise_shape" not in SpatialDropout1D(0.5).get_config()
    with pytest.raises(ValueError, match=r"expected ndim=3, found ndim=2"):
        SpatialDropout1D(0.5)(torch.ones(3, 7))


def test_embedding_mask_float_ids_weights_and_input_length():
    table = torch.arange(12.0).reshape(4, 3)
    layer = Embedding(4, 3, mask_zero=True, weights=[table.numpy()])
    ids = torch.tensor([[2.0, 1.0, 0.0]])
    out = layer(ids)
    torch.testing.assert_close(out, table[torch.tensor([[2, 1, 0]])])
    assert out._keras_mask.tolist() == [[True, True, False]]
    assert Embedding(4, 3, input_length=7).batch_input_shape == (None, 7)
    assert Embedding(4, 3).compute_mask(ids) is None


def test_masking_zeroes_masked_steps():
    x = torch.tensor([[[1.0, 2.0], [0.0, 0.0], [0.0, 3.0]]])
    out = Masking()(x)
    assert out._keras_mask.tolist() == [[True, False, True]]
    torch.testing.assert_close(out, x)
    out = Masking(mask_value=1.0)(torch.ones(1, 2, 2))
    assert torch.equal(out, torch.zeros(1, 2, 2))


def test_time_distributed_mask_training_and_shape_errors():
    td = TimeDistributed(Dropout(0.5))
    x = torch.ones(2, 50, 8)
    x._keras_mask = torch.ones(2, 50, dtype=torch.bool)
    assert torch.equal(td(x), x)
    assert not torch.equal(td(x, training=True), x)
    assert td(x)._keras_mask is x._keras_mask
    with pytest.raises(ValueError, match=r"expected min_ndim=3, found ndim=2"):
        TimeDistributed(Dense(2))(torch.ones(2, 3))
    with pytest.raises(
        ValueError, match=r"`TimeDistributed` Layer should be passed an `input_shape` with at least 3 dimensions"
    ):
        TimeDistributed(Dense(2)).compute_output_shape((None, 3))


def test_flatten_unknown_sizes():
    assert Flatten().compute_output_shape((None, None, 3)) == (None, None)
    assert Flatten().compute_mask(torch.zeros(2, 3, 4), torch.ones(2, 3, dtype=torch.bool)) is None


def test_global_pooling_masks():
    x = torch.tensor([[[1.0], [5.0], [9.0]], [[2.0], [4.0], [-1.0]]])
    mask = torch.tensor([[True, False, False], [False, False, False]])
    assert GlobalAveragePooling1D()(x, mask=mask).tolist() == [[1.0], [0.0]]
    assert GlobalMaxPooling1D()(x, mask=mask).tolist() == [[1.0], [0.0]]
    assert GlobalMaxPooling1D()(x).tolist() == [[9.0], [4.0]]
    assert GlobalAveragePooling1D().compute_mask(x, mask) is None
    x._keras_mask = torch.tensor([[True, True, False], [True, True, True]])
    torch.testing.assert_close(GlobalAveragePooling1D()(x), torch.tensor([[3.0], [5.0 / 3.0]]))


def test_concatenate_checks_and_masks():
    a, b = torch.ones(2, 3, 4), torch.zeros(2, 3, 2)
    a._keras_mask = torch.tensor([[True, True, False], [True, False, False]])
    out = Concatenate()([a, b])
    assert out.shape == (2, 3, 6)
    assert out._keras_mask.tolist() == [[True, True, True], [True, True, True]]
    assert Concatenate().compute_mask([a, a]).tolist() == a._keras_mask.tolist()
    assert Concatenate().compute_output_shape([(None, 3, 4), (None, 3, None)]) == (None, 3, None)
    with pytest.raises(ValueError, match=r"requires inputs with matching shapes except for the concatenation axis"):
        Concatenate(axis=1)([a, b])
    with pytest.raises(ValueError, match=r"should be called on a list of at least 1 input"):
        Concatenate().build([])
    with pytest.raises(ValueError, match=r"`mask` of Concatenate should be a list with one entry per input"):
        Concatenate().compute_mask([a, b], [None])


def test_input_layer_shapes_dtypes_and_keras2_spelling():
    layer = Input(shape=(5,), dtype="int32", batch_size=4)
    assert isinstance(layer, InputLayer) and layer.batch_shape == (4, 5) and layer.shape == (5,)
    assert layer(torch.ones(4, 5)).dtype == torch.int32
    assert InputLayer(batch_input_shape=[None, 2, 3]).batch_shape == (None, 2, 3)
    assert InputLayer(input_shape=(2, 3)).batch_shape == (None, 2, 3)
    assert InputLayer(shape=(3,), name="x").get_config() == {
        "batch_shape": [None, 3],
        "dtype": "float32",
        "sparse": False,
        "name": "x",
    }
    with pytest.raises(ValueError, match=r"expected ndim=2, found ndim=3"):
        Input(shape=(5,))(torch.zeros(1, 5, 1))


def test_layer_dtype_is_its_first_weights_dtype():
    from birnn.layers import LSTM, Bidirectional
    from birnn.layers._layer import _first_parameter

    layer = LSTM(3)
    assert layer.dtype == "float32" and _first_parameter(layer) is None  # not built: the configured dtype
    layer.build((2, 4, 5))
    layer.double()  # converted in place: the weights live in the cell, a submodule
    assert layer.dtype == "float64"
    assert layer(torch.zeros(2, 4, 5)).dtype == torch.float64  # float32 inputs cast to the layer's dtype
    shared = torch.nn.Linear(2, 2)
    pair = Bidirectional(LSTM(3))
    pair.build((2, 4, 5))
    for module in (layer, pair, Dense(2), torch.nn.Sequential(torch.nn.ReLU(), shared, shared), torch.nn.ReLU()):
        assert _first_parameter(module) is next(module.parameters(), None)
