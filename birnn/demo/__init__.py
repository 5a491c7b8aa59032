"""``birnn.demo``: tag every character of Python source, one-directional vs bidirectional LSTM.

The data is the running Python's own standard library (or a folder of your ``.py`` files),
labelled per character by the ``tokenize`` module. A character's class often depends on what
comes *after* it (the ``i`` of ``if`` vs ``id``, the ``f`` of ``f"..."``), which is what a
``Bidirectional`` layer adds over a one-directional one.

Run it as ``birnn demo`` (or ``python -m birnn demo``, or :func:`run_demo`); its pieces are public too.

Example:
    >>> from birnn.demo import CLASSES, label_source
    >>> [CLASSES[k] for k in label_source("id if")]
    ['identifier', 'identifier', 'whitespace', 'keyword', 'keyword']
"""

from ._data import OOV as OOV
from ._data import PAD as PAD
from ._data import VOCABULARY_SIZE as VOCABULARY_SIZE
from ._data import Dataset as Dataset
from ._data import SourceError as SourceError
from ._data import Split as Split
from ._data import build_dataset as build_dataset
from ._data import decode as decode
from ._data import encode as encode
from ._data import find_sources as find_sources
from ._figure import matplotlib_missing as matplotlib_missing
from ._figure import write_figure as write_figure
from ._labels import CLASSES as CLASSES
from ._labels import label_source as label_source
from ._run import SIZES as SIZES
from ._run import DemoResult as DemoResult
from ._run import dataset_size as dataset_size
from ._run import resolve_device as resolve_device
from ._run import run_demo as run_demo
from ._table import AccuracyTable as AccuracyTable
from ._table import accuracy_table as accuracy_table
from ._train import build_tagger as build_tagger
from ._train import compile_tagger as compile_tagger
from ._train import train_tagger as train_tagger
