"""Attack (well, accident): a person amends layer-ci's bump commit; the next run must not force-push over it.

``git commit --amend`` keeps layer-ci's bot as the author and makes the person the committer, so a guard
that looks at authors alone took the amended commit for its own and replaced it. The guard now wants
every commit beyond the base made by the bot alone (author and committer, no merges); on anything else
the run stops for that branch and says so once, in a sticky comment on the pull request.
"""

from __future__ import annotations

from pathlib import Path

from layer_ci.adapters.git import GitIdentity, GitRepo
from tests.reliability.reliability_support import BRANCH, Shop
from tests.support.git_remote import run_git

BOT = GitIdentity()


def _amend_as_person(shop: Shop, tmp_path: Path) -> str:
    """A reviewer checks out the bump branch, amends the commit (a note in pins.yaml) and force-pushes."""
    clone = tmp_path / "reviewer"
    run_git(["clone", "--quiet", "--branch", BRANCH, str(shop.linked.remote.bare), str(clone)], tmp_path)
    with (clone / "pins.yaml").open("a") as pins:
        pins.write("# reviewed: keep eu-west-1 on this version until the audit\n")
    run_git(["add", "pins.yaml"], clone)
    run_git(["commit", "--quiet", "--amend", "--no-edit"], clone)
    author = run_git(["log", "-1", "--format=%ae|%ce"], clone).strip()
    assert author == f"{BOT.email}|author@example.com"  # the bot stays the author; the person commits
    run_git(["push", "--quiet", "--force", "origin", f"HEAD:refs/heads/{BRANCH}"], clone)
    return run_git(["rev-parse", "HEAD"], clone).strip()


def test_an_amended_bump_commit_is_not_force_pushed_over(shop: Shop, tmp_path: Path) -> None:
    shop.change_layer(2)
    first = shop.run(label="v2")
    assert first.returncode == 0, first.stdout + first.stderr
    ((number, _),) = shop.open_pulls().values()
    amended = _amend_as_person(shop, tmp_path)

    shop.change_layer(3)
    second = shop.run(label="v3")
    assert second.returncode == 0, second.stdout + second.stderr
    assert shop.linked.remote.branch_sha(BRANCH) == amended, "the person's amended commit was replaced"
    assert "reviewed: keep eu-west-1" in shop.branch_pins(BRANCH)
    notes = [c for c in shop.comments(number) if "did not update this branch" in c]
    assert len(notes) == 1, shop.comments(number)
    assert "committed by Test Author" in notes[0]

    shop.change_layer(4)  # a third run says it once: the comment is edited in place, not repeated
    assert shop.run(label="v4").returncode == 0
    assert shop.linked.remote.branch_sha(BRANCH) == amended
    assert len([c for c in shop.comments(number) if "did not update this branch" in c]) == 1


def test_the_guard_names_committers_and_merges(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    run_git(["init", "--quiet"], root)
    run_git(["commit", "--quiet", "--allow-empty", "-m", "base"], root)
    base = run_git(["rev-parse", "HEAD"], root).strip()
    bot_env = {
        "GIT_AUTHOR_NAME": BOT.name,
        "GIT_AUTHOR_EMAIL": BOT.email,
        "GIT_COMMITTER_NAME": BOT.name,
        "GIT_COMMITTER_EMAIL": BOT.email,
    }
    run_git(["commit", "--quiet", "--allow-empty", "-m", "bot"], root, env=bot_env)
    repo = GitRepo(root)
    assert repo.foreign_commits("HEAD", base) == ()

    run_git(["commit", "--quiet", "--allow-empty", "--amend", "-m", "bot, amended"], root)
    (amended,) = repo.foreign_commits("HEAD", base)
    assert (amended.why, amended.committer_email) == ("committed", "author@example.com")

    run_git(["reset", "--quiet", "--hard", base], root)
    run_git(["commit", "--quiet", "--allow-empty", "-m", "bot"], root, env=bot_env)
    run_git(["branch", "side", base], root)
    run_git(["checkout", "--quiet", "side"], root)
    run_git(["commit", "--quiet", "--allow-empty", "-m", "side"], root, env=bot_env)
    run_git(["checkout", "--quiet", "-"], root)
    run_git(["merge", "--quiet", "--no-ff", "--no-edit", "side"], root, env=bot_env)
    (merge,) = repo.foreign_commits("HEAD", base)
    assert merge.why == "merge" and "merge commit" in str(merge)
