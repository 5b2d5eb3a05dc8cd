"""Attack: reaching a writing route from a fork's pull request by another event, or from a feature branch.

A review, a review comment or a comment on a fork's pull request runs with the fork's code checked out
just like ``pull_request`` does; each must stay read-only (no AWS, no push, no status, no comment) even
when the workflow asks for ``command: run`` or ``verify``. A manual run (workflow_dispatch) on a branch
other than the default one only plans unless the workflow sets ``release-any-branch``. Driven through
entrypoint.py as the runner starts it, against moto, the bare remote and the GitHub stand-in.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.reliability.reliability_support import REGIONS, REPOSITORY, Shop
from tests.support.git_remote import run_git

FORK = "mallory/linked"


def _review_payload(shop: Shop, event: str, sha: str, base: str) -> dict[str, Any]:
    payload = shop.pull_request_payload(7, sha, base, fork=FORK)
    payload["action"] = "submitted" if event == "pull_request_review" else "created"
    if event == "pull_request_review":
        payload["review"] = {"state": "approved", "user": {"login": "maintainer"}}
    else:
        payload["comment"] = {"body": "looks good", "user": {"login": "maintainer"}}
    return payload


def _comment_payload(sha: str) -> dict[str, Any]:
    return {
        "action": "created",
        "issue": {
            "number": 7,
            "title": "a fork's change",
            "pull_request": {"url": f"https://api.github.invalid/repos/{REPOSITORY}/pulls/7"},
        },
        "comment": {"body": "/layer-ci run", "user": {"login": "mallory"}},
        "repository": {"full_name": REPOSITORY, "default_branch": "main", "name": "linked"},
        "sender": {"login": "mallory"},
    }


def _nothing_written(shop: Shop, before: dict[str, list[tuple[int, str]]], sha: str) -> None:
    assert {region: shop.versions(region) for region in REGIONS} == before, "a version was published"
    assert shop.remote_branches() == ["main"], "a bump branch was pushed"
    assert shop.statuses(sha) == {}, "a commit status was set"
    assert shop.comments(7) == [] and shop.open_pulls() == {}


@pytest.mark.parametrize("event", ["pull_request_review", "pull_request_review_comment", "issue_comment"])
@pytest.mark.parametrize("command", ["run", "verify", "auto"])
def test_a_fork_s_pull_request_stays_read_only_on_every_event(shop: Shop, event: str, command: str) -> None:
    base = shop.head
    sha = shop.change_layer(2)  # the fork's change, checked out as the workflow would
    before = {region: shop.versions(region) for region in REGIONS}
    payload = _comment_payload(sha) if event == "issue_comment" else _review_payload(shop, event, sha, base)
    run = shop.run(
        event=event,
        sha=sha,
        payload=payload,
        env={"LAYER_CI_COMMAND": command},
        ref="refs/pull/7/merge" if event != "issue_comment" else "refs/heads/main",
        label=f"{event}-{command}",
    )
    _nothing_written(shop, before, sha)
    # Even `command: run` only plans, read-only and saying so (issue 14: refusing with exit 2 would fail
    # every fork's pull request of a workflow that uses `run`).
    assert run.returncode == 0, run.stdout + run.stderr
    assert "runs read-only" in run.stdout
    assert run.output_json("changed-layers") == ["tools"]


def test_a_manual_run_on_a_feature_branch_only_plans(shop: Shop) -> None:
    run_git(["checkout", "--quiet", "-b", "feature"], shop.workspace)
    (shop.workspace / "layers" / "tools" / "python" / "tools.py").write_text("VERSION = 2\n")
    run_git(["commit", "--quiet", "--all", "-m", "feature: tools 2"], shop.workspace)
    run_git(["push", "--quiet", "origin", "HEAD:refs/heads/feature"], shop.workspace)
    before = {region: shop.versions(region) for region in REGIONS}

    run = shop.run(event="workflow_dispatch", ref="refs/heads/feature", label="dispatch-feature")
    assert run.returncode == 0, run.stdout + run.stderr
    assert {region: shop.versions(region) for region in REGIONS} == before
    assert run.output_json("published") == {} and run.output_json("changed-layers") == ["tools"]
    assert "release-any-branch" in run.summary

    allowed = shop.run(
        event="workflow_dispatch",
        ref="refs/heads/feature",
        env={"LAYER_CI_RELEASE_ANY_BRANCH": "true"},
        label="dispatch-allowed",
    )
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    assert [len(shop.versions(region)) for region in REGIONS] == [2, 2]


def test_a_config_outside_the_workspace_is_refused(shop: Shop, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "layer-ci.yml").write_text((shop.workspace / "layer-ci.yml").read_text())
    (shop.workspace / "infra").symlink_to(elsewhere)
    for config in (str(elsewhere / "layer-ci.yml"), "infra/layer-ci.yml", "../elsewhere/layer-ci.yml"):
        run = shop.run(event="push", env={"LAYER_CI_CONFIG": config, "LAYER_CI_COMMAND": "plan"}, label="cfg")
        assert run.returncode == 2, run.stdout + run.stderr
        assert "outside the workspace" in run.stdout
