"""Layer manifests: what a built zip holds (files, sizes, packages), as stable JSON, and diffs between two."""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from packaging.version import InvalidVersion, Version

from layer_ci.build.zipper import ZipEntry
from layer_ci.errors import UsageError
from layer_ci.fsutil import write_atomically
from layer_ci.model import Manifest, PackageInfo

MANIFEST_FORMAT = 1
MANIFEST_SUFFIX = ".manifest.json"
ChangeKind = Literal["major", "minor", "patch", "other"]
_NAME_SEPARATORS = re.compile(r"[-_.]+")
_LINE_BREAKS = re.compile(r"\r\n|\r|\n")
_HEADER_NAME = re.compile(r"[\041-\071\073-\176]*")  # printable ASCII but the colon, as email has it


def canonicalize_name(name: str) -> str:
    """A distribution name as PEP 503 normalises it (``Foo_Bar`` and ``foo.bar`` are one package).

    packaging.utils.canonicalize_name does exactly this, but importing packaging.utils loads
    packaging.tags, platform, logging and sysconfig: most of a build's fixed cost for one regex.
    """
    return _NAME_SEPARATORS.sub("-", name).lower()


def manifest_path(out_dir: Path, layer: str) -> Path:
    return Path(out_dir) / f"{layer}{MANIFEST_SUFFIX}"


def is_package_metadata(name: str) -> bool:
    """Whether a layer path is a Python distribution's METADATA or an npm package's package.json."""
    parts = name.split("/")
    if len(parts) >= 2 and parts[-1] == "METADATA" and parts[-2].endswith(".dist-info"):
        return True
    if parts[-1] != "package.json" or "node_modules" not in parts:
        return False
    # node_modules/<name>/package.json or node_modules/@scope/<name>/package.json, at any depth
    where = len(parts) - 1 - parts[::-1].index("node_modules")
    package = parts[where + 1 : -1]
    return (len(package) == 1 and not package[0].startswith(".")) or (
        len(package) == 2 and package[0].startswith("@")
    )


def package_of(name: str, content: bytes) -> PackageInfo | None:
    """The package a metadata file (see :func:`is_package_metadata`) describes, if it names one."""
    if name.endswith("/METADATA"):
        headers = metadata_headers(content, ("name", "version"))
        dist_name, version = headers.get("name"), headers.get("version")
    else:
        try:
            data = json.loads(content)
        except (ValueError, UnicodeDecodeError):
            return None
        if not isinstance(data, dict):
            return None
        dist_name, version = data.get("name"), data.get("version")
    if not isinstance(dist_name, str) or not isinstance(version, str) or not dist_name or not version:
        return None
    return PackageInfo(dist_name.strip(), version.strip())


def metadata_headers(content: bytes, wanted: Iterable[str]) -> dict[str, str]:
    """The first value of each ``wanted`` header (lower-case names) of a METADATA file, as email's parser
    reads the header block (core metadata is RFC 822 style): names are case-insensitive, a line starting
    with a space or tab continues the header before it, the block ends at a blank or non-header line.

    Not email.parser itself: it loads twenty-odd modules (about 10 ms) for two fields of every build.
    """
    names = set(wanted)
    found: dict[str, str] = {}
    current: str | None = None
    for line in _LINE_BREAKS.split(content.decode("utf-8", "replace")):
        if line[:1] in (" ", "\t"):
            if current is not None:
                found[current] += "\n" + line
            continue
        name, colon, value = line.partition(":")
        if not colon or not _HEADER_NAME.fullmatch(name):
            break
        key = name.lower()
        current = key if key in names and key not in found else None
        if current is not None:
            found[current] = value.lstrip(" \t")
    return {key: value.rstrip("\r\n") for key, value in found.items()}


