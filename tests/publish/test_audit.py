"""Audit on moto (server mode) and the local registry: pins to deleted versions, deployed-function drift."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from layer_ci.cli import main
from layer_ci.model import Config, FunctionSpec
from layer_ci.pins.find import find_pins
from layer_ci.publish.audit import audit
from layer_ci.publish.folder_registry import LocalRegistry
from layer_ci.publish.registry_contract import LayerRegistry
from tests.support.aws import MOTO_ACCOUNT, AwsEnv, create_function, layer_spec

ACCOUNT = MOTO_ACCOUNT


def _publish(registry: LayerRegistry, tmp_path: Path, name: str, count: int) -> None:
    for index in range(count):
        path = tmp_path / f"{name}-{index}.zip"
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("python/m.py", f"v = {index}\n")
        registry.publish(layer_spec(name, regions=("us-east-1", "eu-west-1")), path, "d")


def _config(root: Path, *, registry: str = "aws") -> Config:
    from layer_ci.model import Settings

    function = FunctionSpec(
        "orders",
        root / "functions" / "orders",
        "python3.11",
        "x86_64",
        "app.handler",
        ("deps",),
        pin_files=("template.yaml",),
    )
    return Config(
        root=root,
        path=root / "layer-ci.yml",
        layers=(layer_spec("deps", regions=("us-east-1", "eu-west-1")),),
        functions=(function,),
        settings=Settings(registry=registry, account=ACCOUNT),  # type: ignore[arg-type]
    )


TEMPLATE = """\
Resources:
  Orders:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: orders
      Layers:
        - arn:aws:lambda:us-east-1:{account}:layer:deps:{version}
  Catalog:
    Type: AWS::Serverless::Function
    Properties:
      Layers:
        - !Sub arn:${{AWS::Partition}}:lambda:${{AWS::Region}}:${{AWS::AccountId}}:layer:deps:{placeholder}
"""


def _aws_factory() -> object:
    from layer_ci.adapters.aws import AwsAdapter
    from layer_ci.publish.lambda_registry import AwsRegistry

    return lambda region: AwsRegistry(AwsAdapter(region))


def test_pin_to_a_deleted_version_is_an_error_with_file_and_line(aws: AwsEnv, tmp_path: Path) -> None:
    factory = _aws_factory()
    for region in ("us-east-1", "eu-west-1"):
        _publish(factory(region), tmp_path, "deps", 3)  # type: ignore[operator]
    factory("us-east-1").delete("deps", 1)  # type: ignore[operator]
    root = tmp_path / "repo"
    root.mkdir()
    (root / "template.yaml").write_text(TEMPLATE.format(account=ACCOUNT, version=1, placeholder=3))
    config = _config(root)
    report = audit(config, find_pins(root, config), factory, check_drift=False)  # type: ignore[arg-type]
    assert report.errors == (
        f"template.yaml:7: arn:aws:lambda:us-east-1:{ACCOUNT}:layer:deps:1: layer deps version 1 does not "
        "exist in us-east-1 (deleted?); redeploys that reference it will fail; bump to v3",
    )
    assert report.pins_checked == 3  # the placeholder pin was checked in both configured regions


def test_placeholder_pins_are_checked_in_every_configured_region(aws: AwsEnv, tmp_path: Path) -> None:
    factory = _aws_factory()
    _publish(factory("us-east-1"), tmp_path, "deps", 2)  # type: ignore[operator]
    root = tmp_path / "repo"
    root.mkdir()
    (root / "template.yaml").write_text(TEMPLATE.format(account=ACCOUNT, version=2, placeholder=2))
    config = _config(root)
    report = audit(config, find_pins(root, config), factory, check_drift=False)  # type: ignore[arg-type]
    assert len(report.errors) == 1
    assert report.errors[0].startswith("template.yaml:12: ")
    assert "layer deps version 2 does not exist in eu-west-1" in report.errors[0]
    assert report.errors[0].endswith("no version of deps exists there: publish it (`layer-ci publish deps`)")


def test_drift_between_deployed_functions_and_pins_is_a_warning(aws: AwsEnv, tmp_path: Path) -> None:
    factory = _aws_factory()
    _publish(factory("us-east-1"), tmp_path, "deps", 3)  # type: ignore[operator]
    _publish(factory("eu-west-1"), tmp_path, "deps", 3)  # type: ignore[operator]
    create_function(aws, "orders", [f"arn:aws:lambda:us-east-1:{ACCOUNT}:layer:deps:2"])
    create_function(aws, "not-in-config", [f"arn:aws:lambda:us-east-1:{ACCOUNT}:layer:deps:1"])
    root = tmp_path / "repo"
    root.mkdir()
    (root / "template.yaml").write_text(TEMPLATE.format(account=ACCOUNT, version=3, placeholder=3))
    config = _config(root)
    report = audit(config, find_pins(root, config), factory)  # type: ignore[arg-type]
    assert report.errors == ()
    assert report.functions_compared == 1
    assert report.warnings == (
        "template.yaml:7: drift: function orders in us-east-1 runs deps v2 but the repository pins v3; "
        "deploy or bump to converge",
        "template.yaml:12: drift: function orders in us-east-1 runs deps v2 but the repository pins v3; "
        "deploy or bump to converge",
    )


CONFIG = """\
version: 1
settings:
  registry: local
  account: "{account}"
