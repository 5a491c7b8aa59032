"""Keras 3's own golden numbers, reproduced by birnn alone (no Keras import).

Every value below is copied from Keras 3.15.1's test suite (``keras/src/layers/rnn/*_test.py``:
``bidirectional_test``, ``lstm_test``, ``gru_test``, ``simple_rnn_test``, ``rnn_test``,
``stacked_rnn_cells_test``; see also spec section 5.1) with the same layer configurations, inputs,
masks and initial states. Each case runs three ways: the step loop (``use_cudnn=False``), the
default dispatch with autograd on (sequence kernels), and the default dispatch under
``torch.no_grad()`` (PyTorch's fused kernels where they apply).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
import torch

from birnn import layers as L
from birnn.initializers import Constant

from .oracle import flatten, set_use_cudnn

T, F = True, False


def constants(kernel: float = 0.01, recurrent: float = 0.02, bias: float = 0.03) -> dict[str, Any]:
    return {
        "kernel_initializer": Constant(kernel),
        "recurrent_initializer": Constant(recurrent),
        "bias_initializer": Constant(bias),
    }


C = constants()
SEQ_2_3_4 = np.arange(24).reshape((2, 3, 4)).astype("float32")
SEQ_2_4_3 = np.arange(24).reshape((2, 4, 3)).astype("float32")
SEQ_3_6_4 = np.arange(72).reshape((3, 6, 4)).astype("float32")
HOLES = np.array([[T, T, F, T], [T, F, F, T]])
RIGHT_PADDED = np.array([[T, T, T, F], [T, T, F, F]])
LEFT_PADDED = np.array([[F, T, T, T], [F, F, T, T]])
S = np.arange(4).reshape((2, 2)).astype("float32")


def rows(values: list[float], units: int) -> np.ndarray:
    """Keras's constant-initializer tests give every unit of a row the same value."""
    return np.repeat(np.asarray(values, dtype="float32")[:, None], units, axis=1)


def steps(per_step: list[list[float]], units: int) -> np.ndarray:
    """``(N, T)`` per-step values -> ``(N, T, units)``."""
    return np.repeat(np.asarray(per_step, dtype="float32")[:, :, None], units, axis=2)


