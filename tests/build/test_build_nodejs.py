"""Tests for nodejs layers: ``npm ci`` of the lock file's production dependencies into nodejs/node_modules."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from layer_ci.build.layer import build_layer
from layer_ci.errors import BuildError
from layer_ci.model import Architecture, BuildSpec, LayerSpec


def node_layer(
    tmp_path: Path,
    package: dict[str, object],
    lock: dict[str, object] | None,
    *,
    architectures: tuple[Architecture, ...] = ("x86_64",),
) -> LayerSpec:
    source = tmp_path / "src"
    source.mkdir(exist_ok=True)
    (source / "package.json").write_text(json.dumps(package, indent=2))
    if lock is not None:
        (source / "package-lock.json").write_text(json.dumps(lock, indent=2))
    return LayerSpec(
        name="node-deps",
        source=source,
        build=BuildSpec("nodejs"),
        compatible_runtimes=("nodejs20.x",),
        compatible_architectures=architectures,
        regions=("us-east-1",),
    )


EMPTY_PACKAGE = {"name": "shop-deps", "version": "1.0.0", "private": True}
EMPTY_LOCK = {
    "name": "shop-deps",
    "version": "1.0.0",
    "lockfileVersion": 3,
    "requires": True,
    "packages": {"": {"name": "shop-deps", "version": "1.0.0"}},
}
SMALL_PACKAGE = {**EMPTY_PACKAGE, "dependencies": {"is-number": "7.0.0"}}
SMALL_LOCK = {
    **EMPTY_LOCK,
    "packages": {
        "": {"name": "shop-deps", "version": "1.0.0", "dependencies": {"is-number": "7.0.0"}},
        "node_modules/is-number": {
            "version": "7.0.0",
            "resolved": "https://registry.npmjs.org/is-number/-/is-number-7.0.0.tgz",
            "integrity": "sha512-41Cifkg6e8TylSpdtTpeLVMqvSBEVzTttHvERD741+pnZ8ANv0004MRL43"
            "QKPDlK9cGvNp6NZWZUBlbGXYxxng==",
            "license": "MIT",
            "engines": {"node": ">=0.12.0"},
        },
    },
}


def test_package_without_dependencies_builds_offline_into_nodejs(tmp_path: Path) -> None:
    spec = node_layer(tmp_path, EMPTY_PACKAGE, EMPTY_LOCK)
    built = build_layer(spec, tmp_path / "out", input_key="sha256:k")
    names = {name for name, _ in built.manifest.files}
    assert {"nodejs/package.json", "nodejs/package-lock.json"} <= names
    assert all(name.startswith("nodejs/") for name in names)
    again = build_layer(spec, tmp_path / "again", input_key="sha256:k")
    assert again.zip_path.read_bytes() == built.zip_path.read_bytes()


@pytest.mark.network
def test_locked_dependency_is_installed_for_both_architectures_and_listed(tmp_path: Path) -> None:
    spec = node_layer(tmp_path, SMALL_PACKAGE, SMALL_LOCK, architectures=("x86_64", "arm64"))
    built = build_layer(spec, tmp_path / "out", input_key="sha256:k", cache_dir=tmp_path / "cache")
    with zipfile.ZipFile(built.zip_path) as archive:
        assert json.loads(archive.read("nodejs/node_modules/is-number/package.json"))["version"] == "7.0.0"
        # npm's hidden lock file is dropped, as `sam build` drops it; the layer's own lock stays
        assert "nodejs/node_modules/.package-lock.json" not in archive.namelist()
        assert "nodejs/package-lock.json" in archive.namelist()
    assert [(p.name, p.version) for p in built.manifest.packages] == [("is-number", "7.0.0")]
    assert (tmp_path / "cache" / "npm").is_dir()


def test_missing_lock_file_says_how_to_make_one(tmp_path: Path) -> None:
    spec = node_layer(tmp_path, SMALL_PACKAGE, None)
    with pytest.raises(
        BuildError, match=r"no package-lock\.json or npm-shrinkwrap\.json in .*run `npm install`"
    ):
        build_layer(spec, tmp_path / "out", input_key="sha256:k")


def test_lock_out_of_sync_with_package_json_fails_with_npm_output(tmp_path: Path) -> None:
    spec = node_layer(tmp_path, SMALL_PACKAGE, EMPTY_LOCK)
    with pytest.raises(BuildError, match=r"layer node-deps: npm ci for x86_64 failed: .*in sync"):
        build_layer(spec, tmp_path / "out", input_key="sha256:k")
