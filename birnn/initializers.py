"""Keras 3's weight initializers, producing torch tensors.

Each initializer is called as ``init(shape, dtype=None)`` and returns a new
tensor on the current default device (``torch.get_default_device()``), so a
caller may create weights under ``with torch.device(...)``. Random values are
drawn on the CPU: a seeded initializer uses its own generator and returns the
same values on every call (as Keras 3 documents); an unseeded one draws from
torch's global generator, so ``torch.manual_seed`` makes a model reproducible.

Example:
    >>> from birnn import initializers
    >>> init = initializers.get("glorot_uniform")
    >>> init((3, 4)).shape
    torch.Size([3, 4])
    >>> initializers.serialize(initializers.Constant(0.5))
    {'class_name': 'Constant', 'config': {'value': 0.5}}
"""

from __future__ import annotations

import abc
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

from birnn import _registry

__all__ = [
    "Constant",
    "GlorotNormal",
    "GlorotUniform",
    "HeNormal",
    "HeUniform",
    "Identity",
    "Initializer",
    "LecunNormal",
    "LecunUniform",
    "Ones",
    "Orthogonal",
    "RandomNormal",
    "RandomUniform",
    "TruncatedNormal",
    "VarianceScaling",
    "Zeros",
    "deserialize",
    "get",
    "serialize",
]

Shape = Sequence[int]
DType = torch.dtype | str | None
MaybeGenerator = torch.Generator | None

# Standard deviation of a unit normal truncated to [-2, 2]; VarianceScaling
# divides by it so that its truncated samples have the requested variance.
_TRUNCATED_STDDEV = 0.87962566103423978


def _as_shape(shape: Shape) -> tuple[int, ...]:
    dims = tuple(shape)
    if not all(isinstance(d, int) and d >= 0 for d in dims):
        raise ValueError(f"`shape` must be a sequence of non-negative ints, received: shape={shape!r}")
    return dims


def _as_dtype(dtype: DType) -> torch.dtype:
    if dtype is None:
        return torch.float32
    resolved = getattr(torch, dtype, None) if isinstance(dtype, str) else dtype
    if not isinstance(resolved, torch.dtype):
        raise ValueError(f"`dtype` must be a torch.dtype or a name such as 'float32', received: dtype={dtype!r}")
    return resolved


def _check_number(name: str, value: Any, *, minimum: float | None = None, strict: bool = False) -> None:
    """Raise unless ``value`` is a finite real number (above ``minimum``, if given)."""
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not is_number or (minimum is not None and (value <= minimum if strict else value < minimum)):
        bound = "" if minimum is None else f" {'>' if strict else '>='} {minimum}"
        raise ValueError(f"`{name}` must be a finite number{bound}, received: {name}={value!r}")


class Initializer(abc.ABC):
    """Base class: a callable ``(shape, dtype=None) -> torch.Tensor`` with a config.

    Subclasses implement ``__call__`` and, when they take arguments,
    ``get_config``; ``from_config`` calls the constructor with the config.

    Example:
        >>> class Twos(Initializer):
        ...     def __call__(self, shape, dtype=None):
        ...         return torch.full(tuple(shape), 2.0, dtype=dtype)
        >>> Twos()((2,))
        tensor([2., 2.])
    """

    @abc.abstractmethod
    def __call__(self, shape: Shape, dtype: DType = None) -> torch.Tensor:
        """A new tensor of ``shape`` and ``dtype`` (default float32) on the default device."""

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments, JSON-serializable."""
        return {}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Initializer:
        """Rebuild an initializer from :meth:`get_config`'s output."""
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


@_registry.register
class Zeros(Initializer):
    """All zeros.

    Example:
        >>> Zeros()((2,))
        tensor([0., 0.])
    """

    def __call__(self, shape: Shape, dtype: DType = None) -> torch.Tensor:
        return torch.zeros(_as_shape(shape), dtype=_as_dtype(dtype))


@_registry.register
class Ones(Initializer):
    """All ones.

    Example:
        >>> Ones()((2,), dtype="float64")
        tensor([1., 1.], dtype=torch.float64)
    """

    def __call__(self, shape: Shape, dtype: DType = None) -> torch.Tensor:
        return torch.ones(_as_shape(shape), dtype=_as_dtype(dtype))


