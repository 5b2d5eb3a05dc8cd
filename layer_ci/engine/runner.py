"""Run a function's test command against its layers: scrubbed env, timeout, structured result, JUnit."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
import xml.etree.ElementTree as ElementTree
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal

from layer_ci.adapters import sandbox
from layer_ci.engine.assemble import LayerConflictError
from layer_ci.engine.custom_runtime import default_test_command as custom_runtime_test_command
from layer_ci.engine.custom_runtime import is_custom_runtime
from layer_ci.engine.custom_runtime import runtime_api_for_tests as runtime_api
from layer_ci.engine.extract import UnsafeZipError
from layer_ci.engine.prepare import (
    EngineOptions,
    PreparedFunction,
    ProcessSetup,
    function_process,
    lookup_function,
    prepare_function,
)
from layer_ci.errors import UsageError
from layer_ci.model import Config, FunctionSpec

Status = Literal["passed", "failed", "error", "timeout"]
TAIL_LINES = 60
DEFAULT_TIMEOUT_S = 600.0
_KILL_GRACE_S = 5.0
_MAX_LINE = 2000
_MAX_JUNIT_BYTES = 2_000_000
_MAX_FAILED_NAMED = 20
# pytest's exit codes: 1 = some tests failed, 2 = interrupted (collection errors land here),
# 3 = internal error, 4 = usage error, 5 = no tests collected.
_PYTEST_FAILED, _PYTEST_INTERRUPTED, _PYTEST_NO_TESTS = 1, 2, 5

_IMPORT_LINE = re.compile(r"\b((?:ModuleNotFoundError|ImportError): .+)")
_NODE_MISSING = re.compile(r"((?:Error(?: \[ERR_MODULE_NOT_FOUND\])?: )?Cannot find (?:module|package) '.+)")
_PYTEST_E_LINE = re.compile(r"^E\s+(\S.*)$")
_EXCEPTION_LINE = re.compile(r"^\s*((?:[A-Za-z_][\w.]*)?(?:Error|Exception|Exit|Interrupt|Timeout)\b: .+)$")
_FAILED_LINE = re.compile(r"^((?:FAILED|ERROR) \S.*)$")


@dataclass(frozen=True)
class LayerReport:
    """Which content of a layer the run used."""

    name: str
    label: str
    sha256: str
    unzipped_bytes: int
    version: int | None = None
    arn: str | None = None


@dataclass(frozen=True)
class JUnitSummary:
    """Counts from pytest's JUnit XML, plus the names of the first failing tests."""

    tests: int
    failures: int
    errors: int
    skipped: int
    failed_tests: tuple[str, ...] = ()


@dataclass(frozen=True)
class TestResult:
    """The outcome of one function's tests against one set of layer versions (rendered by PRs/Action).

    ``headline`` is the line that explains a failure best (the ``ImportError`` of a missing module
    first); ``interpreter`` names the executable that ran the code, ``interpreter_mismatch`` says it
    was not the runtime's version (only with --allow-other-python).
    """

    __test__ = False  # not a pytest test class, whatever its name says

    function: str
    status: Status
    duration_s: float
    exit_code: int | None
    headline: str | None
    output_tail: str
    command: tuple[str, ...] = ()
    interpreter: str | None = None
    interpreter_version: str | None = None
    interpreter_mismatch: bool = False
    runtime: str = ""
    architecture: str = ""
    region: str = ""
    layers: tuple[LayerReport, ...] = ()
    warnings: tuple[str, ...] = ()
    preflight_errors: tuple[str, ...] = ()
    junit: JUnitSummary | None = None
    junit_xml: str | None = None
    opt_dir: str | None = None
    real_opt: bool = False
    isolation: str = ""

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["command"] = list(self.command)
        data["layers"] = [asdict(layer) for layer in self.layers]
        data["warnings"] = list(self.warnings)
        data["preflight_errors"] = list(self.preflight_errors)
        if self.junit is not None:
            data["junit"] = {**asdict(self.junit), "failed_tests": list(self.junit.failed_tests)}
        return data


def error_result(
    function: FunctionSpec,
    headline: str | None,
    *,
    region: str = "",
    layers: tuple[LayerReport, ...] = (),
    warnings: tuple[str, ...] = (),
    preflight_errors: tuple[str, ...] = (),
) -> TestResult:
    """A result for a function whose tests could not run at all (nothing ran, so no exit code or output)."""
    return TestResult(
        function=function.name,
        status="error",
        duration_s=0.0,
        exit_code=None,
        headline=headline,
        output_tail="",
        runtime=function.runtime,
        architecture=function.architecture,
        region=region,
        layers=layers,
        warnings=warnings,
        preflight_errors=preflight_errors,
    )


