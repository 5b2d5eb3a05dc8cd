"""``layer-ci prune``: delete old layer versions nothing pins, runs or recently made (dry run by default)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HELP = (
    "delete old layer versions that no pin references, no deployed function uses and the grace period "
    "has passed; never the newest; prints the table and deletes nothing without --apply"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("layers", nargs="*", metavar="LAYER", help="layers to prune (default: all)")
    parser.add_argument(
        "--keep",
        type=int,
        default=None,
        metavar="N",
        help="always keep the newest N versions (default: settings.prune.keep, else 5)",
    )
    parser.add_argument(
        "--grace-days",
        type=int,
        default=None,
        metavar="D",
        help="keep versions created in the last D days (default: settings.prune.grace_days)",
    )
    parser.add_argument("--apply", action="store_true", help="really delete (default: only print the table)")
    parser.add_argument("--json", action="store_true", help="print the decisions as JSON")


def run(args: argparse.Namespace) -> int:
    from layer_ci.flows.schedule import prune_versions
    from layer_ci.plan.config_cache import load_config_cached
    from layer_ci.publish.prune import render_table
    from layer_ci.publish.registries import registry_factory

    config = load_config_cached(Path(args.config) if args.config else None)
    outcome = prune_versions(
        config,
        registry_factory(config),
        apply=args.apply,
        keep=args.keep,
        grace_days=args.grace_days,
        layers=args.layers,
    )
    decisions, deleted = outcome.decisions, outcome.deleted
    doomed = [d for d in decisions if d.action == "delete"]
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "layer": d.layer,
                        "region": d.region,
                        "version": d.version,
                        "created": d.created_date.isoformat(),
                        "action": d.action,
                        "reasons": list(d.reasons),
                        "deleted": d in deleted,
                    }
                    for d in decisions
                ],
                indent=2,
            )
        )
    else:
        print(render_table(decisions) if decisions else "no layer versions found")
    if args.apply:
        print(f"layer-ci: deleted {len(deleted)} version(s)", file=sys.stderr)
    else:
        print(
            f"layer-ci: dry run: {len(doomed)} version(s) would be deleted; nothing was deleted "
            "(rerun with --apply)",
            file=sys.stderr,
        )
    return 0
