"""Bad layer-ci.yml files: each gives one ConfigError naming file:line, the field and the fix."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from layer_ci.config.loader import load_config
from layer_ci.errors import ConfigError
from tests.config.config_error_cases import ARN, BASE, CASE_IDS, CASES, variant
from tests.support.config_errors import config_error


def make_repo(root: Path) -> None:
    (root / "layers/common").mkdir(parents=True)
    (root / "layers/common/requirements.txt").write_text("six==1.16.0\n")
    (root / "layers/tools/bin").mkdir(parents=True)
    (root / "layers/tools/bin/tool").write_text("#!/bin/sh\n")
    (root / "functions/orders").mkdir(parents=True)
    (root / "functions/orders/app.py").write_text("def handler(event, context):\n    return 1\n")


TEMPLATE_WITH_FOREIGN_LAYER = """\
Resources:
  Orders:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/orders
      Runtime: python3.12
      Handler: app.handler
      Layers:
        - !Ref OtherLayer
  OtherLayer:
    Type: AWS::Serverless::LayerVersion
    Properties:
      LayerName: other
      ContentUri: layers/other
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    make_repo(tmp_path)
    return tmp_path


def expect_error(config: Path, line: int, field: str, words: str) -> ConfigError:
    error = config_error(config)
    message = error.one_line()
    assert message.startswith(f"{config}:{line}: {field}: "), message
    assert words in message
    assert error.location.line == line
    assert error.field == field
    return error


@pytest.mark.parametrize(("text", "line", "field", "words"), [c[1:] for c in CASES], ids=CASE_IDS)
def test_bad_config_names_file_line_field_and_fix(
    repo: Path, text: str, line: int, field: str, words: str
) -> None:
    config = repo / "layer-ci.yml"
    config.write_text(text)
    expect_error(config, line, field, words)


def test_there_are_at_least_twenty_distinct_cases() -> None:
    assert len({case[0] for case in CASES}) >= 20


def test_missing_file_says_so_without_a_traceback(tmp_path: Path) -> None:
    error = config_error(tmp_path / "layer-ci.yml")
    assert error.one_line() == (
        f"{tmp_path}/layer-ci.yml: config file: file not found; "
        "create it (see docs/config.md) or pass --config PATH"
    )


def test_invalid_utf8_names_the_line(repo: Path) -> None:
    config = repo / "layer-ci.yml"
    config.write_bytes(b"version: 1\nlayers:\n  caf\xe9: {}\n")
    expect_error(config, 3, "config file", "is not valid UTF-8")


def test_template_referencing_an_undeclared_layer_points_into_the_template(repo: Path) -> None:
    (repo / "template.yaml").write_text(TEMPLATE_WITH_FOREIGN_LAYER)
    config = repo / "layer-ci.yml"
    config.write_text(variant("functions:\n", "templates: [template.yaml]\nfunctions:\n"))
    error = config_error(config)
    assert error.one_line() == (
        f"{repo}/template.yaml:9: Resources.Orders.Properties.Layers[0]: !Ref OtherLayer is a layer named "
        "'other' that layer-ci.yml does not declare; add 'other' under layers: in layer-ci.yml"
    )


TEMPLATE_WITH_ARN = """\
Resources:
  Orders:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/orders
      Runtime: python3.12
      Handler: app.handler
      Layers:
        - arn:aws:lambda:us-east-1:ACCOUNT:layer:NAME:3
"""


