"""The bump-PR flow end to end through entrypoint.py: push, rerun, merge, fix, merge again.

Each test drives the Action as shipped (a subprocess with the runner's environment) against the loopback
GitHub stand-in, a bare origin whose branches are the stand-in's, and a local registry; merges go
through the stand-in's REST API, which merges with real git.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from tests.action.lifecycle_support import (
    COMMENTS,
    PULLS,
    REPOSITORY,
    SHOUTER_FIXED,
    TOOLBOX_V2,
    Shop,
    make_shop,
    pin_line,
    set_ignore,
)
from tests.report.bump_repo import MYLIB_BREAKING, MYLIB_COMPATIBLE, MYLIB_V1
from tests.support.git_remote import run_git
from tests.support.github_standin import LinkedRepo

AGGREGATE = "layer-ci/test-before-upgrade"
BUMP_MARKER = "<!-- layer-ci:bump -->"


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("lifecycle-cache")


@pytest.fixture
def shop(linked_github: LinkedRepo, tmp_path: Path, cache: Path) -> Shop:
    return make_shop(linked_github, tmp_path, cache)


def _published(shop: Shop) -> Shop:
    """The first push: both layers published as v1, one bump PR each (the pins already name v1)."""
    first = shop.push()
    assert first.returncode == 0, first.explain()
    assert first.output_json("published") == {
        "common": {"us-east-1": "arn:aws:lambda:us-east-1:000000000000:layer:common:1"},
        "tools": {"us-east-1": "arn:aws:lambda:us-east-1:000000000000:layer:tools:1"},
    }
    return shop


# ------------------------------------------------------------------------ merging in any order


def _merge_in_every_order(shop: Shop, branches: list[str]) -> str:
    """Merge copies of the open PRs from ``branches`` in every order (real git, through the API).

    Each order starts from main's tip on a branch of its own; returns the lock every order ends with.
    """
    bare = shop.linked.remote.bare
    main = shop.linked.remote.branch_sha("main")
    pulls = shop.open_pulls()
    tips = {branch: pulls[branch].pull.head_sha for branch in branches if pulls[branch].pull}
    locks = set()
    for index, order in enumerate(itertools.permutations(sorted(tips))):
        base = f"order-{shop.runs}-{index}"
        run_git(["update-ref", f"refs/heads/{base}", str(main)], bare)
        numbers = []
        for branch in order:
            head = f"{base}-{branch.split('/')[1]}"
            run_git(["update-ref", f"refs/heads/{head}", tips[branch]], bare)
            numbers.append(shop.standin.open_pull(head, base, title=branch, repo=REPOSITORY).number)
        assert [shop.merge_number(number) for number in numbers] == [200] * len(order), order
        for branch in order:  # every PR's pin edits arrived
            edited = shop.read_remote(branch, "template.yaml")
            merged = shop.read_remote(base, "template.yaml")
            for function in ("greeter", "shouter", "catalog"):
                if pin_line(edited, function) != pin_line(
                    shop.read_remote("main", "template.yaml"), function
                ):
                    assert pin_line(merged, function) == pin_line(edited, function)
        locks.add(shop.read_remote(base, "layer-ci.lock"))
    (lock,) = locks
    return lock


def test_concurrent_bump_prs_merge_cleanly_in_every_order(shop: Shop) -> None:
    # The first publish: both layers are new in the lock, one PR each.
    _published(shop)
    assert set(shop.open_pulls()) == {"layer-ci/common", "layer-ci/tools"}
    lock = _merge_in_every_order(shop, ["layer-ci/common", "layer-ci/tools"])
    assert '"common"' in lock and '"tools"' in lock

    # Both merged for real, then both layers change in one push: v2 of each, pins and lock moving.
    assert shop.merge("layer-ci/tools") == 200 and shop.merge("layer-ci/common") == 200
    shop.write("layers/common/python/mylib.py", MYLIB_COMPATIBLE)
    shop.write("layers/tools/python/toolbox.py", TOOLBOX_V2)
    shop.commit_and_push("both layers change")
    run = shop.push()
    assert run.returncode == 0, run.explain()
    assert {branch: entry["outcome"] for branch, entry in run.prs.items()} == {
        "layer-ci/common": "created",
        "layer-ci/tools": "created",
    }
    lock = _merge_in_every_order(shop, ["layer-ci/common", "layer-ci/tools"])
    assert lock == shop.read_remote("layer-ci/common", "layer-ci.lock")

    # The real pair, merged back to back before any run rebases the second.
    assert shop.merge("layer-ci/tools") == 200
    assert shop.merge("layer-ci/common") == 200
    after = shop.push()
    assert after.returncode == 0, after.explain()
    assert after.output_json("pull-requests") == [] and shop.open_pulls() == {}
    template = shop.read_remote("main", "template.yaml")
    assert [pin_line(template, f).rsplit(":layer:", 1)[1] for f in ("greeter", "shouter", "catalog")] == [
        "common:2",
        "common:2",
        "tools:2",
    ]
    assert not [b for b in shop.remote_branches() if b.startswith("layer-ci/")]  # leftovers deleted


def test_lock_of_the_old_layout_is_read_and_rewritten_by_the_first_bump(shop: Shop) -> None:
    """A lock committed by an earlier layer-ci (per-layer lock edits) needs no migration step."""
    _published(shop)
    assert shop.merge("layer-ci/common") == 200 and shop.merge("layer-ci/tools") == 200
    run = shop.push()
    assert run.returncode == 0, run.explain()
    assert shop.open_pulls() == {}


# ------------------------------------------------------------------------ API cost, leftovers


def test_api_cost_one_listing_per_run_and_leftover_branches_deleted(shop: Shop) -> None:
    _published(shop)
    standin = shop.standin
    # Somebody merges both PRs by hand; GitHub keeps the branches.
    assert shop.merge("layer-ci/common") == 200 and shop.merge("layer-ci/tools") == 200
    assert {"layer-ci/common", "layer-ci/tools"} <= set(shop.remote_branches())

    standin.clear_requests()
    cleanup = shop.push()
    assert cleanup.returncode == 0, cleanup.explain()
    # One listing finds that no bump PR is open; the leftover branches go (git, not the API).
    assert [r.key for r in standin.requests] == [f"GET {PULLS}"]
    assert shop.remote_branches() == ["main"]

    standin.clear_requests()
    noop = shop.push()
    assert noop.returncode == 0, noop.explain()
    assert standin.requests == []  # nothing pending, no branch left: not one request

    # A change to one layer: its PR costs at most 10 requests in all, the listing included.
    shop.write("layers/tools/python/toolbox.py", TOOLBOX_V2)
    shop.commit_and_push("tools v2")
    standin.clear_requests()
    bumped = shop.push()
    assert bumped.returncode == 0, bumped.explain()
    assert list(bumped.prs) == ["layer-ci/tools"]
    assert standin.count() <= 10, [r.key for r in standin.requests]
    assert standin.count("GET", PULLS) == 0  # no bump branch existed: nothing to look up

    standin.clear_requests()
    rerun = shop.push()
    assert rerun.returncode == 0, rerun.explain()
    assert rerun.prs["layer-ci/tools"]["outcome"] == "unchanged"
    # The listing, the head's statuses and the sticky comment, read; nothing written.
    assert sorted(r.key for r in standin.requests) == sorted(
        [f"GET {PULLS}", "GET /repos/{owner}/{repo}/commits/{ref}/status", f"GET {COMMENTS}"]
    )


# ------------------------------------------------------------------------ held-back pins


def test_held_back_pins_are_proposed_again_until_they_move(shop: Shop) -> None:
    _published(shop)
    assert shop.merge("layer-ci/common") == 200 and shop.merge("layer-ci/tools") == 200
    shop.write("layers/common/python/mylib.py", MYLIB_BREAKING)
    shop.commit_and_push("common: drop shout")

    broken = shop.push()
    assert broken.returncode == 1 and broken.outputs["tests-passed"] == "false"
    pull = shop.open_pulls()["layer-ci/common"]
    template = shop.read_remote("layer-ci/common", "template.yaml")
    assert pin_line(template, "greeter").endswith("common:2") and pin_line(template, "shouter").endswith(
        "common:1"
    )
    assert "shouter failed its tests against common v2" in (pull.body or "")

    # The PR is merged with its held-back pin, as docs/gate.md allows.
    assert shop.merge("layer-ci/common") == 200
    again = shop.push()
    # shouter's pin lags the lock: it is tested again, still fails, so no PR can move it; the run says so.
    assert again.returncode == 1, again.explain()
    assert "common: 1 pin(s) behind the version layer-ci.lock records" in again.stdout
    assert any("shouter: tests failed against common v2" in line for line in again.annotations("error"))
    assert "layer-ci/common" not in shop.open_pulls()

    # shouter is fixed: the next push proposes its pin at last.
    shop.write("functions/shouter/app.py", SHOUTER_FIXED)
    shop.commit_and_push("shouter: no longer needs mylib.shout")
    fixed = shop.push()
    assert fixed.returncode == 0, fixed.explain()
    assert fixed.prs["layer-ci/common"]["outcome"] == "created"
    pull = shop.open_pulls()["layer-ci/common"]
    template = shop.read_remote("layer-ci/common", "template.yaml")
    assert pin_line(template, "shouter").endswith("common:2")
    assert "| `common` | us-east-1 | v1 | **v2** |" in (pull.body or "")
    assert pull.pull is not None and shop.statuses(pull.pull.head_sha)[AGGREGATE] == "success"

    assert shop.merge("layer-ci/common") == 200
    done = shop.push()
    assert done.returncode == 0 and shop.open_pulls() == {}, done.explain()


def test_an_ignored_pin_is_left_alone_and_listed_in_the_pr(shop: Shop) -> None:
    _published(shop)
    assert shop.merge("layer-ci/common") == 200 and shop.merge("layer-ci/tools") == 200
    shop.write("layers/common/python/mylib.py", MYLIB_BREAKING)
    shop.commit_and_push("common: drop shout")
    assert shop.push().returncode == 1
    assert shop.merge("layer-ci/common") == 200

    # The team decides shouter stays on v1 for now.
    set_ignore(shop, "  ignore:\n    - {layer: common, function: shouter, reason: rewrite pending}\n")
    shop.commit_and_push("keep shouter on common v1")
    quiet = shop.push()
    assert quiet.returncode == 0, quiet.explain()
    assert "layer-ci/common" not in shop.open_pulls() and "behind the version" not in quiet.stdout

    # The next release of common moves greeter; the PR shows shouter's pin and the rule keeping it.
    shop.write("layers/common/python/mylib.py", MYLIB_BREAKING + "\n\nVERSION = 3\n")
    shop.commit_and_push("common v3")
    released = shop.push()
    assert released.returncode == 0, released.explain()  # shouter is not tested: it is ignored
    assert not [w for w in released.annotations("warning") if "pin kept back" in w]  # on purpose: no noise
    pull = shop.open_pulls()["layer-ci/common"]
    body = pull.body or ""
    escaped_reason = "ignored in layer-ci.yml \\(settings.ignore: common for shouter\\): rewrite pending"
    assert f"stays at v1: {escaped_reason}" in body
    template = shop.read_remote("layer-ci/common", "template.yaml")
    assert pin_line(template, "greeter").endswith("common:3") and pin_line(template, "shouter").endswith(
        "common:1"
    )
    assert pull.pull is not None and "layer-ci/test/shouter" not in shop.statuses(pull.pull.head_sha)


# ------------------------------------------------------------------------ reverting a layer


def test_reverting_a_layer_updates_the_pr_while_pins_lag_and_closes_it_when_none_do(shop: Shop) -> None:
    _published(shop)
    assert shop.merge("layer-ci/common") == 200 and shop.merge("layer-ci/tools") == 200
    # A compatible v2 of common and a v2 of tools; only the tools PR is merged: it records common v2 in
    # the lock as well, so common's pins now lag the lock.
    shop.write("layers/common/python/mylib.py", MYLIB_COMPATIBLE)
    shop.write("layers/tools/python/toolbox.py", TOOLBOX_V2)
    shop.commit_and_push("both layers change")
    assert shop.push().returncode == 0
    number = shop.open_pulls()["layer-ci/common"].number
    assert shop.merge("layer-ci/tools") == 200

    # common is reverted to v1's content: publishing reuses v1. The pins name v1 but the base's lock
    # says v2, so the same PR is updated (lock back to v1), not closed.
    shop.write("layers/common/python/mylib.py", MYLIB_V1)
    shop.commit_and_push("revert common")
    reverted = shop.push()
    assert reverted.returncode == 0, reverted.explain()
    assert reverted.prs["layer-ci/common"]["outcome"] == "updated"
    assert shop.open_pulls()["layer-ci/common"].number == number
    lock = shop.read_remote("layer-ci/common", "layer-ci.lock")
    assert '"version": 1' in lock.split('"tools"')[0]

    # Merged: nothing lags any more; a layer change and its revert before any merge closes the PR.
    assert shop.merge("layer-ci/common") == 200
    shop.write("layers/common/python/mylib.py", MYLIB_BREAKING)
    shop.commit_and_push("common breaks")
    assert shop.push().returncode == 1
    number = shop.open_pulls()["layer-ci/common"].number
    shop.write("layers/common/python/mylib.py", MYLIB_V1)
    shop.commit_and_push("revert common again")
    back = shop.push()
    assert back.returncode == 0, back.explain()
    assert back.prs["layer-ci/common"]["outcome"] == "closed"
    assert shop.open_pulls() == {}
    assert any("every pin names the version layer-ci.lock records" in c for c in shop.comments(number))


# ------------------------------------------------------------------------ sticky comment


def test_one_sticky_comment_per_bump_pr_edited_in_place(shop: Shop) -> None:
    _published(shop)
    assert shop.merge("layer-ci/common") == 200 and shop.merge("layer-ci/tools") == 200
    shop.write("layers/common/python/mylib.py", MYLIB_BREAKING)
    shop.commit_and_push("common: drop shout")
    assert shop.push().returncode == 1
    pull = shop.open_pulls()["layer-ci/common"]
    (first,) = [c for c in shop.standin.state.comments_on(REPOSITORY, pull.number)]
    assert first.body.startswith(BUMP_MARKER)
    assert "| `common` | us-east-1 | v1 | **v2** |" in first.body
    assert "`shouter`" in first.body and "❌" in first.body

    # A fix to the layer: the same comment is edited, saying what the PR was before.
    shop.write("layers/common/python/mylib.py", MYLIB_COMPATIBLE)
    shop.commit_and_push("common: shout is back")
    fixed = shop.push()
    assert fixed.returncode == 0, fixed.explain()
    comments = shop.standin.state.comments_on(REPOSITORY, pull.number)
    assert [c.id for c in comments] == [first.id]
    body = comments[0].body
    assert "| `common` | us-east-1 | v1 | **v3** |" in body and "❌" not in body
    assert "Changed since the previous push: was *Bump layer common to v2 (tests failed)*." in body

    # A rerun that changes nothing edits nothing.
    shop.standin.clear_requests()
    rerun = shop.push()
    assert rerun.returncode == 0
    assert shop.standin.count("PATCH") == 0 and shop.standin.count("POST") == 0
    assert shop.standin.state.comments_on(REPOSITORY, pull.number)[0].body == body


# ------------------------------------------------------------------------ pull requests by people


def _pull_request(
    shop: Shop, branch: str, edit: dict[str, str], *, fork: str | None = None
) -> dict[str, Any]:
    """A person's pull request from ``branch`` with ``edit`` applied; the Action on its event."""
    base_sha = shop.linked.remote.branch_sha("main")
    shop.checkout()
    run_git(["checkout", "--quiet", "-b", branch], shop.workspace)
    for relative, text in edit.items():
        shop.write(relative, text)
    run_git(["commit", "--quiet", "-am", f"{branch}: a change"], shop.workspace)
    head = shop.head
    if fork is None:
        run_git(["push", "--quiet", "origin", f"HEAD:refs/heads/{branch}"], shop.workspace)
        number = shop.standin.open_pull(branch, title=branch, user="octocat", repo=REPOSITORY).number
    else:
        pull = shop.standin.open_pull(branch, title=branch, user=fork, repo=REPOSITORY, fork_owner=fork)
        number = pull.number
    head_repo = f"{fork}/linked" if fork else REPOSITORY
    payload = {
        "action": "synchronize",
        "number": number,
        "repository": {"full_name": REPOSITORY, "default_branch": "main", "name": "linked"},
        "pull_request": {
            "number": number,
            "head": {"ref": branch, "sha": head, "repo": {"full_name": head_repo}},
            "base": {"ref": "main", "sha": base_sha, "repo": {"full_name": REPOSITORY}},
        },
    }
    shop.last_pr = (number, head)
    return payload