def collect_packages(names: Iterable[str], read: Callable[[str], bytes]) -> tuple[PackageInfo, ...]:
    """Packages found among ``names`` (layer paths), reading metadata through ``read``; sorted, unique."""
    found = {
        package
        for name in names
        if is_package_metadata(name) and (package := package_of(name, read(name))) is not None
    }
    return tuple(sorted(found, key=lambda p: (canonicalize_name(p.name), _version_key(p.version), p.version)))


def _version_key(version: str) -> tuple[int, Version | str]:
    try:
        return (0, Version(version))
    except InvalidVersion:
        return (1, version)


def build_manifest(
    *,
    layer: str,
    input_key: str,
    zip_path: Path,
    zip_sha256: str,
    entries: list[ZipEntry],
    staging: Path,
    runtime_targets: Iterable[str] = (),
    architectures: Iterable[str] = (),
) -> Manifest:
    """Describe a zip written from ``entries`` (all under ``staging``)."""
    files = tuple((entry.name, entry.size) for entry in entries if entry.kind != "dir")
    regular = {entry.name for entry in entries if entry.kind == "file"}
    packages = collect_packages(regular, lambda name: (staging / name).read_bytes())
    return Manifest(
        layer=layer,
        input_key=input_key,
        zip_sha256=zip_sha256,
        zipped_bytes=Path(zip_path).stat().st_size,
        unzipped_bytes=sum(size for _name, size in files),
        files=files,
        packages=packages,
        runtime_targets=tuple(runtime_targets),
        architectures=tuple(architectures),
    )


def manifest_from_zip(zip_path: Path, *, layer: str, input_key: str, zip_sha256: str) -> Manifest:
    """Describe a layer zip that came without a manifest (an older or a vendor's version)."""
    with zipfile.ZipFile(zip_path) as archive:
        infos = [info for info in archive.infolist() if not info.is_dir()]
        files = tuple(
            sorted(((info.filename, info.file_size) for info in infos), key=lambda f: f[0].encode())
        )
        packages = collect_packages([info.filename for info in infos], archive.read)
    return Manifest(
        layer=layer,
        input_key=input_key,
        zip_sha256=zip_sha256,
        zipped_bytes=Path(zip_path).stat().st_size,
        unzipped_bytes=sum(size for _name, size in files),
        files=files,
        packages=packages,
    )


