"""Tests for finding pins: exact positions and spans, strict boundaries, which files are read."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from layer_ci.errors import ConfigError
from layer_ci.model import BuildSpec, Config, LayerSpec, Settings
from layer_ci.pins.find import MAX_FILE_BYTES, find_pins, find_pins_in_text

ARN = "arn:aws:lambda:us-east-1:111111111111:layer:x:1"


def config_for(root: Path, *patterns: str, layers: tuple[str, ...] = ()) -> Config:
    specs = tuple(
        LayerSpec(
            name=name,
            source=root,
            build=BuildSpec("files"),
            compatible_runtimes=(),
            compatible_architectures=("x86_64",),
            regions=("us-east-1",),
        )
        for name in layers
    )
    return Config(
        root=root,
        path=root / "layer-ci.yml",
        layers=specs,
        functions=(),
        settings=Settings(pin_patterns=patterns),
    )


def test_pin_records_line_column_span_and_parts() -> None:
    text = "first line 1\n  layers: [" + ARN + "]\n"
    (pin,) = find_pins_in_text(text, "t.yaml")
    assert (pin.path, pin.line, pin.column) == ("t.yaml", 2, 12 + len(ARN) - 1)
    assert text[pin.start : pin.end] == "1" and pin.end - pin.start == 1
    assert text[pin.text_start : pin.text_start + len(pin.text)] == pin.text == ARN
    assert (pin.layer, pin.region, pin.account, pin.partition, pin.version) == (
        "x",
        "us-east-1",
        "111111111111",
        "aws",
        1,
    )
    assert pin.location == f"t.yaml:2:{pin.column}"


def test_columns_ignore_the_bom_and_lines_count_crlf_once() -> None:
    text = "\ufeffa: " + ARN + "\r\nb: " + ARN + "\r\n"
    first, second = find_pins_in_text(text, "t")
    assert (first.line, first.column) == (1, 4 + len(ARN) - 1)
    assert (second.line, second.column) == (2, 4 + len(ARN) - 1)


@pytest.mark.parametrize(
    "text",
    [
        "x" + ARN,  # preceded by a word character
        "_" + ARN,
        "9" + ARN,
        ARN + "a",  # version followed by a word character
        ARN + "_beta",
        ARN.replace(":layer:x:1", ":layer:x:"),
        ARN.replace("111111111111", "11111111111"),
        ARN.replace("111111111111", "1111111111111"),
        ARN.replace("arn:aws:", "arn:aws-iso:"),
        ARN.replace(":lambda:", ":lambda-edge:"),
        ARN.replace(":layer:", ":function:"),
        ARN.replace("us-east-1", "useast1"),
        ARN + "12345678901",  # an 11+ digit version is not a version
    ],
)
def test_near_misses_are_not_pins(text: str) -> None:
    assert find_pins_in_text(f"a {text} b", "t") == []


def test_version_boundaries_are_strict_but_punctuation_ends_a_pin() -> None:
    text = f"{ARN}0 ({ARN}) '{ARN}'-{ARN}.zip {ARN}\\n -{ARN}"
    pins = find_pins_in_text(text, "t")
    assert [pin.version for pin in pins] == [10, 1, 1, 1, 1, 1]
    assert all(text[pin.start : pin.end] == str(pin.version) for pin in pins)


def test_each_reference_is_extracted_once_even_when_a_pattern_also_matches(tmp_path: Path) -> None:
    (tmp_path / "t.yaml").write_text(f"a: {ARN}\nb: {ARN}\n")
    config = config_for(
        tmp_path, r"layer:(?P<layer>[\w-]+):(?P<version>[0-9]+)", r":(?P<layer>x):(?P<version>1)"
    )
    pins = find_pins(tmp_path, config)
    assert [(pin.line, pin.kind) for pin in pins] == [(1, "arn"), (2, "arn")]


def test_walk_skips_tool_folders_binaries_big_files_symlinks_and_the_lock(tmp_path: Path) -> None:
    for folder in (".git", "node_modules", ".venv", ".layer-ci", "sub/node_modules"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "t.yaml").write_text(ARN)
    (tmp_path / "binary.bin").write_bytes(b"\0" + ARN.encode())
    (tmp_path / "late_nul.txt").write_bytes(b"x" * 9000 + b"\0 " + ARN.encode())
    (tmp_path / "big.yaml").write_bytes(ARN.encode() + b" " * MAX_FILE_BYTES)
    (tmp_path / "layer-ci.lock").write_text(ARN)
    (tmp_path / "sub" / "layer-ci.lock").write_text(ARN)  # only the root lock is layer-ci's own
    (tmp_path / "ignored.yaml").write_text(ARN)
    (tmp_path / ".gitignore").write_text("ignored.yaml\n")
    outside = tmp_path.parent / f"{tmp_path.name}-outside.yaml"
    outside.write_text(ARN)
    os.symlink(outside, tmp_path / "link.yaml")
    os.symlink(tmp_path / "sub", tmp_path / "linked-dir")
    (tmp_path / "sub" / "deep").mkdir()
    (tmp_path / "sub" / "deep" / "t.tf").write_text(ARN)
    paths = [pin.path for pin in find_pins(tmp_path)]
    assert paths == ["ignored.yaml", "late_nul.txt", "sub/deep/t.tf", "sub/layer-ci.lock"]


def test_non_utf8_files_are_still_searched(tmp_path: Path) -> None:
    (tmp_path / "latin1.yaml").write_bytes("# café\n".encode("latin-1") + ARN.encode())
    (pin,) = find_pins(tmp_path)
    assert (pin.line, pin.version) == (2, 1)


def test_string_pattern_maps_a_variable_name_to_the_configured_layer(tmp_path: Path) -> None:
    (tmp_path / "terraform.tfvars").write_text(
        'region = "us-east-1"\ncommon_deps_layer_version = 3\nunknown_thing_layer_version = 8\nreplicas = 3\n'
    )
    config = config_for(
        tmp_path, r"^(?P<layer>\w+)_layer_version\s*=\s*(?P<version>[0-9]+)$", layers=("common-deps",)
    )
    pins = find_pins(tmp_path, config)
    assert [(pin.layer, pin.version, pin.line, pin.column, pin.region, pin.kind) for pin in pins] == [
        ("common-deps", 3, 2, 29, None, "pattern"),
        ("unknown_thing", 8, 3, 31, None, "pattern"),
    ]


def test_mapping_pattern_fixes_layer_and_region_and_limits_files(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("layer_version: 5\n")
    (tmp_path / "b.json").write_text('{"layer_version": 5}\n')
    config = config_for(tmp_path)
    entry = {
        "regex": r"layer_version\W+(?P<version>[0-9]+)",
        "layer": "tools",
        "region": "eu-west-1",
        "files": ["*.yaml"],
    }
    config = Config(
        root=tmp_path, path=config.path, layers=(), functions=(), settings=Settings(pin_patterns=(entry,))
    )  # type: ignore[arg-type]
    (pin,) = find_pins(tmp_path, config)
    assert (pin.path, pin.layer, pin.region, pin.version) == ("a.yaml", "tools", "eu-west-1", 5)


def test_pattern_versions_must_stand_alone(tmp_path: Path) -> None:
    (tmp_path / "v.txt").write_text("x_layer_version=12\n")
    pins = find_pins(tmp_path, config_for(tmp_path, r"(?P<layer>x)_layer_version=(?P<version>1)"))
    assert pins == []


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        ("(?P<layer>x", "invalid regex"),
        ("(?P<layer>x)=(?P<v>[0-9]+)", "no (?P<version>...) group"),
        ("version=(?P<version>[0-9]+)", "no (?P<layer>...) group"),
        ("(?P<layer>x?)(?P<version>[0-9]*)", "matches the empty string"),
    ],
)
def test_bad_patterns_fail_with_field_and_fix(tmp_path: Path, pattern: str, problem: str) -> None:
    (tmp_path / "t.yaml").write_text("nothing here\n")
    with pytest.raises(ConfigError) as info:
        find_pins(tmp_path, config_for(tmp_path, "(?P<layer>ok)(?P<version>[0-9])", pattern))
    message = info.value.one_line()
    assert message.startswith("layer-ci.yml: settings.pin_patterns[1]")
    assert problem in message and "; " in message
