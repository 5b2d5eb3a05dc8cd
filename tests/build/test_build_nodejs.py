"""Tests for nodejs layers: ``npm ci`` of the lock file's production dependencies into nodejs/node_modules."""

from __future__ import annotations

import json
import os
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
def test_locked_dependency_is_installed_for_both_architectures_and_listed(
    tmp_path: Path, cache_user: int
) -> None:
    spec = node_layer(tmp_path, SMALL_PACKAGE, SMALL_LOCK, architectures=("x86_64", "arm64"))
    built = build_layer(spec, tmp_path / "out", input_key="sha256:k", cache_dir=tmp_path / "cache")
    with zipfile.ZipFile(built.zip_path) as archive:
        assert json.loads(archive.read("nodejs/node_modules/is-number/package.json"))["version"] == "7.0.0"
        # npm's hidden lock file is dropped, as `sam build` drops it; the layer's own lock stays
        assert "nodejs/node_modules/.package-lock.json" not in archive.namelist()
        assert "nodejs/package-lock.json" in archive.namelist()
    assert [(p.name, p.version) for p in built.manifest.packages] == [("is-number", "7.0.0")]
    # Run by root, npm ci of registry tarballs alone runs as the lasting cache's own user: no code of the
    # packages' runs (--ignore-scripts), and nothing the sandbox's user runs may write that cache.
    cache = tmp_path / "cache" / (f"npm-uid{cache_user}" if os.geteuid() == 0 else "npm")
    kept = list(cache.rglob("*"))
    assert any(path.is_file() for path in kept)
    assert {path.lstat().st_uid for path in kept} == {cache_user if os.geteuid() == 0 else os.geteuid()}


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


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run npm as another user")
def test_a_lock_file_cannot_have_root_files_packed_into_the_layer(tmp_path: Path, cache_user: int) -> None:
    # Run by root, npm ci packed a `file:` tarball only root may read into node_modules, and so the zip.
    import tarfile

    secret = tmp_path / "root-only"
    (secret / "package").mkdir(parents=True)
    (secret / "package" / "package.json").write_text('{"name": "secret", "version": "1.0.0"}')
    (secret / "package" / "key.txt").write_text("TOPSECRET\n")
    with tarfile.open(secret / "secret.tgz", "w:gz") as tarball:
        tarball.add(secret / "package", arcname="package")
    (secret / "secret.tgz").chmod(0o600)
    spec_url = f"file:{secret / 'secret.tgz'}"
    package = {**EMPTY_PACKAGE, "dependencies": {"secret": spec_url}}
    lock = {
        **EMPTY_LOCK,
        "packages": {
            "": {"name": "shop-deps", "version": "1.0.0", "dependencies": {"secret": spec_url}},
            "node_modules/secret": {"version": "1.0.0", "resolved": spec_url},
        },
    }
    spec = node_layer(tmp_path, package, lock)
    with pytest.raises(BuildError) as raised:
        build_layer(spec, tmp_path / "out", input_key="sha256:k", cache_dir=tmp_path / "cache")
    assert "TOPSECRET" not in str(raised.value)
    assert "EACCES" in str(raised.value) or "ENOENT" in str(raised.value), str(raised.value)
    assert not (tmp_path / "cache" / f"npm-uid{cache_user}").exists()  # not an install of registry tarballs


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run npm as another user")
def test_a_layers_npmrc_cannot_have_root_write_where_it_says(tmp_path: Path) -> None:
    # npm pack reads the folder's .npmrc: run by root, its logs-dir or cache were written anywhere.
    closed = tmp_path / "root-only"
    closed.mkdir(mode=0o700)
    spec = node_layer(tmp_path, EMPTY_PACKAGE, EMPTY_LOCK)
    (spec.source / ".npmrc").write_text(f"logs-dir={closed / 'logs'}\ncache={closed / 'cache'}\n")
    (spec.source / "index.js").write_text("exports.x = 1;\n")
    built = build_layer(spec, tmp_path / "out", input_key="sha256:k")
    assert "nodejs/index.js" in {name for name, _ in built.manifest.files}
    assert list(closed.iterdir()) == []


