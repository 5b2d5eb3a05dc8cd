"""Which layers a publish released (the base's lock against the new one) and which branch bumps them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from layer_ci.lockfile import Lock, LockedLayer
from layer_ci.model import Config
from layer_ci.report.model import RegionVersion

BRANCH_PREFIX = "layer-ci/"
PER_PUSH_BRANCH = f"{BRANCH_PREFIX}layers"
PrMode = Literal["per-layer", "per-push"]


@dataclass(frozen=True)
class LayerRelease:
    """A layer whose published versions differ from what the base branch's lock records."""

    layer: str
    regions: tuple[RegionVersion, ...]
    locked: LockedLayer

    @property
    def new_versions(self) -> dict[tuple[str, str | None], int]:
        """(layer, region) -> version, and (layer, None) for placeholder-region pins if all regions agree."""
        versions: dict[tuple[str, str | None], int] = {(self.layer, r.region): r.new for r in self.regions}
        distinct = {r.new for r in self.regions}
        if len(distinct) == 1:
            versions[(self.layer, None)] = distinct.pop()
        return versions

    @property
    def account(self) -> str | None:
        """The account of the published ARNs (one account publishes a layer), None if they disagree."""
        accounts = {r.arn.split(":")[4] for r in self.regions if r.arn.count(":") >= 6}
        return accounts.pop() if len(accounts) == 1 else None


@dataclass(frozen=True)
class BumpGroup:
    """The releases one pull request carries, on its fixed branch."""

    branch: str
    releases: tuple[LayerRelease, ...]

    @property
    def layers(self) -> tuple[str, ...]:
        return tuple(release.layer for release in self.releases)


def find_releases(
    lock_before: Lock, lock_after: Lock, config: Config | None = None
) -> tuple[LayerRelease, ...]:
    """Layers whose version in some region differs between the two locks, in name order.

    Every published region is listed (unchanged ones too), so a pin in any region resolves. Layers no
    longer in ``config`` are left out: nothing should move to them.
    """
    configured = None if config is None else {layer.name for layer in config.layers}
    releases = []
    for name, after in sorted(lock_after.layers.items()):
        if configured is not None and name not in configured:
            continue
        before = lock_before.get(name)
        regions = []
        for region, ref in after.published.items():
            old = before.published.get(region) if before is not None else None
            regions.append(RegionVersion(region, None if old is None else old.version, ref.version, ref.arn))
        if any(region.changed for region in regions):
            releases.append(LayerRelease(name, tuple(regions), after))
    return tuple(releases)


def branch_for(layer: str) -> str:
    return f"{BRANCH_PREFIX}{layer}"


def group_releases(releases: Sequence[LayerRelease], mode: PrMode) -> tuple[BumpGroup, ...]:
    """One group per layer (branch ``layer-ci/<layer>``), or one for the whole push (``layer-ci/layers``)."""
    if not releases:
        return ()
    if mode == "per-push":
        return (BumpGroup(PER_PUSH_BRANCH, tuple(releases)),)
    return tuple(BumpGroup(branch_for(release.layer), (release,)) for release in releases)


def candidate_branches(layer_names: Iterable[str]) -> tuple[str, ...]:
    """Every branch a bump may have left behind for these layers, in either mode."""
    return tuple(sorted({*(branch_for(name) for name in layer_names), PER_PUSH_BRANCH}))


def merged_lock(lock_before: Lock, lock_after: Lock, layers: Iterable[str]) -> Lock:
    """The base's lock with only ``layers`` taken from the new lock: what one bump commit records."""
    lock = lock_before
    for name in layers:
        entry = lock_after.get(name)
        lock = lock.without_layer(name) if entry is None else lock.with_layer(name, entry)
    return lock


def layers_known(config: Config, *locks: Lock) -> tuple[str, ...]:
    names = {layer.name for layer in config.layers}
    for lock in locks:
        names.update(lock.layers)
    return tuple(sorted(names))


def removed_layers(config: Config, *locks: Lock) -> tuple[str, ...]:
    """Layers a lock still names but layer-ci.yml no longer declares."""
    configured = {layer.name for layer in config.layers}
    return tuple(sorted({name for lock in locks for name in lock.layers} - configured))
