"""The folder registry: its on-disk layout, safe numbering under concurrent writers, hostile names."""

from __future__ import annotations

import json
import multiprocessing
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from layer_ci.errors import UsageError
from layer_ci.publish.folder_registry import LocalRegistry
from layer_ci.publish.registry_contract import code_sha256_b64
from tests.support.aws import layer_spec


def _zip(path: Path, content: bytes) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(zipfile.ZipInfo("bin/tool", (1980, 1, 1, 0, 0, 0)), content)
    return path


def test_layout_is_region_layer_version_with_lambda_style_metadata(tmp_path: Path) -> None:
    clock = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    registry = LocalRegistry(tmp_path / "reg", "eu-west-1", account="111122223333", clock=lambda: clock)
    zip_path = _zip(tmp_path / "a.zip", b"hello")
    info = registry.publish(layer_spec("tools"), zip_path, "desc")
    folder = tmp_path / "reg" / "eu-west-1" / "tools"
    assert (folder / "1.zip").read_bytes() == zip_path.read_bytes()
    record = json.loads((folder / "1.json").read_text())
    assert record["CodeSha256"] == code_sha256_b64(info.code_sha256_hex)
    assert record["LayerVersionArn"] == "arn:aws:lambda:eu-west-1:111122223333:layer:tools:1"
    assert record["CreatedDate"] == "2024-05-06T07:08:09+00:00"
    assert info.location == (folder / "1.zip").as_uri()
    assert not list(folder.glob(".publish-*"))  # the staged copy was renamed, not left behind


def _publish_many(base: str, count: int, worker: int) -> list[int]:
    registry = LocalRegistry(Path(base), "us-east-1")
    zip_path = _zip(Path(base).parent / f"w{worker}.zip", str(worker).encode())
    return [registry.publish(layer_spec("busy"), zip_path, "d").version for _ in range(count)]


def test_concurrent_processes_never_share_a_version_number(tmp_path: Path) -> None:
    base = tmp_path / "reg"
    context = multiprocessing.get_context("fork")
    with context.Pool(4) as pool:
        results = pool.starmap(_publish_many, [(str(base), 5, worker) for worker in range(4)])
    numbers = sorted(n for result in results for n in result)
    assert numbers == list(range(1, 21))
    assert len(LocalRegistry(base, "us-east-1").list_versions("busy")) == 20


def test_concurrent_threads_never_share_a_version_number(tmp_path: Path) -> None:
    base = tmp_path / "reg"
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda w: _publish_many(str(base), 3, w), range(8)))
    assert sorted(n for result in results for n in result) == list(range(1, 25))


def test_highest_number_survives_deleting_every_version(tmp_path: Path) -> None:
    registry = LocalRegistry(tmp_path / "reg", "us-east-1")
    zip_path = _zip(tmp_path / "a.zip", b"x")
    for _ in range(2):
        registry.publish(layer_spec("l"), zip_path, "d")
    registry.delete("l", 1)
    registry.delete("l", 2)
    assert registry.list_versions("l") == []
    assert registry.publish(layer_spec("l"), zip_path, "d").version == 3


@pytest.mark.parametrize("name", ["../escape", "a/b", "", "x" * 141, "dot.name"])
def test_names_that_could_leave_the_registry_folder_are_refused(tmp_path: Path, name: str) -> None:
    registry = LocalRegistry(tmp_path / "reg", "us-east-1")
    zip_path = _zip(tmp_path / "a.zip", b"x")
    with pytest.raises(UsageError, match="invalid layer name"):
        registry.publish(replace(layer_spec("ok"), name=name), zip_path, "d")
    assert not (tmp_path / "escape").exists()


def test_foreign_account_arns_are_not_this_registrys(tmp_path: Path) -> None:
    registry = LocalRegistry(tmp_path / "reg", "us-east-1", account="111122223333")
    registry.publish(layer_spec("mine"), _zip(tmp_path / "a.zip", b"x"), "d")
    assert registry.get_version("arn:aws:lambda:us-east-1:111122223333:layer:mine", 1) is not None
    assert registry.get_version("arn:aws:lambda:us-east-1:999999999999:layer:mine", 1) is None
    assert registry.get_version("arn:aws:lambda:eu-west-1:111122223333:layer:mine", 1) is None


def test_deployed_functions_can_be_recorded_for_audit_and_prune(tmp_path: Path) -> None:
    registry = LocalRegistry(tmp_path / "reg", "us-east-1")
    registry.deploy_function("orders", ["arn:aws:lambda:us-east-1:000000000000:layer:l:1"])
    registry.deploy_function("orders", ["arn:aws:lambda:us-east-1:000000000000:layer:l:2"])
    registry.deploy_function("orders", ["arn:aws:lambda:us-east-1:000000000000:layer:l:1"], version="7")
    assert [f.layer_arns[0][-1] for f in registry.list_functions()] == ["2"]
    assert sorted(f.version for f in registry.list_functions(all_versions=True)) == ["$LATEST", "7"]
