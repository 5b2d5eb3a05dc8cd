"""Stand-in for Lambda's Python bootstrap: import the handler as the runtime does, call it once, print JSON.

Runs under the function's interpreter (``python -I bootstrap.py EVENT_FILE``), never imports layer_ci,
and keeps to syntax every supported Python version reads. Its stdout carries only the result: the
handler's prints (and anything written to file descriptor 1) go to stderr, like Lambda's log stream.
The handler loading and error shapes follow awslambdaric (the runtime interface client of the AWS base
images): ``module.func`` split at the last dot, ``/`` in the module path read as ``.``, and
``{errorMessage, errorType, requestId, stackTrace}`` for failures.
"""

from __future__ import annotations

import decimal
import importlib
import json
import os
import signal
import sys
import time
import traceback
import uuid
from collections.abc import Callable
from types import TracebackType
from typing import Any, NoReturn


class FaultError(Exception):
    """A failure of the runtime itself (handler not importable, result not serialisable, timeout)."""

    def __init__(self, error_type: str, message: str, trace: list[str] | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.trace = trace or []


class _Timeout(BaseException):
    """Raised in the handler's thread when the function's timeout expires (BaseException: uncatchable
    by the handler's ``except Exception``, as the real sandbox's kill is)."""


class LambdaContext:
    """The attributes and methods Lambda's Python context object offers."""

    def __init__(self, request_id: str, deadline_ms: float) -> None:
        region = os.environ.get("AWS_REGION", "us-east-1")
        name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "function")
        account = os.environ.get("LAYER_CI_ACCOUNT", "000000000000")
        self.aws_request_id = request_id
        self.function_name = name
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.invoked_function_arn = f"arn:aws:lambda:{region}:{account}:function:{name}"
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", f"/aws/lambda/{name}")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity: Any = None
        self.client_context: Any = None
        self.tenant_id: str | None = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(int(self._deadline_ms - time.time() * 1000), 0)

    def log(self, message: object) -> None:
        sys.stderr.write(str(message))
        sys.stderr.flush()


def _set_sys_path() -> None:
    # -I ignored PYTHONPATH; insert its entries (task root, /opt/python/lib/pythonX.Y/site-packages,
    # /opt/python, runtime dir: Lambda's order) in front, as the real bootstrap's sys.path.insert calls do.
    entries = [entry for entry in os.environ.get("PYTHONPATH", "").split(os.pathsep) if entry]
    sys.path[0:0] = entries


def _load_handler(handler: str) -> Callable[..., Any]:
    try:
        module_name, function_name = handler.rsplit(".", 1)
    except ValueError as exc:
        raise FaultError("Runtime.MalformedHandlerName", f"Bad handler '{handler}': {exc}") from None
    if module_name.startswith("/"):
        raise FaultError("Runtime.MalformedHandlerName", f"Bad handler '{handler}': module path is absolute")
    module_name = module_name.replace("/", ".")
    if module_name.split(".")[0] in sys.builtin_module_names:
        raise FaultError(
            "Runtime.BuiltInModuleConflict",
            f"Cannot use built-in module {module_name} as a handler module",
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise FaultError(
            "Runtime.ImportModuleError", f"Unable to import module '{module_name}': {exc}"
        ) from None
    except SyntaxError as exc:
        trace = [f'  File "{exc.filename}" Line {exc.lineno}\n', f"    {exc.text}"]
        raise FaultError(
            "Runtime.UserCodeSyntaxError", f"Syntax error in module '{module_name}': {exc}", trace
        ) from None
    try:
        function = getattr(module, function_name)
    except AttributeError:
        raise FaultError(
            "Runtime.HandlerNotFound", f"Handler '{function_name}' missing on module '{module_name}'"
        ) from None
    if not callable(function):
        raise FaultError(
            "Runtime.HandlerNotFound", f"Handler '{function_name}' on module '{module_name}' is not callable"
        )
    return function  # type: ignore[no-any-return]


def _user_trace(tb: TracebackType | None) -> list[str]:
    """The traceback without this file's own frames, formatted as Lambda's stackTrace list."""
    frames = traceback.extract_tb(tb)
    for index, frame in enumerate(frames):
        if os.path.basename(frame.filename) != "bootstrap.py":
            return traceback.format_list(frames[index:])
    return []


def _decimal_default(value: object) -> float:
    if isinstance(value, decimal.Decimal):
        return float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _error(error_type: str, message: str, request_id: str, trace: list[str]) -> dict[str, Any]:
    return {"errorMessage": message, "errorType": error_type, "requestId": request_id, "stackTrace": trace}


def main() -> None:
    result_stream = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # from here on, everything written to stdout lands in stderr (the "log")
    _set_sys_path()
    request_id = str(uuid.uuid4())
    timeout_s = float(os.environ.get("LAYER_CI_TIMEOUT_S", "3"))
    with open(sys.argv[1], encoding="utf-8") as handle:
        event = json.load(handle)

    def emit(document: dict[str, Any], code: int) -> NoReturn:
        result_stream.write(json.dumps(document) + "\n")
        result_stream.flush()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)  # skip atexit hooks of the handler's libraries, as the sandbox's freeze does

    try:
        handler = _load_handler(os.environ["_HANDLER"])
    except FaultError as fault:
        sys.stderr.write(f"[ERROR] {fault.error_type}: {fault.message}\n")
        emit(_error(fault.error_type, fault.message, "", fault.trace), 1)
    except Exception as exc:  # the module raised while being imported (init error)
        trace = _user_trace(exc.__traceback__)
        sys.stderr.write("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
        emit(_error(type(exc).__name__, str(exc), "", trace), 1)

    def on_alarm(_signum: int, _frame: object) -> None:
        raise _Timeout()

    signal.signal(signal.SIGALRM, on_alarm)
    context = LambdaContext(request_id, time.time() * 1000 + timeout_s * 1000)
    sys.stderr.write(f"START RequestId: {request_id} Version: {context.function_version}\n")
    signal.setitimer(signal.ITIMER_REAL, timeout_s)
    try:
        result = handler(event, context)
    except _Timeout:
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        message = f"{now} {request_id} Task timed out after {timeout_s:.2f} seconds"
        sys.stderr.write(message + "\n")
        emit({"errorMessage": message, "errorType": "Sandbox.Timedout"}, 1)
    except SystemExit as exc:
        message = f"RequestId: {request_id} Error: Runtime exited with error: exit status {exc.code}"
        emit(_error("Runtime.ExitError", message, request_id, []), 1)
    except Exception as exc:
        sys.stderr.write("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
        emit(_error(type(exc).__name__, str(exc), request_id, _user_trace(exc.__traceback__)), 1)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    sys.stderr.write(f"END RequestId: {request_id}\n")
    try:
        payload = json.dumps(result, default=_decimal_default)
    except (TypeError, ValueError) as exc:
        emit(_error("Runtime.MarshalError", f"Unable to marshal response: {exc}", request_id, []), 1)
    result_stream.write(payload + "\n")
    result_stream.flush()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
