"""Functions and layer references read from SAM/CloudFormation templates (YAML and JSON)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from layer_ci.config.loader import load_config
from tests.support.config_errors import config_error

LAYERS_ONLY = """\
version: 1
layers:
  common:
    source: layers/common
    build: {method: python, requirements: requirements.txt}
    compatible_runtimes: [python3.11, python3.12]
    compatible_architectures: [x86_64, arm64]
  tools:
    source: layers/tools
    build: {method: files}
    compatible_architectures: [x86_64, arm64]
templates: [infra/template.yaml]
"""

DATADOG = "arn:aws:lambda:us-east-1:464622532012:layer:Datadog-Extension:65"

SAM_TEMPLATE = """\
AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Parameters:
  ToolsArn:
    Type: String
    Default: arn:aws:lambda:us-east-1:123456789012:layer:tools:12
  CommonVersion:
    Type: String
    Default: "7"
  Stage:
    Type: String
Globals:
  Function:
    Runtime: python3.12
    Timeout: 10
    Handler: app.handler
    Layers:
      - !Sub arn:aws:lambda:${AWS::Region}:464622532012:layer:Datadog-Extension:65
    Environment:
      Variables:
        STAGE: !Ref Stage
        LOG_LEVEL: info
Resources:
  Orders:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: ../functions/orders
      Architectures: [arm64]
      MemorySize: 256
      Layers:
        - !Sub "arn:aws:lambda:${AWS::Region}:${AWS::AccountId}:layer:common:${CommonVersion}"
        - !Ref ToolsArn
      Environment:
        Variables:
          LOG_LEVEL: debug
          TABLE: !GetAtt Table.Arn
  Billing:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: ../functions/billing
      Runtime: python3.11
      Layers:
        - !Ref CommonLayer
  CommonLayer:
    Type: AWS::Serverless::LayerVersion
    Properties:
      LayerName: common
      ContentUri: ../layers/common
  Table:
    Type: AWS::DynamoDB::Table
  Images:
    Type: AWS::Serverless::Function
    Properties:
      PackageType: Image
      ImageUri: 123456789012.dkr.ecr.us-east-1.amazonaws.com/images:latest
  FromS3:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: s3://bucket/code.zip
      Runtime: python3.12
