"""``layer-ci invoke``: call a function's handler once with its layers under /opt; print its JSON result."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from layer_ci.commands.test import add_engine_arguments, engine_options, positive_seconds

HELP = "invoke a function's handler once, locally, with its layers (prints the handler's JSON result)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("function", metavar="FUNCTION", help="the function to invoke")
    parser.add_argument("--event", metavar="FILE", help="JSON event file ('-' reads stdin; default: {})")
    add_engine_arguments(parser)
    parser.add_argument(
        "--timeout",
        type=positive_seconds,
        default=None,
        metavar="SECONDS",
        help="the invocation's timeout (default: the function's configured timeout)",
    )


def run(args: argparse.Namespace) -> int:
    from layer_ci.config_cache import load_config_cached
    from layer_ci.engine import invoke_function, parse_layer_options
    from layer_ci.engine.invoke import read_event

    config = load_config_cached(Path(args.config) if args.config else None)
    event = read_event(args.event)
    result = invoke_function(
        config,
        args.function,
        event,
        parse_layer_options(args.layer),
        options=engine_options(args),
        timeout_s=args.timeout,
    )
    for warning in result.warnings:
        print(f"layer-ci: warning: {warning}", file=sys.stderr)
    if result.interpreter_mismatch:
        print(f"layer-ci: warning: ran on {result.interpreter}, not the runtime's version", file=sys.stderr)
    if result.logs:
        sys.stderr.write(result.logs if result.logs.endswith("\n") else result.logs + "\n")
    sys.stderr.flush()
    print(result.payload, flush=True)
    return 0 if result.ok else 1
