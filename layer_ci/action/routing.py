"""What the Action does for each event: the route (push, plan, verify, fork, release, schedule, prune).

``action(settings, github, git, aws, runner=...)`` receives every client already built, so tests hand it
loopback ones. A fork's pull request never gets an AWS provider (``aws`` is None) and never writes. The
router only decides: each route is a job (action/jobs.py) calling a flow (layer_ci/flows/).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from layer_ci.action import jobs
from layer_ci.action.context import ActionSettings
from layer_ci.action.jobs import AwsProvider
from layer_ci.action.outputs import Outputs, annotate_config_error
from layer_ci.errors import ConfigError, LayerCiError, UsageError
from layer_ci.flows.outcome import StageFailed
from layer_ci.flows.services import RegistryFactory
from layer_ci.fsutil import is_inside
from layer_ci.model import Config
from layer_ci.report.workflow_commands import Runner

if TYPE_CHECKING:
    from layer_ci.adapters.git import GitRepo
    from layer_ci.adapters.github import GitHubClient

Route = Literal["push", "plan", "verify", "fork", "release", "schedule", "prune"]


class DefaultAwsProvider:
    """The registries ``settings.registry`` names, clients built on first use per region."""

    def registry_factory(self, config: Config) -> RegistryFactory:
        from layer_ci.publish.registries import registry_factory

        return registry_factory(config)


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
            return jobs.plan_job(settings, config, runner, outputs, notes=_plan_notes(settings))
        if route == "fork":
            return jobs.fork_job(settings, config, runner, outputs)
        if route == "verify":
            return jobs.verify_job(settings, config, github, git, aws, runner, outputs)
        assert aws is not None
        if route == "schedule":
            code = jobs.schedule_job(settings, config, aws, runner, audit=True, prune=None)
            if settings.command != "auto":  # `command: audit` stays read-only
                return code
            return max(code, jobs.watch_job(settings, config, github, git, runner))
        if route == "prune":
            return jobs.schedule_job(settings, config, aws, runner, audit=False, prune=True)
        return jobs.push_job(settings, config, github, git, aws, runner, outputs, release=route == "release")
    except ConfigError as exc:
        annotate_config_error(runner, exc, settings.workspace)
        return exc.exit_code
    except StageFailed as exc:  # its outputs and summary are written: now the failure, once
        if isinstance(exc.cause, ConfigError):
            annotate_config_error(runner, exc.cause, settings.workspace)
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
