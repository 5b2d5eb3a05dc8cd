"""The bump orchestrator: releases -> gate -> pin edits -> one commit per branch -> leased push -> PR upsert.

Each branch (``layer-ci/<layer>``, or ``layer-ci/layers`` for one PR per push) gets one bot commit on top of
the base branch's tip holding the pin rewrites and ``layer-ci.lock``. The pull request from it is created,
updated in place, left alone when nothing changed, or closed when it has become obsolete, as
peter-evans/create-pull-request does; every outcome is reported, never an error.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from layer_ci.adapters.git import GitRepo, PushRejectedError
from layer_ci.bump.edits import blocked_reasons, plan_pin_edits
from layer_ci.bump.releases import (
    BRANCH_PREFIX,
    PER_PUSH_BRANCH,
    BumpGroup,
    LayerRelease,
    candidate_branches,
    committed_lock,
    group_releases,
    ignore_reason,
    lagging_pins,
    layers_known,
    pending_releases,
    removed_layers,
)
from layer_ci.errors import LayerCiError, ServiceError, UsageError
from layer_ci.gate.consumers import FunctionCheck, GateResult, TestRunner, report_statuses, run_gate
from layer_ci.lambda_spec.arn import layer_name_of
from layer_ci.model import Config, Manifest
from layer_ci.pins.find import find_pins, is_binary, is_source_path
from layer_ci.pins.owners import PinReader, pin_owners
from layer_ci.plan.lockfile import LOCK_FILE_NAME, Lock, load_lock, parse_lock
from layer_ci.publish.registry_contract import LayerRegistry
from layer_ci.report.facts import BumpReport, FunctionSize, KeptPin, LayerBumpReport
from layer_ci.report.render import bump_body, bump_title, commit_message

if TYPE_CHECKING:
    from layer_ci.adapters.github import CombinedStatus, GitHubClient, PullRequestInfo

PrAction = Literal["created", "updated", "unchanged", "closed", "skipped", "dry-run"]
COMMENT_MARKER = "bump"  # the hidden marker of the sticky comment on every bump pull request
_WAS = "Changed since the previous push: was"
Log = Callable[[str], None]
RegistryFactory = Callable[[str], LayerRegistry]


@dataclass(frozen=True)
class BumpOptions:
    """How to bump: onto which base branch, where the config sits in the git repository, dry run or not."""

    base: str = "main"
    repo_prefix: str = ""  # the config's folder inside the git repository ("" = the repository root)
    dry_run: bool = False
    target_url: str | None = None  # linked from every status (the Actions run)
    merge_method: Literal["merge", "squash", "rebase"] = "squash"


@dataclass(frozen=True)
class PrOutcome:
    """What happened to one bump branch and its pull request."""

    branch: str
    layers: tuple[str, ...]
    action: PrAction
    number: int | None = None
    url: str | None = None
    head_sha: str | None = None
    statuses: tuple[tuple[str, str], ...] = ()  # (context, state)
    failed_functions: tuple[str, ...] = ()
    merged: bool = False
    reason: str = ""
    title: str = ""
    body: str = ""
    files: tuple[str, ...] = ()
    api_calls: int = 0
    checks: tuple[FunctionCheck, ...] = ()  # the gate's results, whatever became of the branch
    kept_pins: tuple[KeptPin, ...] = ()  # pins left at their old version, and why
    comment: str = ""  # what became of the sticky comment: created, updated, unchanged ("" none)
    branch_deleted: bool = False

    @property
    def passed(self) -> bool:
        return not self.failed_functions

    def to_json(self) -> dict[str, Any]:
        return {
            "branch": self.branch,
            "layers": list(self.layers),
            "action": self.action,
            "number": self.number,
            "url": self.url,
            "head_sha": self.head_sha,
            "statuses": {context: state for context, state in self.statuses},
            "failed_functions": list(self.failed_functions),
            "merged": self.merged,
            "reason": self.reason,
            "title": self.title,
            "files": list(self.files),
            "api_calls": self.api_calls,
            "comment": self.comment,
            "branch_deleted": self.branch_deleted,
        }


@dataclass(frozen=True)
class BumpOutcome:
    """Every branch's outcome; ``api_calls`` counts all GitHub requests of the run (retries included)."""

    prs: tuple[PrOutcome, ...] = ()
    api_calls: int = 0

    @property
    def tests_failed(self) -> bool:
        return any(not pr.passed for pr in self.prs)

    def to_json(self) -> dict[str, Any]:
        return {"pull_requests": [pr.to_json() for pr in self.prs], "api_calls": self.api_calls}


