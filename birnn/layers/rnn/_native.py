"""The compiled time loops of the sequence kernels (``_native.cpp``), built on first use.

``_scan`` runs its recurrences either with Python-driven loops (one PyTorch call per operation and
step) or with these C++ loops (one matrix multiply and one vectorised element-wise pass per step,
no Python and no GIL inside), which is what lets the sequence kernels beat PyTorch's fused RNN
kernels while training. The extension is compiled with ``torch.utils.cpp_extension`` the first time
it is needed (about 50 s on 2 cores; cached under ``~/.cache/torch_extensions`` or
``$TORCH_EXTENSIONS_DIR``), for the CPU it runs on (``-march=native``).

``available()`` is the explicit capability check: a C++ compiler and ``ninja`` on ``PATH``, the
environment variable ``BIRNN_NATIVE`` not set to ``0``, and a successful build (a failed build is
reported once as a ``RuntimeWarning`` and the Python loops are used). ``use_native(False)`` turns it
off for a block (tests run both).

Inside the compiled loops, float32 recurrences on a CPU with AVX-512 use birnn's register-tiled
per-step product with the element-wise work fused behind it (see ``_native.cpp``);
``tiled_available()`` says whether the build has it and ``use_tiled(False)`` falls back to
``at::mm`` for a block (tests compare the two).

Example:
    >>> with use_native(False):
    ...     enabled()
    False
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

from ... import activations

__all__ = ["ACTIVATIONS", "available", "enabled", "extension", "tiled_available", "use_native", "use_tiled"]

ACTIVATIONS: dict[Callable[..., object], int] = {
    activations.tanh: 0,
    activations.sigmoid: 1,
    activations.relu: 2,
    activations.linear: 3,
    activations.hard_sigmoid: 4,
    activations.legacy_hard_sigmoid: 5,
    activations.softsign: 6,
}
"""The activation ids of ``_native.cpp`` (the same set as ``_scan.DERIVATIVES``)."""

_SOURCE = Path(__file__).with_name("_native.cpp")
_LOCK = threading.Lock()
_state: dict[str, object] = {"enabled": os.environ.get("BIRNN_NATIVE", "1") != "0"}
_log = logging.getLogger(__name__)


def _toolchain_present() -> bool:
    compiler = os.environ.get("CXX", "c++")
    return shutil.which(compiler) is not None and (shutil.which("ninja") is not None or _ninja_module())


def _ninja_module() -> bool:
    try:
        import ninja  # noqa: F401  (the PyPI package puts its binary next to the interpreter)
    except ImportError:
        return False
    return True


def _build() -> ModuleType | None:
    from torch.utils import cpp_extension

    _log.info("birnn: compiling the native recurrence kernels (once, about 50 s)")
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    try:
        return cpp_extension.load(
            name="birnn_native",
            sources=[str(_SOURCE)],
            extra_cflags=["-O3", "-march=native", "-ffast-math", "-fopenmp-simd"],
            extra_ldflags=["-lmvec"],
            verbose=False,
        )
    except (RuntimeError, OSError, subprocess.CalledProcessError, ImportError) as error:
        warnings.warn(
            f"birnn: could not compile the native recurrence kernels ({type(error).__name__}: "
            f"{str(error).strip().splitlines()[-1] if str(error).strip() else ''}); using the slower Python loops. "
            "Set BIRNN_NATIVE=0 to skip the attempt.",
            RuntimeWarning,
            stacklevel=3,
        )
        return None


def extension() -> ModuleType | None:
    """The compiled module (built on first call), or ``None`` where it cannot be had."""
    if "module" not in _state:
        with _LOCK:
            if "module" not in _state:
                _state["module"] = _build() if _toolchain_present() else None
    return _state["module"]  # type: ignore[return-value]


def enabled() -> bool:
    """Whether the sequence kernels should use the compiled loops (without building them)."""
    return bool(_state["enabled"]) and _state.get("module", True) is not None


def available() -> bool:
    """Whether the compiled loops are enabled and built (builds them on first call)."""
    return bool(_state["enabled"]) and extension() is not None


@contextlib.contextmanager
def use_native(flag: bool) -> Iterator[None]:
    """Use (``True``) or avoid (``False``) the compiled loops inside the block."""
    previous = _state["enabled"]
    _state["enabled"] = flag
    try:
        yield
    finally:
        _state["enabled"] = previous


def tiled_available() -> bool:
    """Whether the compiled loops are available and have the tiled product (float32, AVX-512)."""
    module = extension() if available() else None
    return module is not None and bool(module.tiled_available())


@contextlib.contextmanager
def use_tiled(flag: bool) -> Iterator[None]:
    """Use (``True``, the default) or avoid (``False``) the tiled per-step product inside the block.

    Example:
        >>> with use_tiled(False):
        ...     pass
    """
    module = extension() if available() else None
    if module is None:
        yield
        return
    previous = module.set_tiled(flag)
    try:
        yield
    finally:
        module.set_tiled(previous)
