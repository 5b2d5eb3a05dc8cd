"""Which layers a bump moves and on which branch.

A layer is pending when the new lock records other versions than the base's lock (a release), or when
pins on the base still name older versions than the new lock records (held back by a failed test, left
behind by a merged bump, or reverted by hand) and ``settings.ignore`` does not keep them there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from layer_ci.lambda_spec.arn import arn_account
from layer_ci.model import Config, IgnoreRule
from layer_ci.pins.find import Pin
from layer_ci.plan.lockfile import Lock, LockedLayer
from layer_ci.report.facts import RegionVersion

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
        return _one_account(r.arn for r in self.regions)


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


def account_of(lock: Lock, layer: str) -> str | None:
    """The account of ``layer``'s published ARNs in ``lock`` (None when unknown or mixed)."""
    locked = lock.get(layer)
    return _one_account(ref.arn for ref in (locked.published.values() if locked else ()))


def _one_account(arns: Iterable[str]) -> str | None:
    """The one account these layer version ARNs name; None when they name none or several."""
    accounts = {arn_account(arn) for arn in arns} - {None}
    return accounts.pop() if len(accounts) == 1 else None


def locked_versions(lock: Lock, layer: str) -> dict[str | None, int]:
    """region -> version ``lock`` records for ``layer``; None -> the version when every region agrees."""
    locked = lock.get(layer)
    if locked is None:
        return {}
    versions: dict[str | None, int] = {region: ref.version for region, ref in locked.published.items()}
    distinct = set(versions.values())
    if len(distinct) == 1:
        versions[None] = distinct.pop()
    return versions


def ignore_reason(rules: Sequence[IgnoreRule], layer: str, owners: Iterable[str]) -> str | None:
    """Why ``settings.ignore`` keeps a pin of ``layer`` feeding ``owners`` where it is (None: it does not)."""
    owned = set(owners)
    for rule in rules:
        if rule.layer == layer and (rule.function is None or rule.function in owned):
            return rule.describe()
    return None


def lagging_pins(
    config: Config,
    lock: Lock,
    texts: Mapping[str, str],
    pins_of: Callable[[str, str], Sequence[Pin]],
    owners_of: Callable[[Sequence[Pin]], Mapping[Pin, tuple[str, ...]]],
) -> dict[str, tuple[Pin, ...]]:
    """layer -> its pins in ``texts`` that name another version than ``lock`` records, ignored ones left out.

    A pin whose region is a placeholder lags only when every region records one version (else no single
    version is right for it); a pin of another account's layer of the same name never lags.
    """
    configured = {layer.name for layer in config.layers}
    versions = {name: locked_versions(lock, name) for name in configured}
    accounts = {name: account_of(lock, name) for name in configured}
    behind: dict[str, list[Pin]] = {}
    for path in sorted(texts):
        pins = [pin for pin in pins_of(path, texts[path]) if pin.layer in configured]
        if not pins:
            continue
        owners = owners_of(pins)
        for pin in pins:
            target = versions[pin.layer].get(pin.region)
            if target is None or target == pin.version:
                continue
            account = accounts[pin.layer]
            if account is not None and pin.account is not None and pin.account != account:
                continue
            if ignore_reason(config.settings.ignore, pin.layer, owners.get(pin, ())) is not None:
                continue
            behind.setdefault(pin.layer, []).append(pin)
    return {name: tuple(found) for name, found in behind.items()}


def pending_releases(
    lock_before: Lock, lock_after: Lock, config: Config, lagging: Mapping[str, Sequence[Pin]]
) -> tuple[LayerRelease, ...]:
    """Released layers (``find_releases``) plus layers whose pins lag ``lock_after``, in name order.

    For a layer whose lock entry did not change, each region's "from" version is the oldest lagging
    pin's there, so the pull request says what the pins move from.
    """
    released = {release.layer: release for release in find_releases(lock_before, lock_after, config)}
    for name, pins in lagging.items():
        if name in released or not pins:
            continue
        locked = lock_after.get(name)
        if locked is None:
            continue
        regions = []
        for region, ref in locked.published.items():
            olds = [pin.version for pin in pins if pin.region in (region, None)]
            regions.append(RegionVersion(region, min(olds) if olds else ref.version, ref.version, ref.arn))
        released[name] = LayerRelease(name, tuple(regions), locked)
    return tuple(released[name] for name in sorted(released))


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


def committed_lock(config: Config, lock_after: Lock) -> Lock:
    """What every bump commit of a run records: the whole new lock, less layers no longer configured.

    Every branch of one run writing the same lock is what lets their pull requests merge in any order:
    git merges identical changes cleanly, where per-layer edits of one file would collide (two new
    layers are inserted at the same place). A layer whose entry merges before its own pins moved is
    still bumped: its pins lag the lock, and lagging pins are proposed on every push.
    """
    configured = {layer.name for layer in config.layers}
    lock = lock_after
    for name in lock_after.layers:
        if name not in configured:
            lock = lock.without_layer(name)
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
