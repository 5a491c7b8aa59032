"""The demo's data set: windows of Python source characters, each labelled by :func:`label_source`.

Inputs are character ids from a small fixed vocabulary (:data:`PAD` = 0 pads, :data:`OOV` = 1 for
any character outside tab, newline and printable ASCII); targets are class indices into
:data:`~birnn.demo.CLASSES` (fewer than 256, so stored as ``uint8``). Each file is cut into
windows of ``window`` characters (the last one right-padded), so no window mixes two files.

Held-out data is split by *file*: a file's windows are all in training or all held out, so the
held-out score measures code the model has never seen. Everything is deterministic given the seed:
files are sorted, then shuffled with ``numpy.random.default_rng(seed)``, and files are read and
tokenized lazily, only until the requested number of windows is reached.

Shapes: ``N`` windows, ``T`` characters per window.
"""

from __future__ import annotations

import sysconfig
import tokenize
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np

from ._labels import label_source

__all__ = [
    "OOV",
    "PAD",
    "VOCABULARY_SIZE",
    "Dataset",
    "SourceError",
    "Split",
    "build_dataset",
    "decode",
    "encode",
    "find_sources",
]

PAD: Final = 0
OOV: Final = 1
_ALPHABET: Final = "\t\n" + "".join(map(chr, range(32, 127)))
VOCABULARY_SIZE: Final = 2 + len(_ALPHABET)
"""Number of input ids: padding, out-of-vocabulary, tab, newline and the 95 printable ASCII characters."""

_IDS = np.full(128, OOV, dtype=np.uint8)
_IDS[[ord(c) for c in _ALPHABET]] = np.arange(2, VOCABULARY_SIZE, dtype=np.uint8)
_CHARS: Final = "\0\ufffd" + _ALPHABET

_STDLIB_SKIPPED_DIRS: Final = frozenset({"test", "tests", "idle_test"})
_ALWAYS_SKIPPED_DIRS: Final = frozenset({"site-packages", "dist-packages", "__pycache__", "node_modules"})
MAX_FILE_BYTES: Final = 256 * 1024
"""Larger files (generated tables such as ``pydoc_data/topics.py``) are left out."""


class SourceError(ValueError):
    """The source folder cannot give a data set (missing, no Python files, too few usable files)."""


def encode(text: str) -> np.ndarray:
    """Character ids of ``text``: ``(len(text),)`` ``uint8``, never :data:`PAD`.

    Example:
        >>> encode("a\\té").tolist()   # 'é' is outside the vocabulary
        [69, 2, 1]
        >>> decode(encode("x = 1"))
        'x = 1'
    """
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    return np.where(codes < 128, _IDS[np.minimum(codes, 127)], OOV).astype(np.uint8)


def decode(ids: np.ndarray) -> str:
    """The text of character ids; padding is dropped and out-of-vocabulary ids read ``'\\ufffd'``.

    Example:
        >>> decode(np.array([69, 1, 0, 0]))
        'a\\ufffd'
    """
    return "".join(_CHARS[i] for i in np.asarray(ids).tolist() if i != PAD)


def _skipped(part: str, stdlib: bool) -> bool:
    return part.startswith(".") or part in _ALWAYS_SKIPPED_DIRS or (stdlib and part in _STDLIB_SKIPPED_DIRS)


def find_sources(source: str | Path | None = None) -> tuple[Path, list[Path]]:
    """The folder and its Python files to learn from, sorted by path.

    Args:
        source: a folder of ``.py`` files (searched recursively); ``None`` for the standard library
            of the running Python (``sysconfig.get_paths()["stdlib"]``), without its test folders.
            Hidden folders, ``site-packages``, ``__pycache__`` and files over 256 KiB are skipped.

    Returns:
        ``(root, files)``.

    Raises:
        SourceError: ``source`` is not a folder or holds no Python files.

    Example:
        >>> root, files = find_sources()
        >>> any(f.name == "keyword.py" for f in files), any("test" in f.parts for f in files)
        (True, False)
    """
    stdlib = source is None
    root = Path(sysconfig.get_paths()["stdlib"] if source is None else source).expanduser()
    if not root.is_dir():
        raise SourceError(f"Argument `source` must be a folder of Python files, received: {str(source)!r} "
                          f"({'not found' if not root.exists() else 'not a folder'})")
    files = sorted(
        path
        for path in root.rglob("*.py")
        if not any(_skipped(part, stdlib) for part in path.relative_to(root).parts[:-1])
        and path.is_file()
        and path.stat().st_size <= MAX_FILE_BYTES
    )
    if not files:
        raise SourceError(f"No Python files (*.py, at most {MAX_FILE_BYTES // 1024} KiB) found in {str(root)!r}: "
                          "pass --source a folder that contains some")
    return root, files


@dataclass(frozen=True)
class Split:
    """Windows of one split.

    Attributes:
        x: ``(N, T)`` ``int64`` character ids, :data:`PAD` after a file's end.
        y: ``(N, T)`` ``int64`` class indices (``0`` at padding; use ``x != PAD`` as the mask).
        files: the files the windows come from, relative to the source folder.
    """

    x: np.ndarray
    y: np.ndarray
    files: tuple[str, ...]

    @property
    def characters(self) -> int:
        """Number of real (non-padding) characters."""
        return int((self.x != PAD).sum())


