"""``birnn.saving``: Keras files both ways, with loading that never runs code from a file.

* ``save_model(model, "m.keras")`` writes the Keras 3 ``.keras`` format (``keras.saving.load_model``
  opens it); ``load_model`` reads ``.keras`` files from Keras 3 or birnn and legacy Keras 1/2/3
  ``.h5`` files (Keras 2's ``hard_sigmoid``, ``time_major``, ``CuDNNLSTM``/``CuDNNGRU`` handled).
* ``save_weights`` / ``load_weights`` for Keras 3's ``.weights.h5`` layout (and legacy ``.h5`` weights).
* Saving is atomic: an interrupted save leaves the previous file intact.
* Loading parses JSON and HDF5 only (no pickle, no imports, no bytecode) and builds only birnn's
  classes and registered ones; every failure is a ``ValueError`` naming the layer and the place in the file.

Example:
    >>> import os, tempfile, birnn
    >>> from birnn.layers import GRU, Bidirectional, Dense, Embedding, Input
    >>> model = birnn.Sequential([Input(shape=(6,), dtype="int32"), Embedding(20, 4, mask_zero=True),
    ...                           Bidirectional(GRU(3)), Dense(2)])
    >>> path = os.path.join(tempfile.mkdtemp(), "tagger.keras")
    >>> birnn.saving.save_model(model, path)
    >>> [layer.name for layer in birnn.saving.load_model(path).layers] == [layer.name for layer in model.layers]
    True
"""

from .._registry import register_keras_serializable as register_keras_serializable
from ._api import load_model as load_model
from ._api import load_weights as load_weights
from ._api import save_model as save_model
from ._api import save_weights as save_weights

__all__ = ["load_model", "save_model", "load_weights", "save_weights", "register_keras_serializable"]
