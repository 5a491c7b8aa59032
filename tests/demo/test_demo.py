"""birnn demo end to end on tiny settings, --source, and its errors."""

from __future__ import annotations

import json
import zipfile

import pytest

from birnn.__main__ import main
from birnn.demo._train import run_demo


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    return out, run_demo(out=out, size="tiny", epochs=2, seed=0, verbose=0)


def test_tiny_demo_writes_the_model_the_table_and_the_picture(tiny_run):
    out, result = tiny_run
    assert result.model_path == out / "bidirectional.keras"
    with zipfile.ZipFile(result.model_path) as archive:
        config = json.loads(archive.read("config.json"))
    assert "Bidirectional" in json.dumps(config)
    assert (out / "accuracy.md").read_text().startswith("| class")
    assert result.figure_path is not None and result.figure_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert set(result.histories) == {"LSTM", "Bidirectional(LSTM)"}
    assert all(len(h["loss"]) == 2 for h in result.histories.values())


def test_bidirectional_beats_one_directional_on_held_out_characters(tiny_run):
    _, result = tiny_run
    assert result.table.overall["Bidirectional(LSTM)"] > result.table.overall["LSTM"]


def test_same_seed_same_result(tmp_path, tiny_run):
    _, first = tiny_run
    again = run_demo(out=tmp_path, size="tiny", epochs=2, seed=0, verbose=0)
    assert again.table.overall == first.table.overall


def test_source_folder_of_user_files(tmp_path, capsys):
    source = tmp_path / "src"
    source.mkdir()
    for i in range(4):
        (source / f"m{i}.py").write_text(f"def f{i}(x):\n    # add {i}\n    return x + {i} * 'ab'\n" * 20)
    assert main(["demo", "--size", "tiny", "--epochs", "1", "--out", str(tmp_path / "out"), "--source", str(source)]) == 0
    output = capsys.readouterr().out
    assert "held-out accuracy per character class" in output and "overall" in output
    assert (tmp_path / "out" / "bidirectional.keras").exists()


def test_folder_without_python_files_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("no code here")
    assert main(["demo", "--size", "tiny", "--out", str(tmp_path / "out"), "--source", str(tmp_path)]) == 2
    assert "No Python files" in capsys.readouterr().err


@pytest.mark.parametrize("kwargs, message", [({"size": "huge"}, "size='huge'"), ({"epochs": 0}, "epochs=0")])
def test_bad_arguments(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        run_demo(out=tmp_path, verbose=0, **kwargs)
