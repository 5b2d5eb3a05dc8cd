"""Custom runtimes (provided.al2023, provided.al2): the bootstrap, from the function or a layer, run as
Lambda runs it and fed events through the Runtime API; for ``invoke``, and for ``test`` with an Invoke
endpoint the function's tests call."""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import json
import math
import os
import secrets
import signal
import subprocess
import sys
import sysconfig
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from layer_ci.adapters import sandbox
from layer_ci.engine.assemble import merged_view
from layer_ci.engine.invoke import INIT_ALLOWANCE_S, InvokeResult
from layer_ci.engine.prepare import (
    EngineOptions,
    PreflightError,
    PreparedFunction,
    ProcessSetup,
    function_process,
    lookup_function,
    prepare_function,
)
from layer_ci.engine.runtime_api import (
    Invocation,
    InvokeApi,
    InvokeReply,
    RuntimeApi,
    RuntimeReply,
)
from layer_ci.errors import UsageError
from layer_ci.model import Config, FunctionSpec

# Where Lambda looks for a custom runtime, in order: the function's own code, then the layers
# ("If there's a file named bootstrap in your deployment package, Lambda executes that file. If not,
# Lambda looks for a runtime in the function's layers", docs/runtimes-custom; the emulator's order).
BOOTSTRAP_PATHS = ("/var/task/bootstrap", "/opt/bootstrap")
INVOKE_URL_ENV = "LAYER_CI_INVOKE_URL"
MAX_EVENT_BYTES = 6 * 1024 * 1024
_MAX_LOG_CHARS = 200_000


def is_custom_runtime(runtime: str) -> bool:
    """``provided``, ``provided.al2``, ``provided.al2023``: the OS-only runtimes a bootstrap drives."""
    return runtime == "provided" or runtime.startswith("provided.")


@dataclass(frozen=True)
class Bootstrap:
    """The executable Lambda would start: where it is here, where Lambda sees it, and who ships it."""

    path: Path
    lambda_path: str
    origin: str

    def describe(self) -> str:
        return f"{self.lambda_path} ({self.origin})"


def find_bootstrap(prepared: PreparedFunction) -> Bootstrap | None:
    """The function's own ``bootstrap`` first, then ``/opt/bootstrap`` (the last layer shipping one wins)."""
    own = prepared.task_root / "bootstrap"
    if own.exists() and not own.is_dir():
        return Bootstrap(own, BOOTSTRAP_PATHS[0], "the function's code")
    if prepared.opt is None:
        return None
    in_opt = prepared.opt.root / "bootstrap"
    if not in_opt.exists() or in_opt.is_dir():
        return None
    winner = merged_view(prepared.opt.layers).get("bootstrap")
    layer = prepared.layers[winner[0]].resolved.label if winner is not None else "a layer"
    return Bootstrap(in_opt, BOOTSTRAP_PATHS[1], f"layer {layer}")


@dataclass(frozen=True)
class CustomInvokeResult(InvokeResult):
    """An invocation through the Runtime API: the request ID, and on failure how Lambda classifies it.

    ``function_error`` is Invoke's ``X-Amz-Function-Error`` (``Unhandled``); ``error_type`` is the
    runtime's ``Lambda-Runtime-Function-Error-Type`` as Lambda keeps it, or the platform's
    (``Runtime.ExitError``, ``Sandbox.Timedout``, ``Runtime.InvalidEntrypoint``).
    """

    request_id: str = ""
    function_error: str | None = None
    error_type: str | None = None
    bootstrap: str | None = None
    init_duration_ms: float | None = None


@dataclass(frozen=True)
class _Outcome:
    ok: bool
    payload: bytes
    request_id: str
    duration_s: float
    logs: str
    error_type: str | None = None
    init_duration_ms: float | None = None


@dataclass
class _Failure:
    error_type: str
    message: str
    body: bytes = b""

    def document(self) -> bytes:
        return self.body or json.dumps({"errorType": self.error_type, "errorMessage": self.message}).encode()


