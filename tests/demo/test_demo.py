"""``birnn demo`` end to end: tiny runs (seconds), --source, its errors, and one slower run that learns."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile

import numpy as np
import pytest

import birnn
from birnn.__main__ import main
from birnn.demo import CLASSES, run_demo


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    return out, run_demo(out=out, size="tiny", epochs=2, seed=0, verbose=0)


def write_package(folder, count=4):
    folder.mkdir()
    for i in range(count):
        (folder / f"m{i}.py").write_text(f"def f{i}(x):\n    # add {i}\n    return x + {i} * 'ab'\n" * 20)
    return folder


def test_tiny_demo_writes_the_model_the_table_and_the_picture(tiny_run):
    out, result = tiny_run
    assert result.model_path == out / "bidirectional.keras"
    with zipfile.ZipFile(result.model_path) as archive:
        config = json.loads(archive.read("config.json"))
    assert "Bidirectional" in json.dumps(config)
    table = (out / "accuracy.md").read_text().splitlines()
    assert table[0] == "| class | characters | LSTM | Bidirectional(LSTM) | change |"
    assert [row.split(" | ")[0].strip("| ") for row in table[2:]] == [*CLASSES, "overall"]
    assert result.figure_path == out / "demo.png" and result.figure_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert set(result.histories) == {"LSTM", "Bidirectional(LSTM)"}
    assert all(len(h["loss"]) == len(h["val_accuracy"]) == 2 for h in result.histories.values())
    assert result.notes == ()


def test_saved_model_loads_and_predicts_like_the_trained_one(tiny_run):
    _, result = tiny_run
    model = birnn.saving.load_model(result.model_path)
    x = np.array([[70, 71, 4, 72, 0, 0]])
    assert model.predict(x, verbose=0).shape == (1, 6, len(CLASSES))


def test_same_seed_same_result(tmp_path, tiny_run):
    _, first = tiny_run
    again = run_demo(out=tmp_path, size="tiny", epochs=2, seed=0, verbose=0)
    assert again.table.format() == first.table.format()
    assert again.table.overall == first.table.overall
    assert again.histories == first.histories


def test_the_command_prints_progress_bars_and_the_table(tmp_path, capsys):
    source = write_package(tmp_path / "src")
    out = tmp_path / "out"
    assert main(["demo", "--size", "tiny", "--epochs", "2", "--out", str(out), "--source", str(source)]) == 0
    printed = capsys.readouterr().out
    assert "Epoch 2/2" in printed and "━" in printed and "val_accuracy" in printed  # Keras-style progress bars
    assert "held-out accuracy per character class" in printed and "\noverall " in printed
    assert {p.name for p in out.iterdir()} == {"bidirectional.keras", "accuracy.md", "demo.png"}


def test_quiet_prints_nothing(tmp_path, capsys):
    source = write_package(tmp_path / "src")
    assert main(["demo", "--size", "tiny", "--epochs", "1", "--quiet", "--out", str(tmp_path / "out"),
                 "--source", str(source)]) == 0
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("make", [lambda p: (p / "notes.txt").write_text("no code here"), lambda p: None])
def test_folder_without_python_files_is_a_clear_error(tmp_path, capsys, make):
    make(tmp_path)
    assert main(["demo", "--size", "tiny", "--out", str(tmp_path / "out"), "--source", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("birnn demo: error: No Python files") and str(tmp_path) in error
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--size", "huge"], "one of tiny, small, default or a positive number"),
        (["--size", "0"], "size='0'"),
        (["--epochs", "0"], "must be a positive integer"),
        (["--device", "gpu"], "device='gpu'"),
    ],
)
def test_bad_arguments_are_usage_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", *argv])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("kwargs, message", [({"size": "huge"}, "size='huge'"), ({"epochs": 0}, "epochs=0"),
                                             ({"device": "cuda:0"} if not __import__("torch").cuda.is_available()
                                              else {"device": "nope"}, "device=")])
def test_bad_arguments_of_run_demo(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        run_demo(out=tmp_path, verbose=0, **kwargs)


def test_python_dash_m_birnn_and_the_help():
    done = subprocess.run([sys.executable, "-m", "birnn", "demo", "--help"], capture_output=True, text=True, check=True)
    assert "--source DIR" in done.stdout and "--size SIZE" in done.stdout


def test_bench_hands_its_arguments_to_the_benchmark_suite(monkeypatch, capsys):
    seen = []
    fake = type(sys)("benchmarks")
    fake.main = lambda argv: seen.append(argv) or 0
    monkeypatch.setitem(sys.modules, "benchmarks", fake)
    assert main(["bench", "--quick", "--cases", "a"]) == 0
    assert seen == [["--quick", "--cases", "a"]]


def test_bench_without_the_suite_says_where_it_is(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "benchmarks", None)  # import fails as if not installed
    monkeypatch.chdir(tmp_path)
    assert main(["bench"]) == 2
    assert "benchmarks/ folder of the birnn repository" in capsys.readouterr().err


@pytest.mark.slow
def test_bidirectional_beats_one_directional_on_held_out_characters(tmp_path):
    """800 windows x 8 epochs, two seeds (about 15 s each on 2 cores): both learn; reading ahead wins on
    average, on keywords too. One tiny run is chaotic (a last-bit change in a gradient moves its
    margin by several points), so the claim is about the mean of two.

    It runs the real command in a fresh process: in this one, earlier tests' bidirectional layers have
    left a second OpenMP thread pool behind, which slows later one-directional training down.
    """
    margins = {"overall": [], "keyword": []}
    for seed in (0, 1):
        out = tmp_path / str(seed)
        command = [sys.executable, "-m", "birnn", "demo", "--size", "800", "--epochs", "8", "--seed", str(seed),
                   "--quiet", "--out", str(out)]
        subprocess.run(command, check=True, timeout=120)
        rows = [line.strip("|").split("|") for line in (out / "accuracy.md").read_text().splitlines()[2:]]
        accuracy = {cells[0].strip(): [float(c.strip(" %")) for c in cells[2:4]] for cells in rows if "%" in cells[2]}
        assert accuracy["overall"][0] > 75  # the one-directional model learned too: a fair comparison
        for name, values in margins.items():
            values.append(accuracy[name][1] - accuracy[name][0])
    assert sum(margins["overall"]) / 2 > 1, margins
    assert sum(margins["keyword"]) / 2 > 0, margins
