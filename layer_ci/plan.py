"""The change plan: which layers need a build or a publish since layer-ci.lock, and who consumes them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from layer_ci.inputs import input_keys
from layer_ci.lockfile import Lock
from layer_ci.model import Config

Status = Literal["new", "changed", "unpublished", "unchanged", "removed"]

REASON_NEW = "new layer (not in layer-ci.lock)"
REASON_CHANGED = "inputs changed"
REASON_UNPUBLISHED = "not yet published in {regions}"
REASON_UNCHANGED = "unchanged"
REASON_REMOVED = "removed from config"

# GitHub Actions refuses a matrix with more jobs than this; callers warn rather than fail.
ACTIONS_MATRIX_LIMIT = 256


@dataclass(frozen=True)
class LayerChange:
    """One layer's verdict. ``input_key`` is None for a layer only the lock still names."""

    layer: str
    status: Status
    reason: str
    input_key: str | None
    previous_key: str | None
    consumers: tuple[str, ...] = ()
    publish_regions: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        """Whether the layer needs work (a build and/or a publish)."""
        return self.status in ("new", "changed", "unpublished")

    @property
    def needs_build(self) -> bool:
        """Whether its inputs differ from the recorded zip's (an unpublished region can reuse that zip)."""
        return self.status in ("new", "changed")

    def to_json(self) -> dict[str, Any]:
        return {
            "layer": self.layer,
            "status": self.status,
            "reason": self.reason,
            "input_key": self.input_key,
            "previous_key": self.previous_key,
            "consumers": list(self.consumers),
            "publish_regions": list(self.publish_regions),
            "needs_build": self.needs_build,
        }


@dataclass(frozen=True)
class Plan:
    """Every configured layer's change (in config order) plus lock entries whose layer left the config."""

    changes: tuple[LayerChange, ...]
    removed: tuple[LayerChange, ...] = ()

    @property
    def changed(self) -> tuple[LayerChange, ...]:
        return tuple(change for change in self.changes if change.changed)

    @property
    def unchanged(self) -> tuple[LayerChange, ...]:
        return tuple(change for change in self.changes if not change.changed)

    @property
    def has_changes(self) -> bool:
        return any(change.changed for change in self.changes)

    @property
    def affected_functions(self) -> tuple[str, ...]:
        """Functions consuming at least one changed layer: the ones whose tests must pass."""
        return tuple(sorted({name for change in self.changed for name in change.consumers}))

    def to_matrix(self) -> dict[str, Any]:
        """A GitHub Actions ``strategy.matrix``: one job per changed layer with its consumers.

        With nothing changed this is ``{"include": []}``, which Actions rejects as a matrix; guard the
        job with ``has_changes`` from ``to_json()`` (``layer-ci plan --json``).
        """
        return {
            "include": [
                {"layer": change.layer, "functions": list(change.consumers), "reason": change.reason}
                for change in self.changed
            ]
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "has_changes": self.has_changes,
            "layers": [change.to_json() for change in self.changes],
            "removed": [change.to_json() for change in self.removed],
            "affected_functions": list(self.affected_functions),
            "matrix": self.to_matrix(),
        }


def make_plan(config: Config, lock: Lock, *, keys: Mapping[str, str] | None = None) -> Plan:
    """Compare each layer's current input key (computed unless ``keys`` is given) with ``lock``."""
    if keys is None:
        # Every layer is hashed here, so the stat cache may forget files that belong to none of them.
        keys = input_keys(config.layers, config.root, prune_cache=True)
    consumers: dict[str, list[str]] = {layer.name: [] for layer in config.layers}
    for function in config.functions:
        for layer_name in dict.fromkeys(function.layers):
            consumers.setdefault(layer_name, []).append(function.name)

    changes = []
    for layer in config.layers:
        key = keys[layer.name]
        locked = lock.get(layer.name)
        users = tuple(sorted(consumers[layer.name]))
        if locked is None:
            change = LayerChange(layer.name, "new", REASON_NEW, key, None, users, layer.regions)
        elif locked.input_key != key:
            change = LayerChange(
                layer.name, "changed", REASON_CHANGED, key, locked.input_key, users, layer.regions
            )
        else:
            missing = tuple(region for region in layer.regions if region not in locked.published)
            if missing:
                reason = REASON_UNPUBLISHED.format(regions=", ".join(missing))
                change = LayerChange(layer.name, "unpublished", reason, key, locked.input_key, users, missing)
            else:
                change = LayerChange(layer.name, "unchanged", REASON_UNCHANGED, key, locked.input_key, users)
        changes.append(change)

    configured = {layer.name for layer in config.layers}
    removed = tuple(
        LayerChange(name, "removed", REASON_REMOVED, None, locked.input_key)
        for name, locked in lock.layers.items()
        if name not in configured
    )
    return Plan(tuple(changes), removed)