def manifest_to_json(manifest: Manifest) -> str:
    """Stable JSON: sorted keys, one file per line, so two manifests diff well as text too."""
    document: dict[str, Any] = {
        "format": MANIFEST_FORMAT,
        "layer": manifest.layer,
        "input_key": manifest.input_key,
        "zip_sha256": manifest.zip_sha256,
        "zipped_bytes": manifest.zipped_bytes,
        "unzipped_bytes": manifest.unzipped_bytes,
        "runtime_targets": list(manifest.runtime_targets),
        "architectures": list(manifest.architectures),
        "packages": [{"name": p.name, "version": p.version} for p in manifest.packages],
        "files": dict(manifest.files),
    }
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def manifest_from_json(text: str, source: str = "<manifest>") -> Manifest:
    """Parse :func:`manifest_to_json` output; anything else is a one-line error naming ``source``."""
    try:
        document = json.loads(text)
        if document.get("format") != MANIFEST_FORMAT:
            raise ValueError(f"format {document.get('format')!r} is not {MANIFEST_FORMAT}")
        files = document["files"]
        return Manifest(
            layer=str(document["layer"]),
            input_key=str(document["input_key"]),
            zip_sha256=str(document["zip_sha256"]),
            zipped_bytes=int(document["zipped_bytes"]),
            unzipped_bytes=int(document["unzipped_bytes"]),
            files=tuple(sorted(((str(k), int(v)) for k, v in files.items()), key=lambda f: f[0].encode())),
            packages=tuple(PackageInfo(str(p["name"]), str(p["version"])) for p in document["packages"]),
            runtime_targets=tuple(str(r) for r in document.get("runtime_targets", ())),
            architectures=tuple(str(a) for a in document.get("architectures", ())),
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UsageError(
            f"{source}: not a layer-ci manifest ({type(exc).__name__}: {exc}); "
            "rebuild it with `layer-ci build`"
        ) from None


def write_manifest(manifest: Manifest, path: Path) -> None:
    """Write atomically (tmp + rename), so a reader never sees half a manifest."""
    write_atomically(Path(path), manifest_to_json(manifest).encode("utf-8"))


def read_manifest(path: Path) -> Manifest:
    """Load a manifest written by :func:`write_manifest`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{path}: manifest not found; run `layer-ci build` first") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read manifest ({exc}); rebuild it with `layer-ci build`") from None
    return manifest_from_json(text, str(path))


@dataclass(frozen=True)
class PackageChange:
    """A package present in both manifests at different versions, classed by the biggest part that moved."""

    name: str
    old_version: str
    new_version: str
    kind: ChangeKind

    @property
    def is_downgrade(self) -> bool:
        try:
            return Version(self.new_version.split(", ")[-1]) < Version(self.old_version.split(", ")[-1])
        except InvalidVersion:
            return False


@dataclass(frozen=True)
class ManifestDiff:
    """What changed between two builds of a layer, for PR comments."""

    added: tuple[PackageInfo, ...]
    removed: tuple[PackageInfo, ...]
    changed: tuple[PackageChange, ...]
    zipped_delta: int
    unzipped_delta: int
    files_added: int
    files_removed: int

    @property
    def packages_unchanged(self) -> bool:
        return not (self.added or self.removed or self.changed)


def classify_change(old: str, new: str) -> ChangeKind:
    """major / minor / patch by the first release component that differs (PEP 440); ``other`` otherwise."""
    try:
        old_version, new_version = Version(old), Version(new)
    except InvalidVersion:
        return "other"
    if old_version.epoch != new_version.epoch:
        return "major"
    old_release = (*old_version.release, 0, 0, 0)[:3]
    new_release = (*new_version.release, 0, 0, 0)[:3]
    kinds: tuple[ChangeKind, ...] = ("major", "minor", "patch")
    for index, kind in enumerate(kinds):
        if old_release[index] != new_release[index]:
            return kind
    return "other"  # pre/post/dev/local releases, or a fourth release component


def _by_name(packages: Iterable[PackageInfo]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for package in packages:
        grouped.setdefault(canonicalize_name(package.name), []).append(package.version)
    return {name: sorted(set(versions), key=_version_key) for name, versions in grouped.items()}


def diff_manifests(old: Manifest, new: Manifest) -> ManifestDiff:
    """Packages added, removed and changed (with the change's kind), and the size deltas, from old to new.

    A name held at several versions (nested node_modules, per-Python-version site-packages) is compared
    as a set; its change is classed by the highest versions on each side.
    """
    old_packages, new_packages = _by_name(old.packages), _by_name(new.packages)
    display: dict[str, str] = {canonicalize_name(p.name): p.name for p in (*old.packages, *new.packages)}
    added = tuple(
        PackageInfo(display[name], version)
        for name in sorted(set(new_packages) - set(old_packages))
        for version in new_packages[name]
    )
    removed = tuple(
        PackageInfo(display[name], version)
        for name in sorted(set(old_packages) - set(new_packages))
        for version in old_packages[name]
    )
    changed = tuple(
        PackageChange(
            display[name],
            ", ".join(old_packages[name]),
            ", ".join(new_packages[name]),
            classify_change(old_packages[name][-1], new_packages[name][-1]),
        )
        for name in sorted(set(old_packages) & set(new_packages))
        if old_packages[name] != new_packages[name]
    )
    old_files, new_files = {path for path, _ in old.files}, {path for path, _ in new.files}
    return ManifestDiff(
        added=added,
        removed=removed,
        changed=changed,
        zipped_delta=new.zipped_bytes - old.zipped_bytes,
        unzipped_delta=new.unzipped_bytes - old.unzipped_bytes,
        files_added=len(new_files - old_files),
        files_removed=len(old_files - new_files),
    )
