"""`layer-ci verify`: check a pull request's moved pins and changed layer sources; one sticky comment."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from layer_ci.errors import EXIT_FAILURE, EXIT_OK, UsageError

if TYPE_CHECKING:
    from layer_ci.report.facts import VerifyReport

HELP = (
    "check a change's moved pins (version exists, compatible, within limits) and changed layer sources, "
    "run the affected functions' tests, and report in one sticky pull request comment (or on stdout)"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--base",
        default=None,
        metavar="REF",
        help="the revision to compare with (default: the pull request's base from the event, else main)",
    )
    parser.add_argument("--head", default="HEAD", metavar="REF", help="the changed revision (default: HEAD)")
    parser.add_argument(
        "--pr",
        type=int,
        default=None,
        metavar="N",
        help="comment on pull request N (default: the event's pull request); needs GITHUB_TOKEN",
    )
    parser.add_argument("--cache-dir", default=None, metavar="DIR", help="layer-ci cache (zips, builds)")
    parser.add_argument("--remote", default="origin", help="the git remote to fetch the base from")
    parser.add_argument("--json", action="store_true", help="print the findings as JSON instead of Markdown")


def run(args: argparse.Namespace) -> int:
    from layer_ci.adapters.git import GitRepo
    from layer_ci.adapters.github import GitHubClient
    from layer_ci.bump.pull_requests import repository_of
    from layer_ci.engine.extract import default_cache_dir
    from layer_ci.flows.pull_request import PullRequest, verify_pull_request
    from layer_ci.flows.services import Services, stderr_log
    from layer_ci.gate.consumers import actions_run_url
    from layer_ci.plan.config_cache import load_config_cached
    from layer_ci.publish.registries import registry_factory

    config = load_config_cached(Path(args.config) if args.config else None)
    toplevel, _prefix = repository_of(config.root)
    git = GitRepo(toplevel, remote=args.remote, token=os.environ.get("GITHUB_TOKEN") or None)
    event = _event(os.environ)
    number = args.pr if args.pr is not None else _event_pr(event)
    request = PullRequest(
        base=args.base,
        event=event,
        base_ref=os.environ.get("GITHUB_BASE_REF"),
        head=args.head,
        number=number,
        head_sha=_event_head_sha(event),
        run_url=actions_run_url(),
        cache_dir=Path(args.cache_dir).resolve() if args.cache_dir else default_cache_dir(),
    )
    commenting = number is not None and _can_comment(asked=args.pr is not None)
    github = GitHubClient.from_env() if commenting else None
    try:
        services = Services(registry_factory=registry_factory(config), git=git, github=github, log=stderr_log)
        outcome = verify_pull_request(config, services, request)
    finally:
        if github is not None:
            github.close()
    report = outcome.report
    head_now = git.resolve("HEAD")
    if head_now is not None and head_now != report.head:
        stderr_log(f"warning: the tests ran on the checkout ({head_now[:12]}), not on --head {args.head}")

    if args.json:
        print(json.dumps(_json(report), indent=2))
    if not report.relevant:
        stderr_log("nothing to verify: no layer pins or layer sources changed")
        return EXIT_OK
    if number is not None and not commenting:
        stderr_log("warning: no GITHUB_TOKEN/GITHUB_REPOSITORY: printing the comment instead of posting it")
    if not commenting and not args.json:
        print(outcome.body)
    for problem in report.problems:
        print(f"layer-ci: error: {problem}", file=sys.stderr)
    for result in report.results:
        if not result.passed and result.headline not in report.problems:
            print(
                f"layer-ci: error: function {result.function} {result.status}: {result.headline}",
                file=sys.stderr,
            )
    return EXIT_OK if report.ok else EXIT_FAILURE


def _event(env: Mapping[str, str]) -> dict[str, Any]:
    path = env.get("GITHUB_EVENT_PATH")
    if not path:
        return {}
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _event_pr(event: Mapping[str, Any]) -> int | None:
    pull = event.get("pull_request")
    number = pull.get("number") if isinstance(pull, dict) else None
    return number if isinstance(number, int) else None


def _can_comment(*, asked: bool) -> bool:
    """Whether to write the comment: a token and a repository are needed; asked for with --pr they must be."""
    if os.environ.get("GITHUB_TOKEN") and os.environ.get("GITHUB_REPOSITORY"):
        return True
    if asked:
        raise UsageError("--pr needs GITHUB_TOKEN and GITHUB_REPOSITORY to comment; export them or drop --pr")
    return False


def _event_head_sha(event: Mapping[str, Any]) -> str | None:
    """The pull request's head commit from the event (the checkout holds the merge commit instead)."""
    pull = event.get("pull_request")
    head = pull.get("head") if isinstance(pull, dict) else None
    sha = head.get("sha") if isinstance(head, dict) else None
    return sha if isinstance(sha, str) and sha else None


def _json(report: VerifyReport) -> dict[str, Any]:
    return {
        "ok": report.ok,
        "base": report.base,
        "head": report.head,
        "pin_changes": [
            {"where": c.location, "layer": c.layer, "region": c.region, "from": c.old, "to": c.new}
            for c in report.pin_changes
        ],
        "rebuilt_layers": list(report.rebuilt_layers),
        "problems": list(report.problems),
        "results": {r.function: r.status for r in report.results},
        "warnings": list(report.warnings),
    }