@pytest.mark.parametrize(
    ("entry", "registry_only"),
    [
        ({"resolved": "https://registry.npmjs.org/a/-/a-1.0.0.tgz", "integrity": "sha512-x"}, True),
        ({"resolved": "https://registry.npmjs.org/a/-/a-1.0.0.tgz"}, False),  # nothing checks what came
        ({"resolved": "file:../a.tgz", "integrity": "sha512-x"}, False),
        ({"resolved": "git+ssh://git@github.com/a/a.git#abc", "integrity": "sha512-x"}, False),
        ({"resolved": "packages/a", "link": True}, False),
        ({"version": "1.0.0"}, False),
    ],
    ids=["registry", "no-integrity", "file", "git", "link", "unresolved"],
)
def test_only_registry_tarballs_keep_npm_s_cache(
    tmp_path: Path, entry: dict[str, object], registry_only: bool
) -> None:
    from layer_ci.build.nodejs import _registry_tarballs_only

    (tmp_path / "package.json").write_text(json.dumps({**EMPTY_PACKAGE, "dependencies": {"a": "^1.0.0"}}))
    lock = tmp_path / "package-lock.json"
    lock.write_text(json.dumps({**EMPTY_LOCK, "packages": {"": {}, "node_modules/a": entry}}))
    assert _registry_tarballs_only(lock) is registry_only
    lock.write_text(json.dumps({"lockfileVersion": 1, "dependencies": {}}))
    assert not _registry_tarballs_only(lock)


@pytest.mark.parametrize(
    ("package", "registry_only"),
    [
        ({"dependencies": {"a": "^1.0.0", "b": "1.2.3 - 2", "c": "latest", "d": ">=1 <2 || 3.x"}}, True),
        ({"dependencies": {"a": "npm:@scope/other@^2.1"}, "overrides": {"a": {".": "$a"}}}, True),
        ({"dependencies": {"a": "git+http://127.0.0.1/evil.git"}}, False),
        ({"devDependencies": {"a": "github:user/repo"}}, False),  # fetched even with --omit=dev
        ({"dependencies": {"a": "user/repo"}}, False),
        ({"optionalDependencies": {"a": "file:../a"}}, False),
        ({"dependencies": {"a": "https://example.com/a.tgz"}}, False),
        ({"dependencies": {"a": "npm:a@git+ssh://x"}}, False),
        ({"overrides": {"a": {"b": "link:../b"}}}, False),
        ({"workspaces": ["packages/*"]}, False),
        ({"bundleDependencies": ["a"]}, False),
    ],
)
def test_package_json_specs_must_name_registry_packages_too(
    tmp_path: Path, package: dict[str, object], registry_only: bool
) -> None:
    # npm ci re-resolves a dependency whose spec the lock does not match (a git URL: git runs) before it
    # compares the two, whatever the lock's entry says.
    from layer_ci.build.nodejs import _registry_tarballs_only

    registry = {"resolved": "https://registry.npmjs.org/a/-/a-1.0.0.tgz", "integrity": "sha512-x"}
    (tmp_path / "package.json").write_text(json.dumps({**EMPTY_PACKAGE, **package}))
    lock = tmp_path / "package-lock.json"
    lock.write_text(json.dumps({**EMPTY_LOCK, "packages": {"": {}, "node_modules/a": registry}}))
    assert _registry_tarballs_only(lock) is registry_only


def test_npm_never_takes_a_package_json_above_its_folder_for_its_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # npm walks up from its folder: a package.json in /tmp (the sandbox's user may write there) naming the
    # build's folder a workspace made that folder's project, lock and .npmrc (a `git` program) npm's.
    import tempfile

    shared = tmp_path / "shared-tmp"
    shared.mkdir()
    (shared / "package.json").write_text(json.dumps({"name": "planted", "workspaces": ["*/work/*/nodejs"]}))
    (shared / "package-lock.json").write_text(json.dumps({**EMPTY_LOCK, "name": "planted"}))
    (shared / ".npmrc").write_text(f"git={shared / 'planted-git'}\n")
    monkeypatch.setattr(tempfile, "tempdir", str(shared))
    spec = node_layer(tmp_path, EMPTY_PACKAGE, EMPTY_LOCK)
    built = build_layer(spec, tmp_path / "out", input_key="sha256:k")
    assert "nodejs/package.json" in {name for name, _ in built.manifest.files}
