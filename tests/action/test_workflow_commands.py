"""Tests for the runner-contract writers: escaping, multi-line outputs, groups and masks."""

from __future__ import annotations

import io
from pathlib import Path

from layer_ci.action.workflow_commands import Runner, escape_data, escape_property, parse_output_file


def _runner(tmp_path: Path) -> tuple[Runner, io.StringIO, Path, Path]:
    out, summary = tmp_path / "out", tmp_path / "summary"
    stdout = io.StringIO()
    env = {"GITHUB_OUTPUT": str(out), "GITHUB_STEP_SUMMARY": str(summary)}
    return Runner(stdout, env), stdout, out, summary


def test_hostile_message_cannot_start_a_new_workflow_command(tmp_path: Path) -> None:
    runner, stdout, _, _ = _runner(tmp_path)
    runner.error("bad layer\n::set-output name=x::pwned%0A", file="a,b:c.yml", line=3)
    lines = stdout.getvalue().splitlines()
    assert len(lines) == 1
    assert lines[0] == "::error file=a%2Cb%3Ac.yml,line=3::bad layer%0A::set-output name=x::pwned%250A"


def test_escaping_matches_actions_toolkit() -> None:
    assert escape_data("50%\r\n") == "50%25%0D%0A"
    assert escape_property("a:b,c") == "a%3Ab%2Cc"


def test_multiline_output_round_trips_and_cannot_forge_another_output(tmp_path: Path) -> None:
    runner, _, out, _ = _runner(tmp_path)
    runner.set_output("published", '{"a": 1}\nforged=yes')
    runner.set_output("tests-passed", "true")
    assert parse_output_file(out.read_text()) == {"published": '{"a": 1}\nforged=yes', "tests-passed": "true"}


def test_group_closes_even_when_the_phase_fails(tmp_path: Path) -> None:
    runner, stdout, _, _ = _runner(tmp_path)
    try:
        with runner.group("build"):
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert stdout.getvalue() == "::group::build\n::endgroup::\n"


def test_mask_covers_every_line_of_a_multiline_secret(tmp_path: Path) -> None:
    runner, stdout, _, _ = _runner(tmp_path)
    runner.mask("line-one\nline-two\n")
    assert stdout.getvalue() == "::add-mask::line-one\n::add-mask::line-two\n"


def test_without_runner_files_nothing_is_written(tmp_path: Path) -> None:
    stdout = io.StringIO()
    runner = Runner(stdout, {})
    runner.set_output("x", "y")
    runner.add_summary("# hi")
    assert list(tmp_path.iterdir()) == []
