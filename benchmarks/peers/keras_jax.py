"""Keras 3 on JAX (``KERAS_BACKEND=jax``, set by the registry).

XLA's CPU client sizes its thread pool from the machine's cores and offers no runtime knob, so
``threads`` is not applied here (on the project's 2-core machines it is 2 either way).
"""

from __future__ import annotations

from . import keras_common

__all__ = ["configure", "prepare", "versions"]

prepare = keras_common.prepare


def configure(threads: int, device: str) -> None:
    """Nothing to set (see the module docstring)."""


def versions() -> dict[str, str]:
    import jax

    return {**keras_common.versions(), "jax": jax.__version__}
