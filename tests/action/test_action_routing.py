"""``action()`` in process with recording doubles: which paths may touch AWS, and what always gets written."""

from __future__ import annotations

import io
import json
from pathlib import Path

from layer_ci.action.context import read_settings
from layer_ci.action.routing import action, choose_route
from layer_ci.errors import ConfigError, Location
from layer_ci.model import Config
from layer_ci.report.workflow_commands import Runner, parse_output_file
from tests.support.repos import config_of, function_spec, layer_spec


class RecordingAws:
    """An AwsProvider that must not be used: it records the call and refuses."""

    def __init__(self) -> None:
        self.calls = 0

    def registry_factory(self, config: Config):  # type: ignore[no-untyped-def]
        self.calls += 1
        raise AssertionError("this path must not open a registry")


def _setup(tmp_path: Path, event: str, payload: dict[str, object]) -> tuple[dict[str, str], Config]:
    source = tmp_path / "layers" / "tools"
    source.mkdir(parents=True)
    (source / "tool.txt").write_text("x")
    config = config_of(
        tmp_path, (layer_spec(source, "tools"),), (function_spec(tmp_path, "api", ("tools",)),)
    )
    event_path = tmp_path / "event.json"
    event_path.write_text(json.dumps(payload))
    env = {
        "GITHUB_EVENT_NAME": event,
        "GITHUB_EVENT_PATH": str(event_path),
        "GITHUB_REPOSITORY": "octo/app",
        "GITHUB_REF": "refs/pull/1/merge",
        "GITHUB_WORKSPACE": str(tmp_path),
        "GITHUB_OUTPUT": str(tmp_path / "out"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary"),
    }
    return env, config


FORK_PR = {
    "repository": {"full_name": "octo/app", "default_branch": "main"},
    "pull_request": {
        "number": 1,
        "head": {"sha": "c" * 40, "repo": {"full_name": "eve/app"}},
        "base": {"ref": "main"},
    },
}


def test_a_fork_never_opens_a_registry_even_when_one_is_offered(tmp_path: Path) -> None:
    env, config = _setup(tmp_path, "pull_request", FORK_PR)
    aws = RecordingAws()
    stdout = io.StringIO()
    code = action(read_settings(env), None, None, aws, runner=Runner(stdout, env), load=lambda _path: config)
    assert code == 0
    assert aws.calls == 0
    outputs = parse_output_file((tmp_path / "out").read_text())
    assert json.loads(outputs["changed-layers"]) == ["tools"]
    assert "read-only" in (tmp_path / "summary").read_text()


def test_paths_that_write_refuse_to_run_without_aws(tmp_path: Path) -> None:
    payload = {"repository": {"full_name": "octo/app", "default_branch": "main"}}
    env, config = _setup(tmp_path, "schedule", payload)
    stdout = io.StringIO()
    code = action(read_settings(env), None, None, None, runner=Runner(stdout, env), load=lambda _path: config)
    assert code == 2
    assert "::error title=layer-ci::the schedule job needs AWS access" in stdout.getvalue()


def test_config_errors_point_at_the_file_relative_to_the_workspace(tmp_path: Path) -> None:
    env, _ = _setup(tmp_path, "schedule", {})

    def broken(_path: Path) -> Config:
        raise ConfigError(
            Location(str(tmp_path / "infra" / "layer-ci.yml"), 7), "layers.x", "bad, really", "fix it"
        )

    stdout = io.StringIO()
    code = action(read_settings(env), None, None, RecordingAws(), runner=Runner(stdout, env), load=broken)
    assert code == 2
    assert stdout.getvalue().splitlines()[-1] == (
        "::error file=infra/layer-ci.yml,line=7,title=layer-ci%3A config error::layers.x: bad, really; fix it"
    )
    assert set(parse_output_file((tmp_path / "out").read_text())) == {
        "changed-layers",
        "published",
        "pull-requests",
        "matrix",
        "tests-passed",
    }


def test_publishing_without_a_github_token_is_refused_before_touching_aws(tmp_path: Path) -> None:
    payload = {"repository": {"full_name": "octo/app", "default_branch": "main"}}
    env, config = _setup(tmp_path, "push", payload)
    env["GITHUB_REF"] = "refs/heads/main"
    aws = RecordingAws()
    stdout = io.StringIO()
    code = action(read_settings(env), None, None, aws, runner=Runner(stdout, env), load=lambda _path: config)
    assert code == 2 and aws.calls == 0
    assert "needs a GitHub token" in stdout.getvalue()


def test_a_fork_stays_read_only_whatever_command_asks_for(tmp_path: Path) -> None:
    env, _config = _setup(tmp_path, "pull_request", FORK_PR)
    for command in ("auto", "run", "verify", "audit", "prune"):
        assert choose_route(read_settings({**env, "LAYER_CI_COMMAND": command})) == "fork", command
    assert choose_route(read_settings({**env, "LAYER_CI_COMMAND": "plan"})) == "plan"
    same_repo = json.loads(json.dumps(FORK_PR))
    same_repo["pull_request"]["head"]["repo"]["full_name"] = "octo/app"
    (tmp_path / "event.json").write_text(json.dumps(same_repo))
    assert choose_route(read_settings({**env, "LAYER_CI_COMMAND": "run"})) == "push"
