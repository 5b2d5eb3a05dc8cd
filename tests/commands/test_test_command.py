"""`layer-ci test` options and output: timeouts must be positive, the header never shows an empty region."""

from __future__ import annotations

import pytest

from layer_ci.cli import main
from layer_ci.commands.test_command import render
from layer_ci.engine.runner import TestResult


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("0", "must be more than 0 seconds, got 0"),
        ("-5", "must be more than 0 seconds, got -5"),
        ("nan", "must be more than 0 seconds, got nan"),
        ("inf", "must be more than 0 seconds, got inf"),
        ("soon", "'soon' is not a number of seconds"),
    ],
)
@pytest.mark.parametrize("command", ["test", "invoke"])
def test_timeout_must_be_a_positive_number_of_seconds(
    command: str, value: str, problem: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([command, "fn", "--timeout", value])
    assert exit_info.value.code == 2
    assert f"argument --timeout: {problem}" in capsys.readouterr().err


def _result(region: str) -> TestResult:
    return TestResult(
        "fn", "passed", 0.5, 0, None, "", runtime="python3.11", architecture="arm64", region=region
    )


def test_header_leaves_out_an_empty_region(capsys: pytest.CaptureFixture[str]) -> None:
    render(_result(""))
    assert capsys.readouterr().err.splitlines()[0] == "layer-ci: function fn (python3.11, arm64)"
    render(_result("eu-west-1"))
    assert capsys.readouterr().err.splitlines()[0] == "layer-ci: function fn (python3.11, arm64, eu-west-1)"
