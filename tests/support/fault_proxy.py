"""A loopback HTTP proxy that forwards to an upstream (moto, the GitHub stand-in) and injects faults per rule.

Point a client's endpoint at ``proxy.url``; add ``FaultRule``s saying which requests (method + path regex)
get a canned answer instead of being forwarded, and how many times. Every request is logged in
``proxy.requests`` as (method, path, answered_by_rule_or_None).
"""

from __future__ import annotations

import http.client
import json
import re
import threading
import time
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# Hop-by-hop headers (RFC 9110 7.6.1) are per connection and must not be forwarded.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)


@dataclass
class FaultRule:
    """Answer the first ``times`` requests matching ``method`` and ``path`` (a regex searched in the path)
    with ``status``, ``body`` and ``headers`` instead of forwarding them; ``delay`` seconds first.

    ``reset_connection`` drops the socket without an answer instead (a connection reset); with
    ``forward_first`` the request takes effect upstream before the socket drops. ``slow_answer`` forwards
    the request at once (it takes effect) and holds the real answer back that many seconds, as a server
    that is slow to reply (past a client's read timeout) does. ``header`` = (name, regex) matches only
    requests with such a header (e.g. the signing region in ``Authorization``).
    """

    method: str
    path: str
    status: int = 500
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    times: int = 1
    delay: float = 0.0
    forward_after_delay: bool = False  # slow but real answer (for read-timeout faults)
    forward_first: bool = False  # the request reaches upstream and takes effect; its answer is replaced
    reset_connection: bool = False
    slow_answer: float = 0.0
    header: tuple[str, str] | None = None
    hits: int = 0

    def matches(self, method: str, path: str, headers: Mapping[str, str] | None = None) -> bool:
        if self.hits >= self.times or method != self.method or re.search(self.path, path) is None:
            return False
        if self.header is None:
            return True
        name, pattern = self.header
        value = {key.lower(): val for key, val in (headers or {}).items()}.get(name.lower(), "")
        return re.search(pattern, value) is not None


def throttling_rule(method: str, path: str, times: int) -> FaultRule:
    """Lambda's throttling answer: 429 with ``x-amzn-ErrorType: TooManyRequestsException``."""
    return FaultRule(
        method=method,
        path=path,
        status=429,
        body=b'{"Type":"User","message":"Rate exceeded"}',
        headers={"x-amzn-ErrorType": "TooManyRequestsException", "Content-Type": "application/json"},
        times=times,
    )


def aws_error_rule(
    method: str, path: str, status: int, error_type: str, message: str, times: int = 1
) -> FaultRule:
    """A rest-json AWS error (Lambda style): the type in ``x-amzn-ErrorType`` and the message in the body."""
    body = json.dumps({"Type": "User", "message": message}).encode()
    return FaultRule(
        method=method,
        path=path,
        status=status,
        body=body,
        headers={"x-amzn-ErrorType": error_type, "Content-Type": "application/json"},
        times=times,
    )


class FaultProxy:
    """A threaded forwarding proxy on 127.0.0.1 with injectable faults; use as a context manager."""

    def __init__(self, upstream: str) -> None:
        parsed = urllib.parse.urlsplit(upstream)
        self.upstream_host = parsed.hostname or "127.0.0.1"
        self.upstream_port = parsed.port or 80
        self.rules: list[FaultRule] = []
        self.requests: list[tuple[str, str, FaultRule | None]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def add(self, rule: FaultRule) -> FaultRule:
        with self._lock:
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()
            self.requests.clear()

    def count(self, method: str, path: str) -> int:
        """How many requests matching method and path regex arrived (faulted or forwarded)."""
        return sum(1 for m, p, _ in self.requests if m == method and re.search(path, p))

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _claim(self, method: str, path: str, headers: Mapping[str, str] | None = None) -> FaultRule | None:
        with self._lock:
            for rule in self.rules:
                if rule.matches(method, path, headers):
                    rule.hits += 1
                    self.requests.append((method, path, rule))
                    return rule
            self.requests.append((method, path, None))
            return None

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # quiet test output
                return

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    return b"".join(self._chunks())
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _chunks(self) -> Iterator[bytes]:
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        return
                    yield self.rfile.read(size)
                    self.rfile.readline()

            def _handle(self) -> None:
                try:
                    self._serve()
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client gave up first (e.g. its read timed out)

            def _serve(self) -> None:
                body = self._body()
                rule = proxy._claim(self.command, self.path, dict(self.headers.items()))
                if rule is not None:
                    if rule.delay:
                        time.sleep(rule.delay)
                    if rule.slow_answer:
                        self._forward(body, hold=rule.slow_answer)
                        return
                    if rule.forward_first:
                        self._forward(body, reply=False)
                    if rule.reset_connection:
                        self.close_connection = True
                        self.connection.shutdown(2)
                        return
                    if not rule.forward_after_delay:
                        self._answer(rule.status, rule.headers, rule.body)
                        return
                self._forward(body)

            def _forward(self, body: bytes, *, reply: bool = True, hold: float = 0.0) -> None:
                upstream = http.client.HTTPConnection(proxy.upstream_host, proxy.upstream_port, timeout=120)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                if body or self.command in {"POST", "PUT", "PATCH"}:
                    headers["Content-Length"] = str(len(body))
                try:
                    upstream.request(self.command, self.path, body=body, headers=headers)
                    response = upstream.getresponse()
                    payload = response.read()
                    if hold:
                        time.sleep(hold)
                    if reply:
                        headers_back = {
                            k: v for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP
                        }
                        self._answer(response.status, headers_back, payload, head=self.command == "HEAD")
                finally:
                    upstream.close()

            def _answer(
                self, status: int, headers: dict[str, str], body: bytes, *, head: bool = False
            ) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    if key.lower() != "content-length":
                        self.send_header(key, value)
                self.send_header(
                    "Content-Length",
                    str(len(body))
                    if not head
                    else headers.get("Content-Length", headers.get("content-length", "0")),
                )
                self.end_headers()
                if not head:
                    self.wfile.write(body)

            do_GET = _handle
            do_POST = _handle
            do_PUT = _handle
            do_DELETE = _handle
            do_HEAD = _handle
            do_PATCH = _handle

        return Handler
