"""Keras 3 on TensorFlow (``KERAS_BACKEND=tensorflow``, set by the registry)."""

from __future__ import annotations

from . import keras_common

__all__ = ["configure", "prepare", "versions"]

prepare = keras_common.prepare


def configure(threads: int, device: str) -> None:
    """Intra- and inter-op pools of ``threads`` each (TensorFlow runs independent ops concurrently)."""
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)


def versions() -> dict[str, str]:
    import tensorflow as tf

    return {**keras_common.versions(), "tensorflow": tf.__version__}