def run_function_tests(
    config: Config,
    function: FunctionSpec | str,
    layer_sources: Mapping[str, str] | None = None,
    *,
    options: EngineOptions | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    command: Sequence[str] | None = None,
) -> TestResult:
    """Run ``function``'s tests with its layers laid out as Lambda lays them out.

    ``layer_sources`` maps layer names to a zip path, ``local``, a version or an ARN; layers not named
    use the version the function pins. A preflight refusal or a hostile zip comes back as status
    ``error`` with ``preflight_errors``; a missing interpreter raises InterpreterNotFoundError, a bad
    source (unknown layer, missing file or version) a LayerSourceError.
    """
    options = options or EngineOptions()
    spec = lookup_function(config, function)
    try:
        prepared = prepare_function(config, spec, layer_sources, options, with_test_tools=True)
    except (UnsafeZipError, LayerConflictError) as exc:
        # A hostile or unmergeable layer is a verdict on that layer, reported like a preflight refusal.
        problem = f"function {spec.name}: {exc.one_line()}"
        return error_result(spec, problem, preflight_errors=(problem,))
    refused = error_result(
        spec,
        prepared.report.errors[0] if prepared.report.errors else None,
        region=prepared.region,
        layers=_layer_reports(prepared),
        warnings=prepared.report.warnings,
        preflight_errors=prepared.report.errors,
    )
    if not prepared.report.ok:
        return refused
    argv = tuple(command) if command else default_test_command(spec, prepared)
    with (
        function_process(prepared, options) as base,
        runtime_api(config, prepared, base, default_command=argv == custom_runtime_test_command(spec)) as (
            setup,
            runtime,
        ),
    ):
        junit_path = _junit_target(argv, setup.scratch, prepared.task_root)
        run_argv = (*argv, f"--junitxml={junit_path}") if junit_path and not _has_junit_flag(argv) else argv
        if is_pytest(argv) and "no:cacheprovider" not in argv:
            # pytest's .pytest_cache would land in the checkout (code handed to another user may not write
            # there, and warns): a gate run has no use for a last-failed list.
            run_argv = (*run_argv, "-p", "no:cacheprovider")
        output_path = setup.scratch / "output.log"
        outcome = _run(run_argv, setup, prepared.task_root, timeout_s, output_path)
        runtime.append_logs(output_path)  # the bootstrap's log, for the tail and the headline
        tail, headline = summarize_output(output_path)
        junit, junit_xml = read_junit(junit_path) if junit_path and junit_path.is_file() else (None, None)
    status = _status(outcome, argv, junit)
    if outcome.launch_error:
        headline = outcome.launch_error
    elif status == "timeout":
        headline = f"timed out after {timeout_s:g} s; the test command was killed"
    elif status == "passed":
        headline = None
    elif headline is None and junit is not None and junit.failed_tests:
        headline = f"FAILED {junit.failed_tests[0]}"
    interpreter = prepared.interpreter
    return replace(
        refused,
        status=status,
        duration_s=round(outcome.duration_s, 3),
        exit_code=outcome.exit_code,
        headline=headline,
        output_tail=tail,
        command=run_argv,
        interpreter=str(interpreter.path) if interpreter else None,
        interpreter_version=interpreter.version if interpreter else None,
        interpreter_mismatch=interpreter.mismatch if interpreter else False,
        warnings=prepared.report.warnings + setup.warnings + tuple(setup.after_run),
        junit=junit,
        junit_xml=junit_xml,
        opt_dir=str(prepared.opt.root) if prepared.opt else None,
        real_opt=setup.real_opt,
        isolation=setup.isolation.describe(),
    )


def default_test_command(function: FunctionSpec, prepared: PreparedFunction) -> tuple[str, ...]:
    """The function's configured command, else the usual runner of its runtime."""
    if function.test_command:
        return tuple(function.test_command)
    if is_custom_runtime(function.runtime):
        return custom_runtime_test_command(function)
    if prepared.runtime.family == "nodejs":
        return ("node", "--test")
    if prepared.runtime.family == "python":
        return ("python", "-m", "pytest", "-q")
    raise UsageError(
        f"{function.location}: functions.{function.name}.test: {function.runtime} has no default test "
        "command; set `test:` to the argv that runs the function's tests"
    )


# ----------------------------------------------------------------------------------------------------
# Running


@dataclass(frozen=True)
class _Outcome:
    exit_code: int | None
    duration_s: float
    timed_out: bool
    launch_error: str | None = None


