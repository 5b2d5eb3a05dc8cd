"""`layer-ci test` for custom-runtime functions: the Runtime API up, an Invoke endpoint for the tests,
the default check with sample events, and the gate on a runtime layer upgrade."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import boto3
import pytest
from botocore.config import Config as BotoConfig

from layer_ci.engine.custom_runtime import INVOKE_URL_ENV, runtime_api_for_tests
from layer_ci.engine.prepare import EngineOptions, function_process, prepare_function
from layer_ci.engine.runner import run_function_tests
from layer_ci.gate.consumers import engine_runner, function_status, run_gate
from tests.engine.custom_runtime_support import (
    PYTHON_BOOTSTRAP,
    PYTHON_HANDLER,
    custom_config,
    custom_function,
    runtime_zip,
)

# A function's own test, in plain Python (the system's python3: a custom runtime has no interpreter of
# its own), calling the function through the Invoke endpoint layer-ci puts in LAYER_CI_INVOKE_URL.
TEST_SCRIPT = r"""
import base64
import json
import os
import sys
import urllib.request

url = os.environ["LAYER_CI_INVOKE_URL"] + "/2015-03-31/functions/orders/invocations"


def invoke(event):
    request = urllib.request.Request(url, data=json.dumps(event).encode(), headers={"X-Amz-Log-Type": "Tail"})
    with urllib.request.urlopen(request) as response:
        return json.loads(response.read()), response.headers


