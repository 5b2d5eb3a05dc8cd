"""The test-before-upgrade gate: each affected function's tests against new layers, as commit statuses.

PRs opened with the workflow's GITHUB_TOKEN start no workflows, so nothing else would ever test a bump PR:
layer-ci runs the tests itself (through the engine, or any runner passed in) and sets one status per
function plus the aggregate ``layer-ci/test-before-upgrade`` that branch protection can require.
There is no ``pending`` state: the tests have run before the commit exists, so the final statuses follow
the push at once, and a required context that is not set yet already blocks a merge as pending would.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from layer_ci.engine.runner import DEFAULT_TIMEOUT_S, TestResult, error_result
from layer_ci.errors import LayerCiError
from layer_ci.lambda_spec.arn import layer_name_of
from layer_ci.model import Config, FunctionSpec

if TYPE_CHECKING:
    from layer_ci.adapters.github import CombinedStatus, GitHubClient
    from layer_ci.engine.prepare import EngineOptions

AGGREGATE_CONTEXT = "layer-ci/test-before-upgrade"
FUNCTION_CONTEXT_PREFIX = "layer-ci/test/"
MAX_DESCRIPTION_CHARS = 140  # GitHub refuses longer status descriptions

# "ImportError: cannot import name 'x' from 'm' (/tmp/.../m.py)": the path in parentheses is noise.
_TRAILING_PATH = re.compile(r" \((?:/|[A-Za-z]:\\)[^()]*\)$")

StatusState = Literal["error", "failure", "pending", "success"]
# (config, function, {layer name: source}) -> result; a source is what `layer-ci test --layer` takes.
TestRunner = Callable[[Config, FunctionSpec, Mapping[str, str]], TestResult]


@dataclass(frozen=True)
class FunctionCheck:
    """One function's gate outcome and the layer sources it was tested with."""

    function: str
    sources: tuple[tuple[str, str], ...]
    result: TestResult

    @property
    def passed(self) -> bool:
        return self.result.passed


@dataclass(frozen=True)
class GateResult:
    """Every affected function's check, in name order; with none the gate passes (nothing could break)."""

    checks: tuple[FunctionCheck, ...] = ()

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    @property
    def failed(self) -> tuple[str, ...]:
        return tuple(check.function for check in self.checks if not check.passed)

    @property
    def results(self) -> tuple[TestResult, ...]:
        return tuple(check.result for check in self.checks)

    @property
    def contexts(self) -> tuple[str, ...]:
        """Every status context the gate sets: the aggregate first, then one per function."""
        return (AGGREGATE_CONTEXT, *(function_context(check.function) for check in self.checks))


@dataclass(frozen=True)
class StatusReport:
    """A status the gate set (or found already set) on a commit."""

    context: str
    state: StatusState
    description: str
    set_now: bool


def engine_runner(
    options: EngineOptions | None = None, *, timeout_s: float = DEFAULT_TIMEOUT_S
) -> TestRunner:
    """The real runner: the engine lays the layers out as Lambda does and runs the function's tests."""
    from layer_ci.engine.runner import run_function_tests

    def run(config: Config, function: FunctionSpec, sources: Mapping[str, str]) -> TestResult:
        return run_function_tests(config, function, sources, options=options, timeout_s=timeout_s)

    return run


def run_gate(
    config: Config,
    functions: Iterable[str],
    sources: Mapping[str, str],
    runner: TestRunner,
    *,
    skip: Mapping[str, str] | None = None,
) -> GateResult:
    """Run each function's tests with ``sources`` (layer -> zip/version/ARN/local) for the layers it uses.

    ``skip`` names functions that must not run (value: why), reported as errors. A runner that raises a
    LayerCiError (a layer that cannot be fetched, no interpreter) becomes an error result, so one broken
    function never hides the others' results.
    """
    checks = []
    for name in sorted(set(functions)):
        spec = config.function(name)
        used = {layer_name_of(entry) for entry in spec.ordered_layers()}
        own = {layer: source for layer, source in sorted(sources.items()) if layer in used}
        reason = (skip or {}).get(name)
        if reason is not None:
            result = error_result(spec, reason)
        else:
            try:
                result = runner(config, spec, own)
            except LayerCiError as exc:
                result = error_result(spec, exc.one_line())
        checks.append(FunctionCheck(name, tuple(own.items()), result))
    return GateResult(tuple(checks))


