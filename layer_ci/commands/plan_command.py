"""``layer-ci plan``: which layers changed since layer-ci.lock, why, and which functions consume them."""

from __future__ import annotations

import argparse
import json
import posixpath
import re
import sys
from pathlib import Path

from layer_ci.plan.changes import ACTIONS_MATRIX_LIMIT, Plan, make_plan
from layer_ci.plan.config_cache import DEFAULT_CONFIG, load_config_cached
from layer_ci.plan.inputs import GitIndexLookup, index_scopes
from layer_ci.plan.lockfile import load_lock

HELP = (
    "list layers whose inputs changed since layer-ci.lock, and the functions that consume them (no network)"
)

# `source: layers/x` lines of layer-ci.yml (layers' and functions'), read before the YAML is parsed.
_SOURCE_LINE = re.compile(r"""^[ \t]+source:[ \t]*["']?([^"'#\s]+)""", re.MULTILINE)

_MATRIX_HELP = (
    'print only a GitHub Actions matrix, one line: {"include": [{"layer": ..., "functions": [...], '
    '"reason": ...}]}. With nothing to do it prints {"include":[]}, which Actions rejects as a matrix: '
    "guard the matrix job with `has_changes` from --json, or compare the output with that string"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    output = parser.add_mutually_exclusive_group()
    output.add_argument(
        "--json",
        action="store_true",
        help="print the whole plan as JSON (has_changes, layers with status/reason/keys/consumers, removed, "
        "affected_functions, matrix)",
    )
    output.add_argument("--matrix", action="store_true", help=_MATRIX_HELP)


def run(args: argparse.Namespace) -> int:
    # A no-op plan must stay well under a second on big repositories, fresh clones included. git looks
    # at its index on another thread while the config is parsed, and an unchanged config comes from the
    # cache (which falls back to load_config).
    config_path = Path(args.config) if args.config else None
    early = early_index_lookup(config_path or DEFAULT_CONFIG)
    config = load_config_cached(config_path)
    lock = load_lock(config.root)
    plan = make_plan(config, lock, index=early)
    if args.matrix:
        matrix = plan.to_matrix()
        if len(matrix["include"]) > ACTIONS_MATRIX_LIMIT:
            print(
                f"layer-ci: warning: {len(matrix['include'])} changed layers exceed GitHub Actions' "
                f"{ACTIONS_MATRIX_LIMIT}-job matrix limit; split the job, or run `layer-ci run` without a "
                "matrix",
                file=sys.stderr,
            )
        print(json.dumps(matrix, separators=(",", ":")))
    elif args.json:
        print(json.dumps(plan.to_json(), indent=2, sort_keys=True))
    else:
        from layer_ci.gate.retest import untested_layers

        print(render_text(plan, untested_layers(config, lock) or ()))
    return 0


def early_index_lookup(config_path: Path) -> GitIndexLookup | None:
    """A git index lookup for the folders the config's ``source:`` lines name, started before parsing.

    Only a head start: the lines are read without parsing the YAML, and a folder missed here (or named
    differently) is looked up after the config is loaded, so a wrong guess costs time, never correctness.
    """
    try:
        text = config_path.read_text(encoding="utf-8")
        root = config_path.resolve().parent
    except (OSError, UnicodeDecodeError):
        return None  # the loader reports it properly
    sources = {
        root / written
        for written in _SOURCE_LINE.findall(text)
        if not posixpath.isabs(written) and ".." not in written.split("/")
    }
    scopes = index_scopes(root, sources)
    return GitIndexLookup(root, scopes) if scopes else None


def _short(key: str | None) -> str:
    return "-" if key is None else key[: len("sha256:") + 12]


def render_text(plan: Plan, untested: tuple[str, ...] = ()) -> str:
    """The human summary: changed layers with reasons and consumers, or "nothing to do"; ``untested``:
    layers whose current versions' consumers have not passed yet (gate/retest.py), which the next run tests.
    """
    lines: list[str] = []
    changed = plan.changed
    if untested:
        lines.append(
            f"consumers not yet passed against the current version of: {', '.join(untested)} "
            "(the next run tests them)"
        )
    if not changed and untested:
        count = len(plan.changes)
        lines.append(f"nothing to build: {count} layer{'' if count == 1 else 's'} unchanged")
    elif not changed:
        count = len(plan.changes)
        lines.append(f"nothing to do: {count} layer{'' if count == 1 else 's'} unchanged")
    else:
        lines.append(f"{len(changed)} of {len(plan.changes)} layers need work:")
        width = max(len(change.layer) for change in changed)
        for change in changed:
            lines.append(f"  {change.layer:<{width}}  {change.reason}")
            if change.status == "changed":
                lines.append(
                    f"  {'':<{width}}  input key {_short(change.previous_key)} -> {_short(change.input_key)}"
                )
            consumers = ", ".join(change.consumers) if change.consumers else "(no functions use it)"
            lines.append(f"  {'':<{width}}  consumers: {consumers}")
        unchanged = plan.unchanged
        if unchanged:
            lines.append(f"unchanged: {', '.join(change.layer for change in unchanged)}")
        affected = plan.affected_functions
        lines.append(f"functions to test: {', '.join(affected) if affected else '(none)'}")
    for change in plan.removed:
        lines.append(f"{change.layer}: {change.reason} (no action)")
    return "\n".join(lines)
