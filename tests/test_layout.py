"""The package tree reads as the pipeline: one name per module, one-line packages, one-way imports."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

from tests.support.repos import PROJECT_ROOT

PACKAGE = PROJECT_ROOT / "layer_ci"
TESTS = PROJECT_ROOT / "tests"
# Test folders that cut across stages on purpose: shared fixtures, attack and fault suites, the bundled
# example's functions and the Action's image.
CROSS_CUTTING_TEST_DIRS = {"support", "reliability", "examples", "image"}
# Test modules at the top of tests/ that are about the repository rather than one module.
REPOSITORY_TESTS = {"test_layout.py", "test_workflows_valid.py", "test_bench_runner.py"}


def _modules() -> list[Path]:
    return sorted(path for path in PACKAGE.rglob("*.py") if "__pycache__" not in path.parts)


def _packages() -> list[Path]:
    return sorted(path.parent for path in PACKAGE.rglob("__init__.py") if path.parent != PACKAGE)


def test_no_two_modules_or_packages_share_a_name() -> None:
    # `pipeline.py` beside `bump/pipeline.py`, or `commands/verify.py` beside `verify.py`, made a reader
    # search for which one a traceback or a doc meant.
    where: defaultdict[str, list[str]] = defaultdict(list)
    for path in _modules():
        if path.name not in ("__init__.py", "__main__.py"):
            where[path.stem].append(path.relative_to(PROJECT_ROOT).as_posix())
    for package in _packages():
        where[package.name].append(package.relative_to(PROJECT_ROOT).as_posix() + "/")
    shared = {name: paths for name, paths in where.items() if len(paths) > 1}
    assert shared == {}


def test_each_package_init_is_one_line_saying_what_the_stage_takes_and_gives() -> None:
    for package in _packages():
        init = package / "__init__.py"
        tree = ast.parse(init.read_text(encoding="utf-8"))
        assert len(tree.body) == 1, f"{init}: only the docstring belongs here; import from the modules"
        docstring = ast.get_docstring(tree)
        assert docstring and "\n" not in docstring, f"{init}: one line, please"


def test_imports_flow_one_way() -> None:
    # The layers are listed in pyproject.toml ([tool.importlinter]); an import from a lower layer to a
    # higher one (engine -> gate, config -> pins, ...) breaks the contract, and so does the Action calling
    # a stage (build, bump, engine, gate, pins) other than through the flows.
    lint_imports = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint_imports, "import-linter is a test dependency (pip install -e '.[test]')"
    completed = subprocess.run(
        [lint_imports, "--no-cache"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=False
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "2 kept, 0 broken" in completed.stdout


def test_tests_mirror_the_package() -> None:
    packages = {package.name for package in _packages()}
    folders = {path.name for path in TESTS.iterdir() if path.is_dir() and path.name != "__pycache__"}
    assert folders - CROSS_CUTTING_TEST_DIRS == packages, "one tests/<package>/ per layer_ci package"
    top_modules = {path.stem for path in PACKAGE.glob("*.py") if not path.name.startswith("__")}
    for test in TESTS.glob("test_*.py"):
        if test.name not in REPOSITORY_TESTS:
            assert test.stem.removeprefix("test_") in top_modules, f"{test.name}: move it under its package"


def test_every_source_path_the_docs_name_exists() -> None:
    # After a move the docs kept naming `pipeline.py` and `tests/test_bump.py`; a reader then searches
    # for files that are gone. Paths are taken relative to the repository or to layer_ci/.
    named = re.compile(r"`((?:[a-z_]+/)+[a-z_]+\.py)\b")
    roots = {"layer_ci", "tests", "bench", "image"} | {package.name for package in _packages()}
    missing = []
    for doc in (*sorted((PROJECT_ROOT / "docs").glob("*.md")), PROJECT_ROOT / "README.md"):
        for match in named.finditer(doc.read_text(encoding="utf-8")):
            path = match.group(1)
            if path.split("/")[0] not in roots:
                continue  # an example path inside a zip or a Lambda image, not a source file
            if not (PROJECT_ROOT / path).is_file() and not (PACKAGE / path).is_file():
                missing.append(f"{doc.name}: {path}")
    assert missing == []


def test_every_test_module_is_collected() -> None:
    # pytest skips folders named like build output ("build", "dist", ...) unless told otherwise: before
    # norecursedirs was set, tests/build/ (130 tests) passed unseen by every run of the suite.
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", str(TESTS)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-2000:]
    collected = {line.split("::")[0] for line in completed.stdout.splitlines() if "::" in line}
    on_disk = {path.relative_to(PROJECT_ROOT).as_posix() for path in TESTS.rglob("test_*.py")}
    assert on_disk - collected == set()