@_registry.register
class Constant(Initializer):
    """Every element equal to ``value``.

    Args:
        value: A finite number.

    Example:
        >>> Constant(0.5)((2,))
        tensor([0.5000, 0.5000])
    """

    def __init__(self, value: float = 0.0) -> None:
        _check_number("value", value)
        self.value = value

    def __call__(self, shape: Shape, dtype: DType = None) -> torch.Tensor:
        return torch.full(_as_shape(shape), self.value, dtype=_as_dtype(dtype))

    def get_config(self) -> dict[str, Any]:
        return {"value": self.value}


@_registry.register
class Identity(Initializer):
    """``gain`` times the (possibly rectangular) identity matrix; 2-D shapes only.

    Args:
        gain: Multiplier of the identity.

    Example:
        >>> Identity(gain=2.0)((2, 3))
        tensor([[2., 0., 0.],
                [0., 2., 0.]])
    """

    def __init__(self, gain: float = 1.0) -> None:
        _check_number("gain", gain)
        self.gain = gain

    def __call__(self, shape: Shape, dtype: DType = None) -> torch.Tensor:
        dims = _as_shape(shape)
        if len(dims) != 2:
            raise ValueError(f"Identity initializer needs a 2-D shape, received: shape={shape!r}")
        return self.gain * torch.eye(*dims, dtype=_as_dtype(dtype))

    def get_config(self) -> dict[str, Any]:
        return {"gain": self.gain}


class _RandomInitializer(Initializer):
    """Shared seeding: a seeded call uses a fresh ``torch.Generator``; unseeded, the global one."""

    def __init__(self, seed: int | None) -> None:
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
            raise ValueError(f"`seed` must be an int or None, received: seed={seed!r}")
        self.seed = seed

    def __call__(self, shape: Shape, dtype: DType = None) -> torch.Tensor:
        dims, target = _as_shape(shape), _as_dtype(dtype)
        if not target.is_floating_point:
            raise ValueError(f"{type(self).__name__} needs a floating dtype, received: dtype={dtype!r}")
        work = torch.float64 if target == torch.float64 else torch.float32
        generator = None if self.seed is None else torch.Generator().manual_seed(self.seed)
        values = self._sample(dims, work, generator)
        return values.to(device=torch.get_default_device(), dtype=target)

    @abc.abstractmethod
    def _sample(self, shape: tuple[int, ...], dtype: torch.dtype, generator: MaybeGenerator) -> torch.Tensor:
        """CPU samples of ``shape`` and ``dtype`` (float32 or float64)."""

    def get_config(self) -> dict[str, Any]:
        return {"seed": self.seed}


def _normal(
    shape: tuple[int, ...], dtype: torch.dtype, mean: float, stddev: float, gen: MaybeGenerator
) -> torch.Tensor:
    return torch.empty(shape, dtype=dtype, device="cpu").normal_(mean, stddev, generator=gen)


def _truncated_normal(
    shape: tuple[int, ...], dtype: torch.dtype, mean: float, stddev: float, gen: MaybeGenerator
) -> torch.Tensor:
    empty = torch.empty(shape, dtype=dtype, device="cpu")
    return torch.nn.init.trunc_normal_(empty, mean, stddev, mean - 2 * stddev, mean + 2 * stddev, generator=gen)


def _uniform(shape: tuple[int, ...], dtype: torch.dtype, low: float, high: float, gen: MaybeGenerator) -> torch.Tensor:
    return torch.empty(shape, dtype=dtype, device="cpu").uniform_(low, high, generator=gen)


@_registry.register
class RandomNormal(_RandomInitializer):
    """Normal distribution with ``mean`` and ``stddev``.

    Args:
        mean: Mean of the distribution.
        stddev: Standard deviation, >= 0.
        seed: Makes every call return the same values; ``None`` uses torch's global RNG.

    Example:
        >>> RandomNormal(stddev=0.0, mean=3.0)((2,))
        tensor([3., 3.])
    """

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None) -> None:
        _check_number("mean", mean)
        _check_number("stddev", stddev, minimum=0.0)
        self.mean, self.stddev = mean, stddev
        super().__init__(seed)

    def _sample(self, shape: tuple[int, ...], dtype: torch.dtype, generator: MaybeGenerator) -> torch.Tensor:
        return _normal(shape, dtype, self.mean, self.stddev, generator)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "mean": self.mean, "stddev": self.stddev}