def test_verify_sets_the_layer_ci_verify_status_on_the_pull_requests_head(shop: Shop) -> None:
    _published(shop)
    template = shop.read_remote("main", "template.yaml")
    broken = template.replace("layer:common:1", "layer:common:9", 1)
    payload = _pull_request(shop, "pin-nine", {"template.yaml": broken})
    number, head = shop.last_pr
    run = shop.run("pull_request", payload, ref=f"refs/pull/{number}/merge")
    assert run.returncode == 1, run.explain()
    assert shop.statuses(head)["layer-ci/verify"] == "failure"
    (status,) = [s for s in shop.linked.repo.statuses if s.sha == head and s.context == "layer-ci/verify"]
    assert "common v9 does not exist" in (status.description or "")
    assert status.target_url and status.target_url.endswith("/actions/runs/4242")
    assert len([c for c in shop.comments(number) if "<!-- layer-ci:verify -->" in c]) == 1

    # The fix pushed to the same PR: the status on the new head is green.
    shop.write("template.yaml", template)
    run_git(["commit", "--quiet", "-am", "back to v1"], shop.workspace)
    shop.write("README.md", "a readme\n")
    run_git(["add", "README.md"], shop.workspace)
    run_git(["commit", "--quiet", "-m", "docs"], shop.workspace)
    run_git(["push", "--quiet", "origin", "HEAD:refs/heads/pin-nine"], shop.workspace)
    payload["pull_request"]["head"]["sha"] = shop.head
    again = shop.run("pull_request", payload, ref=f"refs/pull/{number}/merge")
    assert again.returncode == 0, again.explain()
    assert shop.statuses(shop.head)["layer-ci/verify"] == "success"


def test_a_fork_pull_request_with_command_run_runs_read_only(shop: Shop) -> None:
    _published(shop)
    template = shop.read_remote("main", "template.yaml")
    moved = {"template.yaml": template.replace("common:1", "common:2")}
    payload = _pull_request(shop, "evil", moved, fork="mallory")
    number, _head = shop.last_pr
    standin = shop.standin
    standin.clear_requests()
    versions = sorted(path.name for path in shop.registry.rglob("*") if path.is_file())
    run = shop.run("pull_request", payload, ref=f"refs/pull/{number}/merge", inputs={"command": "run"})
    assert run.returncode == 0, run.explain()
    assert any("runs read-only" in line for line in run.annotations("warning"))
    assert [r for r in standin.requests if r.method != "GET"] == []
    assert run.output_json("published") == {} and run.output_json("pull-requests") == []
    assert sorted(path.name for path in shop.registry.rglob("*") if path.is_file()) == versions
