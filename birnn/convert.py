"""Converters between birnn's recurrent layers and ``torch.nn.LSTM`` / ``GRU`` / ``RNN``.

``to_torch(layer)`` gives a ``batch_first=True`` PyTorch module computing exactly what the birnn
layer computes (without masks); ``from_torch(module)`` gives the birnn layer for one layer of a
PyTorch module. Weights are copied, so the two modules are independent afterwards.

The weight mapping (``U`` units, ``F`` input features):

=====================  =========================================  ==========================================
birnn (Keras layout)   PyTorch                                    note
=====================  =========================================  ==========================================
``kernel (F, G)``      ``weight_ih_l0 (G, F)`` = ``kernel.T``     GRU gate blocks ``z, r, h`` -> ``r, z, n``
``recurrent_kernel``   ``weight_hh_l0 (G, U)``                    same reordering
LSTM/RNN ``bias``      ``bias_ih_l0 = bias``, ``bias_hh_l0 = 0``  back: ``bias = bias_ih + bias_hh``
GRU ``bias (2, G)``    ``bias_ih_l0 = bias[0]``, ``bias_hh_l0``   row 1 is the recurrent bias
                       ``= bias[1]``
=====================  =========================================  ==========================================

``Bidirectional`` maps to ``bidirectional=True``: ``*_l0`` is the forward layer and
``*_l0_reverse`` the backward layer; PyTorch's output is the ``"concat"`` merge.

What PyTorch's modules cannot express is refused with a ``ValueError`` naming the setting:
activations other than ``tanh``/``sigmoid`` (``tanh``/``relu`` for ``SimpleRNN``), GRU with
``reset_after=False``, ``go_backwards`` on a single layer, ``stateful`` layers, merge modes other
than ``"concat"``, directions that differ, and (unless ``ignore_dropout=True``) dropout.

Example:
    >>> import torch, birnn
    >>> from birnn.convert import from_torch, to_torch
    >>> bi = birnn.layers.Bidirectional(birnn.layers.GRU(4, return_sequences=True))
    >>> x = torch.randn(2, 5, 3)
    >>> y = bi(x)
    >>> gru = to_torch(bi)
    >>> gru
    GRU(3, 4, batch_first=True, bidirectional=True)
    >>> bool(torch.allclose(gru(x)[0], y, atol=1e-6))
    True
    >>> back = from_torch(gru)
    >>> bool(torch.allclose(back(x), y, atol=1e-6))
    True
"""

from __future__ import annotations

from typing import Any, Union

import torch
from torch import Tensor, nn

from . import activations
from .layers import GRU, LSTM, Bidirectional, SimpleRNN
from .layers.rnn._dispatch import torch_parameters

__all__ = ["to_torch", "from_torch"]

RecurrentLayer = Union[LSTM, GRU, SimpleRNN]
TorchRecurrent = Union[nn.LSTM, nn.GRU, nn.RNN]

_TORCH_CLASS: dict[type, type[nn.RNNBase]] = {LSTM: nn.LSTM, GRU: nn.GRU, SimpleRNN: nn.RNN}


def _activation_name(fn: Any) -> str:
    try:
        return activations.serialize(fn)
    except ValueError:  # an unregistered user function: only its repr can name it
        return repr(fn)


def _kind(layer: Any, where: str, ignore_dropout: bool) -> str:
    """The ``torch._VF`` kernel name of ``layer`` (``lstm``, ``gru``, ``rnn_tanh``, ``rnn_relu``), or raise."""
    if type(layer) not in _TORCH_CLASS:
        raise ValueError(
            f"{where} must be a birnn LSTM, GRU or SimpleRNN layer to convert to torch.nn, "
            f"received {type(layer).__name__} ('{getattr(layer, 'name', layer)}')."
        )
    name = f"{where} {type(layer).__name__} '{layer.name}'"
    cell = layer.cell
    activation = _activation_name(cell.activation)
    if isinstance(layer, SimpleRNN):
        if activation not in ("tanh", "relu"):
            raise ValueError(f"{name}: torch.nn.RNN supports activation 'tanh' or 'relu', received {activation!r}.")
        kind = f"rnn_{activation}"
    else:
        kind = "lstm" if isinstance(layer, LSTM) else "gru"
        recurrent = _activation_name(cell.recurrent_activation)
        if (activation, recurrent) != ("tanh", "sigmoid"):
            raise ValueError(
                f"{name}: torch.nn.{kind.upper()} hard-codes activation='tanh' and recurrent_activation='sigmoid', "
                f"received activation={activation!r}, recurrent_activation={recurrent!r}."
            )
        if kind == "gru" and not cell.reset_after:
            raise ValueError(
                f"{name}: reset_after=False has no torch.nn.GRU equivalent (PyTorch applies the reset gate after "
                "the recurrent matrix multiply, i.e. reset_after=True)."
            )
    if layer.stateful:
        raise ValueError(f"{name}: stateful=True keeps states between calls; torch.nn modules do not.")
    if not ignore_dropout and (cell.dropout or cell.recurrent_dropout):
        raise ValueError(
            f"{name}: dropout={cell.dropout}, recurrent_dropout={cell.recurrent_dropout} have no torch.nn "
            "equivalent; pass ignore_dropout=True to convert without them (inference is unaffected)."
        )
    if not layer.built:
        raise ValueError(f"{name} has no weights yet: call it once (or build it) before converting.")
    return kind


