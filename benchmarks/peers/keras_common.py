"""What the three Keras 3 peers share: the model, the step callables, the versions.

The backend is fixed when Keras is first imported, so each Keras peer runs in its own worker
process whose ``KERAS_BACKEND`` is set by the registry (``benchmarks.peers.PEERS``); the backend
modules (``keras_tf``, ``keras_jax``, ``keras_torch``) add only their thread settings.

Variants: training is ``model.train_on_batch(x, y)`` (Keras's compiled train function: a
``tf.function`` on TensorFlow, ``jax.jit`` on JAX, eager on torch). Inference is measured two
ways: the primary figure is a direct call ``model(x, training=False)`` (the analogue of calling a
PyTorch module; its output is converted to NumPy so that JAX's asynchronous dispatch is waited
for), and ``predict_on_batch`` is the compiled predict function.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from ..cases import Batch, Case
from .base import PRIMARY, Prepared

__all__ = ["PREDICT_VARIANT", "build_model", "prepare", "versions"]

PREDICT_VARIANT = "predict_on_batch"


def versions() -> dict[str, str]:
    import keras

    return {"keras": keras.__version__}


def build_model(case: Case) -> Any:
    """The case's compiled ``keras.Model`` (functional API, RMSprop, categorical cross-entropy)."""
    import keras

    layers = keras.layers
    rnn = layers.LSTM if case.cell == "lstm" else functools.partial(layers.GRU, reset_after=case.reset_after)
    rnn = functools.partial(rnn, recurrent_dropout=case.recurrent_dropout)
    if case.masked:
        inputs = keras.Input(shape=(case.timesteps,), dtype="int32")
        x = layers.Embedding(case.vocab, case.features, mask_zero=True)(inputs)
    else:
        inputs = keras.Input(shape=(case.timesteps, case.features))
        x = inputs
    for return_sequences in (True, False):
        backward = None
        if case.relu_backward:
            backward = rnn(case.units, activation="relu", go_backwards=True, return_sequences=return_sequences)
        layer = rnn(case.units, return_sequences=return_sequences)
        x = (layers.Bidirectional(layer, backward_layer=backward) if case.directions == 2 else layer)(x)
    outputs = layers.Dense(case.classes, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.RMSprop(), loss="categorical_crossentropy")
    return model


def prepare(case: Case, batch: Batch, device: str) -> Prepared:
    """Steps of ``case`` on the current Keras backend (``device`` is the backend's choice)."""
    import keras

    keras.utils.set_random_seed(0)
    model = build_model(case)
    x, y = batch.inputs, batch.targets
    if case.training:

        def snapshot() -> Callable[[], None]:
            saved = model.get_weights()
            return lambda: model.set_weights(saved)

        return Prepared(steps={PRIMARY: lambda: model.train_on_batch(x, y)}, snapshots={PRIMARY: snapshot})
    tensor = keras.ops.convert_to_tensor(x)
    return Prepared(
        steps={
            PRIMARY: lambda: keras.ops.convert_to_numpy(model(tensor, training=False)),
            PREDICT_VARIANT: lambda: model.predict_on_batch(x),
        }
    )
