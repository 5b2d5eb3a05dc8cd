"""The Runtime API's protocol over real HTTP: states, request IDs, limits, error types, keep-alive."""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Iterator

import pytest

from layer_ci.engine.runtime_api import (
    MAX_PAYLOAD_BYTES,
    Invocation,
    RuntimeApi,
    RuntimeReply,
    valid_error_type,
)

BASE = "/2018-06-01/runtime"


@pytest.fixture
def api() -> Iterator[RuntimeApi]:
    server = RuntimeApi()
    server.start_runtime()
    yield server
    server.close()


def connect(api: RuntimeApi) -> http.client.HTTPConnection:
    host, port = api.address.split(":")
    return http.client.HTTPConnection(host, int(port), timeout=10)


def call(
    connection: http.client.HTTPConnection, method: str, path: str, body: bytes | None = None, **headers: str
) -> tuple[int, dict[str, str], bytes]:
    connection.request(
        method, BASE + path, body=body, headers={k.replace("_", "-"): v for k, v in headers.items()}
    )
    response = connection.getresponse()
    return response.status, dict(response.getheaders()), response.read()


def invocation(request_id: str = "req-1", payload: bytes = b'{"a": 1}') -> Invocation:
    return Invocation(
        request_id, payload, 1_700_000_000_000, "arn:aws:lambda:eu-west-1:1:function:f", "Root=1-x"
    )


def next_in_background(api: RuntimeApi) -> tuple[threading.Thread, list[tuple[int, dict[str, str], bytes]]]:
    answers: list[tuple[int, dict[str, str], bytes]] = []
    connection = connect(api)
    thread = threading.Thread(target=lambda: answers.append(call(connection, "GET", "/invocation/next")))
    thread.start()
    return thread, answers


def test_next_blocks_until_an_event_and_carries_the_invocation_headers(api: RuntimeApi) -> None:
    thread, answers = next_in_background(api)
    assert api.wait_ready(time.monotonic() + 5) == "ready"
    assert answers == []  # still waiting: no event yet
    api.deliver(invocation())
    thread.join(5)
    status, headers, body = answers[0]
    assert status == 200 and json.loads(body) == {"a": 1}
    assert headers["Lambda-Runtime-Aws-Request-Id"] == "req-1"
    assert headers["Lambda-Runtime-Deadline-Ms"] == "1700000000000"
    assert headers["Lambda-Runtime-Invoked-Function-Arn"] == "arn:aws:lambda:eu-west-1:1:function:f"
    assert headers["Lambda-Runtime-Trace-Id"] == "Root=1-x"
    assert headers["Content-Type"] == "application/json"
    assert "Lambda-Runtime-Client-Context" not in headers


def test_replies_are_checked_against_the_state_and_the_request_id(api: RuntimeApi) -> None:
    connection = connect(api)
    status, _, body = call(connection, "POST", "/invocation/req-1/response", b"{}")
    assert status == 403
    assert json.loads(body) == {
        "errorMessage": "State transition from Started to InvocationResponse failed for runtime. "
        "Error: State transition is not allowed",
        "errorType": "InvalidStateTransition",
    }
    thread, _ = next_in_background(api)
    api.wait_ready(time.monotonic() + 5)
    api.deliver(invocation())
    thread.join(5)
    connection = connect(api)
    status, _, body = call(connection, "POST", "/invocation/someone-else/response", b"{}")
    assert (status, json.loads(body)["errorType"]) == (400, "InvalidRequestID")
    connection = connect(api)
    status, _, body = call(connection, "POST", "/init/error", b"{}")
    assert (status, json.loads(body)["errorType"]) == (403, "InvalidStateTransition")
    # The right one is accepted, on a kept-alive connection; a second reply is refused.
    status, _, body = call(connection, "POST", "/invocation/req-1/response", b'"done"')
    assert (status, json.loads(body)) == (202, {"status": "OK"})
    assert api.wait_reply("req-1", time.monotonic() + 1) == RuntimeReply(
        "response", b'"done"', None, "application/json"
    )
    status, _, body = call(connection, "POST", "/invocation/req-1/error", b"{}")
    assert (
        status == 403
        and "from RuntimeResponseSentState to InvocationErrorResponse" in json.loads(body)["errorMessage"]
    )