class ExecutionEnvironment:
    """One execution environment: a bootstrap process, started on the first invocation (a cold start)
    and kept warm; killed on a timeout or a crash and started again for the next invocation, as
    Lambda resets an environment. Invocations run one at a time (Lambda would add environments)."""

    def __init__(
        self,
        prepared: PreparedFunction,
        setup: ProcessSetup,
        *,
        account: str,
        timeout_s: float,
        log_path: Path,
        init_timeout_s: float = INIT_ALLOWANCE_S,
    ) -> None:
        self.prepared = prepared
        self.function = prepared.function
        self.timeout_s = timeout_s
        self.init_timeout_s = init_timeout_s
        self.arn = f"arn:aws:lambda:{prepared.region}:{account}:function:{self.function.name}"
        self.log_path = log_path
        self.bootstrap = find_bootstrap(prepared)
        self.setup = setup  # the sandbox's settings travel with it, for the bootstrap's spawn
        self._env = dict(setup.env)
        # OS-only runtimes have no AWS_EXECUTION_ENV (Lambda's "Defined runtime environment variables").
        self._env.pop("AWS_EXECUTION_ENV", None)
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._launch_error: str | None = None  # inside a namespace an exec failure is only known after it
        self._closed = False
        self._log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self.api = RuntimeApi(on_unknown_path=self._log)
        self._env["AWS_LAMBDA_RUNTIME_API"] = self.api.address

    # -- life cycle -------------------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._stop()
        self.api.close()
        os.close(self._log_fd)

    def __enter__(self) -> ExecutionEnvironment:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start(self) -> _Failure | None:
        generation = self.api.start_runtime()
        bootstrap = self.bootstrap
        if bootstrap is None:
            return _Failure(
                "Runtime.InvalidEntrypoint",
                f"Couldn't find valid bootstrap(s): [{' '.join(BOOTSTRAP_PATHS)}]",
            )
        try:
            launched = self._spawn(bootstrap)
        except OSError as exc:
            reason = "exec format error" if exc.errno == errno.ENOEXEC else (exc.strerror or str(exc)).lower()
            return _Failure("Runtime.InvalidEntrypoint", f"fork/exec {bootstrap.lambda_path}: {reason}")
        process = self._process = launched.process
        self._launch_error = None

        def watch() -> None:
            code = process.wait()
            self._launch_error = launched.launch_error()  # before the API hears of the exit
            self.api.runtime_exited(generation, code)

        threading.Thread(target=watch, daemon=True).start()
        return None

    def _spawn(self, bootstrap: Bootstrap) -> sandbox.Launched:
        """Start the bootstrap as the engine starts every process of the function's code: exactly the
        scrubbed environment, no stdin, its own process group (a kill takes its children along).

        The one place a bootstrap is started, so the engine's isolation of test commands and handlers
        (``self.setup``) is applied here the same way.
        """
        mounts = self.setup.mounts
        # With /opt and /var/task really mounted the bootstrap is started by the path Lambda uses.
        program = bootstrap.lambda_path if mounts is not None else str(bootstrap.path)
        return sandbox.spawn(
            [program],
            isolation=self.setup.isolation,
            env=self._env,
            cwd=self.prepared.task_root,
            mounts=mounts,
            unveil=self.setup.unveil,
            stdout=self._log_fd,
            stderr=self._log_fd,
        )

    def _exited(self) -> _Failure:
        """Why the bootstrap is gone: it could not be started at all, or it ended."""
        if self._launch_error is not None and self.bootstrap is not None:
            # The sandbox says "could not start 'X': Permission denied"; Lambda words it as Go's os/exec.
            reason = self._launch_error.rsplit(": ", 1)[-1].lower()
            return _Failure("Runtime.InvalidEntrypoint", f"fork/exec {self.bootstrap.lambda_path}: {reason}")
        return _exit_failure(self.api.exit_code)

    def _stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def _init(self, deadline: float) -> tuple[str, _Failure | None]:
        """Start the bootstrap and wait until it asks for the next event; ("ready", None) on success."""
        failure = self._start()
        if failure is not None:
            return "error", failure
        state = self.api.wait_ready(deadline)
        if state == "ready":
            return state, None
        if state == "init_error":
            reply = self.api.init_error
            assert reply is not None
            self._stop()  # after /init/error Lambda shuts the environment down
            return state, _Failure(reply.error_type or "Runtime.Unknown", "", reply.body)
        if state == "exited":
            failure = self._exited()
            self._stop()  # what it left running in its process group goes too
            return state, failure
        self._stop()
        return state, None

    # -- invocations ------------------------------------------------------------------------------

    def invoke(self, payload: bytes, client_context: str | None = None) -> _Outcome:
        with self._lock:
            if self._closed:  # an `Event` invocation still queued when the test command ended
                failure = _Failure("Runtime.Unknown", "the execution environment was shut down")
                return _Outcome(False, failure.document(), "", 0.0, "", failure.error_type)
            return self._invoke(payload, client_context)

    def invoke_reply(self, payload: bytes, client_context: str | None = None) -> InvokeReply:
        """For the Invoke endpoint: the payload, ``Unhandled`` on a function error, this call's log."""
        outcome = self.invoke(payload, client_context)
        return InvokeReply(outcome.payload, None if outcome.ok else "Unhandled", outcome.logs)

    def _invoke(self, payload: bytes, client_context: str | None) -> _Outcome:
        request_id = str(uuid.uuid4())
        log_start = os.fstat(self._log_fd).st_size
        started = time.monotonic()
        init_ms: float | None = None
        failure: _Failure | None = None
        invoke_start = started
        if self._process is not None:
            # Lambda hands an event only to a runtime waiting in `next`: one still busy after its last
            # response is waited for (its time counts), one that exited meanwhile is replaced.
            waited = self.api.wait_ready(started + self.timeout_s)
            if waited != "ready":
                self._stop()
                if waited == "timeout":
                    failure = self._timeout_failure()
        if self._process is None and failure is None:
            self._log(f"INIT_START Runtime Version: {self.function.runtime}")
            state, failure = self._init(started + self.init_timeout_s)
            init_ms = (time.monotonic() - started) * 1000
            if state == "timeout":
                # Lambda retries an init that overran its 10 s inside the invocation, whose timeout
                # then covers the second init too.
                self._log(f"INIT_REPORT Init Duration: {init_ms:.2f} ms\tPhase: init\tStatus: timeout")
                invoke_start = time.monotonic()
                state, failure = self._init(invoke_start + self.timeout_s)
                if state == "timeout":
                    failure = self._timeout_failure()
            else:
                invoke_start = time.monotonic()
            if failure is not None and state != "timeout":
                self._log(
                    f"INIT_REPORT Init Duration: {init_ms:.2f} ms\tPhase: init\tStatus: error\t"
                    f"Error Type: {failure.error_type}"
                )
        self._log(f"START RequestId: {request_id} Version: $LATEST")
        reply: RuntimeReply | str | None = None
        if failure is None:
            deadline = invoke_start + self.timeout_s
            deadline_ms = int(time.time() * 1000 + (deadline - time.monotonic()) * 1000)
            self.api.deliver(
                Invocation(request_id, payload, deadline_ms, self.arn, _trace_id(), client_context)
            )
            reply = self.api.wait_reply(request_id, deadline)
            if reply == "exited":
                failure = self._exited()
                self._stop()
            elif reply == "timeout":
                failure = self._timeout_failure()
                self._stop()
        if failure is not None:
            message = f"RequestId: {request_id} Error: {failure.message}" if failure.message else ""
            if failure.error_type == "Sandbox.Timedout":
                stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
                self._log(f"{stamp}Z {request_id} Task timed out after {self.timeout_s:.2f} seconds")
            elif message:
                self._log(f"{message}\n{failure.error_type}")
            if message and not failure.body:
                failure.body = json.dumps({"errorType": failure.error_type, "errorMessage": message}).encode()
        duration = time.monotonic() - invoke_start
        self._log(f"END RequestId: {request_id}")
        report = (
            f"REPORT RequestId: {request_id}\tDuration: {duration * 1000:.2f} ms\t"
            f"Billed Duration: {math.ceil(duration * 1000)} ms\tMemory Size: {self.function.memory_mb} MB"
        )
        if init_ms is not None:
            report += f"\tInit Duration: {init_ms:.2f} ms"
        self._log(report)
        logs = _read_from(self.log_path, log_start)
        if failure is not None:
            return _Outcome(
                False, failure.document(), request_id, duration, logs, failure.error_type, init_ms
            )
        assert isinstance(reply, RuntimeReply)
        ok = reply.kind == "response"
        return _Outcome(ok, reply.body, request_id, duration, logs, reply.error_type, init_ms)

    def _timeout_failure(self) -> _Failure:
        return _Failure("Sandbox.Timedout", f"Task timed out after {self.timeout_s:.2f} seconds")

    def _log(self, line: str) -> None:
        os.write(self._log_fd, (line + "\n").encode("utf-8"))


