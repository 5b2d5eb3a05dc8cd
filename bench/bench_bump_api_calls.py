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
from layer_ci.bump import BumpOutcome
from layer_ci.bump.pipeline import bump_after_publish
from layer_ci.engine import EngineOptions
from layer_ci.gate import AGGREGATE_CONTEXT, engine_runner
from tests.report.bump_repo import FAST, BumpRepo, make_bump_repo
from tests.support.git_remote import make_git_remote
from tests.support.github_standin import GitHubStandIn

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


if __name__ == "__main__":
    main()