def _run(argv: Sequence[str], setup: ProcessSetup, cwd: Path, timeout_s: float, output: Path) -> _Outcome:
    started = time.monotonic()
    with open(output, "wb") as sink:
        try:
            # Its own process group: a timeout kills the command's children too.
            launched = sandbox.spawn(
                argv,
                isolation=setup.isolation,
                env=setup.env,
                cwd=cwd,
                mounts=setup.mounts,
                unveil=setup.unveil,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        except OSError as exc:
            return _Outcome(
                None,
                time.monotonic() - started,
                False,
                f"could not start {argv[0]!r}: {exc.strerror or exc}; check the function's test command",
            )
        process = launched.process
        timed_out = False
        try:
            code: int | None = process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(process, signal.SIGTERM)
            try:
                process.wait(timeout=_KILL_GRACE_S)
            except subprocess.TimeoutExpired:
                _kill_group(process, signal.SIGKILL)
                process.wait()
            code = None
        finally:
            _kill_group(process, signal.SIGKILL)  # stragglers (servers a test forgot) must not outlive it
        failure = launched.launch_error()
    if failure is not None:
        return _Outcome(
            None, time.monotonic() - started, False, f"{failure}; check the function's test command"
        )
    return _Outcome(code, time.monotonic() - started, timed_out)


def _kill_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


def _status(outcome: _Outcome, argv: Sequence[str], junit: JUnitSummary | None) -> Status:
    if outcome.launch_error:
        return "error"
    if outcome.timed_out:
        return "timeout"
    if outcome.exit_code == 0:
        return "passed"
    if not is_pytest(argv):
        return "failed"
    if outcome.exit_code == _PYTEST_FAILED:
        return "failed"
    if outcome.exit_code == _PYTEST_INTERRUPTED and junit is not None and (junit.errors or junit.failures):
        return "failed"  # collection errors: a test module could not even import (a missing module)
    if outcome.exit_code == _PYTEST_NO_TESTS:
        return "error"
    return "error"


# ----------------------------------------------------------------------------------------------------
# Reading the output


def summarize_output(path: Path) -> tuple[str, str | None]:
    """The last lines of the output and its most telling error line (streamed: output can be huge)."""
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    found: dict[str, str] = {}
    with open(path, "rb") as handle:
        for raw in handle:
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if len(line) > _MAX_LINE:
                line = line[:_MAX_LINE] + " [...]"
            tail.append(line)
            _classify(line, found)
    headline = next(
        (
            found[kind]
            for kind in ("import", "node-missing", "pytest-e", "exception", "failed")
            if kind in found
        ),
        None,
    )
    return "\n".join(tail), headline


def _classify(line: str, found: dict[str, str]) -> None:
    if "import" not in found:
        match = _IMPORT_LINE.search(line)
        if match:
            found["import"] = match[1].strip()
            return
    if "node-missing" not in found:
        match = _NODE_MISSING.search(line)
        if match:
            found["node-missing"] = match[1].strip()
            return
    if "pytest-e" not in found:
        match = _PYTEST_E_LINE.match(line)
        if match:
            found["pytest-e"] = match[1].strip()
            return
    if "exception" not in found:
        match = _EXCEPTION_LINE.match(line)
        if match:
            found["exception"] = match[1].strip()
            return
    if "failed" not in found:
        match = _FAILED_LINE.match(line)
        if match:
            found["failed"] = match[1].strip()


def is_pytest(argv: Sequence[str]) -> bool:
    """``pytest ...``, ``py.test ...`` or ``python[X.Y] [-opts] -m pytest ...``."""
    if not argv:
        return False
    program = os.path.basename(argv[0])
    if program in ("pytest", "py.test"):
        return True
    if program.startswith("python"):
        for index, arg in enumerate(argv[1:-1], start=1):
            if arg == "-m":
                return argv[index + 1] == "pytest"
            if arg == "-mpytest":
                return True
    return False


def _has_junit_flag(argv: Sequence[str]) -> bool:
    return any(arg.startswith(("--junitxml", "--junit-xml")) for arg in argv)


def _junit_target(argv: Sequence[str], scratch: Path, cwd: Path) -> Path | None:
    """Where pytest will write JUnit XML: the command's own ``--junitxml`` path, else one we add."""
    if not is_pytest(argv):
        return None
    for index, arg in enumerate(argv):
        for flag in ("--junitxml", "--junit-xml"):
            if arg.startswith(flag + "="):
                return cwd / arg.split("=", 1)[1]
            if arg == flag and index + 1 < len(argv):
                return cwd / argv[index + 1]
    return scratch / "junit.xml"


def read_junit(path: Path) -> tuple[JUnitSummary | None, str | None]:
    """Counts (summed over test suites) and the XML text; None when the file is not JUnit XML."""
    data = path.read_bytes()[:_MAX_JUNIT_BYTES]
    try:
        # pytest wrote this file in our scratch folder; expat (>= 2.4) caps entity expansion anyway.
        root = ElementTree.fromstring(data)  # noqa: S314
    except ElementTree.ParseError:
        return None, None
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for suite in suites:
        for key in counts:
            with contextlib.suppress(ValueError):
                counts[key] += int(suite.get(key, "0"))
    failed: list[str] = []
    for case in root.iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            name = "::".join(part for part in (case.get("classname", ""), case.get("name", "")) if part)
            failed.append(name)
            if len(failed) >= _MAX_FAILED_NAMED:
                break
    summary = JUnitSummary(
        counts["tests"], counts["failures"], counts["errors"], counts["skipped"], tuple(failed)
    )
    return summary, data.decode("utf-8", "replace")


def _layer_reports(prepared: PreparedFunction) -> tuple[LayerReport, ...]:
    return tuple(
        LayerReport(
            layer.name,
            layer.resolved.label,
            layer.tree.sha256,
            layer.tree.unzipped_bytes,
            layer.resolved.version,
            layer.resolved.arn,
        )
        for layer in prepared.layers
    )
