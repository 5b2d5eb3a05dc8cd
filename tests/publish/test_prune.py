"""Prune against moto in server mode and the local registry: what stays (and why), what goes, --apply."""

from __future__ import annotations

import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from layer_ci.cli import main
from layer_ci.errors import UsageError
from layer_ci.model import Config, Settings
from layer_ci.pins.find import find_pins
from layer_ci.plan.lockfile import Lock, LockedLayer, PublishedRef
from layer_ci.publish.folder_registry import LocalRegistry
from layer_ci.publish.prune import apply_prune, plan_prune, render_table
from layer_ci.publish.registry_contract import LayerRegistry
from tests.support.aws import MOTO_ACCOUNT, AwsEnv, create_function, layer_spec

LATER = datetime.now(UTC) + timedelta(days=30)


def _publish(registry: LayerRegistry, tmp_path: Path, count: int, name: str = "deps") -> None:
    for index in range(count):
        path = tmp_path / f"{name}-{index}.zip"
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("python/m.py", f"v = {index}\n")
        registry.publish(layer_spec(name), path, "d")


def _aws(region: str) -> LayerRegistry:
    from layer_ci.adapters.aws import AwsAdapter
    from layer_ci.publish.lambda_registry import AwsRegistry

    return AwsRegistry(AwsAdapter(region))


def _arn(version: int, account: str = MOTO_ACCOUNT) -> str:
    return f"arn:aws:lambda:us-east-1:{account}:layer:deps:{version}"


def _repo(tmp_path: Path, pinned: int, account: str = MOTO_ACCOUNT) -> Config:
    root = tmp_path / "repo"
    root.mkdir()
    (root / "template.yaml").write_text(
        f"Resources:\n  Catalog:\n    Properties:\n      Layers:\n        - {_arn(pinned, account)}\n"
    )
    return Config(
        root=root,
        path=root / "layer-ci.yml",
        layers=(layer_spec("deps"),),
        functions=(),
        settings=Settings(account=account),
    )


def test_prune_keeps_used_pinned_and_newest_and_deletes_the_rest(aws: AwsEnv, tmp_path: Path) -> None:
    registry = _aws("us-east-1")
    _publish(registry, tmp_path, 7)
    lam = aws.client("lambda")
    # orders: $LATEST runs v2; its published version 1 (still reachable through an alias) runs v1.
    create_function(aws, "orders", [_arn(1)], publish=True)
    lam.update_function_configuration(FunctionName="orders", Layers=[_arn(2)])
    config = _repo(tmp_path, pinned=4)
    lock = Lock().with_layer(
        "deps", LockedLayer("sha256:" + "0" * 64, "1" * 64, {"us-east-1": PublishedRef(6, _arn(6))})
    )

    decisions = plan_prune(
        config, _aws, find_pins(config.root, config), lock, keep=2, grace_days=14, now=LATER
    )
    table = {d.version: (d.action, d.reason) for d in decisions}
    assert table == {
        7: ("keep", "newest; among the newest 2"),
        6: ("keep", "recorded in layer-ci.lock; among the newest 2"),
        5: (
            "delete",
            "older than 14 days, not pinned, not used by any function in us-east-1, beyond the newest 2",
        ),
        4: ("keep", "pinned at template.yaml:5"),
        3: (
            "delete",
            "older than 14 days, not pinned, not used by any function in us-east-1, beyond the newest 2",
        ),
        2: ("keep", "used by function orders"),
        1: ("keep", "used by function orders:1"),
    }
    assert sorted(v.version for v in registry.list_versions("deps")) == [1, 2, 3, 4, 5, 6, 7]  # a dry run

    deleted = apply_prune(decisions, _aws)
    assert [d.version for d in deleted] == [5, 3]
    assert sorted(v.version for v in registry.list_versions("deps")) == [1, 2, 4, 6, 7]