@dataclass
class _Run:
    """What every branch of one run shares."""

    config: Config
    lock_before: Lock
    lock_after: Lock
    git: GitRepo
    github: GitHubClient | None
    runner: TestRunner
    options: BumpOptions
    base_sha: str
    texts: Mapping[str, str]
    reader: PinReader
    new_zips: Mapping[str, Path]
    manifests_before: Mapping[str, Manifest]
    manifests_after: Mapping[str, Manifest]
    say: Log
    on_outcome: Callable[[PrOutcome], None] | None = None
    outcomes: list[PrOutcome] = field(default_factory=list)
    # head branch -> its open pull request into the base, from one listing per run (None: not listed yet)
    open_prs: dict[str, PullRequestInfo] | None = None
    releases: tuple[LayerRelease, ...] = ()
    # Vendor bumps (layer-ci watch) never touch layer-ci.lock: it records only this repository's layers.
    writes_lock: bool = True

    @property
    def calls(self) -> int:
        return self.github.api_calls if self.github is not None else 0

    def open_pr(self, branch: str) -> PullRequestInfo | None:
        """The open pull request from ``branch``: every bump branch's found by one paginated listing."""
        if self.open_prs is None:
            assert self.github is not None
            listed = self.github.list_open_prs(head_prefix=BRANCH_PREFIX, base=self.options.base)
            self.open_prs = {pr.head_ref: pr for pr in listed}
        return self.open_prs.get(branch)

    def record(self, outcome: PrOutcome) -> None:
        """Keep a branch's outcome, and tell the caller at once (a later branch may still fail)."""
        self.outcomes.append(outcome)
        if self.on_outcome is not None:
            self.on_outcome(outcome)


def bump_layers(
    config: Config,
    lock_before: Lock,
    lock_after: Lock,
    *,
    git: GitRepo,
    github: GitHubClient | None,
    test_runner: TestRunner,
    new_zips: Mapping[str, Path] | None = None,
    manifests_before: Mapping[str, Manifest] | None = None,
    manifests_after: Mapping[str, Manifest] | None = None,
    options: BumpOptions | None = None,
    log: Log | None = None,
    on_outcome: Callable[[PrOutcome], None] | None = None,
    texts: Mapping[str, str] | None = None,
) -> BumpOutcome:
    """Open or update one pull request per pending layer (or per push) moving its pins, gated by tests.

    ``lock_before`` is the lock committed on the base branch, ``lock_after`` the one ``publish`` wrote;
    a layer whose versions differ is released. ``new_zips`` are the released versions' zips the consumers
    are tested against (without one, the version is fetched from the registry by ARN). ``github`` may be
    None only for a dry run, which tests and renders everything but commits, pushes and asks nothing.
    ``on_outcome`` hears of each branch as soon as it is done, so a failure on a later branch (GitHub
    refusing a request) does not hide what the earlier ones did. A layer is pending when released, or
    when pins on the base lag ``lock_after`` (see bump/releases.py). ``texts`` are the base tip's files
    that may hold pins, when the caller has read them already (``texts_at_base``).
    """
    run = _start_run(
        "bump",
        config,
        (lock_before, lock_after),
        git=git,
        github=github,
        test_runner=test_runner,
        options=options or BumpOptions(),
        new_zips=new_zips or {},
        manifests=(manifests_before or {}, manifests_after or {}),
        log=log,
        on_outcome=on_outcome,
        texts=texts,
    )
    start = run.calls
    releases = _pending(config, lock_before, lock_after, run.texts, run.reader, run.say)
    run.releases = releases
    groups = group_releases(releases, config.settings.pr_mode)
    for group in groups:
        run.record(_bump_group(run, group))
    if not run.options.dry_run:
        _retire_stale(run, {group.branch for group in groups})
    return BumpOutcome(tuple(run.outcomes), run.calls - start)


