"""The pull request flow behind `layer-ci verify` and the Action: verify the change, status, sticky comment.

Nothing is ever published here. The ``layer-ci/verify`` status goes on the pull request's head commit
(not the merge commit a checkout holds), where branch protection can require it by that stable name, also
when nothing needed checking; the comment is written only when there was something to verify.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from layer_ci.errors import LayerCiError, UsageError
from layer_ci.flows.services import Services
from layer_ci.model import Config

if TYPE_CHECKING:
    from layer_ci.adapters.git import GitRepo
    from layer_ci.report.facts import VerifyReport

COMMENT_MARKER = "verify"


@dataclass(frozen=True)
class PullRequest:
    """The change to verify: from its base (see ``resolve_base``) to ``head``, which is checked out.

    ``base`` is the revision asked for (None: from ``event``, the GitHub event payload, or ``base_ref``,
    the base branch); ``number`` the pull request to comment on (None: no comment); ``head_sha`` the
    commit the status goes on (None: the verified head).
    """

    base: str | None = None
    event: Mapping[str, Any] = field(default_factory=dict)
    base_ref: str | None = None
    head: str = "HEAD"
    number: int | None = None
    head_sha: str | None = None
    run_url: str | None = None
    cache_dir: Path | None = None


@dataclass(frozen=True)
class VerifyOutcome:
    """The findings, the comment's Markdown, and where the status and the comment went (when they did)."""

    report: VerifyReport
    body: str
    status: str | None = None  # "success" or "failure", when set
    comment_url: str | None = None


def verify_pull_request(config: Config, services: Services, request: PullRequest) -> VerifyOutcome:
    """Check and test what the change does to pins and layer sources; report it on GitHub when given."""
    from layer_ci.bump.pull_requests import repository_of
    from layer_ci.engine.prepare import EngineOptions
    from layer_ci.gate.consumers import engine_runner
    from layer_ci.gate.verify import VERIFY_CONTEXT, verify_change, verify_status
    from layer_ci.plan.lockfile import load_lock
    from layer_ci.report.render import verify_comment

    if services.git is None or services.registry_factory is None:
        raise UsageError("verifying a pull request needs git and read access to the layer registry")
    _toplevel, prefix = repository_of(config.root)
    base = resolve_base(services.git, request.base, request.event, request.base_ref)
    with services.phase("verify pull request"):
        report = verify_change(
            config,
            git=services.git,
            base=base,
            head=request.head,
            lock=load_lock(config.root),
            registry_factory=services.registry_factory,
            test_runner=engine_runner(EngineOptions(cache_dir=request.cache_dir)),
            repo_prefix=prefix,
            run_url=request.run_url,
            log=services.log,
        )
    body = verify_comment(report)
    github = services.github
    if github is None:
        return VerifyOutcome(report, body)
    state, description = verify_status(report)
    sha = request.head_sha or report.head
    github.set_status(sha, VERIFY_CONTEXT, state, description, request.run_url)
    services.log(f"status {VERIFY_CONTEXT}={state} on {sha[:12]}")
    if not report.relevant or request.number is None:
        return VerifyOutcome(report, body, state)
    with services.phase("sticky comment"):
        comment, outcome = github.upsert_sticky_comment(request.number, COMMENT_MARKER, body)
        services.log(f"comment {outcome} on pull request #{request.number}: {comment.html_url}")
    return VerifyOutcome(report, body, state, comment.html_url)


def resolve_base(git: GitRepo, explicit: str | None, event: Mapping[str, Any], base_ref: str | None) -> str:
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
        if base_ref:
            candidates.append(f"{git.remote}/{base_ref}")
        candidates.append("main")
    for candidate in candidates:
        if git.resolve(candidate) is not None:
            return candidate
    branch = explicit or base_ref or "main"
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
