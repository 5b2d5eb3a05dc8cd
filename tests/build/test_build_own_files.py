"""A layer's own modules ship beside its installed dependencies, as `sam build` ships them.

Slices modelled on SAM apps whose layer folder (the LayerVersion's ContentUri) holds requirements.txt and
the team's shared code, and on a nodejs layer whose folder holds a helper beside package.json.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from layer_ci.build.layer import build_layer
from layer_ci.errors import BuildError
from layer_ci.model import BuildSpec, LayerSpec

PURE = "six==1.17.0\n"


def sam_python_layer_folder(root: Path) -> Path:
    """layers/shared as a SAM app keeps it: requirements, a module, a package, and the usual clutter."""
    source = root / "layers" / "shared"
    (source / "shared_utils" / "__pycache__").mkdir(parents=True)
    (source / "requirements.txt").write_text("# HTTP helpers\n" + PURE)
    (source / "my_client.py").write_text("import six\n\ndef greet():\n    return 'hello ' + six.__name__\n")
    (source / "__init__.py").write_text("")
    (source / "shared_utils" / "__init__.py").write_text("from .retry import retry\n")
    (source / "shared_utils" / "retry.py").write_text("def retry(f):\n    return f\n")
    (source / "shared_utils" / "schema.json").write_text('{"type": "object"}\n')
    (source / "shared_utils" / "__pycache__" / "retry.cpython-312.pyc").write_bytes(b"\x00cache")
    (source / "shared_utils" / "old.pyc").write_bytes(b"\x00")
    for clutter in (".pytest_cache", ".venv/lib", ".aws-sam/build", "my_client.egg-info", ".idea"):
        (source / clutter).mkdir(parents=True)
        (source / clutter / "x.txt").write_text("not shipped\n")
    (source / ".gitignore").write_text("__pycache__/\n")
    (source / "tests").mkdir()
    (source / "tests" / "test_client.py").write_text("def test_it():\n    pass\n")
    return source


def python_spec(source: Path, runtimes: tuple[str, ...] = ("python3.12",)) -> LayerSpec:
    return LayerSpec(
        name="shared",
        source=source,
        build=BuildSpec("python", "requirements.txt"),
        compatible_runtimes=runtimes,
        compatible_architectures=("x86_64",),
        regions=("us-east-1",),
    )


@pytest.mark.network
def test_python_layer_ships_its_own_modules_under_python_as_sam_does(tmp_path: Path) -> None:
    source = sam_python_layer_folder(tmp_path)
    built = build_layer(python_spec(source), tmp_path / "out", input_key="sha256:k")
    with zipfile.ZipFile(built.zip_path) as archive:
        names = set(archive.namelist())
    own = {
        "python/my_client.py",
        "python/__init__.py",
        "python/shared_utils/__init__.py",
        "python/shared_utils/retry.py",
        "python/shared_utils/schema.json",
        "python/tests/test_client.py",  # SAM keeps tests: they are not in its exclusion list
    }
    assert own <= names
    assert "python/six.py" in names  # the installed requirement is still there
    for dropped in ("requirements.txt", "__pycache__", ".pyc", ".pytest_cache", ".venv", ".aws-sam",
                    ".egg-info", ".idea", ".gitignore"):  # fmt: skip
        assert not [name for name in names if dropped in name], dropped
    # What the function sees under /opt: the module imports, with its dependency beside it.
    opt = tmp_path / "opt"
    with zipfile.ZipFile(built.zip_path) as archive:
        archive.extractall(opt)
    out = subprocess.run(
        [sys.executable, "-c", "import my_client, shared_utils; print(my_client.greet())"],
        env={"PYTHONPATH": str(opt / "python")},
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "hello six"


@pytest.mark.network
def test_own_modules_land_in_python_when_installs_split_per_version(tmp_path: Path) -> None:
    source = sam_python_layer_folder(tmp_path)
    (source / "requirements.txt").write_text("markupsafe==3.0.2\n")
    built = build_layer(python_spec(source, ("python3.11", "python3.12")), tmp_path / "out", input_key="k")
    with zipfile.ZipFile(built.zip_path) as archive:
        names = set(archive.namelist())
    assert "python/my_client.py" in names
    assert any(name.startswith("python/lib/python3.11/site-packages/markupsafe/") for name in names)
    assert any(name.startswith("python/lib/python3.12/site-packages/markupsafe/") for name in names)


@pytest.mark.network
def test_own_module_that_clashes_with_an_installed_one_is_refused_naming_it(tmp_path: Path) -> None:
    source = sam_python_layer_folder(tmp_path)
    (source / "six.py").write_text("# a stale vendored copy\n")
    with pytest.raises(BuildError, match=r"layer shared: six\.py in .* clashes with a file"):
        build_layer(python_spec(source), tmp_path / "out", input_key="k")


def test_requirements_with_only_comments_still_ships_the_modules(tmp_path: Path) -> None:
    source = tmp_path / "layers" / "common"
    (source / "common").mkdir(parents=True)
    (source / "requirements.txt").write_text("# no third-party packages yet\n")
    (source / "common" / "__init__.py").write_text("VERSION = '1'\n")
    built = build_layer(python_spec(source), tmp_path / "out", input_key="k")
    with zipfile.ZipFile(built.zip_path) as archive:
        assert sorted(n for n in archive.namelist() if not n.endswith("/")) == ["python/common/__init__.py"]


def node_layer_folder(root: Path, package: dict[str, object]) -> Path:
    source = root / "layers" / "node-utils"
    (source / "lib").mkdir(parents=True)
    (source / "node_modules" / "left-over").mkdir(parents=True)
    (source / "node_modules" / "left-over" / "index.js").write_text("// from a local npm install\n")
    (source / "package.json").write_text(json.dumps(package, indent=2))
    lock = {
        "name": package.get("name", ""),
        "version": package.get("version", ""),
        "lockfileVersion": 3,
        "requires": True,
        "packages": {"": {}},
    }
    (source / "package-lock.json").write_text(json.dumps(lock, indent=2))
    (source / "index.js").write_text("exports.log = (m) => console.log(JSON.stringify({m}));\n")
    (source / "lib" / "format.js").write_text("exports.money = (c) => (c / 100).toFixed(2);\n")
    (source / "notes.md").write_text("internal notes\n")
    (source / ".npmignore").write_text("notes.md\n")
    return source


def node_spec(source: Path) -> LayerSpec:
    return LayerSpec(
        name="node-utils",
        source=source,
        build=BuildSpec("nodejs"),
        compatible_runtimes=("nodejs20.x",),
        compatible_architectures=("x86_64",),
        regions=("us-east-1",),
    )


def test_nodejs_layer_ships_what_npm_pack_would_beside_package_json(tmp_path: Path) -> None:
    # No name or version, as layer package.json files often are: npm pack alone would refuse it.
    source = node_layer_folder(tmp_path, {"private": True, "description": "shared helpers"})
    built = build_layer(node_spec(source), tmp_path / "out", input_key="k")
    with zipfile.ZipFile(built.zip_path) as archive:
        names = {n for n in archive.namelist() if not n.endswith("/")}
    assert {"nodejs/index.js", "nodejs/lib/format.js", "nodejs/package.json"} <= names
    assert "nodejs/notes.md" not in names  # .npmignore is honoured, as npm pack honours it
    assert not [n for n in names if "left-over" in n]  # a local node_modules is never shipped


def test_nodejs_files_list_in_package_json_limits_what_ships(tmp_path: Path) -> None:
    source = node_layer_folder(tmp_path, {"name": "utils", "version": "1.0.0", "files": ["lib/"]})
    built = build_layer(node_spec(source), tmp_path / "out", input_key="k")
    with zipfile.ZipFile(built.zip_path) as archive:
        names = {n for n in archive.namelist() if not n.endswith("/")}
    assert "nodejs/lib/format.js" in names
    assert "nodejs/index.js" not in names
