"""Custom runtimes: a bootstrap from a layer (or the function) driven through the local Runtime API."""

from __future__ import annotations

import json
import re
import time
import uuid
from pathlib import Path

import pytest

from layer_ci.adapters.sandbox import EMULATED_NOTE
from layer_ci.engine.custom_runtime import (
    CustomInvokeResult,
    ExecutionEnvironment,
    invoke_events,
)
from layer_ci.engine.invoke import invoke_function
from layer_ci.engine.prepare import EngineOptions, function_process, prepare_function
from tests.engine.custom_runtime_support import (
    PYTHON_BOOTSTRAP,
    PYTHON_HANDLER,
    SHELL_BOOTSTRAP,
    SHELL_HANDLER,
    custom_config,
    custom_function,
    runtime_zip,
)
from tests.engine.engine_support import file, write_zip


def _invoke(
    tmp_path: Path,
    cache: Path,
    event: object,
    *,
    bootstrap: str = PYTHON_BOOTSTRAP,
    files: dict[str, str] | None = None,
    timeout_s: int = 3,
    mode: int = 0o755,
    environment: tuple[tuple[str, str], ...] = (),
    monkeypatch: pytest.MonkeyPatch | None = None,
) -> CustomInvokeResult:
    zip_path = runtime_zip(tmp_path / "runtime.zip", bootstrap, mode=mode)
    function = custom_function(
        tmp_path, "orders", files or {"app.py": PYTHON_HANDLER}, timeout_s=timeout_s, environment=environment
    )
    config = custom_config(tmp_path, function)
    result = invoke_function(
        config, "orders", event, {"runtime": str(zip_path)}, options=EngineOptions(cache_dir=cache)
    )
    assert isinstance(result, CustomInvokeResult)
    return result


def assert_stopped(beat: Path) -> None:
    """The process that wrote ``beat`` every 50 ms (and all it started) is gone: the file stops growing."""
    before = beat.stat().st_size
    time.sleep(0.4)
    assert beat.stat().st_size == before, "a killed runtime's process is still running"