def bump_after_publish(
    config: Config,
    *,
    git: GitRepo,
    github: GitHubClient | None,
    test_runner: TestRunner,
    cache_dir: Path,
    base: str = "main",
    build_dir: Path | None = None,
    registry_factory: RegistryFactory | None = None,
    dry_run: bool = False,
    target_url: str | None = None,
    log: Log | None = None,
    on_outcome: Callable[[PrOutcome], None] | None = None,
) -> BumpOutcome:
    """`layer-ci bump` on a checkout: the base's committed lock against the one `publish` just wrote.

    The released versions' zips and manifests come from ``build_dir`` (where `publish` built them) or
    the registry; the previous versions' manifests from their zips (see bump/artifacts.py).
    """
    from layer_ci.bump.artifacts import collect_artifacts
    from layer_ci.publish.registries import registry_factory as default_factory

    _, prefix = repository_of(config.root)  # git names paths from the top of the work tree
    base_sha = base_tip(git, base)
    lock_before = lock_at_base(git, base_sha, prefix)
    lock_after = load_lock(config.root)
    texts = texts_at_base(config, git, base_sha, prefix)
    releases = _pending(config, lock_before, lock_after, texts, PinReader(config), lambda _message: None)
    superseded = superseded_by_base(config, git, base_sha, prefix, [release.layer for release in releases])
    if superseded:
        # Two pushes in quick succession (no workflow `concurrency` queue): this run's content is no longer
        # what the base holds, and the newer push's run bumps the pins to its own versions. Touching the
        # bump branches here could drag them back to older content.
        (log or (lambda _message: None))(
            f"{base} has moved on to {base_sha[:12]}, a newer push that changes {', '.join(superseded)}; "
            "its run bumps the pins, so this one leaves the pull requests alone"
        )
        return BumpOutcome()
    artifacts = collect_artifacts(
        releases,
        lock_before,
        lock_after,
        build_dir=build_dir or config.root / ".layer-ci" / "build",
        registry_factory=registry_factory or default_factory(config),
        cache_dir=cache_dir,
    )
    for note in artifacts.notes:
        (log or (lambda _message: None))(f"warning: {note}")
    return bump_layers(
        config,
        lock_before,
        lock_after,
        git=git,
        github=github,
        test_runner=test_runner,
        new_zips=artifacts.new_zips,
        manifests_before=artifacts.manifests_before,
        manifests_after=artifacts.manifests_after,
        options=BumpOptions(base=base, repo_prefix=prefix, dry_run=dry_run, target_url=target_url),
        log=log,
        on_outcome=on_outcome,
        texts=texts,
    )


def _start_run(
    command: str,
    config: Config,
    locks: tuple[Lock, Lock] | None,
    *,
    git: GitRepo,
    github: GitHubClient | None,
    test_runner: TestRunner,
    options: BumpOptions,
    new_zips: Mapping[str, Path],
    manifests: tuple[Mapping[str, Manifest], Mapping[str, Manifest]],
    log: Log | None,
    on_outcome: Callable[[PrOutcome], None] | None,
    texts: Mapping[str, str] | None = None,
) -> _Run:
    """What a run's branches share, read once from the base tip (fetched first).

    ``locks`` are the lock before and after publishing; None for a vendor bump, which leaves the base's
    lock as it is (both are the base's). ``texts`` as for :func:`bump_layers`.
    """
    if github is None and not options.dry_run:
        raise UsageError(
            f"{command} needs GitHub (GITHUB_TOKEN and GITHUB_REPOSITORY) unless --dry-run is given"
        )
    base_sha = base_tip(git, options.base)
    writes_lock = locks is not None
    if locks is None:
        lock = lock_at_base(git, base_sha, options.repo_prefix)
        locks = (lock, lock)
    return _Run(
        config=config,
        lock_before=locks[0],
        lock_after=locks[1],
        git=git,
        github=github,
        runner=test_runner,
        options=options,
        base_sha=base_sha,
        texts=texts if texts is not None else texts_at_base(config, git, base_sha, options.repo_prefix),
        reader=PinReader(config),
        new_zips=new_zips,
        manifests_before=manifests[0],
        manifests_after=manifests[1],
        say=log or (lambda _message: None),
        on_outcome=on_outcome,
        writes_lock=writes_lock,
    )


def _pending(
    config: Config, lock_before: Lock, lock_after: Lock, texts: Mapping[str, str], reader: PinReader, say: Log
) -> tuple[LayerRelease, ...]:
    """Released layers plus those whose pins on the base lag ``lock_after`` (and are not ignored)."""
    lagging = lagging_pins(config, lock_after, texts, reader.pins, lambda pins: pin_owners(config, pins))
    for name, pins in sorted(lagging.items()):
        shown = ", ".join(f"{pin.path}:{pin.line} v{pin.version}" for pin in pins)
        say(f"{name}: {len(pins)} pin(s) behind the version layer-ci.lock records, proposed again: {shown}")
    return pending_releases(lock_before, lock_after, config, lagging)


