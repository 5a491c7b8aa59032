"""Recurrent layers and cells: one file per concept, re-exported here."""

from ._bidirectional import Bidirectional as Bidirectional
from ._bidirectional import SequenceLayer as SequenceLayer
from ._cell import CellProtocol as CellProtocol
from ._cell import ProjectedCell as ProjectedCell
from ._gru import GRU as GRU
from ._gru import GRUCell as GRUCell
from ._lstm import LSTM as LSTM
from ._lstm import LSTMCell as LSTMCell
from ._rnn import RNN as RNN
from ._simple_rnn import SimpleRNN as SimpleRNN
from ._simple_rnn import SimpleRNNCell as SimpleRNNCell
from ._stacked import StackedRNNCells as StackedRNNCells
