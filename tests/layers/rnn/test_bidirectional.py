"""Bidirectional: harness grid, construction errors, names, weights, states, masks, constants, config."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
import torch

import birnn
from birnn import _registry
from birnn.layers import GRU, LSTM, RNN, Bidirectional, Layer, LSTMCell, SimpleRNN, SimpleRNNCell
from tests.harness import run_layer_test

N, T, F, U = 2, 4, 3, 5
MERGES = ["concat", "sum", "ave", "mul", None]


def _expected(merge, return_sequences, return_state, n_states):
    out = (N, T, U) if return_sequences else (N, U)
    merged = (*out[:-1], 2 * U) if merge == "concat" else out
    outputs = (out, out) if merge is None else (merged,)
    if not return_state:
        return outputs if merge is None else merged
    return (*outputs, *[(N, U)] * (2 * n_states))


@pytest.mark.parametrize(
    "cls, merge, return_sequences, return_state",
    [(LSTM, m, rs, st) for m, rs, st in itertools.product(MERGES, [False, True], [False, True])]
    + [(cls, "concat", True, True) for cls in (GRU, SimpleRNN)],
)
def test_harness(cls, merge, return_sequences, return_state):
    n_states = 2 if cls is LSTM else 1
    run_layer_test(
        lambda: Bidirectional(cls(U, return_sequences=return_sequences, return_state=return_state), merge_mode=merge),
        (N, T, F),
        expected_output_shape=_expected(merge, return_sequences, return_state, n_states),
        expected_num_trainable_weights=6,
    )


def test_merge_none_equals_forward_and_flipped_backward():
    bi = Bidirectional(GRU(U, return_sequences=True), merge_mode=None)
    x = torch.randn(N, T, F)
    y, y_rev = bi(x)
    torch.testing.assert_close(y, bi.forward_layer(x))
    torch.testing.assert_close(y_rev, bi.backward_layer(x).flip(1))
    for merge, expected in [("sum", y + y_rev), ("ave", (y + y_rev) / 2), ("mul", y * y_rev),
                            ("concat", torch.cat([y, y_rev], -1))]:
        bi.merge_mode = merge
        torch.testing.assert_close(bi(x), expected)


def test_unknown_merge_mode_at_call_time():
    bi = Bidirectional(LSTM(U))
    bi.merge_mode = "max"
    with pytest.raises(ValueError, match=r'Unrecognized value for `merge_mode`. Received: max. Expected one of \{"concat"'):
        bi(torch.randn(N, T, F))


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: Bidirectional(object()), "Please initialize `Bidirectional` layer with a `birnn.layers.Layer` instance. Received: <object"),
        (lambda: Bidirectional(LSTM(U), backward_layer="x"), "`backward_layer` need to be a `birnn.layers.Layer` instance. Received: x"),
        (lambda: Bidirectional(LSTM(U), merge_mode="max"), 'Invalid merge mode. Received: max. Merge mode should be one of {"sum", "mul", "ave", "concat", None}'),
        (lambda: Bidirectional(Layer(name="plain")), "`layer` Layer ('plain') cannot be wrapped by Bidirectional: it lacks `go_backwards`, `return_sequences`, `return_state`, `stateful`"),
        (lambda: Bidirectional(LSTM(U), backward_layer=LSTM(U)), "Forward layer and backward layer should have different `go_backwards` value. Received: forward_layer.go_backwards False, backward_layer.go_backwards=False"),
        (lambda: Bidirectional(LSTM(U), backward_layer=LSTM(U, go_backwards=True, stateful=True)), 'expected to have the same value for attribute "stateful", got "False" for forward layer and "True" for backward layer'),
        (lambda: Bidirectional(LSTM(U), backward_layer=LSTM(U, go_backwards=True, return_sequences=True)), 'same value for attribute "return_sequences"'),
        (lambda: Bidirectional(LSTM(U), backward_layer=LSTM(U, go_backwards=True, return_state=True)), 'same value for attribute "return_state"'),
    ],
)
def test_construction_errors(make, message):
    with pytest.raises(ValueError) as info:
        make()
    assert message in str(info.value)


def test_names_and_fresh_weights():
    lstm = LSTM(U, name="rnn")
    lstm.build((N, T, F))
    bi = Bidirectional(lstm)
    assert (bi.forward_layer.name, bi.backward_layer.name) == ("forward_rnn", "backward_rnn")
    assert (bi.forward_layer.go_backwards, bi.backward_layer.go_backwards) == (False, True)
    assert not bi.forward_layer.built and bi.forward_layer is not lstm
    again = Bidirectional.from_config(Bidirectional.from_config(bi.get_config()).get_config())
    assert (again.forward_layer.name, again.backward_layer.name) == ("forward_rnn", "backward_rnn")
    assert again.get_config() == bi.get_config()


def test_custom_backward_layer_is_used_as_given():
    backward = LSTM(U, activation="relu", go_backwards=True, name="lstm_1")
    bi = Bidirectional(LSTM(U, name="lstm"), backward_layer=backward, merge_mode="sum")
    assert bi.backward_layer is backward and backward.name == "lstm_1"
    config = bi.get_config()
    assert config["backward_layer"]["config"]["activation"] == "relu"
    clone = Bidirectional.from_config(json.loads(json.dumps(config)))
    assert (clone.forward_layer.name, clone.backward_layer.name) == ("forward_lstm", "lstm_1")
    assert clone.get_config() == config


def test_layer_with_go_backwards_true_is_accepted_as_in_tf_keras():
    bi = Bidirectional(SimpleRNN(U, go_backwards=True, return_sequences=True), merge_mode=None)
    assert (bi.forward_layer.go_backwards, bi.backward_layer.go_backwards) == (True, False)
    x = torch.randn(N, T, F)
    y, y_rev = bi(x)
    # each direction is aligned with input time by its own go_backwards flag
    torch.testing.assert_close(y, bi.forward_layer(x).flip(1))
    torch.testing.assert_close(y_rev, bi.backward_layer(x))
    mask = torch.tensor([[False, True, True, True], [True, True, False, True]])
    y, y_rev = bi(x, mask=mask)
    assert torch.count_nonzero(y[~mask]) == 0 and torch.count_nonzero(y_rev[~mask]) == 0
    assert torch.count_nonzero(y[mask]) == y[mask].numel()


def test_weights_argument_is_applied_in_keras_order():
    source = Bidirectional(GRU(U))
    source.build((N, T, F))
    weights = source.get_weights()
    bi = Bidirectional(GRU(U), weights=weights)
    x = torch.randn(N, T, F)
    torch.testing.assert_close(bi(x), source(x))
    assert [w.shape for w in bi.get_weights()] == [w.shape for w in weights]
    np.testing.assert_array_equal(bi.backward_layer.get_weights()[0], weights[3])
    with pytest.raises(ValueError, match=r"must hold 6 arrays \(3 forward, then 3 backward, Keras order\), received 4"):
        Bidirectional(GRU(U), weights=weights[:4])(x)


def test_trainable_and_freezing_one_direction():
    bi = Bidirectional(LSTM(U))
    bi.build((N, T, F))
    assert len(bi.trainable_weights) == 6
    bi.trainable = False
    assert bi.trainable_weights == [] and len(bi.non_trainable_weights) == 6
    bi.trainable = True
    bi.backward_layer.trainable = False
    assert bi.trainable_weights == bi.forward_layer.weights
    assert Bidirectional(LSTM(U, trainable=False)).trainable is False
    assert Bidirectional(LSTM(U, trainable=False), trainable=True).trainable is True


def test_losses_from_both_directions_and_constraints():
    bi = Bidirectional(LSTM(U, kernel_regularizer="l1", bias_regularizer="l1", activity_regularizer="l1",
                            kernel_constraint="max_norm"))
    bi(torch.randn(N, T, F))
    assert len(bi.losses) == 6
    assert set(bi.constraints) == {"forward_layer.cell.kernel", "backward_layer.cell.kernel"}


@pytest.mark.parametrize("wrapped_zero_output", [False, True])
@pytest.mark.parametrize("merge", MERGES)
def test_masked_steps_output_zero_with_sequences(merge, wrapped_zero_output):
    bi = Bidirectional(LSTM(U, return_sequences=True, zero_output_for_mask=wrapped_zero_output), merge_mode=merge)
    assert bi.forward_layer.zero_output_for_mask is True and bi.backward_layer.zero_output_for_mask is True
    mask = torch.tensor([[True, False, True, True], [False, False, False, False]])
    out = bi(torch.randn(N, T, F), mask=mask)
    for tensor in out if merge is None else [out]:
        assert torch.count_nonzero(tensor[~mask]) == 0
        assert torch.count_nonzero(tensor[mask]) > 0


def test_last_output_with_mask_is_the_final_state():
    bi = Bidirectional(LSTM(U, return_state=True))
    assert bi.forward_layer.zero_output_for_mask is False
    mask = torch.tensor([[True, True, True, False], [True, True, False, False]])
    y, h_fwd, _, h_bwd, _ = bi(torch.randn(N, T, F), mask=mask)
    torch.testing.assert_close(y, torch.cat([h_fwd, h_bwd], -1))


def test_compute_mask():
    mask = torch.ones(N, T, dtype=torch.bool)
    assert Bidirectional(LSTM(U, return_sequences=True)).compute_mask(None, mask) is mask
    assert Bidirectional(LSTM(U)).compute_mask(None, mask) is None
    assert Bidirectional(LSTM(U, return_sequences=True), merge_mode=None).compute_mask(None, mask) == [mask, mask]
    assert Bidirectional(LSTM(U, return_sequences=True, return_state=True)).compute_mask(None, [mask]) == [mask] + [None] * 4
    stateful = Bidirectional(GRU(U, return_state=True, stateful=True), merge_mode=None)
    assert stateful.compute_mask(None, mask) == [None, None, None, None]


def test_mask_flows_to_the_next_layer():
    bi = Bidirectional(GRU(U, return_sequences=True))
    mask = torch.tensor([[True, True, False, False]] * N)
    out = bi(torch.randn(N, T, F), mask=mask)
    assert torch.equal(out._keras_mask, mask)
    nxt = Bidirectional(GRU(U))
    torch.testing.assert_close(nxt(out), nxt(out.detach(), mask=mask))


def test_initial_state_split_half_and_half():
    bi = Bidirectional(LSTM(U, return_state=True), merge_mode=None)
    x = torch.randn(N, T, F)
    states = [torch.randn(N, U) for _ in range(4)]
    y, y_rev, *final = bi(x, initial_state=states)
    fwd = bi.forward_layer(x, initial_state=states[:2])
    bwd = bi.backward_layer(x, initial_state=states[2:])
    for a, b in zip([y, *final], [fwd[0], *fwd[1:], *bwd[1:]]):
        torch.testing.assert_close(a, b)
    torch.testing.assert_close(y_rev, bwd[0])
    torch.testing.assert_close(bi([x, *states])[0], y)


@pytest.mark.parametrize(
    "states, message",
    [
        (torch.zeros(N, U), "the state should be a list containing the states of the underlying RNNs"),
        ([torch.zeros(N, U)] * 3, r"expects `initial_state` to be a list of 4 states \(2 for 'forward_lstm', then 2 for 'backward_lstm'\), received 3"),
        ([torch.zeros(N, U)] * 3 + [torch.zeros(N, U + 1)], r"received 2 with shapes \[\(2, 5\), \(2, 6\)\]"),
    ],
)
def test_initial_state_errors(states, message):
    with pytest.raises(ValueError, match=message):
        Bidirectional(LSTM(U))(torch.randn(N, T, F), initial_state=states)


def test_stateful_states_and_reset():
    bi = Bidirectional(LSTM(U, stateful=True))
    x = torch.randn(N, T, F)
    first = bi(x)
    second = bi(x)
    assert not torch.allclose(first, second)
    assert len(bi.states) == 4
    bi.reset_states()
    torch.testing.assert_close(bi(x), first)
    bi.reset_states([np.zeros((N, U), np.float32)] * 4)
    torch.testing.assert_close(bi.states[0], torch.zeros(N, U))
    with pytest.raises(ValueError, match="Unrecognized value for `states`. Expected `states` to be list or tuple. Received: {}"):
        bi.reset_states({})
    with pytest.raises(AttributeError, match="Layer must be stateful."):
        Bidirectional(LSTM(U)).reset_states()
    assert Bidirectional(LSTM(U)).states is None


def test_training_flag_reaches_both_directions():
    bi = Bidirectional(LSTM(U, dropout=0.5, recurrent_dropout=0.5, return_state=True))
    x = torch.randn(N, T, F)
    a, b = bi(x), bi(x)
    for u, v in zip(a, b):
        torch.testing.assert_close(u, v)
    assert not torch.allclose(bi(x, training=True)[0], a[0])


def test_use_cudnn_is_copied_to_both_directions():
    bi = Bidirectional(LSTM(U, use_cudnn=False), backward_layer=LSTM(U, go_backwards=True))
    assert bi.forward_layer.use_cudnn is False and bi.backward_layer.use_cudnn is False


class _ConstantCell(Layer):
    """Adds a per-sample constant to a running sum (a cell that takes `constants`)."""

    def __init__(self, units: int, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = units

    def build(self, input_shape):
        self.add_weight("kernel", (input_shape[-1], self.units), initializer="ones")

    def call(self, inputs, states, constants=None):
        h = inputs @ self.kernel + states[0] + constants[0]
        return h, [h]

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def test_constants_reach_both_directions_and_round_trip():
    _registry.register(_ConstantCell, package="tests")
    bi = Bidirectional(RNN(_ConstantCell(2)), merge_mode=None)
    x, c = torch.zeros(N, T, F), torch.ones(N, 2)
    y, y_rev = bi(x, constants=[c])
    torch.testing.assert_close(y, torch.full((N, 2), float(T)))
    torch.testing.assert_close(y_rev, torch.full((N, 2), float(T)))
    assert bi.get_config()["num_constants"] == 1
    clone = Bidirectional.from_config(json.loads(json.dumps(bi.get_config())))
    clone([x, c])
    clone.set_weights(bi.get_weights())
    torch.testing.assert_close(clone([x, c])[0], y)
    torch.testing.assert_close(clone([x, torch.ones(N, 2), torch.ones(N, 2), c])[0], y + 1)


def test_stacked_and_custom_cells_are_recreated_without_registration():
    class Unregistered(SimpleRNNCell):
        pass

    bi = Bidirectional(RNN([LSTMCell(3), Unregistered(2)], return_state=True))
    y, *states = bi(torch.randn(N, T, F))
    assert y.shape == (N, 4) and len(states) == 4
    assert type(bi.backward_layer.cell.cells[1]) is Unregistered


def test_callable_merge_mode_and_its_serialization():
    def maximum(y, y_rev):
        return torch.maximum(y, y_rev)

    bi = Bidirectional(GRU(U, return_sequences=True), merge_mode=maximum)
    x = torch.randn(N, T, F)
    bi.merge_mode = None
    y, y_rev = bi(x)
    bi.merge_mode = maximum
    torch.testing.assert_close(bi(x), torch.maximum(y, y_rev))
    with pytest.raises(ValueError, match="register it"):
        bi.get_config()
    _registry.register(maximum, package="tests")
    config = json.loads(json.dumps(bi.get_config()))
    assert config["merge_mode"] == "tests>maximum"
    assert Bidirectional.from_config(config).merge_mode is maximum


def test_input_shape_keyword_arguments():
    assert Bidirectional(LSTM(U), input_shape=(T, F)).batch_input_shape == (None, T, F)
    assert Bidirectional(LSTM(U), batch_input_shape=(N, T, F)).batch_input_shape == (N, T, F)


def test_weights_order_matches_the_h5_layout():
    bi = Bidirectional(LSTM(U, use_bias=False), backward_layer=LSTM(U, go_backwards=True))
    bi.build((N, T, F))
    assert [tuple(w.shape) for w in bi.weights] == [(F, 4 * U), (U, 4 * U), (F, 4 * U), (U, 4 * U), (4 * U,)]
    assert birnn.layers.Bidirectional is Bidirectional


def test_dtype_follows_the_wrapped_layer():
    bi = Bidirectional(GRU(U, dtype="float64", return_sequences=True))
    assert bi.dtype == "float64"
    y = bi(torch.randn(N, T, F))
    assert y.dtype == torch.float64 and bi.backward_layer.cell.kernel.dtype == torch.float64