# --------------------------------------------------------------------------- rnn_test cells
class OneStateRNNCell(L.Layer):
    """``rnn_test.OneStateRNNCell``: ``out = x K + h U`` with all-ones weights."""

    def __init__(self, units: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.units = units
        self.state_size = units

    def build(self, input_shape: Any) -> None:
        self.add_weight("kernel", (input_shape[-1], self.units), "ones")
        self.add_weight("recurrent_kernel", (self.units, self.units), "ones")
        self.built = True

    def call(self, inputs: torch.Tensor, states: list[torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor]]:
        output = inputs @ self.kernel + states[0] @ self.recurrent_kernel
        return output, [output]


class TwoStatesRNNCell(L.Layer):
    """``rnn_test.TwoStatesRNNCell`` (both recurrent terms read ``states[0]``, as in Keras)."""

    def __init__(self, units: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.units = units
        self.state_size = [units, units]
        self.output_size = units

    def build(self, input_shape: Any) -> None:
        self.add_weight("kernel", (input_shape[-1], self.units), "ones")
        self.add_weight("recurrent_kernel_1", (self.units, self.units), "ones")
        self.add_weight("recurrent_kernel_2", (self.units, self.units), "ones")
        self.built = True

    def call(self, inputs: torch.Tensor, states: list[torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor]]:
        h = inputs @ self.kernel
        output_1 = h + states[0] @ self.recurrent_kernel_1
        output_2 = h + states[0] @ self.recurrent_kernel_2
        return output_1 + output_2, [output_1, output_2]


# --------------------------------------------------------------------------- the table
@dataclass
class Golden:
    """One Keras golden check: ``make()`` called on ``x`` (``warmup`` extra calls first)."""

    make: Callable[[], Any]
    x: np.ndarray
    expected: list[np.ndarray]
    call_kwargs: dict[str, Any] = field(default_factory=dict)
    warmup: int = 0  # stateful tests: earlier calls whose states carry over
    atol: float = 1e-5


GOLDEN: dict[str, Golden] = {
    # ---- bidirectional_test.py
    "bidirectional.correctness.concat": Golden(
        lambda: L.Bidirectional(L.SimpleRNN(2, **C)),
        SEQ_2_3_4,
        [np.array([[0.39687276, 0.39687276, 0.10004295, 0.10004295], [0.7237238, 0.7237238, 0.53391594, 0.53391594]])],
    ),
    "bidirectional.correctness.ave": Golden(
        lambda: L.Bidirectional(L.SimpleRNN(2, **C), merge_mode="ave"),
        SEQ_2_3_4,
        [rows([0.24845785, 0.6288199], 2)],
    ),
    "bidirectional.correctness.none": Golden(
        lambda: L.Bidirectional(L.SimpleRNN(2, **C), merge_mode=None),
        SEQ_2_3_4,
        [rows([0.39687276, 0.7237238], 2), rows([0.10004295, 0.53391594], 2)],
    ),
    "bidirectional.correctness.custom_backward_mul": Golden(
        lambda: L.Bidirectional(
            L.SimpleRNN(2, **C),
            backward_layer=L.SimpleRNN(2, go_backwards=True, **constants(0.03, 0.02, 0.01)),
            merge_mode="mul",
        ),
        SEQ_2_3_4,
        [rows([0.08374989, 0.6740834], 2)],
    ),
    "bidirectional.correctness.gru_sum_sequences": Golden(
        lambda: L.Bidirectional(L.GRU(2, return_sequences=True, **C), merge_mode="sum"),
        SEQ_2_3_4,
        [steps([[0.20937867, 0.34462988, 0.40290534], [0.59829646, 0.6734641, 0.6479671]], 2)],
    ),
    "bidirectional.statefulness": Golden(
        lambda: L.Bidirectional(L.LSTM(2, stateful=True, **C)),
        SEQ_2_4_3,
        [np.array([[0.26234663, 0.26234663, 0.16959146, 0.16959146], [0.6137073, 0.6137073, 0.5381646, 0.5381646]])],
        warmup=1,
    ),
    "bidirectional.pass_initial_state": Golden(
        lambda: L.Bidirectional(L.LSTM(2, **C)),
        SEQ_2_4_3,
        [np.array([[0.20794602, 0.4577124, 0.14046375, 0.48191673], [0.6682636, 0.6711909, 0.60943645, 0.60950446]])],
        {"initial_state": [S * 1, S * 2, S * 3, S * 4]},
    ),
    "bidirectional.masking": Golden(
        lambda: L.Bidirectional(L.GRU(2, **C)),
        SEQ_2_4_3,
        [
            np.array(
                [[0.19393763, 0.19393763, 0.11669192, 0.11669192], [0.30818558, 0.30818558, 0.28380975, 0.28380975]]
            )
        ],
        {"mask": HOLES},
    ),
    "bidirectional.return_state": Golden(
        lambda: L.Bidirectional(L.LSTM(2, return_state=True, **C)),
        SEQ_2_4_3,
        [
            np.array(
                [[0.1990008, 0.1990008, 0.12659755, 0.12659755], [0.52335435, 0.52335435, 0.44717982, 0.44717982]]
            ),
            rows([0.1990008, 0.52335435], 2),
            rows([0.35567185, 1.0492687], 2),
            rows([0.12659755, 0.44717982], 2),
            rows([0.2501858, 0.941473], 2),
        ],
    ),
    # ---- lstm_test.py
    "lstm.correctness": Golden(lambda: L.LSTM(3, **C), SEQ_3_6_4, [rows([0.6288687, 0.86899155, 0.9460773], 3)]),
    "lstm.correctness.implementation_1": Golden(
        lambda: L.LSTM(3, implementation=1, **C), SEQ_3_6_4, [rows([0.6288687, 0.86899155, 0.9460773], 3)]
    ),
    "lstm.correctness.go_backwards": Golden(
        lambda: L.LSTM(3, go_backwards=True, **C), SEQ_3_6_4, [rows([0.35622165, 0.74789524, 0.8872726], 3)]
    ),
    "lstm.correctness.unroll": Golden(
        lambda: L.LSTM(3, unroll=True, **C), SEQ_3_6_4, [rows([0.6288687, 0.86899155, 0.9460773], 3)]
    ),
    "lstm.correctness.unit_forget_bias_false": Golden(
        lambda: L.LSTM(3, unit_forget_bias=False, **C), SEQ_3_6_4, [rows([0.57019705, 0.8661914, 0.9459622], 3)]
    ),
    "lstm.correctness.use_bias_false": Golden(
        lambda: L.LSTM(3, use_bias=False, **C), SEQ_3_6_4, [rows([0.54986924, 0.86226785, 0.9443936], 3)]
    ),
    "lstm.statefulness": Golden(
        lambda: L.LSTM(4, stateful=True, **C), SEQ_2_3_4, [rows([0.3124785, 0.6863672], 4)], warmup=1
    ),
    "lstm.pass_initial_state": Golden(
        lambda: L.LSTM(2, **C),
        SEQ_2_4_3,
        [np.array([[0.20574439, 0.3558822], [0.64930826, 0.66276]])],
        {"initial_state": [S, S]},
    ),
    "lstm.pass_initial_state.go_backwards": Golden(
        lambda: L.LSTM(2, go_backwards=True, **C),
        SEQ_2_4_3,
        [np.array([[0.13281618, 0.2790356], [0.5839337, 0.5992567]])],
        {"initial_state": [S, S]},
    ),
    "lstm.masking.unroll": Golden(
        lambda: L.LSTM(2, unroll=True, **C), SEQ_2_4_3, [rows([0.11755939, 0.28556206], 2)], {"mask": RIGHT_PADDED}
    ),
    "lstm.masking.sequences": Golden(
        lambda: L.LSTM(2, return_sequences=True, **C),
        SEQ_2_4_3,
        [steps([[0.0158891, 0.05552048, 0.11755939, 0.11755939], [0.14185596, 0.28556206, 0.28556206, 0.28556206]], 2)],
        {"mask": RIGHT_PADDED},
    ),
    "lstm.masking.zero_output_for_mask": Golden(
        lambda: L.LSTM(2, return_sequences=True, zero_output_for_mask=True, **C),
        SEQ_2_4_3,
        [steps([[0.0158891, 0.05552048, 0.11755939, 0.0], [0.14185596, 0.28556206, 0.0, 0.0]], 2)],
        {"mask": RIGHT_PADDED},
    ),
    "lstm.masking.go_backwards": Golden(
        lambda: L.LSTM(2, go_backwards=True, **C), SEQ_2_4_3, [rows([0.15341201, 0.3844719], 2)], {"mask": LEFT_PADDED}
    ),
    # ---- gru_test.py
    "gru.correctness": Golden(lambda: L.GRU(3, **C), SEQ_3_6_4, [rows([0.5217289, 0.6371659, 0.39384964], 3)]),
    "gru.correctness.implementation_1": Golden(
        lambda: L.GRU(3, implementation=1, **C), SEQ_3_6_4, [rows([0.5217289, 0.6371659, 0.39384964], 3)]
    ),
    "gru.correctness.go_backwards": Golden(
        lambda: L.GRU(3, go_backwards=True, **C), SEQ_3_6_4, [rows([0.24406259, 0.611516, 0.3928808], 3)]
    ),
    "gru.correctness.unroll": Golden(
        lambda: L.GRU(3, unroll=True, **C), SEQ_3_6_4, [rows([0.5217289, 0.6371659, 0.39384964], 3)]
    ),
    "gru.correctness.reset_after_false": Golden(
        lambda: L.GRU(3, reset_after=False, **C), SEQ_3_6_4, [rows([0.51447755, 0.6426879, 0.40208298], 3)]
    ),
    "gru.correctness.use_bias_false": Golden(
        lambda: L.GRU(3, use_bias=False, **C), SEQ_3_6_4, [rows([0.49988455, 0.64701194, 0.4103359], 3)]
    ),
    "gru.legacy_implementation_argument": Golden(
        lambda: L.GRU.from_config({**L.GRU(3, **C).get_config(), "implementation": 0}),
        SEQ_3_6_4,
        [rows([0.5217289, 0.6371659, 0.39384964], 3)],
    ),
    "gru.statefulness": Golden(
        lambda: L.GRU(4, stateful=True, **C), SEQ_2_3_4, [rows([0.29542392, 0.5885018], 4)], warmup=1
    ),
    "gru.pass_initial_state": Golden(
        lambda: L.GRU(2, **C),
        SEQ_2_4_3,
        [np.array([[0.23774096, 0.33508456], [0.83659905, 1.0227708]])],
        {"initial_state": S},
    ),
    "gru.pass_initial_state.go_backwards": Golden(
        lambda: L.GRU(2, go_backwards=True, **C),
        SEQ_2_4_3,
        [np.array([[0.13486053, 0.23261218], [0.78257304, 0.9691353]])],
        {"initial_state": S},
    ),
    "gru.pass_return_state": Golden(
        lambda: L.GRU(2, return_state=True, **C),
        SEQ_2_4_3,
        [np.array([[0.23774096, 0.33508456], [0.83659905, 1.0227708]])] * 2,
        {"initial_state": S},
    ),
    "gru.pass_return_state.go_backwards": Golden(
        lambda: L.GRU(2, return_state=True, go_backwards=True, **C),
        SEQ_2_4_3,
        [np.array([[0.13486053, 0.23261218], [0.78257304, 0.9691353]])] * 2,
        {"initial_state": S},
    ),
    "gru.masking.unroll": Golden(
        lambda: L.GRU(2, unroll=True, **C), SEQ_2_4_3, [rows([0.19393763, 0.30818558], 2)], {"mask": HOLES}
    ),
    "gru.masking.sequences": Golden(
        lambda: L.GRU(2, return_sequences=True, **C),
        SEQ_2_4_3,
        [
            steps(
                [[0.03606692, 0.09497581, 0.09497581, 0.19393763], [0.16051409, 0.16051409, 0.16051409, 0.30818558]], 2
            )
        ],
        {"mask": HOLES},
    ),
    "gru.masking.zero_output_for_mask": Golden(
        lambda: L.GRU(2, return_sequences=True, zero_output_for_mask=True, **C),
        SEQ_2_4_3,
        [steps([[0.03606692, 0.09497581, 0.0, 0.19393763], [0.16051409, 0.0, 0.0, 0.30818558]], 2)],
        {"mask": HOLES},
    ),
    "gru.masking.go_backwards": Golden(
        lambda: L.GRU(2, go_backwards=True, **C), SEQ_2_4_3, [rows([0.11669192, 0.28380975], 2)], {"mask": HOLES}
    ),
    # ---- simple_rnn_test.py
    "simple_rnn.correctness": Golden(lambda: L.SimpleRNN(4, **C), SEQ_2_3_4, [rows([0.405432, 0.73605347], 4)]),
    "simple_rnn.correctness.unroll": Golden(
        lambda: L.SimpleRNN(4, unroll=True, **C), SEQ_2_3_4, [rows([0.405432, 0.73605347], 4)]
    ),
    "simple_rnn.correctness.go_backwards": Golden(
        lambda: L.SimpleRNN(4, go_backwards=True, **C), SEQ_2_3_4, [rows([0.11144729, 0.5528889], 4)]
    ),
    "simple_rnn.correctness.go_backwards_unroll": Golden(
        lambda: L.SimpleRNN(4, go_backwards=True, unroll=True, **C), SEQ_2_3_4, [rows([0.11144729, 0.5528889], 4)]
    ),
    "simple_rnn.statefulness": Golden(
        lambda: L.SimpleRNN(4, stateful=True, **C), SEQ_2_3_4, [rows([0.40559256, 0.7361247], 4)], warmup=1
    ),
    "simple_rnn.pass_initial_state": Golden(
        lambda: L.SimpleRNN(4, **C),
        SEQ_2_4_3,
        [rows([0.33621645, 0.6262637], 4)],
        {"initial_state": np.arange(8).reshape((2, 4)).astype("float32")},
    ),
    "simple_rnn.pass_initial_state.go_backwards": Golden(
        lambda: L.SimpleRNN(4, go_backwards=True, **C),
        SEQ_2_4_3,
        [rows([0.07344437, 0.43043602], 4)],
        {"initial_state": np.arange(8).reshape((2, 4)).astype("float32")},
    ),
    "simple_rnn.masking.unroll": Golden(
        lambda: L.SimpleRNN(4, unroll=True, **C), SEQ_2_4_3, [rows([0.32951632, 0.61799484], 4)], {"mask": HOLES}
    ),
    "simple_rnn.masking.sequences": Golden(
        lambda: L.SimpleRNN(2, return_sequences=True, **C),
        SEQ_2_4_3,
        [steps([[0.0599281, 0.15122814, 0.15122814, 0.32394567], [0.3969304, 0.3969304, 0.3969304, 0.608085]], 2)],
        {"mask": HOLES},
    ),
    "simple_rnn.masking.zero_output_for_mask": Golden(
        lambda: L.SimpleRNN(2, return_sequences=True, zero_output_for_mask=True, **C),
        SEQ_2_4_3,
        [steps([[0.0599281, 0.15122814, 0.0, 0.32394567], [0.3969304, 0.0, 0.0, 0.608085]], 2)],
        {"mask": HOLES},
    ),
    "simple_rnn.masking.go_backwards": Golden(
        lambda: L.SimpleRNN(4, go_backwards=True, **C), SEQ_2_4_3, [rows([0.07376196, 0.43645123], 4)], {"mask": HOLES}
    ),
    # ---- rnn_test.py (user cells with all-ones weights)
    "rnn.forward_pass.single_state": Golden(
        lambda: L.RNN(OneStateRNNCell(2), return_sequences=True, return_state=True),
        np.ones((1, 2, 3), "float32"),
        [np.array([[[3.0, 3.0], [9.0, 9.0]]]), np.array([[9.0, 9.0]])],
    ),
    "rnn.forward_pass.two_states": Golden(
        lambda: L.RNN(TwoStatesRNNCell(2), return_sequences=True, return_state=True),
        np.ones((1, 2, 3), "float32"),
        [np.array([[[6.0, 6.0], [18.0, 18.0]]]), np.array([[9.0, 9.0]]), np.array([[9.0, 9.0]])],
    ),
    "rnn.passing_initial_state.single_state": Golden(
        lambda: L.RNN(OneStateRNNCell(2), return_state=True),
        np.ones((2, 3, 2), "float32"),
        [np.full((2, 2), 22.0)] * 2,
        {"initial_state": np.ones((2, 2), "float32")},
    ),
    "rnn.passing_initial_state.two_states": Golden(
        lambda: L.RNN(TwoStatesRNNCell(2), return_state=True),
        np.ones((2, 3, 2), "float32"),
        [np.full((2, 2), 44.0), np.full((2, 2), 22.0), np.full((2, 2), 22.0)],
        {"initial_state": [np.ones((2, 2), "float32"), np.ones((2, 2), "float32")]},
    ),
    "rnn.statefulness.single_state": Golden(
        lambda: L.RNN(OneStateRNNCell(2), stateful=True, return_state=True),
        np.ones((1, 2, 3), "float32"),
        [np.array([[45.0, 45.0]])] * 2,
        warmup=1,
    ),
    "rnn.statefulness.two_states": Golden(
        lambda: L.RNN(TwoStatesRNNCell(2), stateful=True, return_state=True),
        np.ones((1, 2, 3), "float32"),
        [np.array([[90.0, 90.0]]), np.array([[45.0, 45.0]]), np.array([[45.0, 45.0]])],
        warmup=1,
    ),
    "rnn.go_backwards": Golden(
        lambda: L.RNN(OneStateRNNCell(2), go_backwards=True), SEQ_2_3_4, [np.array([[202.0, 202.0], [538.0, 538.0]])]
    ),
    "rnn.go_backwards.stateful": Golden(
        lambda: L.RNN(OneStateRNNCell(2), stateful=True, return_state=True),
        SEQ_2_3_4,
        [np.array([[954.0, 954.0], [3978.0, 3978.0]])] * 2,
        warmup=1,
    ),
    "rnn.masking": Golden(
        lambda: L.RNN(OneStateRNNCell(2)), SEQ_2_4_3, [rows([57.0, 126.0], 2)], {"mask": RIGHT_PADDED}
    ),
    "rnn.masking.unroll_sequences": Golden(
        lambda: L.RNN(OneStateRNNCell(2), return_sequences=True, unroll=True),
        SEQ_2_4_3,
        [steps([[3.0, 18.0, 57.0, 57.0], [39.0, 126.0, 126.0, 126.0]], 2)],
        {"mask": RIGHT_PADDED},
    ),
    # ---- stacked_rnn_cells_test.py
    "stacked.single_state": Golden(
        lambda: L.RNN([OneStateRNNCell(3), OneStateRNNCell(2)], return_sequences=True),
        SEQ_2_3_4,
        [np.array([[[18.0] * 2, [156.0] * 2, [786.0] * 2], [[162.0] * 2, [1020.0] * 2, [4386.0] * 2]])],
    ),
    "stacked.single_state.return_state": Golden(
        lambda: L.RNN([OneStateRNNCell(3), OneStateRNNCell(2)], return_state=True),
        SEQ_2_3_4,
        [rows([786.0, 4386.0], 2), rows([158.0, 782.0], 3), rows([786.0, 4386.0], 2)],
    ),
    "stacked.two_states": Golden(
        lambda: L.RNN([TwoStatesRNNCell(3), TwoStatesRNNCell(2)], return_sequences=True, return_state=True),
        SEQ_2_3_4,
        [
            np.array([[[72.0] * 2, [624.0] * 2, [3144.0] * 2], [[648.0] * 2, [4080.0] * 2, [17544.0] * 2]]),
            rows([158.0, 782.0], 3),
            rows([158.0, 782.0], 3),
            rows([1572.0, 8772.0], 2),
            rows([1572.0, 8772.0], 2),
        ],
    ),
    "stacked.statefulness.single_state": Golden(
        lambda: L.RNN([OneStateRNNCell(3), OneStateRNNCell(2)], stateful=True),
        SEQ_2_3_4,
        [rows([34092.0, 173196.0], 2)],
        warmup=1,
    ),
    "stacked.statefulness.two_states": Golden(
        lambda: L.RNN([TwoStatesRNNCell(3), TwoStatesRNNCell(2)], stateful=True),
        SEQ_2_3_4,
        [rows([136368.0, 692784.0], 2)],
        warmup=1,
    ),
    "stacked.lstm_cell_mask": Golden(
        lambda: L.RNN([L.LSTMCell(1, kernel_initializer="ones", recurrent_initializer="ones") for _ in range(2)]),
        np.ones((2, 3, 4), "float32"),
        [np.array([[0.7793], [0.5998]])],
        {"mask": np.array([[T, T, T], [T, T, F]])},
        atol=1e-4,
    ),
}

PATHS = ("loop", "auto", "auto-no-grad")


def _call(layer: Any, x: np.ndarray, path: str, call_kwargs: dict[str, Any]) -> list[np.ndarray]:
    inputs = torch.tensor(x, requires_grad=path == "auto")
    with torch.set_grad_enabled(path != "auto-no-grad"):
        out = layer(inputs, **call_kwargs)
    return [t.detach().numpy() for t in flatten(out)]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("name", list(GOLDEN))
def test_keras_golden_values(name, path):
    case = GOLDEN[name]
    layer = case.make()
    layer.build(case.x.shape)
    layer.built = True
    set_use_cudnn(layer, False if path == "loop" else "auto")
    # stateful cases: warm-up calls carry the state over; then the same again after reset_states()
    for _ in range(2 if case.warmup else 1):
        for _ in range(case.warmup + 1):
            inputs = torch.tensor(case.x, requires_grad=path == "auto")
            with torch.set_grad_enabled(path != "auto-no-grad"):
                outputs = [t.detach().numpy() for t in flatten(layer(inputs, **case.call_kwargs))]
        assert len(outputs) == len(case.expected), f"{name}: {len(outputs)} outputs, Keras has {len(case.expected)}"
        for i, (got, want) in enumerate(zip(outputs, case.expected)):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=case.atol, err_msg=f"{name}: output #{i} ({path})")
        if case.warmup:
            layer.reset_states()


def test_every_keras_test_is_covered():
    """The table holds the Keras tests the spec lists (section 5.1)."""
    prefixes = {name.rsplit(".", 1)[0] if name.count(".") > 1 else name for name in GOLDEN}
    for needed in (
        "bidirectional.correctness",
        "bidirectional.statefulness",
        "bidirectional.pass_initial_state",
        "bidirectional.masking",
        "bidirectional.return_state",
        "lstm.correctness",
        "gru.correctness",
        "gru.masking",
        "simple_rnn.correctness",
        "rnn.masking",
        "rnn.go_backwards",
    ):
        assert needed in prefixes or needed in GOLDEN, needed
