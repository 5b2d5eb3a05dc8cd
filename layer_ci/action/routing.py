"""What the Action does for each event: push, pull_request, workflow_dispatch and schedule.

``action(settings, github, git, aws, runner=...)`` receives every client already built, so tests hand it
loopback ones. A fork's pull request never gets an AWS provider (``aws`` is None) and never writes.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from layer_ci.action.context import ActionSettings
from layer_ci.action.summary import lines_section, md, plan_summary, push_summary
from layer_ci.errors import EXIT_FAILURE, EXIT_OK, ConfigError, LayerCiError, UsageError
from layer_ci.flows.outcome import PushOutcome, StageFailed
from layer_ci.flows.push import PushOptions, run_push
from layer_ci.flows.services import RegistryFactory, Services
from layer_ci.fsutil import is_inside
from layer_ci.model import IGNORED_BY_CONFIG, Config
from layer_ci.plan.changes import Plan
from layer_ci.report.workflow_commands import Runner

if TYPE_CHECKING:
    from layer_ci.adapters.git import GitRepo
    from layer_ci.adapters.github import GitHubClient

Route = Literal["push", "plan", "verify", "fork", "release", "schedule", "prune"]
_LOCATED = re.compile(r"^(?P<path>[^:\s][^:]*):(?P<line>\d+): (?P<message>.*)$")


class AwsProvider(Protocol):
    """Opens the layer registries of a config (Lambda per region, or the local folder)."""

    def registry_factory(self, config: Config) -> RegistryFactory: ...


class DefaultAwsProvider:
    """The registries ``settings.registry`` names, clients built on first use per region."""

    def registry_factory(self, config: Config) -> RegistryFactory:
        from layer_ci.publish.registries import registry_factory

        return registry_factory(config)


@dataclass
class Outputs:
    """The Action's outputs; every one is always written, so `fromJSON` in later steps never fails."""

    changed_layers: list[str] = field(default_factory=list)
    published: dict[str, dict[str, str]] = field(default_factory=dict)
    pull_requests: list[dict[str, Any]] = field(default_factory=list)
    matrix: dict[str, Any] = field(default_factory=lambda: {"include": []})
    tests_passed: bool | None = None

    def write(self, runner: Runner) -> None:
        def compact(value: object) -> str:
            return json.dumps(value, separators=(",", ":"))

        runner.set_output("changed-layers", compact(self.changed_layers))
        runner.set_output("published", compact(self.published))
        runner.set_output("pull-requests", compact(self.pull_requests))
        runner.set_output("matrix", compact(self.matrix))
        runner.set_output("tests-passed", "" if self.tests_passed is None else str(self.tests_passed).lower())


def choose_route(settings: ActionSettings) -> Route:
    """The job for this run: the ``command`` input when given, else by event.

    A run that must stay read-only (a fork's pull request, see ``read_only_reason``) never gets a route
    that writes; a manual run off the default branch only plans unless release-any-branch allows it.
    """
    route = _requested_route(settings)
    if settings.read_only_reason is not None and settings.command != "plan":
        # A fork's pull request gets a read-only token and no secrets: whatever `command` asks for, it
        # only plans, with a warning (docs/action.md). Refusing would fail every fork PR of a workflow
        # using `run`; an explicit `command: plan` is a plain plan.
        return "fork"
    if settings.event_name == "workflow_dispatch" and route in ("push", "release"):
        return route if settings.releasable_ref else "plan"
    return route


def _requested_route(settings: ActionSettings) -> Route:
    command = settings.command
    if command == "plan":
        return "plan"
    if command == "run":
        return "push"
    if command == "verify":
        return "verify"
    if command == "audit":
        return "schedule"
    if command == "prune":
        return "prune"
    event = settings.event_name
    if event == "push":
        return "push" if settings.on_default_branch else "plan"
    if event in ("pull_request", "pull_request_target"):
        return "verify"
    if event == "workflow_dispatch":
        return "release"
    if event == "schedule":
        return "schedule"
    return "plan"