def test_grace_period_keeps_recent_versions(aws: AwsEnv, tmp_path: Path) -> None:
    _publish(_aws("us-east-1"), tmp_path, 3)
    config = _repo(tmp_path, pinned=1)
    decisions = plan_prune(config, _aws, [], Lock(), keep=0, grace_days=14, now=datetime.now(UTC))
    assert [d.action for d in decisions] == ["keep", "keep", "keep"]
    assert "inside the 14-day grace period" in decisions[1].reason


def test_the_newest_version_is_never_deleted_even_with_keep_0(tmp_path: Path) -> None:
    def factory(region: str) -> LayerRegistry:
        return LocalRegistry(tmp_path / "reg", region)

    _publish(factory("us-east-1"), tmp_path, 3)
    config = _repo(tmp_path, pinned=99)
    decisions = plan_prune(config, factory, [], Lock(), keep=0, grace_days=0, now=LATER)
    assert [(d.version, d.action) for d in decisions] == [(3, "keep"), (2, "delete"), (1, "delete")]
    assert decisions[0].reason == "newest"


def test_bad_arguments_are_usage_errors(tmp_path: Path) -> None:
    config = _repo(tmp_path, pinned=1)
    with pytest.raises(UsageError, match="--keep must be 0 or more"):
        plan_prune(config, lambda r: LocalRegistry(tmp_path, r), [], Lock(), keep=-1, grace_days=0, now=LATER)
    with pytest.raises(UsageError, match=r"unknown layer 'nope'; layer-ci\.yml declares: deps"):
        plan_prune(
            config,
            lambda r: LocalRegistry(tmp_path, r),
            [],
            Lock(),
            keep=1,
            grace_days=0,
            now=LATER,
            layers=["nope"],
        )


def test_table_has_a_row_per_version_with_action_and_reason(tmp_path: Path) -> None:
    def factory(region: str) -> LayerRegistry:
        return LocalRegistry(tmp_path / "reg", region, clock=lambda: datetime(2024, 1, 2, tzinfo=UTC))

    _publish(factory("us-east-1"), tmp_path, 2)
    decisions = plan_prune(_repo(tmp_path, pinned=9), factory, [], Lock(), keep=1, grace_days=0, now=LATER)
    assert render_table(decisions).splitlines() == [
        "LAYER  REGION     VERSION  CREATED     ACTION  REASON",
        "deps   us-east-1  2        2024-01-02  keep    newest; among the newest 1",
        "deps   us-east-1  1        2024-01-02  delete  older than 0 days, not pinned, not used by any "
        "function in us-east-1, beyond the newest 1",
    ]


CONFIG = """\
version: 1
settings:
  registry: local
layers:
  deps:
    source: layers/deps
    build: {method: files}
    compatible_runtimes: [python3.11]
    regions: [us-east-1]
"""


def test_prune_command_deletes_only_with_apply(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "repo"
    (root / "layers" / "deps" / "python").mkdir(parents=True)
    (root / "layers" / "deps" / "python" / "d.py").write_text("d = 1\n")
    (root / "layer-ci.yml").write_text(CONFIG)
    (root / "serverless.yml").write_text(f"layers:\n  - {_arn(2, '000000000000')}\n")
    registry = LocalRegistry(root / ".layer-ci" / "registry", "us-east-1")
    _publish(registry, tmp_path, 4)
    argv = ["--config", str(root / "layer-ci.yml"), "prune", "--keep", "1", "--grace-days", "0"]

    assert main(argv) == 0
    captured = capsys.readouterr()
    rows = [line.split()[:5] for line in captured.out.splitlines()[1:]]
    assert [(r[2], r[4]) for r in rows] == [("4", "keep"), ("3", "delete"), ("2", "keep"), ("1", "delete")]
    assert "pinned at serverless.yml:2" in captured.out
    assert "dry run: 2 version(s) would be deleted; nothing was deleted" in captured.err
    assert len(registry.list_versions("deps")) == 4

    assert main([*argv, "--apply"]) == 0
    assert "deleted 2 version(s)" in capsys.readouterr().err
    assert [v.version for v in registry.list_versions("deps")] == [4, 2]
