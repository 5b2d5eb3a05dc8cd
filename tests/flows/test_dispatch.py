"""The release flow: the push flow, then one tag and one GitHub release per published layer, rerun-safe."""

from __future__ import annotations

import pytest

from layer_ci.adapters.github import GitHubClient
from layer_ci.flows.dispatch import run_release
from layer_ci.flows.outcome import StageFailed
from layer_ci.flows.push import PushOptions
from layer_ci.flows.services import Services
from layer_ci.publish.registries import registry_factory
from tests.report.bump_repo import MYLIB_COMPATIBLE, BumpRepo, make_bump_repo
from tests.support.git_remote import run_git
from tests.support.github_standin import FAST, LinkedRepo
from tests.support.recording_tests import RecordingTests, quiet


def _change_layer(repo: BumpRepo) -> str:
    repo.set_layer(MYLIB_COMPATIBLE, {"mylib": "2.0.0", "six": "1.16.0"})
    return repo.commit_push("common: mylib 2.0.0", paths=("layers",))


def _services(repo: BumpRepo, linked: LinkedRepo, tests: RecordingTests) -> Services:
    config = repo.config()
    github = GitHubClient(linked.standin.token, linked.full_name, policy=FAST)
    return Services(registry_factory=registry_factory(config), run_tests=tests, github=github, log=quiet)


def test_a_release_tags_and_releases_each_published_layer_with_its_zip(linked_github: LinkedRepo) -> None:
    repo = make_bump_repo(linked_github.remote)
    sha = _change_layer(repo)
    tests = RecordingTests()

    released = run_release(
        repo.config(), _services(repo, linked_github, tests), PushOptions(commit=sha), releases=True
    )

    assert [(p.region, p.version) for p in released.push.published] == [("us-east-1", 2), ("eu-west-1", 2)]
    assert released.releases == ("layers/common/v2: release created, assets: common-v2.zip",)
    assert sorted(tests.functions) == ["greeter", "shouter"]  # the gate still ran before pins moved
    (release,) = linked_github.repo.releases
    assert release.tag_name == "layers/common/v2" and release.target_commitish == sha
    assert release.body is not None
    assert "arn:aws:lambda:us-east-1:000000000000:layer:common:2" in release.body
    assert "- mylib 2.0.0" in release.body
    assert [asset.name for asset in release.assets] == ["common-v2.zip"]
    assert run_git(["ls-remote", "--tags", "origin"], repo.root).split() == [
        sha,
        "refs/tags/layers/common/v2",
    ]

    # Nothing changed since: nothing is published, so nothing is released twice.
    again = run_release(
        repo.config(), _services(repo, linked_github, tests), PushOptions(commit=sha), releases=True
    )
    assert again.push.published == () and again.releases == ()
    assert len(linked_github.repo.releases) == 1


def test_without_releases_asked_for_only_the_push_runs(linked_github: LinkedRepo) -> None:
    repo = make_bump_repo(linked_github.remote)
    sha = _change_layer(repo)
    released = run_release(
        repo.config(),
        _services(repo, linked_github, RecordingTests()),
        PushOptions(commit=sha),
        releases=False,
    )
    assert len(released.push.published) == 2 and released.releases == ()
    assert linked_github.repo.releases == []


def test_a_refused_tag_after_publishing_says_what_was_published(linked_github: LinkedRepo) -> None:
    repo = make_bump_repo(linked_github.remote)
    v1_commit = run_git(["rev-parse", "HEAD"], repo.root).strip()
    run_git(["push", "--quiet", "origin", f"{v1_commit}:refs/tags/layers/common/v2"], repo.root)
    sha = _change_layer(repo)

    with pytest.raises(StageFailed) as raised:
        run_release(
            repo.config(),
            _services(repo, linked_github, RecordingTests()),
            PushOptions(commit=sha),
            releases=True,
        )

    failure = raised.value
    assert failure.stage == "tags and releases"
    assert [(p.layer, p.version) for p in failure.outcome.published] == [("common", 2), ("common", 2)]
    assert f"tag layers/common/v2 already points at {v1_commit[:12]}" in failure.one_line()
    assert failure.one_line().startswith("tags and releases failed after publishing common v2 in us-east-1")
    assert linked_github.repo.releases == []
