"""The layer registry contract: immutable numbered layer versions as Lambda keeps them, in one Protocol."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from layer_ci.errors import LayerCiError
from layer_ci.model import LayerSpec

# arn:PARTITION:lambda:REGION:ACCOUNT:layer:NAME[:VERSION]
_LAYER_ARN = re.compile(
    r"^arn:(?P<partition>[a-z-]+):lambda:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):layer:"
    r"(?P<name>[A-Za-z0-9_-]{1,140})(?::(?P<version>\d+))?$"
)

# The only action a layer version policy can grant (lambda:GetLayerVersion lets others use the layer).
GET_LAYER_VERSION = "lambda:GetLayerVersion"


@dataclass(frozen=True)
class LayerVersionInfo:
    """One published layer version; ``location`` is where its zip can be read (presigned URL or file URI).

    ``code_sha256_hex`` is "" when the source (a Lambda listing) did not include it.
    """

    layer: str
    region: str
    version: int
    arn: str
    code_sha256_hex: str
    description: str
    created_date: datetime
    compatible_runtimes: tuple[str, ...] = ()
    compatible_architectures: tuple[str, ...] = ()
    license: str | None = None
    code_size: int = 0
    location: str | None = None


@dataclass(frozen=True)
class PermissionGrant:
    """One statement of a layer version policy granting lambda:GetLayerVersion.

    ``principal`` is an account id or ``*``; with ``organization_id`` and ``*`` it means "any account of
    that AWS Organization", with ``*`` alone it means public.
    """

    statement_id: str
    principal: str
    organization_id: str | None = None


@dataclass(frozen=True)
class DeployedFunction:
    """A function (one of its versions) as deployed, with the layer version ARNs it runs with."""

    name: str
    region: str
    version: str  # "$LATEST" or a published function version number
    layer_arns: tuple[str, ...]


@dataclass(frozen=True)
class LayerArn:
    """The parts of a layer (version) ARN."""

    partition: str
    region: str
    account: str
    name: str
    version: int | None = None

    def __str__(self) -> str:
        base = f"arn:{self.partition}:lambda:{self.region}:{self.account}:layer:{self.name}"
        return base if self.version is None else f"{base}:{self.version}"


class StatementIdConflict(LayerCiError):
    """The statement id is already taken on the version (Lambda's ResourceConflictException)."""


class LayerRegistry(Protocol):
    """Where layer versions live: Lambda in one region, or a folder that behaves the same way.

    Semantics shared by every backend (tested by one contract suite):
    - ``publish`` always creates a new version numbered one above the highest ever used; numbers of deleted
      versions are never reused; a version's content and metadata never change;
    - ``list_versions`` returns the existing versions newest first; ``[]`` for an unknown layer; like
      Lambda's ListLayerVersions its items may lack ``code_sha256_hex`` ("") and ``location``: ask
      ``get_version`` for those;
    - ``get_version`` returns None for a deleted or never-published version; ``layer`` may be a name or a
      layer ARN (no version);
    - ``delete`` of a missing version succeeds (as Lambda's DeleteLayerVersion does);
    - ``add_permission`` raises StatementIdConflict when the statement id is taken;
    - ``publish`` raises OutcomeUnknown when it cannot tell whether a version was created.
    """

    region: str

    @property
    def account(self) -> str:
        """The account id that owns the layers this registry publishes."""
        ...

    def list_versions(self, layer: str) -> list[LayerVersionInfo]: ...

    def get_version(self, layer: str, version: int) -> LayerVersionInfo | None: ...

    def publish(self, layer_spec: LayerSpec, zip_path: Path, description: str) -> LayerVersionInfo: ...

    def fetch(self, layer: str, version: int, cache_dir: Path) -> Path: ...

    def delete(self, layer: str, version: int) -> None: ...

    def permissions(self, layer: str, version: int) -> tuple[PermissionGrant, ...]: ...

    def add_permission(self, layer: str, version: int, grant: PermissionGrant) -> None: ...

    def list_functions(self, *, all_versions: bool = False) -> list[DeployedFunction]: ...


def parse_layer_arn(text: str) -> LayerArn | None:
    """Split a layer or layer-version ARN; None when ``text`` is not one."""
    match = _LAYER_ARN.match(text)
    if not match:
        return None
    version = match["version"]
    return LayerArn(
        partition=match["partition"],
        region=match["region"],
        account=match["account"],
        name=match["name"],
        version=int(version) if version else None,
    )


def code_sha256_b64(hex_digest: str) -> str:
    """Lambda's ``CodeSha256``: the base64 of the raw SHA-256 digest."""
    return base64.b64encode(bytes.fromhex(hex_digest)).decode("ascii")


def code_sha256_hex(b64_digest: str) -> str:
    """The hex SHA-256 behind a ``CodeSha256`` value ('' when it is empty or malformed)."""
    try:
        raw = base64.b64decode(b64_digest, validate=True)
    except (binascii.Error, ValueError):
        return ""
    return raw.hex() if len(raw) == 32 else ""