"""


def make_repo(
    root: Path, template: str, config: str = LAYERS_ONLY, name: str = "infra/template.yaml"
) -> Path:
    files = {
        "layers/common/requirements.txt": "six==1.16.0\n",
        "layers/tools/bin/tool": "#!/bin/sh\n",
        "functions/orders/app.py": "",
        "functions/billing/app.py": "",
        name: template,
        "layer-ci.yml": config,
    }
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "layer-ci.yml"


def test_minimal_config_reads_functions_from_a_sam_template(tmp_path: Path) -> None:
    config = load_config(make_repo(tmp_path, SAM_TEMPLATE))
    assert [function.name for function in config.functions] == ["Orders", "Billing"]
    orders = config.function("Orders")
    assert orders.source == tmp_path.resolve() / "functions/orders"
    assert (orders.runtime, orders.architecture, orders.handler) == ("python3.12", "arm64", "app.handler")
    assert (orders.memory_mb, orders.timeout_s) == (256, 10)
    # Globals' layers come first (SAM appends the function's list to them).
    assert orders.layer_order == (
        "arn:aws:lambda:${AWS::Region}:464622532012:layer:Datadog-Extension:65",
        "common",
        "tools",
    )
    assert orders.layers == ("common", "tools")
    assert orders.external_layers == (
        "arn:aws:lambda:${AWS::Region}:464622532012:layer:Datadog-Extension:65",
    )
    assert orders.pin_files == ("infra/template.yaml",)
    # Intrinsic values (a parameter without Default, !GetAtt) are left out; the function's map wins.
    assert dict(orders.environment) == {"LOG_LEVEL": "debug"}
    assert orders.location.path == str(tmp_path / "infra/template.yaml")
    assert orders.location.line == 24
    billing = config.function("Billing")
    assert billing.layers == ("common",)
    assert billing.runtime == "python3.11"
    assert billing.architecture == "x86_64"
    assert config.consumers("common") == (orders, billing)
    assert config.consumers("tools") == (orders,)


def test_functions_entry_merges_with_the_template_function(tmp_path: Path) -> None:
    config_text = LAYERS_ONLY + textwrap.dedent(
        """\
        functions:
          Orders:
            test: [python, -m, pytest]
            pins: [README.md]
            environment: {LOG_LEVEL: warning, EXTRA: "1"}
          Billing:
            layers: [tools, common]
            timeout: 30
        """
    )
    config_path = make_repo(tmp_path, SAM_TEMPLATE, config_text)
    (tmp_path / "README.md").write_text("pins live here too\n")
    config = load_config(config_path)
    orders = config.function("Orders")
    assert orders.test_command == ("python", "-m", "pytest")
    assert orders.pin_files == ("infra/template.yaml", "README.md")
    assert dict(orders.environment) == {"LOG_LEVEL": "warning", "EXTRA": "1"}
    assert orders.layers == ("common", "tools")
    billing = config.function("Billing")
    assert billing.layers == ("tools", "common")
    assert billing.timeout_s == 30
    assert billing.runtime == "python3.11"


def test_json_template_with_long_form_intrinsics(tmp_path: Path) -> None:
    template = {
        "Parameters": {"Vendor": {"Type": "String", "Default": DATADOG}},
        "Resources": {
            "Worker": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Code": "../functions/orders",
                    "Runtime": "python3.12",
                    "Handler": "app.handler",
                    "Layers": [
                        {"Ref": "Vendor"},
                        {"Fn::Sub": ["arn:aws:lambda:${R}:123456789012:layer:${Name}:3", {"Name": "tools"}]},
                        {"Ref": "Common"},
                    ],
                },
            },
            "Common": {"Type": "AWS::Lambda::LayerVersion", "Properties": {"LayerName": "common"}},
        },
    }
    text = json.dumps(template, indent="\t")  # tab indents: not YAML, so the JSON reader takes over
    config = load_config(
        make_repo(
            tmp_path, text, LAYERS_ONLY.replace("template.yaml", "template.json"), "infra/template.json"
        )
    )
    worker = config.function("Worker")
    assert worker.layer_order == (DATADOG, "tools", "common")
    assert worker.external_layers == (DATADOG,)
    assert worker.pin_files == ("infra/template.json",)


def test_json_template_errors_still_name_the_line(tmp_path: Path) -> None:
    template = {
        "Resources": {
            "Worker": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Code": "../functions/orders",
                    "Runtime": "python3.12",
                    "Layers": [
                        {"Fn::GetAtt": ["Common", "Arn"]},
                        "arn:aws:lambda:us-east-1:123456789012:layer:common:1",
                    ],
                },
            }
        }
    }
    config_path = make_repo(
        tmp_path, json.dumps(template, indent=2), LAYERS_ONLY.replace(".yaml", ".json"), "infra/template.json"
    )
    error = config_error(config_path)
    assert error.one_line().startswith(
        f"{tmp_path}/infra/template.json:9: Resources.Worker.Properties.Layers[0]: "
        "cannot read this layer reference"
    )


BAD_TEMPLATES = [
    (
        "ref-to-missing",
        "Layers: [!Ref Nowhere]",
        "Layers[0]: !Ref Nowhere names no resource or parameter in this template; fix the name",
    ),
    (
        "ref-to-non-layer",
        "Layers: [!Ref Table]",
        "Layers[0]: !Ref Table is a AWS::DynamoDB::Table, not a layer version",
    ),
    (
        "parameter-without-arn",
        "Layers: [!Ref Stage]",
        "Layers[0]: !Ref Stage names a parameter without a layer version ARN as Default; "
        "give Parameters.Stage "
        "a Default",
    ),
    (
        "not-an-arn",
        "Layers: [common]",
        "Layers[0]: 'common' is not a layer version ARN; "
        "write arn:aws:lambda:REGION:ACCOUNT:layer:NAME:VERSION",
    ),
    (
        "unresolved-name",
        "Layers: [!Sub 'arn:aws:lambda:us-east-1:123456789012:layer:${Name}:1']",
        "Layers[0]: the layer name in 'arn:aws:lambda:us-east-1:123456789012:layer:${Name}:1' "
        "cannot be resolved",
    ),
    (
        "version-not-a-number",
        "Layers: ['arn:aws:lambda:us-east-1:123456789012:layer:common:abc']",
        "Layers[0]: the version in 'arn:aws:lambda:us-east-1:123456789012:layer:common:abc' is not a layer "
        "version number; end the ARN with the version number",
    ),
    (
        "version-zero",
        "Layers: ['arn:aws:lambda:us-east-1:123456789012:layer:tools:0']",
        "Layers[0]: the version in 'arn:aws:lambda:us-east-1:123456789012:layer:tools:0' "
        "is not a layer version number",
    ),
    (
        "account-not-12-digits",
        "Layers: ['arn:aws:lambda:us-east-1:12345:layer:common:3']",
        "Layers[0]: the account in 'arn:aws:lambda:us-east-1:12345:layer:common:3' is not a 12-digit AWS "
        "account ID",
    ),
    ("timeout-with-underscore", "Timeout: '3_0'", "Timeout: expected a whole number of seconds, got '3_0'"),
    ("negative-timeout", "Timeout: -5", "Timeout: -5 seconds is outside what Lambda accepts; write 1 to 900"),
    ("timeout-over-15-minutes", "Timeout: 901", "Timeout: 901 seconds is outside what Lambda accepts"),
    ("fractional-timeout", "Timeout: 2.5", "Timeout: expected a whole number of seconds, got 2.5"),
    ("memory-too-small", "MemorySize: 64", "MemorySize: 64 MB is outside what Lambda accepts; write 128 to"),
    ("memory-a-word", "MemorySize: lots", "MemorySize: expected a whole number of MB, got 'lots'"),
    (
        "handler-climbing-out",
        "Handler: ../../etc/app.handler",
        "Handler: handler '../../etc/app.handler' leads out of the function's code folder",
    ),
    ("handler-absolute", "Handler: /tmp/app.handler", "Handler: handler '/tmp/app.handler' leads out"),
    ("handler-with-space", "Handler: 'app. handler'", "Handler: 'app. handler' is not a handler Lambda"),
    (
        "incompatible-runtime",
        "Runtime: nodejs22.x\n      Layers: [!Ref CommonLayer]",
        "Layers[0]: function 'Fn' runs nodejs22.x but layer 'common' is compatible only with python3.11, "
        "python3.12; add nodejs22.x to layers.common.compatible_runtimes (line 6)",
    ),
]


@pytest.mark.parametrize(
    ("properties", "words"), [case[1:] for case in BAD_TEMPLATES], ids=[c[0] for c in BAD_TEMPLATES]
)
def test_bad_template_function_properties(tmp_path: Path, properties: str, words: str) -> None:
    template = textwrap.dedent(
        """\
        Parameters:
          Stage: {Type: String, Default: prod}
        Resources:
          Table: {Type: AWS::DynamoDB::Table}
          CommonLayer:
            Type: AWS::Serverless::LayerVersion
            Properties: {LayerName: common}
          Fn:
            Type: AWS::Serverless::Function
            Properties:
              CodeUri: ../functions/orders
              Runtime: python3.12
        """
    )
    template = template.replace("      Runtime: python3.12\n", "") if "Runtime:" in properties else template
    if "Layers:" not in properties:  # values are checked where the function uses one of our layers
        template += "      Layers: [!Ref CommonLayer]\n"
    template += f"      {properties}\n"
    error = config_error(make_repo(tmp_path, template))
    message = error.one_line()
    assert message.startswith(f"{tmp_path}/infra/template.yaml:"), message
    assert f"Resources.Fn.Properties.{words}" in message
    assert error.location.line == template.count("\n")


def test_missing_code_folder_is_reported_in_the_template(tmp_path: Path) -> None:
    template = SAM_TEMPLATE.replace("CodeUri: ../functions/billing", "CodeUri: ../functions/gone")
    error = config_error(make_repo(tmp_path, template))
    assert error.one_line().startswith(
        f"{tmp_path}/infra/template.yaml:40: Resources.Billing.Properties.CodeUri: "
        "folder '../functions/gone' "
        "does not exist"
    )


JAVA_FUNCTION = """\
Resources:
  Ledger:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: ../target/ledger.zip
      Handler: com.example.Ledger::handleRequest
      Runtime: java21
      Layers: [{layers}]