def _exit_failure(code: int | None) -> _Failure:
    if code == 0:
        return _Failure("Runtime.ExitError", "Runtime exited without providing a reason")
    return _Failure("Runtime.ExitError", f"Runtime exited with error: {_exit_text(code)}")


def _exit_text(code: int | None) -> str:
    """As Lambda (Go's ProcessState) words it: ``exit status 1``, ``signal: killed``."""
    if code is None:
        return "unknown"
    if code >= 0:
        return f"exit status {code}"
    try:
        name = signal.strsignal(-code) or f"signal {-code}"
    except ValueError:
        name = f"signal {-code}"
    return f"signal: {name[:1].lower()}{name[1:]}"


def _trace_id() -> str:
    """An X-Ray trace header as Lambda sends it when tracing is off (PassThrough: not sampled)."""
    return f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)};Parent={secrets.token_hex(8)};Sampled=0"


def _read_from(path: Path, offset: int) -> str:
    with open(path, "rb") as handle:
        handle.seek(offset)
        return handle.read().decode("utf-8", "replace")[-_MAX_LOG_CHARS:]


# ----------------------------------------------------------------------------------------------------
# layer-ci invoke


def invoke_events(
    config: Config,
    function: FunctionSpec | str,
    events: Sequence[Any],
    layer_sources: Mapping[str, str] | None = None,
    *,
    options: EngineOptions | None = None,
    timeout_s: float | None = None,
) -> list[InvokeResult]:
    """Invoke the function once per event, in order. A custom runtime keeps one warm environment for
    the whole stream (the first invocation is a cold start); other runtimes run each event alone."""
    from layer_ci.engine.invoke import invoke_function

    options = options or EngineOptions()
    spec = lookup_function(config, function)
    if not is_custom_runtime(spec.runtime):
        return [
            invoke_function(config, spec, event, layer_sources, options=options, timeout_s=timeout_s)
            for event in events
        ]
    prepared = prepare_function(config, spec, layer_sources, options, with_test_tools=False)
    if not prepared.report.ok:
        raise PreflightError(prepared.report.errors)
    return invoke_prepared(config, prepared, events, options, timeout_s)


