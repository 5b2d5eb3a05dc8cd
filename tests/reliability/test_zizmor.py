"""The project's workflows, the example consumer workflows and action.yml pass zizmor with no findings.

zizmor (from PyPI, in the test extras) runs offline (no GitHub API, no token in its environment) with
inline ignore comments disabled, so nothing is waved through. Files are passed one by one: given a
folder, zizmor only collects ``.github/workflows`` and would silently skip ``docs/examples``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.repos import PROJECT_ROOT


def audited_files() -> list[Path]:
    workflows = sorted((PROJECT_ROOT / ".github" / "workflows").glob("*.y*ml"))
    examples = sorted((PROJECT_ROOT / "docs" / "examples").glob("*.y*ml"))
    return [*workflows, *examples, PROJECT_ROOT / "action.yml"]


def zizmor() -> str:
    beside = Path(sys.executable).parent / "zizmor"
    found = str(beside) if beside.exists() else shutil.which("zizmor")
    assert found, "zizmor is not installed: pip install -e '.[test]'"
    return found


def test_every_workflow_and_action_file_is_audited() -> None:
    files = audited_files()
    assert any(path.parent.name == "examples" for path in files), "no example workflow found"
    assert any(path.parent.name == "workflows" for path in files), "no project workflow found"


@pytest.mark.parametrize("path", audited_files(), ids=lambda path: path.relative_to(PROJECT_ROOT).as_posix())
def test_zizmor_finds_nothing(path: Path) -> None:
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(("GH_", "GITHUB_", "ZIZMOR_"))
    }
    relative = path.relative_to(PROJECT_ROOT).as_posix()
    done = subprocess.run(
        [zizmor(), "--offline", "--no-ignores", "--no-progress", "--format", "json", relative],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0 or done.returncode >= 10, done.stderr  # below 10: zizmor itself failed
    assert f"completed {relative}" in done.stderr, done.stderr  # it really audited the file
    findings = json.loads(done.stdout)
    summary = sorted(
        {
            f"{finding['ident']} ({finding['determinations']['severity']}): {finding['desc']} at "
            + ", ".join(
                f"line {location['concrete']['location']['start_point']['row'] + 1}"
                for location in finding["locations"]
                if location.get("concrete")
            )
            for finding in findings
        }
    )
    assert summary == [], "\n".join(summary)
    assert done.returncode == 0
