"""Tests for input keys: content-only, order- and location-independent, the same in and out of git."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from layer_ci.errors import ConfigError, UsageError
from layer_ci.model import BuildSpec
from layer_ci.plan import inputs
from layer_ci.plan.inputs import INPUT_KEY_FORMAT, blob_id, input_key, input_keys, layer_inputs
from tests.support.repos import commit_all, git, init_git_repo, layer_spec

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

    monkeypatch.setattr("layer_ci.plan.inputs.os.scandir", ReversedScandir)
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
            ".git/HEAD": "ref: refs/heads/main\n",
            ".DS_Store": "junk",
            "lib/.DS_Store": "junk",
        },
    )
    assert key_of(source) == before


def test_a_sourceless_module_outside_pycache_is_content_of_a_files_layer(source: Path) -> None:
    # The build keeps it (normalise drops only __pycache__), so a change to it must rebuild.
    write_tree(source, {"python/pkg/stray.pyc": "one"})
    before = key_of(source)
    write_tree(source, {"python/pkg/stray.pyc": "two"})
    assert key_of(source) != before


PYTHON_CLUTTER = (
    ".venv/lib/python3.12/site-packages/x.py",
    ".pytest_cache/v/cache/lastfailed",
    ".mypy_cache/3.12/x.json",
    "my_client.egg-info/PKG-INFO",
    ".idea/workspace.xml",
    "pkg/stray.pyc",
    "pkg/_speedups.so",
    ".gitignore",
    ".DS_Store",
)


def python_layer(source: Path) -> Path:
    write_tree(source, {"requirements.txt": "six==1.17.0\n", "my_client.py": "A = 1\n", "pkg/core.py": ""})
    write_tree(source, {relative: "one" for relative in PYTHON_CLUTTER})
    return source


def test_python_layers_key_exactly_the_files_their_build_takes(tmp_path: Path) -> None:
    from layer_ci.build.source_files import python_own_files

    source = python_layer(tmp_path / "repo" / "layers" / "shared")
    spec = layer_spec(source, method="python", requirements="requirements.txt")
    shipped = set(python_own_files(spec, source / "requirements.txt")) | {"requirements.txt"}
    every_file = {path.relative_to(source).as_posix() for path in source.rglob("*") if path.is_file()}
    assert shipped == {"requirements.txt", "my_client.py", "pkg/core.py"}
    for relative in sorted(every_file):
        before = input_key(spec, source.parent.parent)
        write_tree(source, {relative: (source / relative).read_text() + "edited"})
        changed = input_key(spec, source.parent.parent) != before
        assert changed == (relative in shipped), relative


def test_a_local_package_outside_the_layer_folder_is_part_of_the_key(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    source = python_layer(root / "layers" / "shared")
    write_tree(root / "libs", {"client/pyproject.toml": "[project]\n", "client/client/__init__.py": "A=1"})
    write_tree(root / "libs", {"other/other.py": "B = 1\n", "client/.venv/x.py": "venv"})
    spec = layer_spec(source, method="python", requirements="requirements.txt")
    plain = layer_inputs([spec], root)[spec.name]
    write_tree(source, {"requirements.txt": "six==1.17.0\n-e ../../libs/client  # ours\n"})
    with_client = layer_inputs([spec], root)[spec.name]
    assert with_client.parts["requirements"] != plain.parts["requirements"]

    write_tree(root / "libs", {"client/client/__init__.py": "A = 2\n"})
    edited = layer_inputs([spec], root)[spec.name]
    assert edited.key != with_client.key
    assert edited.parts["requirements"] != with_client.parts["requirements"]
    assert edited.parts["files"] == with_client.parts["files"]
    # What the build leaves out of a python layer, and folders the requirements do not name, are no change.
    write_tree(root / "libs", {"other/other.py": "B = 2\n", "client/.venv/x.py": "edited"})
    assert layer_inputs([spec], root)[spec.name].key == edited.key


def test_a_local_package_outside_the_repository_is_never_walked(tmp_path: Path) -> None:
    # plan runs on forks' pull requests: their requirements must not have it walk the machine (-e /).
    root = tmp_path / "repo"
    source = python_layer(root / "layers" / "shared")
    write_tree(tmp_path / "outside", {"secret/key.txt": "one"})
    spec = layer_spec(source, method="python", requirements="requirements.txt")
    write_tree(source, {"requirements.txt": "six==1.17.0\n-e ../../../outside/secret\n-e /\n"})
    before = layer_inputs([spec], root)[spec.name]
    write_tree(tmp_path / "outside", {"secret/key.txt": "two"})
    assert layer_inputs([spec], root)[spec.name] == before


def test_an_edit_under_a_virtualenv_rebuilds_a_files_layer_but_not_a_python_one(tmp_path: Path) -> None:
    source = python_layer(tmp_path / "repo" / "layers" / "shared")
    root = source.parent.parent
    python = layer_spec(source, method="python", requirements="requirements.txt")
    files = layer_spec(source)
    before = input_key(python, root), input_key(files, root)
    write_tree(source, {".venv/lib/python3.12/site-packages/x.py": "two"})
    assert input_key(python, root) == before[0]  # the python build never ships .venv
    assert input_key(files, root) != before[1]  # a files layer ships the folder as it is


def test_a_requirements_file_under_a_left_out_name_still_decides_the_key(tmp_path: Path) -> None:
    source = python_layer(tmp_path / "repo" / "layers" / "shared")
    write_tree(source, {"env/requirements.txt": "six==1.17.0\n"})
    spec = layer_spec(source, method="python", requirements="env/requirements.txt")
    before = layer_inputs([spec], source.parent.parent)[spec.name]
    write_tree(source, {"env/requirements.txt": "six==1.16.0\n"})
    after = layer_inputs([spec], source.parent.parent)[spec.name]
    assert after.key != before.key
    assert inputs.changed_parts(before.parts, after.parts) == ("requirements",)


def test_layer_rooted_at_the_repository_ignores_layer_ci_state(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    write_tree(root, {"bin/tool": "x"})
    spec = layer_spec(root)
    first = input_key(spec, root)
    write_tree(root, {".layer-ci/registry/tool/1.zip": "zip", ".layer-ci/cache/config.json": "{}"})
    assert input_key(spec, root) == first


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


# --- blob ids and git checkouts ------------------------------------------------------------------


def test_blob_id_is_what_git_computes(tmp_path: Path) -> None:
    for data in (b"", b"hello\n", bytes(range(256)) * 3):
        path = tmp_path / "blob"
        path.write_bytes(data)
        expected = subprocess.run(
            ["git", "hash-object", "--no-filters", str(path)], capture_output=True, text=True, check=True
        ).stdout.strip()
        assert blob_id(data) == expected == inputs._hash_file(str(path))[0]


def test_key_is_built_from_parts_under_the_format_version(source: Path) -> None:
    spec = layer_spec(source, method="python", requirements="requirements.txt")
    found = layer_inputs([spec], source.parent.parent)[spec.name]
    assert list(found.parts) == ["build", "target", "requirements", "files"]
    combined = INPUT_KEY_FORMAT + "\n" + "".join(f"{part}={digest}\n" for part, digest in found.parts.items())
    assert found.key == "sha256:" + hashlib.sha256(combined.encode()).hexdigest()
    assert INPUT_KEY_FORMAT.endswith("v2")


def test_requirements_part_covers_only_the_requirements_file(source: Path) -> None:
    spec = layer_spec(source, method="python", requirements="requirements.txt")
    root = source.parent.parent
    before = layer_inputs([spec], root)[spec.name].parts
    (source / "requirements.txt").write_text("six==1.16.0\n")
    middle = layer_inputs([spec], root)[spec.name].parts
    (source / "python/pkg/core.py").write_text("VALUE = 3\n")
    after = layer_inputs([spec], root)[spec.name].parts
    assert inputs.changed_parts(before, middle) == ("requirements",)
    assert inputs.changed_parts(middle, after) == ("files",)


def _git_checkout(source: Path) -> Path:
    """Turn the repository holding ``source`` into a git checkout with everything committed."""
    root = source.parent.parent
    (root / ".gitignore").write_text("*.log\n")
    init_git_repo(root)
    return root


def _plain_copy(root: Path, destination: Path) -> Path:
    shutil.copytree(root, destination, symlinks=True, ignore=shutil.ignore_patterns(".git"))
    return destination / "layers" / "common"


def test_key_is_the_same_in_a_git_checkout_and_in_a_plain_copy(source: Path, tmp_path: Path) -> None:
    (source / "python" / "pkg" / "alias.py").symlink_to("core.py")
    root = _git_checkout(source)
    assert key_of(source) == key_of(_plain_copy(root, tmp_path / "plain-clean"))

    # Every way a working tree can differ from the index: each file must then be read, not looked up.
    (source / "python/pkg/core.py").write_text("VALUE = 2\n")  # modified
    (source / "lib/data/a.txt").chmod(0o755)  # executable bit added
    (source / "bin/tool").unlink()  # deleted
    (source / "new.txt").write_text("untracked\n")  # untracked
    (source / "debug.log").write_text("ignored by .gitignore, still in the zip\n")  # ignored
    (source / "python" / "pkg" / "alias.py").unlink()
    (source / "python" / "pkg" / "alias.py").symlink_to("__init__.py")  # link retargeted
    git(root, "add", "layers/common/new.txt")  # staged, not committed
    (source / "new.txt").write_text("changed after staging\n")
    assert key_of(source) == key_of(_plain_copy(root, tmp_path / "plain-dirty"))


def test_clean_tracked_files_are_taken_from_the_index_without_reading_them(
    source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _git_checkout(source)
    expected = key_of(source)
    (source / "lib/data/a.txt").write_text("edited\n")
    (source / "extra.txt").write_text("new\n")
    os.utime(source / "python/pkg/core.py")  # touched, same content: git compares it and finds it clean
    read: list[str] = []
    real_hash = inputs._hash_file

    def counting(path: str) -> tuple[str, bool]:
        read.append(os.path.relpath(path, source))
        return real_hash(path)

    monkeypatch.setattr(inputs, "_hash_file", counting)
    assert key_of(source) != expected
    assert sorted(read) == ["extra.txt", "lib/data/a.txt"]
    commit_all(root, "edits")
    read.clear()
    key_of(source)
    assert read == []


def test_sha256_repository_hashes_files_itself(source: Path, tmp_path: Path) -> None:
    root = source.parent.parent
    subprocess.run(
        ["git", "init", "--quiet", "--object-format=sha256", str(root)], capture_output=True, check=True
    )
    commit_all(root, "sha256 objects")
    assert key_of(source) == key_of(_plain_copy(root, tmp_path / "plain"))


def test_glob_characters_in_a_source_folder_are_literal(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    write_tree(root / "layers" / "lib[1]", {"x.txt": "one"})
    write_tree(root / "layers" / "lib1", {"x.txt": "other"})
    init_git_repo(root)
    spec = layer_spec(root / "layers" / "lib[1]")
    plain = tmp_path / "plain"
    shutil.copytree(root, plain, ignore=shutil.ignore_patterns(".git"))
    assert input_key(spec, root) == input_key(layer_spec(plain / "layers" / "lib[1]"), plain)


def test_input_keys_match_single_keys(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    write_tree(root / "layers" / "a", {"x.txt": "1"})
    write_tree(root / "layers" / "b", {"y.txt": "2"})
    specs = [layer_spec(root / "layers" / "a", "a"), layer_spec(root / "layers" / "b", "b")]
    keys = input_keys(specs, root)
    assert keys == {"a": input_key(specs[0], root), "b": input_key(specs[1], root)}
    assert keys["a"] != keys["b"]
