"""Safe pruning: delete old versions only when nothing pins, runs or just made them; never the newest."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from layer_ci.errors import UsageError
from layer_ci.model import Config
from layer_ci.pins.find import Pin
from layer_ci.plan.lockfile import Lock
from layer_ci.publish.audit import pin_regions
from layer_ci.publish.registry_contract import DeployedFunction, LayerRegistry, parse_layer_arn

RegistryFactory = Callable[[str], LayerRegistry]
Action = Literal["keep", "delete"]

DEFAULT_KEEP = 5


@dataclass(frozen=True)
class PruneDecision:
    """What prune does with one version, and every reason a kept version stays."""

    layer: str
    region: str
    version: int
    created_date: datetime
    action: Action
    reasons: tuple[str, ...]

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)


def plan_prune(
    config: Config,
    registry_factory: RegistryFactory,
    pins: Sequence[Pin],
    lock: Lock,
    *,
    keep: int,
    grace_days: int,
    now: datetime,
    layers: Sequence[str] = (),
) -> list[PruneDecision]:
    """Decide, per configured layer and region, which versions may go (nothing is deleted here)."""
    if keep < 0:
        raise UsageError(f"--keep must be 0 or more, got {keep}")
    if grace_days < 0:
        raise UsageError(f"--grace-days must be 0 or more, got {grace_days}")
    names = [layer.name for layer in config.select_layers(layers)]
    grace = timedelta(days=grace_days)
    registries: dict[str, LayerRegistry] = {}
    running: dict[str, dict[tuple[str, int], list[str]]] = {}
    decisions: list[PruneDecision] = []
    for name in names:
        for region in config.layer(name).regions:
            if region not in registries:
                registries[region] = registry_factory(region)
                # Every function version counts: an alias may still route traffic to an old one.
                running[region] = _layer_users(registries[region].list_functions(all_versions=True))
            versions = registries[region].list_versions(name)
            pinned = _pinned(config, pins, name, region)
            locked = lock.get(name)
            recorded = locked.published.get(region) if locked else None
            newest_first = sorted(versions, key=lambda info: info.version, reverse=True)
            for rank, info in enumerate(newest_first):
                reasons: list[str] = []
                if rank == 0:
                    reasons.append("newest")
                reasons.extend(f"pinned at {where}" for where in pinned.get(info.version, []))
                reasons.extend(f"used by function {f}" for f in running[region].get((name, info.version), []))
                if recorded is not None and recorded.version == info.version:
                    reasons.append("recorded in layer-ci.lock")
                if rank < keep:
                    reasons.append(f"among the newest {keep}")
                age = now - info.created_date
                if age < grace:
                    reasons.append(f"created {_days(age)} ago, inside the {grace_days}-day grace period")
                if reasons:
                    decisions.append(
                        PruneDecision(name, region, info.version, info.created_date, "keep", tuple(reasons))
                    )
                else:
                    why = (
                        f"older than {grace_days} days, not pinned, not used by any function in {region}, "
                        f"beyond the newest {keep}"
                    )
                    decisions.append(
                        PruneDecision(name, region, info.version, info.created_date, "delete", (why,))
                    )
    return decisions


def apply_prune(decisions: Sequence[PruneDecision], registry_factory: RegistryFactory) -> list[PruneDecision]:
    """Delete the versions marked ``delete``; returns them."""
    registries: dict[str, LayerRegistry] = {}
    deleted = []
    for decision in decisions:
        if decision.action != "delete":
            continue
        if decision.region not in registries:
            registries[decision.region] = registry_factory(decision.region)
        registries[decision.region].delete(decision.layer, decision.version)
        deleted.append(decision)
    return deleted


def render_table(decisions: Sequence[PruneDecision]) -> str:
    """A fixed-width table: one row per version with its action and reason."""
    header = ("LAYER", "REGION", "VERSION", "CREATED", "ACTION", "REASON")
    rows = [
        (d.layer, d.region, str(d.version), d.created_date.strftime("%Y-%m-%d"), d.action, d.reason)
        for d in decisions
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header) - 1)]
    lines = []
    for row in [header, *rows]:
        cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines)


def _layer_users(functions: Sequence[DeployedFunction]) -> dict[tuple[str, int], list[str]]:
    users: dict[tuple[str, int], list[str]] = {}
    for function in functions:
        label = function.name if function.version == "$LATEST" else f"{function.name}:{function.version}"
        for arn in function.layer_arns:
            parsed = parse_layer_arn(arn)
            if parsed is not None and parsed.version is not None:
                users.setdefault((parsed.name, parsed.version), []).append(label)
    return users


def _pinned(config: Config, pins: Sequence[Pin], layer: str, region: str) -> dict[int, list[str]]:
    pinned: dict[int, list[str]] = {}
    for pin in pins:
        if pin.layer == layer and region in pin_regions(config, pin):
            pinned.setdefault(pin.version, []).append(f"{pin.path}:{pin.line}")
    return pinned


def _days(age: timedelta) -> str:
    days = age.total_seconds() / 86400
    return f"{days:.0f} days" if days >= 1 else f"{age.total_seconds() / 3600:.0f} hours"
