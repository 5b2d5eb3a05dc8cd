"""``layer-ci run``: the main job on this checkout: build, publish, move pins, test consumers, summarise."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from layer_ci.flows.outcome import PushOutcome

HELP = (
    "the main job: build changed layers, publish them, test every affected function against the new "
    "versions and move the pins in the working tree (no GitHub needed)"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("layers", nargs="*", metavar="LAYER", help="only these layers (default: all changed)")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="build and test against the built zips, but publish nothing and rewrite no file",
    )
    parser.add_argument(
        "--no-test", action="store_true", help="do not run the affected functions' tests before moving pins"
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="consider the named (or all) layers even when the lock says they are published "
        "(a version holding the same zip is reused, never duplicated)",
    )
    parser.add_argument("--json", action="store_true", help="print the outcome as JSON")


def run(args: argparse.Namespace) -> int:
    from layer_ci.flows.push import PushOptions, current_commit, run_push
    from layer_ci.flows.services import Services
    from layer_ci.plan.config_cache import load_config_cached
    from layer_ci.publish.registries import registry_factory

    config = load_config_cached(Path(args.config) if args.config else None)
    services = Services(registry_factory=None if args.dry_run else registry_factory(config))
    options = PushOptions(
        dry_run=args.dry_run,
        run_tests=not args.no_test,
        layers=tuple(dict.fromkeys(args.layers)),
        force=args.force,
        commit=current_commit(config.root),
    )
    outcome = run_push(config, services, options)
    if args.json:
        print(json.dumps(outcome_json(outcome), indent=2))
    else:
        print(render_outcome(outcome))
    return outcome.exit_code


def outcome_json(outcome: PushOutcome) -> dict[str, Any]:
    return {
        "dry_run": outcome.dry_run,
        "nothing_to_do": outcome.nothing_to_do,
        "changed_layers": list(outcome.targets),
        "built": [
            {
                "layer": b.layer,
                "zip_sha256": b.zip_sha256,
                "zipped_bytes": b.zipped_bytes,
                "unzipped_bytes": b.unzipped_bytes,
            }
            for b in outcome.built
        ],
        "published": [
            {"layer": p.layer, "region": p.region, "version": p.version, "arn": p.arn, "created": p.created}
            for p in outcome.published
        ],
        "pin_changes": [
            {
                "path": c.path,
                "line": c.line,
                "layer": c.layer,
                "region": c.region,
                "from": c.old_version,
                "to": c.new_version,
            }
            for c in outcome.pin_changes
        ],
        "pins_current": outcome.pins_current,
        "held_back": list(outcome.held_back),
        "tests": [
            {
                "function": c.function,
                "status": c.status,
                "layers": list(c.layers),
                "headline": c.headline,
                "duration_s": c.duration_s,
            }
            for c in outcome.checks
        ],
        "tests_passed": outcome.tests_passed,
    }


def _table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header) - 1)]
    lines = []
    for row in [header, *rows]:
        cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return lines


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def render_outcome(outcome: PushOutcome) -> str:
    """The summary a person reads after `layer-ci run`: layers, pins, tests, then one verdict line."""
    if outcome.nothing_to_do:
        layers = len(outcome.plan.changes)
        return (
            f"nothing to do: {_plural(layers, 'layer')} unchanged since layer-ci.lock, "
            f"{_plural(outcome.pins_current, 'pin')} current"
        )
    lines: list[str] = []
    rows = [
        (
            row.layer,
            row.region,
            f"({row.version_label})" if row.dry_run else row.version_label,
            f"{row.built.zipped_label} zip, {row.built.unzipped_label} unzipped" if row.built else "-",
            row.reason,
        )
        for row in outcome.layer_rows()
    ]
    if rows:
        lines += _table(("LAYER", "REGION", "VERSION", "SIZE", "WHY"), rows)
    if outcome.pin_changes:
        lines.append("")
        lines += _table(
            ("PIN", "LAYER", "CHANGE"),
            [
                (f"{c.path}:{c.line}", c.layer, f"v{c.old_version} -> v{c.new_version}")
                for c in outcome.pin_changes
            ],
        )
    if outcome.checks:
        lines.append("")
        lines += _table(
            ("FUNCTION", "RESULT", "TIME", "LAYERS UNDER TEST"),
            [
                (
                    c.function,
                    c.status.upper(),
                    f"{c.duration_s:.1f} s" if c.status != "skipped" else "-",
                    ", ".join(c.layers) or "-",
                )
                for c in outcome.checks
            ],
        )
        for check in outcome.checks:
            if not check.passed and check.headline:
                lines.append(f"  {check.function}: {check.headline}")
    for layer in outcome.held_back:
        lines.append(f"held back: {layer} pins stay at their old version until its consumers pass")
    lines.append("")
    lines.append(_verdict(outcome))
    return "\n".join(lines)


def _verdict(outcome: PushOutcome) -> str:
    tested = [c for c in outcome.checks if c.status != "skipped"]
    passed = sum(1 for c in tested if c.passed)
    tests = f"{passed} of {_plural(len(tested), 'function')} passed" if tested else "no tests run"
    if outcome.dry_run:
        return f"dry run: built {_plural(len(outcome.built), 'layer')}, published nothing; {tests}"
    created = sum(1 for p in outcome.published if p.created)
    reused = len(outcome.published) - created
    published = f"published {_plural(created, 'layer version')}"
    if reused:
        published += f" ({reused} reused)"
    pins = f"moved {_plural(len(outcome.pin_changes), 'pin')} ({outcome.pins_current} already current)"
    verdict = "FAILED" if outcome.tests_passed is False else "OK"
    return f"{verdict}: {published}, {pins}, {tests}"
