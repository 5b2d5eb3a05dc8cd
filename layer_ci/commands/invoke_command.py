"""``layer-ci invoke``: call a function's handler once with its layers under /opt; print its JSON result."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from layer_ci.commands.test_command import add_engine_arguments, engine_options, positive_seconds

HELP = "invoke a function's handler once, locally, with its layers (prints the handler's JSON result)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("function", metavar="FUNCTION", help="the function to invoke")
    parser.add_argument(
        "--event",
        action="append",
        metavar="FILE",
        help="JSON event file ('-' reads stdin; default: {}); repeat it to send several events in turn "
        "(a custom runtime serves them from one warm environment), one result per line",
    )
    add_engine_arguments(parser)
    parser.add_argument(
        "--timeout",
        type=positive_seconds,
        default=None,
        metavar="SECONDS",
        help="the invocation's timeout (default: the function's configured timeout)",
    )


def run(args: argparse.Namespace) -> int:
    from layer_ci.engine.custom_runtime import CustomInvokeResult, invoke_events
    from layer_ci.engine.invoke import read_event
    from layer_ci.engine.sources import parse_layer_options
    from layer_ci.plan.config_cache import load_config_cached

    config = load_config_cached(Path(args.config) if args.config else None)
    events = [read_event(path) for path in args.event or [None]]
    results = invoke_events(
        config,
        args.function,
        events,
        parse_layer_options(args.layer),
        options=engine_options(args),
        timeout_s=args.timeout,
    )
    for warning in dict.fromkeys(warning for result in results for warning in result.warnings):
        print(f"layer-ci: warning: {warning}", file=sys.stderr)
    for result in results:
        if result.interpreter_mismatch:
            note = f"layer-ci: warning: ran on {result.interpreter}, not the runtime's version"
            print(note, file=sys.stderr)
        if result.logs:
            sys.stderr.write(result.logs if result.logs.endswith("\n") else result.logs + "\n")
        if isinstance(result, CustomInvokeResult) and not result.ok:
            print(
                f"layer-ci: {result.function} failed ({result.function_error}, error type "
                f"{result.error_type}; bootstrap {result.bootstrap or 'not found'})",
                file=sys.stderr,
            )
        sys.stderr.flush()
        print(result.payload, flush=True)
    return 0 if all(result.ok for result in results) else 1
