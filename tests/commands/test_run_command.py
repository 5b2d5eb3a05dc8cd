"""`layer-ci run` end to end on a copy of examples/monorepo: the real builder, local registry and engine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.repos import copy_example

pytestmark = pytest.mark.network  # the common-deps layer and the test runner's pytest come from PyPI


@pytest.fixture(scope="module")
def engine_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One layer-ci cache for this module's runs (extracted layers, the test runner's own pytest)."""
    return tmp_path_factory.mktemp("run-cache")


def layer_ci(root: Path, cache: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("GITHUB_", "AWS_"))}
    env["LAYER_CI_CACHE"] = str(cache)
    return subprocess.run(
        [sys.executable, "-m", "layer_ci", *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_first_run_publishes_v1_tests_every_function_and_second_run_is_a_no_op(
    tmp_path: Path, engine_cache: Path
) -> None:
    root = copy_example(tmp_path / "shop")
    first = layer_ci(root, engine_cache, "run")
    assert first.returncode == 0, first.stdout + first.stderr
    out = first.stdout
    for layer in ("common-deps", "tools"):
        assert (root / ".layer-ci" / "registry" / "us-east-1" / layer / "1.zip").is_file()
    lines = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    assert "v1" in lines["common-deps"] and "v1" in lines["tools"]
    for function in ("catalog", "orders", "notify"):
        assert "PASSED" in lines[function], out
    assert "common-deps v1, tools v1" in lines["catalog"]
    assert out.strip().splitlines()[-1].startswith("OK: published 2 layer versions")
    lock = json.loads((root / "layer-ci.lock").read_text())
    assert lock["layers"]["tools"]["published"]["us-east-1"]["version"] == 1

    second = layer_ci(root, engine_cache, "run")
    assert second.returncode == 0, second.stderr
    assert second.stdout.startswith("nothing to do: 2 layers unchanged"), second.stdout
    assert "building" not in second.stderr


def test_a_new_layer_version_rewrites_the_template_pins_after_the_tests_pass(
    tmp_path: Path, engine_cache: Path
) -> None:
    root = copy_example(tmp_path / "shop")
    assert layer_ci(root, engine_cache, "run").returncode == 0
    slugify = root / "layers" / "tools" / "bin" / "slugify"
    slugify.write_text(slugify.read_text() + "# a comment changes the layer's content\n")

    result = layer_ci(root, engine_cache, "run")
    assert result.returncode == 0, result.stdout + result.stderr
    template = (root / "template.yaml").read_text()
    assert "layer:tools:2" in template and "layer:tools:1" not in template
    assert template.count("layer:common-deps:1") == 3  # untouched
    assert "template.yaml:20  tools  v1 -> v2" in result.stdout
    catalog = next(line for line in result.stdout.splitlines() if line.startswith("catalog"))
    assert "PASSED" in catalog and "tools v2" in catalog
    assert not any(line.startswith(("orders", "notify")) for line in result.stdout.splitlines())


def test_a_function_failing_against_the_new_version_fails_the_run_and_keeps_the_pin(
    tmp_path: Path, engine_cache: Path
) -> None:
    root = copy_example(tmp_path / "shop")
    assert layer_ci(root, engine_cache, "run").returncode == 0
    (root / "layers" / "tools" / "bin" / "slugify").write_text("#!/bin/sh\nexit 3\n")

    result = layer_ci(root, engine_cache, "run")
    assert result.returncode == 1, result.stdout + result.stderr
    catalog = next(line for line in result.stdout.splitlines() if line.startswith("catalog"))
    assert "FAILED" in catalog
    assert "held back: tools" in result.stdout
    assert "layer:tools:1" in (root / "template.yaml").read_text()
    assert result.stdout.strip().splitlines()[-1].startswith("FAILED:")


def test_dry_run_publishes_nothing(tmp_path: Path, engine_cache: Path) -> None:
    root = copy_example(tmp_path / "shop")
    result = layer_ci(root, engine_cache, "run", "--dry-run", "--no-test")
    assert result.returncode == 0, result.stderr
    assert "dry run: built 2 layers, published nothing" in result.stdout
    assert not (root / ".layer-ci" / "registry").exists()
    assert not (root / "layer-ci.lock").exists()


def test_a_config_error_exits_2_with_one_line(tmp_path: Path, engine_cache: Path) -> None:
    root = copy_example(tmp_path / "shop")
    config = root / "layer-ci.yml"
    config.write_text(config.read_text().replace("method: files", "method: filez"))
    result = layer_ci(root, engine_cache, "run")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "layer-ci.yml:" in result.stderr and "filez" in result.stderr


def test_run_leaves_pins_that_settings_ignore_names(tmp_path: Path, engine_cache: Path) -> None:
    root = copy_example(tmp_path / "shop")
    assert layer_ci(root, engine_cache, "run").returncode == 0
    config = root / "layer-ci.yml"
    config.write_text(
        config.read_text().replace(
            "settings:\n", "settings:\n  ignore:\n    - {layer: tools, reason: pinned for the audit}\n", 1
        )
    )
    slugify = root / "layers" / "tools" / "bin" / "slugify"
    slugify.write_text(slugify.read_text() + "# changed\n")
    run = layer_ci(root, engine_cache, "run")
    assert run.returncode == 0, run.stdout + run.stderr
    assert (root / ".layer-ci" / "registry" / "us-east-1" / "tools" / "2.zip").is_file()
    template = (root / "template.yaml").read_text()
    assert "layer:tools:1" in template and "layer:tools:2" not in template
