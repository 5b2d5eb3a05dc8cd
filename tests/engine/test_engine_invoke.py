"""One local invocation: the handler loaded as Lambda loads it, a realistic context, JSON out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from layer_ci.engine.invoke import InvokeResult, invoke_function
from layer_ci.engine.prepare import EngineOptions, PreflightError
from layer_ci.model import Config
from tests.engine.engine_support import (
    FOREIGN_ARCH,
    file,
    function_spec,
    host_shared_object,
    layer_spec,
    make_config,
    node_runtime,
    write_zip,
)

HANDLER = """
import os
import sys
import time

import mylib


def handler(event, context):
    print("log line from the handler")  # must not pollute the JSON result
    first = context.get_remaining_time_in_millis()
    time.sleep(0.05)
    return {
        "greeting": mylib.greet(event["name"]),
        "request_id": context.aws_request_id,
        "function_name": context.function_name,
        "function_version": context.function_version,
        "memory": context.memory_limit_in_mb,
        "arn": context.invoked_function_arn,
        "log_group": context.log_group_name,
        "log_stream": context.log_stream_name,
        "remaining": [first, context.get_remaining_time_in_millis()],
        "opt_first": sys.path.index(os.environ["LAMBDA_TASK_ROOT"])
        < sys.path.index(os.environ["LAYER_CI_OPT"] + "/python"),
        "token": os.environ.get("GITHUB_TOKEN"),
    }


def fails(event, context):
    raise ValueError("bad input: " + event["name"])


def slow(event, context):
    time.sleep(30)


def not_json(event, context):
    return {"when": object()}
