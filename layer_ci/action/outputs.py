"""What an Action job leaves on the runner besides its summary: the step's outputs and the annotations."""

from __future__ import annotations

import contextlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from layer_ci.errors import ConfigError
from layer_ci.flows.outcome import PushOutcome
from layer_ci.model import IGNORED_BY_CONFIG
from layer_ci.plan.changes import Plan
from layer_ci.report.workflow_commands import Runner

_LOCATED = re.compile(r"^(?P<path>[^:\s][^:]*):(?P<line>\d+): (?P<message>.*)$")


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

    def from_plan(self, plan: Plan) -> None:
        self.changed_layers = [change.layer for change in plan.changed]
        self.matrix = plan.to_matrix()

    def from_push(self, outcome: PushOutcome) -> None:
        """The outputs of a push or release run, from what it did (also when it failed part way)."""
        self.from_plan(outcome.plan)
        self.changed_layers = list(outcome.targets)
        self.published = outcome.published_arns()
        self.pull_requests = [
            {
                "number": pr.number,
                "url": pr.url,
                "branch": pr.branch,
                "layers": list(pr.layers),
                "outcome": pr.outcome,
            }
            for pr in outcome.pull_requests
        ]
        self.tests_passed = outcome.tests_passed


def annotate_push(runner: Runner, outcome: PushOutcome, config_root: Path, workspace: Path) -> None:
    """Failed consumers as errors; skipped bump branches and pins kept back as warnings."""
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
            file=_workspace_path(workspace, config_root / held.path),
            line=held.line,
            title="layer-ci: pin kept back",
        )


def annotate_line(runner: Runner, message: str, *, warning: bool = False) -> None:
    """An ``::error``/``::warning`` with file and line when the message starts with ``path:line: ``."""
    match = _LOCATED.match(message)
    emit = runner.warning if warning else runner.error
    if match:
        emit(match["message"], file=match["path"], line=int(match["line"]), title="layer-ci")
    else:
        emit(message, title="layer-ci")


def annotate_config_error(runner: Runner, exc: ConfigError, workspace: Path) -> None:
    """A config error on its file and line, the file relative to the workspace as annotations want it."""
    path = Path(exc.location.path)
    if path.is_absolute():
        with contextlib.suppress(ValueError):
            path = path.relative_to(workspace)
    message = f"{exc.field}: {exc.problem}; {exc.fix}"
    runner.error(message, file=path.as_posix(), line=exc.location.line, title="layer-ci: config error")


def _workspace_path(workspace: Path, path: Path) -> str:
    """``path`` as annotations want it: relative to the workspace (the repository root)."""
    with contextlib.suppress(ValueError):
        return path.resolve().relative_to(workspace.resolve()).as_posix()
    return path.as_posix()