@_registry.register
class TruncatedNormal(_RandomInitializer):
    """Normal distribution cut to ``mean ± 2 * stddev`` (so its spread is about ``0.88 * stddev``).

    Args:
        mean: Mean of the distribution.
        stddev: Standard deviation before truncation, > 0.
        seed: Makes every call return the same values; ``None`` uses torch's global RNG.

    Example:
        >>> bool(TruncatedNormal(stddev=1.0, seed=1)((1000,)).abs().max() <= 2.0)
        True
    """

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None) -> None:
        _check_number("mean", mean)
        _check_number("stddev", stddev, minimum=0.0, strict=True)
        self.mean, self.stddev = mean, stddev
        super().__init__(seed)

    def _sample(self, shape: tuple[int, ...], dtype: torch.dtype, generator: MaybeGenerator) -> torch.Tensor:
        return _truncated_normal(shape, dtype, self.mean, self.stddev, generator)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "mean": self.mean, "stddev": self.stddev}


@_registry.register
class RandomUniform(_RandomInitializer):
    """Uniform distribution on ``[minval, maxval)``.

    Args:
        minval: Lower bound.
        maxval: Upper bound, >= ``minval``.
        seed: Makes every call return the same values; ``None`` uses torch's global RNG.

    Example:
        >>> w = RandomUniform(0.0, 1.0, seed=3)((100,))
        >>> bool((w >= 0).all() and (w < 1).all())
        True
    """

    def __init__(self, minval: float = -0.05, maxval: float = 0.05, seed: int | None = None) -> None:
        _check_number("minval", minval)
        _check_number("maxval", maxval, minimum=minval)
        self.minval, self.maxval = minval, maxval
        super().__init__(seed)

    def _sample(self, shape: tuple[int, ...], dtype: torch.dtype, generator: MaybeGenerator) -> torch.Tensor:
        return _uniform(shape, dtype, self.minval, self.maxval, generator)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "minval": self.minval, "maxval": self.maxval}


def _compute_fans(
    shape: tuple[int, ...], input_axes: Sequence[int] | None, output_axes: Sequence[int] | None
) -> tuple[int, int]:
    """Keras's ``(fan_in, fan_out)`` of a weight shape.

    With explicit axes the fans are the products of those dimensions;
    otherwise a 2-D ``(in, out)`` shape gives ``(in, out)``, a 1-D shape
    ``(n, n)``, a scalar ``(1, 1)``, and a convolution kernel
    ``(*spatial, in, out)`` multiplies both by the receptive field size.

    Example:
        >>> _compute_fans((3, 3, 16, 32), None, None)
        (144, 288)
    """
    if input_axes is not None and output_axes is not None:
        return math.prod(shape[a] for a in input_axes), math.prod(shape[a] for a in output_axes)
    if len(shape) < 2:
        return (shape[0], shape[0]) if shape else (1, 1)
    receptive_field = math.prod(shape[:-2])
    return shape[-2] * receptive_field, shape[-1] * receptive_field


