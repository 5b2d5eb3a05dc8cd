"""The pull request flow: verify the change, one status on the PR's head commit, one sticky comment."""

from __future__ import annotations

from pathlib import Path

import pytest

from layer_ci.adapters.git import GitRepo
from layer_ci.adapters.github import GitHubClient
from layer_ci.errors import UsageError
from layer_ci.flows.pull_request import PullRequest, resolve_base, verify_pull_request
from layer_ci.flows.services import Services
from layer_ci.publish.registries import registry_factory
from tests.report.bump_repo import TEMPLATE, BumpRepo, make_bump_repo
from tests.support.git_remote import run_git
from tests.support.github_standin import FAST, LinkedRepo
from tests.support.recording_tests import quiet

GREETER_PIN = "        - arn:aws:lambda:us-east-1:000000000000:layer:common:1"
MARKER = "<!-- layer-ci:verify -->"


@pytest.fixture(autouse=True)
def engine_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LAYER_CI_CACHE", str(tmp_path / "engine-cache"))


def _branch(repo: BumpRepo, name: str, path: str, text: str) -> str:
    run_git(["checkout", "--quiet", "-B", name, "main"], repo.root)
    repo.write(path, text)
    run_git(["commit", "--quiet", "-am", f"{name}: by hand"], repo.root)
    run_git(["push", "--quiet", "--force", "origin", f"HEAD:refs/heads/{name}"], repo.root)
    return run_git(["rev-parse", "HEAD"], repo.root).strip()


def _services(repo: BumpRepo, github: GitHubClient | None) -> Services:
    config = repo.config()
    return Services(
        registry_factory=registry_factory(config), git=GitRepo(repo.root), github=github, log=quiet
    )


def test_a_pin_to_a_missing_version_fails_its_status_and_comments_once(linked_github: LinkedRepo) -> None:
    repo = make_bump_repo(linked_github.remote)
    missing = TEMPLATE.replace(GREETER_PIN, GREETER_PIN.replace(":common:1", ":common:7"))
    sha = _branch(repo, "feature/pin-v7", "template.yaml", missing)
    pull = linked_github.standin.open_pull(
        "feature/pin-v7", title="pin v7", user="ada", repo="octo-org/linked"
    )
    github = GitHubClient(linked_github.standin.token, linked_github.full_name, policy=FAST)
    request = PullRequest(base="main", number=pull.number, head_sha=sha, run_url="https://ci.example/run/1")

    first = verify_pull_request(repo.config(), _services(repo, github), request)
    second = verify_pull_request(repo.config(), _services(repo, github), request)

    assert not first.report.ok and first.status == "failure" and first.comment_url is not None
    assert "common v7 does not exist" in first.body
    statuses = [(s.sha, s.context, s.state) for s in linked_github.repo.statuses]
    assert statuses == [(sha, "layer-ci/verify", "failure")] * 2
    assert linked_github.repo.statuses[0].target_url == "https://ci.example/run/1"
    ours = [c for c in linked_github.standin.state.comments_on("octo-org/linked", pull.number)]
    assert len(ours) == 1 and ours[0].body.startswith(MARKER)  # updated in place on the rerun
    assert second.comment_url == first.comment_url


def test_an_unrelated_change_passes_its_status_and_writes_no_comment(linked_github: LinkedRepo) -> None:
    repo = make_bump_repo(linked_github.remote)
    sha = _branch(repo, "feature/docs", "README.md", "docs only\n")
    pull = linked_github.standin.open_pull("feature/docs", title="docs", user="ada", repo="octo-org/linked")
    github = GitHubClient(linked_github.standin.token, linked_github.full_name, policy=FAST)

    outcome = verify_pull_request(
        repo.config(), _services(repo, github), PullRequest(base="main", number=pull.number, head_sha=sha)
    )

    assert not outcome.report.relevant and outcome.status == "success" and outcome.comment_url is None
    assert [(s.sha, s.state) for s in linked_github.repo.statuses] == [(sha, "success")]
    assert linked_github.standin.state.comments_on("octo-org/linked", pull.number) == []


def test_without_github_it_only_reports(linked_github: LinkedRepo) -> None:
    repo = make_bump_repo(linked_github.remote)
    missing = TEMPLATE.replace(GREETER_PIN, GREETER_PIN.replace(":common:1", ":common:7"))
    _branch(repo, "feature/pin-v7", "template.yaml", missing)
    outcome = verify_pull_request(repo.config(), _services(repo, None), PullRequest(base="main", number=1))
    assert outcome.status is None and outcome.comment_url is None and "❌ failed" in outcome.body
    assert linked_github.repo.statuses == []


def test_verifying_needs_git_and_a_registry(linked_github: LinkedRepo) -> None:
    repo = make_bump_repo(linked_github.remote)
    with pytest.raises(UsageError, match="needs git and read access to the layer registry"):
        verify_pull_request(repo.config(), Services(log=quiet), PullRequest(base="main"))


def test_the_base_comes_from_the_flag_then_the_event_then_the_base_branch(linked_github: LinkedRepo) -> None:
    repo = make_bump_repo(linked_github.remote)
    main = run_git(["rev-parse", "main"], repo.root).strip()
    git = GitRepo(repo.root)
    event = {"pull_request": {"base": {"sha": main}}}
    assert resolve_base(git, "HEAD~0", event, "main") == "HEAD~0"
    assert resolve_base(git, None, event, "main") == main
    assert resolve_base(git, None, {}, "main") == "origin/main"
    with pytest.raises(UsageError, match="fetch-depth: 0"):
        resolve_base(git, "no-such-branch", {}, None)