# ------------------------------------------------------------------------------------------- reading


def superseded_by_base(
    config: Config, git: GitRepo, base_sha: str, prefix: str, layers: Sequence[str]
) -> tuple[str, ...]:
    """Layers of ``layers`` whose inputs differ on ``base_sha``, a later commit of the checked-out one.

    Empty when the checkout is the base tip, or not an ancestor of it (a local bump from a branch).
    """
    head = git.resolve("HEAD")
    if not layers or head is None or head == base_sha or not git.is_ancestor(head, base_sha):
        return ()
    changed = git.changed_files(head, base_sha)
    config_file = prefix + config.path.name
    if config_file in changed:
        return tuple(layers)
    root = config.root.resolve()
    found = []
    for name in layers:
        source = config.layer(name).source.resolve()
        try:
            folder = prefix + source.relative_to(root).as_posix() + "/"
        except ValueError:  # a source outside the repository: its history is not git's to judge
            continue
        if any(path.startswith(folder) for path in changed):
            found.append(name)
    return tuple(found)


def repository_of(root: Path) -> tuple[Path, str]:
    """The git work tree holding ``root`` and ``root``'s path inside it (``""`` or ``"sub/dir/"``)."""
    root = root.resolve()
    for folder in (root, *root.parents):
        if (folder / ".git").exists():
            inner = root.relative_to(folder).as_posix()
            return folder, "" if inner == "." else inner + "/"
    raise UsageError(f"{root} is not inside a git repository; bump and verify work on a git checkout")


def base_tip(git: GitRepo, base: str) -> str:
    """The base branch's tip on the remote (fetched), else the local ref of that name."""
    try:
        fetched = git.fetch(base)
    except ServiceError:
        fetched = None  # no remote (a local dry run): the local branch is the base
    sha = fetched or git.resolve(base)
    if sha is None:
        raise UsageError(f"base branch {base!r} exists neither on the remote nor locally; pass --base BRANCH")
    return sha


def lock_at_base(git: GitRepo, base_sha: str, prefix: str) -> Lock:
    """The layer-ci.lock committed on the base tip (empty when the base has none yet)."""
    committed = git.read_file(base_sha, prefix + LOCK_FILE_NAME)
    return parse_lock(committed.decode("utf-8")) if committed is not None else Lock()


def texts_at_base(config: Config, git: GitRepo, base_sha: str, prefix: str) -> dict[str, str]:
    """The text, at the base tip, of every file that may hold pins (root-relative path -> text).

    Candidates are the files holding pins in the checkout plus every file that differs between the
    checkout's HEAD and the base tip, so a base that moved since the checkout is still read exactly.
    """
    candidates = {pin.path for pin in find_pins(config.root, config)}
    head = git.resolve("HEAD")
    if head is not None and head != base_sha:
        for path in git.changed_files(head, base_sha):
            if path.startswith(prefix):
                candidates.add(path[len(prefix) :])
    texts: dict[str, str] = {}
    for path in sorted(candidates):
        if not is_source_path(path):
            continue
        data = git.read_file(base_sha, prefix + path)
        if data is None or is_binary(data):
            continue
        texts[path] = data.decode("utf-8", "surrogateescape")
    return texts


# ------------------------------------------------------------------------------------------ one group


def _subject(releases: tuple[LayerRelease, ...]) -> str:
    parts = []
    for release in releases:
        versions = sorted({region.new for region in release.regions})
        parts.append(f"{release.layer} " + "/".join(f"v{v}" for v in versions))
    return ", ".join(parts)