def invoke_prepared(
    config: Config,
    prepared: PreparedFunction,
    events: Sequence[Any],
    options: EngineOptions,
    timeout_s: float | None,
) -> list[InvokeResult]:
    """The invocations of a prepared custom-runtime function, through one execution environment."""
    spec = prepared.function
    payloads = [json.dumps(event).encode() for event in events]
    for index, payload in enumerate(payloads):
        if len(payload) > MAX_EVENT_BYTES:
            raise UsageError(
                f"event {index + 1} is {len(payload):,} bytes; Lambda accepts at most {MAX_EVENT_BYTES:,} "
                "bytes for a synchronous invocation: use a smaller event"
            )
    limit = float(timeout_s if timeout_s is not None else spec.timeout_s)
    results: list[InvokeResult] = []
    with function_process(prepared, options) as setup:
        environment = ExecutionEnvironment(
            prepared,
            setup,
            account=config.settings.account,
            timeout_s=limit,
            log_path=setup.scratch / "function.log",
        )
        with environment:
            outcomes = [environment.invoke(payload) for payload in payloads]
    bootstrap = environment.bootstrap.describe() if environment.bootstrap else None
    warnings = prepared.report.warnings + setup.warnings + tuple(setup.after_run)
    for outcome in outcomes:
        results.append(
            CustomInvokeResult(
                function=spec.name,
                ok=outcome.ok,
                payload=outcome.payload.decode("utf-8", "replace"),
                logs=outcome.logs,
                duration_s=round(outcome.duration_s, 3),
                interpreter=None,
                interpreter_mismatch=False,
                warnings=warnings,
                request_id=outcome.request_id,
                function_error=None if outcome.ok else "Unhandled",
                error_type=outcome.error_type,
                bootstrap=bootstrap,
                init_duration_ms=None
                if outcome.init_duration_ms is None
                else round(outcome.init_duration_ms, 2),
            )
        )
    return results