layers:
  deps:
    source: layers/deps
    build: {{method: files}}
    compatible_runtimes: [python3.11]
    regions: [us-east-1]
functions:
  orders:
    source: functions/orders
    runtime: python3.11
    handler: app.handler
    layers: [deps]
    pins: [infra/stack.tf]
"""


def _local_repo(tmp_path: Path, pinned: int) -> Path:
    root = tmp_path / "repo"
    (root / "layers" / "deps" / "python").mkdir(parents=True)
    (root / "layers" / "deps" / "python" / "deps.py").write_text("x = 1\n")
    (root / "functions" / "orders").mkdir(parents=True)
    (root / "functions" / "orders" / "app.py").write_text("def handler(e, c):\n    return 1\n")
    (root / "infra").mkdir()
    (root / "infra" / "stack.tf").write_text(
        'resource "aws_lambda_function" "orders" {\n'
        f'  layers = ["arn:aws:lambda:us-east-1:{ACCOUNT}:layer:deps:{pinned}"]\n'
        "}\n"
    )
    (root / "layer-ci.yml").write_text(CONFIG.format(account=ACCOUNT))
    return root


def test_audit_command_exits_1_and_names_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _local_repo(tmp_path, pinned=1)
    registry = LocalRegistry(root / ".layer-ci" / "registry", "us-east-1", account=ACCOUNT)
    _publish(registry, tmp_path, "deps", 2)
    registry.delete("deps", 1)
    assert main(["--config", str(root / "layer-ci.yml"), "audit"]) == 1
    out = capsys.readouterr().out
    assert out.splitlines() == [
        f"error: infra/stack.tf:2: arn:aws:lambda:us-east-1:{ACCOUNT}:layer:deps:1: layer deps version 1 "
        "does not exist in us-east-1 (deleted?); redeploys that reference it will fail; bump to v2"
    ]


def test_audit_command_passes_when_every_pin_exists(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _local_repo(tmp_path, pinned=2)
    registry = LocalRegistry(root / ".layer-ci" / "registry", "us-east-1", account=ACCOUNT)
    _publish(registry, tmp_path, "deps", 2)
    registry.deploy_function("orders", [f"arn:aws:lambda:us-east-1:{ACCOUNT}:layer:deps:1"])
    assert main(["--config", str(root / "layer-ci.yml"), "audit"]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [
        "warning: infra/stack.tf:2: drift: function orders in us-east-1 runs deps v1 but the repository "
        "pins v2; deploy or bump to converge"
    ]
    assert "checked 1 pin(s), compared 1 deployed function(s): 0 error(s), 1 warning(s)" in captured.err


@pytest.mark.parametrize("damaged", ["deps/2.json", ".functions.json"])
def test_a_damaged_local_registry_record_is_an_error_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], damaged: str
) -> None:
    root = _local_repo(tmp_path, pinned=2)
    registry = LocalRegistry(root / ".layer-ci" / "registry", "us-east-1", account=ACCOUNT)
    _publish(registry, tmp_path, "deps", 2)
    registry.deploy_function("orders", [f"arn:aws:lambda:us-east-1:{ACCOUNT}:layer:deps:2"])
    record = root / ".layer-ci" / "registry" / "us-east-1" / damaged
    assert record.is_file()
    record.write_text('{"Version": 2, "LayerVersionArn": ')  # cut short, as by a bad merge
    assert main(["--config", str(root / "layer-ci.yml"), "audit"]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(f"layer-ci: error: {record}: damaged local registry record")
    assert "not shared" not in captured.out + captured.err
    assert "Traceback" not in captured.err