@_registry.register
class VarianceScaling(_RandomInitializer):
    """Samples with variance ``scale / n``, ``n`` being the fan picked by ``mode``.

    ``"truncated_normal"`` (also spelled ``"normal"``) divides the stddev by
    0.8796 so the truncated samples keep that variance; ``"uniform"`` draws from
    ``[-sqrt(3 * scale / n), sqrt(3 * scale / n)]``.

    Args:
        scale: Positive scaling factor.
        mode: ``"fan_in"``, ``"fan_out"`` or ``"fan_avg"``.
        distribution: ``"truncated_normal"``, ``"untruncated_normal"``, ``"uniform"`` or ``"normal"``.
        seed: Makes every call return the same values; ``None`` uses torch's global RNG.
        input_axes: Axes whose sizes multiply into ``fan_in`` (needs ``output_axes`` too).
        output_axes: Axes whose sizes multiply into ``fan_out`` (needs ``input_axes`` too).

    Example:
        >>> init = VarianceScaling(scale=2.0, distribution="uniform", seed=0)
        >>> bool(init((50, 8)).abs().max() <= (3 * 2.0 / 50) ** 0.5)
        True
    """

    def __init__(
        self,
        scale: float = 1.0,
        mode: str = "fan_in",
        distribution: str = "truncated_normal",
        seed: int | None = None,
        input_axes: Sequence[int] | None = None,
        output_axes: Sequence[int] | None = None,
    ) -> None:
        _check_number("scale", scale, minimum=0.0, strict=True)
        if mode not in ("fan_in", "fan_out", "fan_avg"):
            raise ValueError(f"`mode` must be 'fan_in', 'fan_out' or 'fan_avg', received: mode={mode!r}")
        normalized = distribution.lower() if isinstance(distribution, str) else distribution
        if normalized not in ("truncated_normal", "untruncated_normal", "uniform", "normal"):
            raise ValueError(
                "`distribution` must be 'truncated_normal', 'untruncated_normal', 'uniform' or 'normal', "
                f"received: distribution={distribution!r}"
            )
        if (input_axes is None) != (output_axes is None):
            raise ValueError(
                "`input_axes` and `output_axes` must be given together, "
                f"received: input_axes={input_axes!r}, output_axes={output_axes!r}"
            )
        self.scale, self.mode = scale, mode
        self.distribution = "truncated_normal" if normalized == "normal" else normalized
        self.input_axes, self.output_axes = input_axes, output_axes
        super().__init__(seed)

    def _sample(self, shape: tuple[int, ...], dtype: torch.dtype, generator: MaybeGenerator) -> torch.Tensor:
        fan_in, fan_out = _compute_fans(shape, self.input_axes, self.output_axes)
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        variance = self.scale / max(1.0, fan)
        if self.distribution == "truncated_normal":
            return _truncated_normal(shape, dtype, 0.0, math.sqrt(variance) / _TRUNCATED_STDDEV, generator)
        if self.distribution == "untruncated_normal":
            return _normal(shape, dtype, 0.0, math.sqrt(variance), generator)
        limit = math.sqrt(3.0 * variance)
        return _uniform(shape, dtype, -limit, limit, generator)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "scale": self.scale,
            "mode": self.mode,
            "distribution": self.distribution,
            "input_axes": self.input_axes,
            "output_axes": self.output_axes,
        }


class _FixedVarianceScaling(VarianceScaling):
    """A VarianceScaling preset; only the seed and the fan axes are configurable."""

    _preset: tuple[float, str, str]

    def __init__(
        self,
        seed: int | None = None,
        input_axes: Sequence[int] | None = None,
        output_axes: Sequence[int] | None = None,
    ) -> None:
        scale, mode, distribution = self._preset
        super().__init__(scale, mode, distribution, seed, input_axes, output_axes)

    def get_config(self) -> dict[str, Any]:
        return {"seed": self.seed, "input_axes": self.input_axes, "output_axes": self.output_axes}


@_registry.register
class GlorotUniform(_FixedVarianceScaling):
    """Glorot (Xavier) uniform: ``VarianceScaling(1.0, "fan_avg", "uniform")``.

    Example:
        >>> bool(GlorotUniform(seed=0)((6, 2)).abs().max() <= 1.0)
        True
    """

    _preset = (1.0, "fan_avg", "uniform")


@_registry.register
class GlorotNormal(_FixedVarianceScaling):
    """Glorot (Xavier) normal: ``VarianceScaling(1.0, "fan_avg", "truncated_normal")``.

    Example:
        >>> GlorotNormal(seed=0)((4, 4)).shape
        torch.Size([4, 4])
    """

    _preset = (1.0, "fan_avg", "truncated_normal")


@_registry.register
class HeUniform(_FixedVarianceScaling):
    """He uniform: ``VarianceScaling(2.0, "fan_in", "uniform")``.

    Example:
        >>> bool(HeUniform(seed=0)((6, 2)).abs().max() <= 1.0)
        True
    """

    _preset = (2.0, "fan_in", "uniform")


@_registry.register
class HeNormal(_FixedVarianceScaling):
    """He normal: ``VarianceScaling(2.0, "fan_in", "truncated_normal")``.

    Example:
        >>> HeNormal(seed=0)((4, 4)).dtype
        torch.float32
    """

    _preset = (2.0, "fan_in", "truncated_normal")


@_registry.register
class LecunUniform(_FixedVarianceScaling):
    """LeCun uniform: ``VarianceScaling(1.0, "fan_in", "uniform")``.

    Example:
        >>> bool(LecunUniform(seed=0)((3, 2)).abs().max() <= 1.0)
        True
    """

    _preset = (1.0, "fan_in", "uniform")


@_registry.register
class LecunNormal(_FixedVarianceScaling):
    """LeCun normal: ``VarianceScaling(1.0, "fan_in", "truncated_normal")``.

    Example:
        >>> LecunNormal(seed=0)((4, 4), dtype=torch.float64).dtype
        torch.float64
    """

    _preset = (1.0, "fan_in", "truncated_normal")