def test_a_python_bootstrap_from_a_layer_gets_lambdas_headers_and_environment(
    tmp_path: Path, shared_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_caller")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "caller-secret")
    before = int(time.time() * 1000)
    result = _invoke(tmp_path, shared_cache, {"order": 42})
    assert result.ok, result.payload
    document = result.document()
    assert document["echo"] == {"order": 42}
    headers = document["headers"]
    assert headers["Lambda-Runtime-Aws-Request-Id"] == result.request_id
    uuid.UUID(result.request_id)
    deadline = int(headers["Lambda-Runtime-Deadline-Ms"])
    # The deadline is the function's timeout (3 s) after the event was handed over.
    assert 2000 < deadline - document["now_ms"] <= 3000
    assert deadline - before <= 3000 + 10_000  # never more than timeout plus the init allowance
    assert (
        headers["Lambda-Runtime-Invoked-Function-Arn"]
        == "arn:aws:lambda:us-east-1:000000000000:function:orders"
    )
    assert re.fullmatch(
        r"Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=0", headers["Lambda-Runtime-Trace-Id"]
    )
    env = document["env"]
    emulated = any(EMULATED_NOTE in warning for warning in result.warnings)
    task_root = str((tmp_path / "functions" / "orders").absolute()) if emulated else "/var/task"
    assert env["_HANDLER"] == "app.handler"
    assert env["LAMBDA_TASK_ROOT"] == task_root == document["cwd"]
    assert re.fullmatch(r"127\.0\.0\.1:\d+", env["AWS_LAMBDA_RUNTIME_API"])
    assert env["AWS_EXECUTION_ENV"] is None  # not defined for OS-only runtimes
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "orders"
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert env["AWS_REGION"] == "us-east-1"
    assert env["GITHUB_TOKEN"] is None and env["AWS_SECRET_ACCESS_KEY"] is None
    assert env["LAYER_CI_INVOKE_URL"] is None  # the test's endpoint, not the runtime's
    assert result.bootstrap is not None and result.bootstrap.startswith("/opt/bootstrap (layer runtime")
    assert result.function_error is None and result.error_type is None
    # A runtime layer holds `bootstrap` at its root, which is right for provided.* functions.
    assert not any("has nothing under" in warning for warning in result.warnings)
    assert result.init_duration_ms is not None
    assert "runtime ready" in result.logs
    assert f"START RequestId: {result.request_id} Version: $LATEST" in result.logs
    assert f"REPORT RequestId: {result.request_id}\tDuration: " in result.logs


def test_the_functions_own_bootstrap_comes_before_the_layers(tmp_path: Path, shared_cache: Path) -> None:
    own = '#!/bin/sh\nexec python3 "$LAMBDA_TASK_ROOT/own_runtime.py"\n'
    files = {
        "app.py": PYTHON_HANDLER,
        "bootstrap": own,
        "own_runtime.py": PYTHON_BOOTSTRAP.replace("runtime ready", "the function's own runtime"),
    }
    zip_path = runtime_zip(tmp_path / "runtime.zip", PYTHON_BOOTSTRAP)
    function = custom_function(tmp_path, "orders", files, modes={"bootstrap": 0o755})
    config = custom_config(tmp_path, function)
    result = invoke_function(
        config, "orders", {}, {"runtime": str(zip_path)}, options=EngineOptions(cache_dir=shared_cache)
    )
    assert isinstance(result, CustomInvokeResult)
    assert result.ok, result.payload
    assert result.bootstrap == "/var/task/bootstrap (the function's code)"
    assert "the function's own runtime" in result.logs and "runtime ready" not in result.logs


def test_a_shell_bootstrap_over_dev_tcp_answers_and_reports_errors(
    tmp_path: Path, shared_cache: Path
) -> None:
    files = {"function.sh": SHELL_HANDLER}
    zip_path = runtime_zip(tmp_path / "runtime.zip", SHELL_BOOTSTRAP)
    function = custom_function(tmp_path, "shell", files, handler="function.handler")
    config = custom_config(tmp_path, function)
    ok, failed = invoke_events(
        config,
        "shell",
        [{"n": 1}, {"fail": "yes"}],
        {"runtime": str(zip_path)},
        options=EngineOptions(cache_dir=shared_cache),
    )
    assert ok.ok, ok.payload
    assert ok.document() == {"shell": True, "event": {"n": 1}, "handler": "function.handler"}
    assert "shell runtime up" in ok.logs
    assert isinstance(failed, CustomInvokeResult)
    assert not failed.ok
    assert failed.document() == {"errorMessage": "the shell handler refused it", "errorType": "HandlerFailed"}
    assert failed.function_error == "Unhandled"
    assert failed.error_type == "Runtime.Unknown"  # "Unhandled" is not a Runtime./Function. type: replaced
    assert failed.init_duration_ms is None  # the same warm environment


def test_a_function_error_keeps_the_runtimes_document_and_error_type(
    tmp_path: Path, shared_cache: Path
) -> None:
    result = _invoke(
        tmp_path,
        shared_cache,
        {"fail": "no stock"},
        environment=(("RUNTIME_ERROR_TYPE", "Function.ValueError"),),
    )
    assert not result.ok
    document = result.document()
    assert document["errorMessage"] == "bad input: no stock"
    assert document["errorType"] == "ValueError"
    assert document["stackTrace"]
    assert (result.function_error, result.error_type) == ("Unhandled", "Function.ValueError")


def test_an_init_error_is_returned_as_lambda_returns_it(tmp_path: Path, shared_cache: Path) -> None:
    result = _invoke(tmp_path, shared_cache, {}, files={"app.py": "import missing_module\n"})
    assert not result.ok
    document = result.document()
    assert document["errorType"] == "ModuleNotFoundError"
    assert document["errorMessage"] == "No module named 'missing_module'"
    assert result.error_type == "Runtime.ImportModuleError"
    assert "Phase: init\tStatus: error\tError Type: Runtime.ImportModuleError" in result.logs


def test_missing_and_unrunnable_bootstraps_are_invalid_entrypoints(
    tmp_path: Path, shared_cache: Path
) -> None:
    function = custom_function(tmp_path, "bare", {"app.py": ""})
    config = custom_config(tmp_path, function)
    no_bootstrap = write_zip(tmp_path / "no-bootstrap.zip", [file("bin/helper", "x")])
    missing = invoke_function(
        config, "bare", {}, {"runtime": str(no_bootstrap)}, options=EngineOptions(cache_dir=shared_cache)
    )
    assert isinstance(missing, CustomInvokeResult)
    assert missing.document() == {
        "errorType": "Runtime.InvalidEntrypoint",
        "errorMessage": f"RequestId: {missing.request_id} Error: Couldn't find valid bootstrap(s): "
        "[/var/task/bootstrap /opt/bootstrap]",
    }
    assert missing.bootstrap is None

    not_executable = _invoke(tmp_path / "mode", shared_cache, {}, mode=0o644)
    assert not_executable.document() == {
        "errorType": "Runtime.InvalidEntrypoint",
        "errorMessage": f"RequestId: {not_executable.request_id} Error: fork/exec /opt/bootstrap: "
        "permission denied",
    }


def test_a_runtime_that_exits_mid_invocation_is_an_exit_error_and_the_next_one_starts_cold(
    tmp_path: Path, shared_cache: Path
) -> None:
    zip_path = runtime_zip(tmp_path / "runtime.zip", PYTHON_BOOTSTRAP)
    config = custom_config(tmp_path, custom_function(tmp_path, "orders", {"app.py": PYTHON_HANDLER}))
    first, crashed, second, third = invoke_events(
        config,
        "orders",
        [{}, {"exit": 3}, {}, {}],
        {"runtime": str(zip_path)},
        options=EngineOptions(cache_dir=shared_cache),
    )
    assert isinstance(crashed, CustomInvokeResult) and isinstance(second, CustomInvokeResult)
    assert crashed.document() == {
        "errorType": "Runtime.ExitError",
        "errorMessage": f"RequestId: {crashed.request_id} Error: Runtime exited with error: exit status 3",
    }
    assert crashed.error_type == "Runtime.ExitError"
    assert second.init_duration_ms is not None  # a new environment
    assert first.document()["boot"] != second.document()["boot"] == third.document()["boot"]
    assert third.init_duration_ms is None


def test_a_handler_past_the_timeout_is_killed_and_reported_as_sandbox_timedout(
    tmp_path: Path, shared_cache: Path, code_writable: Path
) -> None:
    beat = code_writable / "beat"
    started = time.monotonic()
    result = _invoke(
        tmp_path, shared_cache, {"sleep": 30}, timeout_s=1, environment=(("BEATFILE", str(beat)),)
    )
    elapsed = time.monotonic() - started
    assert elapsed < 8
    assert result.document() == {
        "errorType": "Sandbox.Timedout",
        "errorMessage": f"RequestId: {result.request_id} Error: Task timed out after 1.00 seconds",
    }
    assert f"{result.request_id} Task timed out after 1.00 seconds" in result.logs
    assert_stopped(beat)


def test_a_bootstrap_that_never_calls_next_is_killed_after_init_and_the_timeout(
    tmp_path: Path, shared_cache: Path, code_writable: Path
) -> None:
    starts, beat = code_writable / "starts", code_writable / "beat"
    # Each start is counted, and a child left behind keeps beating until the kill reaches it too.
    stuck = f"#!/bin/sh\necho started >> {starts}\n(while :; do echo . >> {beat}; sleep 0.05; done) &\nwait\n"
    zip_path = runtime_zip(tmp_path / "runtime.zip", stuck)
    function = custom_function(tmp_path, "stuck", {"app.py": ""}, timeout_s=1)
    config = custom_config(tmp_path, function)
    options = EngineOptions(cache_dir=shared_cache)
    prepared = prepare_function(config, function, {"runtime": str(zip_path)}, options, with_test_tools=False)
    started = time.monotonic()
    with function_process(prepared, options) as setup:
        environment = ExecutionEnvironment(
            prepared,
            setup,
            account="123456789012",
            timeout_s=1,
            log_path=setup.scratch / "log",
            init_timeout_s=0.5,
        )
        with environment:
            outcome = environment.invoke(b"{}")
    elapsed = time.monotonic() - started
    assert 1.5 <= elapsed < 6
    assert not outcome.ok and outcome.error_type == "Sandbox.Timedout"
    assert "Phase: init\tStatus: timeout" in outcome.logs
    assert starts.read_text().split() == ["started", "started"]  # Lambda retries the init once
    assert_stopped(beat)


def test_a_stream_of_events_shares_one_warm_environment(tmp_path: Path, shared_cache: Path) -> None:
    zip_path = runtime_zip(tmp_path / "runtime.zip", PYTHON_BOOTSTRAP)
    config = custom_config(tmp_path, custom_function(tmp_path, "orders", {"app.py": PYTHON_HANDLER}))
    results = invoke_events(
        config,
        "orders",
        [{"n": n} for n in range(3)],
        {"runtime": str(zip_path)},
        options=EngineOptions(cache_dir=shared_cache),
    )
    documents = [result.document() for result in results]
    assert [document["echo"] for document in documents] == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert len({document["boot"] for document in documents}) == 1
    request_ids = [document["headers"]["Lambda-Runtime-Aws-Request-Id"] for document in documents]
    assert len(set(request_ids)) == 3
    inits = [result.init_duration_ms for result in results if isinstance(result, CustomInvokeResult)]
    assert inits[0] is not None and inits[1:] == [None, None]
    assert json.loads(results[2].payload)["echo"] == {"n": 2}


def test_a_runtime_that_exits_after_answering_gets_a_fresh_environment_next_time(
    tmp_path: Path, shared_cache: Path
) -> None:
    # A one-shot runtime: answers one event, then exits (as some shell runtimes do).
    one_shot = PYTHON_BOOTSTRAP.replace(
        '    post(f"/invocation/{request_id}/response", result)',
        '    post(f"/invocation/{request_id}/response", result)\n    sys.exit(0)',
    )
    zip_path = runtime_zip(tmp_path / "runtime.zip", one_shot)
    config = custom_config(tmp_path, custom_function(tmp_path, "orders", {"app.py": PYTHON_HANDLER}))
    first, second = invoke_events(
        config,
        "orders",
        [{"n": 1}, {"n": 2}],
        {"runtime": str(zip_path)},
        options=EngineOptions(cache_dir=shared_cache),
    )
    assert first.ok and second.ok, (first.payload, second.payload)
    assert first.document()["boot"] != second.document()["boot"]


def test_an_invocation_queued_after_shutdown_fails_without_starting_anything(
    tmp_path: Path, shared_cache: Path
) -> None:
    pidfile = tmp_path / "pid"
    zip_path = runtime_zip(tmp_path / "runtime.zip", f"#!/bin/sh\necho $$ >> {pidfile}\nexec sleep 300\n")
    function = custom_function(tmp_path, "late", {"app.py": ""})
    config = custom_config(tmp_path, function)
    options = EngineOptions(cache_dir=shared_cache)
    prepared = prepare_function(config, function, {"runtime": str(zip_path)}, options, with_test_tools=False)
    with function_process(prepared, options) as setup:
        environment = ExecutionEnvironment(
            prepared, setup, account="1", timeout_s=1, log_path=setup.scratch / "log"
        )
        environment.close()
        outcome = environment.invoke(b"{}")
        environment.close()  # twice is harmless
    assert not outcome.ok
    assert json.loads(outcome.payload)["errorMessage"] == "the execution environment was shut down"
    assert not pidfile.exists()
