"""The layer versions whose consumers failed on the last local run, so the next run tests them again."""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable

from layer_ci.fsutil import state_dir, write_atomically
from layer_ci.model import Config
from layer_ci.plan.lockfile import Lock

# Local state, not committed: whether a function passes depends on this machine, and the pins alone cannot
# tell. Without it, a run whose tests failed against versions the pins already name (a first publish)
# would report "nothing to do" on the next run and exit 0 while the functions stay broken.
RECORD_NAME = "failed-tests.json"


def _versions(lock: Lock, layer: str) -> list[str]:
    locked = lock.get(layer)
    return sorted(ref.arn for ref in locked.published.values()) if locked else []


def pending_retests(config: Config, lock: Lock, log: Callable[[str], None]) -> tuple[str, ...]:
    """Layers whose consumers failed against the versions the lock still records, in config order."""
    path = state_dir(config.root, ".layer-ci") / RECORD_NAME
    try:
        recorded = json.loads(path.read_bytes())
        if not isinstance(recorded, dict):
            raise ValueError("not an object")
    except FileNotFoundError:
        return ()
    except (OSError, ValueError) as exc:
        # Forgetting a failure would let broken functions pass for healthy: test everything instead.
        log(f"{path} is unreadable ({exc}); testing every layer's consumers again")
        return tuple(layer.name for layer in config.layers if _versions(lock, layer.name))
    pending = tuple(
        layer.name
        for layer in config.layers
        if layer.name in recorded and recorded[layer.name] == _versions(lock, layer.name)
    )
    for name in pending:
        log(f"{name}: its consumers failed against this version on the last run; testing them again")
    return pending


def record_results(
    config: Config, lock: Lock, tested: Iterable[str], failed_functions: Collection[str]
) -> None:
    """Remember the tested layers with a failed consumer; forget those whose consumers all passed."""
    path = state_dir(config.root, ".layer-ci") / RECORD_NAME
    try:
        recorded = json.loads(path.read_bytes())
    except (OSError, ValueError):
        recorded = {}
    if not isinstance(recorded, dict):
        recorded = {}
    for name in tested:
        if any(function.name in failed_functions for function in config.consumers(name)):
            recorded[name] = _versions(lock, name)
        else:
            recorded.pop(name, None)
    if not recorded and not path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, json.dumps(recorded, indent=2, sort_keys=True).encode() + b"\n")
