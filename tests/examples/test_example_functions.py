"""The bundled example's function suites pass with only its layers' content, laid out as Lambda's /opt."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import uv

from tests.support.repos import EXAMPLE_DIR

pytestmark = pytest.mark.network  # installs the common-deps requirements (and pytest) from PyPI

FUNCTIONS = ("catalog", "orders", "notify")


def _uv_install(target: Path, *requirements: str) -> None:
    completed = subprocess.run(
        [
            uv.find_uv_bin(),
            "pip",
            "install",
            "--quiet",
            "--compile-bytecode",  # else every suite run recompiles pytest
            "--target",
            str(target),
            "--python-version",
            f"{sys.version_info.major}.{sys.version_info.minor}",
            "--only-binary",
            ":all:",
            *requirements,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr


@pytest.fixture(scope="session")
def opt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An /opt as Lambda builds it from the example's layers: common-deps under python/, tools' bin/."""
    opt = tmp_path_factory.mktemp("opt")
    requirements = EXAMPLE_DIR / "layers" / "common-deps" / "requirements.txt"
    _uv_install(opt / "python", "--require-hashes", "-r", str(requirements))
    shutil.copytree(EXAMPLE_DIR / "layers" / "tools", opt, dirs_exist_ok=True)  # a files layer, as is
    return opt


@pytest.fixture(scope="session")
def test_runner(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """pytest alone, outside any site-packages, so the suites see no package but the layers'."""
    folder = tmp_path_factory.mktemp("pytest-only")
    _uv_install(folder, f"pytest=={pytest.__version__}")
    return folder


def run_suite(
    function: str, tmp_path: Path, runner: Path, python_path: list[Path], bin_path: list[Path]
) -> str:
    # A copy, so neither caches nor bytecode land in the example tree.
    source = shutil.copytree(EXAMPLE_DIR / "functions" / function, tmp_path / function)
    env = {
        "PATH": os.pathsep.join([*map(str, bin_path), "/usr/bin", "/bin"]),
        "PYTHONPATH": os.pathsep.join([*map(str, python_path), str(runner)]),
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
    }
    completed = subprocess.run(
        # -S: no site-packages, so nothing from this virtualenv (which has dateutil, idna, six) leaks in.
        [sys.executable, "-S", "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=source,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return f"exit {completed.returncode}\n{completed.stdout}{completed.stderr}"


@pytest.mark.parametrize("function", FUNCTIONS)
def test_function_suite_passes_on_its_layers(
    function: str, opt: Path, test_runner: Path, tmp_path: Path
) -> None:
    output = run_suite(function, tmp_path, test_runner, [opt / "python"], [opt / "bin"])
    assert output.startswith("exit 0\n"), output
    assert " passed" in output and "failed" not in output and "skipped" not in output


def test_suites_really_depend_on_the_python_layer(test_runner: Path, opt: Path, tmp_path: Path) -> None:
    output = run_suite("orders", tmp_path, test_runner, [], [opt / "bin"])
    assert output.startswith("exit 2\n"), output  # collection error
    assert "No module named 'dateutil'" in output


def test_catalog_really_needs_the_tools_layer_on_path(test_runner: Path, opt: Path, tmp_path: Path) -> None:
    output = run_suite("catalog", tmp_path, test_runner, [opt / "python"], [])
    assert output.startswith("exit 1\n"), output
    assert "slugify is not on PATH" in output


def _node_suite(tmp_path: Path, node_path: list[Path]) -> str:
    node = shutil.which("node")
    assert node is not None, "the labels suite needs Node.js on PATH (apt install nodejs)"
    source = shutil.copytree(EXAMPLE_DIR / "functions" / "labels", tmp_path / "labels")
    env = {
        "PATH": "/usr/bin:/bin",
        "NODE_PATH": os.pathsep.join(map(str, node_path)),
        "HOME": str(tmp_path),
    }
    completed = subprocess.run(
        [node, "--test"], cwd=source, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    return f"exit {completed.returncode}\n{completed.stdout}{completed.stderr}"


def test_the_node_function_passes_on_the_tools_layer_and_needs_it(tmp_path: Path, opt: Path) -> None:
    output = _node_suite(tmp_path / "with", [opt / "nodejs" / "node_modules"])
    assert output.startswith("exit 0\n") and "# pass 5" in output and "# fail 0" in output, output
    without = _node_suite(tmp_path / "without", [])
    assert without.startswith("exit 1\n") and "Cannot find module 'slugify'" in without, without