def action(
    settings: ActionSettings,
    github: GitHubClient | None,
    git: GitRepo | None,
    aws: AwsProvider | None,
    *,
    runner: Runner,
    load: Callable[[Path], Config] | None = None,
) -> int:
    """Run the job this event calls for; returns the exit code (1 only for real failures, 2 for bad input)."""
    outputs = Outputs()
    try:
        with runner.group("load layer-ci.yml"):
            config = _load(settings, load)
        route = choose_route(settings)
        if route in ("push", "release", "schedule", "prune") and aws is None:
            raise UsageError(f"the {route} job needs AWS access, which this run was not given")
        if route == "plan":
            return _plan_only(settings, config, runner, outputs, notes=_plan_notes(settings))
        if route == "fork":
            reason = settings.read_only_reason or "a fork's pull request"
            note = (
                f"{reason[0].upper()}{reason[1:]}: layer-ci runs read-only here: it publishes nothing, "
                "writes nothing to AWS and posts no comment. The bump and its tests run after the merge."
            )
            runner.warning(note, title="layer-ci: read-only run")
            return _plan_only(settings, config, runner, outputs, notes=[note])
        if route == "verify":
            return _verify(settings, config, github, git, aws, runner, outputs)
        assert aws is not None
        if route == "schedule":
            code = _schedule(settings, config, aws, runner, prune=None)
            if settings.command != "auto":  # `command: audit` stays read-only
                return code
            from layer_ci.action.scheduled_watch import watch_job

            return max(code, watch_job(settings, config, github, git, runner))
        if route == "prune":
            return _schedule(settings, config, aws, runner, prune=True, audit_too=False)
        return _push(settings, config, github, git, aws, runner, outputs, release=route == "release")
    except ConfigError as exc:
        _annotate_config_error(settings, exc, runner)
        return exc.exit_code
    except StageFailed as exc:  # its outputs and summary are written: now the failure, once
        if isinstance(exc.cause, ConfigError):
            _annotate_config_error(settings, exc.cause, runner)
        else:
            runner.error(exc.one_line(), title="layer-ci")
        return exc.exit_code
    except LayerCiError as exc:
        runner.error(exc.one_line(), title="layer-ci")
        return exc.exit_code
    finally:
        outputs.write(runner)


def _load(settings: ActionSettings, load: Callable[[Path], Config] | None) -> Config:
    # Everything the run reads is checked to lie inside the config's folder; that folder must in turn be
    # inside the checkout, by real path (a committed symlink could lead the config itself elsewhere).
    workspace = os.path.realpath(settings.workspace)
    if not is_inside(os.path.realpath(settings.config_path), workspace):
        raise UsageError(
            f"input config: {settings.config_path} lies outside the workspace {workspace} (or leads out of "
            "it through a symlink); give the path of layer-ci.yml inside the repository"
        )
    if load is not None:
        return load(settings.config_path)
    from layer_ci.config.loader import load_config

    return load_config(settings.config_path)


def _annotate_config_error(settings: ActionSettings, exc: ConfigError, runner: Runner) -> None:
    path = Path(exc.location.path)
    if path.is_absolute():
        with contextlib.suppress(ValueError):
            path = path.relative_to(settings.workspace)
    message = f"{exc.field}: {exc.problem}; {exc.fix}"
    runner.error(message, file=path.as_posix(), line=exc.location.line, title="layer-ci: config error")


def _plan_notes(settings: ActionSettings) -> list[str]:
    if settings.event_name == "workflow_dispatch" and not settings.releasable_ref:
        return [
            f"Manual run on {settings.branch or settings.ref}, not the default branch "
            f"{settings.default_branch}: planning only; layers are published from the default branch "
            "(set the input release-any-branch: true to publish from other branches)."
        ]
    if settings.event_name == "push" and not settings.on_default_branch and settings.command == "auto":
        return [
            f"Push to {settings.branch or settings.ref}, not the default branch {settings.default_branch}: "
            "planning only; layers are published from the default branch."
        ]
    return []


