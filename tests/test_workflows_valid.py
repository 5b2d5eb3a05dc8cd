"""action.yml and every workflow pass check-jsonschema's built-in GitHub schemas and actionlint, and
action.yml's inputs and outputs agree with what the code reads and writes."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from layer_ci.action.context import INPUT_ENV
from layer_ci.action.outputs import Outputs
from layer_ci.report.workflow_commands import Runner, parse_output_file
from tests.support.repos import PROJECT_ROOT

WORKFLOWS = sorted([*PROJECT_ROOT.glob(".github/workflows/*.yml"), *PROJECT_ROOT.glob("docs/examples/*.yml")])
ACTION = PROJECT_ROOT / "action.yml"


def _tool(name: str) -> str:
    # Installed into the same virtualenv as the tests (test extras); fall back to PATH.
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    assert found, f"{name} is missing: install the test extras (pip install -e '.[test]')"
    return found


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False, cwd=PROJECT_ROOT)


def test_there_are_workflows_to_check() -> None:
    names = {path.relative_to(PROJECT_ROOT).as_posix() for path in WORKFLOWS}
    assert {
        ".github/workflows/ci.yml",
        "docs/examples/consumer-workflow.yml",
        "docs/examples/two-stage-workflow.yml",
    } <= names


def test_action_yml_matches_the_github_actions_schema() -> None:
    result = _run(_tool("check-jsonschema"), "--builtin-schema", "vendor.github-actions", str(ACTION))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda path: path.name)
def test_workflow_matches_the_github_workflows_schema(workflow: Path) -> None:
    result = _run(_tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(workflow))
    assert result.returncode == 0, result.stdout + result.stderr


def test_workflows_pass_actionlint() -> None:
    result = _run(_tool("actionlint"), "-no-color", *map(str, WORKFLOWS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_catches_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  x:\n    runs-on: ubuntu-24.04\n    stepz: []\n")
    result = _run(_tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(broken))
    assert result.returncode != 0
    assert _run(_tool("actionlint"), "-no-color", str(broken)).returncode != 0


def _action() -> dict[str, object]:
    data = YAML(typ="safe").load(ACTION.read_text())
    assert isinstance(data, dict)
    return data


def test_every_input_is_mapped_explicitly_to_the_variable_the_code_reads() -> None:
    action = _action()
    inputs = action["inputs"]
    env = action["runs"]["env"]  # type: ignore[index]
    assert isinstance(inputs, dict) and isinstance(env, dict)
    assert set(inputs) == set(INPUT_ENV)
    for name, variable in INPUT_ENV.items():
        assert "-" not in variable
        assert env[variable] == f"${{{{ inputs.{name} }}}}", name
        assert inputs[name].get("description"), name
    assert inputs["github-token"]["default"] == "${{ github.token }}"
    # A prebuilt image by digest (tests/image/test_pin_action.py checks the form), never a build per run.
    assert action["runs"]["using"] == "docker" and action["runs"]["image"] != "Dockerfile"  # type: ignore[index]
    assert action["branding"]


def test_outputs_declared_are_exactly_the_outputs_written(tmp_path: Path) -> None:
    declared = set(_action()["outputs"])  # type: ignore[arg-type]
    out = tmp_path / "out"
    Outputs().write(Runner(open(tmp_path / "stdout", "w"), {"GITHUB_OUTPUT": str(out)}))  # noqa: SIM115
    assert set(parse_output_file(out.read_text())) == declared


def test_dockerfile_pins_its_base_by_digest_and_trusts_only_the_workspace() -> None:
    import re

    text = (PROJECT_ROOT / "Dockerfile").read_text()
    base = next(line for line in text.splitlines() if line.startswith("ARG BASE_IMAGE="))
    assert re.fullmatch(
        r"ARG BASE_IMAGE=docker\.io/library/python:3\.\d+\.\d+-slim-bookworm@sha256:[0-9a-f]{64}", base
    ), base
    assert "FROM ${BASE_IMAGE}" in text
    assert "git config --system --add safe.directory /github/workspace" in text
    assert "safe.directory '*'" not in text and 'safe.directory "*"' not in text
    assert "useradd --uid 10001" in text and "util-linux" in text
    assert 'ENTRYPOINT ["/usr/local/lib/layer-ci/venv/bin/python", "/app/entrypoint.py"]' in text
    # Nothing of the image under /opt or /var/task: the engine mounts layers and code there.
    assert not re.search(r"(?m)^\s*(ENV|COPY|RUN)\b.*[ =:]/(opt|var/task)\b", text)
