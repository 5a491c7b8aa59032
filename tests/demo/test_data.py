"""The data set: vocabulary, file discovery, windows that round-trip to the files, the split by file."""

from __future__ import annotations

import tokenize

import numpy as np
import pytest

from birnn.demo import (
    OOV,
    PAD,
    VOCABULARY_SIZE,
    SourceError,
    build_dataset,
    decode,
    encode,
    find_sources,
    label_source,
)


def write_package(folder, count=6, lines=30):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        body = "".join(f"def f{i}_{k}(x):\n    # step {k}\n    return x * {k} + 'ab'\n" for k in range(lines))
        (folder / f"m{i}.py").write_text(body)
    return folder


def test_vocabulary_covers_printable_ascii_tab_and_newline():
    text = "\t\n" + "".join(map(chr, range(32, 127)))
    ids = encode(text)
    assert sorted(ids.tolist()) == list(range(2, VOCABULARY_SIZE))
    assert decode(ids) == text
    assert encode("é€\x0c").tolist() == [OOV] * 3
    assert PAD not in encode("any text at all").tolist()


def test_standard_library_without_tests_site_packages_or_huge_files():
    root, files = find_sources()
    relative = [f.relative_to(root).parts for f in files]
    assert len(files) > 200
    assert not any({"test", "tests", "idle_test", "site-packages"} & set(parts[:-1]) for parts in relative)
    assert all(f.stat().st_size <= 256 * 1024 for f in files)
    assert files == sorted(files)


def test_source_folder_skips_hidden_and_cache_folders(tmp_path):
    write_package(tmp_path / "pkg", count=2)
    write_package(tmp_path / ".venv" / "lib", count=2)
    write_package(tmp_path / "__pycache__", count=1)
    write_package(tmp_path / "pkg" / "tests", count=1)  # a user's own tests are code like any other
    root, files = find_sources(tmp_path)
    assert [f.relative_to(root).as_posix() for f in files] == ["pkg/m0.py", "pkg/m1.py", "pkg/tests/m0.py"]


@pytest.mark.parametrize("make, message", [
    (lambda p: (p / "notes.txt").write_text("hello"), "No Python files"),
    (lambda p: None, "No Python files"),
])
def test_folder_without_python_files(tmp_path, make, message):
    make(tmp_path)
    with pytest.raises(SourceError, match=message):
        find_sources(tmp_path)


def test_missing_folder(tmp_path):
    with pytest.raises(SourceError, match="not found"):
        build_dataset(tmp_path / "nope", train_windows=4, test_windows=2)


def test_one_usable_file_is_not_enough(tmp_path):
    write_package(tmp_path, count=1)
    (tmp_path / "broken.py").write_text("s = '''never closed\n")
    with pytest.raises(SourceError, match="at least two Python files.*found 1; 1 did not tokenize"):
        build_dataset(tmp_path, train_windows=4, test_windows=2)


def test_windows_round_trip_to_the_files(tmp_path):
    """Every window is a slice of one file: its text and labels, then padding after the file's end."""
    write_package(tmp_path, count=5, lines=7)
    data = build_dataset(tmp_path, train_windows=1000, test_windows=1000, window=64)
    texts = {f"m{i}.py": (tmp_path / f"m{i}.py").read_text() for i in range(5)}
    for split in (data.train, data.test):
        assert split.x.dtype == split.y.dtype == np.int64
        # asking for more windows than exist gives every window of the split's files, in file order
        expected_x, expected_y = [], []
        for name in split.files:
            text = texts[name]
            ids, labels = encode(text), np.frombuffer(label_source(text), np.uint8)
            count = -(-len(text) // 64)
            padded = np.zeros(count * 64, np.int64)
            padded[: len(text)] = ids
            expected_x.append(padded.reshape(count, 64))
            padded = np.zeros(count * 64, np.int64)
            padded[: len(text)] = labels
            expected_y.append(padded.reshape(count, 64))
        np.testing.assert_array_equal(split.x, np.concatenate(expected_x))
        np.testing.assert_array_equal(split.y, np.concatenate(expected_y))
        assert decode(split.x.ravel()) == "".join(texts[name] for name in split.files)


def test_split_by_file_and_sizes():
    data = build_dataset(train_windows=200, test_windows=50, seed=3)
    assert data.train.x.shape == data.train.y.shape == (200, 128)
    assert data.test.x.shape == (50, 128)
    assert set(data.train.files).isdisjoint(data.test.files)
    assert data.snippet.files[0] in data.test.files
    assert len(set(data.train.files)) >= 200 // 16  # at most 16 windows per file while files remain
    assert ((data.train.y == 0) | (data.train.x != PAD)).all()  # padding is labelled 0


def test_same_seed_same_data_other_seed_other_data():
    first = build_dataset(train_windows=40, test_windows=10, seed=1)
    again = build_dataset(train_windows=40, test_windows=10, seed=1)
    other = build_dataset(train_windows=40, test_windows=10, seed=2)
    np.testing.assert_array_equal(first.train.x, again.train.x)
    np.testing.assert_array_equal(first.test.y, again.test.y)
    assert first.train.files == again.train.files != other.train.files


def test_unreadable_files_are_skipped_and_reported(tmp_path):
    write_package(tmp_path, count=4)
    (tmp_path / "latin1.py").write_bytes(b"x = '\xe9'\n")  # not UTF-8 and no coding cookie
    (tmp_path / "cookie.py").write_bytes(b"# -*- coding: latin-1 -*-\nx = '\xe9'\n")
    (tmp_path / "empty.py").write_text("")
    data = build_dataset(tmp_path, train_windows=500, test_windows=500)
    assert data.unreadable == ("latin1.py",)
    assert "cookie.py" in data.train.files + data.test.files
    with tokenize.open(tmp_path / "cookie.py") as handle:
        assert "é" in handle.read()


@pytest.mark.parametrize("kwargs", [{"train_windows": 0}, {"test_windows": -1}, {"window": 0}])
def test_bad_sizes(kwargs):
    arguments = {"train_windows": 4, "test_windows": 2, **kwargs}
    with pytest.raises(ValueError, match="must be positive"):
        build_dataset(**arguments)
