"""``layer-ci audit``: pins to deleted or missing layer versions (errors), deployed drift (warnings)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from layer_ci.errors import EXIT_FAILURE, EXIT_OK

HELP = (
    "check that every pinned layer version still exists (a deleted one breaks the next deploy) "
    "and compare deployed functions with the pins"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-drift", action="store_true", help="skip comparing deployed functions (ListFunctions)"
    )
    parser.add_argument("--json", action="store_true", help="print errors and warnings as JSON")


def run(args: argparse.Namespace) -> int:
    from layer_ci.flows.schedule import audit_pins
    from layer_ci.plan.config_cache import load_config_cached
    from layer_ci.publish.registries import registry_factory

    config = load_config_cached(Path(args.config) if args.config else None)
    report = audit_pins(config, registry_factory(config), check_drift=not args.no_drift)
    if args.json:
        print(
            json.dumps(
                {
                    "ok": report.ok,
                    "errors": list(report.errors),
                    "warnings": list(report.warnings),
                    "pins_checked": report.pins_checked,
                    "functions_compared": report.functions_compared,
                },
                indent=2,
            )
        )
    else:
        for error in report.errors:
            print(f"error: {error}")
        for warning in report.warnings:
            print(f"warning: {warning}")
        summary = (
            f"layer-ci: audit checked {report.pins_checked} pin(s), compared {report.functions_compared} "
            f"deployed function(s): {len(report.errors)} error(s), {len(report.warnings)} warning(s)"
        )
        print(summary, file=sys.stderr)
    return EXIT_OK if report.ok else EXIT_FAILURE
