"""The pin edits of one bump: which functions each pin feeds, and every file's new text (in memory only).

Like dependabot's file updaters this returns changed files and never writes to disk; the commit is built
from them on top of the base branch. A pin feeding a function whose tests failed keeps its old version.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

from layer_ci.bump.releases import LayerRelease, ignore_reason
from layer_ci.model import Config
from layer_ci.pins.find import Pin
from layer_ci.pins.owners import PinReader, pin_owners
from layer_ci.pins.rewrite import rewrite_text, target_version
from layer_ci.report.facts import KeptPin


@dataclass(frozen=True)
class PinEdits:
    """What bumping the released layers does: the changed files' new texts, and what became of each pin."""

    files: Mapping[str, str] = field(default_factory=dict)
    changed: tuple[Pin, ...] = ()
    current: tuple[Pin, ...] = ()
    kept: tuple[KeptPin, ...] = ()
    pins: tuple[Pin, ...] = ()  # every pin of a released layer

    @property
    def has_pins(self) -> bool:
        return bool(self.pins)


def plan_pin_edits(
    config: Config,
    texts: Mapping[str, str],
    releases: Sequence[LayerRelease],
    *,
    blocked: Mapping[str, str] | None = None,
    reader: PinReader | None = None,
) -> PinEdits:
    """Rewrite every pin of the released layers in ``texts`` (path -> text) to its region's new version.

    ``blocked`` maps functions whose tests failed to a reason; their pins keep the old version, as do
    pins ``settings.ignore`` names (listed with the rule as the reason).
    """
    reader = reader or PinReader(config)
    blocked = blocked or {}
    released = {release.layer for release in releases}
    new_versions: dict[tuple[str, str | None], int] = {}
    for release in releases:
        new_versions.update(release.new_versions)
    accounts = {release.account for release in releases}
    account = accounts.pop() if len(accounts) == 1 else None

    files: dict[str, str] = {}
    changed: list[Pin] = []
    current: list[Pin] = []
    kept: list[KeptPin] = []
    every: list[Pin] = []
    for path in sorted(texts):
        text = texts[path]
        pins = reader.pins(path, text)
        relevant = [pin for pin in pins if pin.layer in released]
        if not relevant:
            continue
        every.extend(relevant)
        owners = pin_owners(config, pins)
        allowed: list[Pin] = []
        for pin in relevant:
            ignored = ignore_reason(config.settings.ignore, pin.layer, owners.get(pin, ()))
            failing = [name for name in owners.get(pin, ()) if name in blocked]
            if ignored is None and not failing:
                allowed.append(pin)
                continue
            target = target_version(pin, new_versions)
            if target is None or target == pin.version:
                continue
            if account is not None and pin.account is not None and pin.account != account:
                continue  # another account's layer of the same name: never ours to move
            reasons = ignored if ignored is not None else "; ".join(blocked[name] for name in failing)
            kept.append(KeptPin(f"{path}:{pin.line}", pin.layer, pin.version, reasons))
        result = rewrite_text(text, allowed, new_versions, account=account)
        changed.extend(result.changed)
        current.extend(result.already_current)
        for pin in result.unresolved:
            where = (
                "its region is a placeholder and the regions' new versions differ"
                if pin.region is None
                else f"{pin.layer} is not published in {pin.region}"
            )
            kept.append(
                KeptPin(f"{path}:{pin.line}", pin.layer, pin.version, f"no single new version: {where}")
            )
        for pin in result.missing:
            kept.append(
                KeptPin(f"{path}:{pin.line}", pin.layer, pin.version, "the reference changed while bumping")
            )
        for pin in result.unmovable:
            kept.append(
                KeptPin(
                    f"{path}:{pin.line}",
                    pin.layer,
                    pin.version,
                    f"unmovable: {pin.unmovable}; edit it by hand",
                )
            )
        if result.text != text:
            files[path] = result.text
    return PinEdits(files, tuple(changed), tuple(current), tuple(kept), tuple(every))


def blocked_reasons(failed: Collection[str], versions: str) -> dict[str, str]:
    """function -> "<function> failed its tests against <versions>" for the pins it keeps back."""
    return {name: f"{name} failed its tests against {versions}" for name in failed}
