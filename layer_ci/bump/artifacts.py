"""The zips and manifests a bump needs: the new version's (from the build folder) and the old one's.

A release's new zip and manifest come from ``layer-ci publish``'s build folder when their SHA-256 is the
one the lock records, else from the registry. The previous version's manifest is recomputed from its zip,
fetched from the registry (verified by SHA-256), and kept under ``<cache>/manifests/<zip sha256>.json``,
so a cache that survives between runs (actions/cache) never downloads the same version twice.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from layer_ci.build.manifest import manifest_from_zip, manifest_path, read_manifest, write_manifest
from layer_ci.bump.releases import LayerRelease
from layer_ci.errors import LayerCiError
from layer_ci.model import Manifest
from layer_ci.plan.lockfile import Lock, LockedLayer
from layer_ci.publish.fetch import sha256_of
from layer_ci.publish.registry_contract import LayerRegistry

RegistryFactory = Callable[[str], LayerRegistry]


@dataclass(frozen=True)
class ReleaseArtifacts:
    """Per released layer: the new version's zip and both versions' manifests (missing ones noted)."""

    new_zips: Mapping[str, Path] = field(default_factory=dict)
    manifests_before: Mapping[str, Manifest] = field(default_factory=dict)
    manifests_after: Mapping[str, Manifest] = field(default_factory=dict)
    notes: tuple[str, ...] = ()


def collect_artifacts(
    releases: Sequence[LayerRelease],
    lock_before: Lock,
    lock_after: Lock,
    *,
    build_dir: Path,
    registry_factory: RegistryFactory,
    cache_dir: Path,
) -> ReleaseArtifacts:
    """The artifacts of ``releases``; a layer whose lock entry did not change (only its pins lag) is
    compared with the version its lagging pins name, read from the registry in that region."""
    new_zips: dict[str, Path] = {}
    before: dict[str, Manifest] = {}
    after: dict[str, Manifest] = {}
    notes: list[str] = []
    for release in releases:
        name = release.layer
        locked = lock_after.layers[name]
        zip_path, manifest = _built(build_dir, name, locked)
        if zip_path is None:
            zip_path = _fetch(registry_factory, name, locked, cache_dir, notes)
        if zip_path is not None:
            new_zips[name] = zip_path
            manifest = manifest or _manifest(zip_path, name, locked, cache_dir)
        if manifest is not None:
            after[name] = manifest
            _remember(manifest, cache_dir)
        old = lock_before.get(name)
        if old is not None and old.zip_sha256 == locked.zip_sha256:
            lagging = next((r for r in release.regions if r.changed and r.old is not None), None)
            if lagging is not None and lagging.old is not None:
                old_manifest = _version_manifest(
                    registry_factory, name, lagging.region, lagging.old, cache_dir
                )
                if old_manifest is not None:
                    before[name] = old_manifest
        elif old is not None and old.published:
            old_manifest = _cached(cache_dir, old.zip_sha256)
            if old_manifest is None:
                old_zip = _fetch(registry_factory, name, old, cache_dir, notes)
                old_manifest = None if old_zip is None else _manifest(old_zip, name, old, cache_dir)
            if old_manifest is not None:
                before[name] = old_manifest
    return ReleaseArtifacts(new_zips, before, after, tuple(notes))


def _version_manifest(
    registry_factory: RegistryFactory, name: str, region: str, version: int, cache_dir: Path
) -> Manifest | None:
    """The manifest of version ``version`` in ``region``, from its zip (None when it cannot be read)."""
    try:
        zip_path = Path(registry_factory(region).fetch(name, version, cache_dir / "zips"))
    except LayerCiError:
        return None
    digest = sha256_of(zip_path)
    cached = _cached(cache_dir, digest)
    if cached is not None:
        return cached
    try:
        manifest = manifest_from_zip(zip_path, layer=name, input_key="", zip_sha256=digest)
    except (OSError, ValueError):
        return None
    _remember(manifest, cache_dir)
    return manifest


def _built(build_dir: Path, name: str, locked: LockedLayer) -> tuple[Path | None, Manifest | None]:
    zip_path = Path(build_dir) / f"{name}.zip"
    path = manifest_path(Path(build_dir), name)
    if not zip_path.is_file() or not path.is_file():
        return None, None
    try:
        manifest = read_manifest(path)
    except LayerCiError:
        return None, None
    if manifest.zip_sha256 != locked.zip_sha256 or sha256_of(zip_path) != locked.zip_sha256:
        return None, None  # a build of other inputs (or a zip changed since): not the released version
    return zip_path, manifest


def _fetch(
    registry_factory: RegistryFactory, name: str, locked: LockedLayer, cache_dir: Path, notes: list[str]
) -> Path | None:
    problems = []
    for region, ref in locked.published.items():
        try:
            return Path(registry_factory(region).fetch(name, ref.version, cache_dir / "zips"))
        except LayerCiError as exc:
            problems.append(f"{region} v{ref.version}: {exc.one_line()}")
    notes.append(f"{name}: no published copy could be read ({'; '.join(problems) or 'never published'})")
    return None


def _cache_path(cache_dir: Path, zip_sha256: str) -> Path:
    return cache_dir / "manifests" / f"{zip_sha256}.json"


def _cached(cache_dir: Path, zip_sha256: str) -> Manifest | None:
    path = _cache_path(cache_dir, zip_sha256)
    if not path.is_file():
        return None
    try:
        manifest = read_manifest(path)
    except LayerCiError:
        return None
    return manifest if manifest.zip_sha256 == zip_sha256 else None


def _manifest(zip_path: Path, name: str, locked: LockedLayer, cache_dir: Path) -> Manifest:
    cached = _cached(cache_dir, locked.zip_sha256)
    if cached is not None:
        return cached
    manifest = manifest_from_zip(
        zip_path, layer=name, input_key=locked.input_key, zip_sha256=locked.zip_sha256
    )
    _remember(manifest, cache_dir)
    return manifest


def _remember(manifest: Manifest, cache_dir: Path) -> None:
    path = _cache_path(cache_dir, manifest.zip_sha256)
    if not path.is_file():
        with contextlib.suppress(OSError):  # the cache only saves a download next time
            write_manifest(manifest, path)
