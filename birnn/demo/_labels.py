"""Per-character labels of Python source, read off the standard library's ``tokenize`` module.

Every character of a source text gets one class of :data:`CLASSES`:

=============  ====================================================================================
identifier     a ``NAME`` token that is not a keyword (soft keywords such as ``match`` count here:
               telling them apart needs the parser, not the tokenizer)
keyword        a ``NAME`` token for which ``keyword.iskeyword`` holds (``True``/``None`` included)
operator       an ``OP`` token: ``(``, ``==``, ``:``, ``->``, ...
number         a ``NUMBER`` token
string         a string literal, prefixes and quotes included; an f-string as a whole, replacement
               fields too
comment        a ``COMMENT`` token, ``#`` included
whitespace     spaces, tabs, newlines and indentation
other          anything else: a line-continuation backslash, a stray ``$`` or ``?``
=============  ====================================================================================

Python 3.12 changed how f-strings are tokenized: before, an f-string is one ``STRING`` token; from
3.12 on it is ``FSTRING_START``, ``FSTRING_MIDDLE`` parts and the tokens of each replacement field,
then ``FSTRING_END`` (3.14 adds the same for t-strings). The labeller labels the span from an
outermost ``*STRING_START`` to its matching ``*STRING_END`` as ``string``, so every supported
Python version gives the same labels.

This module uses the standard library only (no NumPy), so it runs under any interpreter.
"""

from __future__ import annotations

import io
import keyword
import tokenize
from token import EXACT_TOKEN_TYPES
from typing import Final

__all__ = ["CLASSES", "label_source"]

CLASSES: Final = ("identifier", "keyword", "operator", "number", "string", "comment", "whitespace", "other")
"""The class names; a label is an index into this tuple."""

IDENTIFIER, KEYWORD, OPERATOR, NUMBER, STRING, COMMENT, WHITESPACE, OTHER = range(len(CLASSES))

# Token types whose text is exactly the source slice they cover: checked, so a position mix-up in
# any tokenizer version shows up as an error instead of shifted labels.
_CHECKED: Final = {tokenize.NAME, tokenize.NUMBER, tokenize.STRING, tokenize.OP, tokenize.COMMENT}
_SPAN_START: Final = {getattr(tokenize, n) for n in ("FSTRING_START", "TSTRING_START") if hasattr(tokenize, n)}
_SPAN_END: Final = {getattr(tokenize, n) for n in ("FSTRING_END", "TSTRING_END") if hasattr(tokenize, n)}


def _line_offsets(text: str) -> list[int]:
    """Offset of the first character of each line (``offsets[row - 1]`` for tokenize's 1-based rows)."""
    offsets = [0]
    position = text.find("\n")
    while position != -1:
        offsets.append(position + 1)
        position = text.find("\n", position + 1)
    return offsets


def label_source(text: str) -> bytes:
    """The class (an index into :data:`CLASSES`) of every character of ``text``.

    Args:
        text: Python source with ``"\\n"`` line endings (as files read in text mode have).

    Returns:
        ``bytes`` of ``len(text)`` class indices.

    Raises:
        ValueError: ``text`` does not tokenize (an unterminated string, inconsistent dedent, ...)
            or contains ``"\\r"``.

    Example:
        >>> codes = "iko1s#_?"   # one character per class, in the order of CLASSES
        >>> "".join(codes[k] for k in label_source("if x == 1:  # c\\n"))
        'kk_i_oo_1o__###_'
        >>> [CLASSES[k] for k in label_source('f"{a}"')]
        ['string', 'string', 'string', 'string', 'string', 'string']
    """
    if "\r" in text:
        raise ValueError("Argument `text` must use '\\n' line endings, received text containing '\\r'")
    offsets = _line_offsets(text)
    labels = bytearray(OTHER if not c.isspace() else WHITESPACE for c in text)

    def span(token: tokenize.TokenInfo) -> tuple[int, int]:
        (start_row, start_col), (end_row, end_col) = token.start, token.end
        return offsets[start_row - 1] + start_col, offsets[end_row - 1] + end_col

    open_spans: list[int] = []
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type in _SPAN_START:
                open_spans.append(span(token)[0])
                continue
            if token.type in _SPAN_END:
                start = open_spans.pop()
                if not open_spans:
                    end = span(token)[1]
                    labels[start:end] = bytes([STRING]) * (end - start)
                continue
            if open_spans or token.type not in _CHECKED:
                continue  # inside an f-string, or whitespace-only tokens: the default label holds
            start, end = span(token)
            if text[start:end] != token.string:
                raise ValueError(f"tokenize reported {token.string!r} at {token.start}, but the source has "
                                 f"{text[start:end]!r} there")
            if token.type == tokenize.NAME:
                label = KEYWORD if keyword.iskeyword(token.string) else IDENTIFIER
            elif token.type == tokenize.OP and token.string not in EXACT_TOKEN_TYPES:
                label = OTHER  # 3.12+ reports a stray `$` or `?` as OP, 3.11 as ERRORTOKEN
            else:
                label = {tokenize.NUMBER: NUMBER, tokenize.STRING: STRING, tokenize.OP: OPERATOR}.get(
                    token.type, COMMENT)
            labels[start:end] = bytes([label]) * (end - start)
    except (tokenize.TokenError, SyntaxError) as error:
        raise ValueError(f"Cannot tokenize the source: {error}") from error
    return bytes(labels)