def _bump_group(run: _Run, group: BumpGroup) -> PrOutcome:
    config, options = run.config, run.options
    start = run.calls
    probe = plan_pin_edits(config, run.texts, group.releases, reader=run.reader)
    if not probe.has_pins:
        reason = f"no pins of {', '.join(group.layers)} remain in the repository"
        retired = _retire(run, group.branch, group.layers, reason)
        return retired or PrOutcome(group.branch, group.layers, "skipped", reason=reason)

    subject = _subject(group.releases)
    # A function settings.ignore keeps on its versions is not tested against them: its verdict moves nothing.
    functions = sorted(
        {
            f.name
            for layer in group.layers
            for f in config.consumers(layer)
            if ignore_reason(config.settings.ignore, layer, (f.name,)) is None
        }
    )
    sources = {
        release.layer: str(run.new_zips[release.layer])
        if release.layer in run.new_zips
        else release.regions[0].arn
        for release in group.releases
    }
    run.say(f"{group.branch}: testing {len(functions)} function(s) against {subject}")
    gate = run_gate(config, functions, sources, run.runner)
    for check in gate.checks:
        run.say(
            f"{group.branch}: {check.function} {check.result.status}"
            + (f": {check.result.headline}" if not check.passed and check.result.headline else "")
        )
    edits = probe
    if gate.failed:
        edits = plan_pin_edits(
            config,
            run.texts,
            group.releases,
            blocked=blocked_reasons(gate.failed, subject),
            reader=run.reader,
        )

    prefix = options.repo_prefix
    lock = committed_lock(config, run.lock_after)
    files = {prefix + path: text.encode("utf-8", "surrogateescape") for path, text in edits.files.items()}
    if run.writes_lock and lock != run.lock_before:
        files[prefix + LOCK_FILE_NAME] = lock.render().encode("utf-8")
    report = BumpReport(
        layers=tuple(
            LayerBumpReport(
                r.layer, r.regions, run.manifests_before.get(r.layer), run.manifests_after.get(r.layer)
            )
            for r in group.releases
        ),
        results=gate.results,
        sizes=function_sizes(
            config, gate, run.manifests_after, manifests_before=run.manifests_before, released=group.layers
        ),
        changed_pins=len(edits.changed),
        changed_files=tuple(sorted(edits.files)),
        kept_pins=edits.kept,
        run_url=options.target_url,
    )
    title, body = bump_title(report), bump_body(report)
    outcome = PrOutcome(
        group.branch,
        group.layers,
        "dry-run",
        title=title,
        body=body,
        files=tuple(sorted(files)),
        failed_functions=gate.failed,
        checks=gate.checks,
        kept_pins=edits.kept,
    )
    if options.dry_run or run.github is None:
        return outcome
    if not files and gate.failed:
        # Only held pins lag, and their functions still fail: nothing can move. An open pull request from
        # an earlier run would move them anyway, so it goes; the run's failed tests report the rest.
        reason = f"every pin left to move is held back: {', '.join(gate.failed)} failed against {subject}"
        retired = _retire(run, group.branch, group.layers, reason)
        return (
            replace(retired, checks=gate.checks, failed_functions=gate.failed, kept_pins=edits.kept)
            if (retired is not None)
            else _done(run, outcome, "skipped", start, reason=reason)
        )
    return _publish_branch(
        run, group, gate, outcome, files, commit_message(report), subject, start, report=report
    )


FOREIGN_COMMITS_MARKER = "layer-ci:foreign-commits"


def _tell_foreign_commits(run: _Run, branch: str, exc: PushRejectedError) -> None:
    """One sticky comment on the branch's pull request: layer-ci stopped because someone else committed."""
    github = run.github
    if github is None:
        return
    detail = exc.one_line().replace("`", "'")
    body = (
        "**layer-ci did not update this branch**: it carries commits layer-ci did not make, and layer-ci "
        "never force-pushes over somebody's work.\n\n"
        f"```text\n{detail}\n```\n\n"
        "Merge the pull request as it is, or close it and delete the branch: the next run then opens a "
        "fresh one.\n\n*— layer-ci*"
    )
    try:
        pr = github.find_open_pr(branch, run.options.base)
        if pr is not None:
            github.upsert_sticky_comment(pr.number, FOREIGN_COMMITS_MARKER, body)
    except LayerCiError as error:  # the refusal stands either way; the comment is a courtesy
        run.say(f"{branch}: could not comment on the pull request: {error.one_line()}")


