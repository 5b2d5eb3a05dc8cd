"""The Lambda Runtime API (2018-06-01) and the Invoke API on loopback, for custom runtimes' bootstraps.

Behaviour follows AWS's reference (https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html) and,
where the page is silent, AWS's open-source emulator (aws-lambda-runtime-interface-emulator: the state
machine of internal/lambda/core, the error renderings of internal/lambda/rapi): 202 ``{"status":"OK"}``
on success, 403 ``InvalidStateTransition`` for a call the runtime's state does not allow, 400
``InvalidRequestID`` for a response to an invocation that is not the current one, 413 for a response
over 6 MiB, and error types checked as Lambda checks ``Lambda-Runtime-Function-Error-Type``.
"""

from __future__ import annotations

import base64
import json
import re
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

API_VERSION = "2018-06-01"
INVOKE_API_VERSION = "2015-03-31"
# Lambda's synchronous payload limit as the emulator enforces it: 6 MiB plus 100 bytes of slack.
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024 + 100
_ERROR_TYPE = re.compile(r"(Runtime|Function)\.[A-Z][a-zA-Z]+")
_NEXT = f"/{API_VERSION}/runtime/invocation/next"
_INIT_ERROR = f"/{API_VERSION}/runtime/init/error"
_REPLY = re.compile(rf"^/{API_VERSION}/runtime/invocation/(?P<id>[^/]+)/(?P<kind>response|error)$")
_INVOKE = re.compile(rf"^/{INVOKE_API_VERSION}/functions/(?P<name>[^/]+)/invocations$")
_LOG_TAIL_BYTES = 4096
_DRAIN_BYTES = 64 * 1024 * 1024  # past this an oversized body is not read: the connection closes

# The runtime's states, named as Lambda names them in its InvalidStateTransition messages.
STARTED, READY, RUNNING, RESPONSE_SENT, INIT_ERROR = (
    "Started",
    "Ready",
    "Running",
    "RuntimeResponseSentState",
    "InitError",
)


def valid_error_type(header: str | None) -> str:
    """Lambda keeps ``Runtime.X``/``Function.X`` error types and replaces anything else."""
    value = header or ""
    if _ERROR_TYPE.search(value):
        return value
    return "Function.Unknown" if value.startswith("Function.") else "Runtime.Unknown"


@dataclass(frozen=True)
class Invocation:
    """One event on its way to the runtime, with the values of the ``next`` response headers."""

    request_id: str
    payload: bytes
    deadline_ms: int
    function_arn: str
    trace_id: str
    client_context: str | None = None


@dataclass(frozen=True)
class RuntimeReply:
    """What the runtime posted: a response, an invocation error or an init error."""

    kind: Literal["response", "error", "init_error"]
    body: bytes
    error_type: str | None = None
    content_type: str = "application/json"


