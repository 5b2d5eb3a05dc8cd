"""``layer-ci test``: run a function's tests against chosen layer versions, laid out as Lambda would."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from layer_ci.fsutil import write_atomically

if TYPE_CHECKING:
    from layer_ci.engine.prepare import EngineOptions
    from layer_ci.engine.runner import TestResult

HELP = (
    "run a function's tests with its layers under a stand-in for /opt (no Docker), e.g. against a new version"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("function", metavar="FUNCTION", help="the function whose tests to run")
    add_engine_arguments(parser)
    parser.add_argument(
        "--timeout",
        type=positive_seconds,
        default=600.0,
        metavar="SECONDS",
        help="kill the test command after this long (default: 600)",
    )
    parser.add_argument("--json", action="store_true", help="print the structured result as JSON")
    parser.add_argument("--junit-xml", metavar="PATH", help="also write pytest's JUnit XML here")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="print the output's tail even when the tests pass"
    )


def positive_seconds(text: str) -> float:
    """An argparse type: a finite number of seconds greater than 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds, got {text}")
    return value


def add_engine_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared with ``layer-ci invoke``."""
    parser.add_argument(
        "--layer",
        action="append",
        default=[],
        metavar="NAME=SOURCE",
        help="use this content for layer NAME: a built zip, a version number, a layer version ARN, or "
        "'local' (build from the repository's source); default: the version the function pins",
    )
    parser.add_argument("--region", help="region for versions and AWS_REGION (default: the pins' region)")
    parser.add_argument(
        "--allow-other-python",
        action="store_true",
        help="when the runtime's interpreter is missing, run on the nearest installed one "
        "(the result says so)",
    )
    parser.add_argument(
        "--cache-dir",
        metavar="DIR",
        help="where extracted layers are kept (default: $LAYER_CI_CACHE or ~/.cache/layer-ci)",
    )


def engine_options(args: argparse.Namespace) -> EngineOptions:
    from layer_ci.engine.prepare import EngineOptions

    return EngineOptions(
        region=args.region,
        cache_dir=Path(args.cache_dir).absolute() if args.cache_dir else None,
        allow_other_python=args.allow_other_python,
    )


def run(args: argparse.Namespace) -> int:
    from layer_ci.engine.runner import run_function_tests
    from layer_ci.engine.sources import parse_layer_options
    from layer_ci.plan.config_cache import load_config_cached

    config = load_config_cached(Path(args.config) if args.config else None)
    result = run_function_tests(
        config,
        args.function,
        parse_layer_options(args.layer),
        options=engine_options(args),
        timeout_s=args.timeout,
    )
    if args.junit_xml and result.junit_xml is not None:
        write_atomically(Path(args.junit_xml), result.junit_xml.encode("utf-8"))
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        render(result, verbose=args.verbose)
    return 0 if result.passed else 1


def render(result: TestResult, *, verbose: bool = False) -> None:
    """Human-readable result: context and warnings on stderr, the verdict on stdout."""
    err = sys.stderr
    # The region is empty when nothing needed one (local zips, no pins): say nothing rather than ", )".
    context = ", ".join(part for part in (result.runtime, result.architecture, result.region) if part)
    print(f"layer-ci: function {result.function} ({context})", file=err)
    for layer in result.layers:
        print(
            f"  layer {layer.label}: sha256 {layer.sha256[:12]}, {layer.unzipped_bytes:,} bytes unzipped",
            file=err,
        )
    if result.interpreter:
        mismatch = " (NOT the runtime's version: --allow-other-python)" if result.interpreter_mismatch else ""
        print(f"  interpreter: {result.interpreter} {result.interpreter_version}{mismatch}", file=err)
    if result.isolation:
        where = "/opt (read-only) and /var/task in place" if result.real_opt else "/opt emulated by a folder"
        print(f"  sandbox: {result.isolation}; {where}", file=err)
    for warning in result.warnings:
        print(f"layer-ci: warning: {warning}", file=err)
    for problem in result.preflight_errors:
        print(f"layer-ci: refused: {problem}", file=err)
    if result.output_tail and (verbose or not result.passed):
        print(result.output_tail, file=err)
    counts = ""
    if result.junit is not None:
        junit = result.junit
        counts = (
            f"; {junit.tests} tests, {junit.failures} failed, {junit.errors} errors, {junit.skipped} skipped"
        )
    exit_text = f"exit {result.exit_code}, " if result.exit_code is not None else ""
    line = f"{result.status.upper()}: {result.function} ({exit_text}{result.duration_s:.2f} s{counts})"
    if result.headline and not result.passed:
        line += f": {result.headline}"
    print(line, flush=True)
