"""The shared layer-test harness (the shape of Keras's ``run_layer_test``), used by every layer's tests.

``run_layer_test`` checks, for one layer configuration:

1. config: ``get_config()`` is JSON-able, ``from_config`` rebuilds an equal config, and the registry
   envelope round-trips;
2. build and call: output structure and shapes, and ``compute_output_shape`` agreeing with them;
3. weights: counts, ``get_weights``/``set_weights`` into a rebuilt layer gives identical outputs,
   ``state_dict`` round trip;
4. masking: a right-padded mask is accepted (when the layer supports masks) and ``compute_mask``
   returns a mask of the documented structure;
5. one training step: gradients reach every trainable weight and an SGD step changes them.
"""

from __future__ import annotations

import contextlib
import inspect
import json
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch

from birnn import _registry


def _flat(x: Any) -> list[torch.Tensor]:
    if isinstance(x, torch.Tensor):
        return [x]
    return [t for item in x for t in _flat(item)]


def _shapes(x: Any) -> Any:
    if isinstance(x, torch.Tensor):
        return tuple(x.shape)
    return tuple(_shapes(item) for item in x)


def _normalise_shape(shape: Any) -> Any:
    if isinstance(shape, (list, tuple)) and shape and all(isinstance(s, (int, type(None))) for s in shape):
        return tuple(shape)
    return tuple(_normalise_shape(s) for s in shape)


def run_layer_test(
    make_layer: Callable[[], Any],
    input_shape: tuple[int, ...],
    *,
    expected_output_shape: Any,
    expected_num_trainable_weights: int,
    expected_num_non_trainable_weights: int = 0,
    supports_masking: bool = True,
    call_kwargs: dict[str, Any] | None = None,
    run_training_check: bool = True,
) -> Any:
    """Run the common checks on the layer ``make_layer()`` builds; returns that (built) layer."""
    call_kwargs = call_kwargs or {}
    layer = make_layer()

    # 1. config
    config = layer.get_config()
    json.dumps(config)
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    via_registry = _registry.deserialize(json.loads(json.dumps(_registry.serialize(layer))))
    assert type(via_registry) is type(layer)
    assert via_registry.get_config() == config

    # 2. build and call
    x = torch.randn(*input_shape)
    outputs = layer(x, **call_kwargs)
    assert _shapes(outputs) == _normalise_shape(expected_output_shape)
    assert _normalise_shape(layer.compute_output_shape(input_shape)) == _normalise_shape(expected_output_shape)

    # 3. weights
    assert len(layer.trainable_weights) == expected_num_trainable_weights
    assert len(layer.non_trainable_weights) == expected_num_non_trainable_weights
    assert len(layer.weights) == expected_num_trainable_weights + expected_num_non_trainable_weights
    clone(x, **call_kwargs)
    clone.set_weights(layer.get_weights())
    for a, b in zip(_flat(layer(x, **call_kwargs)), _flat(clone(x, **call_kwargs))):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    fresh = type(layer).from_config(config)
    fresh(x, **call_kwargs)
    fresh.load_state_dict(layer.state_dict())
    for a, b in zip(layer.get_weights(), fresh.get_weights()):
        np.testing.assert_array_equal(a, b)

    # 4. masking
    assert layer.supports_masking == supports_masking
    if supports_masking and x.ndim >= 2:
        mask = torch.ones(x.shape[:2], dtype=torch.bool)
        mask[0, x.shape[1] // 2 :] = False
        masked = layer(x, mask=mask, **call_kwargs)
        assert _shapes(masked) == _normalise_shape(expected_output_shape)
        layer.compute_mask(x, mask)

    # 5. one training step
    if run_training_check and expected_num_trainable_weights:
        before = [w.detach().clone() for w in layer.trainable_weights]
        optimizer = torch.optim.SGD(layer.trainable_weights, lr=0.1)
        train_kwargs = {"training": True} if "training" in inspect.signature(layer.call).parameters else {}
        loss = sum((out.float() ** 2).mean() for out in _flat(layer(x, **train_kwargs, **call_kwargs)))
        loss.backward()
        for w in layer.trainable_weights:
            assert w.grad is not None and torch.isfinite(w.grad).all()
        optimizer.step()
        assert any(not torch.equal(b, w.detach()) for b, w in zip(before, layer.trainable_weights))
    return layer


@contextlib.contextmanager
def threads(count: int) -> Iterator[None]:
    """Run the block with ``count`` ATen threads (the compiled kernels' tiled products need one)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