def _publish_branch(
    run: _Run,
    group: BumpGroup,
    gate: GateResult,
    outcome: PrOutcome,
    files: dict[str, bytes],
    message: str,
    subject: str,
    start: int,
    *,
    report: BumpReport,
) -> PrOutcome:
    git, github, options, settings = run.git, run.github, run.options, run.config.settings
    assert github is not None
    branch = group.branch
    commit = git.commit_files(run.base_sha, files, message)
    if not commit.created:
        return _done(run, outcome, "skipped", start, reason="the base branch already holds these changes")
    remote_tip = git.remote_branch_sha(branch)
    head, pushed = commit.sha, True
    try:
        if remote_tip is not None:
            git.fetch(branch)
            newer_base = _newer_base(git, remote_tip, run.base_sha)
            if newer_base is not None:
                # A run for a later push bumped this branch meanwhile; our older content must not replace it.
                reason = f"the branch already bumps from {newer_base[:12]}, newer than {run.base_sha[:12]}"
                run.say(f"{branch}: not pushed: {reason}")
                return _done(run, outcome, "skipped", start, reason=reason)
            if not git.changed_files(remote_tip, commit.sha) and git.is_ancestor(run.base_sha, remote_tip):
                head, pushed = remote_tip, False  # same content on the same base: leave the branch alone
            else:
                git.push_with_lease(branch, remote_tip, source=commit.sha, protect_foreign_since=run.base_sha)
        else:
            git.push_with_lease(branch, None, source=commit.sha)
    except PushRejectedError as exc:
        run.say(f"{branch}: not pushed: {exc.one_line()}")
        if exc.reason == "foreign-commits":
            _tell_foreign_commits(run, branch, exc)
        return _done(run, outcome, "skipped", start, reason=exc.one_line())
    run.say(f"{branch}: {'pushed' if pushed else 'unchanged at'} {head[:12]}")

    existing = run.open_pr(branch) if remote_tip is not None else None
    pr: PullRequestInfo
    if existing is None:
        pr, action = github.create_or_update_pr(branch, options.base, outcome.title, outcome.body)
    elif (existing.title, existing.body) != (outcome.title, outcome.body):
        pr, action = github.update_pr(existing.number, title=outcome.title, body=outcome.body), "updated"
    else:
        pr, action = existing, ("updated" if pushed else "unchanged")
    run.say(f"{branch}: pull request #{pr.number} {action}")

    current = None if pushed else github.combined_status(head)
    statuses = report_statuses(
        github, head, gate, subject=subject, target_url=options.target_url, current=current
    )
    run.say(
        f"{branch}: statuses set on {head[:12]}: " + ", ".join(f"{s.context}={s.state}" for s in statuses)
    )
    _label(github, pr, settings.labels, settings.failure_label, gate.passed)

    def comment_body(current: str | None) -> str:
        return bump_comment(report, head, run.base_sha, title=outcome.title, current=current)

    _comment, comment = github.upsert_sticky_comment(
        pr.number,
        COMMENT_MARKER,
        comment_body,
        new_pr=action == "created" and existing is None,
        # Bump pull requests are opened by this token: their author is the login its comments carry.
        author=pr.user_login,
    )
    run.say(f"{branch}: sticky comment {comment}")

    merged, reason = False, ""
    if settings.auto_merge and gate.passed and pr.state == "open":
        others = _other_failing_contexts(current, gate)
        if others:
            reason = f"auto-merge not done: not-green ({', '.join(others)})"
        else:
            # Every status on ``head`` is known to be green: one request merges at exactly that commit,
            # and GitHub refuses (405) if branch protection still wants a check, or (409) if it moved.
            result = github.merge_at_sha(pr.number, head, merge_method=options.merge_method)
            merged = result.merged
            if not merged:
                reason = f"auto-merge not done: {result.outcome}" + (
                    f" ({result.message})" if result.message else ""
                )
    elif settings.auto_merge and not gate.passed:
        reason = "not auto-merged: tests failed"
    deleted = False
    if merged:
        run.say(f"{branch}: pull request #{pr.number} merged")
        deleted = _delete_branch(run, branch, head)
    return _done(
        run,
        outcome,
        action,
        start,
        number=pr.number,
        url=pr.html_url,
        head_sha=head,
        statuses=tuple((s.context, s.state) for s in statuses),
        merged=merged,
        reason=reason,
        comment=comment,
        branch_deleted=deleted,
    )


def _delete_branch(run: _Run, branch: str, tip: str) -> bool:
    """Delete a bump branch whose pull request is merged or closed (git, no API call); False if refused.

    GitHub keeps merged branches unless the repository deletes them itself; a leftover bump branch costs
    every later run a look. A branch carrying commits by people is theirs and stays.
    """
    try:
        if run.git.remote_foreign_commits(branch, run.base_sha):
            run.say(f"{branch}: kept: it carries commits by people")
            return False
        run.git.delete_remote_branch(branch, tip)
    except (PushRejectedError, LayerCiError) as exc:
        run.say(f"{branch}: not deleted: {exc.one_line()}")
        return False
    run.say(f"{branch}: branch deleted")
    return True


