"""Good layer-ci.yml files load into the model with defaults applied and paths made absolute."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from layer_ci.config.loader import load_config
from layer_ci.errors import Location
from layer_ci.model import BuildSpec, Settings, Sharing

DOCS = Path(__file__).resolve().parents[2] / "docs" / "config.md"


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


def docs_example() -> str:
    match = re.search(r"```yaml\n(.*?)```", DOCS.read_text(), re.DOTALL)
    assert match is not None
    return match.group(1)


def test_the_documented_example_loads_as_described(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "layer-ci.yml": docs_example(),
            "layers/common-deps/requirements.txt": "six==1.16.0\n",
            "layers/tools/bin/tool": "#!/bin/sh\n",
            "functions/orders/app.py": "def handler(event, context):\n    return 1\n",
            "template.yaml": "Resources: {}\n",
        },
    )
    config = load_config(tmp_path / "layer-ci.yml")
    assert config.root == tmp_path.resolve()
    assert config.templates == ("template.yaml",)
    assert config.settings == Settings(
        registry="local",
        registry_path=".layer-ci/registry",
        account="000000000000",
        artifact_bucket=None,
        retry_mode="standard",
        pr_mode="per-layer",
        labels=("layer-ci",),
        failure_label="layer-ci:tests-failed",
        auto_merge=False,
        prune_keep=5,
        prune_grace_days=14,
        pin_patterns=(),
    )
    common = config.layer("common-deps")
    assert common.source == tmp_path.resolve() / "layers/common-deps"
    assert common.build == BuildSpec(method="python", requirements="requirements.txt", binary_only=True)
    assert common.compatible_runtimes == ("python3.11", "python3.12")
    assert common.sharing == Sharing(accounts=("123456789012",), organization="o-a1b2c3d4e5", public=False)
    assert common.license == "MIT"
    assert common.regions == ("us-east-1",)
    assert common.location.line == 19
    orders = config.function("orders")
    assert orders.layers == ("common-deps", "tools")
    assert orders.external_layers == ("arn:aws:lambda:us-east-1:464622532012:layer:Datadog-Extension:65",)
    assert orders.ordered_layers() == (*orders.layers, *orders.external_layers)
    assert orders.test_command == ("python", "-m", "pytest", "-q")
    assert orders.pin_files == ("template.yaml",)
    assert orders.environment == (("TABLE", "orders"),)
    assert (orders.memory_mb, orders.timeout_s, orders.architecture) == (128, 3, "x86_64")
    assert config.consumers("tools") == (orders,)


def test_defaults_and_string_commands(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "layer-ci.yml": """\
                version: 1
                layers:
                  bin:
                    source: layers/bin
                    build:
                      method: command
                      command: make layer OUT="$LAYER_CI_OUT"
                functions:
                  worker:
                    source: functions/worker
                    runtime: provided.al2023
                    layers: [bin]
                    test: "pytest -k 'not slow' -q"
                    environment: {DEBUG: true, RETRIES: 3, NAME: x}
                """,
            "layers/bin/Makefile": "layer:\n",
            "functions/worker/main.sh": "",
        },
    )
    config = load_config(tmp_path / "layer-ci.yml")
    layer = config.layer("bin")
    assert layer.build.command == ("make", "layer", "OUT=$LAYER_CI_OUT")
    assert layer.compatible_architectures == ("x86_64",)
    assert layer.compatible_runtimes == ()
    assert layer.regions == ("us-east-1",)
    assert layer.description == ""
    assert layer.location == Location(str(tmp_path / "layer-ci.yml"), 3)
    worker = config.function("worker")
    assert worker.test_command == ("pytest", "-k", "not slow", "-q")
    assert worker.environment == (("DEBUG", "true"), ("RETRIES", "3"), ("NAME", "x"))
    assert worker.handler == ""
    assert worker.pin_files == ()
    assert worker.location.line == 9


def test_default_path_is_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(
        tmp_path,
        {
            "layer-ci.yml": "version: 1\nlayers:\n  x: {source: x, build: {method: files}}\n",
            "x/file": "",
        },
    )
    monkeypatch.chdir(tmp_path)
    config = load_config(None)
    assert config.path == tmp_path.resolve() / "layer-ci.yml"
    assert config.functions == ()
    assert config.layer("x").location == Location("layer-ci.yml", 3)


def test_yaml_anchors_and_merge_keys_are_understood(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "layer-ci.yml": """\
                version: 1
                layers:
                  a: &python-layer
                    source: a
                    build: {method: python, requirements: requirements.txt}
                    compatible_runtimes: [python3.12]
                  b:
                    <<: *python-layer
                    source: b
                """,
            "a/requirements.txt": "",
            "b/requirements.txt": "",
        },
    )
    config = load_config(tmp_path / "layer-ci.yml")
    assert config.layer("b").source == tmp_path.resolve() / "b"
    assert config.layer("b").compatible_runtimes == ("python3.12",)


def test_vendor_arn_naming_a_declared_layer_is_that_layer(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "layer-ci.yml": """\
                version: 1
                layers:
                  common: {source: common, build: {method: files}}
                functions:
                  f:
                    source: f
                    runtime: nodejs22.x
                    layers:
                      - arn:aws:lambda:eu-west-1:123456789012:layer:common:4
                      - arn:aws:lambda:eu-west-1:123456789012:layer:other:9
                """,
            "common/x": "",
            "f/index.js": "",
        },
    )
    function = load_config(tmp_path / "layer-ci.yml").function("f")
    assert function.layers == ("common",)
    assert function.external_layers == ("arn:aws:lambda:eu-west-1:123456789012:layer:other:9",)
    assert function.layer_order == ("common", "arn:aws:lambda:eu-west-1:123456789012:layer:other:9")


def test_yaml_1_2_flow_lists_may_hold_unquoted_arns(tmp_path: Path) -> None:
    vendor = "arn:aws:lambda:us-east-1:464622532012:layer:Datadog-Extension:65"
    write(
        tmp_path,
        {
            "layer-ci.yml": f"""\
                version: 1
                layers: {{x: {{source: x, build: {{method: files}}}}}}
                functions:
                  f: {{source: f, runtime: python3.12, layers: [x, {vendor}]}}
                """,
            "x/file": "",
            "f/app.py": "",
        },
    )
    assert load_config(tmp_path / "layer-ci.yml").function("f").layer_order == ("x", vendor)