ok, headers = invoke({"order": 7})
assert ok["echo"] == {"order": 7}, ok
assert headers.get("X-Amz-Function-Error") is None
assert "START RequestId:" in base64.b64decode(headers["X-Amz-Log-Result"]).decode()
failed, headers = invoke({"fail": "sold out"})
assert headers["X-Amz-Function-Error"] == "Unhandled"
assert failed["errorMessage"] == "bad input: sold out", failed
print("both invocations behaved")
"""

# A runtime layer's v2 that breaks the protocol: it answers on a path Lambda does not have.
BROKEN_BOOTSTRAP = PYTHON_BOOTSTRAP.replace(
    'post(f"/invocation/{request_id}/response", result)', 'post(f"/invocation/{request_id}/result", result)'
)


def test_the_test_command_invokes_the_function_through_the_invoke_endpoint(
    tmp_path: Path, shared_cache: Path
) -> None:
    zip_path = runtime_zip(tmp_path / "runtime.zip", PYTHON_BOOTSTRAP)
    function = custom_function(
        tmp_path,
        "orders",
        {"app.py": PYTHON_HANDLER, "tests/check.py": TEST_SCRIPT},
        test=("python3", "tests/check.py"),
    )
    config = custom_config(tmp_path, function)
    result = run_function_tests(
        config, "orders", {"runtime": str(zip_path)}, options=EngineOptions(cache_dir=shared_cache)
    )
    assert result.status == "passed", result.output_tail
    assert "both invocations behaved" in result.output_tail
    assert "--- function log (bootstrap /opt/bootstrap (layer runtime" in result.output_tail
    assert "runtime ready" in result.output_tail

    broken = runtime_zip(tmp_path / "broken.zip", BROKEN_BOOTSTRAP)
    result = run_function_tests(
        config, "orders", {"runtime": str(broken)}, options=EngineOptions(cache_dir=shared_cache)
    )
    assert result.status == "failed"
    # The runtime's own log says why: Lambda has no such path.
    assert "HTTP Error 404" in result.output_tail


def test_boto3_can_invoke_through_the_endpoint(tmp_path: Path, shared_cache: Path) -> None:
    zip_path = runtime_zip(tmp_path / "runtime.zip", PYTHON_BOOTSTRAP)
    function = custom_function(tmp_path, "orders", {"app.py": PYTHON_HANDLER})
    config = custom_config(tmp_path, function)
    options = EngineOptions(cache_dir=shared_cache)
    prepared = prepare_function(config, function, {"runtime": str(zip_path)}, options, with_test_tools=True)
    with (
        function_process(prepared, options) as base,
        runtime_api_for_tests(config, prepared, base) as (setup, runtime),
    ):
        assert setup.env[INVOKE_URL_ENV] == runtime.env[INVOKE_URL_ENV]
        client = boto3.client(
            "lambda",
            endpoint_url=runtime.env[INVOKE_URL_ENV],
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
            config=BotoConfig(retries={"max_attempts": 1}),
        )
        context = base64.b64encode(json.dumps({"custom": {"who": "ada"}}).encode()).decode()
        answer = client.invoke(
            FunctionName="orders",
            Payload=json.dumps({"n": 1}).encode(),
            LogType="Tail",
            ClientContext=context,
        )
        document = json.loads(answer["Payload"].read())
        assert answer["StatusCode"] == 200 and "FunctionError" not in answer
        assert answer["ExecutedVersion"] == "$LATEST"
        assert document["echo"] == {"n": 1}
        assert json.loads(document["headers"]["Lambda-Runtime-Client-Context"]) == {"custom": {"who": "ada"}}
        assert "REPORT RequestId:" in base64.b64decode(answer["LogResult"]).decode()

        failed = client.invoke(FunctionName="orders", Payload=b'{"fail": "x"}')
        assert failed["FunctionError"] == "Unhandled"
        assert json.loads(failed["Payload"].read())["errorType"] == "ValueError"

        assert client.invoke(FunctionName="orders", InvocationType="DryRun")["StatusCode"] == 204
        assert (
            client.invoke(FunctionName="orders", InvocationType="Event", Payload=b"{}")["StatusCode"] == 202
        )
        # Calls are serialised through the one environment: this one waits for the background one.
        after = client.invoke(FunctionName="function", Payload=b'{"n": 2}')
        assert json.loads(after["Payload"].read())["echo"] == {"n": 2}
        with pytest.raises(client.exceptions.InvalidRequestContentException):
            client.invoke(FunctionName="orders", Payload=b"not json")
        with pytest.raises(client.exceptions.ResourceNotFoundException):
            client.invoke(FunctionName="someone-else", Payload=b"{}")


def test_without_a_test_command_each_sample_event_is_invoked(tmp_path: Path, shared_cache: Path) -> None:
    zip_path = runtime_zip(tmp_path / "runtime.zip", PYTHON_BOOTSTRAP)
    files = {
        "app.py": PYTHON_HANDLER,
        "events/a-new-order.json": '{"order": 1}',
        "events/b-refund.json": '{"refund": 2}',
    }
    function = custom_function(tmp_path, "orders", files)
    config = custom_config(tmp_path, function)
    options = EngineOptions(cache_dir=shared_cache)
    result = run_function_tests(config, "orders", {"runtime": str(zip_path)}, options=options)
    assert result.status == "passed", result.output_tail
    assert 'ok events/a-new-order.json: {"echo": {"order": 1}' in result.output_tail
    assert "2 of 2 invocations answered without an error" in result.output_tail
    assert result.command[1:4] == ("-I", "-m", "layer_ci.engine.invoke_check")

    (function.source / "events" / "c-bad.json").write_text('{"fail": "broken sample"}')
    result = run_function_tests(config, "orders", {"runtime": str(zip_path)}, options=options)
    assert result.status == "failed"
    assert result.headline == "FAILED events/c-bad.json: ValueError: bad input: broken sample"


def test_a_runtime_layer_upgrade_that_breaks_the_protocol_fails_the_gate(
    tmp_path: Path, shared_cache: Path
) -> None:
    good = runtime_zip(tmp_path / "runtime-v1.zip", PYTHON_BOOTSTRAP)
    broken = runtime_zip(tmp_path / "runtime-v2.zip", BROKEN_BOOTSTRAP)
    never_ready = runtime_zip(tmp_path / "runtime-v3.zip", "#!/bin/sh\nexit 0\n")
    function = custom_function(
        tmp_path, "orders", {"app.py": PYTHON_HANDLER, "events/order.json": "{}"}, timeout_s=1
    )
    config = custom_config(tmp_path, function)
    runner = engine_runner(EngineOptions(cache_dir=shared_cache), timeout_s=60)

    (passed,) = run_gate(config, ["orders"], {"runtime": str(good)}, runner).checks
    assert passed.result.status == "passed", passed.result.output_tail

    (check,) = run_gate(config, ["orders"], {"runtime": str(broken)}, runner).checks
    assert check.result.status == "failed"
    state, description = function_status(check.result)
    assert state == "failure"
    # The runtime's own traceback heads the report; the log says which call Lambda would not know.
    assert description == "urllib.error.HTTPError: HTTP Error 404: Not Found"
    assert "FAILED events/order.json: Runtime.ExitError: RequestId: " in check.result.output_tail
    assert "Runtime exited with error: exit status 1" in check.result.output_tail
    assert re.search(
        r"layer-ci: the runtime called POST /2018-06-01/runtime/invocation/[0-9a-f-]+/result, "
        r"which is not part of the Lambda Runtime API",
        check.result.output_tail,
    )

    (exited,) = run_gate(config, ["orders"], {"runtime": str(never_ready)}, runner).checks
    assert exited.result.status == "failed"
    assert exited.result.headline is not None
    assert "Runtime exited without providing a reason" in exited.result.headline
