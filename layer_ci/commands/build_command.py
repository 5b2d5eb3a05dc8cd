"""``layer-ci build``: build layers into deterministic zips plus manifests, printing each zip's SHA-256."""

from __future__ import annotations

import argparse
import functools
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from layer_ci.fsutil import state_dir

HELP = "build layers into deterministic zips and manifests (DIR/<layer>.zip, DIR/<layer>.manifest.json)"
DEFAULT_OUT = Path(".layer-ci") / "build"
T = TypeVar("T")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("layers", nargs="*", metavar="LAYER", help="layers to build (default: all)")
    parser.add_argument(
        "--out",
        default=None,
        metavar="DIR",
        help=f"where zips and manifests go (default: {DEFAULT_OUT} under the repository root)",
    )
    parser.add_argument(
        "--cache-dir",
        default=None,
        metavar="DIR",
        help="installer caches (uv, pip, npm) go here instead of their usual places",
    )


def run(args: argparse.Namespace) -> int:
    # Imported here: `layer-ci --help` and other subcommands need neither the config parser nor builders.
    from layer_ci.plan.config_cache import load_config_cached
    from layer_ci.plan.inputs import input_keys

    config = load_config_cached(Path(args.config) if args.config else None)
    wanted = config.select_layers(args.layers)
    out_dir = Path(args.out) if args.out else state_dir(config.root, DEFAULT_OUT)
    cache_dir = Path(args.cache_dir).resolve() if args.cache_dir else None
    # The input keys (git's index, the sources' hashes) are worked out on a thread while the builders load;
    # build_layer waits for them before it starts a build.
    keys = _in_background(lambda: input_keys(wanted, config.root))
    from layer_ci.build.layer import build_layer

    for spec in wanted:
        print(f"layer-ci: building {spec.name} ({spec.build.method})", file=sys.stderr)
        key = functools.partial(_key_of, keys, spec.name)
        built = build_layer(spec, out_dir, input_key=key, cache_dir=cache_dir)
        print(f"{built.manifest.zip_sha256}  {_display(built.zip_path)}", flush=True)
    return 0


def _in_background(work: Callable[[], T]) -> Callable[[], T]:
    """Start ``work`` on a thread now; the call returned waits for its result, or raises its error."""
    results: list[T] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(work())
        except BaseException as exc:  # raised again in the caller's thread
            errors.append(exc)

    thread = threading.Thread(target=run, name="layer-ci input keys", daemon=True)
    thread.start()

    def result() -> T:
        thread.join()
        if errors:
            raise errors[0]
        return results[0]

    return result


def _key_of(keys: Callable[[], dict[str, str]], name: str) -> str:
    return keys()[name]


def _display(path: Path) -> str:
    """The path as sha256sum would print it: relative to the working folder when inside it."""
    try:
        return os.path.relpath(path) if Path(path).resolve().is_relative_to(Path.cwd()) else str(path)
    except ValueError:
        return str(path)
