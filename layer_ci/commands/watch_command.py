"""`layer-ci watch`: open gated bump pull requests for pinned vendor layers with newer versions."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from layer_ci.adapters.github import github_client
from layer_ci.errors import EXIT_FAILURE, EXIT_OK

if TYPE_CHECKING:
    from layer_ci.adapters.git import GitRepo
    from layer_ci.model import Config
    from layer_ci.vendor.watch import WatchResult

HELP = (
    "find pinned vendor layers (Powertools, Datadog, ... any other account's layer), look up their newest "
    "versions and open gated pull requests moving the pins, after every consumer's tests pass against them"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("layers", nargs="*", metavar="LAYER", help="only these vendor layers (default: all)")
    parser.add_argument("--repo-slug", default=None, metavar="OWNER/NAME", help="default: $GITHUB_REPOSITORY")
    parser.add_argument("--base", default="main", metavar="BRANCH", help="the branch the PRs target (main)")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="look up, fetch and test, print each pull request; push and ask GitHub nothing",
    )
    parser.add_argument(
        "--check", action="store_true", help="only list the vendor layers and their newest versions; no tests"
    )
    parser.add_argument("--cache-dir", default=None, metavar="DIR", help="layer-ci cache (zips)")
    parser.add_argument("--remote", default="origin", help="the git remote to push to (default: origin)")
    parser.add_argument("--json", action="store_true", help="print the outcome as JSON")


def run(args: argparse.Namespace) -> int:
    from layer_ci.flows.schedule import watch_vendor
    from layer_ci.flows.services import stderr_log
    from layer_ci.gate.consumers import actions_run_url
    from layer_ci.plan.config_cache import load_config_cached

    config = load_config_cached(Path(args.config) if args.config else None)
    github = None
    if not (args.dry_run or args.check):
        github = github_client(args.repo_slug)
    git = None if args.check else _git(config, args.remote)
    try:
        result = watch_vendor(
            config,
            git=git,
            github=github,
            cache_dir=Path(args.cache_dir).resolve() if args.cache_dir else None,
            base=args.base,
            dry_run=args.dry_run,
            check_only=args.check,
            only=tuple(args.layers),
            target_url=actions_run_url(),
            log=stderr_log,
        )
    finally:
        if github is not None:
            github.close()
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        print_result(result)
    return EXIT_FAILURE if result.errors or result.tests_failed else EXIT_OK


def print_result(result: WatchResult) -> None:
    if not result.layers:
        print("no vendor layers pinned: every layer ARN is this repository's own")
    for layer in result.layers:
        versions = ", ".join(
            f"{r.region} v{r.old} -> v{r.new}" if r.changed else f"{r.region} v{r.new}" for r in layer.regions
        )
        print(
            f"{layer.status:12} {layer.layer} ({layer.account}){': ' + versions if versions else ''}"
            + (f" [{layer.detail}]" if layer.status in ("error", "not watched") else "")
        )
    if result.outcome is not None:
        for pr in result.outcome.prs:
            if pr.action == "dry-run":
                print(f"=== {pr.branch}: {pr.title}\nfiles: {', '.join(pr.files)}\n\n{pr.body}")
                continue
            where = f" #{pr.number} {pr.url}" if pr.number else ""
            tests = f"; tests failed: {', '.join(pr.failed_functions)}" if pr.failed_functions else ""
            reason = f" ({pr.reason})" if pr.reason else ""
            print(f"{pr.action} {pr.branch}{where}{tests}{reason}")


def _git(config: Config, remote: str) -> GitRepo:
    from layer_ci.adapters.git import GitRepo
    from layer_ci.bump.pull_requests import repository_of

    toplevel, _prefix = repository_of(config.root)
    return GitRepo(toplevel, remote=remote, token=os.environ.get("GITHUB_TOKEN") or None)
