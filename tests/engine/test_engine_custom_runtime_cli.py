"""A SAM function on provided.al2023 whose bootstrap is in a layer, through `layer-ci invoke` and `test`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from layer_ci.cli import main
from tests.engine.custom_runtime_support import SHELL_BOOTSTRAP, SHELL_HANDLER
from tests.engine.engine_support import HOST_ARCH

CONFIG = f"""
version: 1
templates: [template.yaml]
layers:
  bash-runtime:
    source: layers/bash-runtime
    build: {{method: files}}
    compatible_runtimes: [provided.al2023]
    compatible_architectures: [{HOST_ARCH}]
"""

TEMPLATE = f"""
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  BashRuntime:
    Type: AWS::Serverless::LayerVersion
    Properties:
      LayerName: bash-runtime
      ContentUri: layers/bash-runtime/
  hello:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/hello/
      Handler: function.handler
      Runtime: provided.al2023
      Architectures: [{HOST_ARCH}]
      Timeout: 2
      Layers:
        - !Ref BashRuntime
"""


@pytest.fixture
def repo(tmp_path: Path, shared_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "layer-ci.yml").write_text(CONFIG)
    (tmp_path / "template.yaml").write_text(TEMPLATE)
    bootstrap = tmp_path / "layers" / "bash-runtime" / "bootstrap"
    bootstrap.parent.mkdir(parents=True)
    bootstrap.write_text(SHELL_BOOTSTRAP)
    bootstrap.chmod(0o755)
    function = tmp_path / "functions" / "hello"
    (function / "events").mkdir(parents=True)
    (function / "function.sh").write_text(SHELL_HANDLER)
    (function / "events" / "hi.json").write_text('{"name": "ada"}')
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LAYER_CI_CACHE", str(shared_cache))
    return tmp_path


def test_invoke_runs_the_layers_bootstrap_for_each_event(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    event = "functions/hello/events/hi.json"
    assert main(["invoke", "hello", "--event", event, "--event", event, "--layer", "bash-runtime=local"]) == 0
    out = capsys.readouterr()
    lines = out.out.splitlines()
    assert [json.loads(line) for line in lines] == [
        {"shell": True, "event": {"name": "ada"}, "handler": "function.handler"}
    ] * 2
    assert out.err.count("INIT_START Runtime Version: provided.al2023") == 1  # one warm environment
    assert out.err.count("START RequestId: ") == 2


def test_test_checks_the_sample_events_and_a_broken_runtime_fails(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["test", "hello", "--layer", "bash-runtime=local"]) == 0
    assert capsys.readouterr().out.startswith("PASSED: hello")

    bootstrap = repo / "layers" / "bash-runtime" / "bootstrap"
    text = bootstrap.read_text().replace(
        '"/invocation/$REQUEST_ID/response"', '"/invocation/$REQUEST_ID/reply"'
    )
    bootstrap.write_text(text)
    assert main(["test", "hello", "--layer", "bash-runtime=local"]) == 1
    out = capsys.readouterr()
    assert out.out.startswith("FAILED: hello")
    assert "FAILED events/hi.json: Sandbox.Timedout: RequestId: " in out.out
    assert "/reply, which is not part of the Lambda Runtime API" in out.err


def test_a_function_error_exits_1_with_lambdas_error_document(
    repo: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "fail.json").write_text('{"fail": true}')
    assert (
        main(["invoke", "hello", "--event", str(tmp_path / "fail.json"), "--layer", "bash-runtime=local"])
        == 1
    )
    out = capsys.readouterr()
    assert json.loads(out.out) == {
        "errorMessage": "the shell handler refused it",
        "errorType": "HandlerFailed",
    }
    assert (
        "layer-ci: hello failed (Unhandled, error type Runtime.Unknown; bootstrap /opt/bootstrap" in out.err
    )
