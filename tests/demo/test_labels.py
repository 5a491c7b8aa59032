"""The per-character labeller: hand-checked lines, f-strings on every Python version, whole files."""

from __future__ import annotations

import sys
import tokenize

import pytest

from birnn.demo import CLASSES, find_sources, label_source

# One character per class, in the order of CLASSES, so that expectations line up under the code.
CODES = "iko1s#_?"


def codes(text: str) -> str:
    return "".join(CODES[k] for k in label_source(text))


@pytest.mark.parametrize(
    "source, expected",
    [
        ("if x == 1:  # c\n", "kk_i_oo_1o__###_"),
        ("id = iffy\n", "ii_o_iiii_"),
        ("def f(a, b=0x1F):\n", "kkk_ioio_io1111oo_"),
        ("    return None\n", "____kkkkkk_kkkk_"),
        ("x = 'a' \\\n    + 2.5e3\n", "i_o_sss_?_____o_11111_"),
        ('s = rb"\\n" """doc"""\n', "i_o_ssssss_sssssssss_"),
        ("lambda: ...  # ok $\n", "kkkkkko_ooo__######_"),
        ("match = case\n", "iiiii_o_iiii_"),  # soft keywords are identifiers to the tokenizer
        ("x = a @ b", "i_o_i_o_i"),  # no newline at the end of the text
        ("a $ b ?\n", "i_?_i_?_"),  # not Python: ERRORTOKEN up to 3.11, OP from 3.12 on
        ("", ""),
    ],
)
def test_hand_checked_lines(source, expected):
    assert codes(source) == expected


@pytest.mark.parametrize(
    "source",
    [
        'f"{a}"',
        'f"{a!r:>{width}} and {{braces}}"',
        "f'{x}' 'y' F'''{\n  z\n}'''",
        'rf"\\d{n}"',
        "f\"{f'{a}'}\"",  # nested, with the other quote (valid on 3.10 and 3.11 too)
    ],
)
def test_f_strings_are_strings_as_a_whole(source):
    """3.12+ splits f-strings into FSTRING_START/MIDDLE/END and the field's tokens; labels do not change."""
    labels = [CLASSES[k] for k in label_source(source)]
    assert len(labels) == len(source)
    assert {label for c, label in zip(source, labels) if not c.isspace()} == {"string"}, (source, labels)


def test_code_around_an_f_string():
    assert codes('print(f"{a}", b)\n') == "iiiiiosssssso_io_"


@pytest.mark.skipif(sys.version_info < (3, 12), reason="nested same-quote f-strings need Python 3.12 (PEP 701)")
def test_pep701_nested_f_string_with_the_same_quotes():
    assert codes('f"{f"{a}"}" + 1\n') == "sssssssssss_o_1_"


def test_offsets_count_characters_not_bytes():
    assert codes("é = 'ü'  # ±\n") == "i_o_sss__###_"


@pytest.mark.parametrize(
    "source, message",
    [
        ("s = '''never closed\n", "Cannot tokenize"),
        ("x = 1\r\n", "line endings"),
        ("if x:\n  a\n b\n", "Cannot tokenize"),
    ],
)
def test_sources_that_cannot_be_labelled(source, message):
    with pytest.raises(ValueError, match=message):
        label_source(source)


def test_every_standard_library_file_it_reads_round_trips():
    """Every character gets a label; labelled tokens cover exactly the text tokenize reports."""
    _, files = find_sources()
    for path in files[::25]:
        with tokenize.open(path) as handle:
            text = handle.read()
        labels = label_source(text)  # raises if a token's position disagrees with the text
        assert len(labels) == len(text), path
        assert max(labels, default=0) < len(CLASSES)
        kinds = {CLASSES[k] for k in labels}
        assert text.strip() == "" or "identifier" in kinds or "comment" in kinds or "string" in kinds, path