def _plan_outputs(plan: Plan, outputs: Outputs) -> None:
    outputs.changed_layers = [change.layer for change in plan.changed]
    outputs.matrix = plan.to_matrix()


def _plan_only(
    settings: ActionSettings, config: Config, runner: Runner, outputs: Outputs, *, notes: Sequence[str]
) -> int:
    from layer_ci.plan.changes import make_plan
    from layer_ci.plan.lockfile import load_lock

    with runner.group("plan"):
        plan = make_plan(config, load_lock(config.root))
        for change in plan.changed:
            print(f"{change.layer}: {change.reason} (used by {', '.join(change.consumers) or 'no function'})")
        if not plan.has_changes:
            print(f"nothing to do: {len(plan.changes)} layer(s) unchanged")
    _plan_outputs(plan, outputs)
    runner.add_summary(plan_summary(_title(settings, "plan"), config, plan, notes))
    return EXIT_OK


def _title(settings: ActionSettings, job: str) -> str:
    where = {
        "push": f"push to {settings.branch or settings.ref}",
        "pull_request": f"pull request #{settings.pr_number}",
        "pull_request_target": f"pull request #{settings.pr_number}",
        "pull_request_review": f"review of pull request #{settings.pr_number}",
        "pull_request_review_comment": f"review comment on pull request #{settings.pr_number}",
        "issue_comment": f"comment on #{settings.pr_number}",
        "workflow_dispatch": "manual release",
        "schedule": "scheduled check",
    }.get(settings.event_name, settings.event_name)
    sha = f" ({settings.sha[:7]})" if settings.sha else ""
    return f"layer-ci {job}: {where}{sha}"


def _services(
    settings: ActionSettings,
    github: GitHubClient | None,
    git: GitRepo | None,
    registry_factory: RegistryFactory | None,
    runner: Runner,
) -> Services:
    return Services(
        registry_factory=registry_factory,
        github=github,
        git=git,
        log=lambda message: print(message, flush=True),
        phase=runner.group,
    )


def _push(
    settings: ActionSettings,
    config: Config,
    github: GitHubClient | None,
    git: GitRepo | None,
    aws: AwsProvider,
    runner: Runner,
    outputs: Outputs,
    *,
    release: bool,
) -> int:
    dry_run = settings.dry_run
    if not dry_run and (github is None or git is None):
        raise UsageError(
            "publishing opens bump pull requests, which needs a GitHub token: pass input github-token "
            "(the default, ${{ github.token }}, is enough), or set dry-run: true"
        )
    if not dry_run and not settings.run_tests:
        raise UsageError(
            "input test: false cannot publish: every bump pull request is gated by the affected functions' "
            "tests; remove test: false, or set dry-run: true to build without testing or publishing"
        )
    mode: Literal["local", "pull-requests"] = (
        "local" if dry_run or github is None or git is None else "pull-requests"
    )
    options = PushOptions(
        dry_run=dry_run,
        run_tests=settings.run_tests,
        layers=settings.layers,
        force=settings.force,
        regions=settings.regions,
        commit=settings.sha or "unknown",
        mode=mode,
        base_branch=settings.default_branch,
        target_url=settings.run_url or None,
    )
    services = _services(settings, github, git, None if dry_run else aws.registry_factory(config), runner)
    job = "release" if release else "push"
    try:
        outcome = run_push(config, services, options)
    except StageFailed as exc:
        # Something was published before the failure: the outputs and the summary must say what.
        note = (
            f"The run failed: {exc.one_line()}. Everything below happened before the failure; rerun the "
            "job to finish (published versions are found and reused, never published twice)."
        )
        _push_outputs(settings, config, exc.outcome, runner, outputs)
        runner.add_summary(push_summary(_title(settings, job), config, replace(exc.outcome, notes=(note,))))
        raise
    _push_outputs(settings, config, outcome, runner, outputs)
    releases: list[str] = []
    if release and settings.release and not dry_run and outcome.published:
        if github is None:
            raise UsageError("input release: true needs a GitHub token (input github-token)")
        with runner.group("tags and releases"):
            releases = _create_releases(settings, config, outcome, github)
    summary = push_summary(_title(settings, job), config, outcome)
    if releases:
        summary += "\n" + lines_section("GitHub releases", releases, "")
    runner.add_summary(summary)
    return outcome.exit_code


