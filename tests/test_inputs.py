"""Tests for input keys: content-only, order- and location-independent, and cheap when nothing changed."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from layer_ci import inputs
from layer_ci.errors import ConfigError, UsageError
from layer_ci.inputs import STAT_CACHE_PATH, StatCache, input_key, input_keys
from layer_ci.model import BuildSpec
from tests.support.repos import layer_spec

OLD = 1_600_000_000_000_000_000  # an mtime far from "now": entries with it are cacheable


def write_tree(root: Path, files: dict[str, str], *, mtime_ns: int | None = OLD) -> None:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        if mtime_ns is not None:
            os.utime(path, ns=(mtime_ns, mtime_ns))


TREE = {
    "requirements.txt": "six==1.17.0\n",
    "python/pkg/__init__.py": "",
    "python/pkg/core.py": "VALUE = 1\n",
    "bin/tool": "#!/bin/sh\necho hi\n",
    "lib/data/a.txt": "a\n",
}


@pytest.fixture
def source(tmp_path: Path) -> Path:
    folder = tmp_path / "repo" / "layers" / "common"
    write_tree(folder, TREE)
    (folder / "bin" / "tool").chmod(0o755)
    return folder


def key_of(source: Path, **changes: object) -> str:
    spec = dataclasses.replace(layer_spec(source), **changes)  # type: ignore[arg-type]
    return input_key(spec, source.parent.parent)


def test_key_is_sha256_prefixed_hex(source: Path) -> None:
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", key_of(source))


def test_key_ignores_mtimes(source: Path) -> None:
    before = key_of(source)
    for path in source.rglob("*"):
        os.utime(path, ns=(OLD + 123_456_789, OLD + 987_654_321))
    assert key_of(source) == before


def test_fresh_copy_elsewhere_has_the_same_key(source: Path, tmp_path: Path) -> None:
    # A clone: other root, new inodes, mtimes of "now", files created in another order.
    clone = tmp_path / "elsewhere" / "deep" / "clone" / "layers" / "common"
    write_tree(clone, dict(reversed(TREE.items())), mtime_ns=None)
    (clone / "bin" / "tool").chmod(0o755)
    assert key_of(clone) == key_of(source)


def test_key_ignores_the_order_the_filesystem_lists_entries_in(
    source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = key_of(source)
    real_scandir = os.scandir

    class ReversedScandir:
        def __init__(self, path: str) -> None:
            self._scan = real_scandir(path)

        def __enter__(self) -> ReversedScandir:
            return self

        def __exit__(self, *exc: object) -> None:
            self._scan.close()

        def __iter__(self) -> Iterator[os.DirEntry[str]]:
            return iter(sorted(self._scan, key=lambda entry: entry.name, reverse=True))

    monkeypatch.setattr("layer_ci.inputs.os.scandir", ReversedScandir)
    shutil.rmtree(source.parent.parent / ".layer-ci")  # no cache: every file is walked and read again
    assert key_of(source) == expected


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(lambda s: (s / "python/pkg/core.py").write_text("VALUE = 2\n"), id="content"),
        pytest.param(lambda s: (s / "lib/data/a.txt").rename(s / "lib/data/b.txt"), id="rename"),
        pytest.param(lambda s: (s / "lib/data/new.txt").write_text(""), id="new-empty-file"),
        pytest.param(lambda s: (s / "lib/data/a.txt").unlink(), id="deleted-file"),
        pytest.param(lambda s: (s / "bin/tool").chmod(0o644), id="exec-bit-removed"),
        pytest.param(lambda s: (s / "lib/data/a.txt").chmod(0o744), id="exec-bit-added"),
        pytest.param(lambda s: (s / "python/pkg/link").symlink_to("core.py"), id="new-symlink"),
    ],
)
def test_key_changes_with_the_tree(source: Path, edit: Callable[[Path], object]) -> None:
    before = key_of(source)
    edit(source)
    assert key_of(source) != before


def test_key_does_not_depend_on_group_or_other_permission_bits(source: Path) -> None:
    before = key_of(source)
    (source / "lib/data/a.txt").chmod(0o600)
    (source / "bin/tool").chmod(0o700)
    assert key_of(source) == before


def test_symlink_target_text_is_part_of_the_key(source: Path) -> None:
    link = source / "python" / "pkg" / "alias.py"
    link.symlink_to("core.py")
    first = key_of(source)
    link.unlink()
    link.symlink_to("__init__.py")
    assert key_of(source) != first


@pytest.mark.parametrize(
    "changes",
    [
        {"build": BuildSpec("python", requirements="requirements.txt")},
        {"build": BuildSpec("files", binary_only=False)},
        {"build": BuildSpec("command", command=("make", "layer"))},
        {"build": BuildSpec("files", require_hashes=True)},
        {"compatible_runtimes": ("python3.12",)},
        {"compatible_runtimes": ("python3.11", "python3.12")},
        {"compatible_architectures": ("arm64",)},
    ],
    ids=["method", "binary-only", "command", "require-hashes", "runtime", "second-runtime", "architecture"],
)
def test_key_changes_with_build_settings_and_target(source: Path, changes: dict[str, object]) -> None:
    assert key_of(source, **changes) != key_of(source)


def test_command_argv_is_hashed_as_a_list_not_a_joined_string(source: Path) -> None:
    one = key_of(source, build=BuildSpec("command", command=("make", "a b")))
    two = key_of(source, build=BuildSpec("command", command=("make", "a", "b")))
    assert one != two


def test_runtime_and_architecture_order_is_no_change(source: Path) -> None:
    one = key_of(
        source, compatible_runtimes=("python3.11", "python3.12"), compatible_architectures=("x86_64", "arm64")
    )
    two = key_of(
        source, compatible_runtimes=("python3.12", "python3.11"), compatible_architectures=("arm64", "x86_64")
    )
    assert one == two


def test_name_region_and_description_do_not_change_the_build_key(source: Path) -> None:
    assert key_of(source, name="other", regions=("eu-west-1",), description="x") == key_of(source)


def test_bytecode_caches_git_and_finder_files_are_ignored(source: Path) -> None:
    before = key_of(source)
    write_tree(
        source,
        {
            "python/pkg/__pycache__/core.cpython-311.pyc": "junk",
            "python/pkg/stray.pyc": "junk",
            ".git/HEAD": "ref: refs/heads/main\n",
            ".DS_Store": "junk",
            "lib/.DS_Store": "junk",
        },
    )
    assert key_of(source) == before


def test_layer_rooted_at_the_repository_ignores_layer_ci_state(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    write_tree(root, {"bin/tool": "x"})
    spec = layer_spec(root)
    first = input_key(spec, root)
    assert (root / STAT_CACHE_PATH).exists()  # written inside the layer's own folder
    write_tree(root, {".layer-ci/registry/tool/1.zip": "zip"})
    assert input_key(spec, root) == input_key(spec, root) == first


def test_node_modules_is_ignored_only_for_nodejs_layers(source: Path) -> None:
    nodejs = BuildSpec("nodejs", requirements="package-lock.json")
    files_before, nodejs_before = key_of(source), key_of(source, build=nodejs)
    write_tree(source, {"nodejs/node_modules/left-pad/index.js": "module.exports = 1\n"})
    assert key_of(source, build=nodejs) == nodejs_before
    assert key_of(source) != files_before  # a files layer ships node_modules as content


def test_missing_source_folder_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"layers\.common-deps\.source: folder .* does not exist"):
        input_key(layer_spec(tmp_path / "nope"), tmp_path)


def test_fifo_in_source_is_refused_without_reading_it(source: Path) -> None:
    os.mkfifo(source / "pipe")
    with pytest.raises(UsageError, match="neither a file, a folder nor a symlink"):
        key_of(source)


# --- the stat cache -------------------------------------------------------------------------------


def test_second_run_reads_no_file(source: Path) -> None:
    root = source.parent.parent
    spec = layer_spec(source)
    first = StatCache.for_root(root)
    key = input_key(spec, root, cache=first)
    first.save()
    assert first.files_hashed == len(TREE)
    second = StatCache.for_root(root)
    assert input_key(spec, root, cache=second) == key
    assert (second.files_hashed, second.files_reused) == (0, len(TREE))


def test_cache_lives_under_dot_layer_ci_keyed_by_repository_relative_paths(source: Path) -> None:
    root = source.parent.parent
    key_of(source)
    data = json.loads((root / STAT_CACHE_PATH).read_text())
    assert data["version"] == inputs.STAT_CACHE_VERSION
    assert set(data["entries"]) == {f"layers/common/{relative}" for relative in TREE}


def test_same_size_edit_with_restored_mtime_is_noticed(source: Path) -> None:
    # `touch -d` or rsync -t can put the old mtime back; the ctime still moves, so the cache misses.
    before = key_of(source)
    target = source / "python/pkg/core.py"
    target.write_text("VALUE = 9\n")
    os.utime(target, ns=(OLD, OLD))
    assert key_of(source) != before


def test_files_changed_moments_ago_are_not_remembered(source: Path) -> None:
    # Racily clean: a file rewritten within the mtime resolution could keep identical stats.
    root = source.parent.parent
    fresh = source / "python/pkg/fresh.py"
    fresh.write_text("A = 1\n")
    cache = StatCache.for_root(root)
    input_key(layer_spec(source), root, cache=cache)
    cache.save()
    entries = json.loads((root / STAT_CACHE_PATH).read_text())["entries"]
    assert "layers/common/python/pkg/fresh.py" not in entries
    assert "layers/common/python/pkg/core.py" in entries


def test_damaged_cache_is_ignored(source: Path) -> None:
    root = source.parent.parent
    expected = key_of(source)
    (root / STAT_CACHE_PATH).write_text("{not json")
    assert key_of(source) == expected
    tool = source / "bin" / "tool"
    st = tool.stat()
    signature = f"{st.st_size} {st.st_mtime_ns} {st.st_ctime_ns} {st.st_ino} "
    for entry in ("x", 7, signature + "0" * 63, signature + "0" * 64):
        document = {"version": inputs.STAT_CACHE_VERSION, "entries": {"layers/common/bin/tool": entry}}
        (root / STAT_CACHE_PATH).write_text(json.dumps(document))
        assert (key_of(source) == expected) is (entry != signature + "0" * 64)


def test_stale_cache_entry_for_an_edited_file_is_not_trusted(source: Path) -> None:
    root = source.parent.parent
    key_of(source)
    target = source / "lib/data/a.txt"
    target.write_text("a much longer text than before\n")
    os.utime(target, ns=(OLD, OLD))
    fresh = StatCache(None)
    assert input_key(layer_spec(source), root, cache=fresh) == key_of(source)


def test_input_keys_shares_one_cache_and_prunes_files_of_no_layer(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    write_tree(root / "layers" / "a", {"x.txt": "1"})
    write_tree(root / "layers" / "b", {"y.txt": "2"})
    specs = [layer_spec(root / "layers" / "a", "a"), layer_spec(root / "layers" / "b", "b")]
    keys = input_keys(specs, root, prune_cache=True)
    assert keys == {"a": input_key(specs[0], root), "b": input_key(specs[1], root)}
    assert keys["a"] != keys["b"]
    input_keys(specs[:1], root, prune_cache=True)
    entries = json.loads((root / STAT_CACHE_PATH).read_text())["entries"]
    assert set(entries) == {"layers/a/x.txt"}


def test_unwritable_cache_does_not_break_the_key(source: Path) -> None:
    root = source.parent.parent
    # A file where the cache folder should be: mkdir fails for every user, root included.
    (root / ".layer-ci").mkdir()
    (root / STAT_CACHE_PATH.parent).write_text("not a folder")
    expected = input_key(layer_spec(source), root, cache=StatCache(None))
    assert key_of(source) == expected
    assert (root / STAT_CACHE_PATH.parent).read_text() == "not a folder"