def bump_comment(report: BumpReport, head: str, base: str, *, title: str, current: str | None) -> str:
    """The sticky comment: what the branch's commit bumps (versions, packages) and the latest tests.

    Rendered from the same report as the body, without timings. ``current`` is the comment as it stands
    (None: not written yet): when its title differs, the new one says what it was before; when the title
    is the same, that note is carried over, so a rerun that changes nothing edits nothing.
    """
    heading = f"## layer-ci: {title}"
    previous_note = ""
    if current is not None:
        lines = current.splitlines()
        old_title = lines[0].removeprefix("## layer-ci: ") if lines and lines[0].startswith("## ") else ""
        if old_title and old_title != title:
            previous_note = f"{_WAS} *{old_title}*."
        else:
            previous_note = next((line for line in lines if line.startswith(_WAS)), "")
    parts = [heading, "", f"Latest run: head `{head[:12]}` on base `{base[:12]}`."]
    if previous_note:
        parts.append(previous_note)
    body = bump_body(report)
    # The body's sections after its one-line verdict: versions, packages, sizes, tests, pins.
    sections = body.split("\n\n", 1)[1] if "\n\n" in body else body
    return "\n".join(parts) + "\n\n" + sections


def _other_failing_contexts(current: CombinedStatus | None, gate: GateResult) -> tuple[str, ...]:
    """Contexts someone else set on the head that are not green (None: a new commit carries none)."""
    if current is None:
        return ()
    ours = set(gate.contexts)
    return tuple(
        status.context
        for status in current.statuses
        if status.context not in ours and status.state != "success"
    )


def _newer_base(git: GitRepo, remote_tip: str, base_sha: str) -> str | None:
    """The base the remote bot branch was built on, when that is a later commit than ``base_sha``.

    A bot branch is one commit on top of the base branch's tip at the time; a parent that descends from
    our base means a run for a newer push got there first.
    """
    parent = git.resolve(f"{remote_tip}^")
    if parent is None or parent == base_sha or not git.is_ancestor(base_sha, parent):
        return None
    return parent


def _label(
    github: GitHubClient, pr: PullRequestInfo, labels: tuple[str, ...], failure: str, passed: bool
) -> None:
    have = {label.lower() for label in pr.labels}
    wanted = [*labels, *([] if passed else [failure])]
    missing = [label for label in dict.fromkeys(wanted) if label.lower() not in have]
    if missing:
        github.add_labels(pr.number, missing)
    if passed and failure.lower() in have:
        github.remove_label(pr.number, failure)


def _done(run: _Run, outcome: PrOutcome, action: PrAction, start: int, **changes: Any) -> PrOutcome:
    return replace(outcome, action=action, api_calls=run.calls - start, **changes)


def function_sizes(
    config: Config,
    gate: GateResult,
    manifests_after: Mapping[str, Manifest],
    *,
    manifests_before: Mapping[str, Manifest] | None = None,
    released: Collection[str] | None = None,
) -> tuple[FunctionSize, ...]:
    """Each tested function's code plus every layer it uses, at the size it will deploy with.

    A released layer (``released``, by default every layer in ``manifests_after``) counts at its new size
    for a function that passed, and at its old size for one that failed: that function's pins stay at the
    old version. Other layers count as the tests measured them; a size nobody knows is listed unmeasured.
    """
    from layer_ci.engine.preflight import function_code_bytes

    before = manifests_before or {}
    moving = set(manifests_after if released is None else released)
    sizes = []
    for check in gate.checks:
        spec = config.function(check.function)
        measured = {layer.name: layer.unzipped_bytes for layer in check.result.layers}
        total = function_code_bytes(spec.source) if spec.source.is_dir() else 0
        unmeasured = []
        for entry in spec.ordered_layers():
            name = layer_name_of(entry)
            if name in moving:
                deployed = manifests_after.get(name) if check.passed else before.get(name)
                size = deployed.unzipped_bytes if deployed is not None else None
                if size is None and check.passed:
                    size = measured.get(name)  # the new version is what the tests ran against
            else:
                size = measured.get(name)
            if size is None:
                unmeasured.append(name)
            else:
                total += size
        sizes.append(FunctionSize(spec.name, total, tuple(unmeasured)))
    return tuple(sizes)


# ------------------------------------------------------------------------------------ obsolete branches


