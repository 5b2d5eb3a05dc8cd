"""The Action's push route in process (``main`` with a runner environment), on a small files-layer repo.

Real parts throughout: the local registry, the engine running each function's pytest, git with a bare
remote, and PyGithub over HTTP to the loopback stand-in. Covers what a push must get right besides the
happy path: options refused before anything is published, failures after publishing that must still
report what was published, and the gate's real results (and held-back pins) reaching the runner.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from layer_ci.action.main import main
from layer_ci.plan.lockfile import load_lock
from layer_ci.publish.folder_registry import LocalRegistry
from layer_ci.report.workflow_commands import parse_output_file
from tests.report.bump_repo import MYLIB_BREAKING, MYLIB_COMPATIBLE, TEMPLATE, BumpRepo, make_bump_repo
from tests.support.git_remote import run_git
from tests.support.github_standin import GitHubStandIn, LinkedRepo

REPOSITORY = "octo-org/linked"
BRANCH = "layer-ci/common"
PULLS = "/repos/{owner}/{repo}/pulls"
SHOUTER_PIN = '        - !Sub "arn:aws:lambda:${AWS::Region}:000000000000:layer:common:1"'
SHOUTER_LINE = TEMPLATE.splitlines().index(SHOUTER_PIN) + 1


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    outputs: dict[str, str]
    summary: str

    def output(self, name: str) -> Any:
        return json.loads(self.outputs[name])

    @property
    def errors(self) -> list[str]:
        return [line for line in self.stdout.splitlines() if line.startswith("::error")]


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("action-push-cache")


@pytest.fixture
def repo(linked_github: LinkedRepo, cache: Path, monkeypatch: pytest.MonkeyPatch) -> BumpRepo:
    monkeypatch.setenv("LAYER_CI_CACHE", str(cache))
    for key in ("GITHUB_TOKEN", "GITHUB_RUN_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    return make_bump_repo(linked_github.remote)


def change_layer(repo: BumpRepo, *, breaking: bool = False) -> None:
    """A change to layer common pushed to main, not yet published (the Action's push does that)."""
    mylib = MYLIB_BREAKING if breaking else MYLIB_COMPATIBLE
    repo.set_layer(mylib, {"mylib": "2.0.0", "six": "1.16.0"})
    repo.commit_push("common: mylib 2", paths=("layers",))


def push(repo: BumpRepo, standin: GitHubStandIn, tmp: Path, **inputs: str) -> Run:
    """The Action on a push to main, as the runner starts it (outputs and summary in files)."""
    tmp.mkdir(parents=True, exist_ok=True)
    event = tmp / "event.json"
    event.write_text(
        json.dumps(
            {"ref": "refs/heads/main", "repository": {"full_name": REPOSITORY, "default_branch": "main"}}
        )
    )
    environ = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_EVENT_NAME": "push",
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_REPOSITORY": REPOSITORY,
        "GITHUB_SHA": run_git(["rev-parse", "HEAD"], repo.root).strip(),
        "GITHUB_REF": "refs/heads/main",
        "GITHUB_API_URL": standin.url,
        "GITHUB_SERVER_URL": standin.web_url,
        "GITHUB_WORKSPACE": str(repo.root),
        "GITHUB_OUTPUT": str(tmp / "output"),
        "GITHUB_STEP_SUMMARY": str(tmp / "summary"),
        "LAYER_CI_GITHUB_TOKEN": standin.token,
        "LAYER_CI_GITHUB_WRITE_INTERVAL": "0",
        "LAYER_CI_GITHUB_REQUEST_INTERVAL": "0",
        **{"LAYER_CI_" + name.upper(): value for name, value in inputs.items()},
    }
    (tmp / "output").write_text("")
    (tmp / "summary").write_text("")
    stdout = io.StringIO()
    code = main(environ, stdout)
    return Run(
        code,
        stdout.getvalue(),
        parse_output_file((tmp / "output").read_text()),
        (tmp / "summary").read_text(),
    )


def versions(repo: BumpRepo, region: str = "us-east-1") -> list[int]:
    registry = LocalRegistry(repo.root / ".layer-ci" / "registry", region)
    return sorted(info.version for info in registry.list_versions("common"))


def arn(region: str, version: int) -> str:
    return f"arn:aws:lambda:{region}:000000000000:layer:common:{version}"


# ------------------------------------------------------------------------------ refused up front


def test_test_false_on_a_publishing_push_is_refused_before_anything_is_built_or_published(
    repo: BumpRepo, linked_github: LinkedRepo, tmp_path: Path
) -> None:
    change_layer(repo)
    lock_before = (repo.root / "layer-ci.lock").read_bytes()
    build = repo.root / ".layer-ci" / "build"
    built_before = {path: path.stat().st_mtime_ns for path in build.iterdir()}
    run = push(repo, linked_github.standin, tmp_path / "run", test="false")

    assert run.code == 2
    (error,) = run.errors
    assert error.startswith("::error title=layer-ci::input test: false cannot publish")
    assert versions(repo) == [1] and versions(repo, "eu-west-1") == [1]
    assert (repo.root / "layer-ci.lock").read_bytes() == lock_before
    assert {path: path.stat().st_mtime_ns for path in build.iterdir()} == built_before  # not even built
    assert linked_github.standin.requests == []
    assert run.output("published") == {} and run.output("pull-requests") == []


