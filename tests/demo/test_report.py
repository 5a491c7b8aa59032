"""The accuracy table and the picture."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from birnn.demo import CLASSES, accuracy_table, encode, label_source, matplotlib_missing, write_figure
from birnn.demo._figure import snippet_lines


def test_table_counts_and_per_class_accuracy():
    truth = np.array([0, 0, 0, 1, 1, 6])
    table = accuracy_table(truth, {"one": np.array([0, 0, 1, 1, 0, 6]), "two": truth}, CLASSES)
    assert table.counts == (3, 2, 0, 0, 0, 0, 1, 0)
    assert table.accuracy["one"][:2] == (2 / 3, 0.5) and np.isnan(table.accuracy["one"][2])
    assert table.overall == {"one": 4 / 6, "two": 1.0}
    text = table.format()
    assert text.splitlines()[0].split() == ["class", "characters", "one", "two", "change"]
    assert "number" in text and text.splitlines()[-1].split() == ["overall", "6", "66.7%", "100.0%", "+33.3"]
    markdown = table.format(markdown=True).splitlines()
    assert markdown[0] == "| class | characters | one | two | change |"
    assert markdown[5] == "| number | 0 | - | - | - |"


def test_snippet_keeps_whole_lines_and_aligns_every_labelling():
    code = "tail of a line\nx = f(1)\n# done\npartial"
    ids = encode(code)[None]
    truth = np.frombuffer(label_source(code + "\n"), np.uint8)[: len(code)][None]
    lines, per_line = snippet_lines(ids, {"truth": truth, "shifted": (truth + 1) % len(CLASSES)})
    assert lines == ["x = f(1)", "# done"]
    assert [CLASSES[k] for k in per_line["truth"][1]] == ["comment"] * 6
    assert all(len(values) == len(line) for values, line in zip(per_line["shifted"], lines))


def test_picture_is_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    code = "def f(x):\n    return x + 1  # one\n" * 3
    ids, truth = encode(code)[None], np.frombuffer(label_source(code), np.uint8)[None].astype(np.int64)
    wrong = truth.copy()
    wrong[0, :3] = 0
    history = {"loss": [1.0, 0.5], "accuracy": [0.5, 0.8], "val_loss": [1.1, 0.6], "val_accuracy": [0.4, 0.7]}
    path = write_figure(tmp_path / "demo.png", {"a": history, "b": history}, ids, truth, {"a": wrong, "b": truth})
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_missing_matplotlib_is_a_message_not_an_error(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "matplotlib" else real(name, *a))
    assert "pip install matplotlib" in matplotlib_missing()
