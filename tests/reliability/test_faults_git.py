"""git pushes that lose a race: another clone pushes to the bump branch, or to main, while a run works.

The run must never drop someone else's commit (layer-ci force-pushes only with a lease, and never over
commits a person authored) and never report success for a PR it did not update: it either bumps on
top of what it finds, or says in one annotation that ``git push`` was refused and why.
"""

from __future__ import annotations

import textwrap

from tests.reliability.reliability_support import BRANCH, REGIONS, Shop, read_until
from tests.reliability.test_crash_consistency import end_state, expected_state, title_for

PERSON = ("Pat Person", "pat@example.com")


def race_hook(shop: Shop, other_sha: str) -> None:
    """A pre-receive hook that, on the first push to the bump branch, lets another push land first.

    It moves the branch to ``other_sha`` (what a second clone's push would do) while the run's push is
    in flight; git then refuses the run's update because the ref is no longer what the run saw.
    """
    marker = shop.runs / "raced"
    shop.linked.remote.install_hook(
        "pre-receive",
        textwrap.dedent(
            f"""\
            #!/bin/sh
            while read old new ref; do
              if [ "$ref" = "refs/heads/{BRANCH}" ] && [ ! -e "{marker}" ]; then
                touch "{marker}"
                # Outside the push's quarantine, as the other clone's push would be.
                env -u GIT_QUARANTINE_PATH git update-ref "refs/heads/{BRANCH}" "{other_sha}"
              fi
            done
            exit 0
            """
        ),
    )


def test_a_push_that_loses_the_race_on_the_bump_branch_never_overwrites_the_other(shop: Shop) -> None:
    shop.change_layer(2)
    shop.fresh_checkout()
    assert shop.run(label="v2").returncode == 0
    # Another clone's bump lands on the branch while the v3 run pushes.
    other = shop.linked.remote.push_as(
        "elsewhere", {"OTHER.md": b"another clone\n"}, author=PERSON, message="another clone's push"
    )
    race_hook(shop, other)
    sha = shop.change_layer(3)
    shop.fresh_checkout()
    run = shop.run(label="raced")
    assert "Traceback" not in run.stdout + run.stderr
    assert shop.linked.remote.branch_sha(BRANCH) == other  # the other push was not overwritten
    reported = [line for line in run.stdout.splitlines() if line.startswith(("::warning", "::error"))]
    assert len(reported) == 1 and "git push" in reported[0], run.stdout
    print(reported[0])

    # The branch now carries a person's commit: the next run refuses to force-push over it, clearly.
    shop.fresh_checkout(sha)
    again = shop.run(label="after-race")
    assert shop.linked.remote.branch_sha(BRANCH) == other
    assert any(
        "pat@example.com" in line for line in again.stdout.splitlines() if line.startswith("::warning")
    )


def test_main_moving_during_a_run_bumps_onto_the_new_main(shop: Shop) -> None:
    sha = shop.change_layer(2)
    shop.fresh_checkout()
    with shop.spawn(sha=sha) as process:
        assert process.stdout is not None
        read_until(process.stdout, "::group::publish")
        # Another clone pushes an unrelated commit to main while the run publishes.
        shop.linked.remote.push_as(
            "main", {"README.md": b"docs\n"}, author=PERSON, message="docs", base="main"
        )
        rest = process.stdout.read()
        assert process.wait(timeout=120) == 0, rest
    state = end_state(shop)
    assert state == expected_state(title_for(2))  # the PR sits on the new main tip, pinned to v2
    assert shop.linked.remote.read_file(BRANCH, "README.md") == b"docs\n"


def test_main_moving_to_a_newer_layer_change_leaves_the_bump_to_that_push(shop: Shop) -> None:
    older = shop.change_layer(2)
    shop.fresh_checkout(older)
    with shop.spawn(sha=older) as process:
        assert process.stdout is not None
        read_until(process.stdout, "::group::publish")
        newer = shop.linked.remote.push_as(  # another clone pushes a newer change of the layer
            "main", {"layers/tools/python/tools.py": b"VERSION = 3\n"}, author=PERSON, message="tools: 3"
        )
        rest = process.stdout.read()
        assert process.wait(timeout=120) == 0, rest
    assert "has moved on to" in rest
    assert shop.linked.remote.branch_sha(BRANCH) is None  # the older run left the bump alone
    shop.fresh_checkout(newer)
    run = shop.run(sha=newer, label="newer")
    assert run.returncode == 0, run.stdout + run.stderr
    assert end_state(shop) == expected_state(title_for(3), 3)
    for region in REGIONS:
        assert [version for version, _ in shop.versions(region)] == [1, 2, 3]
