"""One contract suite for every registry backend: Lambda's layer-version semantics, local and moto alike."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pytest

from layer_ci.model import LayerSpec
from layer_ci.publish.registry_contract import (
    LayerRegistry,
    PermissionGrant,
    StatementIdConflict,
    parse_layer_arn,
)
from tests.support.aws import MOTO_ACCOUNT, AwsEnv, create_function, layer_spec

REGION = "us-east-1"


def _zip(tmp_path: Path, name: str, content: bytes) -> Path:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(zipfile.ZipInfo("python/mod.py", (1980, 1, 1, 0, 0, 0)), content)
    path = tmp_path / f"{name}-{hashlib.sha256(content).hexdigest()[:8]}.zip"
    path.write_bytes(buffer.getvalue())
    return path


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(params=["local", "aws"])
def registry(request: pytest.FixtureRequest, tmp_path: Path) -> LayerRegistry:
    if request.param == "local":
        from layer_ci.publish.folder_registry import LocalRegistry

        return LocalRegistry(tmp_path / "registry", REGION, account=MOTO_ACCOUNT)
    from layer_ci.adapters.aws import AwsAdapter
    from layer_ci.publish.lambda_registry import AwsRegistry

    aws: AwsEnv = request.getfixturevalue("aws")
    aws.client("s3").create_bucket(Bucket="contract-artifacts")
    return AwsRegistry(AwsAdapter(REGION), artifact_bucket="contract-artifacts")


def _publish(
    registry: LayerRegistry, tmp_path: Path, spec: LayerSpec, content: bytes, description: str = "d"
) -> int:
    return registry.publish(spec, _zip(tmp_path, spec.name, content), description).version


def test_versions_are_numbered_from_one_and_listed_newest_first(
    registry: LayerRegistry, tmp_path: Path
) -> None:
    spec = layer_spec("numbers")
    assert [_publish(registry, tmp_path, spec, bytes([i])) for i in range(3)] == [1, 2, 3]
    assert [info.version for info in registry.list_versions("numbers")] == [3, 2, 1]


def test_published_metadata_round_trips(registry: LayerRegistry, tmp_path: Path) -> None:
    spec = layer_spec("meta")
    zip_path = _zip(tmp_path, "meta", b"x = 1\n")
    published = registry.publish(spec, zip_path, "layer-ci input=0123456789abcdef commit=abc hello")
    fetched = registry.get_version("meta", published.version)
    assert fetched is not None
    for info in (published, fetched):
        assert info.code_sha256_hex == _sha(zip_path)
        assert info.description == "layer-ci input=0123456789abcdef commit=abc hello"
        assert info.compatible_runtimes == ("python3.11", "python3.12")
        assert info.compatible_architectures == ("x86_64",)
        assert info.license == "MIT"
        assert info.arn == f"arn:aws:lambda:{REGION}:{MOTO_ACCOUNT}:layer:meta:1"
        assert info.created_date.tzinfo is not None
    arn = parse_layer_arn(published.arn)
    assert arn is not None and (arn.name, arn.version, arn.region) == ("meta", 1, REGION)


def test_deleted_numbers_are_never_reused(registry: LayerRegistry, tmp_path: Path) -> None:
    spec = layer_spec("gone")
    _publish(registry, tmp_path, spec, b"1")
    _publish(registry, tmp_path, spec, b"2")
    registry.delete("gone", 2)
    registry.delete("gone", 2)  # deleting again succeeds, as Lambda's DeleteLayerVersion does
    assert registry.get_version("gone", 2) is None
    assert [info.version for info in registry.list_versions("gone")] == [1]
    assert _publish(registry, tmp_path, spec, b"3") == 3


def test_unknown_layer_lists_nothing(registry: LayerRegistry) -> None:
    assert registry.list_versions("never-published") == []
    assert registry.get_version("never-published", 1) is None


def test_get_version_accepts_a_layer_arn(registry: LayerRegistry, tmp_path: Path) -> None:
    _publish(registry, tmp_path, layer_spec("by-arn"), b"a")
    info = registry.get_version(f"arn:aws:lambda:{REGION}:{MOTO_ACCOUNT}:layer:by-arn", 1)
    assert info is not None and info.version == 1


def test_permissions_are_listed_and_statement_ids_conflict(registry: LayerRegistry, tmp_path: Path) -> None:
    _publish(registry, tmp_path, layer_spec("shared"), b"s")
    assert registry.permissions("shared", 1) == ()
    grants = [
        PermissionGrant("layer-ci-account-111122223333", "111122223333"),
        PermissionGrant("layer-ci-org-o-abc123", "*", "o-abc123"),
        PermissionGrant("layer-ci-public", "*"),
    ]
    for grant in grants:
        registry.add_permission("shared", 1, grant)
    assert sorted(registry.permissions("shared", 1), key=lambda g: g.statement_id) == sorted(
        grants, key=lambda g: g.statement_id
    )
    with pytest.raises(StatementIdConflict):
        registry.add_permission("shared", 1, PermissionGrant("layer-ci-public", "*"))
    assert len(registry.permissions("shared", 1)) == 3


def test_fetch_returns_the_verified_zip_cached_by_sha(registry: LayerRegistry, tmp_path: Path) -> None:
    zip_path = _zip(tmp_path, "fetched", b"payload")
    registry.publish(layer_spec("fetched"), zip_path, "d")
    cache = tmp_path / "cache"
    first = registry.fetch("fetched", 1, cache)
    assert first == cache / f"{_sha(zip_path)}.zip"
    assert first.read_bytes() == zip_path.read_bytes()
    assert registry.fetch("fetched", 1, cache) == first
    assert [p.name for p in cache.iterdir()] == [first.name]  # no temporary files left behind


def test_fetch_of_a_deleted_version_is_a_clear_error(registry: LayerRegistry, tmp_path: Path) -> None:
    from layer_ci.errors import LayerCiError

    _publish(registry, tmp_path, layer_spec("fleeting"), b"f")
    registry.delete("fleeting", 1)
    with pytest.raises(LayerCiError, match=r"fleeting version 1 does not exist in us-east-1"):
        registry.fetch("fleeting", 1, tmp_path / "cache")


def test_list_functions_reports_the_layer_versions_they_use(
    registry: LayerRegistry, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    arn = registry.publish(layer_spec("used"), _zip(tmp_path, "used", b"u"), "d").arn
    if request.node.callspec.params["registry"] == "local":
        registry.deploy_function("orders", [arn])  # type: ignore[attr-defined]
    else:
        create_function(request.getfixturevalue("aws"), "orders", [arn])
    functions = registry.list_functions()
    assert [(f.name, f.region, f.layer_arns) for f in functions] == [("orders", REGION, (arn,))]
