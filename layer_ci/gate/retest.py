"""Layer versions published here whose consumers have not passed yet, so the next run tests them again."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Collection, Iterable
from pathlib import Path

from layer_ci.fsutil import UnsafePathError, read_own_file, state_dir, write_atomically
from layer_ci.model import Config, PublishedVersion
from layer_ci.plan.lockfile import Lock

# Local state, not committed: whether a function passes depends on this machine, and the pins alone cannot
# tell. A version is marked as soon as it is published and unmarked only when its consumers pass, so a run
# stopped in between (Ctrl-C, a crash, `layer-ci publish` alone) or failed leaves it marked. Without it,
# when the pins already name the new version (a first publish), the next run would say "nothing to do"
# and exit 0 while the functions stay broken or untested.
RECORD_NAME = "failed-tests.json"

_LIMIT = 1 << 20  # a few ARNs per layer; far more is no record of ours

Record = dict[str, list[str]]  # layer -> ARNs of its versions whose consumers have not passed


_STATE = ".layer-ci"


def _path(config: Config) -> Path:
    return state_dir(config.root, _STATE) / RECORD_NAME


def _read(config: Config) -> Record | None:
    """The record ({} when there is none); None when it cannot be read."""
    try:
        path = _path(config)
    except UnsafePathError:
        return None  # .layer-ci is a link or a file: writing the record says so, reading finds none
    if not os.path.lexists(path):
        return {}
    # Part of the checkout, so anyone's to change: a link, a FIFO, a huge or deeply nested file is no record.
    data = read_own_file(path, limit=_LIMIT, deny_mode=0, owner_only=False)
    try:
        recorded = json.loads(data) if data is not None else None
    except (ValueError, RecursionError):
        return None
    if not isinstance(recorded, dict) or not all(
        isinstance(arns, list) and all(isinstance(arn, str) for arn in arns) for arns in recorded.values()
    ):
        return None
    return recorded


def _write(config: Config, record: Record) -> None:
    path = _path(config)
    if not record and not path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {layer: sorted(set(arns)) for layer, arns in sorted(record.items()) if arns}
    write_atomically(path, json.dumps(data, indent=2).encode() + b"\n")


def _lock_arns(lock: Lock, layer: str) -> set[str]:
    locked = lock.get(layer)
    return {ref.arn for ref in locked.published.values()} if locked else set()


def mark_untested(config: Config, version: PublishedVersion) -> None:
    """Remember a version just published: its consumers are tested before it counts as good."""
    record = _read(config) or {}
    record.setdefault(version.layer, []).append(version.arn)
    _write(config, record)


def untested_layers(config: Config, lock: Lock) -> tuple[str, ...] | None:
    """Layers whose versions in the lock have consumers that failed or were never tested, in config order;
    None when the record cannot be read."""
    record = _read(config)
    if record is None:
        return None
    return tuple(
        layer.name
        for layer in config.layers
        if _lock_arns(lock, layer.name) & set(record.get(layer.name, ()))
    )


def pending_retests(config: Config, lock: Lock, log: Callable[[str], None]) -> tuple[str, ...]:
    """Layers whose versions in the lock have consumers that failed or were never tested, in config order."""
    pending = untested_layers(config, lock)
    if pending is None:
        # Forgetting a failure would let broken functions pass for healthy: test everything instead.
        # Named without state_dir's checks: a .layer-ci that is a link is one reason it is unreadable.
        log(f"{config.root / _STATE / RECORD_NAME} is unreadable; testing every layer's consumers again")
        return tuple(layer.name for layer in config.layers if _lock_arns(lock, layer.name))
    for name in pending:
        log(f"{name}: its consumers have not passed against this version yet; testing them")
    return pending


def record_results(
    config: Config, lock: Lock, tested: Iterable[str], failed_functions: Collection[str]
) -> None:
    """Keep the tested layers with a failed consumer marked; unmark those whose consumers all passed."""
    record = _read(config) or {}
    declared = {layer.name for layer in config.layers}
    record = {layer: arns for layer, arns in record.items() if layer in declared}
    for name in tested:
        if any(function.name in failed_functions for function in config.consumers(name)):
            record[name] = [*record.get(name, ()), *_lock_arns(lock, name)]
        else:
            record.pop(name, None)  # the lock's version passed: older marks no longer matter
    _write(config, record)