def _push_outputs(
    settings: ActionSettings, config: Config, outcome: PushOutcome, runner: Runner, outputs: Outputs
) -> None:
    """The outputs and annotations of a push or release run, from what it did (also when it failed)."""
    _plan_outputs(outcome.plan, outputs)
    outputs.changed_layers = list(outcome.targets)
    outputs.published = outcome.published_arns()
    outputs.pull_requests = [
        {
            "number": pr.number,
            "url": pr.url,
            "branch": pr.branch,
            "layers": list(pr.layers),
            "outcome": pr.outcome,
        }
        for pr in outcome.pull_requests
    ]
    outputs.tests_passed = outcome.tests_passed
    for check in outcome.checks:
        if not check.passed:
            runner.error(
                f"{check.function}: tests {check.status} against {', '.join(check.layers)}"
                + (f": {check.headline}" if check.headline else ""),
                title="layer-ci: test-before-upgrade",
            )
    for pr in outcome.pull_requests:
        if pr.outcome == "skipped" and pr.reason:
            # The versions are published but this PR does not show them: say so, or it looks done.
            runner.warning(f"{pr.branch}: pull request not updated: {pr.reason}", title="layer-ci: bump")
    for held in outcome.held_pins:
        if held.reason.startswith(IGNORED_BY_CONFIG):
            continue  # kept back on purpose: the PR lists it, a warning on every run would be noise
        runner.warning(
            f"{held.layer} stays at v{held.version} in the bump pull request: {held.reason}",
            file=_workspace_path(settings, config.root / held.path),
            line=held.line,
            title="layer-ci: pin kept back",
        )


def _workspace_path(settings: ActionSettings, path: Path) -> str:
    """``path`` as annotations want it: relative to the workspace (the repository root)."""
    with contextlib.suppress(ValueError):
        return path.resolve().relative_to(settings.workspace.resolve()).as_posix()
    return path.as_posix()


def release_notes(layer: str, version: int, outcome: PushOutcome, commit: str) -> str:
    """The body of a layer's GitHub release: its ARNs per region, the zip and the packages it holds."""
    lines = [f"Layer `{layer}` version {version}, published by layer-ci from {commit[:12] or 'unknown'}.", ""]
    lines += ["| Region | Version | ARN |", "|---|---|---|"]
    for published in outcome.published:
        if published.layer == layer:
            lines.append(f"| {md(published.region)} | v{published.version} | {md(published.arn)} |")
    built = next((b for b in outcome.built if b.layer == layer), None)
    if built is not None:
        lines += [
            "",
            f"Zip SHA-256 `{built.zip_sha256}`, {built.zipped_bytes:,} bytes zipped, "
            f"{built.unzipped_bytes:,} bytes unzipped.",
        ]
        packages = _manifest_packages(built.zip_path)
        if packages:
            lines += ["", "Packages:", ""] + [f"- {md(name)} {md(ver)}" for name, ver in packages]
    return "\n".join(lines) + "\n"


def _manifest_packages(zip_path: Path) -> list[tuple[str, str]]:
    from layer_ci.build.manifest import read_manifest

    manifest_path = zip_path.with_name(zip_path.name.removesuffix(".zip") + ".manifest.json")
    try:
        manifest = read_manifest(manifest_path)
    except (OSError, ValueError, LayerCiError):
        return []
    return [(package.name, package.version) for package in manifest.packages]


