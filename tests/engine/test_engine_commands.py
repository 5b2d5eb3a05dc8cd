"""``layer-ci test`` and ``layer-ci invoke`` on the command line, on a repository with a layer-ci.yml."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from layer_ci.cli import main
from tests.engine.engine_support import HOST_ARCH, HOST_RUNTIME, file, write_zip

CONFIG = f"""
version: 1
layers:
  common:
    source: layers/common
    build: {{method: files}}
    compatible_runtimes: [{HOST_RUNTIME}]
    compatible_architectures: [{HOST_ARCH}]
functions:
  greeter:
    source: functions/greeter
    runtime: {HOST_RUNTIME}
    architecture: {HOST_ARCH}
    handler: app.handler
    layers: [common]
    test: [python, -m, pytest, -q, -p, no:cacheprovider]
    environment: {{GREETING: hello}}
"""


@pytest.fixture
def repo(tmp_path: Path, shared_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "layer-ci.yml").write_text(CONFIG)
    layer = tmp_path / "layers" / "common" / "python"
    layer.mkdir(parents=True)
    (layer / "mylib.py").write_text(
        "import os\n\ndef greet(n):\n    return os.environ['GREETING'] + ' ' + n\n"
    )
    function = tmp_path / "functions" / "greeter"
    (function / "tests").mkdir(parents=True)
    (function / "app.py").write_text(
        "import mylib\n\ndef handler(event, context):\n    print('noise')\n"
        "    return {'message': mylib.greet(event['name'])}\n"
    )
    (function / "tests" / "test_app.py").write_text(
        textwrap.dedent(
            """
            import app

            def test_handler():
                assert app.handler({"name": "ada"}, None) == {"message": "hello ada"}
            """
        )
    )
    write_zip(tmp_path / "v1.zip", [file("python/mylib.py", (layer / "mylib.py").read_text())])
    write_zip(tmp_path / "v2.zip", [file("python/unrelated.py", "")])
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LAYER_CI_CACHE", str(shared_cache))
    return tmp_path


def test_test_command_passes_and_fails_with_exit_codes(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["test", "greeter", "--layer", "common=v1.zip"]) == 0
    out = capsys.readouterr()
    assert out.out.startswith("PASSED: greeter")
    assert "layer common from v1.zip" in out.err

    assert main(["test", "greeter", "--layer", "common=v2.zip", "--junit-xml", "reports/junit.xml"]) == 1
    out = capsys.readouterr()
    assert out.out.startswith("FAILED: greeter")
    assert "ModuleNotFoundError: No module named 'mylib'" in out.out
    assert "<testsuite" in (repo / "reports" / "junit.xml").read_text()


def test_test_command_json_and_local_source(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["test", "greeter", "--layer", "common=local", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["status"] == "passed"
    assert document["layers"][0]["label"] == "common built from layers/common"
    assert document["junit"]["tests"] == 1


def test_bad_layer_option_is_one_line_exit_2(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["test", "greeter", "--layer", "common"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("layer-ci: error: --layer 'common': expected NAME=SOURCE") and err.count("\n") == 1
    assert main(["test", "nobody", "--layer", "common=v1.zip"]) == 2
    assert "no function named 'nobody'" in capsys.readouterr().err


def test_invoke_prints_the_handlers_json(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / "event.json").write_text('{"name": "grace"}')
    assert main(["invoke", "greeter", "--event", "event.json", "--layer", "common=v1.zip"]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out) == {"message": "hello grace"}
    assert "noise" in out.err and "noise" not in out.out

    assert main(["invoke", "greeter", "--event", "event.json", "--layer", "common=v2.zip"]) == 1
    error = json.loads(capsys.readouterr().out)
    assert error["errorType"] == "Runtime.ImportModuleError"

    (repo / "bad.json").write_text("{nope")
    assert main(["invoke", "greeter", "--event", "bad.json", "--layer", "common=v1.zip"]) == 2
    assert "bad.json:1: event is not valid JSON" in capsys.readouterr().err


EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "monorepo"


@pytest.mark.network
def test_invoke_on_the_example_prints_the_handlers_json(
    tmp_path: Path, shared_cache: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    example = tmp_path / "monorepo"
    shutil.copytree(
        EXAMPLE, example, ignore=shutil.ignore_patterns("__pycache__", ".layer-ci", ".pytest_cache")
    )
    monkeypatch.chdir(example)
    monkeypatch.setenv("LAYER_CI_CACHE", str(shared_cache))
    code = main(
        [
            "invoke",
            "catalog",
            "--event",
            "functions/catalog/events/new-product.json",
            "--layer",
            "common-deps=local",
            "--layer",
            "tools=local",
        ]
    )
    out = capsys.readouterr()
    assert code == 0, out.err
    response = json.loads(out.out)
    assert response["statusCode"] == 200
    body = json.loads(response["body"])
    assert body["slug"] == "creme-brulee-rooibos-250-g"  # slugified by the tools layer's bin/slugify
    assert body["url"].startswith("https://xn--")  # punycoded by idna from the common-deps layer
