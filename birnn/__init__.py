"""birnn: Keras's Bidirectional wrapper and recurrent layers as native, fast PyTorch modules.

A Keras user changes one import (``from birnn import layers``); a PyTorch user gets
``torch.nn.Module`` s with Keras semantics (masks of any shape, ``go_backwards``, merge modes,
per-direction states) that drop into any training loop.

Example:
    >>> import torch, birnn
    >>> layer = birnn.layers.Bidirectional(birnn.layers.LSTM(8, return_sequences=True))
    >>> layer(torch.randn(2, 5, 3)).shape
    torch.Size([2, 5, 16])
"""

from . import (
    activations,
    callbacks,
    constraints,
    convert,
    initializers,
    layers,
    losses,
    metrics,
    models,
    optimizers,
    regularizers,
    saving,
)
from .layers import Input
from .models import Model, Sequential

__version__ = "0.1.0"

__all__ = [
    "activations", "callbacks", "constraints", "convert", "initializers", "layers", "losses", "metrics", "models",
    "optimizers", "regularizers", "saving", "Input", "Model", "Sequential", "__version__",
]
