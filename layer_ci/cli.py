"""The ``layer-ci`` command line: parses arguments and hands each subcommand to its module."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
from collections.abc import Sequence
from types import ModuleType

from layer_ci import __version__
from layer_ci.errors import EXIT_USAGE, LayerCiError

# One module per subcommand under layer_ci/commands/, each exposing HELP, add_arguments(parser) and
# run(args) -> int. Command modules import heavy libraries (boto3, PyGithub) inside run() so that
# `layer-ci plan` stays fast when nothing changed.
COMMANDS: tuple[str, ...] = (
    "plan",
    "build",
    "test",
    "invoke",
    "publish",
    "audit",
    "prune",
    "pins",
    "bump",
    "verify",
    "run",
    "schema",
)

BUG_REPORT_URL = "https://github.com/layer-ci/layer-ci/issues"


def _load(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(f"layer_ci.commands.{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"layer_ci.commands.{name}":
            return None
        raise


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="layer-ci",
        description="Build, publish, bump and test AWS Lambda layers safely.",
    )
    parser.add_argument("--version", action="version", version=f"layer-ci {__version__}")
    parser.add_argument(
        "--config",
        default=None,
        help="path to layer-ci.yml (default: ./layer-ci.yml, the repository root is its folder)",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in COMMANDS:
        module = _load(name)
        if module is None:
            continue
        sub = subparsers.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(sub)
        sub.set_defaults(handler=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.handler(args)
        return code
    except LayerCiError as exc:
        print(f"layer-ci: error: {exc.one_line()}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("layer-ci: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: say so in one line, keep the traceback for those who ask
        if os.environ.get("LAYER_CI_DEBUG"):
            traceback.print_exc()
        print(
            f"layer-ci: internal error (a bug, not your input): {type(exc).__name__}: {exc}; "
            f"rerun with LAYER_CI_DEBUG=1 for the traceback and report it at {BUG_REPORT_URL}",
            file=sys.stderr,
        )
        return EXIT_USAGE + 68  # 70 = EX_SOFTWARE
