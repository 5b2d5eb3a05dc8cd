"""`layer-ci bump` end to end: real git, a bare remote, PyGithub over HTTP to the stand-in, the engine."""

from __future__ import annotations

import difflib
import json
from pathlib import Path

import pytest

from layer_ci import cli
from layer_ci.adapters.git import GitRepo
from layer_ci.adapters.github import GitHubClient
from layer_ci.bump.pull_requests import BumpOutcome, PrOutcome, bump_after_publish, function_sizes
from layer_ci.engine.prepare import EngineOptions
from layer_ci.engine.runner import LayerReport, TestResult
from layer_ci.gate.consumers import (
    AGGREGATE_CONTEXT,
    GateResult,
    TestRunner,
    actions_run_url,
    engine_runner,
)
from layer_ci.gate.consumers import FunctionCheck as GateCheck
from layer_ci.model import Manifest
from layer_ci.publish.folder_registry import LocalRegistry
from tests.engine.engine_support import function_spec, layer_spec, make_config
from tests.report.bump_repo import PROD_TF, TEMPLATE, BumpRepo, make_bump_repo
from tests.support.git_remote import make_git_remote, run_git
from tests.support.github_standin import FAST, GitHubStandIn, LinkedRepo

BOT_EMAIL = "41898282+github-actions[bot]@users.noreply.github.com"
BRANCH = "layer-ci/common"
PULLS = "/repos/{owner}/{repo}/pulls"
STATUSES = "/repos/{owner}/{repo}/statuses/{sha}"
MERGE = "/repos/{owner}/{repo}/pulls/{number}/merge"
GREETER_CONTEXT = "layer-ci/test/greeter"
SHOUTER_CONTEXT = "layer-ci/test/shouter"
RUN_ENV = {
    "GITHUB_SERVER_URL": "https://github.example.com",
    "GITHUB_REPOSITORY": "octo-org/linked",
    "GITHUB_RUN_ID": "4242",
}


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One engine cache for the module, as on a runner that keeps ~/.cache/layer-ci between steps."""
    return tmp_path_factory.mktemp("bump-engine-cache")


@pytest.fixture(autouse=True)
def no_workflow_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("GITHUB_RUN_ID", "GITHUB_EVENT_PATH", "GITHUB_EVENT_NAME", "GITHUB_SHA", "GITHUB_TOKEN"):
        monkeypatch.delenv(key, raising=False)


@pytest.fixture
def repo(linked_github: LinkedRepo) -> BumpRepo:
    return make_bump_repo(linked_github.remote)


@pytest.fixture
def standin(linked_github: LinkedRepo) -> GitHubStandIn:
    return linked_github.standin


def bump(
    repo: BumpRepo,
    linked: LinkedRepo,
    cache: Path,
    *,
    runner: TestRunner | None = None,
    target_url: str | None = None,
) -> BumpOutcome:
    client = GitHubClient(linked.standin.token, linked.full_name, policy=FAST)
    try:
        return bump_after_publish(
            repo.config(),
            git=GitRepo(repo.root),
            github=client,
            test_runner=runner or engine_runner(EngineOptions(cache_dir=cache)),
            cache_dir=cache,
            base="main",
            target_url=target_url,
        )
    finally:
        client.close()


def only_pr(outcome: BumpOutcome) -> PrOutcome:
    assert len(outcome.prs) == 1, [(p.branch, p.action, p.reason) for p in outcome.prs]
    (pr,) = outcome.prs
    return pr


def latest_statuses(standin: GitHubStandIn, sha: str) -> dict[str, tuple[str, str | None, str | None]]:
    latest: dict[str, tuple[str, str | None, str | None]] = {}
    for status in standin.repo("octo-org/linked").statuses:
        if status.sha == sha:
            latest[status.context] = (status.state, status.description, status.target_url)
    return latest


def changed_characters(old: str, new: str) -> list[tuple[str, str]]:
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    return [(old[i1:i2], new[j1:j2]) for tag, i1, i2, j1, j2 in matcher.get_opcodes() if tag != "equal"]


# ------------------------------------------------------------------------------------- the commit


def test_the_commit_changes_only_version_digits_and_the_lock(
    repo: BumpRepo, linked_github: LinkedRepo, cache: Path
) -> None:
    repo.release()
    pr = only_pr(bump(repo, linked_github, cache))
    assert (pr.action, pr.branch, pr.layers) == ("created", BRANCH, ("common",))
    assert pr.passed and pr.failed_functions == ()

    remote = repo.remote
    base, head = remote.files("main"), remote.files(BRANCH)
    changed = {path for path in base.keys() | head.keys() if base.get(path) != head.get(path)}
    assert changed == {"template.yaml", "infra/prod.tf", "layer-ci.lock"}
    for path, original in (("template.yaml", TEMPLATE), ("infra/prod.tf", PROD_TF)):
        after = head[path].decode()
        assert base[path].decode() == original
        # Only the version digits moved; the other 1s on those lines and in the comments did not.
        assert changed_characters(original, after) == [("1", "2")] * original.count("layer:common:1")
    assert remote.read_file(BRANCH, "layer-ci.lock") == (repo.root / "layer-ci.lock").read_bytes()
    assert {r: ref.version for r, ref in repo.remote_lock(BRANCH).layers["common"].published.items()} == {
        "us-east-1": 2,
        "eu-west-1": 2,
    }

    log = remote.commit_log(BRANCH)
    assert log[0][1] == BOT_EMAIL and log[0][2] == "Bump layer common to v2"
    assert log[1][0] == remote.branch_sha("main")  # one commit, right on top of the base tip
    assert pr.head_sha == remote.branch_sha(BRANCH)


def test_a_config_in_a_subfolder_of_the_repository_is_bumped_there(
    linked_github: LinkedRepo, cache: Path
) -> None:
    repo = make_bump_repo(linked_github.remote, subdir="services/shop")
    repo.release()
    pr = only_pr(bump(repo, linked_github, cache))
    assert pr.action == "created", pr.reason
    base, head = repo.remote.files("main"), repo.remote.files(BRANCH)
    changed = {path for path in base.keys() | head.keys() if base.get(path) != head.get(path)}
    assert changed == {
        "services/shop/template.yaml",
        "services/shop/infra/prod.tf",
        "services/shop/layer-ci.lock",
    }


def test_the_pr_describes_versions_packages_sizes_and_tests(
    repo: BumpRepo, linked_github: LinkedRepo, cache: Path, standin: GitHubStandIn
) -> None:
    repo.release(version="2.1.0")
    pr = only_pr(bump(repo, linked_github, cache, target_url=actions_run_url(RUN_ENV)))
    (pull,) = standin.open_pulls("octo-org/linked")
    assert pull.number == pr.number and pull.title == "Bump layer common to v2"
    body = pull.body or ""
    assert (
        "| `common` | us-east-1 | v1 | **v2** |" in body and "| `common` | eu-west-1 | v1 | **v2** |" in body
    )
    assert "| mylib | 1.0.0 | 2.1.0 | **major** |" in body
    assert "| idna | — | 3.7 | added |" in body
    assert "1 changed (1 major) · 1 added · 0 removed" in body
    assert "262,144,000-byte limit" in body and "| `greeter` |" in body and "| `shouter` |" in body
    assert "✅ passed" in body and "❌" not in body
    assert "(https://github.example.com/octo-org/linked/actions/runs/4242)" in body
    assert sorted(pull.labels) == ["dependencies", "layer-ci"]

    statuses = latest_statuses(standin, pr.head_sha or "")
    assert {context: state for context, (state, _, _) in statuses.items()} == {
        AGGREGATE_CONTEXT: "success",
        GREETER_CONTEXT: "success",
        SHOUTER_CONTEXT: "success",
    }
    assert all(
        url == "https://github.example.com/octo-org/linked/actions/runs/4242"
        for _, _, url in statuses.values()
    )
    # The tests ran before the commit existed: each context is set once, final, never pending first.
    on_head = [s for s in standin.repo("octo-org/linked").statuses if s.sha == pr.head_sha]
    assert sorted((s.context, s.state) for s in on_head) == sorted(
        (context, "success") for context in (AGGREGATE_CONTEXT, GREETER_CONTEXT, SHOUTER_CONTEXT)
    )


# --------------------------------------------------------------------------------- idempotent PRs


def test_a_rerun_changes_nothing_and_a_newer_release_updates_the_same_pr_in_place(
    repo: BumpRepo, linked_github: LinkedRepo, cache: Path, standin: GitHubStandIn
) -> None:
    repo.release()
    first = only_pr(bump(repo, linked_github, cache))
    head = repo.remote.branch_sha(BRANCH)

    standin.clear_requests()
    again = only_pr(bump(repo, linked_github, cache))
    assert (again.action, again.number, again.head_sha) == ("unchanged", first.number, head)
    assert repo.remote.branch_sha(BRANCH) == head  # nothing pushed
    # An unchanged rerun lists the open PRs once, reads the statuses already on its head and its sticky
    # comment, and writes nothing.
    assert [r.key for r in standin.requests] == [
        f"GET {PULLS}",
        "GET /repos/{owner}/{repo}/commits/{ref}/status",
        "GET /repos/{owner}/{repo}/issues/{number}/comments",
    ]

    repo.release(version="3.0.0")
    third = only_pr(bump(repo, linked_github, cache))
    assert (third.action, third.number, third.branch) == ("updated", first.number, BRANCH)
    assert third.head_sha == repo.remote.branch_sha(BRANCH) != head
    (pull,) = standin.open_pulls("octo-org/linked")
    assert pull.number == first.number and pull.title == "Bump layer common to v3"
    assert "| `common` | us-east-1 | v1 | **v3** |" in (pull.body or "")
    assert "layer:common:3" in (repo.remote.read_file(BRANCH, "template.yaml") or b"").decode()
    assert len(repo.remote.commit_log(BRANCH)) == len(repo.remote.commit_log("main")) + 1
    branches = run_git(["for-each-ref", "--format=%(refname:short)", "refs/heads"], repo.remote.bare).split()
    assert sorted(branches) == [BRANCH, "main"]  # no second branch, no second PR
    assert latest_statuses(standin, third.head_sha or "")[AGGREGATE_CONTEXT][0] == "success"


def test_a_pr_whose_pins_vanished_is_closed_with_a_comment_and_its_branch_deleted(
    repo: BumpRepo, linked_github: LinkedRepo, cache: Path, standin: GitHubStandIn
) -> None:
    repo.release()
    first = only_pr(bump(repo, linked_github, cache))
    # On main, the functions stop pinning common: they move to a vendor's layer in another account.
    repo.write(
        "template.yaml",
        TEMPLATE.replace("000000000000:layer:common:1", "111122223333:layer:vendor-common:7"),
    )
    repo.write("infra/prod.tf", "# no pins here any more\n")
    repo.commit_push("stop pinning common")
    repo.publish()

    pr = only_pr(bump(repo, linked_github, cache))
    assert (pr.action, pr.number) == ("closed", first.number)
    assert "no pins of common remain" in pr.reason
    assert standin.open_pulls("octo-org/linked") == []
    assert first.number is not None
    sticky, comment = standin.state.comments_on("octo-org/linked", first.number)
    assert sticky.body.startswith("<!-- layer-ci:bump -->")
    assert "no pins of common remain in the repository" in comment.body
    assert repo.remote.branch_sha(BRANCH) is None


def test_a_pr_made_obsolete_by_the_base_is_closed(
    repo: BumpRepo, linked_github: LinkedRepo, cache: Path, standin: GitHubStandIn
) -> None:
    repo.release()
    first = only_pr(bump(repo, linked_github, cache))
    # Somebody bumps by hand on main and commits the lock: the bot's PR has nothing left to do.
    for path in ("template.yaml", "infra/prod.tf"):
        repo.write(path, repo.read(path).replace("layer:common:1", "layer:common:2"))
    repo.commit_push("bump common by hand", with_lock=True)

    outcome = bump(repo, linked_github, cache)
    pr = only_pr(outcome)
    assert (pr.action, pr.number, pr.branch) == ("closed", first.number, BRANCH)
    assert "every pin names the version layer-ci.lock records" in pr.reason
    assert standin.open_pulls("octo-org/linked") == []


def test_a_branch_with_commits_by_people_is_never_force_pushed(
    repo: BumpRepo, linked_github: LinkedRepo, cache: Path, standin: GitHubStandIn
) -> None:
    repo.release()
    first = only_pr(bump(repo, linked_github, cache))
    human = repo.remote.push_as(
        BRANCH, {"NOTES.md": b"keep shouter on v1\n"}, author=("Ada", "ada@example.com"), message="note"
    )
    repo.release(version="3.0.0")
    pr = only_pr(bump(repo, linked_github, cache))
    assert pr.action == "skipped" and "ada@example.com" in pr.reason
    assert repo.remote.branch_sha(BRANCH) == human
    (pull,) = standin.open_pulls("octo-org/linked")
    assert pull.number == first.number and pull.title == "Bump layer common to v2"


def test_per_push_mode_opens_one_pr_and_closes_the_per_layer_one(
    repo: BumpRepo, linked_github: LinkedRepo, cache: Path, standin: GitHubStandIn
) -> None:
    repo.release()
    per_layer = only_pr(bump(repo, linked_github, cache))
    repo.write("layer-ci.yml", repo.read("layer-ci.yml").replace("per-layer", "per-push"))
    repo.commit_push("one bump PR per push")
    repo.release(version="3.0.0")

    outcome = bump(repo, linked_github, cache)
    actions = {pr.branch: (pr.action, pr.number) for pr in outcome.prs}
    assert actions["layer-ci/layers"][0] == "created"
    assert actions[BRANCH] == ("closed", per_layer.number)
    (pull,) = standin.open_pulls("octo-org/linked")
    assert pull.pull is not None and pull.pull.head_ref == "layer-ci/layers"
    assert per_layer.number is not None
    sticky, comment = standin.state.comments_on("octo-org/linked", per_layer.number)
    assert sticky.body.startswith("<!-- layer-ci:bump -->")
    assert "layer-ci/layers" in comment.body


# ------------------------------------------------------------------------------------------ the gate


def test_a_failing_function_keeps_its_pin_fails_its_status_and_blocks_auto_merge(
    linked_github: LinkedRepo, cache: Path, standin: GitHubStandIn
) -> None:
    repo = make_bump_repo(linked_github.remote, auto_merge=True)
    standin.repo("octo-org/linked").required_contexts = [AGGREGATE_CONTEXT]
    repo.release(breaking=True)
    pr = only_pr(bump(repo, linked_github, cache, target_url=actions_run_url(RUN_ENV)))

    assert pr.action == "created" and pr.failed_functions == ("shouter",) and not pr.merged
    assert pr.reason == "not auto-merged: tests failed"
    statuses = latest_statuses(standin, pr.head_sha or "")
    assert statuses[GREETER_CONTEXT][0] == "success"
    state, description, url = statuses[SHOUTER_CONTEXT]
    assert (state, description) == ("failure", "ImportError: cannot import name 'shout' from 'mylib'")
    assert url == "https://github.example.com/octo-org/linked/actions/runs/4242"
    state, description, _ = statuses[AGGREGATE_CONTEXT]
    assert state == "failure" and description is not None and len(description) <= 140
    assert description.startswith("1 of 2 failed: shouter: ImportError: cannot import name 'shout'")

    (pull,) = standin.open_pulls("octo-org/linked")  # still open: nothing was merged
    body = pull.body or ""
    assert "E   ImportError: cannot import name 'shout' from 'mylib'" in body  # the failing lines
    assert "| `shouter` | ❌ failed |" in body and "| `greeter` | ✅ passed |" in body
    assert sorted(pull.labels) == ["dependencies", "layer-ci", "layer-ci:tests-failed"]
    assert pull.title == "Bump layer common to v2 (tests failed)"

    # greeter's pins move, shouter's (the !Sub line) stays at v1 and the body says why.
    template = (repo.remote.read_file(BRANCH, "template.yaml") or b"").decode()
    assert "- arn:aws:lambda:us-east-1:000000000000:layer:common:2" in template
    assert '- !Sub "arn:aws:lambda:${AWS::Region}:000000000000:layer:common:1"' in template
    assert "layer:common:2" in (repo.remote.read_file(BRANCH, "infra/prod.tf") or b"").decode()
    shouter_line = (
        TEMPLATE.splitlines().index(
            '        - !Sub "arn:aws:lambda:${AWS::Region}:000000000000:layer:common:1"'
        )
        + 1
    )
    assert f"`template.yaml:{shouter_line}` `common` stays at v1: shouter failed its tests" in body
    # The outcome carries the engine's results and the kept pin, for the Action's summary and annotations.
    assert [(c.function, c.result.status) for c in pr.checks] == [
        ("greeter", "passed"),
        ("shouter", "failed"),
    ]
    assert pr.checks[1].result.headline is not None and pr.checks[1].result.duration_s > 0
    assert [(k.location, k.layer, k.version) for k in pr.kept_pins] == [
        (f"template.yaml:{shouter_line}", "common", 1)
    ]
    assert repo.remote.branch_sha("main") != pr.head_sha and len(standin.open_pulls("octo-org/linked")) == 1


def test_a_failing_bump_that_a_newer_release_fixes_turns_green_in_place(
    repo: BumpRepo, linked_github: LinkedRepo, cache: Path, standin: GitHubStandIn
) -> None:
    repo.release(breaking=True)
    failing = only_pr(bump(repo, linked_github, cache))
    assert failing.failed_functions == ("shouter",)
    (pull,) = standin.open_pulls("octo-org/linked")
    assert "layer-ci:tests-failed" in pull.labels and pull.title.endswith("(tests failed)")

    repo.release(version="3.0.0")  # shout() is back
    standin.clear_requests()
    fixed = only_pr(bump(repo, linked_github, cache))

    assert (fixed.action, fixed.number) == ("updated", failing.number)
    assert fixed.passed and fixed.failed_functions == () and not fixed.merged
    (pull,) = standin.open_pulls("octo-org/linked")
    assert pull.number == failing.number
    assert pull.title == "Bump layer common to v3"
    assert sorted(pull.labels) == ["dependencies", "layer-ci"]  # the failure label came off
    assert standin.count("DELETE", "/repos/{owner}/{repo}/issues/{number}/labels/{name}") == 1
    assert "stays at" not in (pull.body or "") and "❌" not in (pull.body or "")
    statuses = latest_statuses(standin, fixed.head_sha or "")
    assert {context: state for context, (state, _, _) in statuses.items()} == {
        AGGREGATE_CONTEXT: "success",
        GREETER_CONTEXT: "success",
        SHOUTER_CONTEXT: "success",
    }
    # Every pin moves now, shouter's !Sub line included.
    template = (repo.remote.read_file(BRANCH, "template.yaml") or b"").decode()
    assert template.count("layer:common:3") == TEMPLATE.count("layer:common:1") and "common:1" not in template


def test_when_every_function_passes_auto_merge_merges_within_ten_api_calls(
    linked_github: LinkedRepo, cache: Path, standin: GitHubStandIn
) -> None:
    repo = make_bump_repo(linked_github.remote, auto_merge=True)
    standin.repo("octo-org/linked").required_contexts = [AGGREGATE_CONTEXT]
    repo.release()
    standin.clear_requests()
    outcome = bump(repo, linked_github, cache)
    pr = only_pr(outcome)

    assert pr.merged and pr.action == "created"
    assert standin.open_pulls("octo-org/linked") == []
    merged_main = repo.remote.files("main")
    assert (
        b"layer:common:2" in merged_main["template.yaml"]
        and b"layer:common:1\n" not in merged_main["template.yaml"]
    )
    assert b'"version": 2' in merged_main["layer-ci.lock"]
    # Everything this PR cost, statuses included, within the budget of 10 requests: the merge is one
    # PUT at the tested sha, with no re-reading of the PR or of the statuses layer-ci has just set.
    # A new PR has no comments yet: its sticky comment is created without listing them first.
    assert pr.api_calls == outcome.api_calls == standin.count() == 7
    assert sorted(r.key for r in standin.requests) == sorted(
        [f"POST {STATUSES}"] * 3  # greeter, shouter, aggregate
        + [f"POST {PULLS}", "POST /repos/{owner}/{repo}/issues/{number}/labels"]
        + ["POST /repos/{owner}/{repo}/issues/{number}/comments"]
        + [f"PUT {MERGE}"]
    )
    # The merged PR's branch is deleted at once (git, no API request): nothing left for later runs.
    assert pr.branch_deleted and repo.remote.branch_sha(BRANCH) is None
    (merge,) = [r for r in standin.requests if r.key == f"PUT {MERGE}"]
    assert merge.status == 200


def test_five_affected_functions_with_auto_merge_cost_exactly_the_budget_of_ten(
    linked_github: LinkedRepo, cache: Path, standin: GitHubStandIn
) -> None:
    # greeter, shouter and 3 more consumers: 5 function statuses + the aggregate + PR + labels + the
    # sticky comment + merge.
    repo = make_bump_repo(linked_github.remote, auto_merge=True, extra_consumers=3)
    standin.repo("octo-org/linked").required_contexts = [AGGREGATE_CONTEXT]
    repo.release()
    standin.clear_requests()
    outcome = bump(repo, linked_github, cache)
    pr = only_pr(outcome)

    assert pr.merged and pr.action == "created" and len(pr.checks) == 5
    assert pr.api_calls == outcome.api_calls == standin.count() == 10
    assert standin.count("POST", STATUSES) == 6
    assert standin.count("PUT", MERGE) == 1 and standin.count("GET") == 0


def test_branch_protection_refusing_the_merge_leaves_the_pr_open(
    linked_github: LinkedRepo, cache: Path, standin: GitHubStandIn
) -> None:
    # Another required check that nobody has reported on the new head: GitHub's own answer (405) stops
    # the merge, so auto-merge never bypasses branch protection.
    repo = make_bump_repo(linked_github.remote, auto_merge=True)
    standin.repo("octo-org/linked").required_contexts = [AGGREGATE_CONTEXT, "ci/integration"]
    repo.release()
    pr = only_pr(bump(repo, linked_github, cache))

    assert pr.action == "created" and pr.passed and not pr.merged
    assert pr.reason == (
        'auto-merge not done: not-mergeable (Required status check "ci/integration" is expected.)'
    )
    (pull,) = standin.open_pulls("octo-org/linked")
    assert pull.number == pr.number and repo.remote.branch_sha("main") != pr.head_sha

    # On a rerun the head is unchanged: a failing status someone else set there blocks the merge
    # without asking GitHub to merge at all.
    standin.repo("octo-org/linked").required_contexts = [AGGREGATE_CONTEXT]
    client = GitHubClient(standin.token, "octo-org/linked", policy=FAST)
    client.set_status(pr.head_sha or "", "ci/integration", "failure", "broken elsewhere")
    client.close()
    standin.clear_requests()
    again = only_pr(bump(repo, linked_github, cache))
    assert (again.action, again.merged) == ("unchanged", False)
    assert again.reason == "auto-merge not done: not-green (ci/integration)"
    assert standin.count("PUT", MERGE) == 0 and len(standin.open_pulls("octo-org/linked")) == 1


# ------------------------------------------------------------------------------------------- faults


def test_a_pr_github_already_lists_is_found_through_the_422_and_updated(
    repo: BumpRepo, linked_github: LinkedRepo, cache: Path, standin: GitHubStandIn
) -> None:
    repo.release()
    first = only_pr(bump(repo, linked_github, cache))
    # Git no longer sees the branch while the API still lists its open PR (replication lag, or a
    # concurrent run): the create answers 422 "A pull request already exists".
    run_git(["push", "--quiet", "origin", f":refs/heads/{BRANCH}"], repo.root)
    repo.release(version="3.0.0")
    standin.clear_requests()
    pr = only_pr(bump(repo, linked_github, cache))

    assert (pr.action, pr.number) == ("updated", first.number)
    assert [r.status for r in standin.requests if r.key == f"POST {PULLS}"] == [422]
    (pull,) = standin.open_pulls("octo-org/linked")
    assert pull.title == "Bump layer common to v3" and pull.pull is not None
    assert pull.pull.head_sha == repo.remote.branch_sha(BRANCH) == pr.head_sha


def test_many_open_prs_and_secondary_rate_limits_are_survived(
    repo: BumpRepo, linked_github: LinkedRepo, cache: Path, standin: GitHubStandIn
) -> None:
    repo.release()
    first = only_pr(bump(repo, linked_github, cache))
    main_sha = repo.remote.branch_sha("main")
    for n in range(130):  # other people's PRs: two pages of them
        standin.state.repo("octo-org/linked").refs.create(f"refs/heads/feature/{n:03d}", main_sha or "")
        standin.open_pull(f"feature/{n:03d}", user="someone", repo="octo-org/linked")
    repo.release(version="3.0.0")
    standin.clear_requests()
    standin.secondary_rate_limit("POST", STATUSES, nth=2)
    standin.secondary_rate_limit("PATCH", "/repos/{owner}/{repo}/pulls/{number}")

    pr = only_pr(bump(repo, linked_github, cache))
    assert (pr.action, pr.number) == ("updated", first.number)
    assert [r.status for r in standin.requests if r.key == f"POST {STATUSES}"] == [201, 403, 201, 201]
    assert [r.status for r in standin.requests if r.key == "PATCH /repos/{owner}/{repo}/pulls/{number}"] == [
        403,
        200,
    ]
    # Every bump PR is found by one listing of the open PRs into main: 131 of them are two pages.
    assert [r.query.get("page") for r in standin.requests if r.key == f"GET {PULLS}"] == [None, ["2"]]
    assert latest_statuses(standin, pr.head_sha or "")[AGGREGATE_CONTEXT][0] == "success"
    assert len(standin.open_pulls("octo-org/linked")) == 131


# ------------------------------------------------------------------------------------ CLI and GHE


def test_the_cli_bumps_through_a_github_enterprise_api_base(
    github_standin_factory: object, tmp_path: Path, hermetic_git: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    factory = github_standin_factory
    assert callable(factory)
    ghe: GitHubStandIn = factory(api_prefix="/api/v3")
    remote = make_git_remote(tmp_path / "ghe")
    ghe.add_repo("octo-org/linked", git_dir=remote.bare)
    repo = make_bump_repo(remote)
    repo.release()
    monkeypatch.setenv("GITHUB_API_URL", ghe.url)
    monkeypatch.setenv("GITHUB_TOKEN", ghe.token)
    monkeypatch.setenv("GITHUB_REPOSITORY", "octo-org/linked")
    monkeypatch.setenv("LAYER_CI_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(repo.root)

    code = cli.main(["bump", "--base", "main", "--json"])
    assert code == 0
    (pull,) = ghe.open_pulls("octo-org/linked")
    assert pull.title == "Bump layer common to v2"
    assert ghe.url.endswith("/api/v3") and all(r.status < 400 for r in ghe.requests)
    assert remote.branch_sha(BRANCH) is not None


def test_dry_run_tests_and_renders_but_pushes_and_asks_nothing(
    repo: BumpRepo,
    linked_github: LinkedRepo,
    cache: Path,
    standin: GitHubStandIn,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    repo.release(breaking=True)
    monkeypatch.setenv("LAYER_CI_CACHE", str(cache))
    code = cli.main(["--config", str(repo.config_path), "bump", "--dry-run"])
    out = capsys.readouterr().out
    assert code == 1  # a function failed against the new version
    assert "=== layer-ci/common: Bump layer common to v2 (tests failed)" in out
    assert "files: infra/prod.tf, layer-ci.lock, template.yaml" in out
    assert standin.requests == [] and repo.remote.branch_sha(BRANCH) is None


def test_json_output_names_each_pr_and_its_api_calls(
    repo: BumpRepo,
    linked_github: LinkedRepo,
    cache: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    repo.release()
    monkeypatch.setenv("GITHUB_TOKEN", linked_github.standin.token)
    monkeypatch.setenv("GITHUB_REPOSITORY", "octo-org/linked")
    monkeypatch.setenv("LAYER_CI_CACHE", str(cache))
    assert cli.main(["--config", str(repo.config_path), "bump", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    (pr,) = document["pull_requests"]
    assert pr["action"] == "created" and pr["branch"] == BRANCH and pr["api_calls"] <= 10
    assert pr["statuses"] == {
        GREETER_CONTEXT: "success",
        SHOUTER_CONTEXT: "success",
        AGGREGATE_CONTEXT: "success",
    }


def test_nothing_released_means_nothing_to_do(
    repo: BumpRepo, linked_github: LinkedRepo, cache: Path, standin: GitHubStandIn
) -> None:
    outcome = bump(repo, linked_github, cache)
    assert outcome.prs == () and outcome.api_calls == 0 and standin.requests == []


def test_the_registry_supplies_the_zip_when_the_build_folder_is_gone(
    repo: BumpRepo, linked_github: LinkedRepo, cache: Path, standin: GitHubStandIn
) -> None:
    repo.release(breaking=True)
    for leftover in (repo.root / ".layer-ci" / "build").iterdir():
        leftover.unlink()
    pr = only_pr(bump(repo, linked_github, cache))
    assert pr.failed_functions == ("shouter",)
    registry = LocalRegistry(repo.root / ".layer-ci" / "registry", "us-east-1")
    assert [v.version for v in registry.list_versions("common")] == [2, 1]
    (pull,) = standin.open_pulls("octo-org/linked")
    assert "| mylib | 1.0.0 | — | removed |" not in (pull.body or "")
    assert "| mylib | 1.0.0 | 2.0.0 | **major** |" in (pull.body or "")


# ------------------------------------------------------------------------------------ sizes in the body


def _manifest(layer: str, unzipped: int) -> Manifest:
    return Manifest(layer, "sha256:" + "0" * 64, "1" * 64, unzipped // 4, unzipped, (), ())


def _sized_result(function: str, status: str, sizes: dict[str, int]) -> TestResult:
    layers = tuple(LayerReport(name, f"{name} (tested)", "2" * 64, size) for name, size in sizes.items())
    return TestResult(function, status, 0.1, 0, None, "", layers=layers)  # type: ignore[arg-type]


def test_a_failing_function_is_sized_with_the_old_version_its_pin_keeps(tmp_path: Path) -> None:
    app = {"app.py": "x" * 1000}  # 1,000 bytes of code each
    config = make_config(
        tmp_path,
        [layer_spec(tmp_path, "common"), layer_spec(tmp_path, "tools")],
        [
            function_spec(tmp_path, "passing", app, ("common", "tools")),
            function_spec(tmp_path, "failing", app, ("common", "tools")),
        ],
    )
    # The tests ran with common's new version (measured 90 MB) and tools as pinned (5 MB).
    tested = {"common": 90_000_000, "tools": 5_000_000}
    gate = GateResult(
        (
            GateCheck("failing", (("common", "v2.zip"),), _sized_result("failing", "failed", tested)),
            GateCheck("passing", (("common", "v2.zip"),), _sized_result("passing", "passed", tested)),
        )
    )
    sizes = {
        size.function: size
        for size in function_sizes(
            config,
            gate,
            {"common": _manifest("common", 90_000_000)},
            manifests_before={"common": _manifest("common", 30_000_000)},
            released=("common",),
        )
    }
    assert sizes["passing"].total_bytes == 1_000 + 90_000_000 + 5_000_000
    assert sizes["failing"].total_bytes == 1_000 + 30_000_000 + 5_000_000  # still deploys common v1
    assert sizes["failing"].unmeasured == ()

    # Without the old version's manifest (deleted) the failing function's size of common is unknown:
    # named as unmeasured, never replaced by the new version's size.
    unknown = function_sizes(config, gate, {"common": _manifest("common", 90_000_000)}, released=("common",))
    failing = next(size for size in unknown if size.function == "failing")
    assert (failing.total_bytes, failing.unmeasured) == (1_000 + 5_000_000, ("common",))
