"""Entry point for ``python -m layer_ci``."""

from layer_ci.cli import run

raise SystemExit(run())
