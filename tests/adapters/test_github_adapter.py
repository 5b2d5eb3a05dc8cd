"""GitHubClient end to end: PyGithub over real HTTP to the loopback GitHub stand-in, faults included."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from layer_ci.adapters.git import GitRepo
from layer_ci.adapters.github import (
    MAX_BODY_CHARS,
    TRUNCATION_NOTE,
    GitHubClient,
    marker_comment,
)
from layer_ci.errors import ServiceError, UsageError
from tests.support.github_standin import DEFAULT_REPO, GitHubStandIn, LinkedRepo
from tests.support.github_standin import FAST as STANDIN_FAST

# Tighter than the other tests' budget: several tests here wait for it to run out.
FAST = replace(STANDIN_FAST, max_total_wait_s=4.0, timeout_s=5)
PULLS = "/repos/{owner}/{repo}/pulls"
COMMENTS = "/repos/{owner}/{repo}/issues/{number}/comments"
HEAD = "layer-ci/common-deps"


@pytest.fixture
def standin(github_standin: GitHubStandIn) -> GitHubStandIn:
    github_standin.create_branch("main")
    github_standin.create_branch(HEAD)
    return github_standin


@pytest.fixture
def client(standin: GitHubStandIn) -> GitHubClient:
    return GitHubClient(standin.token, DEFAULT_REPO, policy=FAST)


# ---------------------------------------------------------------------------------- pull requests


def test_create_then_unchanged_then_updated_never_duplicates(
    standin: GitHubStandIn, client: GitHubClient
) -> None:
    pr, outcome = client.create_or_update_pr(HEAD, "main", "Bump common-deps to 4", "body v1")
    assert outcome == "created"
    assert pr.head_ref == HEAD and pr.base_ref == "main" and pr.user_login == standin.login
    assert standin.count() == 1  # one POST, nothing else

    again, outcome = client.create_or_update_pr(HEAD, "main", "Bump common-deps to 4", "body v1")
    assert (again.number, outcome) == (pr.number, "unchanged")
    changed, outcome = client.create_or_update_pr(HEAD, "main", "Bump common-deps to 5", "body v2")
    assert (changed.number, outcome) == (pr.number, "updated")

    (only,) = standin.open_pulls()
    assert (only.title, only.body) == ("Bump common-deps to 5", "body v2")
    assert client.find_open_pr(HEAD) == changed
    assert client.api_calls == standin.count()


def test_existing_pr_opened_elsewhere_is_found_through_the_422_and_updated(
    standin: GitHubStandIn, client: GitHubClient
) -> None:
    by_hand = standin.open_pull(HEAD, title="opened by hand", user="someone")
    pr, outcome = client.create_or_update_pr(HEAD, "main", "Bump common-deps to 4", "generated")
    assert (pr.number, outcome) == (by_hand.number, "updated")
    assert [r.status for r in standin.requests if r.key == f"POST {PULLS}"] == [422]
    (only,) = standin.open_pulls()
    assert (only.title, only.body) == ("Bump common-deps to 4", "generated")


def test_find_uses_the_owner_prefixed_head_filter(standin: GitHubStandIn, client: GitHubClient) -> None:
    standin.open_pull("layer-ci/other")
    wanted = standin.open_pull(HEAD)
    standin.open_pull("layer-ci/newest")
    found = client.find_open_pr(HEAD)
    assert found is not None and found.number == wanted.number
    (request,) = [r for r in standin.requests if r.key == f"GET {PULLS}"]
    assert request.query["head"] == [f"octo-org:{HEAD}"]
    assert client.find_open_pr("layer-ci/none") is None


def test_listing_follows_pagination_past_100(standin: GitHubStandIn, client: GitHubClient) -> None:
    for n in range(130):
        standin.open_pull(f"layer-ci/layer-{n:03d}")
    standin.open_pull("feature/unrelated")
    found = client.list_open_prs(head_prefix="layer-ci/")
    assert sorted(pr.head_ref for pr in found) == [f"layer-ci/layer-{n:03d}" for n in range(130)]
    pages = [r for r in standin.requests if r.key == f"GET {PULLS}"]
    assert len(pages) == 2 and standin.count() == 2  # reading the PRs' fields costs no extra request
    assert pages[1].path.startswith("/repositories/")  # the Link header's next page, as GitHub names it


def test_close_pr_leaves_a_comment(standin: GitHubStandIn, client: GitHubClient) -> None:
    pr, _ = client.create_or_update_pr(HEAD, "main", "old bump", "")
    closed = client.close_pr(pr.number, comment="Superseded by #9")
    assert closed.state == "closed"
    assert standin.open_pulls() == []
    assert [c.body for c in standin.state.comments_on(DEFAULT_REPO, pr.number)] == ["Superseded by #9"]


def test_long_title_and_body_are_cut_to_githubs_limits(standin: GitHubStandIn, client: GitHubClient) -> None:
    pr, _ = client.create_or_update_pr(HEAD, "main", "t" * 300, "b" * (MAX_BODY_CHARS + 10))
    (only,) = standin.open_pulls()
    assert len(only.title) == 256 and only.title.endswith("…")
    assert only.body is not None and len(only.body) == MAX_BODY_CHARS and "Truncated" in only.body
    assert pr.body == only.body


# ------------------------------------------------------------------------------------------ faults


def test_bad_gateway_after_the_create_took_effect_finds_the_pr(
    standin: GitHubStandIn, client: GitHubClient
) -> None:
    standin.bad_gateway("POST", PULLS, after_effect=True)
    pr, outcome = client.create_or_update_pr(HEAD, "main", "Bump", "body")
    assert outcome == "created"
    assert len(standin.open_pulls()) == 1 and standin.open_pulls()[0].number == pr.number
    assert standin.count("POST", PULLS) == 1  # looked before retrying, did not post again
    assert standin.count("GET", PULLS) == 1


def test_bad_gateway_before_the_create_retries_once(standin: GitHubStandIn, client: GitHubClient) -> None:
    standin.bad_gateway("POST", PULLS, after_effect=False)
    _, outcome = client.create_or_update_pr(HEAD, "main", "Bump", "body")
    assert outcome == "created"
    assert len(standin.open_pulls()) == 1
    assert [r.status for r in standin.requests if r.key == f"POST {PULLS}"] == [502, 201]


def test_persistent_bad_gateway_fails_with_the_operation_named(
    standin: GitHubStandIn, client: GitHubClient
) -> None:
    standin.bad_gateway("POST", PULLS, times=None)
    with pytest.raises(ServiceError) as caught:
        client.create_or_update_pr(HEAD, "main", "Bump", "body")
    assert str(caught.value).startswith("GitHub create pull request failed: 502")
    assert standin.open_pulls() == []


def test_bad_gateway_on_a_read_is_retried(standin: GitHubStandIn, client: GitHubClient) -> None:
    standin.bad_gateway("GET", PULLS, times=2)
    assert client.find_open_pr(HEAD) is None
    assert [r.status for r in standin.requests] == [502, 502, 200]


def test_secondary_rate_limit_is_waited_out(standin: GitHubStandIn, client: GitHubClient) -> None:
    standin.secondary_rate_limit("POST", PULLS, retry_after=1)
    started = time.monotonic()
    _, outcome = client.create_or_update_pr(HEAD, "main", "Bump", "body")
    assert outcome == "created"
    assert time.monotonic() - started >= 1.0  # honoured Retry-After
    assert [r.status for r in standin.requests] == [403, 201]
    assert len(standin.open_pulls()) == 1


def test_persistent_secondary_rate_limit_gives_up_within_the_budget(standin: GitHubStandIn) -> None:
    client = GitHubClient(standin.token, DEFAULT_REPO, policy=replace(FAST, max_total_wait_s=2))
    standin.secondary_rate_limit("POST", PULLS, retry_after=1, times=None)
    started = time.monotonic()
    with pytest.raises(ServiceError) as caught:
        client.create_or_update_pr(HEAD, "main", "Bump", "body")
    elapsed = time.monotonic() - started
    assert 2.0 <= elapsed < 4.0
    message = str(caught.value)
    assert message.startswith(
        "GitHub create pull request failed: 403 You have exceeded a secondary rate limit"
    )
    assert "2 s retry budget" in message and "\n" not in message
    assert standin.count("POST", PULLS) == 3


def test_429_is_retried(standin: GitHubStandIn, client: GitHubClient) -> None:
    standin.too_many_requests("GET", PULLS, retry_after=None)
    standin.too_many_requests("POST", COMMENTS, retry_after=1)
    pr, _ = client.create_or_update_pr(HEAD, "main", "Bump", "body")
    assert client.find_open_pr(HEAD) == pr
    client.upsert_sticky_comment(pr.number, "bump", "hello")
    assert [r.status for r in standin.requests if r.key == f"GET {PULLS}"] == [429, 200]
    assert [r.status for r in standin.requests if r.key == f"POST {COMMENTS}"] == [429, 201]


def test_primary_rate_limit_waits_for_reset_when_it_is_near(
    standin: GitHubStandIn, client: GitHubClient
) -> None:
    standin.exhaust_primary_rate_limit(reset_in_s=1)
    assert client.find_open_pr(HEAD) is None
    assert [r.status for r in standin.requests] == [403, 200]


def test_primary_rate_limit_far_away_fails_fast_saying_when(
    standin: GitHubStandIn, client: GitHubClient
) -> None:
    standin.exhaust_primary_rate_limit(reset_in_s=3600)
    started = time.monotonic()
    with pytest.raises(ServiceError) as caught:
        client.find_open_pr(HEAD)
    assert time.monotonic() - started < 1.0
    assert "find pull request failed: 403 API rate limit exceeded" in str(caught.value)
    assert "resets at" in str(caught.value)


def test_fresh_pr_404_is_retried_briefly(standin: GitHubStandIn, client: GitHubClient) -> None:
    standin.fresh_pr_not_found(times=2)
    pr, _ = client.create_or_update_pr(HEAD, "main", "Bump", "body")
    client.add_labels(pr.number, ["layer-ci"])
    labels = [
        r.status for r in standin.requests if r.key == "POST /repos/{owner}/{repo}/issues/{number}/labels"
    ]
    assert labels == [404, 404, 200]
    assert standin.open_pulls()[0].labels == ["layer-ci"]


def test_404_on_an_old_pr_is_not_retried(standin: GitHubStandIn, client: GitHubClient) -> None:
    with pytest.raises(ServiceError, match=r"^GitHub add labels failed: 404 Not Found"):
        client.add_labels(999, ["layer-ci"])
    assert standin.count() == 1


def test_connection_reset_on_create_looks_before_retrying(
    standin: GitHubStandIn, client: GitHubClient
) -> None:
    standin.reset_connection("POST", PULLS, after_effect=True)
    _, outcome = client.create_or_update_pr(HEAD, "main", "Bump", "body")
    assert outcome == "created"
    assert len(standin.open_pulls()) == 1
    assert standin.count("POST", PULLS) == 1


# ------------------------------------------------------------------------------- labels, statuses


def test_labels(standin: GitHubStandIn, client: GitHubClient) -> None:
    pr, _ = client.create_or_update_pr(HEAD, "main", "Bump", "body")
    assert client.ensure_labels({"layer-ci": ("0e8a16", "layer-ci bumps"), "bug": ("000000", "")}) == [
        "layer-ci"
    ]
    assert client.ensure_labels({"layer-ci": ("0e8a16", "layer-ci bumps")}) == []
    assert standin.repo().labels["layer-ci"].color == "0e8a16"
    client.add_labels(pr.number, ["layer-ci", "layer-ci:tests-failed"])
    assert standin.repo().labels["layer-ci:tests-failed"].color == "ededed"  # GitHub creates missing labels
    assert client.remove_label(pr.number, "layer-ci:tests-failed") is True
    assert client.remove_label(pr.number, "layer-ci:tests-failed") is False
    client.set_labels(pr.number, ["a", "b"])
    assert client.get_pr(pr.number).labels == ("a", "b")


def test_statuses_and_combined_status(standin: GitHubStandIn, client: GitHubClient) -> None:
    pr, _ = client.create_or_update_pr(HEAD, "main", "Bump", "body")
    sha = pr.head_sha
    assert client.combined_status(sha).state == "pending"  # no statuses yet
    client.set_status(sha, "layer-ci/orders", "success", "12 passed")
    client.set_status(sha, "layer-ci/billing", "pending", "running")
    assert client.combined_status(sha).state == "pending"
    long = client.set_status(sha, "layer-ci/billing", "failure", "E" * 500, target_url="https://ci.example/1")
    assert len(long.description or "") == 140
    combined = client.combined_status(HEAD)
    assert combined.sha == sha and combined.state == "failure"
    assert combined.context_state("layer-ci/orders") == "success"
    assert combined.context_state("layer-ci/billing") == "failure"
    assert [s.state for s in client.statuses(sha)] == ["failure", "pending", "success"]
    with pytest.raises(ValueError, match="state must be one of"):
        client.set_status(sha, "x", "passed", "")  # type: ignore[arg-type]


def test_merge_only_when_green(standin: GitHubStandIn, client: GitHubClient) -> None:
    pr, _ = client.create_or_update_pr(HEAD, "main", "Bump", "body")
    gate = ["layer-ci/test-before-upgrade"]
    assert client.merge_if_green(pr.number, required_contexts=gate) == "not-green"
    client.set_status(pr.head_sha, gate[0], "failure", "1 failed")
    assert client.merge_if_green(pr.number, required_contexts=gate) == "not-green"
    client.set_status(pr.head_sha, gate[0], "success", "all passed")
    assert (
        client.merge_if_green(pr.number, required_contexts=gate, expected_head_sha="f" * 40) == "head-moved"
    )
    standin.open_pulls()[0].pull.mergeable = False  # type: ignore[union-attr]
    assert client.merge_if_green(pr.number, required_contexts=gate) == "not-mergeable"
    standin.open_pulls()[0].pull.mergeable = True  # type: ignore[union-attr]
    assert client.merge_if_green(pr.number, required_contexts=gate, expected_head_sha=pr.head_sha) == "merged"
    assert client.get_pr(pr.number).merged


def test_merge_at_sha_is_one_request_and_githubs_protection_answer_guards_it(
    standin: GitHubStandIn, client: GitHubClient
) -> None:
    pr, _ = client.create_or_update_pr(HEAD, "main", "Bump", "body")
    gate = "layer-ci/test-before-upgrade"
    standin.repo().required_contexts = [gate]
    standin.clear_requests()

    refused = client.merge_at_sha(pr.number, pr.head_sha)
    assert (refused.outcome, refused.merged) == ("not-mergeable", False)
    assert refused.message == f'Required status check "{gate}" is expected.'
    client.set_status(pr.head_sha, gate, "failure", "1 failed")
    assert (
        client.merge_at_sha(pr.number, pr.head_sha).message == f'Required status check "{gate}" is failing.'
    )
    client.set_status(pr.head_sha, gate, "success", "all passed")
    moved = client.merge_at_sha(pr.number, "f" * 40)
    assert moved.outcome == "head-moved" and "Head branch was modified" in moved.message
    assert standin.open_pulls() != []

    standin.clear_requests()
    assert client.merge_at_sha(pr.number, pr.head_sha, merge_method="squash").outcome == "merged"
    assert [r.key for r in standin.requests] == ["PUT /repos/{owner}/{repo}/pulls/{number}/merge"]
    assert client.get_pr(pr.number).merged


def test_merge_at_sha_reports_other_failures_as_errors(standin: GitHubStandIn, client: GitHubClient) -> None:
    with pytest.raises(ServiceError, match="GitHub merge pull request failed: 404"):
        client.merge_at_sha(999, "a" * 40)


# --------------------------------------------------------------------------------- sticky comments


def test_sticky_comment_is_updated_in_place_and_never_touches_others(
    standin: GitHubStandIn, client: GitHubClient
) -> None:
    pr, _ = client.create_or_update_pr(HEAD, "main", "Bump", "body")
    tag = marker_comment("verify")
    theirs = standin.state.add_comment(DEFAULT_REPO, pr.number, f"{tag}\nquoting the bot", user="someone")
    first, outcome = client.upsert_sticky_comment(pr.number, "verify", "results v1")
    assert outcome == "created" and first.id != theirs.id
    second, outcome = client.upsert_sticky_comment(pr.number, "verify", "results v2")
    assert (second.id, outcome) == (first.id, "updated")
    third, outcome = client.upsert_sticky_comment(pr.number, "verify", "results v2")
    assert (third.id, outcome) == (first.id, "unchanged")

    comments = standin.state.comments_on(DEFAULT_REPO, pr.number)
    ours = [c for c in comments if c.user == standin.login]
    assert [c.body for c in ours] == [f"{tag}\nresults v2"]
    assert theirs.body == f"{tag}\nquoting the bot"
    assert standin.count("PATCH", "/repos/{owner}/{repo}/issues/comments/{comment_id}") == 1


def test_sticky_comment_found_past_the_first_page(standin: GitHubStandIn, client: GitHubClient) -> None:
    pr, _ = client.create_or_update_pr(HEAD, "main", "Bump", "body")
    for n in range(120):
        standin.state.add_comment(DEFAULT_REPO, pr.number, f"chatter {n}", user="someone")
    mine, _ = client.upsert_sticky_comment(pr.number, "verify", "v1")
    for n in range(10):
        standin.state.add_comment(DEFAULT_REPO, pr.number, f"more {n}", user="someone")
    again, outcome = client.upsert_sticky_comment(pr.number, "verify", "v2")
    assert (again.id, outcome) == (mine.id, "updated")
    assert len(standin.state.comments_on(DEFAULT_REPO, pr.number)) == 131


def test_sticky_comment_duplicates_left_by_a_crash_are_removed(
    standin: GitHubStandIn, client: GitHubClient
) -> None:
    pr, _ = client.create_or_update_pr(HEAD, "main", "Bump", "body")
    tag = marker_comment("verify")
    for body in ("old one", "old two"):
        standin.state.add_comment(DEFAULT_REPO, pr.number, f"{tag}\n{body}", user=standin.login)
    _, outcome = client.upsert_sticky_comment(pr.number, "verify", "fresh")
    assert outcome == "updated"
    assert [c.body for c in standin.state.comments_on(DEFAULT_REPO, pr.number)] == [f"{tag}\nfresh"]


def test_sticky_comment_body_is_truncated_with_a_note(standin: GitHubStandIn, client: GitHubClient) -> None:
    pr, _ = client.create_or_update_pr(HEAD, "main", "Bump", "body")
    comment, _ = client.upsert_sticky_comment(pr.number, "verify", "x" * 70_000)
    assert len(comment.body) == MAX_BODY_CHARS
    assert comment.body.startswith(marker_comment("verify") + "\nxxx") and comment.body.endswith(
        TRUNCATION_NOTE
    )


def test_sticky_comment_create_502_after_effect_is_not_duplicated(
    standin: GitHubStandIn, client: GitHubClient
) -> None:
    pr, _ = client.create_or_update_pr(HEAD, "main", "Bump", "body")
    standin.bad_gateway("POST", COMMENTS, after_effect=True)
    _, outcome = client.upsert_sticky_comment(pr.number, "verify", "once")
    assert outcome == "created"
    assert len(standin.state.comments_on(DEFAULT_REPO, pr.number)) == 1
    assert standin.count("POST", COMMENTS) == 1


def test_invalid_marker_is_refused() -> None:
    with pytest.raises(ValueError, match="marker"):
        marker_comment("x --> <script>")


# ----------------------------------------------------------------------------- releases and tags


def test_release_with_asset_is_idempotent(
    standin: GitHubStandIn, client: GitHubClient, tmp_path: Path
) -> None:
    asset = tmp_path / "common-deps-4.zip"
    asset.write_bytes(b"PK\x05\x06" + b"\0" * 18)
    first = client.create_release("layers/common-deps/v4", "common-deps v4", "notes", asset_paths=[asset])
    assert first.created and first.assets == ("common-deps-4.zip",)
    again = client.create_release("layers/common-deps/v4", "common-deps v4", "notes", asset_paths=[asset])
    assert (again.id, again.created) == (first.id, False)
    (release,) = standin.repo().releases
    assert [(a.name, a.data, a.content_type) for a in release.assets] == [
        ("common-deps-4.zip", asset.read_bytes(), "application/zip")
    ]
    assert standin.count("POST", "/repos/{owner}/{repo}/releases/{release_id}/assets") == 1
    assert client.get_ref_sha("tags/layers/common-deps/v4") == standin.repo().branch_sha("main")


def test_tag_refs_are_created_once_and_never_moved(standin: GitHubStandIn, client: GitHubClient) -> None:
    sha = standin.repo().branch_sha("main")
    assert sha is not None
    assert client.create_tag_ref("layers/x/v1", sha) == "created"
    assert client.create_tag_ref("layers/x/v1", sha) == "exists"
    with pytest.raises(ServiceError, match="tags are never moved"):
        client.create_tag_ref("layers/x/v1", "f" * 40)
    assert client.get_ref_sha("tags/layers/x/v1") == sha
    assert client.get_ref_sha("tags/layers/x/v404") is None


# -------------------------------------------------------------------------------- identity, errors


def test_actions_token_falls_back_to_the_actions_bot(standin: GitHubStandIn, client: GitHubClient) -> None:
    assert client.login == "github-actions[bot]"
    standin.add_token("ghp_personal", "octocat")
    assert GitHubClient("ghp_personal", DEFAULT_REPO, policy=FAST).login == "octocat"


def test_enterprise_api_url_comes_from_the_environment(
    github_standin_factory: Callable[..., GitHubStandIn], monkeypatch: pytest.MonkeyPatch
) -> None:
    ghe = github_standin_factory(api_prefix="/api/v3")
    ghe.create_branch("main")
    ghe.create_branch(HEAD)
    monkeypatch.setenv("GITHUB_API_URL", ghe.url)
    client = GitHubClient(ghe.token, DEFAULT_REPO, policy=FAST)
    pr, outcome = client.create_or_update_pr(HEAD, "main", "Bump", "body")
    assert outcome == "created" and pr.html_url.startswith(ghe.web_url + "/octo-org/app/pull/")
    assert client.find_open_pr(HEAD) == pr
    assert all(r.path.startswith("/api/v3/") for r in ghe.requests)


def test_from_env_reads_the_actions_contract(standin: GitHubStandIn) -> None:
    env = {"GITHUB_TOKEN": standin.token, "GITHUB_REPOSITORY": DEFAULT_REPO, "GITHUB_API_URL": standin.url}
    client = GitHubClient.from_env(env, policy=FAST)
    assert client.find_open_pr(HEAD) is None
    with pytest.raises(UsageError, match="GITHUB_TOKEN"):
        GitHubClient.from_env({"GITHUB_REPOSITORY": DEFAULT_REPO})
    with pytest.raises(UsageError, match="owner/name"):
        GitHubClient.from_env({"GITHUB_TOKEN": "x", "GITHUB_REPOSITORY": "no-slash"})


def test_errors_are_one_line_and_never_carry_the_token(standin: GitHubStandIn) -> None:
    secret = "ghs_SuperSecretValue123"
    standin.add_token(secret, "github-actions[bot]", read_only=True)
    readonly = GitHubClient(secret, DEFAULT_REPO, policy=FAST)
    with pytest.raises(ServiceError) as refused:
        readonly.create_or_update_pr(HEAD, "main", "Bump", "body")
    assert "403 Resource not accessible by integration" in str(refused.value)
    wrong = GitHubClient("ghs_WrongValue456", DEFAULT_REPO, policy=FAST)
    with pytest.raises(ServiceError) as unauthorised:
        wrong.find_open_pr(HEAD)
    assert str(unauthorised.value).startswith("GitHub find pull request failed: 401 Bad credentials")
    missing = GitHubClient(standin.token, "octo-org/missing", policy=FAST)
    with pytest.raises(ServiceError, match="404"):
        missing.find_open_pr(HEAD)
    for error in (refused.value, unauthorised.value):
        assert "\n" not in str(error) and "Secret" not in str(error) and "WrongValue" not in str(error)
        assert error.service == "GitHub"
    assert secret not in repr(readonly) and "Wrong" not in repr(wrong)


def test_unreachable_api_is_a_clear_error(standin: GitHubStandIn) -> None:
    client = GitHubClient(standin.token, DEFAULT_REPO, api_url="http://127.0.0.1:9", policy=FAST)
    with pytest.raises(ServiceError, match=r"could not reach http://127\.0\.0\.1:9"):
        client.find_open_pr(HEAD)


# ----------------------------------------------------------------------------- with the git remote


def test_pr_head_is_the_branch_pushed_with_git(linked_github: LinkedRepo) -> None:
    standin, remote = linked_github.standin, linked_github.remote
    repo = GitRepo(remote.clone)
    commit = repo.commit_files("main", {"layer-ci.lock": b"common-deps: 4\n"}, "Bump common-deps to 4")
    repo.push_with_lease(HEAD, None, source=commit.sha)
    client = GitHubClient(standin.token, linked_github.full_name, policy=FAST)
    pr, _ = client.create_or_update_pr(HEAD, "main", "Bump common-deps to 4", "body")
    assert pr.head_sha == commit.sha == remote.branch_sha(HEAD)
    client.set_status(pr.head_sha, "layer-ci/test-before-upgrade", "success", "ok")
    assert client.merge_if_green(pr.number, required_contexts=["layer-ci/test-before-upgrade"]) == "merged"
    assert remote.read_file("main", "layer-ci.lock") == b"common-deps: 4\n"