# ----------------------------------------------------------------------- failing after publishing


def test_github_refusing_the_pr_after_publishing_still_reports_what_was_published(
    repo: BumpRepo, linked_github: LinkedRepo, tmp_path: Path
) -> None:
    change_layer(repo)
    standin = linked_github.standin
    refused = {"message": "Resource not accessible by integration"}
    standin.server_error("POST", PULLS, status=403, times=None, body=refused)
    run = push(repo, standin, tmp_path / "run")

    assert run.code == 1, run.stdout
    assert versions(repo) == [1, 2] and versions(repo, "eu-west-1") == [1, 2]
    # The outputs name the versions that now exist, and the lock records them ...
    assert run.output("published") == {
        "common": {"us-east-1": arn("us-east-1", 2), "eu-west-1": arn("eu-west-1", 2)}
    }
    assert run.output("pull-requests") == [] and run.output("changed-layers") == ["common"]
    locked = load_lock(repo.root).layers["common"].published
    assert {region: ref.version for region, ref in locked.items()} == {"us-east-1": 2, "eu-west-1": 2}
    # ... the summary shows them with the failure on top ...
    assert f"| common | us-east-1 | v2 | {arn('us-east-1', 2)} |" in run.summary
    assert (
        "> The run failed: bump pull requests failed after publishing common v2 in us-east-1" in run.summary
    )
    # ... and the failure itself is one error line, once.
    (error,) = run.errors
    assert (
        "bump pull requests failed after publishing common v2 in us-east-1, common v2 in eu-west-1" in error
    )
    assert "GitHub create pull request failed: 403 Resource not accessible by integration" in error
    assert "Traceback" not in run.stdout

    # The rerun, once the permission is granted, reuses the versions and opens the PR.
    standin.clear_faults()
    run_git(["checkout", "HEAD", "--", "layer-ci.lock"], repo.root)
    again = push(repo, standin, tmp_path / "again")
    assert again.code == 0, again.stdout
    assert versions(repo) == [1, 2]
    assert [pr["outcome"] for pr in again.output("pull-requests")] == ["created"]


# --------------------------------------------------------------------------------- the gate's results


def test_the_gates_real_results_and_held_back_pins_reach_the_summary_and_annotations(
    repo: BumpRepo, linked_github: LinkedRepo, tmp_path: Path
) -> None:
    change_layer(repo, breaking=True)
    run = push(repo, linked_github.standin, tmp_path / "run")

    assert run.code == 1 and run.outputs["tests-passed"] == "false"
    # The engine's own verdict: headline, duration and the version under test, not a rebuilt status.
    row = next(line for line in run.summary.splitlines() if line.startswith("| shouter |"))
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[:3] == ["shouter", "common v2", "❌ failed"]
    assert re.fullmatch(r"\d+\.\d s", cells[3]) and cells[3] != "0.0 s"
    assert cells[4].startswith("ImportError: cannot import name 'shout' from 'mylib'"), cells[4]
    assert any("shouter: tests failed against common v2: ImportError" in line for line in run.errors)
    # shouter's pin stays at v1 in the PR: a warning on its line in the template.
    warnings = [line for line in run.stdout.splitlines() if line.startswith("::warning")]
    assert warnings == [
        f"::warning file=template.yaml,line={SHOUTER_LINE},title=layer-ci%3A pin kept back::"
        "common stays at v1 in the bump pull request: shouter failed its tests against common v2"
    ]


def test_a_skipped_bump_still_fails_the_run_when_its_tests_failed(
    repo: BumpRepo, linked_github: LinkedRepo, tmp_path: Path
) -> None:
    change_layer(repo)
    first = push(repo, linked_github.standin, tmp_path / "first")
    assert first.code == 0, first.stdout
    # Somebody commits to the bump branch; the next release may not force-push over their work.
    repo.remote.push_as(BRANCH, {"NOTES.md": b"wait\n"}, author=("Ada", "ada@example.com"), message="note")
    run_git(["checkout", "HEAD", "--", "layer-ci.lock"], repo.root)
    repo.set_layer(MYLIB_BREAKING, {"mylib": "3.0.0", "six": "1.16.0"})
    repo.commit_push("common: mylib 3", paths=("layers",))

    run = push(repo, linked_github.standin, tmp_path / "second")
    (pr,) = run.output("pull-requests")
    assert pr["outcome"] == "skipped"
    # The tests ran against v3 and shouter failed: that verdict is the run's, skipped PR or not.
    assert run.outputs["tests-passed"] == "false" and run.code == 1
    assert "| shouter | common v3 | ❌ failed |" in run.summary
