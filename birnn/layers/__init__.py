"""``birnn.layers``: every layer and cell, mirroring ``keras.layers``.

Example:
    >>> from birnn.layers import LSTM, Bidirectional
    >>> Bidirectional(LSTM(8)).merge_mode
    'concat'
"""

from ._input_spec import InputSpec as InputSpec
from ._layer import Layer as Layer
from ._naming import reset_names as reset_names
from .core import Activation as Activation
from .core import Concatenate as Concatenate
from .core import Dense as Dense
from .core import Dropout as Dropout
from .core import Embedding as Embedding
from .core import Flatten as Flatten
from .core import GlobalAveragePooling1D as GlobalAveragePooling1D
from .core import GlobalMaxPooling1D as GlobalMaxPooling1D
from .core import Input as Input
from .core import InputLayer as InputLayer
from .core import LayerNormalization as LayerNormalization
from .core import Masking as Masking
from .core import SpatialDropout1D as SpatialDropout1D
from .core import TimeDistributed as TimeDistributed
from .rnn import GRU as GRU
from .rnn import LSTM as LSTM
from .rnn import RNN as RNN
from .rnn import Bidirectional as Bidirectional
from .rnn import GRUCell as GRUCell
from .rnn import LSTMCell as LSTMCell
from .rnn import SequenceLayer as SequenceLayer
from .rnn import SimpleRNN as SimpleRNN
from .rnn import SimpleRNNCell as SimpleRNNCell
from .rnn import StackedRNNCells as StackedRNNCells
