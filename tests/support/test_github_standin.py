"""The GitHub stand-in against GitHub's recorded answers (octokit/fixtures) and its documented rules."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import requests

from tests.support.git_remote import run_git
from tests.support.github.shapes import combined_state
from tests.support.github.state import Status
from tests.support.github_standin import DEFAULT_REPO, GitHubStandIn, LinkedRepo

FIXTURES = Path(__file__).parent / "github_fixtures"
ORG = "octokit-fixture-org"
# Transport-level or advisory headers GitHub happened to send that say nothing about the API's contract.
IGNORED_HEADERS = {"connection", "x-poll-interval"}
RATE_HEADERS = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-used", "x-ratelimit-reset")


def recording(name: str) -> list[dict[str, Any]]:
    exchanges: list[dict[str, Any]] = json.loads((FIXTURES / name).read_text())
    return exchanges


def call(
    standin: GitHubStandIn,
    method: str,
    path: str,
    *,
    body: Any = None,
    data: bytes | None = None,
    headers: dict[str, str] | None = None,
    token: str | None = None,
    auth: str | None = "token",
) -> requests.Response:
    url = path if path.startswith("http") else standin.url + path
    sent = {"Accept": "application/vnd.github.v3+json", **(headers or {})}
    if auth is not None:
        sent["Authorization"] = f"{auth} {token or standin.token}"
    return requests.request(method.upper(), url, json=body, data=data, headers=sent, timeout=10)


def assert_same_shape(recorded: Any, actual: Any, where: str = "body") -> None:
    """Same top-level keys (recursively for nested objects, first element for lists)."""
    if isinstance(recorded, dict):
        assert isinstance(actual, dict), f"{where}: expected an object, got {type(actual).__name__}"
        # GitHub has since added "status" to error bodies; the 2022 recordings predate it.
        allowed_extra = {"status"} if where == "body" and "message" in recorded else set()
        missing = set(recorded) - set(actual)
        extra = set(actual) - set(recorded) - allowed_extra
        assert not missing and not extra, f"{where}: missing {sorted(missing)}, extra {sorted(extra)}"
        for key, value in recorded.items():
            if isinstance(value, dict | list) and value:
                assert_same_shape(value, actual[key], f"{where}.{key}")
    elif isinstance(recorded, list) and recorded and isinstance(recorded[0], dict):
        assert isinstance(actual, list), f"{where}: expected a list"
        assert actual, f"{where}: expected items like the recording"
        assert_same_shape(recorded[0], actual[0], f"{where}[0]")


def link_rels(header: str) -> list[tuple[str, int]]:
    """(rel, page) pairs of a Link header, in order."""
    pairs = []
    for part in header.split(","):
        m = re.match(r'\s*<([^>]+)>;\s*rel="(\w+)"', part)
        assert m, f"malformed Link part {part!r}"
        pairs.append((m.group(2), int(parse_qs(urlparse(m.group(1)).query)["page"][0])))
    return pairs


def assert_like_recording(exchange: dict[str, Any], response: requests.Response) -> None:
    assert response.status_code == exchange["status"], response.text
    recorded_headers: dict[str, Any] = exchange["headers"]
    actual = {k.lower(): v for k, v in response.headers.items()}
    missing = set(recorded_headers) - set(actual) - IGNORED_HEADERS
    assert not missing, f"headers GitHub sent but the stand-in did not: {sorted(missing)}"
    for name in RATE_HEADERS:
        if name in recorded_headers:
            assert actual[name].isdigit(), f"{name}: {actual[name]!r}"
    for name in ("x-ratelimit-resource", "content-type", "x-github-media-type"):
        if name in recorded_headers:
            assert actual[name] == recorded_headers[name]
    assert re.fullmatch(r"[0-9A-F]+(:[0-9A-F]+){4}", actual["x-github-request-id"])
    if "link" in recorded_headers:
        assert [rel for rel, _ in link_rels(actual["link"])] == [
            rel for rel, _ in link_rels(recorded_headers["link"])
        ]
    if exchange["response"] != "":
        assert_same_shape(exchange["response"], response.json())
    else:
        assert response.content == b""


# ------------------------------------------------------------------------------- recorded exchanges


def test_repository_object_matches_recording(github_standin: GitHubStandIn) -> None:
    (exchange,) = recording("get-repository.json")
    github_standin.add_repo(f"{ORG}/hello-world")
    response = call(github_standin, exchange["method"], exchange["path"])
    assert_like_recording(exchange, response)
    assert response.json()["full_name"] == f"{ORG}/hello-world"


def test_commit_statuses_match_recording(github_standin: GitHubStandIn) -> None:
    github_standin.add_repo(f"{ORG}/create-status")
    for exchange in recording("create-status.json"):
        response = call(github_standin, exchange["method"], exchange["path"], body=exchange["body"] or None)
        assert_like_recording(exchange, response)
        if isinstance(exchange["response"], list):
            assert [s["context"] for s in response.json()] == [s["context"] for s in exchange["response"]]
        elif "statuses" in exchange["response"]:
            combined = response.json()
            assert combined["state"] == exchange["response"]["state"] == "failure"
            assert [s["context"] for s in combined["statuses"]] == ["example/1", "example/2"]
            assert combined["total_count"] == 2


def test_validation_error_matches_recording(github_standin: GitHubStandIn) -> None:
    (exchange,) = recording("errors.json")
    github_standin.add_repo(f"{ORG}/errors")
    response = call(github_standin, exchange["method"], exchange["path"], body=exchange["body"])
    assert_like_recording(exchange, response)
    body = response.json()
    assert body["message"] == "Validation Failed"
    assert body["errors"] == exchange["response"]["errors"]
    assert body["status"] == "422"


def test_link_pagination_matches_recording(github_standin: GitHubStandIn) -> None:
    exchanges = recording("paginate-issues.json")
    github_standin.add_repo(f"{ORG}/paginate-issues")
    for n in range(1, 14):
        assert call(
            github_standin, "POST", f"/repos/{ORG}/paginate-issues/issues", body={"title": f"Test issue {n}"}
        ).ok
    url: str | None = github_standin.url + exchanges[0]["path"]
    pages = []
    for exchange in exchanges:
        assert url is not None
        response = call(github_standin, "GET", url)
        assert_like_recording(exchange, response)
        assert [i["number"] for i in response.json()] == [i["number"] for i in exchange["response"]]
        assert link_rels(response.headers["link"]) == link_rels(exchange["headers"]["link"])
        pages.append(response)
        url = response.links.get("next", {}).get("url")
    assert url is None
    # Like GitHub's, the links name the repository by id.
    assert "/repositories/" in pages[0].links["next"]["url"]


def test_labels_match_recording(github_standin: GitHubStandIn) -> None:
    github_standin.add_repo(f"{ORG}/labels")
    for exchange in recording("labels.json"):
        response = call(github_standin, exchange["method"], exchange["path"], body=exchange["body"] or None)
        assert_like_recording(exchange, response)
        if exchange["method"] == "get" and isinstance(exchange["response"], list):
            identity = ("id", "node_id", "url")
            assert [{k: v for k, v in label.items() if k not in identity} for label in response.json()] == [
                {k: v for k, v in label.items() if k not in identity} for label in exchange["response"]
            ]
        elif exchange["response"]:
            for key in ("name", "color", "default", "description"):
                assert response.json()[key] == exchange["response"][key]


def test_labels_added_to_an_issue_match_recording(github_standin: GitHubStandIn) -> None:
    github_standin.add_repo(f"{ORG}/add-labels-to-issue")
    for exchange in recording("add-labels-to-issue.json"):
        response = call(github_standin, exchange["method"], exchange["path"], body=exchange["body"])
        assert_like_recording(exchange, response)
    added = response.json()
    assert [(label["name"], label["color"], label["default"]) for label in added] == [
        (label["name"], label["color"], label["default"]) for label in exchange["response"]
    ]


def test_git_refs_match_recording(github_standin: GitHubStandIn) -> None:
    github_standin.add_repo(f"{ORG}/git-refs")
    github_standin.create_branch("main", "0" * 39 + "1", repo=f"{ORG}/git-refs")
    for exchange in recording("git-refs.json"):
        response = call(github_standin, exchange["method"], exchange["path"], body=exchange["body"] or None)
        assert_like_recording(exchange, response)
        if exchange["response"]:
            recorded = (
                exchange["response"] if isinstance(exchange["response"], list) else [exchange["response"]]
            )
            got = response.json() if isinstance(response.json(), list) else [response.json()]
            assert [(r["ref"], r["object"]["sha"], r["object"]["type"]) for r in got] == [
                (r["ref"], r["object"]["sha"], r["object"]["type"]) for r in recorded
            ]


def test_releases_and_assets_match_recording(github_standin: GitHubStandIn) -> None:
    repo = f"{ORG}/release-assets"
    github_standin.add_repo(repo)
    github_standin.create_branch("main", repo=repo)
    created = call(
        github_standin,
        "POST",
        f"/repos/{repo}/releases",
        body={"tag_name": "v1.0.0", "name": "Version 1.0.0", "body": "Initial release"},
    )
    assert created.status_code == 201
    release_id = created.json()["id"]
    asset_id = None
    for exchange in recording("release-assets.json"):
        path = exchange["path"].replace("/releases/1000/", f"/releases/{release_id}/")
        if exchange["method"] == "post":  # the upload goes to the upload_url the release named
            upload = created.json()["upload_url"].split("{")[0]
            assert upload.startswith(github_standin.web_url)
            response = call(
                github_standin,
                "POST",
                upload + "?name=test-upload.txt&label=test",
                data=exchange["body"].encode(),
                headers={"Content-Type": "text/plain"},
            )
            asset_id = response.json()["id"]
        else:
            path = path.replace("/releases/assets/1000", f"/releases/assets/{asset_id}")
            response = call(github_standin, exchange["method"], path, body=exchange["body"] or None)
        assert_like_recording(exchange, response)
        if isinstance(exchange["response"], dict):
            for key in ("name", "label", "content_type", "size", "tag_name", "body"):
                if key in exchange["response"]:
                    assert response.json()[key] == exchange["response"][key], key


# ------------------------------------------------------------------------------- documented rules


def test_second_open_pull_request_for_a_head_gets_githubs_exact_422(github_standin: GitHubStandIn) -> None:
    github_standin.create_branch("main")
    github_standin.create_branch("feature")
    payload = {"title": "t", "head": "feature", "base": "main"}
    assert call(github_standin, "POST", f"/repos/{DEFAULT_REPO}/pulls", body=payload).status_code == 201
    second = call(github_standin, "POST", f"/repos/{DEFAULT_REPO}/pulls", body=payload)
    assert second.status_code == 422
    assert second.json() == {
        "message": "Validation Failed",
        "errors": [
            {
                "resource": "PullRequest",
                "code": "custom",
                "message": "A pull request already exists for octo-org:feature.",
            }
        ],
        "documentation_url": "https://docs.github.com/rest/pulls/pulls#create-a-pull-request",
        "status": "422",
    }


def test_pull_request_has_the_fields_pygithub_reads(github_standin: GitHubStandIn) -> None:
    sha = github_standin.create_branch("feature")
    github_standin.create_branch("main")
    pr = call(
        github_standin,
        "POST",
        f"/repos/{DEFAULT_REPO}/pulls",
        body={"title": "t", "head": "feature", "base": "main"},
    ).json()
    for key in ("url", "html_url", "id", "node_id", "number", "state", "labels", "created_at", "issue_url"):
        assert key in pr
    assert pr["head"]["ref"] == "feature" and pr["head"]["sha"] == sha
    assert pr["head"]["label"] == "octo-org:feature"
    assert pr["base"]["ref"] == "main"
    assert pr["user"]["login"] == github_standin.login
    assert pr["url"].startswith(github_standin.url)


def test_head_filter_needs_the_owner_prefix(github_standin: GitHubStandIn) -> None:
    github_standin.create_branch("main")
    for branch in ("a", "b"):
        github_standin.open_pull(branch)
    path = f"/repos/{DEFAULT_REPO}/pulls"
    assert [p["head"]["ref"] for p in call(github_standin, "GET", f"{path}?head=octo-org:a").json()] == ["a"]
    # Without "owner:" GitHub ignores the filter and answers every open pull request.
    assert len(call(github_standin, "GET", f"{path}?head=a").json()) == 2


def test_requests_need_a_known_token(github_standin: GitHubStandIn) -> None:
    path = f"/repos/{DEFAULT_REPO}"
    missing = call(github_standin, "GET", path, auth=None)
    assert missing.status_code == 401 and missing.json()["message"] == "Requires authentication"
    wrong = call(github_standin, "GET", path, token="ghs_not_a_token")
    assert wrong.status_code == 401 and wrong.json()["message"] == "Bad credentials"
    assert call(github_standin, "GET", path, auth="Bearer").status_code == 200
    assert "ghs_not_a_token" not in repr(github_standin.requests)


def test_installation_tokens_cannot_read_user_but_personal_tokens_can(github_standin: GitHubStandIn) -> None:
    denied = call(github_standin, "GET", "/user")
    assert denied.status_code == 403 and denied.json()["message"] == "Resource not accessible by integration"
    github_standin.add_token("ghp_person", "octocat")
    assert call(github_standin, "GET", "/user", token="ghp_person").json()["login"] == "octocat"


def test_read_only_token_cannot_write(github_standin: GitHubStandIn) -> None:
    github_standin.add_token("ghs_fork", "github-actions[bot]", read_only=True)
    path = f"/repos/{DEFAULT_REPO}/labels"
    assert call(github_standin, "GET", path, token="ghs_fork").status_code == 200
    refused = call(github_standin, "POST", path, body={"name": "x", "color": "ffffff"}, token="ghs_fork")
    assert refused.status_code == 403


def test_per_page_defaults_to_30_and_caps_at_100(github_standin: GitHubStandIn) -> None:
    call(github_standin, "POST", f"/repos/{DEFAULT_REPO}/issues", body={"title": "issue"})
    for n in range(130):
        github_standin.state.add_comment(DEFAULT_REPO, 1, f"c{n}", user="someone")
    path = f"/repos/{DEFAULT_REPO}/issues/1/comments"
    first = call(github_standin, "GET", path)
    assert len(first.json()) == 30
    assert [rel for rel, _ in link_rels(first.headers["link"])] == ["next", "last"]
    big = call(github_standin, "GET", f"{path}?per_page=500")
    assert len(big.json()) == 100
    assert link_rels(big.headers["link"]) == [("next", 2), ("last", 2)]
    last = call(github_standin, "GET", big.links["next"]["url"])
    assert len(last.json()) == 30
    assert link_rels(last.headers["link"]) == [("prev", 1), ("first", 1)]


@pytest.mark.parametrize(
    ("states", "expected"),
    [
        ([], "pending"),
        (["success"], "success"),
        (["success", "pending"], "pending"),
        (["success", "failure"], "failure"),
        (["pending", "error"], "failure"),
    ],
)
def test_combined_state_rules(states: list[str], expected: str) -> None:
    latest = [Status(i, "0" * 40, s, f"c{i}", None, None, "x") for i, s in enumerate(states)]
    assert combined_state(latest) == expected


def test_combined_status_uses_the_latest_status_per_context(github_standin: GitHubStandIn) -> None:
    sha = github_standin.create_branch("main")
    path = f"/repos/{DEFAULT_REPO}/statuses/{sha}"
    call(github_standin, "POST", path, body={"state": "failure", "context": "tests"})
    call(github_standin, "POST", path, body={"state": "success", "context": "tests"})
    combined = call(github_standin, "GET", f"/repos/{DEFAULT_REPO}/commits/main/status").json()
    assert combined["state"] == "success" and combined["sha"] == sha
    assert [s["state"] for s in combined["statuses"]] == ["success"]
    history = call(github_standin, "GET", f"/repos/{DEFAULT_REPO}/commits/{sha}/statuses").json()
    assert [s["state"] for s in history] == ["success", "failure"]


def test_status_validation(github_standin: GitHubStandIn) -> None:
    sha = github_standin.create_branch("main")
    path = f"/repos/{DEFAULT_REPO}/statuses/{sha}"
    bad = call(github_standin, "POST", path, body={"state": "passed"})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["message"] == "state is not included in the list"
    long = call(github_standin, "POST", path, body={"state": "success", "description": "x" * 141})
    assert long.status_code == 422 and "140" in long.json()["errors"][0]["message"]


def test_linked_repo_pr_head_is_the_pushed_branch_tip(linked_github: LinkedRepo) -> None:
    remote, standin = linked_github.remote, linked_github.standin
    first = remote.push_as("feature", {"a.txt": b"1\n"}, author=("Dev", "dev@example.com"), message="one")
    path = f"/repos/{linked_github.full_name}/pulls"
    pr = call(standin, "POST", path, body={"title": "t", "head": "feature", "base": "main"}).json()
    assert pr["head"]["sha"] == first
    second = remote.push_as("feature", {"a.txt": b"2\n"}, author=("Dev", "dev@example.com"), message="two")
    assert call(standin, "GET", f"{path}/{pr['number']}").json()["head"]["sha"] == second
    assert call(standin, "GET", f"{path}?head=octo-org:feature").json()[0]["head"]["sha"] == second
    unknown = call(
        standin, "POST", f"/repos/{linked_github.full_name}/statuses/{'1' * 40}", body={"state": "success"}
    )
    assert unknown.status_code == 422 and unknown.json()["message"].startswith("No commit found for SHA")


def test_linked_repo_refs_api_writes_the_bare_repository(linked_github: LinkedRepo) -> None:
    remote, standin = linked_github.remote, linked_github.standin
    refs = f"/repos/{linked_github.full_name}/git/refs"
    created = call(standin, "POST", refs, body={"ref": "refs/tags/layers/x/v1", "sha": remote.initial_sha})
    assert created.status_code == 201
    assert run_git(["rev-parse", "refs/tags/layers/x/v1"], remote.bare).strip() == remote.initial_sha
    again = call(standin, "POST", refs, body={"ref": "refs/tags/layers/x/v1", "sha": remote.initial_sha})
    assert again.status_code == 422 and again.json()["message"] == "Reference already exists"
    tip = remote.push_as("side", {"b.txt": b"b\n"}, author=("Dev", "dev@example.com"), message="side")
    back = call(standin, "PATCH", f"{refs}/heads/side", body={"sha": remote.initial_sha})
    assert back.status_code == 422 and back.json()["message"] == "Update is not a fast forward"
    forced = call(standin, "PATCH", f"{refs}/heads/side", body={"sha": remote.initial_sha, "force": True})
    assert forced.status_code == 200 and remote.branch_sha("side") == remote.initial_sha != tip
    assert call(standin, "DELETE", f"{refs}/heads/side").status_code == 204
    assert remote.branch_sha("side") is None
    assert call(standin, "DELETE", f"{refs}/heads/side").json()["message"] == "Reference does not exist"


def test_merge_creates_a_merge_commit_and_respects_required_checks(linked_github: LinkedRepo) -> None:
    remote, standin = linked_github.remote, linked_github.standin
    head = remote.push_as("feature", {"a.txt": b"1\n"}, author=("Dev", "dev@example.com"), message="one")
    pulls = f"/repos/{linked_github.full_name}/pulls"
    number = call(standin, "POST", pulls, body={"title": "t", "head": "feature", "base": "main"}).json()[
        "number"
    ]
    linked_github.repo.required_contexts = ["layer-ci/test-before-upgrade"]
    refused = call(standin, "PUT", f"{pulls}/{number}/merge", body={})
    assert refused.status_code == 405
    assert refused.json()["message"] == 'Required status check "layer-ci/test-before-upgrade" is expected.'
    status = {"state": "success", "context": "layer-ci/test-before-upgrade"}
    call(standin, "POST", f"/repos/{linked_github.full_name}/statuses/{head}", body=status)
    moved = call(standin, "PUT", f"{pulls}/{number}/merge", body={"sha": "f" * 40})
    assert moved.status_code == 409
    merged = call(standin, "PUT", f"{pulls}/{number}/merge", body={"sha": head, "merge_method": "merge"})
    assert merged.status_code == 200 and merged.json()["merged"] is True
    parents = run_git(["rev-list", "--parents", "-n", "1", "refs/heads/main"], remote.bare).split()
    assert parents[1:] == [remote.initial_sha, head]
    assert remote.read_file("main", "a.txt") == b"1\n"
    assert call(standin, "GET", f"{pulls}/{number}").json()["merged"] is True
    assert call(standin, "PUT", f"{pulls}/{number}/merge", body={}).status_code == 405


def test_release_publication_creates_the_tag(linked_github: LinkedRepo) -> None:
    standin = linked_github.standin
    path = f"/repos/{linked_github.full_name}/releases"
    created = call(standin, "POST", path, body={"tag_name": "layers/x/v3", "name": "x v3"})
    assert created.status_code == 201
    assert (
        linked_github.remote.branch_sha("main")
        == run_git(["rev-parse", "refs/tags/layers/x/v3"], linked_github.remote.bare).strip()
    )
    duplicate = call(standin, "POST", path, body={"tag_name": "layers/x/v3"})
    assert duplicate.status_code == 422 and duplicate.json()["errors"][0]["code"] == "already_exists"


# ------------------------------------------------------------------------------------------ faults


def test_secondary_rate_limit_fault_hits_the_nth_matching_request(github_standin: GitHubStandIn) -> None:
    fault = github_standin.secondary_rate_limit("GET", "/repos/{owner}/{repo}", nth=2, retry_after=1)
    path = f"/repos/{DEFAULT_REPO}"
    assert call(github_standin, "GET", path).status_code == 200
    limited = call(github_standin, "GET", path)
    assert limited.status_code == 403 and limited.headers["retry-after"] == "1"
    assert limited.json()["message"].startswith("You have exceeded a secondary rate limit")
    assert int(limited.headers["x-ratelimit-remaining"]) > 0
    assert call(github_standin, "GET", path).status_code == 200
    assert fault.fired == 1
    assert github_standin.count("GET", "/repos/{owner}/{repo}") == 3


def test_primary_rate_limit_exhaustion_lasts_until_reset(github_standin: GitHubStandIn) -> None:
    github_standin.exhaust_primary_rate_limit(reset_in_s=1)
    path = f"/repos/{DEFAULT_REPO}"
    limited = call(github_standin, "GET", path)
    assert limited.status_code == 403
    assert limited.headers["x-ratelimit-remaining"] == "0"
    assert limited.json()["message"].startswith("API rate limit exceeded")
    assert int(limited.headers["x-ratelimit-reset"]) <= time.time() + 2
    assert call(github_standin, "GET", path).status_code == 403
    time.sleep(max(int(limited.headers["x-ratelimit-reset"]) - time.time(), 0) + 0.1)
    assert call(github_standin, "GET", path).status_code == 200


def test_primary_rate_limit_counts_every_request(github_standin: GitHubStandIn) -> None:
    github_standin.set_rate_limit(3)
    path = f"/repos/{DEFAULT_REPO}"
    answers = [call(github_standin, "GET", path) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 403]
    assert [a.headers["x-ratelimit-remaining"] for a in answers] == ["2", "1", "0", "0"]


def test_bad_gateway_after_effect_still_creates(github_standin: GitHubStandIn) -> None:
    github_standin.create_branch("main")
    github_standin.create_branch("feature")
    github_standin.bad_gateway("POST", "/repos/{owner}/{repo}/pulls", after_effect=True)
    body = {"title": "t", "head": "feature", "base": "main"}
    assert call(github_standin, "POST", f"/repos/{DEFAULT_REPO}/pulls", body=body).status_code == 502
    assert len(github_standin.open_pulls()) == 1


def test_fresh_pull_request_is_briefly_not_found(github_standin: GitHubStandIn) -> None:
    github_standin.create_branch("main")
    github_standin.create_branch("feature")
    github_standin.fresh_pr_not_found(times=2)
    body = {"title": "t", "head": "feature", "base": "main"}
    number = call(github_standin, "POST", f"/repos/{DEFAULT_REPO}/pulls", body=body).json()["number"]
    answers = [
        call(github_standin, "GET", f"/repos/{DEFAULT_REPO}/pulls/{number}").status_code for _ in range(3)
    ]
    assert answers == [404, 404, 200]


def test_connection_reset_and_slow_faults(github_standin: GitHubStandIn) -> None:
    path = f"/repos/{DEFAULT_REPO}"
    github_standin.reset_connection("GET", "/repos/{owner}/{repo}")
    with pytest.raises(requests.ConnectionError):
        call(github_standin, "GET", path)
    github_standin.slow("GET", "/repos/{owner}/{repo}", delay_s=0.5)
    started = time.monotonic()
    assert call(github_standin, "GET", path).status_code == 200
    assert time.monotonic() - started >= 0.5


def test_enterprise_prefix_is_required(github_standin_factory: Callable[..., GitHubStandIn]) -> None:
    ghe = github_standin_factory(api_prefix="/api/v3")
    assert ghe.url.endswith("/api/v3")
    assert call(ghe, "GET", f"{ghe.web_url}/repos/{DEFAULT_REPO}").status_code == 404
    repo = call(ghe, "GET", f"/repos/{DEFAULT_REPO}").json()
    assert repo["url"] == f"{ghe.url}/repos/{DEFAULT_REPO}"
    assert repo["html_url"] == f"{ghe.web_url}/{DEFAULT_REPO}"


def test_a_forks_pull_request_names_the_fork_as_its_head_repository(github_standin: GitHubStandIn) -> None:
    from layer_ci.adapters.github import GitHubClient

    github_standin.create_branch("main")
    ours = github_standin.open_pull("layer-ci/common")
    theirs = github_standin.open_pull("layer-ci/common", user="mallory", fork_owner="mallory")
    pulls = {p["number"]: p for p in call(github_standin, "GET", f"/repos/{DEFAULT_REPO}/pulls").json()}
    fork_head, own_head = pulls[theirs.number]["head"], pulls[ours.number]["head"]
    assert fork_head["repo"]["full_name"] == "mallory/app" and fork_head["repo"]["fork"] is True
    assert fork_head["label"] == "mallory:layer-ci/common" and fork_head["user"]["login"] == "mallory"
    assert own_head["repo"]["full_name"] == DEFAULT_REPO
    assert_same_shape(own_head["repo"], fork_head["repo"], "head.repo")
    # Listing bump PRs by branch name must not pick up a fork's PR from a branch of the same name.
    client = GitHubClient(github_standin.token, DEFAULT_REPO)
    try:
        listed = client.list_open_prs(head_prefix="layer-ci/")
    finally:
        client.close()
    assert [(pr.number, pr.head_repo) for pr in listed] == [(ours.number, DEFAULT_REPO)]