# ---------------------------------------------------------------------------------------- statuses


def function_context(function: str) -> str:
    return f"{FUNCTION_CONTEXT_PREFIX}{function}"


def shorten(text: str, limit: int = MAX_DESCRIPTION_CHARS) -> str:
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= limit else one_line[: limit - 1] + "…"


def function_status(result: TestResult) -> tuple[StatusState, str]:
    """The state and the (≤ 140 characters) description of one function's context."""
    if result.passed:
        # No duration here or in the PR body: a rerun that changes nothing must write nothing.
        if result.junit is None:
            return "success", "passed"
        count = result.junit.tests
        return "success", shorten(f"passed ({count} test{'' if count == 1 else 's'})")
    state: StatusState = "failure" if result.status in ("failed", "timeout") else "error"
    return state, shorten(headline_of(result))


def headline_of(result: TestResult) -> str:
    """The failure's headline without the file path Python appends (a runner's temp dir says nothing)."""
    headline = result.headline or f"{result.status}, exit code {result.exit_code}"
    return _TRAILING_PATH.sub("", headline)


def aggregate_status(gate: GateResult, subject: str) -> tuple[StatusState, str]:
    """The aggregate: success only when every function passed; otherwise who failed first and why."""
    total = len(gate.checks)
    if total == 0:
        return "success", shorten(f"no function uses {subject}; nothing to test")
    if gate.passed:
        return "success", shorten(f"all {total} affected functions passed against {subject}")
    first = next(check for check in gate.checks if not check.passed)
    headline = headline_of(first.result)
    return "failure", shorten(f"{len(gate.failed)} of {total} failed: {first.function}: {headline}")


def actions_run_url(env: Mapping[str, str] | None = None) -> str | None:
    """The URL of this workflow run, from GITHUB_SERVER_URL, GITHUB_REPOSITORY and GITHUB_RUN_ID."""
    source = os.environ if env is None else env
    parts = [
        source.get(key, "").strip() for key in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")
    ]
    if not all(parts):
        return None
    server, repository, run_id = parts
    return f"{server.rstrip('/')}/{repository}/actions/runs/{run_id}"


def wanted_statuses(gate: GateResult, subject: str) -> list[tuple[str, StatusState, str]]:
    """(context, state, description) for every function, then the aggregate."""
    wanted: list[tuple[str, StatusState, str]] = []
    for check in gate.checks:
        state, description = function_status(check.result)
        wanted.append((function_context(check.function), state, description))
    state, description = aggregate_status(gate, subject)
    wanted.append((AGGREGATE_CONTEXT, state, description))
    return wanted


def report_statuses(
    github: GitHubClient,
    sha: str,
    gate: GateResult,
    *,
    subject: str,
    target_url: str | None = None,
    current: CombinedStatus | None = None,
) -> tuple[StatusReport, ...]:
    """Set the gate's statuses on commit ``sha``: each function's context, then the aggregate.

    With ``current`` (the statuses already on ``sha``) only contexts whose state or description differ
    are set, so a rerun on an unchanged head costs nothing.
    """
    reports: list[StatusReport] = []
    for context, state, description in wanted_statuses(gate, subject):
        existing = _existing(current, context)
        if existing is not None and existing == (state, description):
            reports.append(StatusReport(context, state, description, set_now=False))
            continue
        github.set_status(sha, context, state, description, target_url)
        reports.append(StatusReport(context, state, description, set_now=True))
    return tuple(reports)


def _existing(current: CombinedStatus | None, context: str) -> tuple[str, str] | None:
    if current is None:
        return None
    for status in current.statuses:
        if status.context == context:
            return status.state, status.description or ""
    return None


def required_contexts(gate: GateResult) -> Sequence[str]:
    """What must be green before an auto-merge: the aggregate and every function's context."""
    return gate.contexts
