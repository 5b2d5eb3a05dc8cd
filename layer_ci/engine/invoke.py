"""Invoke a function's handler once, locally, with its layers under the /opt stand-in: the JSON it returns."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from layer_ci.adapters import sandbox
from layer_ci.engine.prepare import (
    EngineOptions,
    PreflightError,
    function_process,
    lookup_function,
    prepare_function,
)
from layer_ci.errors import LayerCiError
from layer_ci.model import Config, FunctionSpec

# Lambda gives a function's init phase 10 s on top of the invocation's own timeout.
INIT_ALLOWANCE_S = 10.0
_KILL_GRACE_S = 5.0
_MAX_LOG_CHARS = 200_000


class InvokeUnsupportedError(LayerCiError):
    """The runtime cannot be invoked here (Python, Node.js and custom runtimes can)."""


@dataclass(frozen=True)
class InvokeResult:
    """What one invocation returned: the JSON payload (a Lambda-shaped error when ``ok`` is False)."""

    function: str
    ok: bool
    payload: str
    logs: str
    duration_s: float
    interpreter: str | None
    interpreter_mismatch: bool
    warnings: tuple[str, ...] = ()

    def document(self) -> Any:
        return json.loads(self.payload)


def invoke_function(
    config: Config,
    function: FunctionSpec | str,
    event: Any,
    layer_sources: Mapping[str, str] | None = None,
    *,
    options: EngineOptions | None = None,
    timeout_s: float | None = None,
) -> InvokeResult:
    """Call the handler once with ``event`` (JSON-compatible) and a realistic context object.

    Raises PreflightError when the layers would not work for the function in Lambda.
    """
    options = options or EngineOptions()
    spec = lookup_function(config, function)
    prepared = prepare_function(config, spec, layer_sources, options, with_test_tools=False)
    if not prepared.report.ok:
        raise PreflightError(prepared.report.errors)
    from layer_ci.engine.custom_runtime import invoke_prepared, is_custom_runtime

    if is_custom_runtime(spec.runtime):
        return invoke_prepared(config, prepared, [event], options, timeout_s)[0]
    interpreter = prepared.interpreter
    if interpreter is None or prepared.home is None or prepared.runtime_dir is None:
        raise InvokeUnsupportedError(
            f"function {spec.name}: `layer-ci invoke` runs Python, Node.js and custom-runtime (provided.*) "
            f"functions; {spec.runtime} is not supported locally (use `layer-ci test` with the function's "
            "own test command)"
        )
    limit = float(timeout_s if timeout_s is not None else spec.timeout_s)
    # /var/task is read-only for a handler in Lambda; tests (below, in runner.py) may write beside their code.
    with function_process(prepared, options, task_readonly=True) as setup:
        event_file = setup.scratch / "event.json"
        event_file.write_text(json.dumps(event))
        env = dict(setup.env)
        env["LAYER_CI_TIMEOUT_S"] = f"{limit:g}"
        env["LAYER_CI_ACCOUNT"] = config.settings.account
        if interpreter.family == "python":
            # -I: neither the caller's PYTHON* variables nor the bootstrap's folder reach sys.path (the
            # bootstrap inserts PYTHONPATH's entries itself, in Lambda's order). -I also ignores
            # PYTHONDONTWRITEBYTECODE, hence -B (see lambda_environment).
            argv = [
                str(prepared.home.bin / "python"),
                "-I",
                "-B",
                str(prepared.runtime_dir / "bootstrap.py"),
                str(event_file),
            ]
        else:
            argv = [
                str(prepared.home.bin / "node"),
                str(prepared.runtime_dir / "bootstrap.js"),
                str(event_file),
            ]
        log_path = setup.scratch / "log.txt"
        started = time.monotonic()
        with open(log_path, "wb") as log:
            launched = sandbox.spawn(
                argv,
                isolation=setup.isolation,
                env=env,
                cwd=prepared.task_root,
                mounts=setup.mounts,
                unveil=setup.unveil,
                stdout=subprocess.PIPE,
                stderr=log,
            )
            process = launched.process
            try:
                out, _ = process.communicate(timeout=limit + INIT_ALLOWANCE_S + _KILL_GRACE_S)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(process.pid, signal.SIGKILL)
                out, _ = process.communicate()
                out = json.dumps(
                    {
                        "errorType": "Sandbox.Timedout",
                        "errorMessage": f"Task timed out after {limit:.2f} seconds (the process was killed)",
                    }
                ).encode()
        duration = time.monotonic() - started
        failure = launched.launch_error()
        logs = log_path.read_text(encoding="utf-8", errors="replace")[-_MAX_LOG_CHARS:]
        if failure is not None:
            logs = f"{logs}\nlayer-ci: {failure}".lstrip("\n")
    payload = out.decode("utf-8", "replace").strip()
    ok = process.returncode == 0
    if not payload:
        ok = False
        payload = json.dumps(
            {
                "errorType": "Runtime.ExitError",
                "errorMessage": f"Runtime exited without a result (exit status {process.returncode})",
            }
        )
    return InvokeResult(
        function=spec.name,
        ok=ok,
        payload=payload,
        logs=logs,
        duration_s=round(duration, 3),
        interpreter=str(interpreter.path),
        interpreter_mismatch=interpreter.mismatch,
        warnings=prepared.report.warnings + setup.warnings + tuple(setup.after_run),
    )


def read_event(path: str | None) -> Any:
    """The event from a JSON file (``-`` = stdin); ``{}`` when none is given."""
    import sys

    from layer_ci.errors import UsageError

    if path is None:
        return {}
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"--event {path}: cannot read it ({exc.strerror}); give a JSON file") from exc
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"--event {path}: byte {exc.start} is not UTF-8; JSON events are UTF-8 text, save it as such"
        ) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path}:{exc.lineno}: event is not valid JSON ({exc.msg}); fix the file") from exc
    except RecursionError:
        raise UsageError(
            f"--event {path}: nested too deeply to read (thousands of levels); Lambda events are shallow, "
            "fix the file"
        ) from None