@pytest.mark.parametrize(
    ("settings", "account", "name", "problem"),
    [
        ("", "000000000000", "toolz", "layer 'toolz' is not declared in layer-ci.yml; did you mean 'tools'?"),
        ("settings:\n  account: '123456789012'\n", "123456789012", "toolz", "did you mean 'tools'?"),
        ("settings:\n  account: '123456789012'\n", "000000000000", "toolz", None),  # another account's
        ("", "464622532012", "Datadog-Extension", None),  # a vendor's layer
        ("", "000000000000", "tools", None),  # declared: ours
    ],
    ids=["default-account-typo", "configured-account-typo", "other-account", "vendor", "declared"],
)
def test_template_arn_in_our_account_must_name_a_declared_layer(
    repo: Path, settings: str, account: str, name: str, problem: str | None
) -> None:
    (repo / "template.yaml").write_text(TEMPLATE_WITH_ARN.replace("ACCOUNT", account).replace("NAME", name))
    config = repo / "layer-ci.yml"
    config.write_text(BASE.split("functions:")[0] + "templates: [template.yaml]\n" + settings)
    if problem is None:
        load_config(config)
        return
    error = config_error(config)
    message = error.one_line()
    assert message.startswith(f"{repo}/template.yaml:9: Resources.Orders.Properties.Layers[0]: "), message
    assert problem in message


def test_template_code_folder_outside_the_repository_is_refused(repo: Path) -> None:
    outside = repo.parent
    (repo / "template.yaml").write_text(
        TEMPLATE_WITH_ARN.replace("CodeUri: functions/orders", f"CodeUri: {outside}")
        .replace("ACCOUNT", "000000000000")
        .replace("NAME", "tools")
    )
    config = repo / "layer-ci.yml"
    config.write_text(BASE.split("functions:")[0] + "templates: [template.yaml]\n")
    error = config_error(config)
    assert error.one_line().startswith(
        f"{repo}/template.yaml:5: Resources.Orders.Properties.CodeUri: folder '{outside}' is outside the "
        "repository"
    )


def test_six_layers_from_template_and_vendor_arns_are_refused(repo: Path) -> None:
    layers = "".join(f"        - {ARN.format(i)}\n" for i in range(5))
    (repo / "template.yaml").write_text(
        "Resources:\n  Orders:\n    Type: AWS::Serverless::Function\n    Properties:\n"
        "      CodeUri: functions/orders\n      Runtime: python3.12\n      Layers:\n"
        f"        - arn:aws:lambda:us-east-1:123456789012:layer:common:7\n{layers}"
    )
    config = repo / "layer-ci.yml"
    config.write_text(BASE.split("functions:")[0] + "templates: [template.yaml]\n")
    error = config_error(config)
    assert error.one_line() == (
        f"{repo}/template.yaml:7: Resources.Orders.Properties.Layers: function 'Orders' uses 6 layers, "
        "Lambda allows at most 5; remove 1 or merge some layers"
    )


# -- through the real command line ------------------------------------------------------------------

CLI_CASES = ["unknown-key", "duplicate-layer-name", "incompatible-runtime", "yaml-syntax", "empty-file"]


@pytest.mark.parametrize("case_id", CLI_CASES)
def test_cli_prints_one_line_and_exits_2(repo: Path, case_id: str) -> None:
    _, text, line, field, words = next(case for case in CASES if case[0] == case_id)
    (repo / "layer-ci.yml").write_text(text)
    completed = subprocess.run(
        [sys.executable, "-m", "layer_ci", "schema", "--check"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 2
    assert completed.stdout == ""
    assert "Traceback" not in completed.stderr
    lines = completed.stderr.splitlines()
    assert len(lines) == 1, completed.stderr
    assert lines[0].startswith(f"layer-ci: error: layer-ci.yml:{line}: {field}: ")
    assert words in lines[0]


def test_cli_config_flag_and_missing_file(tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "layer_ci", "--config", "nowhere/layer-ci.yml", "schema", "--check"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 2
    assert completed.stderr.strip() == (
        "layer-ci: error: nowhere/layer-ci.yml: config file: file not found; "
        "create it (see docs/config.md) or pass --config PATH"
    )


def test_cli_check_summarises_a_good_config(repo: Path) -> None:
    make_repo(repo / "ci")  # the repository is the folder of the config given with --config
    (repo / "ci/layer-ci.yml").write_text(BASE)
    completed = subprocess.run(
        [sys.executable, "-m", "layer_ci", "--config", "ci/layer-ci.yml", "schema", "--check"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout == "ok: 2 layers, 1 functions\n"
