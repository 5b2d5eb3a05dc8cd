"""Functions whose SAM template pins vendor layers through `!Sub` placeholders, as Powertools' docs show."""

from __future__ import annotations

from pathlib import Path

import pytest

from layer_ci import cli
from layer_ci.config.loader import load_config
from layer_ci.engine.prepare import EngineOptions
from layer_ci.engine.runner import run_function_tests
from layer_ci.engine.sources import LayerSourceError, layer_entries
from layer_ci.publish.registries import open_registry
from tests.engine.engine_support import HOST_ARCH, HOST_RUNTIME, file, layer_spec, make_config, write_zip

POWERTOOLS = "AWSLambdaPowertoolsPythonV3-python311-x86_64"

CONFIG = f"""\
version: 1
settings:
  registry: local
  account: "000000000000"
templates: [template.yaml]
layers:
  shared:
    source: layers/shared
    build: {{method: files}}
    compatible_runtimes: [{HOST_RUNTIME}]
    compatible_architectures: [{HOST_ARCH}]
    regions: [eu-west-1]
functions:
  orders:
    test: [python, -m, pytest, -q, -p, no:cacheprovider]
    pins: [template.yaml]
"""

TEMPLATE = f"""\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  orders:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/orders/
      Handler: app.handler
      Runtime: {HOST_RUNTIME}
      Architectures: [{HOST_ARCH}]
      Layers:
        - !Sub arn:aws:lambda:${{AWS::Region}}:000000000000:layer:shared:1
        - !Sub arn:${{AWS::Partition}}:lambda:${{AWS::Region}}:017000801446:layer:{POWERTOOLS}:7
        - !Sub arn:${{AWS::Partition}}:lambda:${{AWS::Region}}:${{AWS::AccountId}}:layer:platform-tools:2
"""

APP_TEST = """\
import shared_lib, powertools_stub, platform_tools

def test_layers():
    assert (shared_lib.V, powertools_stub.V, platform_tools.V) == (1, 7, 2)
"""


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "layer-ci.yml").write_text(CONFIG)
    (tmp_path / "template.yaml").write_text(TEMPLATE)
    (tmp_path / "layers" / "shared").mkdir(parents=True)
    tests = tmp_path / "functions" / "orders" / "tests"
    tests.mkdir(parents=True)
    (tmp_path / "functions" / "orders" / "app.py").write_text("def handler(event, context):\n    return 1\n")
    (tests / "test_app.py").write_text(APP_TEST)
    config = load_config(tmp_path / "layer-ci.yml")
    # v1 of our layer, and v2 of another team's layer in the same account (not declared here).
    shared_zip = write_zip(tmp_path / "shared.zip", [file("python/shared_lib.py", "V = 1\n")])
    open_registry(config, "eu-west-1").publish(config.layer("shared"), shared_zip, "v1")
    platform = layer_spec(tmp_path / "elsewhere", "platform-tools")
    holder = make_config(tmp_path, [platform], [])
    for version in (1, 2):
        content = [file("python/platform_tools.py", f"V = {version}\n")]
        zip_path = write_zip(tmp_path / f"pt{version}.zip", content)
        open_registry(holder, "eu-west-1").publish(platform, zip_path, f"v{version}")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_vendor_layers_are_named_by_their_real_name(repo: Path) -> None:
    config = load_config(repo / "layer-ci.yml")
    names = [name for name, _ in layer_entries(config.functions[0])]
    assert names == ["shared", POWERTOOLS, "platform-tools"]


def test_placeholders_resolve_from_the_configured_region_and_account(repo: Path, shared_cache: Path) -> None:
    config = load_config(repo / "layer-ci.yml")
    options = EngineOptions(cache_dir=shared_cache)
    # The vendor's version is not in the local registry: the error names the ARN the placeholders became,
    # in the configured region (eu-west-1, the only region of layer-ci.yml), never the account id as name.
    with pytest.raises(LayerSourceError) as caught:
        run_function_tests(config, "orders", options=options)
    message = str(caught.value)
    resolved = f"arn:aws:lambda:eu-west-1:017000801446:layer:{POWERTOOLS}"
    assert f"layer {POWERTOOLS} version 7 {resolved} " in message
    assert f"--layer {POWERTOOLS}=" in message

    stub = write_zip(repo / "powertools.zip", [file("python/powertools_stub.py", "V = 7\n")])
    result = run_function_tests(config, "orders", {POWERTOOLS: str(stub)}, options=options)
    assert result.status == "passed", result.output_tail
    labels = [layer.label for layer in result.layers]
    assert labels[0] == "shared v1 (pinned at template.yaml:12)"
    assert labels[1] == f"{POWERTOOLS} from {stub}"
    # ${AWS::AccountId} is settings.account: fetched from that account's registry at the pinned version.
    assert labels[2] == (
        "platform-tools = arn:aws:lambda:eu-west-1:000000000000:layer:platform-tools:2 "
        "(from arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:layer:platform-tools:2)"
    )
    assert result.layers[2].version == 2


def test_region_option_wins_and_cn_regions_get_their_partition(repo: Path, shared_cache: Path) -> None:
    config = load_config(repo / "layer-ci.yml")
    stub = write_zip(repo / "powertools.zip", [file("python/powertools_stub.py", "V = 7\n")])
    with pytest.raises(LayerSourceError) as caught:
        run_function_tests(
            config,
            "orders",
            {POWERTOOLS: str(stub), "shared": "1"},
            options=EngineOptions(cache_dir=shared_cache, region="cn-north-1"),
        )
    # shared is looked up first, in the region asked for.
    assert "layer shared version 1 does not exist in cn-north-1" in str(caught.value)
    with pytest.raises(LayerSourceError) as caught:
        run_function_tests(
            config,
            "orders",
            {"shared": str(repo / "shared.zip"), POWERTOOLS: "9"},
            options=EngineOptions(cache_dir=shared_cache, region="cn-north-1"),
        )
    assert f"arn:aws-cn:lambda:cn-north-1:017000801446:layer:{POWERTOOLS} " in str(caught.value)


def test_cli_layer_option_takes_the_real_name(
    repo: Path, shared_cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stub = write_zip(repo / "powertools.zip", [file("python/powertools_stub.py", "V = 7\n")])
    code = cli.main(["test", "orders", "--layer", f"{POWERTOOLS}={stub}", "--cache-dir", str(shared_cache)])
    out = capsys.readouterr()
    assert code == 0, out.out + out.err
    assert out.out.startswith("PASSED: orders")
    assert "arn:aws:lambda:eu-west-1:000000000000:layer:platform-tools:2" in out.err
    code = cli.main(["test", "orders", "--layer", f"017000801446={stub}", "--cache-dir", str(shared_cache)])
    err = capsys.readouterr().err
    assert code == 2
    assert f"its layers: shared, {POWERTOOLS}, platform-tools" in err
