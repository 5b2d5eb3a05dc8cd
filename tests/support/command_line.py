"""The layer-ci command line as a user starts it: a subprocess in the repository with a clean environment."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

# Variables of the developer's shell or CI job that would change what the command does.
CALLERS_OWN = ("LAYER_CI_", "AWS_", "GITHUB_")


def run_layer_ci(
    config: Path,
    *args: str,
    cache: Path,
    env: Mapping[str, str] | None = None,
    timeout_s: float = 120,
) -> subprocess.CompletedProcess[str]:
    """``layer-ci --config CONFIG ARGS`` in the config's folder, with ``cache`` as LAYER_CI_CACHE.

    The caller's LAYER_CI_*, AWS_* and GITHUB_* variables are dropped, then ``env`` is added.
    """
    environ = {key: value for key, value in os.environ.items() if not key.startswith(CALLERS_OWN)}
    environ["LAYER_CI_CACHE"] = str(cache)
    environ.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "layer_ci", "--config", str(config), *args],
        cwd=config.parent,
        env=environ,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
