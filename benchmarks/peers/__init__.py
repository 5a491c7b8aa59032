"""The peers: one runner module per library, and the registry that names them.

A runner module (``benchmarks.peers.<name>``) is imported only inside its own worker subprocess
(see ``benchmarks.worker``) and provides three functions:

* ``configure(threads: int, device: str) -> None``: thread counts, seeds; called first;
* ``versions() -> dict[str, str]``: library versions for the report;
* ``prepare(case: Case, batch: Batch, device: str) -> Prepared``: build the case's model on the
  batch and return one synchronous step callable per variant (see :class:`Prepared`).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field

from .base import Prepared, Step

__all__ = ["BASELINE", "PEERS", "SUBJECT", "PeerSpec", "Prepared", "Step", "missing_requirement"]


@dataclass(frozen=True)
class PeerSpec:
    """How to run one peer.

    Attributes:
        name: command-line name (``--peers``) and result key.
        label: column title in reports.
        module: the runner module.
        requires: top-level modules that must be importable for the peer to run.
        pip: the install command suggested when one is missing.
        env: environment variables of the peer's worker process (e.g. ``KERAS_BACKEND``).
    """

    name: str
    label: str
    module: str
    requires: tuple[str, ...]
    pip: str
    env: dict[str, str] = field(default_factory=dict)


_KERAS_ENV = {"TF_CPP_MIN_LOG_LEVEL": "2"}

PEERS: dict[str, PeerSpec] = {
    spec.name: spec
    for spec in (
        PeerSpec("birnn", "birnn", "benchmarks.peers.birnn", ("torch", "birnn"), "pip install -e ."),
        PeerSpec("torch_nn", "PyTorch nn", "benchmarks.peers.torch_nn", ("torch",), "pip install torch"),
        PeerSpec(
            "keras_tf",
            "Keras TF",
            "benchmarks.peers.keras_tf",
            ("keras", "tensorflow"),
            "pip install keras tensorflow",
            {**_KERAS_ENV, "KERAS_BACKEND": "tensorflow"},
        ),
        PeerSpec(
            "keras_jax",
            "Keras JAX",
            "benchmarks.peers.keras_jax",
            ("keras", "jax"),
            "pip install keras jax",
            {**_KERAS_ENV, "KERAS_BACKEND": "jax"},
        ),
        PeerSpec(
            "keras_torch",
            "Keras torch",
            "benchmarks.peers.keras_torch",
            ("keras", "torch"),
            "pip install keras torch",
            {**_KERAS_ENV, "KERAS_BACKEND": "torch"},
        ),
    )
}

BASELINE = "torch_nn"
"""The peer every ratio is taken against (besides the fastest peer)."""

SUBJECT = "birnn"
"""The library under test: excluded when looking for the fastest *peer*."""


def missing_requirement(spec: PeerSpec) -> str | None:
    """``None`` when ``spec``'s frameworks are importable, else a 'not installed: ...' note."""
    missing = [module for module in spec.requires if importlib.util.find_spec(module) is None]
    if not missing:
        return None
    return f"not installed ({', '.join(missing)}): {spec.pip}"
