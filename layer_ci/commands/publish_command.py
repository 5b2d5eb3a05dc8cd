"""``layer-ci publish``: build changed layers, publish them to every region idempotently, record the lock."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from layer_ci.fsutil import state_dir

HELP = (
    "publish changed layers to their regions (identical versions are reused, never duplicated) "
    "and record them in layer-ci.lock"
)
DEFAULT_OUT = Path(".layer-ci") / "build"
UNKNOWN_COMMIT = "unknown"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("layers", nargs="*", metavar="LAYER", help="layers to publish (default: all changed)")
    parser.add_argument(
        "--force",
        action="store_true",
        help="consider the named (or all) layers in every region even if the lock says they are published "
        "(also re-applies share_with); a version holding the same zip is still reused",
    )
    parser.add_argument(
        "--out",
        default=None,
        metavar="DIR",
        help=f"build folder (default: {DEFAULT_OUT} under the repository root)",
    )
    parser.add_argument("--cache-dir", default=None, metavar="DIR", help="installer caches (uv, pip, npm)")
    parser.add_argument(
        "--commit",
        default=None,
        metavar="SHA",
        help="git commit recorded in version descriptions (default: $GITHUB_SHA, else the checkout's HEAD)",
    )
    parser.add_argument("--json", action="store_true", help="print the published versions as JSON")


def run(args: argparse.Namespace) -> int:
    # Imported here so `layer-ci plan` and `--help` never load boto3 or the builders.
    from layer_ci.build.layer import build_layer
    from layer_ci.flows.push import PushOptions, select_targets
    from layer_ci.gate.budget import check_before_publish
    from layer_ci.lambda_spec.limits import raise_on_violations
    from layer_ci.plan.changes import make_plan
    from layer_ci.plan.config_cache import load_config_cached
    from layer_ci.plan.lockfile import load_lock, save_lock
    from layer_ci.publish.publisher import publish_layers
    from layer_ci.publish.registries import registry_factory

    config = load_config_cached(Path(args.config) if args.config else None)
    named = tuple(layer.name for layer in config.select_layers(args.layers)) if args.layers else ()
    lock = load_lock(config.root)
    plan = make_plan(config, lock)
    # The same choice of layers and regions as `layer-ci run` makes.
    targets = select_targets(config, plan, PushOptions(layers=named, force=args.force))
    if not targets:
        _say("nothing to publish: every layer is published at its current inputs (use --force to recheck)")
        if args.json:
            print("[]")
        return 0

    keys = {change.layer: change.input_key for change in plan.changes}
    out_dir = Path(args.out) if args.out else state_dir(config.root, DEFAULT_OUT)
    cache_dir = Path(args.cache_dir).resolve() if args.cache_dir else None
    built = []
    for name in targets:
        key = keys[name]
        assert key is not None  # configured layers always have an input key
        _say(f"building {name}")
        built.append(build_layer(config.layer(name), out_dir, input_key=key, cache_dir=cache_dir))
    # Before the first PublishLayerVersion: every affected function with all of its layers counted.
    raise_on_violations(check_before_publish(config, built, lock, warn=_say))

    _, published = publish_layers(
        config,
        built,
        registry_factory(config),
        lock,
        _commit(args.commit, config.root),
        regions=targets,
        save=lambda new_lock: save_lock(config.root, new_lock),
        log=_say,
    )
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "layer": p.layer,
                        "region": p.region,
                        "version": p.version,
                        "arn": p.arn,
                        "code_sha256": p.code_sha256_hex,
                        "created": p.created,
                    }
                    for p in published
                ],
                indent=2,
            )
        )
    else:
        for p in published:
            verb = "published" if p.created else "reused   "
            print(f"{verb} {p.layer} v{p.version} in {p.region}  {p.arn}")
    return 0


def _commit(explicit: str | None, root: Path) -> str:
    if explicit:
        return explicit
    if os.environ.get("GITHUB_SHA"):
        return os.environ["GITHUB_SHA"]
    from layer_ci.adapters.git import GitRepo
    from layer_ci.errors import LayerCiError

    try:
        return GitRepo(root).resolve("HEAD") or UNKNOWN_COMMIT
    except LayerCiError:  # not a git checkout: the commit in descriptions is informational only
        return UNKNOWN_COMMIT


def _say(message: str) -> None:
    print(f"layer-ci: {message}", file=sys.stderr, flush=True)
