"""The /opt stand-in: layers merged in the function's order, hardlinked from the cache, cached as a whole."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from layer_ci.engine.assemble import (
    LayerConflictError,
    assemble_opt,
    discard_opt,
    find_conflicts,
    merged_view,
    opt_key,
    verify_opt,
)
from layer_ci.engine.extract import LayerTree, extract_layer
from tests.engine.engine_support import file, link, write_zip


def _layers(tmp_path: Path) -> tuple[Path, LayerTree, LayerTree]:
    cache = tmp_path / "cache"
    first = extract_layer(
        write_zip(
            tmp_path / "first.zip",
            [
                file("python/shared.py", "WHO = 'first'\n"),
                file("python/only_first.py", ""),
                file("bin/tool", "1"),
            ],
        ),
        cache,
    )
    second = extract_layer(
        write_zip(
            tmp_path / "second.zip",
            [
                file("python/shared.py", "WHO = 'second'\n"),
                file("lib/libx.so", "x"),
                link("lib/libx.so.1", "libx.so"),
            ],
        ),
        cache,
    )
    return cache, first, second


def test_later_layer_wins_and_files_are_hardlinks_into_the_cache(tmp_path: Path) -> None:
    cache, first, second = _layers(tmp_path)
    opt = assemble_opt([first, second], cache, names=["first", "second"])

    assert not opt.reused
    assert (opt.root / "python" / "shared.py").read_text() == "WHO = 'second'\n"
    assert (opt.root / "python" / "only_first.py").exists()
    assert os.readlink(opt.root / "lib" / "libx.so.1") == "libx.so"
    assert (opt.root / "bin" / "tool").stat().st_ino == (first.root / "bin" / "tool").stat().st_ino
    assert stat.S_IMODE((opt.root / "python").stat().st_mode) == 0o555  # read-only, as Lambda's /opt
    assert merged_view([first, second])["python/shared.py"][0] == 1

    swapped = assemble_opt([second, first], cache, names=["second", "first"])
    assert swapped.key != opt.key
    assert (swapped.root / "python" / "shared.py").read_text() == "WHO = 'first'\n"


def test_warm_assembly_is_a_lookup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache, first, second = _layers(tmp_path)
    cold = assemble_opt([first, second], cache)

    def no_rebuild(*_args: object) -> None:
        raise AssertionError("a warm assembly must not rebuild the tree")

    monkeypatch.setattr("layer_ci.engine.assemble._build", no_rebuild)
    warm = assemble_opt([first, second], cache)
    assert warm.reused and warm.root == cold.root
    assert cold.key == opt_key([first, second])
    assert verify_opt(warm) == []


def test_writes_into_opt_are_detected_and_the_cache_is_dropped(tmp_path: Path) -> None:
    cache, first, second = _layers(tmp_path)
    opt = assemble_opt([first, second], cache)
    shared = opt.root / "python" / "shared.py"
    os.chmod(opt.root / "python", 0o700)
    os.chmod(shared, 0o644)
    shared.write_text("tampered\n")  # root ignores read-only bits: a careless test can do this
    (opt.root / "python" / "new.txt").write_text("x")

    problems = verify_opt(opt)
    assert "python/shared.py (changed)" in problems and "python/new.txt (added)" in problems
    other = assemble_opt([second, first], cache)
    os.chmod(other.root / "bin", 0o700)
    (other.root / "bin" / "tool").unlink()
    assert verify_opt(other) == ["bin/tool (removed)"]
    discard_opt(opt)
    assert not opt.root.exists() and not second.root.exists()
    fresh = extract_layer(tmp_path / "second.zip", cache)
    assert (fresh.root / "python" / "shared.py").read_text() == "WHO = 'second'\n"


def test_a_folder_in_one_layer_and_a_file_in_another_cannot_merge(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    as_file = extract_layer(write_zip(tmp_path / "a.zip", [file("python/thing", "x")]), cache)
    as_dir = extract_layer(write_zip(tmp_path / "b.zip", [file("python/thing/mod.py", "x")]), cache)
    assert find_conflicts([as_file, as_dir], ["a", "b"]) == [
        "python/thing is a file in layer a but a dir in layer b"
    ]
    with pytest.raises(LayerConflictError, match="python/thing is a file in layer a but a dir in layer b"):
        assemble_opt([as_file, as_dir], cache, names=["a", "b"])
    assert not any(path.name.startswith(".tmp") for path in (cache / "opt").iterdir())


def test_links_that_escape_only_once_merged_are_refused(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    dot = extract_layer(write_zip(tmp_path / "a.zip", [link("up", ".")]), cache)
    climb = extract_layer(write_zip(tmp_path / "b.zip", [link("out", "up/..")]), cache)
    with pytest.raises(LayerConflictError, match="resolves outside /opt"):
        assemble_opt([dot, climb], cache)
