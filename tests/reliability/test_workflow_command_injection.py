"""Workflow-command injection: strings a fork or a function's tests control, printed by the Action.

The runner takes a line as a command when it starts with ``::name::`` (after white space) or holds
``##[name]`` anywhere, splits lines at ``\\r`` as well as ``\\n``, and reads stderr like stdout. Every run
here feeds the Action's whole output through the runner's own parsing rules (tests/support/actions_runner)
and checks that only layer-ci's own commands come out: no output set, no mask added, no annotation and no
``stop-commands`` from the hostile text, and command processing on again at the end.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.reliability.reliability_support import Run, Shop
from tests.support.actions_runner import RunnerLog
from tests.support.command_line import run_layer_ci

# Each line a different way in: the modern form, the legacy ##[ form anywhere in a line, a bare \r line
# break, leading white space, a stop-commands that would silence layer-ci's own annotations.
PAYLOAD = (
    "x\n::set-output name=published::pwned-v2\n"
    "  ::add-mask::pwned-mask\n"
    "before ##[set-output name=published;]pwned-v1\n"
    "x\r::warning::INJECTED-warning\n"
    "::stop-commands::pwnedtoken\n"
    "::error::INJECTED-error"
)
OWN = frozenset({"group", "endgroup", "error", "warning", "notice", "add-mask", "stop-commands"})


def processed(run: Run) -> RunnerLog:
    """The runner's view of one run: stdout, then stderr (a container's two streams)."""
    log = RunnerLog().feed(run.stdout)
    assert log.stopped_by is None, f"stdout leaves command processing stopped by {log.stopped_by!r}"
    log.feed(run.stderr)
    assert log.stopped_by is None, f"stderr leaves command processing stopped by {log.stopped_by!r}"
    return log


def assert_inert(log: RunnerLog, masks: set[str]) -> None:
    stops = [c for c in log.commands if c.name == "stop-commands"]
    for command in log.commands:
        assert command.name in OWN or any(command.name == stop.data.lower() for stop in stops), command
        assert not command.data.startswith("INJECTED"), command
        assert "pwned" not in command.properties.get("name", ""), command
        if command.name == "add-mask":
            assert command.data in masks, command
    for stop in stops:
        # layer-ci's own stops carry an unguessable token; the payload's never takes effect.
        assert stop.data != "pwnedtoken" and len(stop.data) >= 32, stop
    assert not log.named("set-output")


def secrets(shop: Shop) -> set[str]:
    from tests.reliability.test_hostile_input import secrets_of

    return secrets_of(shop)


def test_a_forks_requirements_path_cannot_inject_commands(shop: Shop) -> None:
    """The attack review's case: build.requirements with newlines, committed by a fork."""
    config = shop.workspace / "layer-ci.yml"
    requirements = "req" + PAYLOAD + ".txt"
    config.write_text(
        config.read_text().replace(
            "    build: {method: files}\n",
            "    build: {method: python, requirements: " + json.dumps(requirements) + "}\n",
        )
    )
    folder = shop.workspace / "layers" / "tools"
    (folder / requirements).write_text("")
    head = shop.commit_and_push("a fork's hostile requirements path")
    payload = shop.pull_request_payload(9, head, head, fork="mallory/linked")
    run = shop.run(event="pull_request", sha=head, payload=payload, ref="refs/pull/9/merge", label="fork")
    log = processed(run)
    assert_inert(log, secrets(shop))
    assert "Traceback" not in run.stdout + run.stderr
    # Refused as bad input, in one annotation naming the file and the line of the field.
    assert run.returncode == 2, run.stdout + run.stderr
    errors = log.named("error")
    assert len(errors) == 1, errors
    assert errors[0].properties.get("file") == "layer-ci.yml" and errors[0].properties.get("line")
    assert "requirements" in errors[0].data


def test_hostile_test_output_cannot_inject_commands(shop: Shop) -> None:
    """A function's tests print the payload and fail with it: their headline reaches the log."""
    config = shop.workspace / "layer-ci.yml"
    # The headline (the exception's line) carries a legacy command and a bare \r before a modern one.
    headline = "before ##[set-output name=published;]pwned-v1 x\r::warning::INJECTED-warning"
    failing = f"import sys; print({PAYLOAD!r}); raise AssertionError({headline!r})"
    config.write_text(
        config.read_text().replace(
            'test: [python, -c, "import tools; assert tools.VERSION >= 1, tools.VERSION"]',
            "test: " + json.dumps(["python", "-c", failing]),
        )
    )
    shop.commit_and_push("tests that print workflow commands")
    shop.change_layer(2)
    shop.fresh_checkout()
    run = shop.run(label="hostile-output")
    assert run.returncode == 1, run.stdout + run.stderr
    log = processed(run)
    assert_inert(log, secrets(shop))
    # layer-ci's own verdict still arrives as an annotation after the hostile text.
    assert any("orders" in command.data for command in log.named("error")), log.commands


