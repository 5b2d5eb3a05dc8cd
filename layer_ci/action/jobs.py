"""The Action's jobs: each route's flow called with the run's inputs, then its outputs, annotations, summary.

The flows (layer_ci/flows/) do the work; a job only turns the Action's settings into the flow's options
and what the flow gives back into what the runner shows.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Protocol

from layer_ci.action.context import ActionSettings
from layer_ci.action.outputs import Outputs, annotate_line, annotate_push
from layer_ci.action.summary import lines_section, md, plan_summary, push_summary, title
from layer_ci.errors import EXIT_FAILURE, EXIT_OK, UsageError
from layer_ci.flows.outcome import Mode, StageFailed
from layer_ci.flows.services import RegistryFactory, Services
from layer_ci.model import Config
from layer_ci.report.workflow_commands import Runner

if TYPE_CHECKING:
    from collections.abc import Sequence

    from layer_ci.adapters.git import GitRepo
    from layer_ci.adapters.github import GitHubClient


class AwsProvider(Protocol):
    """Opens the layer registries of a config (Lambda per region, or the local folder)."""

    def registry_factory(self, config: Config) -> RegistryFactory: ...


def _services(
    runner: Runner,
    registry_factory: RegistryFactory | None = None,
    github: GitHubClient | None = None,
    git: GitRepo | None = None,
) -> Services:
    return Services(
        registry_factory=registry_factory,
        github=github,
        git=git,
        log=lambda message: print(message, flush=True),
        phase=runner.group,
    )


def plan_job(
    settings: ActionSettings, config: Config, runner: Runner, outputs: Outputs, *, notes: Sequence[str]
) -> int:
    """Plan only: what would change, as outputs (the matrix) and a summary; nothing is built."""
    from layer_ci.flows.push import plan_push

    plan = plan_push(config, _services(runner))
    outputs.from_plan(plan)
    runner.add_summary(plan_summary(title(settings, "plan"), config, plan, notes))
    return EXIT_OK


def fork_job(settings: ActionSettings, config: Config, runner: Runner, outputs: Outputs) -> int:
    """A run that must stay read-only plans, and says why it does nothing more."""
    reason = settings.read_only_reason or "a fork's pull request"
    note = (
        f"{reason[0].upper()}{reason[1:]}: layer-ci runs read-only here: it publishes nothing, "
        "writes nothing to AWS and posts no comment. The bump and its tests run after the merge."
    )
    runner.warning(note, title="layer-ci: read-only run")
    return plan_job(settings, config, runner, outputs, notes=[note])


def push_job(
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
    """The push flow (with tags and releases on a manual release); a failure still reports what it did."""
    from layer_ci.flows.dispatch import run_release
    from layer_ci.flows.push import PushOptions, run_push

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
    mode: Mode = "local" if dry_run or github is None or git is None else "pull-requests"
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
    services = _services(runner, None if dry_run else aws.registry_factory(config), github, git)
    heading = title(settings, "release" if release else "push")
    releases: tuple[str, ...] = ()
    try:
        if release:
            released = run_release(config, services, options, releases=settings.release)
            outcome, releases = released.push, released.releases
        else:
            outcome = run_push(config, services, options)
    except StageFailed as exc:
        # Something was published before the failure: the outputs and the summary must say what.
        note = (
            f"The run failed: {exc.one_line()}. Everything below happened before the failure; rerun the "
            "job to finish (published versions are found and reused, never published twice)."
        )
        outputs.from_push(exc.outcome)
        annotate_push(runner, exc.outcome, config.root, settings.workspace)
        runner.add_summary(push_summary(heading, config, replace(exc.outcome, notes=(note,))))
        raise
    outputs.from_push(outcome)
    annotate_push(runner, outcome, config.root, settings.workspace)
    summary = push_summary(heading, config, outcome)
    if releases:
        summary += "\n" + lines_section("GitHub releases", releases, "")
    runner.add_summary(summary)
    return outcome.exit_code


def verify_job(
    settings: ActionSettings,
    config: Config,
    github: GitHubClient | None,
    git: GitRepo | None,
    aws: AwsProvider | None,
    runner: Runner,
    outputs: Outputs,
) -> int:
    """The pull request flow on this pull request; its findings as annotations and the job summary."""
    from layer_ci.flows.pull_request import PullRequest, verify_pull_request
    from layer_ci.plan.changes import make_plan
    from layer_ci.plan.lockfile import load_lock

    number = settings.pr_number
    if number is None:
        raise UsageError("the pull_request event payload carries no pull request number")
    outputs.from_plan(make_plan(config, load_lock(config.root)))
    request = PullRequest(
        event=settings.event,
        base_ref=settings.pr_base_ref,
        number=number,
        head_sha=settings.pr_head_sha,
        run_url=settings.run_url or None,
    )
    registries = aws.registry_factory(config) if aws is not None else None
    outcome = verify_pull_request(config, _services(runner, registries, github, git), request)
    report = outcome.report
    heading = title(settings, "verify")
    if not report.relevant:
        nothing = "Nothing to verify: no layer pins or layer sources changed."
        runner.add_summary(f"## {md(heading)}\n\n{nothing}\n")
        return EXIT_OK
    if report.results:
        outputs.tests_passed = all(result.passed for result in report.results)
    for problem in report.problems:
        annotate_line(runner, problem)
    for result in report.results:
        if not result.passed:
            runner.error(
                f"function {result.function} {result.status}: {result.headline or 'see the log'}",
                title="layer-ci: verify",
            )
    runner.add_summary(f"## {md(heading)}\n\n{outcome.body}\n")
    return EXIT_OK if report.ok else EXIT_FAILURE


def schedule_job(
    settings: ActionSettings,
    config: Config,
    aws: AwsProvider,
    runner: Runner,
    *,
    audit: bool,
    prune: bool | None,
) -> int:
    """The scheduled check: audit the pins (a deleted version fails it) and prune when configured."""
    from layer_ci.action.summary import schedule_summary
    from layer_ci.flows.schedule import run_schedule

    outcome = run_schedule(config, _services(runner, aws.registry_factory(config)), audit=audit, prune=prune)
    if outcome.audit is not None:
        for error in outcome.audit.errors:
            annotate_line(runner, error)
        for warning in outcome.audit.warnings:
            annotate_line(runner, warning, warning=True)
    runner.add_summary(schedule_summary(title(settings, "audit" if audit else "prune"), outcome))
    return EXIT_OK if outcome.ok else EXIT_FAILURE


def watch_job(
    settings: ActionSettings, config: Config, github: GitHubClient | None, git: GitRepo | None, runner: Runner
) -> int:
    """Open or update the vendor layers' bump PRs; 1 when a lookup failed or a consumer's tests did."""
    from layer_ci.action.summary import watch_summary
    from layer_ci.flows.schedule import watch_vendor

    if not settings.dry_run and (github is None or git is None):
        runner.warning(
            "vendor layers not watched: bump pull requests need input github-token (contents, "
            "pull-requests and statuses: write); see docs/vendor-layers.md",
            title="layer-ci watch",
        )
        return EXIT_OK
    with runner.group("watch vendor layers"):
        result = watch_vendor(
            config,
            git=git,
            github=github,
            base=settings.default_branch,
            dry_run=settings.dry_run,
            target_url=settings.run_url or None,
            log=lambda message: print(message, flush=True),
        )
    for error in result.errors:
        runner.error(error, title="layer-ci watch")
    runner.add_summary(watch_summary(result))
    return EXIT_FAILURE if result.errors or result.tests_failed else EXIT_OK
