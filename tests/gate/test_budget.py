"""The limits check before publishing: all of a function's layers and its own code count, not just builds."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from layer_ci.build.manifest import write_manifest
from layer_ci.cli import main
from layer_ci.config.loader import load_config
from layer_ci.gate.budget import check_before_publish, function_code_bytes, recorded_unzipped_bytes
from layer_ci.model import BuiltLayer, Config, Manifest
from layer_ci.plan.inputs import layer_inputs
from layer_ci.plan.lockfile import Lock, LockedLayer, PublishedRef, load_lock, save_lock
from layer_ci.publish.folder_registry import LocalRegistry

CONFIG = """\
version: 1
settings:
  registry: local
layers:
  big:
    source: layers/big
    build: {method: files}
    compatible_runtimes: [python3.11]
    regions: [us-east-1]
  small:
    source: layers/small
    build: {method: files}
    compatible_runtimes: [python3.11]
    regions: [us-east-1]
functions:
  fn:
    source: functions/fn
    runtime: python3.11
    handler: app.handler
    layers: [big, small]
    test: [python, -c, "pass"]
"""
APP = b"def handler(event, context):\n    return 1\n"
BIG_LAYER_BYTES = 200_000_000
FUNCTION_DATA_BYTES = 70_000_000  # with the big layer: over Lambda's 262,144,000


def _sparse(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        handle.truncate(size)  # all zeros, no disk blocks: big to count, free to write


def _repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "layers" / "big" / "lib").mkdir(parents=True)
    (root / "layers" / "big" / "lib" / "data.txt").write_text("stands in for 200 MB\n")
    (root / "layers" / "small" / "bin").mkdir(parents=True)
    (root / "layers" / "small" / "bin" / "tool").write_text("#!/bin/sh\n")
    function = root / "functions" / "fn"
    function.mkdir(parents=True)
    (function / "app.py").write_bytes(APP)
    _sparse(function / "model.bin", FUNCTION_DATA_BYTES)
    # Not deployed with the function, so not counted.
    _sparse(function / "tests" / "fixture.bin", 300_000_000)
    _sparse(function / "__pycache__" / "app.cpython-311.pyc", 300_000_000)
    (root / "layer-ci.yml").write_text(CONFIG)
    return root


def _lock_big_as_published(config: Config, *, unzipped_bytes: int | None = BIG_LAYER_BYTES) -> LockedLayer:
    """Record layer 'big' as published at its current inputs (unchanged); 'small' stays new."""
    current = layer_inputs([config.layer("big")], config.root)["big"]
    arn = "arn:aws:lambda:us-east-1:000000000000:layer:big:1"
    locked = LockedLayer(
        current.key,
        hashlib.sha256(b"big zip").hexdigest(),
        {"us-east-1": PublishedRef(1, arn)},
        unzipped_bytes,
        current.parts,
    )
    save_lock(config.root, Lock({"big": locked}))
    return locked


def _built(config: Config, name: str, unzipped_bytes: int) -> BuiltLayer:
    manifest = Manifest(name, "sha256:" + "1" * 64, "2" * 64, 10, unzipped_bytes, (), ())
    zip_path = config.root / ".layer-ci" / "build" / f"{name}.zip"
    return BuiltLayer(config.layer(name), zip_path, zip_path.with_suffix(".manifest.json"), manifest)


@pytest.mark.parametrize("command", ["publish", "run"])
def test_commands_refuse_before_publishing_when_unchanged_layers_and_code_pass_the_limit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    root = _repo(tmp_path)
    _lock_big_as_published(load_config(root / "layer-ci.yml"))
    extra = ["--no-test"] if command == "run" else []
    assert main(["--config", str(root / "layer-ci.yml"), command, *extra]) == 1
    error = capsys.readouterr().err.strip().splitlines()[-1]
    code = FUNCTION_DATA_BYTES + len(APP)
    small = len("#!/bin/sh\n")
    assert error.startswith("layer-ci: error: Lambda limit exceeded: function 'fn' would be ")
    assert f"function code {code:,} bytes (70.0 MB)" in error
    assert f"layer 'big' {BIG_LAYER_BYTES:,} bytes (200.0 MB)" in error
    assert f"layer 'small' {small:,} bytes" in error
    assert f"{code + BIG_LAYER_BYTES + small - 262_144_000:,} bytes too many" in error
    # Refused before the first PublishLayerVersion: no version of either layer exists.
    registry = LocalRegistry(root / ".layer-ci" / "registry", "us-east-1")
    assert registry.list_versions("small") == [] == registry.list_versions("big")
    assert "small" not in load_lock(root).layers


def test_under_the_limit_the_same_repository_publishes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _repo(tmp_path)
    (root / "functions" / "fn" / "model.bin").unlink()
    _lock_big_as_published(load_config(root / "layer-ci.yml"))
    assert main(["--config", str(root / "layer-ci.yml"), "publish"]) == 0
    assert "published small v1" in capsys.readouterr().out


def test_size_of_an_unchanged_layer_comes_from_its_manifest_when_the_lock_lacks_it(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    config = load_config(root / "layer-ci.yml")
    locked = _lock_big_as_published(config, unzipped_bytes=None)
    manifest = Manifest("big", locked.input_key, locked.zip_sha256, 1000, BIG_LAYER_BYTES, (), ())
    write_manifest(manifest, root / ".layer-ci" / "build" / "big.manifest.json")
    lock = load_lock(root)
    assert recorded_unzipped_bytes(config, lock, "big") == BIG_LAYER_BYTES
    [problem] = check_before_publish(config, [_built(config, "small", 10)], lock, warn=pytest.fail)
    assert "function 'fn'" in problem and f"layer 'big' {BIG_LAYER_BYTES:,} bytes" in problem


def test_unknown_size_is_a_warning_and_only_that_layer_is_left_out(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    config = load_config(root / "layer-ci.yml")
    locked = _lock_big_as_published(config, unzipped_bytes=None)
    # A manifest from other inputs (a later local build) says nothing about the published zip.
    stale = Manifest("big", "sha256:" + "9" * 64, locked.zip_sha256, 1000, BIG_LAYER_BYTES, (), ())
    write_manifest(stale, root / ".layer-ci" / "build" / "big.manifest.json")
    warnings: list[str] = []
    small = _built(config, "small", 200_000_000)
    problems = check_before_publish(config, [small], load_lock(root), warn=warnings.append)
    [warning] = warnings
    assert warning.startswith("warning: the unzipped size of layer 'big' is unknown")
    # Function code and the built layer still count: 70 MB + 200 MB is over on its own.
    [problem] = problems
    assert f"function code {FUNCTION_DATA_BYTES + len(APP):,} bytes" in problem
    assert "layer 'small' 200,000,000 bytes" in problem and "layer 'big'" not in problem.split(";")[0]


def test_functions_not_using_a_built_layer_are_not_checked(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    config = load_config(root / "layer-ci.yml")
    _lock_big_as_published(config)
    assert check_before_publish(config, [], load_lock(root)) == []


def test_built_layers_names_and_descriptions_are_checked(tmp_path: Path) -> None:
    import dataclasses

    root = _repo(tmp_path)
    config = load_config(root / "layer-ci.yml")
    built = _built(config, "small", 10)
    wordy = dataclasses.replace(built, spec=dataclasses.replace(built.spec, description="x" * 300))
    problems = check_before_publish(config, [wordy], Lock(), warn=lambda _message: None)
    assert any("description is 300 characters" in problem for problem in problems)


def test_function_code_skips_tests_bytecode_and_linked_folders(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    function = load_config(root / "layer-ci.yml").function("fn")
    expected = FUNCTION_DATA_BYTES + len(APP)
    assert function_code_bytes(function) == expected
    source = root / "functions" / "fn"
    (source / "lib" / "tests").mkdir(parents=True)  # only the top-level tests/ is left out
    (source / "lib" / "tests" / "helper.py").write_bytes(b"x" * 100)
    (source / "stray.pyc").write_bytes(b"x" * 100)
    (source / "loop").symlink_to(source, target_is_directory=True)
    (source / "dangling").symlink_to(source / "missing")
    (source / "alias.py").symlink_to("app.py")  # a linked file counts with its target's size
    assert function_code_bytes(function) == expected + 100 + len(APP)