# ----------------------------------------------------------------------------------------------------
# layer-ci test


@dataclass
class TestRuntime:
    """What a test command of a custom-runtime function gets: the Invoke endpoint in ``env``; the
    function's own log is added to the test output afterwards."""

    __test__ = False  # not a pytest test class, whatever its name says

    env: Mapping[str, str] = field(default_factory=dict)
    log_path: Path | None = None
    bootstrap: str | None = None

    def append_logs(self, output: Path) -> None:
        """Append the function's log (bootstrap output and Lambda's START/END/REPORT lines) to ``output``."""
        if self.log_path is None or not self.log_path.is_file() or self.log_path.stat().st_size == 0:
            return
        with open(output, "ab") as sink, open(self.log_path, "rb") as source:
            sink.write(f"\n--- function log (bootstrap {self.bootstrap or 'not found'}) ---\n".encode())
            sink.write(source.read()[-_MAX_LOG_CHARS:])


@contextlib.contextmanager
def runtime_api_for_tests(
    config: Config,
    prepared: PreparedFunction,
    setup: ProcessSetup,
    *,
    timeout_s: float | None = None,
    default_command: bool = False,
) -> Iterator[tuple[ProcessSetup, TestRuntime]]:
    """For a custom-runtime function: its execution environment and an Invoke endpoint at
    ``$LAYER_CI_INVOKE_URL`` for the duration of the test command, and ``setup`` with that variable
    added; for other runtimes, ``setup`` as it is. ``default_command``: the test command is
    ``default_test_command``, layer-ci's own interpreter and package, which the code's user must reach."""
    if not is_custom_runtime(prepared.function.runtime):
        yield setup, TestRuntime()
        return
    spec = prepared.function
    log_path = setup.scratch / "function.log"
    environment = ExecutionEnvironment(
        prepared,
        setup,
        account=config.settings.account,
        timeout_s=float(timeout_s if timeout_s is not None else spec.timeout_s),
        log_path=log_path,
    )
    try:
        arn_prefix = environment.arn.rsplit(":", 1)[0] + ":"
        names = frozenset({spec.name, "function", environment.arn, f"{environment.arn}:$LATEST"})
        # Inside the try: an endpoint that cannot bind must not leave the environment's log and server open.
        endpoint = InvokeApi(names, environment.invoke_reply, not_found_arn=arn_prefix)
        try:
            runtime = TestRuntime(
                {INVOKE_URL_ENV: endpoint.url},
                log_path,
                environment.bootstrap.describe() if environment.bootstrap else None,
            )
            own = (
                sandbox.require_reachable(
                    setup.isolation,
                    [Path(sys.executable), Path(__file__).parents[2], Path(sysconfig.get_paths()["purelib"])],
                    f"function {spec.name}",
                )
                if default_command
                else ()
            )
            unveil = tuple(dict.fromkeys((*setup.unveil, *own)))
            yield dataclasses.replace(setup, env={**setup.env, **runtime.env}, unveil=unveil), runtime
        finally:
            endpoint.close()
    finally:
        environment.close()


def default_test_command(function: FunctionSpec) -> tuple[str, ...]:
    """Without a ``test:``, a custom-runtime function is checked by invoking it with each sample event
    in its ``events/`` folder (SAM's layout), or with ``{}``: every one must answer without an error."""
    return (sys.executable, "-I", "-m", "layer_ci.engine.invoke_check", str(function.source))
