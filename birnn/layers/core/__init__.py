"""Core layers (Keras's ``keras.layers`` core, reshaping, pooling, merging and normalisation layers).

Example:
    >>> import torch
    >>> from birnn.layers.core import Dense, Embedding
    >>> Dense(2)(Embedding(5, 3)(torch.tensor([[1, 2]]))).shape
    torch.Size([1, 2, 2])
"""

from ._activation import Activation as Activation
from ._concatenate import Concatenate as Concatenate
from ._dense import Dense as Dense
from ._dropout import Dropout as Dropout
from ._embedding import Embedding as Embedding
from ._flatten import Flatten as Flatten
from ._global_pooling import GlobalAveragePooling1D as GlobalAveragePooling1D
from ._global_pooling import GlobalMaxPooling1D as GlobalMaxPooling1D
from ._input import Input as Input
from ._input import InputLayer as InputLayer
from ._layer_normalization import LayerNormalization as LayerNormalization
from ._masking import Masking as Masking
from ._spatial_dropout import SpatialDropout1D as SpatialDropout1D
from ._time_distributed import TimeDistributed as TimeDistributed