def _torch_module(layer: RecurrentLayer, kind: str, bidirectional: bool) -> nn.RNNBase:
    kernel = layer.cell.kernel
    options: dict[str, Any] = {"nonlinearity": kind.removeprefix("rnn_")} if kind.startswith("rnn_") else {}
    return _TORCH_CLASS[type(layer)](
        kernel.shape[0],
        layer.cell.units,
        bias=layer.cell.use_bias,
        batch_first=True,
        bidirectional=bidirectional,
        device=kernel.device,
        dtype=kernel.dtype,
        **options,
    )


def _copy_direction(module: nn.RNNBase, layer: RecurrentLayer, kind: str, suffix: str) -> None:
    names = ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]
    with torch.no_grad():
        for name, value in zip(names, torch_parameters(layer.cell, kind.split("_")[0])):
            getattr(module, f"{name}_l0{suffix}").copy_(value)


def to_torch(layer: RecurrentLayer | Bidirectional, *, ignore_dropout: bool = False) -> TorchRecurrent:
    """A ``torch.nn.LSTM``/``GRU``/``RNN`` (``batch_first=True``) with a copy of ``layer``'s weights.

    The module computes what ``layer`` computes without a mask: its output is ``layer``'s output with
    ``return_sequences=True`` (the ``"concat"`` merge for ``Bidirectional``), and ``h_n``/``c_n`` hold
    the final states (``[0]`` forward, ``[1]`` backward). It is in the same train/eval mode as ``layer``.

    Args:
        layer: a built ``LSTM``, ``GRU`` or ``SimpleRNN``, or a ``Bidirectional`` over two of the same kind.
        ignore_dropout: convert a layer with ``dropout``/``recurrent_dropout`` anyway (PyTorch's
            modules have no per-step dropout, so the converted module trains without it).

    Returns:
        The PyTorch module, on ``layer``'s device and dtype.

    Raises:
        ValueError: a configuration PyTorch cannot express (see the module docstring).

    Example:
        >>> import torch, birnn
        >>> lstm = birnn.layers.LSTM(3, return_sequences=True)
        >>> x = torch.randn(2, 4, 5)
        >>> y = lstm(x)
        >>> bool(torch.allclose(to_torch(lstm)(x)[0], y, atol=1e-6))
        True
        >>> to_torch(birnn.layers.GRU(3, reset_after=False, name="g"))
        Traceback (most recent call last):
        ...
        ValueError: layer GRU 'g': reset_after=False has no torch.nn.GRU equivalent (PyTorch applies the reset gate after the recurrent matrix multiply, i.e. reset_after=True).
    """
    if isinstance(layer, Bidirectional):
        fwd, bwd = layer.forward_layer, layer.backward_layer
        kind = _kind(fwd, "forward_layer", ignore_dropout)
        if _kind(bwd, "backward_layer", ignore_dropout) != kind or type(bwd) is not type(fwd):
            raise ValueError(
                f"Bidirectional '{layer.name}': both directions must be the same kind of layer for torch.nn, "
                f"received {type(fwd).__name__} ({kind}) and {type(bwd).__name__}."
            )
        for attr in ("units", "use_bias"):
            if getattr(fwd.cell, attr) != getattr(bwd.cell, attr):
                raise ValueError(
                    f"Bidirectional '{layer.name}': torch.nn needs the same {attr} in both directions, received "
                    f"{getattr(fwd.cell, attr)} (forward) and {getattr(bwd.cell, attr)} (backward)."
                )
        if fwd.go_backwards or not bwd.go_backwards:
            raise ValueError(
                f"Bidirectional '{layer.name}': torch.nn reads the forward direction first, received "
                f"forward go_backwards={fwd.go_backwards}, backward go_backwards={bwd.go_backwards}."
            )
        if layer.merge_mode != "concat":
            raise ValueError(
                f"Bidirectional '{layer.name}': torch.nn concatenates the directions, received "
                f"merge_mode={layer.merge_mode!r}; only 'concat' converts."
            )
        module = _torch_module(fwd, kind, bidirectional=True)
        _copy_direction(module, fwd, kind, "")
        _copy_direction(module, bwd, kind, "_reverse")
    else:
        kind = _kind(layer, "layer", ignore_dropout)
        if layer.go_backwards:
            raise ValueError(
                f"layer {type(layer).__name__} '{layer.name}': go_backwards=True has no single-direction torch.nn "
                "equivalent (flip the inputs yourself, or convert a Bidirectional)."
            )
        module = _torch_module(layer, kind, bidirectional=False)
        _copy_direction(module, layer, kind, "")
    return module.train(layer.training)


