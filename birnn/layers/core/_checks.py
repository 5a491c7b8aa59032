"""Argument checks shared by the core layers, with Keras's messages."""

from __future__ import annotations

from typing import Any

__all__ = ["check_positive_int", "check_unsupported", "check_rate", "standardize_data_format"]


def check_positive_int(layer: str, argument: str, value: Any) -> int:
    """Return ``value`` if it is a positive int, else raise Keras's ``ValueError``.

    Example:
        >>> check_positive_int("Dense", "units", 0)
        Traceback (most recent call last):
        ...
        ValueError: Received an invalid value for `units` of Dense, expected a positive integer. Received: units=0
    """
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(
            f"Received an invalid value for `{argument}` of {layer}, expected a positive integer. "
            f"Received: {argument}={value!r}"
        )
    return value


def check_unsupported(layer: str, **arguments: Any) -> None:
    """Reject Keras arguments birnn accepts only at their ``None`` default (LoRA, quantization).

    Example:
        >>> check_unsupported("Dense", lora_rank=None)
    """
    for argument, value in arguments.items():
        if value is not None:
            raise ValueError(
                f"Argument `{argument}` of {layer} is not supported by birnn, received: {argument}={value!r}"
            )


def check_rate(layer: str, rate: Any) -> float:
    """Return ``rate`` as a float if it lies in ``[0, 1]``, else raise Keras's ``ValueError``.

    Example:
        >>> check_rate("Dropout", 1.5)
        Traceback (most recent call last):
        ...
        ValueError: Invalid value received for argument `rate` of Dropout. Expected a float value between 0 and 1. Received: rate=1.5
    """
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate <= 1:
        raise ValueError(
            f"Invalid value received for argument `rate` of {layer}. Expected a float value between 0 and 1. "
            f"Received: rate={rate!r}"
        )
    return float(rate)


def standardize_data_format(data_format: str | None) -> str:
    """``None`` -> ``"channels_last"``; anything but the two Keras values raises ``ValueError``.

    Example:
        >>> standardize_data_format(None)
        'channels_last'
    """
    data_format = "channels_last" if data_format is None else str(data_format).lower()
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(
            "The `data_format` argument must be one of {'channels_first', 'channels_last'}. "
            f"Received: data_format={data_format!r}"
        )
    return data_format
