"""The Lambda registry: layer versions in one AWS region, through the boto3 adapter."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from layer_ci.adapters.aws import AwsAdapter, ConflictError
from layer_ci.errors import LimitError, ServiceError, UsageError
from layer_ci.model import MAX_DIRECT_UPLOAD_BYTES, LayerSpec
from layer_ci.publish.fetch import fetch_url, fetch_with, sha256_of
from layer_ci.publish.registry_contract import (
    DeployedFunction,
    LayerVersionInfo,
    PermissionGrant,
    StatementIdConflict,
    code_sha256_hex,
    parse_layer_arn,
)

ARTIFACT_PREFIX = "layer-ci/"


def artifact_key(sha256_hex: str) -> str:
    """The content-addressed S3 key of a zip: identical zips share one object across layers and runs."""
    return f"{ARTIFACT_PREFIX}{sha256_hex}.zip"


class AwsRegistry:
    """Layer versions in Lambda for ``adapter.region``; zips over 50 MB (or all, with a bucket) go via S3."""

    def __init__(self, adapter: AwsAdapter, *, artifact_bucket: str | None = None) -> None:
        self.adapter = adapter
        self.region = adapter.region
        # One bucket per region is needed (Lambda reads S3Bucket only in its own region): "{region}"
        # in the configured name is replaced, e.g. "acme-layers-{region}".
        self.artifact_bucket = artifact_bucket.replace("{region}", self.region) if artifact_bucket else None
        self._account: str | None = None

    @property
    def account(self) -> str:
        if self._account is None:
            self._account = self.adapter.account_id()
        return self._account

    def list_versions(self, layer: str) -> list[LayerVersionInfo]:
        # AWS's ListLayerVersions items carry no Content (no CodeSha256, no Location); moto adds them.
        # Drop them so the path tested against moto is the one real AWS takes: get_version per candidate.
        items = [
            {k: v for k, v in item.items() if k != "Content"}
            for item in self.adapter.list_layer_versions(layer)
        ]
        infos = [self._info(layer, item) for item in items]
        return sorted(infos, key=lambda info: info.version, reverse=True)

    def get_version(self, layer: str, version: int) -> LayerVersionInfo | None:
        item = self.adapter.get_layer_version(layer, version)
        return None if item is None else self._info(layer, item)

    def publish(self, layer_spec: LayerSpec, zip_path: Path, description: str) -> LayerVersionInfo:
        size = zip_path.stat().st_size
        request: dict[str, Any] = {
            "LayerName": layer_spec.name,
            "Description": description,
            "CompatibleRuntimes": list(layer_spec.compatible_runtimes),
            "CompatibleArchitectures": list(layer_spec.compatible_architectures),
        }
        if layer_spec.license:
            request["LicenseInfo"] = layer_spec.license
        if self.artifact_bucket or size > MAX_DIRECT_UPLOAD_BYTES:
            if not self.artifact_bucket:
                raise LimitError(
                    f"layer {layer_spec.name}: zip is {size:,} bytes, over Lambda's "
                    f"{MAX_DIRECT_UPLOAD_BYTES:,}-byte direct-upload limit; set `settings.artifact_bucket` "
                    "in layer-ci.yml to an S3 bucket in each target region so it is published through S3"
                )
            key = self.upload_artifact(zip_path)
            request["Content"] = {"S3Bucket": self.artifact_bucket, "S3Key": key}
        else:
            request["Content"] = {"ZipFile": zip_path.read_bytes()}
        item = self.adapter.publish_layer_version(request, zip_bytes=size)
        return self._info(layer_spec.name, item)

    def upload_artifact(self, zip_path: Path) -> str:
        """Put the zip at its content-addressed key unless an object of the same size is already there."""
        assert self.artifact_bucket is not None
        key = artifact_key(sha256_of(zip_path))
        size = zip_path.stat().st_size
        if self.adapter.object_size(self.artifact_bucket, key) != size:
            self.adapter.upload_file(zip_path, self.artifact_bucket, key)
        return key

    def fetch(self, layer: str, version: int, cache_dir: Path) -> Path:
        info = self.get_version(layer, version)
        if info is None:
            raise UsageError(
                f"layer {layer} version {version} does not exist in {self.region} (deleted?); "
                "pick an existing version"
            )
        if info.location and info.location.startswith(("https://", "http://")):
            return fetch_url(info.location, info.code_sha256_hex, cache_dir)
        if self.artifact_bucket:
            bucket = self.artifact_bucket
            key = artifact_key(info.code_sha256_hex)
            return fetch_with(
                lambda dest: self.adapter.download_file(bucket, key, dest),
                info.code_sha256_hex,
                cache_dir,
                source=f"s3://{bucket}/{key}",
            )
        raise ServiceError(
            "AWS Lambda",
            "GetLayerVersion",
            f"no downloadable location for {info.arn}; set `settings.artifact_bucket` to read it from S3",
        )

    def delete(self, layer: str, version: int) -> None:
        self.adapter.delete_layer_version(layer, version)

    def permissions(self, layer: str, version: int) -> tuple[PermissionGrant, ...]:
        grants = []
        for statement in self.adapter.get_layer_version_policy(layer, version):
            principal = statement.get("Principal", "*")
            if isinstance(principal, dict):  # {"AWS": "arn:aws:iam::123456789012:root"} or an account id
                principal = str(principal.get("AWS", "*"))
            if str(principal).startswith("arn:"):
                principal = str(principal).split(":")[4]
            org = statement.get("OrganizationId") or _org_condition(statement)
            grants.append(PermissionGrant(str(statement.get("Sid", "")), str(principal), org))
        return tuple(grants)

    def add_permission(self, layer: str, version: int, grant: PermissionGrant) -> None:
        # Lambda answers ResourceConflictException for a taken statement id, but some emulators accept
        # duplicates: look first, so both behave the same.
        if any(existing.statement_id == grant.statement_id for existing in self.permissions(layer, version)):
            raise StatementIdConflict(
                f"statement id {grant.statement_id} already exists on {layer}:{version}"
            )
        try:
            self.adapter.add_layer_version_permission(
                layer, version, grant.statement_id, grant.principal, grant.organization_id
            )
        except ConflictError as exc:
            raise StatementIdConflict(str(exc)) from exc

    def list_functions(self, *, all_versions: bool = False) -> list[DeployedFunction]:
        functions = []
        for item in self.adapter.list_functions(all_versions=all_versions):
            functions.append(
                DeployedFunction(
                    name=str(item["FunctionName"]),
                    region=self.region,
                    version=str(item.get("Version", "$LATEST")),
                    layer_arns=tuple(str(layer["Arn"]) for layer in item.get("Layers", [])),
                )
            )
        return functions

    def _info(self, layer: str, item: dict[str, Any]) -> LayerVersionInfo:
        content = item.get("Content", {})
        arn = str(item["LayerVersionArn"])
        parsed = parse_layer_arn(arn)
        return LayerVersionInfo(
            layer=parsed.name if parsed else layer,
            region=self.region,
            version=int(item["Version"]),
            arn=arn,
            code_sha256_hex=code_sha256_hex(str(content.get("CodeSha256", item.get("CodeSha256", "")))),
            description=str(item.get("Description", "")),
            created_date=_parse_date(str(item.get("CreatedDate", ""))),
            compatible_runtimes=tuple(item.get("CompatibleRuntimes", [])),
            compatible_architectures=tuple(item.get("CompatibleArchitectures", [])),
            license=item.get("LicenseInfo") or None,
            code_size=int(content.get("CodeSize", 0)),
            location=content.get("Location"),
        )


def _org_condition(statement: dict[str, Any]) -> str | None:
    condition = statement.get("Condition", {})
    for operator in condition.values():
        if isinstance(operator, dict) and "aws:PrincipalOrgID" in operator:
            return str(operator["aws:PrincipalOrgID"])
    return None


def _parse_date(text: str) -> datetime:
    """Lambda's dates look like 2024-01-02T03:04:05.678+0000."""
    for pattern in ("%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z"):
        try:
            return datetime.strptime(text, pattern)
        except ValueError:
            continue
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return datetime.fromtimestamp(0, UTC)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
