"""birnn <-> torch.nn converters: outputs, states and gradients agree with torch.nn's own modules."""

from __future__ import annotations

import re
from typing import Any

import pytest
import torch
from torch import nn

import birnn
from birnn.convert import from_torch, to_torch
from birnn.layers import GRU, LSTM, Bidirectional, SimpleRNN

ATOL = 1e-5

KINDS = {
    "lstm": (LSTM, {}),
    "gru": (GRU, {}),
    "rnn_tanh": (SimpleRNN, {}),
    "rnn_relu": (SimpleRNN, {"activation": "relu"}),
}


def _randomise(layer: Any) -> None:
    """Non-zero biases everywhere, so that a wrong bias mapping cannot hide."""
    with torch.no_grad():
        for w in layer.weights:
            w.uniform_(-0.5, 0.5)


def _make(kind: str, bidirectional: bool, use_bias: bool) -> Any:
    cls, options = KINDS[kind]
    layer = cls(4, return_sequences=True, return_state=True, use_bias=use_bias, **options)
    if bidirectional:
        layer = Bidirectional(layer)
    layer(torch.zeros(1, 2, 3))
    _randomise(layer)
    return layer


def _birnn_outputs(layer: Any, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """``(sequence output, [h] or [h, c] stacked over directions like torch's h_n / c_n)``."""
    y, *states = layer(x)
    per_direction = len(states) // (2 if isinstance(layer, Bidirectional) else 1)
    grouped = [states[i::per_direction] for i in range(per_direction)]
    return y, [torch.stack(group) for group in grouped]


def _torch_outputs(module: nn.RNNBase, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    y, hidden = module(x)
    return y, list(hidden) if isinstance(hidden, tuple) else [hidden]


def _assert_same_computation(layer: Any, module: nn.RNNBase) -> None:
    x = torch.randn(3, 6, 3, requires_grad=True)
    x_torch = x.detach().clone().requires_grad_(True)
    y, states = _birnn_outputs(layer, x)
    y_torch, states_torch = _torch_outputs(module, x_torch)
    torch.testing.assert_close(y, y_torch, atol=ATOL, rtol=0)
    for s, s_torch in zip(states, states_torch, strict=True):
        torch.testing.assert_close(s, s_torch, atol=ATOL, rtol=0)
    # the same scalar loss on both sides: input gradients and the loss itself must agree
    probe = torch.randn_like(y)
    ((y * probe).sum() + sum(s.sum() for s in states)).backward()
    ((y_torch * probe).sum() + sum(s.sum() for s in states_torch)).backward()
    torch.testing.assert_close(x.grad, x_torch.grad, atol=ATOL, rtol=0)
    _assert_weight_grads(layer, module)


def _assert_weight_grads(layer: Any, module: nn.RNNBase) -> None:
    """Each Keras-layout gradient equals the PyTorch gradient mapped back to the Keras layout."""
    directions = [(layer.forward_layer, ""), (layer.backward_layer, "_reverse")] if isinstance(layer, Bidirectional) else [(layer, "")]
    for direction, suffix in directions:
        cell = direction.cell
        u = cell.units
        kind = "gru" if isinstance(direction, GRU) else "other"

        def keras_order(t: torch.Tensor) -> torch.Tensor:
            if kind != "gru":
                return t
            r, z, n = t.split(u, dim=-1)
            return torch.cat([z, r, n], dim=-1)

        grad = lambda name: getattr(module, f"{name}_l0{suffix}").grad  # noqa: E731
        torch.testing.assert_close(cell.kernel.grad, keras_order(grad("weight_ih").t()), atol=ATOL, rtol=0)
        torch.testing.assert_close(cell.recurrent_kernel.grad, keras_order(grad("weight_hh").t()), atol=ATOL, rtol=0)
        if cell.use_bias:
            expected = (
                torch.stack([keras_order(grad("bias_ih")), keras_order(grad("bias_hh"))])
                if kind == "gru"
                else grad("bias_ih")  # bias = bias_ih + bias_hh: the gradient is that of either
            )
            torch.testing.assert_close(cell.bias.grad, expected, atol=ATOL, rtol=0)


@pytest.mark.parametrize("use_bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("kind", list(KINDS))
def test_to_torch_matches(kind: str, bidirectional: bool, use_bias: bool) -> None:
    layer = _make(kind, bidirectional, use_bias)
    module = to_torch(layer)
    expected_class = {"lstm": nn.LSTM, "gru": nn.GRU}.get(kind, nn.RNN)
    assert type(module) is expected_class
    assert module.batch_first and module.bidirectional == bidirectional and module.bias == use_bias
    if kind.startswith("rnn_"):
        assert module.nonlinearity == kind.removeprefix("rnn_")
    _assert_same_computation(layer, module)


@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("kind", list(KINDS))
def test_from_torch_matches(kind: str, bidirectional: bool) -> None:
    torch_class = {"lstm": nn.LSTM, "gru": nn.GRU}.get(kind, nn.RNN)
    options = {"nonlinearity": kind.removeprefix("rnn_")} if kind.startswith("rnn_") else {}
    module = torch_class(3, 4, batch_first=True, bidirectional=bidirectional, **options)
    layer = from_torch(module, return_state=True)
    assert isinstance(layer, Bidirectional) == bidirectional
    assert layer.built and layer.return_sequences
    _assert_same_computation(layer, module)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_round_trip_birnn_torch_birnn(kind: str) -> None:
    layer = _make(kind, True, True)
    back = from_torch(to_torch(layer), return_state=True)
    for a, b in zip(layer.get_weights(), back.get_weights(), strict=True):
        torch.testing.assert_close(torch.as_tensor(a), torch.as_tensor(b), atol=0, rtol=0)
    assert back.get_config()["layer"]["config"]["units"] == 4


def test_stacked_torch_module_by_layer_index() -> None:
    module = nn.GRU(3, 4, num_layers=2, bidirectional=True, batch_first=True)
    first, second = (from_torch(module, layer_index=k) for k in range(2))
    x = torch.randn(2, 5, 3)
    torch.testing.assert_close(second(first(x)), module(x)[0], atol=ATOL, rtol=0)


def test_float64_and_train_mode_are_kept() -> None:
    module = nn.LSTM(3, 2, batch_first=True, dtype=torch.float64).train()
    layer = from_torch(module, return_sequences=False)
    assert layer.dtype == "float64" and layer.training and not layer.return_sequences
    assert to_torch(layer).weight_ih_l0.dtype == torch.float64


def test_state_dict_still_works() -> None:
    module = to_torch(_make("lstm", True, True))
    clone = nn.LSTM(3, 4, batch_first=True, bidirectional=True)
    clone.load_state_dict(module.state_dict())
    x = torch.randn(2, 3, 3)
    torch.testing.assert_close(clone(x)[0], module(x)[0])


def _built(layer: Any) -> Any:
    layer(torch.zeros(1, 2, 3))
    return layer


REFUSED = {
    "gru_reset_before": (lambda: _built(GRU(2, reset_after=False)), "reset_after=False"),
    "lstm_activation": (lambda: _built(LSTM(2, activation="relu")), "activation='relu'"),
    "lstm_hard_sigmoid": (lambda: _built(LSTM(2, recurrent_activation="hard_sigmoid")), "recurrent_activation='hard_sigmoid'"),
    "rnn_linear": (lambda: _built(SimpleRNN(2, activation=None)), "received 'linear'"),
    "go_backwards": (lambda: _built(LSTM(2, go_backwards=True)), "go_backwards=True"),
    "stateful": (lambda: _built(GRU(2, stateful=True)), "stateful=True"),
    "dropout": (lambda: _built(LSTM(2, dropout=0.5)), "ignore_dropout=True"),
    "unbuilt": (lambda: LSTM(2), "call it once"),
    "merge_sum": (lambda: _built(Bidirectional(LSTM(2), merge_mode="sum")), "merge_mode='sum'"),
    "mixed_units": (
        lambda: _built(Bidirectional(LSTM(2), backward_layer=LSTM(3, go_backwards=True))),
        "same units in both directions",
    ),
    "mixed_kinds": (
        lambda: _built(Bidirectional(LSTM(2), backward_layer=GRU(2, go_backwards=True))),
        "same kind of layer",
    ),
    "swapped_directions": (lambda: _built(Bidirectional(LSTM(2, go_backwards=True))), "forward go_backwards=True"),
    "not_recurrent": (lambda: birnn.layers.RNN(birnn.layers.LSTMCell(2)), "must be a birnn LSTM, GRU or SimpleRNN"),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_to_torch_refuses(case: str) -> None:
    make, message = REFUSED[case]
    with pytest.raises(ValueError, match=re.escape(message)):
        to_torch(make())


def test_dropout_can_be_ignored() -> None:
    layer = _built(LSTM(2, dropout=0.5, recurrent_dropout=0.2))
    assert isinstance(to_torch(layer, ignore_dropout=True), nn.LSTM)


@pytest.mark.parametrize(
    ("module", "message"),
    [
        (nn.LSTM(3, 4, proj_size=2), "proj_size=2"),
        (nn.Linear(3, 4), "received Linear"),
    ],
    ids=["proj_size", "not_recurrent"],
)
def test_from_torch_refuses(module: nn.Module, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        from_torch(module)  # type: ignore[arg-type]


def test_from_torch_layer_index_out_of_range() -> None:
    with pytest.raises(ValueError, match="layer_index=2 is out of range for a GRU with num_layers=2"):
        from_torch(nn.GRU(3, 4, num_layers=2), layer_index=2)
