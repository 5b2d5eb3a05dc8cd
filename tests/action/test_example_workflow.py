"""The example consumer workflow asks each event's job for the least it needs, and verify sees the history."""

from __future__ import annotations

from typing import Any

from ruamel.yaml import YAML

from tests.support.repos import PROJECT_ROOT

EXAMPLE = PROJECT_ROOT / "docs" / "examples" / "consumer-workflow.yml"
GITHUB_WRITES = {"contents", "pull-requests", "issues", "statuses", "checks", "actions", "packages"}


def _jobs() -> dict[str, Any]:
    document = YAML(typ="safe").load(EXAMPLE.read_text(encoding="utf-8"))
    assert document["permissions"] == {}, "the workflow grants nothing by default"
    jobs: dict[str, Any] = document["jobs"]
    return jobs


def _runs_on(job: dict[str, Any], event: str) -> bool:
    return f"github.event_name == '{event}'" in str(job.get("if", ""))


def test_the_schedule_has_its_own_job_that_writes_nothing_to_github() -> None:
    jobs = _jobs()
    scheduled = [name for name, job in jobs.items() if _runs_on(job, "schedule")]
    assert scheduled == ["audit"]
    assert jobs["audit"]["permissions"] == {"contents": "read", "id-token": "write"}
    # No other job can run on the schedule: each names the events it serves.
    for name, job in jobs.items():
        condition = str(job.get("if", ""))
        assert "!=" not in condition, f"{name} runs on every event but one: {condition}"
    steps = jobs["audit"]["steps"]
    action = next(step for step in steps if str(step.get("uses", "")).startswith("layer-ci/layer-ci@"))
    assert action["with"]["command"] == "audit" and "github-token" not in action["with"]


def test_only_the_publishing_job_may_write_to_github() -> None:
    jobs = _jobs()
    for name, job in jobs.items():
        writes = {scope for scope, level in job["permissions"].items() if level == "write"} & GITHUB_WRITES
        if name == "release":
            assert _runs_on(job, "push") and _runs_on(job, "workflow_dispatch")
            assert writes == {"contents", "pull-requests", "issues", "statuses"}
        elif name == "verify":
            assert writes == {"pull-requests", "statuses"}  # the sticky comment, layer-ci/verify
        else:
            assert writes == set(), f"{name} writes {writes}"


def test_verify_checks_out_the_whole_history() -> None:
    steps = _jobs()["verify"]["steps"]
    checkout = next(step for step in steps if str(step.get("uses", "")).startswith("actions/checkout@"))
    assert checkout["with"]["fetch-depth"] == 0
    assert checkout["with"]["persist-credentials"] is False
