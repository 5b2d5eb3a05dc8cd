"""`layer-ci schema`: print the JSON Schema of layer-ci.yml, or check a config against it (--check)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from layer_ci.errors import EXIT_OK

HELP = "print the JSON Schema of layer-ci.yml (for editors), or --check the config"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--check",
        action="store_true",
        help="instead of printing the schema, load and check the config (--config) and summarise it",
    )


def run(args: argparse.Namespace) -> int:
    if args.check:
        from layer_ci.config.loader import load_config

        config = load_config(Path(args.config) if args.config else None)
        print(f"ok: {len(config.layers)} layers, {len(config.functions)} functions")
        return EXIT_OK
    from layer_ci.config.schema_errors import schema

    print(json.dumps(schema(), indent=2))
    return EXIT_OK
