"""``layer-ci build``: build layers into deterministic zips plus manifests, printing each zip's SHA-256."""

from __future__ import annotations

import argparse
import functools
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from layer_ci.fsutil import state_dir

if TYPE_CHECKING:
    from layer_ci.model import LayerSpec

HELP = "build layers into deterministic zips and manifests (DIR/<layer>.zip, DIR/<layer>.manifest.json)"
DEFAULT_OUT = Path(".layer-ci") / "build"


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

    config = load_config_cached(Path(args.config) if args.config else None)
    wanted = config.select_layers(args.layers)
    out_dir = Path(args.out) if args.out else state_dir(config.root, DEFAULT_OUT)
    cache_dir = Path(args.cache_dir).resolve() if args.cache_dir else None
    # The input keys (git's index, the sources' hashes) of every layer chosen, worked out once, when
    # build_layer first asks: before a build that runs project code, or while a binary-only install runs.
    keys = _keys_when_asked(wanted, config.root)
    from layer_ci.build.layer import build_layer

    for spec in wanted:
        print(f"layer-ci: building {spec.name} ({spec.build.method})", file=sys.stderr)
        key = functools.partial(_key_of, keys, spec.name)
        built = build_layer(spec, out_dir, input_key=key, cache_dir=cache_dir)
        print(f"{built.manifest.zip_sha256}  {_display(built.zip_path)}", flush=True)
    return 0


def _keys_when_asked(wanted: Sequence[LayerSpec], root: Path) -> Callable[[], dict[str, str]]:
    @functools.cache
    def keys() -> dict[str, str]:
        from layer_ci.plan.inputs import input_keys  # loaded while an installer runs, where one does

        return input_keys(wanted, root)

    return keys


def _key_of(keys: Callable[[], dict[str, str]], name: str) -> str:
    return keys()[name]


def _display(path: Path) -> str:
    """The path as sha256sum would print it: relative to the working folder when inside it."""
    try:
        return os.path.relpath(path) if Path(path).resolve().is_relative_to(Path.cwd()) else str(path)
    except ValueError:
        return str(path)
