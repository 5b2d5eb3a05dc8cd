"""The local bump: pins that lag layer-ci.lock, moved in the working tree once their consumers passed.

`layer-ci run` without GitHub ends here instead of in bump pull requests. A layer is held back as a whole
when any consumer failed against its new version, so a half-moved layer never reaches a deploy.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from layer_ci.model import Config
from layer_ci.plan.lockfile import Lock

if TYPE_CHECKING:
    from layer_ci.pins.find import Pin


@dataclass(frozen=True)
class PinMove:
    """One pin moved in the working tree (local mode); a pull request's are report.facts.PinChange."""

    path: str
    line: int
    layer: str
    region: str | None
    old_version: int
    new_version: int


@dataclass(frozen=True)
class PinPlan:
    """Pins that lag behind the lock, grouped so a layer can be held back as a whole."""

    pins: tuple[Pin, ...]
    new_versions: Mapping[tuple[str, str | None], int]
    account: str | None
    behind: Mapping[str, tuple[Pin, ...]]  # layer -> its pins that would move
    current: int


def published_versions(lock: Lock, layers: Sequence[str]) -> dict[tuple[str, str | None], int]:
    """(layer, region) -> the version the lock records; (layer, None) when every region agrees.

    The None entry serves pins whose region is a placeholder (``${AWS::Region}``): they can only move when
    one version number is right for every region the stack may be deployed to.
    """
    from layer_ci.bump.releases import locked_versions

    versions: dict[tuple[str, str | None], int] = {}
    for name in layers:
        for region, version in locked_versions(lock, name).items():
            versions[(name, region)] = version
    return versions


def _lock_account(lock: Lock) -> str | None:
    from layer_ci.publish.registry_contract import parse_layer_arn

    for locked in lock.layers.values():
        for ref in locked.published.values():
            parsed = parse_layer_arn(ref.arn)
            if parsed is not None:
                return parsed.account
    return None


def plan_pins(config: Config, lock: Lock) -> PinPlan:
    """Every pin of a configured layer against the lock: which lag (by layer) and how many are current."""
    from layer_ci.pins.find import find_pins
    from layer_ci.pins.rewrite import target_version

    pins = tuple(find_pins(config.root, config))
    new_versions = published_versions(lock, [layer.name for layer in config.layers])
    account = _lock_account(lock)
    behind: dict[str, list[Pin]] = {}
    current = 0
    if config.settings.ignore:  # pins layer-ci.yml keeps where they are on purpose: never moved
        from layer_ci.bump.releases import ignore_reason
        from layer_ci.pins.owners import pin_owners

        owners = pin_owners(config, pins)
        pins = tuple(
            pin
            for pin in pins
            if ignore_reason(config.settings.ignore, pin.layer, owners.get(pin, ())) is None
        )
    for pin in pins:
        if (pin.layer, pin.region) not in new_versions and (pin.layer, None) not in new_versions:
            continue
        if account is not None and pin.account is not None and pin.account != account:
            continue  # another account's layer that shares a name with ours
        target = target_version(pin, new_versions)
        if target is None:
            continue
        if target == pin.version:
            current += 1
        else:
            behind.setdefault(pin.layer, []).append(pin)
    return PinPlan(
        pins, new_versions, account, {name: tuple(found) for name, found in behind.items()}, current
    )


def held_back_layers(config: Config, pin_plan: PinPlan, failed: Collection[str]) -> tuple[str, ...]:
    """The lagging layers a failed function (by name) uses: their pins stay where they are."""
    return tuple(
        name
        for name in pin_plan.behind
        if any(function.name in failed for function in config.consumers(name))
    )


def move_pins(
    config: Config, pin_plan: PinPlan, held_back: Collection[str], log: Callable[[str], None]
) -> tuple[PinMove, ...]:
    """Rewrite every lagging pin of the layers not held back to the lock's version, file by file."""
    from layer_ci.pins.rewrite import plan_file_rewrites, target_version, write_atomically

    movable = {key: version for key, version in pin_plan.new_versions.items() if key[0] not in held_back}
    pins = [pin for name, found in pin_plan.behind.items() if name not in held_back for pin in found]
    changes: list[PinMove] = []
    for rewrite in plan_file_rewrites(config.root, pins, movable, account=pin_plan.account):
        for pin in rewrite.result.unmovable:
            log(
                f"{pin.location}: {pin.layer} v{pin.version} not moved: "
                f"unmovable: {pin.unmovable}; edit it by hand"
            )
        if not rewrite.changed:
            continue
        write_atomically(rewrite.path, rewrite.after)
        for pin in rewrite.result.changed:
            new = target_version(pin, movable)
            assert new is not None
            changes.append(PinMove(pin.path, pin.line, pin.layer, pin.region, pin.version, new))
            log(f"{pin.path}:{pin.line}: {pin.layer} v{pin.version} -> v{new}")
    return tuple(changes)
