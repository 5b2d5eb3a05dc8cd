"""Tests for the command-line front end: one-line errors and exit codes, never a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from layer_ci import __version__, cli
from layer_ci.errors import ConfigError, Location


def test_version_is_printed(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"])
    assert exit_info.value.code == 0
    assert __version__ in capsys.readouterr().out


def test_python_dash_m_entry_point_runs() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "layer_ci", "--version"], capture_output=True, text=True, check=False
    )
    assert completed.returncode == 0
    assert completed.stdout.strip() == f"layer-ci {__version__}"


def test_config_error_renders_as_one_line_with_file_line_field_and_fix() -> None:
    error = ConfigError(
        Location("layer-ci.yml", 7), "layers.x.source", "folder 'nope'\nis missing", "create it"
    )
    assert error.one_line() == "layer-ci.yml:7: layers.x.source: folder 'nope' is missing; create it"
    assert error.exit_code == 2