# ---------------------------------------------------------------------------- torch -> birnn


def _keras_order(block: Tensor, kind: str, units: int) -> Tensor:
    """PyTorch gate blocks on the last axis -> Keras's (GRU ``r, z, n -> z, r, h``; others unchanged)."""
    if kind != "gru":
        return block
    r, z, n = block.split(units, dim=-1)
    return torch.cat([z, r, n], dim=-1)


def _keras_weights(module: nn.RNNBase, kind: str, suffix: str) -> list[Tensor]:
    """``[kernel, recurrent_kernel, bias?]`` of one direction of one layer, in Keras's layout."""
    u = module.hidden_size
    get = lambda name: getattr(module, f"{name}{suffix}").detach()  # noqa: E731
    weights = [_keras_order(get("weight_ih").t(), kind, u), _keras_order(get("weight_hh").t(), kind, u)]
    if module.bias:
        bias_ih, bias_hh = _keras_order(get("bias_ih"), kind, u), _keras_order(get("bias_hh"), kind, u)
        weights.append(torch.stack([bias_ih, bias_hh]) if kind == "gru" else bias_ih + bias_hh)
    return weights


def _birnn_layer(module: nn.RNNBase, kind: str, options: dict[str, Any]) -> RecurrentLayer:
    dtype = str(module.weight_ih_l0.dtype).removeprefix("torch.")
    common = {"use_bias": module.bias, "dtype": dtype, **options}
    if kind == "lstm":
        return LSTM(module.hidden_size, **common)
    if kind == "gru":
        return GRU(module.hidden_size, reset_after=True, **common)
    return SimpleRNN(module.hidden_size, activation=kind.removeprefix("rnn_"), **common)


def from_torch(
    module: TorchRecurrent,
    *,
    layer_index: int = 0,
    return_sequences: bool = True,
    return_state: bool = False,
    name: str | None = None,
) -> RecurrentLayer | Bidirectional:
    """The birnn layer (``Bidirectional`` when ``module.bidirectional``) for one layer of ``module``.

    Args:
        module: a ``torch.nn.LSTM``, ``GRU`` or ``RNN``; ``batch_first`` does not matter (birnn layers
            are always batch-major).
        layer_index: which layer of a ``num_layers > 1`` module to convert (``l{layer_index}`` weights);
            a stack converts as ``[from_torch(m, layer_index=k) for k in range(m.num_layers)]``.
        return_sequences: the birnn layer's ``return_sequences`` (``True`` matches PyTorch's output).
        return_state: the birnn layer's ``return_state``.
        name: the birnn layer's name (the default is the usual Keras-style name).

    Returns:
        A built ``LSTM``/``GRU``/``SimpleRNN``, or a ``Bidirectional`` (``merge_mode="concat"``) over two,
        on the module's device and dtype.

    Raises:
        ValueError: ``module`` is not one of the three, has ``proj_size > 0``, or ``layer_index`` is out of range.

    Example:
        >>> import torch
        >>> rnn = torch.nn.RNN(3, 2, nonlinearity="relu", batch_first=True)
        >>> layer = from_torch(rnn, name="rnn")
        >>> layer.activation.__name__, layer.name
        ('relu', 'rnn')
        >>> x = torch.randn(4, 6, 3)
        >>> bool(torch.allclose(layer(x), rnn(x)[0], atol=1e-6))
        True
    """
    if isinstance(module, nn.LSTM):
        kind = "lstm"
        if module.proj_size:
            raise ValueError(f"torch.nn.LSTM with proj_size={module.proj_size} has no birnn equivalent (needs proj_size=0).")
    elif isinstance(module, nn.GRU):
        kind = "gru"
    elif isinstance(module, nn.RNN):
        kind = "rnn_tanh" if module.nonlinearity == "tanh" else "rnn_relu"
    else:
        raise ValueError(f"from_torch expects a torch.nn.LSTM, GRU or RNN, received {type(module).__name__}.")
    if not 0 <= layer_index < module.num_layers:
        raise ValueError(
            f"layer_index={layer_index} is out of range for a {type(module).__name__} with num_layers={module.num_layers}."
        )
    input_size = module.input_size if layer_index == 0 else module.hidden_size * (2 if module.bidirectional else 1)
    flags = {"return_sequences": return_sequences, "return_state": return_state}
    device = module.weight_ih_l0.device
    if module.bidirectional:
        layer: Any = Bidirectional(_birnn_layer(module, kind, flags), **({"name": name} if name else {}))
        directions = [(layer.forward_layer, f"_l{layer_index}"), (layer.backward_layer, f"_l{layer_index}_reverse")]
    else:
        layer = _birnn_layer(module, kind, {**flags, **({"name": name} if name else {})})
        directions = [(layer, f"_l{layer_index}")]
    with torch.device(device):
        layer.build((None, None, input_size))
    layer.built = True
    for direction, suffix in directions:
        direction.set_weights(_keras_weights(module, kind, suffix))
    return layer.train(module.training)