def _retire_stale(run: _Run, active: set[str]) -> None:
    config = run.config
    removed = set(removed_layers(config, run.lock_before, run.lock_after))
    per_push = config.settings.pr_mode == "per-push"
    for branch in candidate_branches(layers_known(config, run.lock_before, run.lock_after)):
        if branch in active:
            continue
        layer = branch.removeprefix("layer-ci/")
        if branch == PER_PUSH_BRANCH and not per_push and layer not in {lay.name for lay in config.layers}:
            reason = "pull requests are now opened per layer (settings.pull_requests: per-layer)"
        elif layer in removed:
            reason = f"layer {layer} was removed from {config.path.name}"
        elif per_push and branch in {f"layer-ci/{n}" for n in _per_push_layers(run)}:
            reason = f"{layer} is now bumped in the pull request from {PER_PUSH_BRANCH}"
        else:
            reason = (
                "nothing left to bump: every pin names the version layer-ci.lock records (the layer is back "
                "to content already published and pinned, or somebody bumped by hand)"
            )
        outcome = _retire(run, branch, (layer,) if branch != PER_PUSH_BRANCH else (), reason)
        if outcome is not None:
            run.record(outcome)


def _per_push_layers(run: _Run) -> tuple[str, ...]:
    return tuple(r.layer for r in run.releases)


def _retire(run: _Run, branch: str, layers: tuple[str, ...], reason: str) -> PrOutcome | None:
    """Close the open pull request from ``branch`` (with ``reason``) and delete the branch.

    None when there is neither a remote branch nor an open pull request from it.
    """
    start = run.calls
    git, github = run.git, run.github
    try:
        tip = git.remote_branch_sha(branch)
    except LayerCiError:
        tip = None
    if tip is None:
        return None
    if run.options.dry_run or github is None:
        return PrOutcome(
            branch, layers, "dry-run", reason=f"would close the pull request from {branch}: {reason}"
        )
    pr = run.open_pr(branch)
    if pr is None:
        # Left behind by a pull request that was merged or closed (GitHub keeps such branches): delete it,
        # so later runs need not look at it again. Only the log tells: there is no pull request to report.
        run.say(f"{branch}: no open pull request (merged or closed)")
        _delete_branch(run, branch, tip)
        return None
    foreign = git.remote_foreign_commits(branch, run.base_sha)
    if foreign:
        note = f"{reason}, but the branch carries commits by people ({foreign[0]}); left open"
        return PrOutcome(
            branch, layers, "skipped", pr.number, pr.html_url, reason=note, api_calls=run.calls - start
        )
    github.close_pr(pr.number, comment=f"Closing this pull request: {reason}.\n\n*— layer-ci*")
    deleted = True
    try:
        git.delete_remote_branch(branch, tip)
    except PushRejectedError as exc:
        deleted = False
        run.say(f"{branch}: closed, but the branch was not deleted: {exc.one_line()}")
    run.say(f"{branch}: closed pull request #{pr.number}: {reason}")
    return PrOutcome(
        branch,
        layers,
        "closed",
        pr.number,
        pr.html_url,
        head_sha=tip,
        reason=reason,
        api_calls=run.calls - start,
        branch_deleted=deleted,
    )


def bump_vendor_groups(
    config: Config,
    groups: Sequence[BumpGroup],
    *,
    git: GitRepo,
    github: GitHubClient | None,
    test_runner: TestRunner,
    new_zips: Mapping[str, Path],
    options: BumpOptions | None = None,
    log: Log | None = None,
    on_outcome: Callable[[PrOutcome], None] | None = None,
) -> BumpOutcome:
    """The gated pull requests of `layer-ci watch`: layers another account publishes (vendor layers).

    Each group goes through the same steps as a released layer (tests against ``new_zips``, failing
    functions keep their pins, one commit, leased push, PR upsert), but the base's ``layer-ci.lock`` is
    left as it is and no other bump branch is looked at. ``config`` lists each vendor layer
    among its layers, and its consumers among the layer's consumers (see layer_ci/vendor/watch.py).
    """
    run = _start_run(
        "watch",
        config,
        None,
        git=git,
        github=github,
        test_runner=test_runner,
        options=options or BumpOptions(),
        new_zips=new_zips,
        manifests=({}, {}),
        log=log,
        on_outcome=on_outcome,
    )
    start = run.calls
    for group in groups:
        run.record(_bump_group(run, group))
    return BumpOutcome(tuple(run.outcomes), run.calls - start)