def _create_releases(
    settings: ActionSettings, config: Config, outcome: PushOutcome, github: GitHubClient
) -> list[str]:
    """A lightweight tag ``layers/<name>/v<N>`` and a release with notes and the zip, per published layer.

    N is the version in the layer's first region (the one its pins usually name); both steps find what
    an earlier run created, so rerunning a release is harmless.
    """
    made = []
    built = {b.layer: b for b in outcome.built}
    for layer, regions in outcome.targets.items():
        first = next(
            (p for region in regions for p in outcome.published if p.layer == layer and p.region == region),
            None,
        )
        if first is None:
            continue
        tag = f"layers/{layer}/v{first.version}"
        tag_outcome = github.create_tag_ref(tag, settings.sha)
        notes = release_notes(layer, first.version, outcome, settings.sha)
        assets: list[Path] = []
        with tempfile.TemporaryDirectory(prefix="layer-ci-release-") as tmp:
            source = built.get(layer)
            if source is not None and source.zip_path.is_file():
                asset = Path(tmp) / f"{layer}-v{first.version}.zip"
                shutil.copyfile(source.zip_path, asset)
                assets.append(asset)
            info = github.create_release(
                tag, f"{layer} v{first.version}", notes, asset_paths=assets, target_commitish=settings.sha
            )
        verb = "created" if info.created else "found"
        print(f"{tag}: tag {tag_outcome}, release {verb} ({info.html_url})", flush=True)
        made.append(f"{tag}: release {verb}, assets: {', '.join(info.assets) or 'none'}")
    return made


def _verify(
    settings: ActionSettings,
    config: Config,
    github: GitHubClient | None,
    git: GitRepo | None,
    aws: AwsProvider | None,
    runner: Runner,
    outputs: Outputs,
) -> int:
    """`layer-ci verify` on the pull request with its sticky comment; nothing is ever published here.

    The one place the Action calls the verify module.
    """
    from layer_ci.bump.pull_requests import repository_of
    from layer_ci.commands.verify_command import COMMENT_MARKER, resolve_base
    from layer_ci.engine.prepare import EngineOptions
    from layer_ci.gate.consumers import engine_runner
    from layer_ci.gate.verify import VERIFY_CONTEXT, verify_change, verify_status
    from layer_ci.plan.changes import make_plan
    from layer_ci.plan.lockfile import load_lock
    from layer_ci.report.render import verify_comment

    number = settings.pr_number
    if number is None:
        raise UsageError("the pull_request event payload carries no pull request number")
    if git is None or aws is None:
        raise UsageError("verifying a pull request needs git and read access to the layer registry")
    lock = load_lock(config.root)
    _plan_outputs(make_plan(config, lock), outputs)
    _toplevel, prefix = repository_of(config.root)
    base = resolve_base(git, None, settings.event, {"GITHUB_BASE_REF": settings.pr_base_ref})
    with runner.group("verify pull request"):
        report = verify_change(
            config,
            git=git,
            base=base,
            head="HEAD",
            lock=lock,
            registry_factory=aws.registry_factory(config),
            test_runner=engine_runner(EngineOptions()),
            repo_prefix=prefix,
            run_url=settings.run_url or None,
            log=lambda message: print(message, flush=True),
        )
    title = _title(settings, "verify")
    if github is not None:
        # On the pull request's head commit (not the merge commit the checkout holds), where GitHub shows
        # it and branch protection can require it by this stable name, also when nothing needed checking.
        state, description = verify_status(report)
        github.set_status(settings.pr_head_sha, VERIFY_CONTEXT, state, description, settings.run_url or None)
        print(f"status {VERIFY_CONTEXT}={state} on {settings.pr_head_sha[:12]}", flush=True)
    if not report.relevant:
        runner.add_summary(f"## {md(title)}\n\nNothing to verify: no layer pins or layer sources changed.\n")
        return EXIT_OK
    body = verify_comment(report)
    if report.results:
        outputs.tests_passed = all(result.passed for result in report.results)
    for problem in report.problems:
        _annotate_line(runner, problem)
    for result in report.results:
        if not result.passed:
            runner.error(
                f"function {result.function} {result.status}: {result.headline or 'see the log'}",
                title="layer-ci: verify",
            )
    runner.add_summary(f"## {md(title)}\n\n{body}\n")
    if github is not None:
        with runner.group("sticky comment"):
            comment, outcome = github.upsert_sticky_comment(number, COMMENT_MARKER, body)
            print(f"comment {outcome} on pull request #{number}: {comment.html_url}", flush=True)
    return EXIT_OK if report.ok else EXIT_FAILURE