class RuntimeApi:
    """The runtime side: the state machine a bootstrap drives, served on 127.0.0.1 (an ephemeral port).

    The supervisor calls ``start_runtime`` for every new bootstrap process, ``deliver`` an invocation
    once the runtime waits in ``next``, and waits for the reply. ``runtime_exited`` wakes every waiter.
    """

    def __init__(self, *, on_unknown_path: Callable[[str], None] | None = None) -> None:
        self._on_unknown_path = on_unknown_path
        self._cond = threading.Condition()
        self._state = STARTED
        self._generation = 0
        self._pending: Invocation | None = None
        self._current: str | None = None
        self._reply: RuntimeReply | None = None
        self._init_error: RuntimeReply | None = None
        self._exited: int | None = None
        self._waiting_next = 0
        self._closed = False
        self._server = _serve(_runtime_handler(self))

    @property
    def address(self) -> str:
        """``host:port``, the value of AWS_LAMBDA_RUNTIME_API."""
        return f"127.0.0.1:{self._server.server_port}"

    # -- the supervisor's side ---------------------------------------------------------------------

    def start_runtime(self) -> int:
        """A new bootstrap process is about to start: a fresh state machine; returns its generation."""
        with self._cond:
            self._generation += 1
            self._state = STARTED
            self._pending = None
            self._current = None
            self._reply = None
            self._init_error = None
            self._exited = None
            self._cond.notify_all()  # a `next` of a killed process must not take the new one's events
            return self._generation

    def runtime_exited(self, generation: int, code: int) -> None:
        with self._cond:
            if generation == self._generation:
                self._exited = code
                self._cond.notify_all()

    def wait_ready(self, deadline: float) -> Literal["ready", "init_error", "exited", "timeout"]:
        """Until the runtime waits in ``next`` (init done), posts an init error, exits or time is up."""
        with self._cond:
            while True:
                if self._init_error is not None:
                    return "init_error"
                if self._waiting_next and self._pending is None:
                    return "ready"
                if self._exited is not None:
                    return "exited"
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return "timeout"
                self._cond.wait(remaining)

    @property
    def init_error(self) -> RuntimeReply | None:
        with self._cond:
            return self._init_error

    @property
    def exit_code(self) -> int | None:
        with self._cond:
            return self._exited

    def deliver(self, invocation: Invocation) -> None:
        with self._cond:
            self._pending = invocation
            self._reply = None
            self._cond.notify_all()

    def wait_reply(self, request_id: str, deadline: float) -> RuntimeReply | Literal["exited", "timeout"]:
        with self._cond:
            while True:
                if self._reply is not None and self._current == request_id:
                    return self._reply
                if self._exited is not None:
                    return "exited"
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return "timeout"
                self._cond.wait(remaining)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._generation += 1
            self._cond.notify_all()
        self._server.shutdown()
        self._server.server_close()

    # -- the runtime's side (called from the HTTP handler threads) --------------------------------

    def _next(self) -> tuple[int, dict[str, Any] | Invocation]:
        with self._cond:
            if self._state == INIT_ERROR:
                return 403, _transition_error(self._state, READY)
            if self._state != RUNNING:
                self._state = READY
            generation = self._generation
            self._waiting_next += 1
            self._cond.notify_all()
            try:
                while self._pending is None and generation == self._generation and not self._closed:
                    self._cond.wait()
            finally:
                self._waiting_next -= 1
            if generation != self._generation or self._closed or self._pending is None:
                return 500, {"errorMessage": "Runtime is shutting down", "errorType": "Runtime.Shutdown"}
            invocation, self._pending = self._pending, None
            self._state = RUNNING
            self._current = invocation.request_id
            self._reply = None
            return 200, invocation

    def _unknown_path(self, method: str, path: str) -> None:
        if self._on_unknown_path is not None:
            self._on_unknown_path(
                f"layer-ci: the runtime called {method} {path}, which is not part of the Lambda Runtime API "
                f"(answered 404; see https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html)"
            )

    def _check_reply(self, request_id: str, kind: str) -> tuple[int, dict[str, Any]] | None:
        target = "InvocationResponse" if kind == "response" else "InvocationErrorResponse"
        with self._cond:
            if self._state != RUNNING:
                return 403, _transition_error(self._state, target)
            if request_id != self._current or self._reply is not None:
                return 400, {"errorMessage": "Invalid request ID", "errorType": "InvalidRequestID"}
        return None

    def _post_reply(self, request_id: str, reply: RuntimeReply) -> bool:
        with self._cond:
            if self._state != RUNNING or request_id != self._current or self._reply is not None:
                return False
            self._reply = reply
            self._state = RESPONSE_SENT
            self._cond.notify_all()
            return True

    def _post_init_error(self, reply: RuntimeReply) -> tuple[int, dict[str, Any]]:
        with self._cond:
            if self._state != STARTED:
                return 403, _transition_error(self._state, INIT_ERROR)
            self._state = INIT_ERROR
            self._init_error = reply
            self._cond.notify_all()
            return 202, {"status": "OK"}


