"""Tests for ``layer-ci build`` on the bundled example: deterministic across folders, umasks and mtimes."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from layer_ci.build.manifest import read_manifest
from layer_ci.build.zipper import sha256_file

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "monorepo"
LAYER_CI = [sys.executable, "-m", "layer_ci"]


def copy_example(destination: Path, seed: int) -> Path:
    shutil.copytree(EXAMPLE, destination, ignore=shutil.ignore_patterns(".layer-ci", "__pycache__"))
    rng = random.Random(seed)
    for folder, dirnames, filenames in os.walk(destination):
        for name in (*dirnames, *filenames):
            stamp = rng.uniform(1e8, 2e9)
            os.utime(Path(folder, name), (stamp, stamp))
    return destination


def layer_ci(cwd: Path, *args: str, umask: int = 0o022) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*LAYER_CI, *args], cwd=cwd, capture_output=True, text=True, umask=umask, check=False
    )


@pytest.mark.network
def test_example_builds_to_identical_zips_in_different_folders_umasks_and_mtimes(tmp_path: Path) -> None:
    first = copy_example(tmp_path / "one" / "shop", seed=1)
    second = copy_example(tmp_path / "two" / "elsewhere" / "shop-copy", seed=2)
    run_one = layer_ci(first, "build", umask=0o022)
    run_two = layer_ci(second, "build", "--out", str(tmp_path / "out-two"), umask=0o077)
    assert run_one.returncode == 0, run_one.stderr
    assert run_two.returncode == 0, run_two.stderr
    lines_one, lines_two = run_one.stdout.splitlines(), run_two.stdout.splitlines()
    assert [line.split()[0] for line in lines_one] == [line.split()[0] for line in lines_two]
    assert [line.split()[1] for line in lines_one] == [
        ".layer-ci/build/common-deps.zip",
        ".layer-ci/build/tools.zip",
    ]
    for line in lines_one:
        digest, path = line.split("  ")
        assert sha256_file(first / path) == digest
    # The printed lines are sha256sum's format, so `sha256sum -c` can verify them.
    check = subprocess.run(
        ["sha256sum", "-c", "-"], input=run_one.stdout, cwd=first, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    manifest = read_manifest(first / ".layer-ci" / "build" / "common-deps.manifest.json")
    assert manifest.zip_sha256 == lines_one[0].split()[0]
    assert manifest.input_key.startswith("sha256:")
    assert {p.name for p in manifest.packages} >= {"idna", "tenacity", "six", "python-dateutil"}


def test_named_layer_only_and_out_folder(tmp_path: Path) -> None:
    repo = copy_example(tmp_path / "shop", seed=3)
    result = layer_ci(repo, "build", "tools", "--out", "dist")
    assert result.returncode == 0, result.stderr
    digest, path = result.stdout.strip().split("  ")
    assert path == "dist/tools.zip"
    assert sha256_file(repo / "dist" / "tools.zip") == digest
    assert sorted(p.name for p in (repo / "dist").iterdir()) == [
        ".tools.zip.deflate-index",  # what a rebuild of tools.zip can take from it (build/deflate_reuse.py)
        "tools.manifest.json",
        "tools.zip",
    ]
    assert not (repo / ".layer-ci" / "build").exists()


def test_unknown_layer_is_a_usage_error_listing_known_names(tmp_path: Path) -> None:
    repo = copy_example(tmp_path / "shop", seed=4)
    result = layer_ci(repo, "build", "tools", "nope")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "layer-ci: error: unknown layer 'nope'; layer-ci.yml declares: common-deps, tools"
    )
    assert "Traceback" not in result.stderr
    assert not (repo / ".layer-ci" / "build" / "tools.zip").exists()
