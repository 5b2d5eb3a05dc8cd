"""The folder registry: Lambda's layer-version semantics on disk, the default that needs no AWS account.

Layout: ``<base>/<region>/<layer>/<version>.zip`` with ``<version>.json`` beside it (the JSON's presence is
what makes a version exist, so it is written last and deleted first). ``.last-version`` remembers the
highest number ever handed out, so deleted numbers are never reused; ``.lock`` serialises writers across
processes with ``fcntl.flock``. ``<base>/<region>/.functions.json`` can record "deployed" functions.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from layer_ci.errors import LayerCiError, UsageError
from layer_ci.fsutil import write_atomically
from layer_ci.model import LayerSpec
from layer_ci.publish.fetch import fetch_file, sha256_of
from layer_ci.publish.registry_contract import (
    DeployedFunction,
    LayerArn,
    LayerVersionInfo,
    PermissionGrant,
    StatementIdConflict,
    code_sha256_b64,
    code_sha256_hex,
    parse_layer_arn,
)

_LAYER_NAME = re.compile(r"^[A-Za-z0-9_-]{1,140}$")
_VERSION_FILE = re.compile(r"^(\d+)\.json$")
FUNCTIONS_FILE = ".functions.json"


class LocalRegistry:
    """Layer versions for one region kept under ``base/<region>/``."""

    def __init__(
        self,
        base: Path,
        region: str,
        *,
        account: str = "000000000000",
        partition: str = "aws",
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.base = base
        self.region = region
        self.account = account
        self.partition = partition
        self._clock = clock or (lambda: datetime.now(UTC))
        self._region_dir = base / region

    # ----- reading --------------------------------------------------------------------------------

    def list_versions(self, layer: str) -> list[LayerVersionInfo]:
        name = self._own_name(layer)
        if name is None:
            return []
        folder = self._region_dir / name
        if not folder.is_dir():
            return []
        infos = []
        for entry in folder.iterdir():
            match = _VERSION_FILE.match(entry.name)
            if match:
                info = self._read_info(name, int(match[1]))
                if info is not None:
                    infos.append(info)
        return sorted(infos, key=lambda info: info.version, reverse=True)

    def get_version(self, layer: str, version: int) -> LayerVersionInfo | None:
        name = self._own_name(layer)
        return None if name is None else self._read_info(name, version)

    def fetch(self, layer: str, version: int, cache_dir: Path) -> Path:
        info = self.get_version(layer, version)
        if info is None:
            raise UsageError(
                f"layer {layer} version {version} does not exist in {self.region} (local registry "
                f"{self._region_dir}); list versions with `layer-ci audit` or publish first"
            )
        name = self._own_name(layer)
        assert name is not None  # get_version found it
        return fetch_file(self._zip_path(name, version), info.code_sha256_hex, cache_dir)

    def permissions(self, layer: str, version: int) -> tuple[PermissionGrant, ...]:
        name = self._own_name(layer)
        record = None if name is None else self._read_record(name, version)
        if record is None:
            return ()
        return tuple(PermissionGrant(**grant) for grant in record.get("Policy", []))

    def list_functions(self, *, all_versions: bool = False) -> list[DeployedFunction]:
        path = self._region_dir / FUNCTIONS_FILE
        if not path.is_file():
            return []
        try:
            data = json.loads(path.read_bytes().decode("utf-8"))
            functions = [
                DeployedFunction(
                    name=str(item["name"]),
                    region=self.region,
                    version=str(item.get("version", "$LATEST")),
                    layer_arns=tuple(str(arn) for arn in item.get("layers", [])),
                )
                for item in data.get("functions", [])
            ]
        except (ValueError, KeyError, TypeError, AttributeError) as exc:  # JSON and Unicode errors included
            raise RegistryRecordError(path, f"not a list of functions ({type(exc).__name__}: {exc})") from exc
        return functions if all_versions else [f for f in functions if f.version == "$LATEST"]

    # ----- writing --------------------------------------------------------------------------------

    def publish(self, layer_spec: LayerSpec, zip_path: Path, description: str) -> LayerVersionInfo:
        name = self._checked_name(layer_spec.name)
        folder = self._region_dir / name
        folder.mkdir(parents=True, exist_ok=True)
        # Copy outside the lock (slow for big zips); only the numbering and renames are serialised.
        staged = _stage_copy(zip_path, folder)
        try:
            sha_hex = sha256_of(staged)
            with self._locked(folder):
                version = self._last_version(folder) + 1
                _write_atomic(folder / ".last-version", f"{version}\n")
                os.replace(staged, self._zip_path(name, version))
                record = {
                    "LayerName": name,
                    "Version": version,
                    "LayerVersionArn": str(self._arn(name, version)),
                    "CodeSha256": code_sha256_b64(sha_hex),
                    "CodeSize": self._zip_path(name, version).stat().st_size,
                    "Description": description,
                    "CreatedDate": self._clock().isoformat(),
                    "CompatibleRuntimes": list(layer_spec.compatible_runtimes),
                    "CompatibleArchitectures": list(layer_spec.compatible_architectures),
                    "LicenseInfo": layer_spec.license,
                    "Policy": [],
                }
                _write_atomic(self._json_path(name, version), json.dumps(record, indent=2) + "\n")
        finally:
            staged.unlink(missing_ok=True)
        info = self._read_info(name, version)
        assert info is not None  # just written under the lock
        return info

    def delete(self, layer: str, version: int) -> None:
        name = self._own_name(layer)
        if name is None:
            raise UsageError(
                f"{layer} is not a layer of this registry (account {self.account}, {self.region})"
            )
        folder = self._region_dir / name
        if not folder.is_dir():
            return
        with self._locked(folder):
            self._json_path(name, version).unlink(missing_ok=True)
            self._zip_path(name, version).unlink(missing_ok=True)

    def add_permission(self, layer: str, version: int, grant: PermissionGrant) -> None:
        name = self._checked_name(layer)
        folder = self._region_dir / name
        if not folder.is_dir():
            raise _missing(name, version, self.region)
        with self._locked(folder):
            record = self._read_record(name, version)
            if record is None:
                raise _missing(name, version, self.region)
            policy = record.setdefault("Policy", [])
            if any(item["statement_id"] == grant.statement_id for item in policy):
                raise StatementIdConflict(
                    f"statement id {grant.statement_id} already exists on {name}:{version} in {self.region}"
                )
            policy.append(asdict(grant))
            _write_atomic(self._json_path(name, version), json.dumps(record, indent=2) + "\n")

    def deploy_function(self, name: str, layer_arns: list[str], *, version: str = "$LATEST") -> None:
        """Record a "deployed" function using these layer versions (the local stand-in for ListFunctions)."""
        self._region_dir.mkdir(parents=True, exist_ok=True)
        path = self._region_dir / FUNCTIONS_FILE
        with self._locked(self._region_dir):
            data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {"functions": []}
            kept = [
                f for f in data["functions"] if (f["name"], f.get("version", "$LATEST")) != (name, version)
            ]
            kept.append({"name": name, "version": version, "layers": layer_arns})
            _write_atomic(path, json.dumps({"functions": kept}, indent=2) + "\n")

    # ----- helpers --------------------------------------------------------------------------------

    def _arn(self, name: str, version: int | None = None) -> LayerArn:
        return LayerArn(self.partition, self.region, self.account, name, version)

    def _own_name(self, layer: str) -> str | None:
        """The layer name when ``layer`` (name or ARN) belongs to this registry, else None."""
        if layer.startswith("arn:"):
            arn = parse_layer_arn(layer)
            if arn is None or arn.account != self.account or arn.region != self.region:
                return None
            return arn.name
        return self._checked_name(layer)

    @staticmethod
    def _checked_name(name: str) -> str:
        # Names become folder names: the pattern keeps them from escaping the registry.
        if not _LAYER_NAME.match(name):
            raise UsageError(f"invalid layer name {name!r}: use 1-140 characters of A-Z a-z 0-9 _ -")
        return name

    def _zip_path(self, name: str, version: int) -> Path:
        return self._region_dir / name / f"{version}.zip"

    def _json_path(self, name: str, version: int) -> Path:
        return self._region_dir / name / f"{version}.json"

    def _last_version(self, folder: Path) -> int:
        marker = folder / ".last-version"
        try:
            recorded = int(marker.read_text(encoding="utf-8").strip() or 0) if marker.is_file() else 0
        except (UnicodeDecodeError, ValueError) as exc:
            raise RegistryRecordError(
                marker, "not a version number", f"write the highest version ever published into it ({exc})"
            ) from exc
        present = [int(m[1]) for e in folder.iterdir() if (m := _VERSION_FILE.match(e.name))]
        return max([recorded, *present])

    def _read_record(self, name: str, version: int) -> dict[str, Any] | None:
        """The version's JSON record, None when there is none; a damaged one is refused, naming the file."""
        path = self._json_path(name, version)
        try:
            record = json.loads(path.read_bytes().decode("utf-8"))
        except FileNotFoundError:
            return None
        except UnicodeDecodeError as exc:
            raise RegistryRecordError(path, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
        except ValueError as exc:  # json.JSONDecodeError
            raise RegistryRecordError(path, f"not valid JSON ({exc})") from exc
        if not isinstance(record, dict):
            raise RegistryRecordError(path, f"a JSON {type(record).__name__}, not an object")
        _check_record(path, record, version)
        return record

    def _read_info(self, name: str, version: int) -> LayerVersionInfo | None:
        record = self._read_record(name, version)
        if record is None:
            return None
        return LayerVersionInfo(
            layer=name,
            region=self.region,
            version=record["Version"],
            arn=record["LayerVersionArn"],
            code_sha256_hex=code_sha256_hex(record["CodeSha256"]),
            description=record.get("Description", ""),
            created_date=datetime.fromisoformat(record["CreatedDate"]),
            compatible_runtimes=tuple(record.get("CompatibleRuntimes", [])),
            compatible_architectures=tuple(record.get("CompatibleArchitectures", [])),
            license=record.get("LicenseInfo"),
            code_size=record.get("CodeSize", 0),
            location=self._zip_path(name, version).as_uri(),
        )

    @contextmanager
    def _locked(self, folder: Path) -> Iterator[None]:
        with (folder / ".lock").open("a") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


class RegistryRecordError(UsageError):
    """A file of the local registry that layer-ci wrote is damaged (edited by hand, a bad merge, ...)."""

    def __init__(self, path: Path, problem: str, fix: str = "") -> None:
        super().__init__(
            f"{path}: damaged local registry record: {problem}; "
            + (fix or f"restore it (`git checkout -- {path}`) or delete it and its .zip to drop the version")
        )


_TEXT_FIELDS = ("LayerVersionArn", "CodeSha256", "CreatedDate")
_OPTIONAL_TEXT = ("Description", "LayerName")
_TEXT_LISTS = ("CompatibleRuntimes", "CompatibleArchitectures")


def _check_record(path: Path, record: dict[str, Any], version: int) -> None:
    """Every field LayerVersionInfo and permissions read, of the type they read it as."""

    def refuse(problem: str) -> RegistryRecordError:
        return RegistryRecordError(path, problem)

    number = record.get("Version")
    if type(number) is not int:
        raise refuse(f"'Version' is {json.dumps(number)}, not a whole number")
    if number != version:
        raise refuse(f"'Version' is {number}, but the file is {path.name}")
    for key in _TEXT_FIELDS:
        if not isinstance(record.get(key), str):
            raise refuse(f"'{key}' is missing or not text")
    for key in _OPTIONAL_TEXT:
        if key in record and not isinstance(record[key], str):
            raise refuse(f"'{key}' is not text")
    if record.get("LicenseInfo") is not None and not isinstance(record["LicenseInfo"], str):
        raise refuse("'LicenseInfo' is not text")
    for key in _TEXT_LISTS:
        value = record.get(key, [])
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise refuse(f"'{key}' is not a list of text")
    if type(record.get("CodeSize", 0)) is not int:
        raise refuse("'CodeSize' is not a whole number")
    try:
        datetime.fromisoformat(record["CreatedDate"])
    except ValueError:
        raise refuse(f"'CreatedDate' {record['CreatedDate']!r} is not an ISO 8601 time") from None
    policy = record.get("Policy", [])
    fields = set(PermissionGrant.__dataclass_fields__)
    if not isinstance(policy, list) or not all(
        isinstance(grant, dict) and set(grant) <= fields and {"statement_id", "principal"} <= set(grant)
        for grant in policy
    ):
        raise refuse("'Policy' is not a list of permission statements")


def _missing(name: str, version: int, region: str) -> LayerCiError:
    return UsageError(f"layer {name} version {version} does not exist in {region} (deleted?)")


def _stage_copy(source: Path, folder: Path) -> Path:
    fd, name = tempfile.mkstemp(dir=folder, prefix=".publish-", suffix=".zip.part")
    with os.fdopen(fd, "wb") as out, source.open("rb") as src:
        while chunk := src.read(1024 * 1024):
            out.write(chunk)
    return Path(name)


def _write_atomic(path: Path, text: str) -> None:
    write_atomically(path, text.encode("utf-8"), fsync=True)
