"""Checks shared by the tests of bad input: a config that must be refused, a CLI that must say one line."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from layer_ci.config.loader import load_config
from layer_ci.errors import ConfigError


def assert_one_line(error: ConfigError) -> str:
    """The error's message, checked to be one line that starts with the file it names."""
    message = error.one_line()
    assert "\n" not in str(error), str(error)
    assert message.startswith(f"{error.location.path}"), message
    return message


def config_error(config: Path) -> ConfigError:
    """Load ``config``, which must be refused with a ConfigError of one line; that error."""
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    assert_one_line(caught.value)
    return caught.value


def cli_error_lines(done: subprocess.CompletedProcess[str]) -> list[str]:
    """The ``layer-ci: error:`` lines a command printed, after checking it printed no traceback."""
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    return [line for line in done.stderr.splitlines() if line.startswith("layer-ci: error:")]
