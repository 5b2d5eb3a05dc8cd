"""Benchmark: GitHub API requests per bump pull request, per scenario, against the loopback stand-in.

Run: .venv/bin/python bench/bench_bump_api_calls.py [--max-functions 6]
Each scenario builds a fresh consumer repository (bare git remote + clone), publishes with the local
registry, runs `bump` with the real engine and counts every request the stand-in answered (retries
included) by endpoint. Counts are exact, so one run per scenario is enough; timings are not measured.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from layer_ci.adapters.git import GitRepo
from layer_ci.adapters.github import GitHubClient
from layer_ci.bump.pull_requests import BumpOutcome, bump_after_publish
from layer_ci.engine.prepare import EngineOptions
from layer_ci.gate.consumers import AGGREGATE_CONTEXT, engine_runner
from layer_ci.plan.lockfile import save_lock
from tests.report.bump_repo import BumpRepo, make_bump_repo
from tests.support.git_remote import make_git_remote, run_git
from tests.support.github_standin import FAST, GitHubStandIn

REPO = "octo-org/linked"


class Scenario:
    def __init__(self, root: Path, *, auto_merge: bool, extra: int) -> None:
        self.standin = GitHubStandIn().start()
        remote = make_git_remote(root / "remote")
        self.standin.add_repo(REPO, git_dir=remote.bare)
        self.standin.repo(REPO).required_contexts = [AGGREGATE_CONTEXT]
        os.environ["GITHUB_API_URL"] = self.standin.url
        self.repo: BumpRepo = make_bump_repo(remote, auto_merge=auto_merge, extra_consumers=extra)
        self.cache = root / "cache"

    def bump(self) -> tuple[BumpOutcome, Counter[str]]:
        self.standin.clear_requests()
        client = GitHubClient(self.standin.token, REPO, policy=FAST)
        try:
            outcome = bump_after_publish(
                self.repo.config(),
                git=GitRepo(self.repo.root),
                github=client,
                test_runner=engine_runner(EngineOptions(cache_dir=self.cache)),
                cache_dir=self.cache,
            )
        finally:
            client.close()
        return outcome, Counter(r.key for r in self.standin.requests)

    def stop(self) -> None:
        self.standin.stop()


def run(
    label: str, setup: Callable[[Scenario], None], *, auto_merge: bool, extra: int = 0
) -> tuple[str, int, int, str]:
    with tempfile.TemporaryDirectory(prefix="bench-bump-") as tmp:
        scenario = Scenario(Path(tmp), auto_merge=auto_merge, extra=extra)
        try:
            setup(scenario)
            outcome, counts = scenario.bump()
        finally:
            scenario.stop()
    (pr,) = outcome.prs
    assert pr.api_calls == sum(counts.values()), (pr.api_calls, counts)
    detail = ", ".join(f"{n}x {key.split(' ', 1)[0]} {_short(key)}" for key, n in sorted(counts.items()))
    return label, 2 + extra, pr.api_calls, f"{pr.action}{' + merged' if pr.merged else ''}: {detail}"


def run_leftovers(label: str, leftovers: int) -> tuple[str, int, int, str]:
    """A push with nothing to bump while ``leftovers`` bump branches of merged PRs are still on the remote.

    Before one listing per run, every leftover branch cost a ``GET /pulls?head=`` on every run; now the
    first run lists the open PRs once and deletes the leftovers (git), and the next run asks nothing.
    """
    with tempfile.TemporaryDirectory(prefix="bench-bump-") as tmp:
        scenario = Scenario(Path(tmp), auto_merge=False, extra=0)
        try:
            scenario.repo.release()
            scenario.bump()
            pull = scenario.standin.open_pulls(REPO)[0]
            status = scenario.standin.state.repo(REPO)
            # The PR is merged by a person (GitHub keeps its branch), plus stale branches of removed layers.
            client = GitHubClient(scenario.standin.token, REPO, policy=FAST)
            try:
                assert pull.pull is not None
                assert client.merge_at_sha(pull.number, pull.pull.head_sha, merge_method="merge").merged
            finally:
                client.close()
            main_sha = scenario.repo.remote.branch_sha("main") or ""
            lock = scenario.repo.lock()  # the released lock (what the merged PR recorded)
            for index in range(leftovers - 1):
                name = f"gone{index}"
                status.refs.create(f"refs/heads/layer-ci/{name}", main_sha)
                entry = lock.layers["common"]
                lock = lock.with_layer(name, entry)
            run_git(["checkout", "--quiet", "HEAD", "--", "layer-ci.lock"], scenario.repo.root)
            run_git(["pull", "--quiet", "origin", "main"], scenario.repo.root)
            save_lock(scenario.repo.root, lock)  # the removed layers are still in the lock: candidates
            run_git(
                ["commit", "--quiet", "--allow-empty", "-am", "lock names removed layers"], scenario.repo.root
            )
            run_git(["push", "--quiet", "origin", "HEAD:refs/heads/main"], scenario.repo.root)
            outcome, counts = scenario.bump()
            again, counts_again = scenario.bump()
        finally:
            scenario.stop()
    detail = ", ".join(f"{n}x {key.split(' ', 1)[0]} {_short(key)}" for key, n in sorted(counts.items()))
    return (
        label,
        leftovers,
        outcome.api_calls,
        f"{detail or 'none'}; the next run: {again.api_calls} ({len(counts_again)} kinds of request)",
    )


def _short(key: str) -> str:
    path = key.split(" ", 1)[1].replace("/repos/{owner}/{repo}", "")
    return path or "/"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--max-functions", type=int, default=6)
    args = parser.parse_args()
    home = tempfile.mkdtemp(prefix="bench-git-home-")
    Path(home, "gitconfig").write_text("")
    os.environ.update({"GIT_CONFIG_GLOBAL": str(Path(home, "gitconfig")), "GIT_CONFIG_NOSYSTEM": "1"})
    for key in ("GITHUB_RUN_ID", "GITHUB_TOKEN", "GITHUB_EVENT_PATH"):
        os.environ.pop(key, None)

    def release(s: Scenario) -> None:
        s.repo.release()

    def rerun(s: Scenario) -> None:
        s.repo.release()
        s.bump()

    def newer(s: Scenario) -> None:
        s.repo.release()
        s.bump()
        s.repo.release(version="3.0.0")

    def breaking(s: Scenario) -> None:
        s.repo.release(breaking=True)

    def fixed(s: Scenario) -> None:
        s.repo.release(breaking=True)
        s.bump()
        s.repo.release(version="3.0.0")

    rows = [
        run("new PR", release, auto_merge=False),
        run("new PR, auto-merge", release, auto_merge=True),
        run("rerun, nothing changed", rerun, auto_merge=False),
        run("newer release, PR updated in place", newer, auto_merge=False),
        run("a function fails (label added)", breaking, auto_merge=True),
        run("failure fixed by a newer release (label removed), auto-merge", fixed, auto_merge=True),
    ]
    for extra in range(max(args.max_functions - 2, 0) + 1):
        rows.append(run("new PR, auto-merge", release, auto_merge=True, extra=extra))
    print("| scenario | affected functions | API calls | requests |")
    print("|---|---:|---:|---|")
    for label, functions, calls, detail in rows:
        print(f"| {label} | {functions} | {calls} | {detail} |")
    print()
    print("| scenario | leftover bump branches | API calls | requests |")
    print("|---|---:|---:|---|")
    for leftovers in (1, 2, 5, 20):
        label, count, calls, detail = run_leftovers("push with nothing to bump", leftovers)
        print(f"| {label} | {count} | {calls} | {detail} |")


if __name__ == "__main__":
    main()
