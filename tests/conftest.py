"""Shared test setup: Keras (the oracle) must see the torch backend before it is imported."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(max(1, min(2, torch.get_num_threads())))


@pytest.fixture(autouse=True)
def _fresh_names_and_seed():
    """Each test starts with Keras-style names counted from zero and a fixed seed."""
    from birnn.layers import reset_names

    reset_names()
    torch.manual_seed(0)
    np.random.seed(0)
    yield


@pytest.fixture(scope="session")
def keras():
    """The Keras 3 oracle (torch backend)."""
    import keras

    assert keras.backend.backend() == "torch", "tests/conftest.py must set KERAS_BACKEND=torch first"
    return keras
