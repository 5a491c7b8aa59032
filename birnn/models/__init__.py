"""Models: :class:`Sequential` stacks and :class:`Model` (subclass it), both with Keras's training API.

Training checks its inputs before the first step and raises ``ValueError`` naming the argument:
``fit``/``evaluate`` before ``compile``; ``x`` and ``y`` (and ``sample_weight``) of different
lengths; ``x`` of the wrong rank or feature size for the model; labels ``y`` of the wrong shape for
the loss; unknown optimizer, loss or metric names in ``compile``.

Example:
    >>> import numpy as np
    >>> import birnn
    >>> model = birnn.models.Sequential([birnn.layers.Dense(2, input_shape=(3,))])
    >>> model.compile(optimizer="adam", loss="mse")
    >>> model.fit(np.ones((4, 3)), np.ones((4, 5)), verbose=0)
    Traceback (most recent call last):
    ...
    ValueError: Loss 'mean_squared_error' needs labels `y` with the shape of the model output (None, 2) (a trailing axis of size 1 may be added or dropped); received y.shape=(4, 5).
"""

from ._model import Model as Model
from ._sequential import Sequential as Sequential

__all__ = ["Model", "Sequential"]
