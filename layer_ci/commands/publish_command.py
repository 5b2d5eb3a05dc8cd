"""``layer-ci publish``: build changed layers, publish them to every region idempotently, record the lock."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HELP = (
    "publish changed layers to their regions (identical versions are reused, never duplicated) "
    "and record them in layer-ci.lock"
)


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
        help="build folder (default: .layer-ci/build under the repository root)",
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
    from layer_ci.flows.push import PushOptions, build_within_limits, current_commit, select_targets
    from layer_ci.flows.services import Services, stderr_log
    from layer_ci.gate.retest import mark_untested
    from layer_ci.plan.changes import make_plan
    from layer_ci.plan.config_cache import load_config_cached
    from layer_ci.plan.lockfile import load_lock, save_lock
    from layer_ci.publish.publisher import publish_layers
    from layer_ci.publish.registries import registry_factory

    config = load_config_cached(Path(args.config) if args.config else None)
    named = tuple(layer.name for layer in config.select_layers(args.layers)) if args.layers else ()
    options = PushOptions(
        layers=named,
        force=args.force,
        commit=args.commit or current_commit(config.root),
        out_dir=Path(args.out) if args.out else None,
        build_cache_dir=Path(args.cache_dir).resolve() if args.cache_dir else None,
    )
    lock = load_lock(config.root)
    plan = make_plan(config, lock)
    # The same choice of layers and regions, and the same build step, as `layer-ci run` makes.
    targets = select_targets(config, plan, options)
    if not targets:
        stderr_log(
            "nothing to publish: every layer is published at its current inputs (use --force to recheck)"
        )
        if args.json:
            print("[]")
        return 0
    built = build_within_limits(config, plan, lock, targets, Services(), options)
    _, published = publish_layers(
        config,
        built,
        registry_factory(config),
        lock,
        options.commit,
        regions=targets,
        save=lambda new_lock: save_lock(config.root, new_lock),
        log=stderr_log,
        # Its consumers are untested: the next `layer-ci run` tests them even when the pins name it.
        on_published=lambda version: mark_untested(config, version),
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