@pytest.mark.parametrize("where", ["name", "region"])
def test_names_and_regions_with_a_trailing_newline_are_refused(shop: Shop, where: str) -> None:
    config = shop.workspace / "layer-ci.yml"
    text = config.read_text()
    if where == "name":
        text = text.replace("  tools:\n", '  "tools\\n":\n', 1)
    else:
        text = text.replace("regions: [us-east-1, eu-west-1]", 'regions: [us-east-1, "eu-west-1\\n"]')
    config.write_text(text)
    shop.commit_and_push(f"a {where} with a trailing newline")
    run = shop.run(label=f"newline-{where}")
    assert run.returncode == 2, run.stdout + run.stderr
    log = processed(run)
    errors = log.named("error")
    assert len(errors) == 1 and errors[0].properties.get("file") == "layer-ci.yml", log.commands
    assert "\\n" in errors[0].data and "\n" not in errors[0].data, errors[0]


# ----------------------------------------------------------------- the CLI in a workflow's `run:` step
#
# docs/gate.md runs `layer-ci verify` as a step: under GITHUB_ACTIONS=true the CLI's output is read by the
# runner too. A failing test prints its output (the tail) on stderr, and the JSON result carries it.


@pytest.fixture
def canary_repo(tmp_path: Path) -> Path:
    from tests.reliability.test_hostile_input import make_canary_repo

    headline = "before ##[set-output name=published;]pwned-v1 x\r::warning::INJECTED-warning"
    return make_canary_repo(tmp_path, f"print({PAYLOAD!r})\nraise AssertionError({headline!r})\n")


def _cli(repo: Path, *args: str, actions: bool) -> subprocess.CompletedProcess[str]:
    env = {"GITHUB_ACTIONS": "true"} if actions else {}
    return run_layer_ci(repo / "layer-ci.yml", *args, cache=repo.parent / "cache", env=env)


def test_the_cli_in_an_actions_step_prints_test_output_inertly(canary_repo: Path) -> None:
    done = _cli(canary_repo, "test", "canary", "--layer", "common=local", actions=True)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "INJECTED-warning" in done.stderr  # the reader still sees the output
    log = RunnerLog().feed(done.stdout)
    assert log.stopped_by is None
    log.feed(done.stderr)
    assert log.stopped_by is None
    assert {command.name for command in log.commands} <= {"stop-commands"} | {
        stop.data for stop in log.named("stop-commands")
    }, log.commands


def test_the_clis_json_stays_the_same_json_in_an_actions_step(canary_repo: Path) -> None:
    plain = _cli(canary_repo, "test", "canary", "--layer", "common=local", "--json", actions=False)
    fenced = _cli(canary_repo, "test", "canary", "--layer", "common=local", "--json", actions=True)
    assert RunnerLog().feed(fenced.stdout).commands == []
    inside = json.loads(fenced.stdout)
    outside = json.loads(plain.stdout)
    for volatile in ("duration_s",):
        inside.pop(volatile, None)
        outside.pop(volatile, None)
    assert inside == outside
    assert "##[set-output" in json.dumps(inside, ensure_ascii=False)


def test_an_invocations_payload_stays_the_same_json_in_an_actions_step(canary_repo: Path) -> None:
    """`layer-ci invoke` prints the handler's result: an IAM ARN has "::", a string may hold "##["."""
    (canary_repo / "functions" / "canary" / "app.py").write_text(
        "def handler(event, context):\n"
        "    return {'role': 'arn:aws:iam::123456789012:role/x', 'text': '##[set-output name=x;]y'}\n"
    )
    args = ("invoke", "canary", "--layer", "common=local")
    plain = _cli(canary_repo, *args, actions=False)
    fenced = _cli(canary_repo, *args, actions=True)
    assert plain.returncode == 0 and fenced.returncode == 0, plain.stderr + fenced.stderr
    assert RunnerLog().feed(fenced.stdout).commands == []
    assert json.loads(fenced.stdout) == json.loads(plain.stdout)
    assert json.loads(plain.stdout)["role"] == "arn:aws:iam::123456789012:role/x"
