"""The push flow's outcome: one layer row per target and region, for the Action's summary and the CLI."""

from __future__ import annotations

from pathlib import Path

from layer_ci.flows.outcome import BuiltSummary, PushOutcome
from layer_ci.model import PublishedVersion
from layer_ci.plan.changes import make_plan
from layer_ci.plan.lockfile import Lock
from tests.support.repos import config_of, layer_spec

ARN = "arn:aws:lambda:{region}:000000000000:layer:tools:{version}"


def _outcome(tmp_path: Path, *, dry_run: bool = False) -> PushOutcome:
    (tmp_path / "tools").mkdir(exist_ok=True)
    config = config_of(
        tmp_path, (layer_spec(tmp_path / "tools", "tools", regions=("us-east-1", "eu-west-1")),)
    )
    return PushOutcome(
        plan=make_plan(config, Lock()),
        mode="local",
        dry_run=dry_run,
        targets={"tools": ("us-east-1", "eu-west-1", "ap-south-1")},
        built=(BuiltSummary("tools", tmp_path / "tools.zip", "0" * 64, 2_000, 345_000),),
        published=(
            PublishedVersion(
                "tools", "us-east-1", 4, ARN.format(region="us-east-1", version=4), "0" * 64, True
            ),
            PublishedVersion(
                "tools", "eu-west-1", 2, ARN.format(region="eu-west-1", version=2), "0" * 64, False
            ),
        ),
    )


def test_each_target_region_gets_one_row_with_its_version(tmp_path: Path) -> None:
    rows = _outcome(tmp_path).layer_rows()
    assert [(row.region, row.version_label) for row in rows] == [
        ("us-east-1", "v4"),
        ("eu-west-1", "v2 (reused)"),
        ("ap-south-1", "-"),  # targeted, not published (a failure stopped the run)
    ]
    assert {row.reason for row in rows} == {"new layer (not in layer-ci.lock)"}
    assert rows[0].built is not None and (rows[0].built.zipped_label, rows[0].built.unzipped_label) == (
        "2.0 kB",
        "0.3 MB",
    )


def test_a_dry_run_shows_no_version(tmp_path: Path) -> None:
    rows = _outcome(tmp_path, dry_run=True).layer_rows()
    assert {row.version_label for row in rows} == {"dry run"}