@dataclass(frozen=True)
class Dataset:
    """Training and held-out windows, plus consecutive held-out windows to draw.

    Attributes:
        train: training windows.
        test: held-out windows (files disjoint from ``train``'s).
        snippet: a few consecutive windows of one held-out file, for the picture.
        root: the source folder.
        unreadable: files skipped because they did not decode or tokenize.
    """

    train: Split
    test: Split
    snippet: Split
    root: Path
    unreadable: tuple[str, ...]


@dataclass(frozen=True)
class _File:
    name: str
    x: np.ndarray  # (windows, T)
    y: np.ndarray


def _windows(values: np.ndarray, window: int) -> np.ndarray:
    count = -(-len(values) // window)
    out = np.zeros(count * window, dtype=np.uint8)
    out[: len(values)] = values
    return out.reshape(count, window)


def _load(path: Path, root: Path, window: int) -> _File | None:
    """The windows of one file (none if it is empty), or ``None`` if it does not decode or tokenize."""
    try:
        with tokenize.open(path) as handle:  # honours PEP 263 coding cookies; universal newlines
            text = handle.read()
        labels = np.frombuffer(label_source(text), dtype=np.uint8)
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return None
    ids = encode(text)
    return _File(path.relative_to(root).as_posix(), _windows(ids, window), _windows(labels, window))


def _choose(files: list[_File], target: int, per_file: int, rng: np.random.Generator) -> Split:
    """``target`` windows: at most ``per_file`` random ones from each file, then the rest in file order."""
    orders = [rng.permutation(len(f.x)) for f in files]
    taken = [order[:per_file] for order in orders]
    short = target - sum(map(len, taken))
    for i, order in enumerate(orders):
        if short <= 0:
            break
        extra = order[per_file : per_file + short]
        taken[i] = np.concatenate([taken[i], extra])
        short -= len(extra)
    x = np.concatenate([f.x[np.sort(t)] for f, t in zip(files, taken)])[:target]
    y = np.concatenate([f.y[np.sort(t)] for f, t in zip(files, taken)])[:target]
    return Split(x.astype(np.int64), y.astype(np.int64), tuple(f.name for f in files))


def _snippet(file: _File, windows: int) -> Split:
    """The ``windows`` consecutive windows of ``file`` that show the most classes (first such run)."""
    runs = range(max(1, len(file.x) - windows + 1))
    best = max(runs, key=lambda s: (len(np.unique(file.y[s : s + windows][file.x[s : s + windows] != PAD])), -s))
    part = slice(best, best + windows)
    return Split(file.x[part].astype(np.int64), file.y[part].astype(np.int64), (file.name,))


def build_dataset(
    source: str | Path | None = None,
    *,
    train_windows: int,
    test_windows: int,
    window: int = 128,
    per_file: int = 16,
    snippet_windows: int = 3,
    seed: int = 0,
) -> Dataset:
    """Read, label and cut Python files into training and held-out windows.

    Args:
        source: folder of ``.py`` files; ``None`` for the running Python's standard library.
        train_windows: number of training windows (fewer if the files run out).
        test_windows: number of held-out windows (fewer if the files run out).
        window: characters per window, ``T``.
        per_file: at most this many windows per file while other files remain, so that the data
            covers many files rather than a few long ones.
        snippet_windows: consecutive held-out windows kept for the picture.
        seed: seed of the file shuffle and of the choice of windows.

    Returns:
        A :class:`Dataset`; at most a fifth of the files (at least one) are held out.

    Raises:
        SourceError: no Python files, or fewer than two that tokenize.

    Example:
        >>> data = build_dataset(train_windows=8, test_windows=4, seed=0)
        >>> data.train.x.shape, data.test.y.shape
        ((8, 128), (4, 128))
        >>> set(data.train.files).isdisjoint(data.test.files)
        True
    """
    if min(train_windows, test_windows, window, per_file, snippet_windows) < 1:
        raise ValueError(
            "Arguments `train_windows`, `test_windows`, `window`, `per_file` and `snippet_windows` must be "
            f"positive, received: {train_windows}, {test_windows}, {window}, {per_file}, {snippet_windows}"
        )
    root, paths = find_sources(source)
    rng = np.random.default_rng(seed)
    max_held_out = max(1, len(paths) // 5)
    held_out: list[_File] = []
    training: list[_File] = []
    unreadable: list[str] = []

    def loaded() -> Iterator[_File]:
        for index in rng.permutation(len(paths)):
            file = _load(paths[index], root, window)
            if file is None:
                unreadable.append(paths[index].relative_to(root).as_posix())
            elif len(file.x):
                yield file

    held_count = train_count = 0
    for file in loaded():
        if held_count < test_windows and len(held_out) < max_held_out:
            held_out.append(file)
            held_count += min(per_file, len(file.x))
        else:
            training.append(file)
            train_count += min(per_file, len(file.x))
            if train_count >= train_windows:
                break
    if not training:
        skipped = f"; {len(unreadable)} did not tokenize" if unreadable else ""
        raise SourceError(f"Need at least two Python files that tokenize in {str(root)!r} (one to train on, one to "
                          f"hold out), found {len(held_out)}{skipped}")
    return Dataset(
        train=_choose(training, train_windows, per_file, rng),
        test=_choose(held_out, test_windows, per_file, rng),
        snippet=_snippet(held_out[0], snippet_windows),
        root=root,
        unreadable=tuple(unreadable),
    )

