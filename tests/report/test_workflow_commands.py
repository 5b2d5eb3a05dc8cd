"""Tests for the runner-contract writers: escaping, multi-line outputs, groups and masks."""

from __future__ import annotations

import contextlib
import io
import sys
from pathlib import Path

import pytest

from layer_ci.report.workflow_commands import (
    Runner,
    escape_data,
    escape_property,
    fence,
    parse_output_file,
    stop_token,
)
from tests.support.actions_runner import RunnerLog


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


# ------------------------------------------------------------------- plain log lines (PlainLog, Runner.log)

HOSTILE_LINES = [
    "::set-output name=published::pwned",
    "   ::add-mask::pwned",
    "\t::stop-commands::pwnedtoken",
    "text ##[set-output name=published;]pwned",
    "ok\r::warning::pwned",
    "ok\r\n::error::pwned",
    "::STOP-COMMANDS::pwnedtoken",
]


def test_plain_lines_that_look_like_commands_are_fenced(tmp_path: Path) -> None:
    runner, stdout, _, _ = _runner(tmp_path)
    for line in HOSTILE_LINES:
        runner.log(line)
    runner.error("the run's own verdict")
    log = RunnerLog().feed(stdout.getvalue())
    names = [command.name for command in log.commands]
    # Only fences (a stop and its resume per hostile line) and the run's own error came through.
    assert names.count("stop-commands") == len(HOSTILE_LINES)
    resumes = {command.name for command in log.commands if command.name not in ("stop-commands", "error")}
    assert resumes == {stop.data for stop in log.named("stop-commands")}
    assert [c.data for c in log.named("error")] == ["the run's own verdict"]
    assert log.stopped_by is None
    for line in HOSTILE_LINES:  # shown to the reader verbatim
        assert line in stdout.getvalue()


def test_harmless_lines_are_written_as_they_are(tmp_path: Path) -> None:
    runner, stdout, _, _ = _runner(tmp_path)
    runner.log("building tools (files)\ntools: inputs changed: source files")
    assert stdout.getvalue() == "building tools (files)\ntools: inputs changed: source files\n"


def test_a_line_printed_in_pieces_is_judged_whole(tmp_path: Path) -> None:
    """`print(a, b)` writes its pieces separately: judged one at a time, each piece is harmless."""
    runner, stdout, _, _ = _runner(tmp_path)
    with contextlib.redirect_stdout(runner.plain):
        print("   :", ":add-mask::pwned", sep="")
        sys.stdout.write("  :")
        runner.warning("a command ends the pending piece first")
        sys.stdout.write(":set-output name=x::pwned\n")
    log = RunnerLog().feed(stdout.getvalue())
    assert not log.named("add-mask") and not log.named("set-output"), log.commands
    assert [c.data for c in log.named("warning")] == ["a command ends the pending piece first"]


def test_the_fence_token_is_unguessable_and_not_in_the_text() -> None:
    tokens = {fence("::x::y\n").splitlines()[0] for _ in range(50)}
    assert len(tokens) == 50
    text = "::" + "a" * 10
    token = stop_token(text)
    assert len(token) == 32 and token not in text


def test_the_action_fences_whatever_any_module_prints_on_stdout_and_stderr(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """main() routes print() on both streams through PlainLog, including the debug traceback."""
    from layer_ci.action import main as action_main

    def hostile_action(*_args: object, **_kwargs: object) -> int:
        print("::set-output name=published::pwned")
        print("##[add-mask]pwned", file=sys.stderr)
        raise RuntimeError("boom\n::error::INJECTED")

    monkeypatch.setattr(action_main, "action", hostile_action)
    monkeypatch.setattr(action_main, "read_settings", lambda environ: _FakeSettings())
    stdout = io.StringIO()
    code = action_main.main({"LAYER_CI_DEBUG": "1"}, stdout)
    assert code == action_main.EXIT_INTERNAL
    err = capfd.readouterr().err
    log = RunnerLog().feed(stdout.getvalue()).feed(err)
    assert log.stopped_by is None
    assert not log.named("set-output") and not log.named("add-mask"), log.commands
    errors = log.named("error")
    assert len(errors) == 1 and errors[0].data.startswith("internal error"), errors
    assert "Traceback" in stdout.getvalue()


class _FakeSettings:
    token = ""
    workspace = Path(".")
    is_fork = True
    repository = "o/r"
    api_url = ""
