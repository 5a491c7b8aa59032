"""Keras 3 on PyTorch (``KERAS_BACKEND=torch``, set by the registry)."""

from __future__ import annotations

from . import keras_common, torch_common

__all__ = ["configure", "prepare", "versions"]

prepare = keras_common.prepare
configure = torch_common.configure


def versions() -> dict[str, str]:
    return {**keras_common.versions(), **torch_common.versions()}
