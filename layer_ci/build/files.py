"""The ``files`` build method: copy the layer's folder as it is (``bin/``, ``lib/``, data), links as links."""

from __future__ import annotations

import shutil
from pathlib import Path

from layer_ci.config.build_rules import NEVER_IN_A_LAYER
from layer_ci.errors import BuildError
from layer_ci.model import LayerSpec


def build_files(spec: LayerSpec, staging: Path) -> None:
    """Copy ``spec.source`` into ``staging`` but what never goes in a layer; links stay links (the zipper
    refuses any leaving the tree)."""
    if not spec.source.is_dir():
        raise BuildError(
            f"{spec.location}: layers.{spec.name}.source: {spec.source} is not a folder; create it"
        )
    # The input key skips the same names (left_out), so no edit there rebuilds and none ships.
    ignore = shutil.ignore_patterns(*NEVER_IN_A_LAYER)
    shutil.copytree(spec.source, staging, symlinks=True, dirs_exist_ok=True, ignore=ignore)
