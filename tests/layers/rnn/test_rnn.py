"""RNN / SimpleRNN / LSTM / GRU: the harness over every flag combination, states, dropout, errors."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

import birnn
from birnn.layers import GRU, LSTM, RNN, Bidirectional, GRUCell, Layer, LSTMCell, SimpleRNN, SimpleRNNCell, StackedRNNCells
from birnn.layers.rnn import _dispatch, _native
from tests.harness import run_layer_test

N, T, F, U = 3, 5, 4, 6
STATE_COUNT = {SimpleRNN: 1, LSTM: 2, GRU: 1}


@pytest.mark.parametrize(
    "cls, return_sequences, return_state, go_backwards",
    list(itertools.product([SimpleRNN, LSTM, GRU], [False, True], [False, True], [False, True])),
)
def test_layer_harness(cls, return_sequences, return_state, go_backwards):
    out = (N, T, U) if return_sequences else (N, U)
    expected = (out, *[(N, U)] * STATE_COUNT[cls]) if return_state else out
    run_layer_test(
        lambda: cls(U, return_sequences=return_sequences, return_state=return_state, go_backwards=go_backwards),
        (N, T, F),
        expected_output_shape=expected,
        expected_num_trainable_weights=3,
    )


@pytest.mark.parametrize("cells", [[LSTMCell(4), GRUCell(2)], [SimpleRNNCell(3)]], ids=["lstm+gru", "simple"])
def test_rnn_over_cells_harness(cells):
    last = cells[-1].units
    run_layer_test(
        lambda: RNN([birnn._registry.deserialize(birnn._registry.serialize(c)) for c in cells], return_sequences=True),
        (N, T, F),
        expected_output_shape=(N, T, last),
        expected_num_trainable_weights=3 * len(cells),
    )


def test_weight_layout_and_names():
    layers = {"lstm": LSTM(U), "gru": GRU(U), "gru_v1": GRU(U, reset_after=False), "simple": SimpleRNN(U)}
    for layer in layers.values():
        layer.build((N, T, F))
    shapes = {k: [tuple(w.shape) for w in v.weights] for k, v in layers.items()}
    assert shapes == {
        "lstm": [(F, 4 * U), (U, 4 * U), (4 * U,)],
        "gru": [(F, 3 * U), (U, 3 * U), (2, 3 * U)],
        "gru_v1": [(F, 3 * U), (U, 3 * U), (3 * U,)],
        "simple": [(F, U), (U, U), (U,)],
    }
    assert [n for n, _ in layers["lstm"].named_parameters()] == ["cell.kernel", "cell.recurrent_kernel", "cell.bias"]
    assert layers["lstm"].cell.name == "lstm_cell" and layers["gru"].name == "gru"


def test_default_names_are_unique_keras_style():
    assert [LSTM(2).name, LSTM(2).name, GRU(2).name, SimpleRNN(2).name] == ["lstm", "lstm_1", "gru", "simple_rnn"]


def test_unit_forget_bias_is_exactly_one():
    layer = LSTM(3, bias_initializer=birnn.initializers.Constant(0.25))
    layer.build((1, 2, 4))
    bias = layer.cell.bias.detach()
    assert torch.equal(bias[3:6], torch.ones(3))
    assert torch.equal(bias[:3], torch.full((3,), 0.25)) and torch.equal(bias[6:], torch.full((6,), 0.25))


def test_orthogonal_recurrent_kernel_over_whole_matrix():
    layer = LSTM(8)
    layer.build((1, 2, 4))
    w = layer.cell.recurrent_kernel.detach().double()
    torch.testing.assert_close(w @ w.T, torch.eye(8, dtype=torch.float64), atol=1e-5, rtol=0)


@pytest.mark.parametrize("zero_output_for_mask", [False, True])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_masked_steps_carry_states_and_outputs(zero_output_for_mask, go_backwards):
    layer = LSTM(U, return_sequences=True, return_state=True, go_backwards=go_backwards,
                 zero_output_for_mask=zero_output_for_mask, use_cudnn=False)
    x = torch.randn(N, T, F)
    mask = torch.tensor([[1, 1, 0, 1, 1], [0, 0, 0, 0, 0], [1, 1, 1, 1, 0]], dtype=torch.bool)
    init = [torch.randn(N, U), torch.randn(N, U)]
    y, h, c = layer(x, mask=mask, initial_state=init)
    # the fully masked row keeps its initial state and outputs zeros
    torch.testing.assert_close(h[1], init[0][1])
    torch.testing.assert_close(c[1], init[1][1])
    assert torch.count_nonzero(y[1]) == 0
    # processing-order mask: a masked step repeats the previous output, or zero
    order_mask = mask.flip(1) if go_backwards else mask
    for row in (0, 2):
        for k in range(1, T):
            if not order_mask[row, k]:
                expected = torch.zeros(U) if zero_output_for_mask else y[row, k - 1]
                torch.testing.assert_close(y[row, k], expected)
    # dropping the masked steps entirely gives the same final state
    keep = order_mask[0]
    steps = x.flip(1) if go_backwards else x
    ref = LSTM(U, return_state=True, use_cudnn=False)
    ref.build((1, T, F))
    ref.set_weights(layer.get_weights())
    _, h_ref, _ = ref(steps[:1, keep], initial_state=[init[0][:1], init[1][:1]])
    torch.testing.assert_close(h[0], h_ref[0])


def test_go_backwards_returns_processing_order():
    fwd = SimpleRNN(U, return_sequences=True)
    bwd = SimpleRNN(U, return_sequences=True, go_backwards=True)
    x = torch.randn(N, T, F)
    fwd.build(x.shape)
    bwd.build(x.shape)
    bwd.set_weights(fwd.get_weights())
    torch.testing.assert_close(bwd(x), fwd(x.flip(1)))


def test_go_backwards_flips_the_returned_mask():
    layer = GRU(U, return_sequences=True, go_backwards=True)
    mask = torch.tensor([[True, True, False, False, False]] * N)
    assert torch.equal(layer.compute_mask(None, mask), mask.flip(1))
    assert GRU(U).compute_mask(None, mask) is None
    assert GRU(U, return_sequences=True, return_state=True).compute_mask(None, mask)[1:] == [None]


def test_stateful_carries_states_and_resets():
    layer = LSTM(U, stateful=True, return_state=True)
    x = torch.randn(N, T, F)
    _, h1, _ = layer(x)
    _, h2, _ = layer(x)
    assert not torch.allclose(h1, h2)
    assert [tuple(s.shape) for s in layer.states] == [(N, U), (N, U)]
    layer.reset_states()
    _, h3, _ = layer(x)
    torch.testing.assert_close(h3, h1)
    given = [np.ones((N, U), np.float32), np.zeros((N, U), np.float32)]
    layer.reset_states(given)
    torch.testing.assert_close(layer.states[0], torch.ones(N, U))
    _, h4, _ = layer(x)
    _, h5, _ = layer(x, initial_state=[torch.ones(N, U), torch.zeros(N, U)])
    torch.testing.assert_close(h4, h5)


def test_stateful_errors():
    layer = SimpleRNN(U, stateful=True)
    layer(torch.randn(N, T, F))
    with pytest.raises(ValueError, match="Expected batch size: 3\n- Received batch size: 2"):
        layer(torch.randn(2, T, F))
    with pytest.raises(ValueError, match=r"expects 1 state\(s\) in `states` with shapes \[\(3, 6\)\], but received 1 with shapes \[\(2, 6\)\]"):
        layer.reset_states([np.zeros((2, U))])
    with pytest.raises(AttributeError, match="Layer must be stateful."):
        SimpleRNN(U).reset_states()
    assert SimpleRNN(U).states is None


def test_unbuilt_stateful_layer_needs_batch_size_for_given_states():
    with pytest.raises(ValueError, match="does not know its batch size yet"):
        LSTM(U, stateful=True).reset_states([np.zeros((N, U))] * 2)
    layer = LSTM(U, stateful=True, batch_input_shape=(N, T, F))
    layer.reset_states([np.zeros((N, U))] * 2)
    assert layer.states[0].shape == (N, U)


@pytest.mark.parametrize(
    "initial_state, message",
    [
        ([torch.zeros(N, U)], r"expects 2 state\(s\) in `initial_state` with shapes \[\(3, 6\), \(3, 6\)\], but received 1 with shapes \[\(3, 6\)\]"),
        ([torch.zeros(N, U), torch.zeros(N, U + 1)], r"received 2 with shapes \[\(3, 6\), \(3, 7\)\]"),
        ("h", "must be a list of tensors, received: 'h'"),
    ],
)
def test_initial_state_validation(initial_state, message):
    with pytest.raises(ValueError, match=message):
        LSTM(U)(torch.randn(N, T, F), initial_state=initial_state)


def test_keras2_list_input_equals_initial_state():
    layer = GRU(U, return_sequences=True)
    x, h0 = torch.randn(N, T, F), torch.randn(N, U)
    torch.testing.assert_close(layer([x, h0]), layer(x, initial_state=[h0]))


@pytest.mark.parametrize(
    "make, error, message",
    [
        (lambda: LSTM(0), ValueError, "expected a positive integer, got 0"),
        (lambda: GRU(2.5), ValueError, "expected a positive integer, got 2.5"),
        (lambda: LSTM(2, use_cudnn="yes"), ValueError, r"Expected one of \{'auto', True, False\}. Received: use_cudnn='yes'"),
        (lambda: SimpleRNN(2, use_cudnn=True), ValueError, "Unrecognized keyword arguments passed to SimpleRNN: {'use_cudnn': True}"),
        (lambda: LSTM(2, foo=1), ValueError, "Unrecognized keyword arguments passed to LSTM: {'foo': 1}"),
        (lambda: LSTM(2, time_major=True), ValueError, "time_major=True` is not supported"),
        (lambda: LSTM(2, implementation=3), ValueError, "implementation=3"),
        (lambda: LSTM(2, activation="nope"), ValueError, "nope"),
        (lambda: LSTM(2, dropout="0.5"), TypeError, "dropout='0.5'"),
        (lambda: LSTM(2, seed=1.5), TypeError, "seed=1.5"),
        (lambda: RNN(object()), ValueError, "should have a `call` method"),
        (lambda: RNN(Layer()), ValueError, "should have a `state_size` attribute"),
    ],
)
def test_constructor_errors(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_keras2_arguments_are_accepted():
    layer = LSTM(2, time_major=False, implementation=1, input_dim=4, input_length=7, unroll=True)
    assert layer.batch_input_shape == (None, 7, 4)
    assert "implementation" not in layer.get_config() and "time_major" not in layer.get_config()


@pytest.mark.parametrize(
    "x, message",
    [
        (torch.zeros(3, 4), "expected ndim=3, found ndim=2. Full shape received: (3, 4)"),
        (torch.zeros(3, 5, 7), "expected axis -1 of input shape to have value 4, but received input with shape (3, 5, 7)"),
    ],
)
def test_input_checks(x, message):
    layer = LSTM(2)
    layer(torch.zeros(3, 5, 4))
    with pytest.raises(ValueError, match=__import__("re").escape(message)):
        layer(x)


def test_mask_shape_is_checked():
    with pytest.raises(ValueError, match=r"`mask` must have shape \(batch, time\) = \(3, 5\), received shape \(3, 4\)"):
        GRU(2)(torch.zeros(3, 5, 4), mask=torch.ones(3, 4, dtype=torch.bool))


def test_dropout_only_when_training_shared_across_time_and_seeded():
    layer = SimpleRNN(U, dropout=0.5, recurrent_dropout=0.5, seed=3, return_sequences=True)
    x = torch.randn(N, T, F)
    inference = layer(x)
    torch.testing.assert_close(inference, layer(x))
    assert not torch.allclose(layer(x, training=True), inference)
    layer.train()
    assert not torch.allclose(layer(x), inference)
    twin = SimpleRNN(U, dropout=0.5, recurrent_dropout=0.5, seed=3, return_sequences=True)
    twin.build(x.shape)
    twin.set_weights(layer.get_weights())
    layer.eval()
    a, b = SimpleRNN.from_config(layer.get_config()), SimpleRNN.from_config(layer.get_config())
    for m in (a, b):
        m.build(x.shape)
        m.set_weights(layer.get_weights())
    torch.testing.assert_close(a(x, training=True), b(x, training=True))
    masks = a.cell.dropout_masks(x, [torch.zeros(N, U)], training=True)
    assert masks.inputs.shape == (N, F) and masks.recurrent.shape == (N, U)
    assert set(masks.inputs.unique().tolist()) <= {0.0, 2.0}


@pytest.mark.parametrize(
    "make, reason",
    [
        (lambda: LSTM(U), None),
        (lambda: GRU(U), None),
        (lambda: SimpleRNN(U, activation="relu"), None),
        (lambda: LSTM(U, activation="relu"), None),
        (lambda: SimpleRNN(U, activation="softsign"), None),
        (lambda: RNN(LSTMCell(U)), None),
        (lambda: LSTM(U, use_cudnn=False), "use_cudnn=False"),
        (lambda: GRU(U, reset_after=False), None),
        (lambda: GRU(U, reset_after=False, activation="relu"), None),
        (lambda: RNN([LSTMCell(U)]), "no sequence kernel for this cell"),
        (lambda: LSTM(U, activation="elu"), "an activation without a known derivative"),
    ],
)
def test_loop_fallback_predicate(make, reason):
    layer = make()
    assert _dispatch.reason_for_loop(layer, training=False, constants=None) == reason
    if reason is None:
        assert _dispatch.reason_for_loop(layer, training=False, constants=[1]) == "constants were given"


@pytest.mark.parametrize(
    "make, grad, masked, expected",
    [
        (lambda: LSTM(U), False, False, "fused"),
        (lambda: LSTM(U), False, True, "fused_masked"),
        (lambda: LSTM(U, return_state=True), False, True, "scan"),
        (lambda: GRU(U, return_state=True), False, True, "fused_masked"),
        (lambda: GRU(U), False, False, "fused"),
        (lambda: SimpleRNN(U, activation="relu"), False, False, "fused"),
        (lambda: SimpleRNN(U, activation="softsign"), False, False, "scan"),
        (lambda: LSTM(U, activation="relu"), False, False, "scan"),
        (lambda: LSTM(U, use_cudnn=False), False, False, "loop"),
        (lambda: GRU(U, reset_after=False), False, False, "scan"),  # PyTorch's GRU resets after its multiply
        (lambda: GRU(U, reset_after=False), False, True, "scan"),
        (lambda: GRU(U, reset_after=False, use_cudnn=False), False, False, "loop"),
    ],
)
def test_kernel_choice(make, grad, masked, expected):
    """Without the compiled loops (no C++ toolchain, ``BIRNN_NATIVE=0``)."""
    layer = make()
    x = torch.randn(N, T, F)
    layer.build(x.shape)
    mask = torch.ones(N, T, dtype=torch.bool) if masked else None
    with torch.set_grad_enabled(grad), _native.use_native(False):
        assert _dispatch.choose(layer, mask=mask, training=False, constants=None, inputs=x) == expected


@pytest.mark.parametrize("masked", [False, True], ids=["unmasked", "masked"])
@pytest.mark.parametrize(
    "make, alone, paired",
    [
        (lambda: LSTM(U), "fused", "scan"),
        (lambda: GRU(U), "scan", "scan"),
        (lambda: SimpleRNN(U), "scan", "scan"),
        (lambda: SimpleRNN(U, activation="relu"), "scan", "scan"),
    ],
)
def test_kernel_choice_at_inference_on_the_cpu(make, alone, paired, masked):
    """With the compiled loops, inference on the CPU runs them instead of PyTorch's GRU and SimpleRNN kernels, and
    for an LSTM direction that shares the cores with the other direction of a pair; a lone LSTM keeps oneDNN's
    kernel (under a mask: PyTorch's on compacted rows)."""
    if not _native.available():
        pytest.skip("the compiled loops are not available here (no C++ toolchain)")
    layer = make()
    x = torch.randn(N, T, F)
    layer.build(x.shape)
    mask = torch.ones(N, T, dtype=torch.bool) if masked else None
    if masked and alone == "fused":
        alone = "fused_masked"
    with torch.no_grad():
        assert _dispatch.choose(layer, mask=mask, training=False, constants=None, inputs=x) == alone
        assert _dispatch.choose(layer, mask=mask, training=False, constants=None, inputs=x, paired=True) == paired
        assert _dispatch.choose(layer, mask=mask, training=False, constants=None, inputs=x.to("meta")) != "scan"


@pytest.mark.parametrize(
    "make, native, masked, expected",
    [
        (lambda: LSTM(U), False, False, "fused"),
        (lambda: LSTM(U), True, False, "scan"),
        (lambda: LSTM(U), False, True, "fused_masked"),
        (lambda: LSTM(U), True, True, "scan"),
        (lambda: GRU(U), True, False, "scan"),
        (lambda: SimpleRNN(U, activation="relu"), True, True, "scan"),
        (lambda: LSTM(U, use_cudnn=False), True, False, "loop"),
    ],
)
def test_kernel_choice_while_training_on_the_cpu(make, native, masked, expected):
    """With grad mode on, the compiled sequence kernels replace PyTorch's fused ones on the CPU."""
    if native and not _native.available():
        pytest.skip("the compiled loops are not available here (no C++ toolchain)")
    layer = make()
    x = torch.randn(N, T, F)
    layer.build(x.shape)
    mask = torch.ones(N, T, dtype=torch.bool) if masked else None
    with torch.enable_grad(), _native.use_native(native):
        assert _dispatch.choose(layer, mask=mask, training=True, constants=None, inputs=x) == expected


@pytest.mark.parametrize("native", [True, False], ids=["compiled", "python"])
def test_recurrent_dropout_while_training_takes_the_sequence_kernels_not_pytorchs(native):
    """PyTorch's kernels have no recurrent dropout mask: a training call with one runs the sequence kernels
    (with or without the compiled loops), inference keeps PyTorch's; a rate of 1.0 means no dropout (Keras)."""
    if native and not _native.available():
        pytest.skip("the compiled loops are not available here (no C++ toolchain)")
    x = torch.randn(N, T, F)
    for rate, training, expected in [(0.2, True, "scan"), (0.2, False, "fused"), (1.0, True, "fused")]:
        layer = LSTM(U, recurrent_dropout=rate)
        layer.build(x.shape)
        assert _dispatch.reason_for_loop(layer, training=training, constants=None) is None
        with torch.no_grad(), _native.use_native(native):
            assert _dispatch.choose(layer, mask=None, training=training, constants=None, inputs=x) == expected


def test_cell_hyper_parameters_are_readable_on_the_layer():
    layer = GRU(5, reset_after=False, dropout=0.25)
    assert (layer.units, layer.reset_after, layer.dropout) == (5, False, 0.25)
    with pytest.raises(AttributeError):
        layer.not_an_attribute  # noqa: B018


def test_regularizers_constraints_and_trainable():
    layer = LSTM(U, kernel_regularizer="l2", recurrent_regularizer=birnn.regularizers.L1(0.1),
                 bias_regularizer="l1", activity_regularizer="l2", kernel_constraint="non_neg")
    x = torch.randn(N, T, F)
    layer(x)
    assert len(layer.losses) == 4
    with torch.no_grad():
        layer.cell.kernel.fill_(-1.0)
    layer.apply_constraints()
    assert (layer.cell.kernel >= 0).all()
    layer.trainable = False
    assert layer.trainable_weights == [] and len(layer.non_trainable_weights) == 3
    assert not any(w.requires_grad for w in layer.weights)
    assert len(layer.losses) == 1  # only the activity loss of the last call
    layer.trainable = True
    assert all(w.requires_grad for w in layer.weights)


def test_set_weights_errors_name_the_layer():
    layer = GRU(2, name="g")
    layer.build((1, 3, 4))
    with pytest.raises(ValueError, match="on layer 'g' with a weight list of length 2, but the layer was expecting 3 weights."):
        layer.set_weights(layer.get_weights()[:2])
    bad = layer.get_weights()
    bad[2] = np.zeros(6)
    with pytest.raises(ValueError, match=r"Layer g weight shape \(2, 6\) is not compatible with provided weight shape \(6,\)."):
        layer.set_weights(bad)


def test_compute_output_shape_stacked_cells_nests_states():
    layer = RNN([LSTMCell(3), GRUCell(2)], return_state=True, return_sequences=True)
    assert layer.compute_output_shape((N, T, F)) == ((N, T, 2), [(N, 3), (N, 3)], [(N, 2)])
    y, s1, s2 = layer(torch.randn(N, T, F), initial_state=[[torch.zeros(N, 3)] * 2, [torch.zeros(N, 2)]])
    assert y.shape == (N, T, 2) and len(s1) == 2 and len(s2) == 1


def test_stacked_cells_need_the_cell_protocol():
    with pytest.raises(ValueError, match="All cells must have a `call` method"):
        StackedRNNCells([object()])


class _MinimalCell(Layer):
    """A user cell following Keras's protocol, with `constants` support."""

    def __init__(self, units: int, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = units

    def build(self, input_shape):
        self.add_weight("kernel", (input_shape[-1], self.units))

    def call(self, inputs, states, constants=None):
        h = inputs @ self.kernel + states[0]
        if constants is not None:
            h = h + constants[0]
        return h, [h]

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def test_user_cell_and_constants():
    layer = RNN(_MinimalCell(2), return_sequences=True)
    x = torch.randn(N, T, F)
    y = layer(x)
    y_const = layer(x, constants=[torch.ones(N, 2)])
    torch.testing.assert_close(y_const[:, 0], y[:, 0] + 1)
    with pytest.raises(ValueError, match="does not accept them"):
        LSTM(2)(x, constants=[torch.ones(N, 2)])


def test_config_round_trip_keeps_every_argument():
    layer = GRU(3, activation="relu", recurrent_activation="hard_sigmoid", use_bias=False, dropout=0.1,
                recurrent_dropout=0.2, seed=7, reset_after=False, return_sequences=True, go_backwards=True,
                stateful=True, zero_output_for_mask=True, kernel_initializer="he_normal", name="g")
    config = layer.get_config()
    assert {k: config[k] for k in ("name", "units", "activation", "recurrent_activation", "use_bias", "dropout",
                                   "recurrent_dropout", "seed", "reset_after", "return_sequences", "go_backwards",
                                   "stateful", "zero_output_for_mask")} == {
        "name": "g", "units": 3, "activation": "relu", "recurrent_activation": "hard_sigmoid", "use_bias": False,
        "dropout": 0.1, "recurrent_dropout": 0.2, "seed": 7, "reset_after": False, "return_sequences": True,
        "go_backwards": True, "stateful": True, "zero_output_for_mask": True}
    assert GRU.from_config(config).get_config() == config


@pytest.mark.parametrize("grad", [False, True], ids=["inference", "training"])
@pytest.mark.parametrize(
    "make",
    [
        lambda: LSTM(4),  # fused at inference, sequence kernels when training
        lambda: LSTM(4, activation="relu", return_sequences=True),  # sequence kernels
        lambda: LSTM(4, recurrent_dropout=0.5, return_sequences=True, use_cudnn=False),  # the step loop
        lambda: Bidirectional(GRU(4, return_sequences=True)),
    ],
    ids=["lstm", "relu_lstm", "loop", "bidirectional"],
)
def test_an_empty_time_axis_is_refused_alike_on_every_kernel(make, grad):
    """Keras fails on zero time steps with an IndexError; birnn refuses them with one clear error before
    any kernel runs (the fast paths would otherwise return initial states or fail in a reshape)."""
    x = torch.randn(2, 0, 3, requires_grad=grad)
    with torch.set_grad_enabled(grad), pytest.raises(ValueError, match=r"empty time axis: inputs have shape \(2, 0, 3\)"):
        make()(x, training=True)


def test_cell_is_a_registered_submodule():
    layer = RNN(SimpleRNNCell(U))
    other = GRUCell(U)
    layer.cell = other  # registers the new cell, as for any submodule
    assert layer.cell is other and dict(layer.named_children()) == {"cell": other} and "cell" not in layer.__dict__
    assert layer(torch.zeros(N, T, F)).shape == (N, U) and len(list(layer.parameters())) == 3
