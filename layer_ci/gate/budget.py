"""The limits check before anything is published: every affected function with all its layers counted.

A function's unzipped total is its own code plus every layer it uses, not only the layers rebuilt in this
run: an unchanged layer's size comes from layer-ci.lock (recorded when it was published), else from the
manifest of its last build, else it is unknown and skipped with a warning.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from layer_ci.errors import LayerCiError
from layer_ci.lambda_spec.limits import check_function_limits, check_layer_spec
from layer_ci.model import BuiltLayer, Config, FunctionSpec
from layer_ci.plan.lockfile import Lock

BUILD_DIR = Path(".layer-ci") / "build"
# Not deployed with the function: its tests (top level) and bytecode caches (anywhere).
FUNCTION_SKIPPED_TOP = frozenset({"tests", ".pytest_cache", ".layer-ci", ".git"})
FUNCTION_SKIPPED_ANYWHERE = frozenset({"__pycache__"})

Warn = Callable[[str], None]


def _stderr_warning(message: str) -> None:
    print(f"layer-ci: {message}", file=sys.stderr, flush=True)


def check_before_publish(
    config: Config, built: Sequence[BuiltLayer], lock: Lock, *, warn: Warn | None = None
) -> list[str]:
    """Every Lambda limit the built layers would break, one message per violation (empty when none).

    Checks each built layer's name, description and compatibility lists, and each function using a
    built layer: its layer count, runtime and architecture against its layers, and its code plus all of
    its layers against the 262,144,000-byte unzipped limit. ``warn`` (default: stderr) hears about
    layers whose size is unknown; messages start with "warning:".
    """
    say = warn or _stderr_warning
    problems = [problem for layer in built for problem in check_layer_spec(layer.spec)]
    sizes: dict[str, int] = {layer.spec.name: layer.manifest.unzipped_bytes for layer in built}
    unknown: set[str] = set()
    for function in config.functions:
        if not any(name in sizes for name in function.layers):
            continue
        for name in function.layers:
            if name in sizes or name in unknown:
                continue
            size = recorded_unzipped_bytes(config, lock, name)
            if size is None:
                unknown.add(name)
                say(
                    f"warning: the unzipped size of layer '{name}' is unknown (layer-ci.lock does not record "
                    f"it and {BUILD_DIR / (name + '.manifest.json')} is missing or from other inputs); the "
                    "size limit of the functions using it is checked without it; publish the layer once "
                    "(or `layer-ci build` it) to record its size"
                )
            else:
                sizes[name] = size
        problems.extend(check_function_limits(config, function, sizes, function_code_bytes(function)))
    return problems


def recorded_unzipped_bytes(config: Config, lock: Lock, layer: str) -> int | None:
    """The unzipped size of the layer's zip as layer-ci.lock records it, else as its build manifest does.

    A manifest counts only when it was built from the inputs the lock records (the zip now published).
    """
    locked = lock.get(layer)
    if locked is None:
        return None
    if locked.unzipped_bytes is not None:
        return locked.unzipped_bytes
    from layer_ci.build.manifest import read_manifest

    try:
        manifest = read_manifest(config.root / BUILD_DIR / f"{layer}.manifest.json")
    except (OSError, LayerCiError):
        return None
    if manifest.input_key != locked.input_key or manifest.zip_sha256 != locked.zip_sha256:
        return None
    return manifest.unzipped_bytes


def function_code_bytes(function: FunctionSpec) -> int:
    """Bytes of the function's own code: its source folder without tests/ and bytecode caches.

    Files reached through a symlink count with their target's size (deployment packages follow links);
    linked folders are not entered, so a link loop cannot hang the check.
    """
    total = 0
    pending = [(os.fspath(function.source), True)]
    while pending:
        folder, top = pending.pop()
        try:
            scan = os.scandir(folder)
        except OSError:
            continue  # a missing or unreadable folder adds nothing it could measure
        with scan:
            for entry in scan:
                name = entry.name
                if name in FUNCTION_SKIPPED_ANYWHERE or (top and name in FUNCTION_SKIPPED_TOP):
                    continue
                try:
                    if entry.is_dir(follow_symlinks=False):
                        pending.append((entry.path, False))
                    elif entry.is_file() and not name.endswith(".pyc"):
                        total += entry.stat().st_size
                except OSError:
                    continue  # gone while we looked
    return total