@_registry.register
class Orthogonal(_RandomInitializer):
    """``gain`` times a random orthogonal matrix, made from the QR decomposition of a normal one.

    The shape is flattened to ``(prod(shape[:-1]), shape[-1])``; the result has
    orthonormal rows when it has fewer rows than columns, orthonormal columns
    otherwise. For an LSTM kernel ``(units, 4 * units)`` the whole matrix is
    orthogonalised, as in Keras.

    Args:
        gain: Multiplier of the orthogonal matrix.
        seed: Makes every call return the same values; ``None`` uses torch's global RNG.

    Example:
        >>> w = Orthogonal(seed=0)((2, 8))
        >>> torch.allclose(w @ w.T, torch.eye(2), atol=1e-6)
        True
    """

    def __init__(self, gain: float = 1.0, seed: int | None = None) -> None:
        _check_number("gain", gain)
        self.gain = gain
        super().__init__(seed)

    def _sample(self, shape: tuple[int, ...], dtype: torch.dtype, generator: MaybeGenerator) -> torch.Tensor:
        if len(shape) < 2:
            raise ValueError(f"Orthogonal initializer needs a shape of rank >= 2, received: shape={shape!r}")
        rows, cols = math.prod(shape[:-1]), shape[-1]
        q, r = torch.linalg.qr(_normal((max(rows, cols), min(rows, cols)), dtype, 0.0, 1.0, generator))
        q = q * torch.sign(torch.diagonal(r))
        if rows < cols:
            q = q.T
        return self.gain * q.reshape(shape)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "gain": self.gain}


_BUILTINS: dict[str, type[Initializer]] = {
    cls.__name__: cls
    for cls in (
        Constant, GlorotNormal, GlorotUniform, HeNormal, HeUniform, Identity, LecunNormal,
        LecunUniform, Ones, Orthogonal, RandomNormal, RandomUniform, TruncatedNormal,
        VarianceScaling, Zeros,
    )
}  # fmt: skip
_BUILTINS.update(
    constant=Constant,
    glorot_normal=GlorotNormal,
    glorot_uniform=GlorotUniform,
    he_normal=HeNormal,
    he_uniform=HeUniform,
    identity=Identity,
    lecun_normal=LecunNormal,
    lecun_uniform=LecunUniform,
    ones=Ones,
    orthogonal=Orthogonal,
    random_normal=RandomNormal,
    random_uniform=RandomUniform,
    truncated_normal=TruncatedNormal,
    variance_scaling=VarianceScaling,
    zeros=Zeros,
    # Keras's extra aliases.
    IdentityInitializer=Identity,
    OrthogonalInitializer=Orthogonal,
    normal=RandomNormal,
    one=Ones,
    uniform=RandomUniform,
    zero=Zeros,
)


def serialize(initializer: Initializer | None) -> dict[str, Any] | None:
    """The ``{"class_name", "config"}`` envelope of ``initializer`` (``None`` stays ``None``).

    Example:
        >>> serialize(Orthogonal(gain=2.0))
        {'class_name': 'Orthogonal', 'config': {'seed': None, 'gain': 2.0}}
    """
    return None if initializer is None else _registry.serialize(initializer)


def deserialize(config: str | Mapping[str, Any], custom_objects: Mapping[str, Any] | None = None) -> Initializer:
    """Build an initializer from a name or an envelope.

    Names are Keras's class names and snake-case names; ``custom_objects`` is
    searched first, then the built-ins, then the registry.

    Raises:
        ValueError: unknown name, or a malformed envelope.

    Example:
        >>> deserialize("he_normal")
        HeNormal(seed=None, input_axes=None, output_axes=None)
    """
    return _registry.deserialize_named(config, _BUILTINS, custom_objects, kind="initializer")


def get(
    identifier: str | Mapping[str, Any] | type[Initializer] | Callable[..., torch.Tensor] | None,
) -> Callable[..., torch.Tensor] | None:
    """Resolve an initializer identifier.

    ``None`` gives ``None``; a name or envelope is deserialized; a class is
    instantiated with its defaults; an instance or any other callable
    ``(shape, dtype)`` is returned unchanged.

    Raises:
        ValueError: unknown name, or an identifier of another type.

    Example:
        >>> get("zeros")((2,))
        tensor([0., 0.])
    """
    return _registry.resolve(identifier, deserialize, kind="initializer")
