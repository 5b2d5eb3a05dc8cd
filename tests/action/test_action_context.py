"""Reading the runner's environment: GITHUB_* variables, the event payload and the LAYER_CI_* inputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from layer_ci.action.context import INPUT_ENV, parse_bool, parse_names, read_settings
from layer_ci.action.routing import choose_route
from layer_ci.errors import UsageError


def _env(tmp_path: Path, event: str, payload: dict[str, object], **extra: str) -> dict[str, str]:
    path = tmp_path / "event.json"
    path.write_text(json.dumps(payload))
    return {
        "GITHUB_EVENT_NAME": event,
        "GITHUB_EVENT_PATH": str(path),
        "GITHUB_REPOSITORY": "octo/app",
        "GITHUB_SHA": "a" * 40,
        "GITHUB_REF": "refs/heads/main",
        "GITHUB_WORKSPACE": str(tmp_path),
        "GITHUB_RUN_ID": "99",
        "LAYER_CI_GITHUB_TOKEN": "ghs_secret",
        **extra,
    }


REPO = {"repository": {"full_name": "octo/app", "default_branch": "trunk"}}


def test_settings_from_the_runner(tmp_path: Path) -> None:
    env = _env(
        tmp_path,
        "workflow_dispatch",
        REPO,
        LAYER_CI_LAYERS="a, b a",
        LAYER_CI_FORCE="true",
        LAYER_CI_REGIONS="us-east-1 eu-west-1",
        LAYER_CI_DRY_RUN="False",
        LAYER_CI_CONFIG="infra/layer-ci.yml",
        GITHUB_REF="refs/heads/trunk",  # the default branch: a manual run there releases
    )
    settings = read_settings(env)
    assert settings.layers == ("a", "b") and settings.force and not settings.dry_run
    assert settings.regions == ("us-east-1", "eu-west-1")
    assert settings.config_path == tmp_path / "infra" / "layer-ci.yml"
    assert settings.default_branch == "trunk"
    assert settings.run_url == "https://github.com/octo/app/actions/runs/99"
    assert settings.api_url == "https://api.github.com"
    assert "ghs_secret" not in repr(settings)
    assert choose_route(settings) == "release"


def test_routes_by_event(tmp_path: Path) -> None:
    push_main = read_settings(_env(tmp_path, "push", REPO, GITHUB_REF="refs/heads/trunk"))
    assert choose_route(push_main) == "push"
    push_other = read_settings(_env(tmp_path, "push", REPO, GITHUB_REF="refs/heads/feature"))
    assert choose_route(push_other) == "plan"
    tag = read_settings(_env(tmp_path, "push", REPO, GITHUB_REF="refs/tags/v1"))
    assert choose_route(tag) == "plan"
    assert choose_route(read_settings(_env(tmp_path, "schedule", REPO))) == "schedule"
    assert choose_route(read_settings(_env(tmp_path, "release", REPO))) == "plan"
    explicit = read_settings(_env(tmp_path, "push", REPO, LAYER_CI_COMMAND="prune"))
    assert choose_route(explicit) == "prune"


def test_fork_detection(tmp_path: Path) -> None:
    def pull(head_repo: object) -> dict[str, object]:
        head: dict[str, object] = {"sha": "b" * 40, "ref": "x"}
        if head_repo is not None:
            head["repo"] = head_repo
        return {**REPO, "number": 3, "pull_request": {"number": 3, "head": head, "base": {"ref": "trunk"}}}

    same = read_settings(_env(tmp_path, "pull_request", pull({"full_name": "Octo/App"})))
    assert not same.is_fork and choose_route(same) == "verify" and same.pr_number == 3
    fork = read_settings(_env(tmp_path, "pull_request", pull({"full_name": "mallory/app"})))
    assert fork.is_fork and choose_route(fork) == "fork"
    deleted = read_settings(_env(tmp_path, "pull_request", pull(None)))
    assert deleted.is_fork  # a deleted fork has no head repository: still untrusted
    forced = read_settings(
        _env(tmp_path, "pull_request", pull({"full_name": "mallory/app"}), LAYER_CI_COMMAND="verify")
    )
    assert choose_route(forced) == "fork"  # asking for verify does not lift the read-only rule


def test_a_workflow_run_triggered_by_a_forks_run_is_read_only(tmp_path: Path) -> None:
    # A workflow_run that checks out the triggering run's head_sha runs a fork's code with this
    # repository's secrets; its pull_requests list is empty for forks, so the head repository tells.
    def triggered_from(head_repository: object) -> dict[str, object]:
        run: dict[str, object] = {"event": "pull_request", "head_sha": "b" * 40, "pull_requests": []}
        if head_repository is not None:
            run["head_repository"] = head_repository
        return {**REPO, "workflow_run": run}

    def route(payload: dict[str, object]) -> str:
        return choose_route(read_settings(_env(tmp_path, "workflow_run", payload, LAYER_CI_COMMAND="run")))

    fork = read_settings(_env(tmp_path, "workflow_run", triggered_from({"full_name": "mallory/app"})))
    assert fork.read_only_reason == "a workflow_run of a run on mallory/app's code"
    assert route(triggered_from({"full_name": "mallory/app"})) == "fork"
    assert route(triggered_from(None)) == "fork"  # the payload does not say: taken for a fork's
    assert route(triggered_from({"full_name": "Octo/App"})) == "push"  # this repository's own run
    assert (
        read_settings(
            _env(tmp_path, "workflow_run", triggered_from({"full_name": "octo/app"}))
        ).read_only_reason
        is None
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"GITHUB_REPOSITORY": "nope"}, "GITHUB_REPOSITORY is 'nope', not owner/name"),
        ({"GITHUB_EVENT_NAME": ""}, "GITHUB_EVENT_NAME is not set"),
        ({"LAYER_CI_COMMAND": "deploy"}, "input command: 'deploy' is not one of"),
        ({"LAYER_CI_TEST": "perhaps"}, "input test: 'perhaps' is not a boolean"),
        ({"GITHUB_EVENT_PATH": "/nonexistent/event.json"}, "does not exist"),
    ],
)
def test_bad_environment_is_a_usage_error(tmp_path: Path, changes: dict[str, str], message: str) -> None:
    with pytest.raises(UsageError, match=message.replace("(", r"\(")):
        read_settings({**_env(tmp_path, "push", REPO), **changes})


def test_input_helpers() -> None:
    assert parse_bool("x", "YES", False) and not parse_bool("x", "off", True) and parse_bool("x", "", True)
    assert parse_names("  a,,b\nc ") == ("a", "b", "c")
    assert INPUT_ENV["dry-run"] == "LAYER_CI_DRY_RUN"


def test_input_env_falls_back_to_the_runner_input_names(tmp_path: Path) -> None:
    env = _env(tmp_path, "push", REPO, INPUT_DRY_RUN="true")
    del env["LAYER_CI_GITHUB_TOKEN"]
    env["GITHUB_TOKEN"] = "ghs_fallback"
    settings = read_settings(env)
    assert settings.dry_run and settings.token == "ghs_fallback"
