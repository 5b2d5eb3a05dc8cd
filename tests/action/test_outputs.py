"""What a job leaves on the runner: outputs from a push's outcome, annotations on files and lines."""

from __future__ import annotations

import io
import json
from pathlib import Path

from layer_ci.action.outputs import Outputs, annotate_line, annotate_push
from layer_ci.flows.outcome import HeldPin, PullRequestRef, PushOutcome
from layer_ci.gate.local_gate import ConsumerCheck
from layer_ci.model import IGNORED_BY_CONFIG, PublishedVersion
from layer_ci.plan.changes import make_plan
from layer_ci.plan.lockfile import Lock
from layer_ci.report.workflow_commands import Runner, parse_output_file
from tests.support.repos import config_of, layer_spec

ARN = "arn:aws:lambda:us-east-1:000000000000:layer:tools:3"


def _runner(tmp_path: Path) -> tuple[Runner, io.StringIO]:
    stdout = io.StringIO()
    return Runner(stdout, {"GITHUB_OUTPUT": str(tmp_path / "out")}), stdout


def test_a_located_message_is_annotated_on_its_file_and_line(tmp_path: Path) -> None:
    runner, stdout = _runner(tmp_path)
    annotate_line(runner, "template.yaml:12: common v7 does not exist in us-east-1")
    annotate_line(runner, "no location here", warning=True)
    assert stdout.getvalue().splitlines() == [
        "::error file=template.yaml,line=12,title=layer-ci::common v7 does not exist in us-east-1",
        "::warning title=layer-ci::no location here",
    ]


def test_a_push_outcome_fills_every_output_and_annotates_what_needs_a_look(tmp_path: Path) -> None:
    (tmp_path / "tools").mkdir()
    config = config_of(tmp_path, (layer_spec(tmp_path / "tools", "tools"),))
    outcome = PushOutcome(
        plan=make_plan(config, Lock()),
        mode="pull-requests",
        dry_run=False,
        targets={"tools": ("us-east-1",)},
        published=(PublishedVersion("tools", "us-east-1", 3, ARN, "0" * 64, True),),
        pull_requests=(PullRequestRef(None, None, "layer-ci/tools", ("tools",), "skipped", "push refused"),),
        checks=(ConsumerCheck("api", "failed", ("tools v3",), "AssertionError"),),
        held_pins=(
            HeldPin("infra/prod.tf", 4, "tools", 2, "the function is pinned elsewhere"),
            HeldPin("infra/dev.tf", 9, "tools", 2, f"{IGNORED_BY_CONFIG} (settings.ignore)"),
        ),
    )
    runner, stdout = _runner(tmp_path)
    outputs = Outputs()
    outputs.from_push(outcome)
    annotate_push(runner, outcome, tmp_path / "repo", tmp_path)
    outputs.write(runner)

    written = parse_output_file((tmp_path / "out").read_text())
    assert json.loads(written["changed-layers"]) == ["tools"]
    assert json.loads(written["published"]) == {"tools": {"us-east-1": ARN}}
    assert json.loads(written["pull-requests"])[0]["outcome"] == "skipped"
    assert written["tests-passed"] == "false"
    lines = stdout.getvalue().splitlines()
    assert lines[0] == (
        "::error title=layer-ci%3A test-before-upgrade::api: tests failed against tools v3: AssertionError"
    )
    assert (
        lines[1] == "::warning title=layer-ci%3A bump::layer-ci/tools: pull request not updated: push refused"
    )
    assert lines[2].startswith("::warning file=repo/infra/prod.tf,line=4,")
    assert len(lines) == 3  # a pin kept back on purpose by settings.ignore is not worth a warning