def _annotate_line(runner: Runner, message: str, *, warning: bool = False) -> None:
    """An ``::error``/``::warning`` with file and line when the message starts with ``path:line: ``."""
    match = _LOCATED.match(message)
    emit = runner.warning if warning else runner.error
    if match:
        emit(match["message"], file=match["path"], line=int(match["line"]), title="layer-ci")
    else:
        emit(message, title="layer-ci")


def _schedule(
    settings: ActionSettings,
    config: Config,
    aws: AwsProvider,
    runner: Runner,
    *,
    prune: bool | None,
    audit_too: bool = True,
) -> int:
    """The scheduled job: audit the pins (deleted versions fail it), and prune when configured."""
    from layer_ci.pins.find import find_pins
    from layer_ci.publish.audit import AuditReport, audit

    factory = aws.registry_factory(config)
    pins = find_pins(config.root, config)
    summary = [f"## {md(_title(settings, 'audit' if audit_too else 'prune'))}", ""]
    report = AuditReport()
    if audit_too:
        with runner.group("audit"):
            report = audit(config, pins, factory)
            for error in report.errors:
                _annotate_line(runner, error)
            for warning in report.warnings:
                _annotate_line(runner, warning, warning=True)
            print(
                f"audit checked {report.pins_checked} pin(s), compared {report.functions_compared} deployed "
                f"function(s): {len(report.errors)} error(s), {len(report.warnings)} warning(s)",
                flush=True,
            )
        summary.append(
            f"Checked {report.pins_checked} pin(s) and {report.functions_compared} deployed function(s)."
        )
        summary.append("")
        summary.append(lines_section("Errors", report.errors, "None: every pinned version exists."))
        summary.append(lines_section("Warnings", report.warnings, "None."))
    should_prune = prune if prune is not None else config.settings.prune_keep is not None
    if should_prune:
        summary.append(_prune(config, factory, pins, runner))
    runner.add_summary("\n".join(summary))
    return EXIT_OK if report.ok else EXIT_FAILURE


def _prune(config: Config, factory: RegistryFactory, pins: Sequence[Any], runner: Runner) -> str:
    from datetime import UTC, datetime

    from layer_ci.plan.lockfile import load_lock
    from layer_ci.publish.prune import DEFAULT_KEEP, apply_prune, plan_prune

    settings = config.settings
    keep = settings.prune_keep if settings.prune_keep is not None else DEFAULT_KEEP
    with runner.group("prune"):
        decisions = plan_prune(
            config,
            factory,
            pins,
            load_lock(config.root),
            keep=keep,
            grace_days=settings.prune_grace_days,
            now=datetime.now(UTC),
        )
        deleted = apply_prune(decisions, factory)
        for decision in deleted:
            print(f"deleted {decision.layer} v{decision.version} in {decision.region}: {decision.reason}")
    items = [f"{d.layer} v{d.version} in {d.region}: {d.reason}" for d in deleted]
    return lines_section(
        f"Pruned (keep {keep}, grace {settings.prune_grace_days} days)",
        items,
        "Nothing was old enough to go.",
    )
