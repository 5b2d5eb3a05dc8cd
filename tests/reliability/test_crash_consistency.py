"""SIGKILL the Action at each stage boundary of the push path, rerun the job, and get the same end state.

The push under test changes the ``tools`` layer of the shop (v1 published, locked and pinned on main).
An uninterrupted run builds it, publishes v2 in us-east-1 then eu-west-1, pushes ``layer-ci/tools``,
opens the bump PR and sets its statuses. Each test starts that run as a subprocess, reads its output
line by line and kills it (SIGKILL: no cleanup, no flush) right after the line marking one boundary.
The rerun is what GitHub's "Re-run job" does: a fresh checkout of the same commit (the killed run's
build folder and working-tree lock are gone) and the same command. The end state must equal the
uninterrupted run's: one new version per region, one branch, one PR (no comments), the statuses, the
lock and the pins on the branch.
"""

from __future__ import annotations

import json
import os
import signal
from typing import Any

import pytest

from tests.reliability.reliability_support import (
    AGGREGATE,
    BRANCH,
    FUNCTION_CONTEXT,
    LAYER,
    REGIONS,
    Shop,
    arn,
    pins_text,
    read_until,
)
from tests.support.git_remote import run_git

# kill point -> the line (its start) the Action prints right after that boundary
KILL_POINTS: dict[str, str] = {
    "after-build": "::group::publish",
    "after-publish-us-east-1": f"{LAYER} us-east-1: published v2",
    "after-publish-eu-west-1": f"{LAYER} eu-west-1: published v2",
    "after-push": f"{BRANCH}: pushed ",
    "after-pr": f"{BRANCH}: pull request #1 created",
    "after-statuses": f"{BRANCH}: statuses set",
}


def end_state(shop: Shop) -> dict[str, Any]:
    """Everything a push run leaves behind, with commit shas replaced by what they must equal."""
    main_tip = shop.linked.remote.branch_sha("main")
    branch_tip = shop.linked.remote.branch_sha(BRANCH)
    pulls = shop.all_pulls()
    state: dict[str, Any] = {
        "versions": {region: [version for version, _ in shop.versions(region)] for region in REGIONS},
        "branches": shop.remote_branches(),
        "pulls": [
            {
                "state": pull.state,
                "head": pull.pull.head_ref,
                "head_is_branch_tip": pull.pull.head_sha == branch_tip,
                "title": pull.title,
                "labels": pull.labels,
                "comments": len(shop.comments(pull.number)),
            }
            for pull in pulls
        ],
    }
    if branch_tip is not None:
        parents = run_git(["rev-list", "--parents", "-n", "1", branch_tip], shop.linked.remote.bare).split()
        lock = shop.branch_lock(BRANCH).layers[LAYER]
        state["branch"] = {
            "parent_is_main": parents[1:] == [main_tip],
            "commits_on_top_of_main": int(
                run_git(["rev-list", "--count", f"{main_tip}..{branch_tip}"], shop.linked.remote.bare)
            ),
            "statuses": shop.statuses(branch_tip),
            "pins": shop.branch_pins(BRANCH),
            "lock": {region: (ref.version, ref.arn) for region, ref in sorted(lock.published.items())},
            "lock_zip_is_newest": all(shop.versions(r)[-1][1] == lock.zip_sha256 for r in REGIONS),
        }
    state["main_lock"] = {
        r: ref.version for r, ref in shop.branch_lock("main").layers[LAYER].published.items()
    }
    return state


def expected_state(title: str, version: int = 2) -> dict[str, Any]:
    """The end state of an undisturbed push of tools ``version`` (v1 being on main)."""
    return {
        "versions": {region: list(range(1, version + 1)) for region in REGIONS},
        "branches": [BRANCH, "main"],
        "pulls": [
            {
                "state": "open",
                "head": BRANCH,
                "head_is_branch_tip": True,
                "title": title,
                "labels": ["layer-ci"],
                "comments": 1,  # the sticky comment, never a second one
            }
        ],
        "branch": {
            "parent_is_main": True,
            "commits_on_top_of_main": 1,
            "statuses": {AGGREGATE: "success", FUNCTION_CONTEXT: "success"},
            "pins": pins_text(version),
            "lock": {region: (version, arn(region, version)) for region in sorted(REGIONS)},
            "lock_zip_is_newest": True,
        },
        "main_lock": {region: 1 for region in REGIONS},
    }


def title_for(version: int) -> str:
    return f"Bump layer tools to v{version}"


TITLE = title_for(2)


def test_an_uninterrupted_run_leaves_the_expected_state(shop: Shop) -> None:
    shop.change_layer(2)
    shop.fresh_checkout()
    run = shop.run(label="uninterrupted")
    assert run.returncode == 0, run.stdout + run.stderr
    for marker in KILL_POINTS.values():  # every marker the kill tests wait for is printed, in order
        assert marker in run.stdout, marker
    positions = [run.stdout.index(marker) for marker in KILL_POINTS.values()]
    assert positions == sorted(positions)
    assert end_state(shop) == expected_state(TITLE)
    # And a second run of the same job changes nothing at all.
    shop.fresh_checkout()
    again = shop.run(label="again")
    assert again.returncode == 0, again.stdout + again.stderr
    assert end_state(shop) == expected_state(TITLE)
    assert json.loads(again.outputs["pull-requests"])[0]["outcome"] == "unchanged"


def what_exists(shop: Shop) -> str:
    """A short description of the state a killed run left, for the table in docs/reliability.md."""
    versions = {region: len(shop.versions(region)) - 1 for region in REGIONS}
    tip = shop.linked.remote.branch_sha(BRANCH)
    pulls = len(shop.all_pulls())
    statuses = shop.statuses(tip) if tip else {}
    parts = [
        "new versions: " + ", ".join(f"{region} {count}" for region, count in versions.items()),
        f"branch: {'yes' if tip else 'no'}",
        f"PRs: {pulls}",
        "statuses: "
        + (", ".join(f"{c.rsplit('/', 1)[-1]}={s}" for c, s in sorted(statuses.items())) or "none"),
    ]
    return "; ".join(parts)


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_a_run_killed_at_a_stage_boundary_converges_on_rerun(shop: Shop, point: str) -> None:
    sha = shop.change_layer(2)
    shop.fresh_checkout()
    with shop.spawn() as process:
        assert process.stdout is not None
        read_until(process.stdout, KILL_POINTS[point])
        process.send_signal(signal.SIGKILL)
        assert process.wait(timeout=30) == -signal.SIGKILL
    left = what_exists(shop)

    shop.fresh_checkout(sha)  # "Re-run job": a new runner, a fresh checkout of the same commit
    rerun = shop.run(label="rerun")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "Traceback" not in rerun.stdout + rerun.stderr
    assert end_state(shop) == expected_state(TITLE)
    outcome = json.loads(rerun.outputs["pull-requests"])[0]["outcome"]
    if (report := os.environ.get("LAYER_CI_CRASH_REPORT")) is not None:
        with open(report, "a", encoding="utf-8") as handle:
            handle.write(f"{point}\t{left}\t{outcome}\n")


def test_a_run_killed_twice_still_converges(shop: Shop) -> None:
    """Killed after the first region's publish, rerun killed after the push, then rerun to the end."""
    sha = shop.change_layer(2)
    for point in ("after-publish-us-east-1", "after-push"):
        shop.fresh_checkout(sha)
        with shop.spawn() as process:
            assert process.stdout is not None
            read_until(process.stdout, KILL_POINTS[point])
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
    shop.fresh_checkout(sha)
    rerun = shop.run(label="rerun")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert end_state(shop) == expected_state(TITLE)