"""


def test_values_lambda_would_refuse_stop_only_functions_that_use_our_layers(tmp_path: Path) -> None:
    # Such a function is not layer-ci's to run against new layers: its template is Lambda's to refuse.
    template = textwrap.dedent(
        """\
        Parameters:
          T: {Type: Number, Default: 0}
          V: {Type: String}
        Resources:
          Vendor:
            Type: AWS::Serverless::Function
            Properties:
              CodeUri: ../functions/orders
              Runtime: python3.12
              Handler: ../elsewhere.handler
              Timeout: !Ref T
              MemorySize: 64
              Layers:
                - !Sub arn:aws:lambda:${AWS::Region}:580247275435:layer:LambdaInsightsExtension:${V}
                - arn:aws:lambda:us-east-1:999999999999:layer:Vendor:latest
          Ours:
            Type: AWS::Serverless::Function
            Properties:
              CodeUri: ../functions/billing
              Runtime: python3.12
              Handler: app.handler
              MemorySize: '{{resolve:ssm:/shop/memory}}'
              Layers: [!Sub 'arn:aws:lambda:${AWS::Region}:${AWS::AccountId}:layer:common:${Major}${Minor}']
        """
    )
    config = load_config(make_repo(tmp_path, template))
    vendor, ours = config.function("Vendor"), config.function("Ours")
    assert (vendor.timeout_s, vendor.memory_mb) == (3, 128)  # Lambda's defaults: the template's are unknown
    assert ours.layers == ("common",) and ours.memory_mb == 128  # resolved only at deploy time


def test_a_function_built_elsewhere_that_uses_none_of_our_layers_is_left_alone(tmp_path: Path) -> None:
    # A Maven zip under target/ exists only after `mvn package`: refusing the template stopped every run.
    config = load_config(make_repo(tmp_path, JAVA_FUNCTION.format(layers=DATADOG)))
    assert [function.name for function in config.functions] == []


def test_a_function_using_our_layer_from_a_built_zip_is_asked_for_its_folder(tmp_path: Path) -> None:
    template = JAVA_FUNCTION.format(layers="arn:aws:lambda:us-east-1:123456789012:layer:tools:3")
    repo = make_repo(tmp_path, template)
    (tmp_path / "target").mkdir()
    (tmp_path / "target" / "ledger.zip").write_bytes(b"PK\x05\x06" + bytes(18))
    message = config_error(repo).one_line()
    assert "Properties.CodeUri: '../target/ledger.zip' is a file (a built zip?), not the " in message
    assert "point CodeUri/Code at the folder it is built from" in message


def test_template_yaml_syntax_error_names_the_template(tmp_path: Path) -> None:
    error = config_error(make_repo(tmp_path, "Resources:\n  Fn: [unclosed\n"))
    assert error.location.path == str(tmp_path / "infra/template.yaml")
    assert error.field == "syntax"


def test_same_logical_id_in_two_templates_is_refused(tmp_path: Path) -> None:
    config = LAYERS_ONLY.replace(
        "templates: [infra/template.yaml]", "templates: [infra/template.yaml, other.yaml]"
    )
    path = make_repo(tmp_path, SAM_TEMPLATE, config)
    (tmp_path / "other.yaml").write_text(
        "Resources:\n  Billing:\n    Type: AWS::Lambda::Function\n"
        "    Properties: {Code: functions/billing, Runtime: python3.12}\n"
    )
    error = config_error(path)
    assert error.one_line() == (
        f"{tmp_path}/other.yaml:2: Resources.Billing: function 'Billing' is also declared at "
        f"{tmp_path}/infra/template.yaml:37; give each function a distinct logical id"
    )


def test_functions_without_local_code_and_without_our_layers_are_skipped(tmp_path: Path) -> None:
    config = load_config(make_repo(tmp_path, SAM_TEMPLATE))
    names = {function.name for function in config.functions}
    assert "Images" not in names
    assert "FromS3" not in names


def test_function_without_local_code_but_with_our_layer_is_an_error(tmp_path: Path) -> None:
    template = SAM_TEMPLATE.replace(
        "      CodeUri: s3://bucket/code.zip\n",
        "      CodeUri: s3://bucket/code.zip\n      Layers: [!Ref CommonLayer]\n",
    )
    error = config_error(make_repo(tmp_path, template))
    assert "Resources.FromS3.Properties.CodeUri: the function's code is not a local folder" in str(error)


def test_missing_runtime_points_at_the_resource_properties(tmp_path: Path) -> None:
    template = (
        "Resources:\n"
        "  Worker:\n"
        "    Type: AWS::Lambda::Function\n"
        "    Properties:\n"
        "      Code: ../functions/orders\n"
        "      Layers: ['arn:aws:lambda:us-east-1:123456789012:layer:common:2']\n"
    )
    error = config_error(make_repo(tmp_path, template))
    assert error.one_line() == (
        f"{tmp_path}/infra/template.yaml:4: Resources.Worker.Properties.Runtime: "
        "the runtime is missing or not a plain value; give Runtime, e.g. python3.12"
    )
