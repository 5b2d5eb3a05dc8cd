"""Bad layer-ci.yml files: each gives one ConfigError naming file:line, the field and the fix."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from layer_ci.config.loader import load_config
from layer_ci.errors import ConfigError

# Lines:         1 version, 2 layers, 3 common, 4 source, 5 build, 6 method, 7 requirements,
# 8 compatible_runtimes, 9 compatible_architectures, 10 tools, 11 source, 12 build, 13 functions,
# 14 orders, 15 source, 16 runtime, 17 handler, 18 layers.
BASE = textwrap.dedent(
    """\
    version: 1
    layers:
      common:
        source: layers/common
        build:
          method: python
          requirements: requirements.txt
        compatible_runtimes: [python3.11, python3.12]
        compatible_architectures: [x86_64]
      tools:
        source: layers/tools
        build: {method: files}
    functions:
      orders:
        source: functions/orders
        runtime: python3.12
        handler: app.handler
        layers: [common, tools]
    """
)

ARN = "arn:aws:lambda:us-east-1:123456789012:layer:vendor{}:3"
VENDORS = [ARN.format(i) for i in range(4)]
SIXTEEN_RUNTIMES = [
    "python3.9", "python3.10", "python3.11", "python3.12", "python3.13", "python3.14", "nodejs18.x",
    "nodejs20.x", "nodejs22.x", "nodejs24.x", "java11", "java17", "java21", "ruby3.2", "ruby3.3", "ruby3.4",
]  # fmt: skip


def variant(old: str, new: str) -> str:
    assert BASE.count(old) == 1, old
    return BASE.replace(old, new)


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

# (case id, config text, expected line, expected field, expected words of problem and fix)
# fmt: off
CASES: list[tuple[str, str, int, str, str]] = [
    ("unknown-key", variant("    source: layers/common\n", "    sorce: layers/common\n"), 4,
     "layers.common.sorce", "unknown key; did you mean 'source'?"),
    ("unknown-top-level-key", BASE + "extras: 1\n", 19, "extras", "unknown key; remove it; allowed here"),
    ("unknown-build-key", variant("build: {method: files}", "build: {method: files, comand: x}"), 12,
     "layers.tools.build.comand", "did you mean 'command'?"),
    ("missing-field", variant("    build: {method: files}\n", ""), 10, "layers.tools.build",
     "required key is missing; add 'build:'"),
    ("missing-version", variant("version: 1\n", ""), 1, "version", "required key is missing; add 'version:'"),
    ("wrong-type-list", variant("[python3.11, python3.12]", "python3.12"), 8,
     "layers.common.compatible_runtimes", "expected a list, got the text 'python3.12'; write it as a list"),
    ("wrong-type-number", variant("  orders:\n", "  orders:\n    memory: lots\n"), 15,
     "functions.orders.memory", "expected a whole number, got the text 'lots'"),
    ("wrong-type-mapping", variant("build: {method: files}", "build: files"), 12, "layers.tools.build",
     "expected a mapping, got the text 'files'"),
    ("unknown-method", variant("method: python", "method: pyhton"), 6, "layers.common.build.method",
     "'pyhton' is not one of python, nodejs, files, command; use one of them"),
    ("unknown-runtime", variant("[python3.11, python3.12]", "[python3.11, pyhton3.12]"), 8,
     "layers.common.compatible_runtimes[1]", "is not a supported Lambda runtime; did you mean python3.12"),
    ("deprecated-runtime", variant("runtime: python3.12", "runtime: nodejs16.x"), 16,
     "functions.orders.runtime", "'nodejs16.x' is not a supported Lambda runtime"),
    ("wrong-version", variant("version: 1", "version: 2"), 1, "version", "2 is not supported, only 1 is"),
    ("duplicate-layer-name", variant("  tools:\n", "  common:\n"), 10, "layers.common",
     "duplicate key 'common' (first defined at line 3); remove or rename one"),
    ("duplicate-function-key", BASE + "  orders:\n    source: functions/orders\n", 19, "functions.orders",
     "duplicate key 'orders' (first defined at line 14)"),
    ("case-collision", variant("  tools:\n", "  Common:\n"), 10, "layers.Common",
     "differs from layer 'common' (line 3) only in letter case"),
    ("unknown-layer", variant("[common, tools]", "[common, toolz]"), 18, "functions.orders.layers[1]",
     "unknown layer 'toolz'; did you mean 'tools'?"),
    ("missing-layer-folder", variant("source: layers/common", "source: layers/nope"), 4,
     "layers.common.source", "folder 'layers/nope' does not exist"),
    ("missing-function-folder", variant("source: functions/orders", "source: functions/gone"), 15,
     "functions.orders.source", "folder 'functions/gone' does not exist"),
    ("missing-requirements", variant("requirements: requirements.txt", "requirements: reqs.txt"), 7,
     "layers.common.build.requirements", "file 'layers/common/reqs.txt' does not exist"),
    ("six-layers", variant("[common, tools]", f"[common, tools, {', '.join(repr(a) for a in VENDORS)}]"), 18,
     "functions.orders.layers", "lists 6 entries, at most 5 are allowed; remove 1"),
    ("incompatible-runtime", variant("runtime: python3.12", "runtime: python3.13"), 18,
     "functions.orders.layers[0]",
     "runs python3.13 but layer 'common' is compatible only with python3.11, python3.12; "
     "add python3.13 to layers.common.compatible_runtimes (line 8)"),
    ("incompatible-architecture",
     variant("    runtime: python3.12\n", "    runtime: python3.12\n    architecture: arm64\n"), 19,
     "functions.orders.layers[0]",
     "runs on arm64 but layer 'common' is compatible only with x86_64; "
     "add arm64 to layers.common.compatible_architectures (line 9)"),
    ("ignore-unknown-layer",
     BASE + "settings:\n  ignore:\n    - {layer: common}\n    - {layer: comon, function: orders}\n", 22,
     "settings.ignore[1].layer", "unknown layer 'comon'; name one of the layers: common, tools"),
    ("ignore-unknown-function",
     BASE + "settings:\n  ignore:\n    - {layer: tools, function: order}\n", 21,
     "settings.ignore[0].function", "unknown function 'order'; name one of the functions: orders"),
    ("ignore-without-layer", BASE + "settings:\n  ignore:\n    - {function: orders}\n", 21,
     "settings.ignore[0].layer", "required key is missing; add 'layer:'"),
    ("yaml-syntax", variant("[python3.11, python3.12]", "[python3.11, python3.12"), 9, "syntax",
     "fix the YAML syntax"),
    ("tab-indent", variant("    build: {method: files}\n", "\tbuild: {method: files}\n"), 12, "syntax",
     "indent with spaces, not tabs"),
    ("bad-layer-name", variant("  tools:\n", "  tools!:\n"), 10, "layers.tools!",
     "'tools!' is not a valid layer name; use only letters, digits, '-' and '_'"),
    ("long-layer-name", variant("  tools:\n", "  " + "t" * 141 + ":\n"), 10, "layers." + "t" * 141,
     "the layer name is 141 characters, at most 140 are allowed"),
    ("long-description", variant("  tools:\n", "  tools:\n    description: " + "d" * 257 + "\n"), 11,
     "layers.tools.description", "is 257 characters, at most 256 are allowed; shorten it by 1"),
    ("bad-region", variant("  tools:\n", "  tools:\n    regions: [us-east-1, useast2]\n"), 11,
     "layers.tools.regions[1]", "'useast2' is not a valid AWS region; use a region code such as us-east-1"),
    ("bad-account", variant("  tools:\n", "  tools:\n    share_with: {accounts: ['12345']}\n"), 11,
     "layers.tools.share_with.accounts[0]", "'12345' is not a valid AWS account id"),
    ("unquoted-account", BASE + "settings:\n  account: 123456789012\n", 20, "settings.account",
     'expected text, got the number 123456789012; put it in quotes, e.g. "123456789012"'),
    ("too-many-runtimes", variant("[python3.11, python3.12]", f"[{', '.join(SIXTEEN_RUNTIMES)}]"), 8,
     "layers.common.compatible_runtimes", "lists 16 entries, at most 15 are allowed"),
    ("too-many-architectures", variant("[x86_64]", "[x86_64, arm64, arm64]"), 9,
     "layers.common.compatible_architectures", "lists 3 entries, at most 2 are allowed"),
    ("same-layer-twice", variant("[common, tools]", "[common, tools, common]"), 18,
     "functions.orders.layers[2]", "layer 'common' is listed twice (also entry 0); remove the repeat"),
    ("command-without-command", variant("build: {method: files}", "build: {method: command}"), 12,
     "layers.tools.build", "method 'command' needs a 'command'"),
    ("python-without-requirements", variant("      requirements: requirements.txt\n", ""), 5,
     "layers.common.build", "a python layer needs 'requirements'"),
    ("requirements-for-files", variant("{method: files}", "{method: files, requirements: r.txt}"), 12,
     "layers.tools.build.requirements", "'requirements' is not used by method 'files'"),
    ("unbalanced-test-quotes", BASE + "    test: pytest -k 'slow\n", 19, "functions.orders.test",
     "cannot split \"pytest -k 'slow\" into arguments (No closing quotation); balance the quotes"),
    ("function-without-runtime", variant("    runtime: python3.12\n", ""), 14, "functions.orders",
     "function 'orders' has no 'runtime' and no template declares it"),
    ("missing-pin-file", BASE + "    pins: [deploy/template.yaml]\n", 19, "functions.orders.pins[0]",
     "file 'deploy/template.yaml' does not exist"),
    ("missing-template", BASE + "templates: [template.yaml]\n", 19, "templates[0]",
     "template 'template.yaml' does not exist"),
    ("timeout-out-of-range", BASE + "    timeout: 1000\n", 19, "functions.orders.timeout",
     "1000 is out of range; use a value from 1 to 900"),
    ("bad-environment-name", BASE + "    environment:\n      1BAD: x\n", 20,
     "functions.orders.environment.1BAD", "is not a valid environment variable name"),
    ("bad-pin-pattern", BASE + "settings:\n  pin_patterns: ['layer:(?P<layer>\\w+)']\n", 20,
     "settings.pin_patterns[0]", "has no (?P<version>...) group"),
    ("empty-layers", "version: 1\nlayers: {}\n", 2, "layers", "is empty; add at least one entry"),
    ("null-layers", "version: 1\nlayers:\n", 2, "layers", "expected a mapping, got nothing"),
    ("bad-arn", variant("[common, tools]", "[common, 'arn:aws:lambda:us-east-1:123:layer:x:1']"), 18,
     "functions.orders.layers[1]", "is not a valid layer name or layer version ARN"),
    ("unsupported-tag", variant("version: 1", "version: !!python/object:os.system 1"), 1, "version",
     "unsupported YAML tag"),
    ("two-documents", BASE + "---\nversion: 1\n", 19, "syntax", "keep a single YAML document"),
    ("empty-file", "", 1, "(top level)", "the file is empty; start it with 'version: 1'"),
    ("comments-only", "# nothing yet\n", 1, "(top level)", "the file is empty"),
    ("list-top-level", "- version: 1\n", 1, "(top level)", "the top level must be a mapping"),
    ("source-outside-repository", variant("source: layers/common", "source: ../elsewhere"), 4,
     "layers.common.source", "folder '../elsewhere' is outside the repository"),
    ("absolute-source-outside", variant("source: layers/common", "source: /usr/lib"), 4,
     "layers.common.source", "folder '/usr/lib' is outside the repository"),
    ("layer-source-is-the-root", variant("source: layers/common", "source: ."), 4, "layers.common.source",
     "a layer's source cannot be the repository root"),
    ("function-source-outside", variant("source: functions/orders", "source: ../functions/orders"), 15,
     "functions.orders.source", "folder '../functions/orders' is outside the repository"),
    ("own-account-arn-undeclared",
     variant("[common, tools]", "[common, 'arn:aws:lambda:us-east-1:000000000000:layer:toolz:3']"), 18,
     "functions.orders.layers[1]", "layer 'toolz' is not declared in layer-ci.yml; did you mean 'tools'?"),
    ("configured-account-arn-undeclared",
     variant("[common, tools]", "[common, 'arn:aws:lambda:eu-west-1:123456789012:layer:shared:3']")
     + "settings:\n  account: '123456789012'\n", 18, "functions.orders.layers[1]",
     "layer 'shared' is not declared in layer-ci.yml; declare it under layers:"),
    # Control characters and trailing newlines: names, regions and paths print as one line or not at all.
    ("newline-in-requirements", variant("requirements: requirements.txt",
                                        'requirements: "requirements.txt\\n::set-output name=x::y"'), 7,
     "layers.common.build.requirements", "is not a valid one-line value; remove the newline"),
    ("trailing-newline-in-source", variant("source: layers/tools", 'source: "layers/tools\\n"'), 11,
     "layers.tools.source", "'layers/tools\\n' is not a valid one-line value"),
    ("escape-in-handler", variant("handler: app.handler", 'handler: "app.handler\\e[2J"'), 17,
     "functions.orders.handler", "is not a valid one-line value"),
    ("carriage-return-in-template", BASE + 'templates: ["template.yaml\\r::warning::x"]\n', 19,
     "templates[0]", "is not a valid one-line value"),
    ("trailing-newline-in-layer-name", variant("  tools:\n", '  "tools\\n":\n'), 10,
     "layers['tools\\n']", "'tools\\n' is not a valid layer name"),
    ("trailing-newline-in-region", variant("    compatible_architectures: [x86_64]\n",
                                           '    compatible_architectures: [x86_64]\n'
                                           '    regions: ["us-east-1\\n"]\n'), 10,
     "layers.common.regions[0]", "'us-east-1\\n' is not a valid AWS region"),
]
# fmt: on
CASE_IDS = [case[0] for case in CASES]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    make_repo(tmp_path)
    return tmp_path


def expect_error(config: Path, line: int, field: str, words: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    error = caught.value
    message = error.one_line()
    assert message.startswith(f"{config}:{line}: {field}: "), message
    assert words in message
    assert error.location.line == line
    assert error.field == field
    assert "\n" not in str(error)
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
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "layer-ci.yml")
    assert caught.value.one_line() == (
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
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    assert caught.value.one_line() == (
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
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    message = caught.value.one_line()
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
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    assert caught.value.one_line().startswith(
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
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    assert caught.value.one_line() == (
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
