"""Atomic file replacement: a save either completes or leaves the previous file untouched.

The new content goes to a temporary file in the destination's folder (same file system, so the
final ``os.replace`` is atomic), is flushed to disk, and only then replaces the destination. If
anything fails before that, the temporary file is removed and the old file is still there.

Example:
    >>> import os, pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp(), "model.keras")
    >>> with atomic_write(path) as f:
    ...     _ = f.write(b"new")
    >>> path.read_bytes()
    b'new'
    >>> try:
    ...     with atomic_write(path) as f:
    ...         _ = f.write(b"half")
    ...         raise RuntimeError("interrupted")
    ... except RuntimeError:
    ...     pass
    >>> path.read_bytes(), os.listdir(path.parent)
    (b'new', ['model.keras'])
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from typing import BinaryIO

__all__ = ["atomic_write"]


def _new_file_mode(path: str) -> int:
    """The existing file's permissions, or those a plain ``open(path, "wb")`` would give."""
    with contextlib.suppress(FileNotFoundError):
        return os.stat(path).st_mode & 0o7777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], *, overwrite: bool = True) -> Iterator[BinaryIO]:
    """Open a temporary binary file that replaces ``path`` when the ``with`` block succeeds.

    Args:
        path: destination file.
        overwrite: if ``False`` and ``path`` exists, raise instead of replacing it.

    Raises:
        FileExistsError: ``overwrite=False`` and ``path`` exists.
    """
    target = os.path.abspath(os.fspath(path))
    if not overwrite and os.path.exists(target):
        raise FileExistsError(f"{target} already exists and overwrite=False.")
    folder, name = os.path.split(target)
    fd, temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, _new_file_mode(target))
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
