"""Tests for `layer-ci pins`: every pin with its place, and how it stands against the lock."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from layer_ci import cli
from layer_ci.commands.pins_command import pin_status
from layer_ci.pins.find import find_pins_in_text
from layer_ci.plan.lockfile import Lock, LockedLayer, PublishedRef, lock_path

CONFIG = """\
version: 1
settings:
  pin_patterns:
    - '^(?P<layer>\\w+)_layer_version\\s*=\\s*(?P<version>[0-9]+)$'
layers:
  common-deps:
    source: layers/common-deps
    build: {method: files}
    compatible_runtimes: [python3.11]
    regions: [us-east-1, eu-west-1]
"""

TEMPLATE = """\
Resources:
  Orders:
    Properties:
      Layers:
        - arn:aws:lambda:us-east-1:000000000000:layer:common-deps:3
        - arn:aws:lambda:eu-west-1:000000000000:layer:common-deps:5
        - !Sub arn:aws:lambda:${AWS::Region}:000000000000:layer:common-deps:2
        - arn:aws:lambda:ap-south-1:000000000000:layer:common-deps:2
        - arn:aws:lambda:us-east-1:999999999999:layer:common-deps:3
        - arn:aws:lambda:us-east-1:464622532012:layer:Datadog-Python311:3
"""


def published(us_east: int, eu_west: int) -> dict[str, dict[str, tuple[int, str]]]:
    return {
        "common-deps": {
            "us-east-1": (us_east, f"arn:aws:lambda:us-east-1:000000000000:layer:common-deps:{us_east}"),
            "eu-west-1": (eu_west, f"arn:aws:lambda:eu-west-1:000000000000:layer:common-deps:{eu_west}"),
        }
    }


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "layers" / "common-deps").mkdir(parents=True)
    (tmp_path / "layer-ci.yml").write_text(CONFIG)
    (tmp_path / "template.yaml").write_text(TEMPLATE)
    (tmp_path / "prod.tfvars").write_text("common_deps_layer_version = 4\n")
    refs = {
        region: PublishedRef(version, arn)
        for region, (version, arn) in published(4, 5)["common-deps"].items()
    }
    lock = Lock({"common-deps": LockedLayer("sha256:" + "a" * 64, "b" * 64, refs)})
    lock_path(tmp_path).write_text(lock.render())
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_text_lists_place_layer_region_version_and_status(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["pins"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["PLACE", "LAYER", "REGION", "VERSION", "STATUS"]
    rows = [line.split(None, 4) for line in lines[1:-1]]
    assert rows == [
        ["prod.tfvars:1:29", "common-deps", "*", "4", "per-region"],
        ["template.yaml:5:67", "common-deps", "us-east-1", "3", "behind (lock: 4)"],
        ["template.yaml:6:67", "common-deps", "eu-west-1", "5", "current"],
        ["template.yaml:7:77", "common-deps", "*", "2", "per-region"],
        ["template.yaml:8:68", "common-deps", "ap-south-1", "2", "region-not-published"],
        ["template.yaml:9:67", "common-deps", "us-east-1", "3", "other-account"],
        ["template.yaml:10:73", "Datadog-Python311", "us-east-1", "3", "not-in-lock"],
    ]
    assert lines[-1] == (
        "7 pins in 2 files: 1 behind, 1 current, 1 not-in-lock, 1 other-account, "
        "2 per-region, 1 region-not-published"
    )


def test_json_output_carries_positions_spans_and_status(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["--config", str(repo / "layer-ci.yml"), "pins", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["pins"]
    assert len(rows) == 7
    behind = rows[1]
    assert behind["path"] == "template.yaml" and (behind["line"], behind["column"]) == (5, 67)
    assert (behind["status"], behind["version"], behind["published_version"]) == ("behind", 3, 4)
    text = (repo / "template.yaml").read_text()
    assert text[behind["start"] : behind["end"]] == "3"
    assert rows[0]["kind"] == "pattern" and rows[0]["region"] is None


def test_a_bad_pin_pattern_is_one_line_and_exit_2(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / "layer-ci.yml").write_text(CONFIG.replace("(?P<version>[0-9]+)$", "(?P<version>[0-9]+$"))
    assert cli.main(["pins"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("layer-ci: error: layer-ci.yml:") and "pin_patterns" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("arn", "status", "lock_version"),
    [
        ("arn:aws:lambda:us-east-1:000000000000:layer:common-deps:4", "current", 4),
        ("arn:aws:lambda:us-east-1:000000000000:layer:common-deps:9", "ahead", 4),
        ("arn:aws:lambda:${AWS::Region}:000000000000:layer:common-deps:3", "behind", 4),
        ("arn:aws:lambda:eu-west-1:000000000000:layer:common-deps:4", "current", 4),
        ("arn:aws:lambda:us-east-1:000000000000:layer:tools:1", "not-in-lock", None),
    ],
)
def test_status_against_the_lock(arn: str, status: str, lock_version: int | None) -> None:
    (pin,) = find_pins_in_text(arn, "t")
    assert pin_status(pin, published(4, 4)) == (status, lock_version)


def test_no_pins_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "layers" / "common-deps").mkdir(parents=True)
    (tmp_path / "layer-ci.yml").write_text(CONFIG)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["pins"]) == 0
    assert capsys.readouterr().out.strip() == "no layer version pins found"


def test_a_runaway_pin_pattern_stops_with_the_file_it_ran_on(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # (a|aa)+ before a character that never comes backtracks exponentially in the length of the run.
    runaway = "'(?P<layer>(a|aa)+)b(?P<version>[0-9]+)'"
    (repo / "layer-ci.yml").write_text(
        CONFIG.replace("'^(?P<layer>\\w+)_layer_version\\s*=\\s*(?P<version>[0-9]+)$'", runaway)
    )
    (repo / "prod.tfvars").write_text("a" * 60 + "c\n")
    started = time.monotonic()
    assert cli.main(["pins"]) == 2
    assert time.monotonic() - started < 30  # with Python's re it ran for hours
    err = capsys.readouterr().err
    assert err.startswith("layer-ci: error: layer-ci.yml") and "settings.pin_patterns[0]" in err
    assert "on prod.tfvars (catastrophic backtracking)" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