"""


def _config(tmp_path: Path, handler: str = "app.handler", timeout_s: int = 3) -> tuple[Config, Path]:
    layer = write_zip(
        tmp_path / "common.zip", [file("python/mylib.py", "def greet(n):\n    return 'hello ' + n\n")]
    )
    function = function_spec(
        tmp_path, "greeter", {"app.py": HANDLER}, ("common",), handler=handler, timeout_s=timeout_s
    )
    return make_config(tmp_path, [layer_spec(tmp_path, "common")], [function]), layer


def _greet_x(config: Config, layer: Path, cache: Path) -> InvokeResult:
    """Invoke ``greeter`` with ``{"name": "x"}`` and ``layer`` as its common layer."""
    return invoke_function(
        config, "greeter", {"name": "x"}, {"common": str(layer)}, options=EngineOptions(cache_dir=cache)
    )


def test_invoke_prints_the_handlers_json_result(
    shared_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_caller")
    config, layer = _config(tmp_path)
    result = invoke_function(
        config,
        "greeter",
        {"name": "ada"},
        {"common": str(layer)},
        options=EngineOptions(cache_dir=shared_cache, region="eu-west-1"),
    )
    assert result.ok, result.logs
    document = result.document()
    assert document["greeting"] == "hello ada"
    assert len(document["request_id"]) == 36
    assert document["function_name"] == "greeter" and document["function_version"] == "$LATEST"
    assert document["memory"] == "128"  # a string, as in Lambda's context object
    assert document["arn"] == "arn:aws:lambda:eu-west-1:000000000000:function:greeter"
    assert document["log_group"] == "/aws/lambda/greeter" and "[$LATEST]" in document["log_stream"]
    first, later = document["remaining"]
    assert 0 < later < first <= 3000
    assert document["opt_first"] is True
    assert document["token"] is None
    assert "log line from the handler" in result.logs
    assert "log line" not in result.payload
    assert result.warnings == ()  # in particular, no bytecode was written into the read-only /opt


def test_handler_errors_are_lambda_shaped(shared_cache: Path, tmp_path: Path) -> None:
    config, layer = _config(tmp_path, handler="app.fails")
    result = _greet_x(config, layer, shared_cache)
    assert not result.ok
    error = result.document()
    assert error["errorType"] == "ValueError" and error["errorMessage"] == "bad input: x"
    assert error["stackTrace"] and "app.py" in error["stackTrace"][0]
    assert "bootstrap.py" not in "".join(error["stackTrace"])
    assert len(error["requestId"]) == 36


@pytest.mark.parametrize(
    ("handler", "error_type", "message"),
    [
        (
            "missing.handler",
            "Runtime.ImportModuleError",
            "Unable to import module 'missing': No module named 'missing'",
        ),
        ("app.nope", "Runtime.HandlerNotFound", "Handler 'nope' missing on module 'app'"),
        ("nodot", "Runtime.MalformedHandlerName", "Bad handler 'nodot'"),
        ("app.not_json", "Runtime.MarshalError", "Unable to marshal response"),
    ],
)
def test_runtime_faults(
    shared_cache: Path, tmp_path: Path, handler: str, error_type: str, message: str
) -> None:
    config, layer = _config(tmp_path, handler=handler)
    result = _greet_x(config, layer, shared_cache)
    assert not result.ok
    assert result.document()["errorType"] == error_type
    assert result.document()["errorMessage"].startswith(message)


def test_layer_without_the_module_fails_at_import(shared_cache: Path, tmp_path: Path) -> None:
    config, _ = _config(tmp_path)
    empty = write_zip(tmp_path / "v2.zip", [file("python/other.py", "")])
    result = _greet_x(config, empty, shared_cache)
    assert result.document() == {
        "errorMessage": "Unable to import module 'app': No module named 'mylib'",
        "errorType": "Runtime.ImportModuleError",
        "requestId": "",
        "stackTrace": [],
    }


def test_timeout_is_enforced(shared_cache: Path, tmp_path: Path) -> None:
    config, layer = _config(tmp_path, handler="app.slow", timeout_s=1)
    result = _greet_x(config, layer, shared_cache)
    assert not result.ok
    assert result.document()["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in result.document()["errorMessage"]
    assert result.duration_s < 10


def test_preflight_refusal_raises_before_invoking(shared_cache: Path, tmp_path: Path) -> None:
    layer = write_zip(tmp_path / "native.zip", [file("lib/libz.so", host_shared_object().read_bytes())])
    function = function_spec(tmp_path, "fn", {"app.py": HANDLER}, ("native",), architecture=FOREIGN_ARCH)
    config = make_config(
        tmp_path, [layer_spec(tmp_path, "native", architectures=("x86_64", "arm64"))], [function]
    )
    with pytest.raises(PreflightError, match=r"lib/libz\.so"):
        invoke_function(
            config, "fn", {}, {"native": str(layer)}, options=EngineOptions(cache_dir=shared_cache)
        )


NODE_HANDLER = """
const greet = require('greet');
exports.handler = async (event, context) => {
  console.log('log line from node');
  return { greeting: greet(event.name), requestId: context.awsRequestId, memory: context.memoryLimitInMB,
           remaining: context.getRemainingTimeInMillis() };
};
exports.fails = async () => { throw new TypeError('nope'); };
exports.callback = (event, context, callback) => callback(null, { via: 'callback' });
"""


def test_node_handler(shared_cache: Path, tmp_path: Path) -> None:
    runtime = node_runtime()
    if runtime is None:
        pytest.skip("no node on PATH")
    layer = write_zip(
        tmp_path / "greet.zip",
        [file("nodejs/node_modules/greet/index.js", "module.exports = (n) => 'hi ' + n;\n")],
    )
    function = function_spec(
        tmp_path, "nodefn", {"index.js": NODE_HANDLER}, ("greet",), runtime=runtime, handler="index.handler"
    )
    config = make_config(tmp_path, [layer_spec(tmp_path, "greet", runtimes=(runtime,))], [function])
    options = EngineOptions(cache_dir=shared_cache)
    result = invoke_function(config, "nodefn", {"name": "ada"}, {"greet": str(layer)}, options=options)
    assert result.ok, result.logs
    document = json.loads(result.payload)
    assert document["greeting"] == "hi ada" and document["memory"] == "128"
    assert 0 < document["remaining"] <= 3000 and len(document["requestId"]) == 36
    assert "log line from node" in result.logs

    from dataclasses import replace

    failing = make_config(tmp_path, config.layers, [replace(function, handler="index.fails")])
    error = invoke_function(failing, "nodefn", {}, {"greet": str(layer)}, options=options)
    assert not error.ok
    assert error.document()["errorType"] == "TypeError" and error.document()["errorMessage"] == "nope"
    callback = make_config(tmp_path, config.layers, [replace(function, handler="index.callback")])
    assert invoke_function(callback, "nodefn", {}, {"greet": str(layer)}, options=options).document() == {
        "via": "callback"
    }


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"a": "\xff\xfe"}', "byte 7 is not UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply to read"),
    ],
)
def test_an_event_file_that_cannot_be_read_as_json_is_a_one_line_usage_error(
    tmp_path: Path, content: bytes, message: str
) -> None:
    from layer_ci.engine.invoke import read_event
    from layer_ci.errors import UsageError

    event = tmp_path / "event.json"
    event.write_bytes(content)
    with pytest.raises(UsageError) as raised:
        read_event(str(event))
    assert f"--event {event}: {message}" in str(raised.value)
    assert "\n" not in str(raised.value)
