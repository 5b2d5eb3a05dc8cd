"""`layer-ci watch`: open gated bump pull requests for pinned vendor layers with newer versions."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from layer_ci.adapters.github import github_client
from layer_ci.errors import EXIT_FAILURE, EXIT_OK

if TYPE_CHECKING:
    from layer_ci.adapters.git import GitRepo
    from layer_ci.adapters.github import GitHubClient
    from layer_ci.gate.consumers import TestRunner
    from layer_ci.model import Config
    from layer_ci.vendor.watch import AwsFactory, WatchResult

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
    from layer_ci.engine.extract import default_cache_dir
    from layer_ci.engine.prepare import EngineOptions
    from layer_ci.gate.consumers import actions_run_url, engine_runner
    from layer_ci.plan.config_cache import load_config_cached

    config = load_config_cached(Path(args.config) if args.config else None)
    cache_dir = Path(args.cache_dir).resolve() if args.cache_dir else default_cache_dir()
    github = None
    if not (args.dry_run or args.check):
        github = github_client(args.repo_slug)
    git = None if args.check else _git(config, args.remote)
    try:
        result = watch(
            config,
            git=git,
            github=github,
            test_runner=engine_runner(EngineOptions(cache_dir=cache_dir)),
            cache_dir=cache_dir,
            base=args.base,
            dry_run=args.dry_run,
            check_only=args.check,
            only=tuple(args.layers),
            target_url=actions_run_url(),
            log=_say,
        )
    finally:
        if github is not None:
            github.close()
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        print_result(result)
    return EXIT_FAILURE if result.errors or result.tests_failed else EXIT_OK


def watch(
    config: Config,
    *,
    git: GitRepo | None,
    github: GitHubClient | None,
    test_runner: TestRunner,
    cache_dir: Path,
    base: str = "main",
    dry_run: bool = False,
    check_only: bool = False,
    only: Sequence[str] = (),
    target_url: str | None = None,
    aws_for: AwsFactory | None = None,
    fetch: Callable[[str, str, Path], Path] | None = None,
    log: Callable[[str], None] | None = None,
) -> WatchResult:
    """The whole watch on a checkout: shared by the CLI and the Action's schedule route."""
    from layer_ci.bump.pull_requests import BumpOptions, bump_vendor_groups, repository_of
    from layer_ci.pins.find import find_pins
    from layer_ci.publish.fetch import fetch_url
    from layer_ci.vendor.policy import load_vendor_settings
    from layer_ci.vendor.watch import watch_vendor_layers

    settings = load_vendor_settings(config.path, _shown(config))
    pins = find_pins(config.root, config)

    def bump(view: Config, groups: Sequence[Any], zips: Mapping[str, Path]) -> Any:
        assert git is not None
        _, prefix = repository_of(config.root)
        return bump_vendor_groups(
            view,
            groups,
            git=git,
            github=github,
            test_runner=test_runner,
            new_zips=zips,
            options=BumpOptions(base=base, repo_prefix=prefix, dry_run=dry_run, target_url=target_url),
            log=log,
        )

    return watch_vendor_layers(
        config,
        pins,
        settings,
        aws_for=aws_for or default_aws(config),
        cache_dir=cache_dir,
        bump=None if check_only else bump,
        fetch=fetch or fetch_url,
        only=only,
        log=log,
    )


def default_aws(config: Config) -> AwsFactory:
    """One read-only adapter per region, with the config's retry mode (created on first use)."""
    from layer_ci.adapters.aws import AwsAdapter, AwsOptions

    adapters: dict[str, AwsAdapter] = {}

    def adapter(region: str) -> AwsAdapter:
        if region not in adapters:
            adapters[region] = AwsAdapter(region, AwsOptions.from_env(config.settings.retry_mode))
        return adapters[region]

    return adapter


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


def _shown(config: Config) -> str:
    try:
        return config.path.relative_to(Path.cwd()).as_posix()
    except ValueError:
        return str(config.path)


def _say(message: str) -> None:
    print(f"layer-ci: {message}", file=sys.stderr, flush=True)