def _transition_error(state: str, target: str) -> dict[str, Any]:
    return {
        "errorMessage": f"State transition from {state} to {target} failed for runtime. "
        "Error: State transition is not allowed",
        "errorType": "InvalidStateTransition",
    }


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: runtimes (Rust, Go, Node) reuse one connection
    server_version = "layer-ci"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        """Silence http.server's per-request lines: the function's log is what the user reads."""

    def send_json(self, status: int, document: Any, headers: dict[str, str] | None = None) -> None:
        self.send_bytes(status, json.dumps(document).encode(), "application/json", headers)

    def send_bytes(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def refuse(self, status: int, document: Any, headers: dict[str, str] | None = None) -> None:
        """Answer without reading the body: the connection closes so no unread bytes are misparsed."""
        self.close_connection = True
        self.send_json(status, document, {**(headers or {}), "Connection": "close"})

    def read_body(self, limit: int = MAX_PAYLOAD_BYTES) -> bytes | None:
        """The request's body (Content-Length or chunked), or None when it is over ``limit``.

        An oversized body is still read (and dropped, up to ``_DRAIN_BYTES``) so the client gets the
        413 instead of a broken pipe halfway through sending it.
        """
        kept: list[bytes] = []
        total = 0
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                line = self.rfile.readline(1024)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    break
                if total + size > _DRAIN_BYTES:
                    self.close_connection = True
                    return None
                data = self.rfile.read(size)
                total += len(data)
                if total <= limit:
                    kept.append(data)
                self.rfile.readline(1024)
        else:
            length = int(self.headers.get("Content-Length") or 0)
            if length > _DRAIN_BYTES:
                self.close_connection = True
                return None
            while total < length:
                data = self.rfile.read(min(1 << 16, length - total))
                if not data:
                    break
                total += len(data)
                if total <= limit:
                    kept.append(data)
        if total > limit:
            return None
        return b"".join(kept)


def _runtime_handler(api: RuntimeApi) -> type[_Handler]:
    class RuntimeHandler(_Handler):
        def do_GET(self) -> None:
            if urlsplit(self.path).path != _NEXT:
                api._unknown_path("GET", self.path)
                self.refuse(404, {"errorMessage": f"no such path: {self.path}", "errorType": "NotFound"})
                return
            status, answer = api._next()
            if not isinstance(answer, Invocation):
                self.refuse(status, answer)
                return
            headers = {
                "Lambda-Runtime-Aws-Request-Id": answer.request_id,
                "Lambda-Runtime-Deadline-Ms": str(answer.deadline_ms),
                "Lambda-Runtime-Invoked-Function-Arn": answer.function_arn,
                "Lambda-Runtime-Trace-Id": answer.trace_id,
            }
            if answer.client_context:
                headers["Lambda-Runtime-Client-Context"] = answer.client_context
            self.send_bytes(200, answer.payload, "application/json", headers)

        def do_POST(self) -> None:
            path = urlsplit(self.path).path
            error_type = self.headers.get("Lambda-Runtime-Function-Error-Type")
            content_type = self.headers.get("Content-Type") or "application/json"
            if path == _INIT_ERROR:
                body = self.read_body()
                reply = RuntimeReply("init_error", body or b"", valid_error_type(error_type), content_type)
                status, document = api._post_init_error(reply)
                self.send_json(status, document)
                return
            match = _REPLY.match(path)
            if match is None:
                api._unknown_path("POST", self.path)
                self.refuse(404, {"errorMessage": f"no such path: {self.path}", "errorType": "NotFound"})
                return
            request_id, kind = unquote(match["id"]), match["kind"]
            refused = api._check_reply(request_id, kind)
            if refused is not None:
                self.refuse(*refused)
                return
            body = self.read_body()
            if body is None:
                size = self.headers.get("Content-Length") or "more than the limit of"
                message = (
                    f"Response payload size ({size} bytes) exceeded maximum allowed payload size "
                    f"({MAX_PAYLOAD_BYTES} bytes)."
                )
                document = {"errorMessage": message, "errorType": "Function.ResponseSizeTooLarge"}
                api._post_reply(
                    request_id,
                    RuntimeReply("error", json.dumps(document).encode(), "Function.ResponseSizeTooLarge"),
                )
                self.refuse(
                    413,
                    {
                        "errorMessage": f"Exceeded maximum allowed payload size ({MAX_PAYLOAD_BYTES} bytes).",
                        "errorType": "RequestEntityTooLarge",
                    },
                )
                return
            if kind == "response":
                reply = RuntimeReply("response", body, None, content_type)
            else:
                reply = RuntimeReply("error", body, valid_error_type(error_type), content_type)
            if api._post_reply(request_id, reply):
                self.send_json(202, {"status": "OK"})
            else:
                self.send_json(400, {"errorMessage": "Invalid request ID", "errorType": "InvalidRequestID"})

    return RuntimeHandler


# ----------------------------------------------------------------------------------------------------
# The Invoke API, for a function's tests: POST /2015-03-31/functions/NAME/invocations


@dataclass(frozen=True)
class InvokeReply:
    """What Lambda's Invoke API answers: the payload, ``Unhandled`` on a function error, the log."""

    payload: bytes
    function_error: str | None
    logs: str


Invoker = Callable[[bytes, "str | None"], InvokeReply]


class InvokeApi:
    """A stand-in for Lambda's Invoke endpoint: ``boto3.client("lambda", endpoint_url=URL).invoke(...)``
    or ``curl -d @event.json URL/2015-03-31/functions/function/invocations`` (the emulator's path)."""

    def __init__(self, names: frozenset[str], invoke: Invoker, *, not_found_arn: str) -> None:
        self.names = names
        self.invoke = invoke
        self.not_found_arn = not_found_arn
        self._async: list[threading.Thread] = []
        self._server = _serve(_invoke_handler(self))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def start_async(self, payload: bytes, client_context: str | None) -> None:
        thread = threading.Thread(target=self.invoke, args=(payload, client_context), daemon=True)
        self._async.append(thread)
        thread.start()

    def close(self, *, wait_s: float = 0.0) -> None:
        for thread in self._async:
            thread.join(wait_s)
        self._server.shutdown()
        self._server.server_close()


def _invoke_handler(endpoint: InvokeApi) -> type[_Handler]:
    class InvokeHandler(_Handler):
        def do_POST(self) -> None:
            match = _INVOKE.match(urlsplit(self.path).path)
            if match is None:
                self.refuse(404, {"Type": "User", "Message": f"no such path: {self.path}"})
                return
            name = unquote(match["name"])
            if name not in endpoint.names:
                self.refuse(
                    404,
                    {"Type": "User", "Message": f"Function not found: {endpoint.not_found_arn}{name}"},
                    {"x-amzn-ErrorType": "ResourceNotFoundException"},
                )
                return
            payload = self.read_body(6 * 1024 * 1024)
            if payload is None:
                self.refuse(
                    413,
                    {
                        "Type": "User",
                        "message": "Request must be smaller than 6291456 bytes for the InvokeFunction "
                        "operation",
                    },
                    {"x-amzn-ErrorType": "RequestTooLargeException"},
                )
                return
            if payload:
                try:
                    json.loads(payload)
                except ValueError:
                    self.send_json(
                        400,
                        {"Type": "User", "message": "Could not parse request body into json"},
                        {"x-amzn-ErrorType": "InvalidRequestContentException"},
                    )
                    return
            client_context = self.headers.get("X-Amz-Client-Context")
            if client_context:
                try:
                    client_context = base64.b64decode(client_context, validate=True).decode("utf-8")
                except ValueError:
                    self.send_json(
                        400,
                        {"Type": "User", "message": "Client context must be a valid Base64-encoded JSON"},
                        {"x-amzn-ErrorType": "InvalidRequestContentException"},
                    )
                    return
            kind = self.headers.get("X-Amz-Invocation-Type", "RequestResponse")
            if kind == "DryRun":
                self.send_bytes(204, b"", "application/json")
                return
            if kind == "Event":
                endpoint.start_async(payload or b"{}", client_context)
                self.send_bytes(202, b"", "application/json")
                return
            reply = endpoint.invoke(payload or b"{}", client_context)
            headers = {"X-Amz-Executed-Version": "$LATEST"}
            if reply.function_error:
                headers["X-Amz-Function-Error"] = reply.function_error
            if self.headers.get("X-Amz-Log-Type") == "Tail":
                tail = reply.logs.encode("utf-8")[-_LOG_TAIL_BYTES:]
                headers["X-Amz-Log-Result"] = base64.b64encode(tail).decode("ascii")
            self.send_bytes(200, reply.payload, "application/json", headers)

    return InvokeHandler


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client gone mid-answer (a bootstrap killed while waiting in ``next``) is not an error."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def _serve(handler: type[_Handler]) -> ThreadingHTTPServer:
    server = _Server(("127.0.0.1", 0), handler)
    server.daemon_threads = True  # a `next` still waiting when we stop must not hold the process
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
    return server
