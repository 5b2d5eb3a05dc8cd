"""`layer-ci bump`: after `publish`, open or update the pull requests that move pins, gated by tests.

The contract with `publish`: the lock committed on the base branch (``git show BASE:layer-ci.lock``) is
what the repository pins today; the working tree's ``layer-ci.lock``, which `publish` just wrote, is
what is published now. Every layer whose versions differ gets bumped. The new versions' zips and
manifests come from the build folder (`.layer-ci/build/<layer>.zip` / `.manifest.json`), the old
versions' manifests from their zips in the registry (cached by SHA-256 under the layer-ci cache).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from layer_ci.adapters.github import github_client
from layer_ci.errors import EXIT_FAILURE, EXIT_OK

HELP = (
    "open or update one pull request per released layer (or per push) moving its pins to the versions "
    "`publish` just released, gated by the affected functions' tests"
)
DEFAULT_BUILD_DIR = Path(".layer-ci") / "build"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--repo-slug",
        default=None,
        metavar="OWNER/NAME",
        help="the GitHub repository (default: $GITHUB_REPOSITORY)",
    )
    parser.add_argument(
        "--base",
        default=None,
        metavar="BRANCH",
        help="the branch the pull requests target (default: the pushed branch $GITHUB_REF_NAME, else main)",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="run the tests and print each pull request's title, body and files; push and ask GitHub nothing",
    )
    parser.add_argument(
        "--build-dir",
        default=None,
        metavar="DIR",
        help=f"where `publish` left the zips and manifests (default: {DEFAULT_BUILD_DIR} under the root)",
    )
    parser.add_argument("--cache-dir", default=None, metavar="DIR", help="layer-ci cache (zips, manifests)")
    parser.add_argument("--remote", default="origin", help="the git remote to push to (default: origin)")
    parser.add_argument("--json", action="store_true", help="print the outcome as JSON")


def run(args: argparse.Namespace) -> int:
    from layer_ci.adapters.git import GitRepo
    from layer_ci.bump.pull_requests import bump_after_publish, repository_of
    from layer_ci.engine.extract import default_cache_dir
    from layer_ci.engine.prepare import EngineOptions
    from layer_ci.gate.consumers import actions_run_url, engine_runner
    from layer_ci.plan.config_cache import load_config_cached

    config = load_config_cached(Path(args.config) if args.config else None)
    toplevel, _prefix = repository_of(config.root)
    git = GitRepo(toplevel, remote=args.remote, token=os.environ.get("GITHUB_TOKEN") or None)
    base = args.base or _default_base()
    cache_dir = Path(args.cache_dir).resolve() if args.cache_dir else default_cache_dir()
    github = None
    if not args.dry_run:
        github = github_client(args.repo_slug)
    try:
        outcome = bump_after_publish(
            config,
            git=git,
            github=github,
            test_runner=engine_runner(EngineOptions(cache_dir=cache_dir)),
            cache_dir=cache_dir,
            base=base,
            build_dir=Path(args.build_dir) if args.build_dir else None,
            dry_run=args.dry_run,
            target_url=actions_run_url(),
            log=_say,
        )
    finally:
        if github is not None:
            github.close()

    if args.json:
        print(json.dumps(outcome.to_json(), indent=2))
    elif not outcome.prs:
        print(f"nothing to bump: layer-ci.lock records the same versions as {base}")
    for pr in outcome.prs:
        if args.json:
            break
        if pr.action == "dry-run":
            print(f"=== {pr.branch}: {pr.title}\nfiles: {', '.join(pr.files)}\n\n{pr.body}")
            continue
        where = f" #{pr.number} {pr.url}" if pr.number else ""
        tests = f"; tests failed: {', '.join(pr.failed_functions)}" if pr.failed_functions else ""
        merged = "; merged" if pr.merged else ""
        reason = f" ({pr.reason})" if pr.reason else ""
        print(f"{pr.action} {pr.branch}{where}{tests}{merged}{reason} [{pr.api_calls} GitHub API calls]")
    return EXIT_FAILURE if outcome.tests_failed else EXIT_OK


def _default_base() -> str:
    # On a push, the pushed branch is where the layers were published from and where pins should land.
    if (
        os.environ.get("GITHUB_EVENT_NAME") == "push"
        and os.environ.get("GITHUB_REF_TYPE", "branch") == "branch"
    ):
        return os.environ.get("GITHUB_REF_NAME") or "main"
    return "main"


def _say(message: str) -> None:
    print(f"layer-ci: {message}", file=sys.stderr, flush=True)
