"""`layer-ci verify`: check a pull request's moved pins and changed layer sources; one sticky comment."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from layer_ci.errors import EXIT_FAILURE, EXIT_OK, LayerCiError, UsageError

if TYPE_CHECKING:
    from layer_ci.adapters.git import GitRepo
    from layer_ci.report.facts import VerifyReport

HELP = (
    "check a change's moved pins (version exists, compatible, within limits) and changed layer sources, "
    "run the affected functions' tests, and report in one sticky pull request comment (or on stdout)"
)
COMMENT_MARKER = "verify"


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
    from layer_ci.bump.pull_requests import repository_of
    from layer_ci.engine.extract import default_cache_dir
    from layer_ci.engine.prepare import EngineOptions
    from layer_ci.gate.consumers import actions_run_url, engine_runner
    from layer_ci.gate.verify import verify_change
    from layer_ci.plan.config_cache import load_config_cached
    from layer_ci.plan.lockfile import load_lock
    from layer_ci.publish.registries import registry_factory
    from layer_ci.report.render import verify_comment

    config = load_config_cached(Path(args.config) if args.config else None)
    toplevel, prefix = repository_of(config.root)
    git = GitRepo(toplevel, remote=args.remote, token=os.environ.get("GITHUB_TOKEN") or None)
    event = _event(os.environ)
    base = resolve_base(git, args.base, event, os.environ)
    number = args.pr if args.pr is not None else _event_pr(event)
    cache_dir = Path(args.cache_dir).resolve() if args.cache_dir else default_cache_dir()

    report = verify_change(
        config,
        git=git,
        base=base,
        head=args.head,
        lock=load_lock(config.root),
        registry_factory=registry_factory(config),
        test_runner=engine_runner(EngineOptions(cache_dir=cache_dir)),
        repo_prefix=prefix,
        run_url=actions_run_url(),
        log=_say,
    )
    head_now = git.resolve("HEAD")
    if head_now is not None and head_now != report.head:
        _say(f"warning: the tests ran on the checkout ({head_now[:12]}), not on --head {args.head}")
    body = verify_comment(report)

    if args.json:
        print(json.dumps(_json(report), indent=2))
    commenting = number is not None and _can_comment(args.pr is not None, quiet=not report.relevant)
    if commenting:
        _set_status(report, _event_head_sha(event) or report.head)
    if not report.relevant:
        _say("nothing to verify: no layer pins or layer sources changed")
        return EXIT_OK
    if commenting and number is not None:
        from layer_ci.adapters.github import GitHubClient

        github = GitHubClient.from_env()
        try:
            comment, outcome = github.upsert_sticky_comment(number, COMMENT_MARKER, body)
        finally:
            github.close()
        _say(f"comment {outcome} on pull request #{number}: {comment.html_url}")
    elif not args.json:
        print(body)
    for problem in report.problems:
        print(f"layer-ci: error: {problem}", file=sys.stderr)
    for result in report.results:
        if not result.passed and result.headline not in report.problems:
            print(
                f"layer-ci: error: function {result.function} {result.status}: {result.headline}",
                file=sys.stderr,
            )
    return EXIT_OK if report.ok else EXIT_FAILURE


def resolve_base(git: GitRepo, explicit: str | None, event: Mapping[str, Any], env: Mapping[str, str]) -> str:
    """The base revision: ``--base``, else the event's base sha, else the base branch, else main.

    A base missing from a shallow checkout is fetched from the remote by branch name.
    """
    candidates: list[str] = []
    if explicit:
        candidates.append(explicit)
    else:
        pull = event.get("pull_request")
        base = pull.get("base") if isinstance(pull, dict) else None
        sha = base.get("sha") if isinstance(base, dict) else None
        if isinstance(sha, str):
            candidates.append(sha)
        if env.get("GITHUB_BASE_REF"):
            candidates.append(f"{git.remote}/{env['GITHUB_BASE_REF']}")
        candidates.append("main")
    for candidate in candidates:
        if git.resolve(candidate) is not None:
            return candidate
    branch = explicit or env.get("GITHUB_BASE_REF") or "main"
    branch = branch.removeprefix(f"{git.remote}/")
    try:
        fetched = git.fetch(branch)
    except LayerCiError:  # not on the remote either: the error below says what to do
        fetched = None
    for candidate in candidates:
        if git.resolve(candidate) is not None:
            return candidate
    if fetched is not None:
        return str(fetched)
    raise UsageError(
        f"base revision {candidates[0]!r} is not in this checkout and could not be fetched; fetch it "
        "(actions/checkout with fetch-depth: 0) or pass --base REF"
    )


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


def _can_comment(asked: bool, *, quiet: bool = False) -> bool:
    """Whether to write the comment: a token and a repository are needed; asked for with --pr they must be."""
    if os.environ.get("GITHUB_TOKEN") and os.environ.get("GITHUB_REPOSITORY"):
        return True
    if asked:
        raise UsageError("--pr needs GITHUB_TOKEN and GITHUB_REPOSITORY to comment; export them or drop --pr")
    if not quiet:
        _say("warning: no GITHUB_TOKEN/GITHUB_REPOSITORY: printing the comment instead of posting it")
    return False


def _event_head_sha(event: Mapping[str, Any]) -> str | None:
    """The pull request's head commit from the event (the checkout holds the merge commit instead)."""
    pull = event.get("pull_request")
    head = pull.get("head") if isinstance(pull, dict) else None
    sha = head.get("sha") if isinstance(head, dict) else None
    return sha if isinstance(sha, str) and sha else None


def _set_status(report: VerifyReport, sha: str) -> None:
    """``layer-ci/verify`` on the pull request's head commit: a stable name branch protection can require."""
    from layer_ci.adapters.github import GitHubClient
    from layer_ci.gate.consumers import actions_run_url
    from layer_ci.gate.verify import VERIFY_CONTEXT, verify_status

    state, description = verify_status(report)
    github = GitHubClient.from_env()
    try:
        github.set_status(sha, VERIFY_CONTEXT, state, description, actions_run_url())
    finally:
        github.close()
    _say(f"status {VERIFY_CONTEXT}={state} on {sha[:12]}")


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


def _say(message: str) -> None:
    print(f"layer-ci: {message}", file=sys.stderr, flush=True)