def test_an_init_error_is_accepted_once_before_next(api: RuntimeApi) -> None:
    connection = connect(api)
    body = b'{"errorMessage": "no config", "errorType": "ConfigError"}'
    status, _, answer = call(
        connection, "POST", "/init/error", body, Lambda_Runtime_Function_Error_Type="Runtime.ConfigInvalid"
    )
    assert (status, json.loads(answer)) == (202, {"status": "OK"})
    assert api.wait_ready(time.monotonic() + 1) == "init_error"
    assert api.init_error == RuntimeReply("init_error", body, "Runtime.ConfigInvalid", "application/json")
    status, _, answer = call(connection, "GET", "/invocation/next")
    assert status == 403 and json.loads(answer)["errorMessage"].startswith(
        "State transition from InitError to Ready"
    )


def test_a_response_over_six_megabytes_is_refused_and_becomes_the_invocations_error(api: RuntimeApi) -> None:
    thread, _ = next_in_background(api)
    api.wait_ready(time.monotonic() + 5)
    api.deliver(invocation())
    thread.join(5)
    connection = connect(api)
    status, _, body = call(connection, "POST", "/invocation/req-1/response", b"x" * (MAX_PAYLOAD_BYTES + 1))
    assert (status, json.loads(body)["errorType"]) == (413, "RequestEntityTooLarge")
    reply = api.wait_reply("req-1", time.monotonic() + 1)
    assert isinstance(reply, RuntimeReply)
    assert reply.kind == "error" and reply.error_type == "Function.ResponseSizeTooLarge"
    assert json.loads(reply.body)["errorMessage"] == (
        f"Response payload size ({MAX_PAYLOAD_BYTES + 1} bytes) exceeded maximum allowed payload size "
        f"({MAX_PAYLOAD_BYTES} bytes)."
    )


def test_a_chunked_error_body_is_read_whole(api: RuntimeApi) -> None:
    thread, _ = next_in_background(api)
    api.wait_ready(time.monotonic() + 5)
    api.deliver(invocation())
    thread.join(5)
    connection = connect(api)
    chunks = iter([b'{"errorMessage": "bo', b'om", "errorType": "Crash"}'])
    connection.request(
        "POST",
        BASE + "/invocation/req-1/error",
        body=chunks,
        headers={"Lambda-Runtime-Function-Error-Type": "Function.Crash"},
        encode_chunked=True,
    )
    assert connection.getresponse().status == 202
    reply = api.wait_reply("req-1", time.monotonic() + 1)
    assert reply == RuntimeReply(
        "error", b'{"errorMessage": "boom", "errorType": "Crash"}', "Function.Crash", "application/json"
    )


def test_unknown_paths_are_404_and_a_closed_api_releases_a_waiting_next(api: RuntimeApi) -> None:
    status, _, _ = call(connect(api), "GET", "/invocation/later")
    assert status == 404
    thread, answers = next_in_background(api)
    api.wait_ready(time.monotonic() + 5)
    api.start_runtime()  # the bootstrap was replaced: its pending `next` must not take the new events
    thread.join(5)
    assert answers and answers[0][0] == 500


@pytest.mark.parametrize(
    ("header", "kept"),
    [
        ("Runtime.NoSuchHandler", "Runtime.NoSuchHandler"),
        ("Function.ValueError", "Function.ValueError"),
        ("Unhandled", "Runtime.Unknown"),
        ("Function.", "Function.Unknown"),
        (None, "Runtime.Unknown"),
        ("runtime.lowercase", "Runtime.Unknown"),
    ],
)
def test_error_types_are_kept_or_replaced_as_lambda_does(header: str | None, kept: str) -> None:
    assert valid_error_type(header) == kept
