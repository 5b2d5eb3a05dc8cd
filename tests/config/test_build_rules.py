"""`schema --check` finds what `build` would refuse, in the same words, and template layers set the lists.

The slice is a SAM app as the AWS samples lay it out: template.yaml with a LayerVersion (ContentUri
layers/shared, Metadata BuildMethod) used by an arm64 and an x86_64 function, plus layer-ci.yml naming
only what the template does not say.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from layer_ci.config.loader import load_config
from tests.support.config_errors import cli_error_lines

LAYER_CI = [sys.executable, "-m", "layer_ci"]

TEMPLATE = """\
AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Description: orders service

Globals:
  Function:
    Runtime: python3.12
    Timeout: 10

Resources:
  SharedLayer:
    Type: AWS::Serverless::LayerVersion
    Properties:
      LayerName: shared
      ContentUri: layers/shared/
{layer_lists}      RetentionPolicy: Retain
    Metadata:
      BuildMethod: python3.12

  OrdersFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/orders/
      Handler: app.handler
      Architectures:
        - arm64
      Layers:
        - !Ref SharedLayer

  ReportsFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/reports/
      Handler: app.handler
{reports_layers}"""

REPORTS_LAYERS = "      Layers:\n        - !Ref SharedLayer\n"

CONFIG = """\
version: 1
layers:
  shared:
    source: layers/shared
    build:
      method: python
      requirements: requirements.txt
{extra}templates: [template.yaml]
"""


def sam_app(
    tmp_path: Path, *, layer_lists: str = "", extra: str = "", reports_layers: str = REPORTS_LAYERS
) -> Path:
    root = tmp_path / "sam-app"
    for folder in ("layers/shared", "functions/orders", "functions/reports"):
        (root / folder).mkdir(parents=True)
    (root / "layers/shared/requirements.txt").write_text("# no pins yet\n")
    (root / "layers/shared/shared.py").write_text("def ok():\n    return True\n")
    for function in ("orders", "reports"):
        (root / f"functions/{function}/app.py").write_text("def handler(event, context):\n    return {}\n")
    (root / "template.yaml").write_text(
        TEMPLATE.format(layer_lists=layer_lists, reports_layers=reports_layers)
    )
    (root / "layer-ci.yml").write_text(CONFIG.format(extra=extra))
    return root


def run(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*LAYER_CI, *args], cwd=root, capture_output=True, text=True, check=False)


# -- point 5: follow the template ---------------------------------------------------------------------


def test_template_layer_without_architectures_serves_an_arm64_function(tmp_path: Path) -> None:
    root = sam_app(tmp_path, layer_lists="      CompatibleRuntimes:\n        - python3.12\n")
    config = load_config(root / "layer-ci.yml")
    shared = config.layer("shared")
    # No CompatibleArchitectures: nothing restricted, so it is built for both functions' architectures.
    assert shared.compatible_architectures == ("x86_64", "arm64")
    assert shared.compatible_runtimes == ("python3.12",)  # from the template: not restated
    assert {f.name: f.architecture for f in config.functions} == {
        "OrdersFunction": "arm64",
        "ReportsFunction": "x86_64",
    }
    result = run(root, "schema", "--check")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok: 1 layers, 2 functions")


def test_template_layer_used_only_by_arm64_functions_is_built_for_arm64(tmp_path: Path) -> None:
    root = sam_app(tmp_path, layer_lists="      CompatibleRuntimes: [python3.12]\n", reports_layers="")
    config = load_config(root / "layer-ci.yml")
    assert config.layer("shared").compatible_architectures == ("arm64",)


def test_template_architectures_when_listed_are_followed_and_enforced(tmp_path: Path) -> None:
    root = sam_app(
        tmp_path,
        layer_lists="      CompatibleRuntimes: [python3.12]\n      CompatibleArchitectures: [x86_64]\n",
    )
    result = run(root, "schema", "--check")
    assert result.returncode == 2
    [line] = cli_error_lines(result)
    # Pointed at the arm64 function's Layers entry in the template, with the fix.
    assert line.startswith(
        "layer-ci: error: template.yaml:30: Resources.OrdersFunction.Properties.Layers[0]: "
    )
    assert "runs on arm64 but layer 'shared' is compatible only with x86_64" in line
    assert line.endswith(
        "add arm64 to CompatibleArchitectures of SharedLayer (template.yaml:17) "
        "or change the function's architecture"
    )


def test_layer_ci_yml_wins_over_the_template(tmp_path: Path) -> None:
    root = sam_app(
        tmp_path,
        layer_lists="      CompatibleRuntimes: [python3.12]\n",
        extra=(
            "    compatible_runtimes: [python3.11, python3.12]\n"
            "    compatible_architectures: [x86_64, arm64]\n"
        ),
    )
    shared = load_config(root / "layer-ci.yml").layer("shared")
    assert shared.compatible_runtimes == ("python3.11", "python3.12")


def test_unknown_architecture_in_the_template_is_one_line_at_its_line(tmp_path: Path) -> None:
    root = sam_app(
        tmp_path,
        layer_lists="      CompatibleRuntimes: [python3.12]\n      CompatibleArchitectures: [amd64]\n",
    )
    result = run(root, "schema", "--check")
    assert result.returncode == 2
    [line] = cli_error_lines(result)
    assert line.startswith("layer-ci: error: template.yaml:17: Resources.SharedLayer.Properties.")
    assert "'amd64'" in line


# -- point 4: one rule set, two callers --------------------------------------------------------------


def test_python_layer_without_runtimes_anywhere_fails_check_and_build_alike(tmp_path: Path) -> None:
    root = sam_app(tmp_path)  # neither layer-ci.yml nor the template lists runtimes
    check = run(root, "schema", "--check")
    assert check.returncode == 2
    [check_line] = cli_error_lines(check)
    assert check_line.startswith("layer-ci: error: layer-ci.yml:3: layers.shared.compatible_runtimes: ")
    assert "no python runtime listed (none)" in check_line


def nodejs_repo(tmp_path: Path, *, lock: bool, package: bool = True, requirements: str = "") -> Path:
    root = tmp_path / "node-app"
    source = root / "layers" / "node-utils"
    source.mkdir(parents=True)
    if package:
        (source / "package.json").write_text('{"name": "utils", "version": "1.0.0"}\n')
    if lock:
        (source / "package-lock.json").write_text(
            '{"name": "utils", "version": "1.0.0", "lockfileVersion": 3, "packages": {"": {}}}\n'
        )
    (source / "index.js").write_text("exports.x = 1;\n")
    build = "{method: nodejs" + (f", requirements: {requirements}" if requirements else "") + "}"
    (root / "layer-ci.yml").write_text(
        "version: 1\nlayers:\n  node-utils:\n    source: layers/node-utils\n"
        f"    build: {build}\n    compatible_runtimes: [nodejs20.x]\n"
    )
    return root


def test_nodejs_layer_without_a_lock_file_is_found_by_check_and_build_in_the_same_words(
    tmp_path: Path,
) -> None:
    root = nodejs_repo(tmp_path, lock=False)
    check = run(root, "schema", "--check")
    assert check.returncode == 2
    [check_line] = cli_error_lines(check)
    expected = (
        "layers.node-utils.build: no package-lock.json or npm-shrinkwrap.json in "
        f"{root / 'layers' / 'node-utils'}; run `npm install` there and commit the lock file"
    )
    assert check_line.startswith("layer-ci: error: layer-ci.yml:5: " + expected), check_line
    # build loads the same config, so it stops at the same line before any npm runs
    build = run(root, "build")
    assert cli_error_lines(build) == [check_line]


def test_the_builder_itself_applies_the_rules_to_a_spec_made_by_hand(tmp_path: Path) -> None:
    """A LayerSpec that never went through the loader (the API) is refused by build in the same words."""
    from dataclasses import replace

    from layer_ci.build.layer import build_layer
    from layer_ci.errors import BuildError

    root = nodejs_repo(tmp_path, lock=True)
    spec = load_config(root / "layer-ci.yml").layer("node-utils")
    (spec.source / "package-lock.json").unlink()
    with pytest.raises(
        BuildError, match=r"layer-ci\.yml:3: layers\.node-utils\.build: no package-lock\.json"
    ):
        build_layer(spec, tmp_path / "out", input_key="k")
    with pytest.raises(BuildError, match=r"layers\.node-utils\.compatible_architectures: empty"):
        build_layer(replace(spec, compatible_architectures=()), tmp_path / "out", input_key="k")


def test_lock_file_without_package_json_beside_it_is_a_config_error(tmp_path: Path) -> None:
    root = nodejs_repo(tmp_path, lock=True, package=False)
    check = run(root, "schema", "--check")
    assert check.returncode == 2
    [line] = cli_error_lines(check)
    assert "layers.node-utils.build: " in line
    assert "package.json does not exist beside package-lock.json" in line
