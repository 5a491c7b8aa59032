"""On a GPU: the cuDNN paths against the CPU's step loop, and the kernel choice there (one bidirectional call
for a standard pair, packed sequences under masks). Every test needs CUDA; the CPU-side logic of the same paths
is tested in ``test_kernels.py`` with the CPU sent down them."""

from __future__ import annotations

import pytest
import torch

from birnn.layers import GRU, LSTM, Bidirectional, SimpleRNN
from birnn.layers.rnn import _dispatch

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (cuDNN's recurrent kernels)")

N, T, F, U = 5, 7, 4, 6
MASKS = {
    "none": None,
    "left": [[0, 0, 1, 1, 1, 1, 1], [1] * 7, [0] * 6 + [1], [0, 1, 1, 1, 1, 1, 1], [1] * 7],
    "holes": [[1, 0, 1, 1, 0, 1, 1], [0] * 7, [0, 1, 1, 0, 0, 1, 0], [1, 1, 1, 1, 1, 0, 0], [1] * 7],
}


@pytest.fixture(autouse=True)
def _exact_cudnn():
    """cuDNN's float32 recurrences may use TF32 products (~1e-3): compare at full precision."""
    previous = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = previous


def _runs(monkeypatch) -> list[tuple[str, int]]:
    """Which of PyTorch's kernel runners ``_dispatch`` calls, and for how many directions at once."""
    taken: list[tuple[str, int]] = []
    for name in ("run_fused", "run_fused_packed", "run_fused_masked", "run_scan"):
        real = getattr(_dispatch, name)
        monkeypatch.setattr(_dispatch, name, lambda layers, *a, _real=real, _name=name, **k:
                            taken.append((_name, len(layers))) or _real(layers, *a, **k))
    return taken


def _outputs_and_grads(layer, x, mask, init):
    outputs = layer(x, mask=mask, initial_state=init or None)
    outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
    weights = [torch.randn(o.shape, generator=torch.Generator().manual_seed(1)).to(o.device) for o in outputs]
    loss = sum((o * w).sum() for o, w in zip(outputs, weights))
    return [o.cpu() for o in outputs], [g.cpu() for g in torch.autograd.grad(loss, [x, *init, *layer.weights])]


@pytest.mark.parametrize("mask_name", list(MASKS))
@pytest.mark.parametrize("cls", [LSTM, GRU, SimpleRNN])
def test_a_pair_on_the_gpu_is_one_cudnn_call_with_the_cpu_loops_results(monkeypatch, cls, mask_name):
    """A standard pair trains on the GPU through one bidirectional cuDNN call, over packed sequences under a mask
    (left padding, holes, a fully masked row), with the CPU step loop's outputs, final states and gradients."""
    taken = _runs(monkeypatch)
    bi = Bidirectional(cls(U, return_sequences=True, return_state=True))
    reference = Bidirectional.from_config({**bi.get_config(), "name": "reference"})
    for layer in (bi, reference):
        layer.build((N, T, F))
    reference.set_weights(bi.get_weights())
    reference.forward_layer.use_cudnn = reference.backward_layer.use_cudnn = False
    bi.to("cuda")
    x = torch.randn(N, T, F)
    init = [torch.randn(N, U) for _ in range(4 if cls is LSTM else 2)]
    mask = None if MASKS[mask_name] is None else torch.tensor(MASKS[mask_name], dtype=torch.bool)
    on_gpu = [t.to("cuda").requires_grad_() for t in (x, *init)]
    got, grads = _outputs_and_grads(bi, on_gpu[0], None if mask is None else mask.to("cuda"), on_gpu[1:])
    on_cpu = [t.clone().requires_grad_() for t in (x, *init)]
    want, ref_grads = _outputs_and_grads(reference, on_cpu[0], mask, on_cpu[1:])
    assert taken == [("run_fused" if mask is None else "run_fused_packed", 2)]
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    for a, b in zip(grads, ref_grads):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("go_backwards", [False, True])
def test_a_masked_lstm_keeping_its_cell_state_runs_cudnn_on_the_gpu(monkeypatch, go_backwards):
    """A lone masked LSTM that returns its cell state is one packed cuDNN call on the GPU (not the Python-driven
    sequence loops): the CPU step loop's results, ``c`` included."""
    taken = _runs(monkeypatch)
    layer = LSTM(U, return_sequences=True, return_state=True, go_backwards=go_backwards)
    reference = LSTM.from_config({**layer.get_config(), "name": "reference", "use_cudnn": False})
    for each in (layer, reference):
        each.build((N, T, F))
    reference.set_weights(layer.get_weights())
    layer.to("cuda")
    x, mask = torch.randn(N, T, F), torch.tensor(MASKS["holes"], dtype=torch.bool)
    x_gpu, x_cpu = x.to("cuda").requires_grad_(), x.clone().requires_grad_()
    got, grads = _outputs_and_grads(layer, x_gpu, mask.to("cuda"), [])
    want, ref_grads = _outputs_and_grads(reference, x_cpu, mask, [])
    assert taken == [("run_fused_packed", 1)]
    for a, b in zip([*got, *grads], [*want, *ref_grads]):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)
