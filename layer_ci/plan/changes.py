"""The change plan: which layers need a build or a publish since layer-ci.lock, and who consumes them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from layer_ci.model import Config, LayerSpec
from layer_ci.plan.inputs import (
    PART_BUILD,
    PART_FILES,
    PART_REQUIREMENTS,
    PART_TARGET,
    GitIndexLookup,
    LayerInputs,
    changed_parts,
    layer_inputs,
    requirement_files,
)
from layer_ci.plan.lockfile import Lock

Status = Literal["new", "changed", "unpublished", "unchanged", "removed"]

REASON_NEW = "new layer (not in layer-ci.lock)"
REASON_CHANGED = "inputs changed"
# When the lock recorded the digest of each input part, the reason names the parts that differ.
REASON_FORMAT_CHANGED = "inputs changed: the input key format changed (layer-ci was upgraded)"
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
    changed_parts: tuple[str, ...] = ()  # input parts that differ from the lock's, when both are known

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
            "changed_parts": list(self.changed_parts),
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


def make_plan(
    config: Config,
    lock: Lock,
    *,
    keys: Mapping[str, str] | None = None,
    index: GitIndexLookup | None = None,
) -> Plan:
    """Compare each layer's current input key (computed unless ``keys`` is given) with ``lock``.

    Given bare ``keys``, a changed layer's reason cannot say which part of its inputs changed. ``index``
    is a git index lookup started earlier (see ``layer_ci.plan.inputs.GitIndexLookup``).
    """
    inputs: Mapping[str, LayerInputs] = (
        layer_inputs(config.layers, config.root, index=index)
        if keys is None
        else {name: LayerInputs(key) for name, key in keys.items()}
    )
    consumers: dict[str, list[str]] = {layer.name: [] for layer in config.layers}
    for function in config.functions:
        for layer_name in dict.fromkeys(function.layers):
            consumers.setdefault(layer_name, []).append(function.name)

    changes = []
    for layer in config.layers:
        current = inputs[layer.name]
        key = current.key
        locked = lock.get(layer.name)
        users = tuple(sorted(consumers[layer.name]))
        if locked is None:
            change = LayerChange(layer.name, "new", REASON_NEW, key, None, users, layer.regions)
        elif locked.input_key != key:
            parts = changed_parts(locked.input_parts, current.parts)
            change = LayerChange(
                layer.name,
                "changed",
                changed_reason(layer, locked.input_parts, current.parts),
                key,
                locked.input_key,
                users,
                layer.regions,
                parts,
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


def changed_reason(layer: LayerSpec, previous: Mapping[str, str], current: Mapping[str, str]) -> str:
    """Why a layer's key changed: the parts that differ, when the lock recorded them."""
    if not previous or not current:
        return REASON_CHANGED
    parts = changed_parts(previous, current)
    if not parts:
        return REASON_FORMAT_CHANGED
    labels = {
        PART_REQUIREMENTS: _requirements_label(layer),
        PART_FILES: "source files",
        PART_BUILD: "build settings",
        PART_TARGET: "target (compatible runtimes/architectures)",
    }
    return f"{REASON_CHANGED}: {', '.join(labels[part] for part in parts)}"


def _requirements_label(layer: LayerSpec) -> str:
    if layer.build.method == "nodejs":
        return "package.json or its lock file"
    files = requirement_files(layer)
    return f"requirements file {files[0]}" if files else "requirements"
