"""The gate: which functions run with which layers, the statuses it sets and what their descriptions say."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from layer_ci.adapters.github import GitHubClient
from layer_ci.engine.prepare import EngineOptions
from layer_ci.engine.runner import JUnitSummary, TestResult
from layer_ci.errors import UsageError
from layer_ci.gate.consumers import (
    AGGREGATE_CONTEXT,
    FunctionCheck,
    GateResult,
    actions_run_url,
    aggregate_status,
    engine_runner,
    function_status,
    report_statuses,
    run_gate,
)
from layer_ci.model import Config, FunctionSpec
from tests.engine.engine_support import file, function_spec, layer_spec, make_config, write_zip
from tests.support.github_standin import DEFAULT_REPO, FAST, GitHubStandIn

STATUSES = "/repos/{owner}/{repo}/statuses/{sha}"


def result(function: str, status: str = "passed", headline: str | None = None, tests: int = 3) -> TestResult:
    return TestResult(
        function=function,
        status=status,  # type: ignore[arg-type]
        duration_s=1.25,
        exit_code=0 if status == "passed" else 1,
        headline=headline,
        output_tail="",
        junit=JUnitSummary(tests, 0 if status == "passed" else 1, 0, 0),
    )


def stub_config(tmp_path: Path) -> Config:
    layers = [layer_spec(tmp_path, "common"), layer_spec(tmp_path, "tools")]
    functions = [
        function_spec(tmp_path, "alpha", {"app.py": ""}, ("common",)),
        function_spec(tmp_path, "beta", {"app.py": ""}, ("common", "tools")),
        function_spec(tmp_path, "gamma", {"app.py": ""}, ("tools",)),
    ]
    return make_config(tmp_path, layers, functions)


class RecordingRunner:
    """A stub runner (the engine is not the point here): records what it was asked, answers as told."""

    def __init__(self, answers: Mapping[str, TestResult | Exception]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, dict[str, str]]] = []

    def __call__(self, config: Config, function: FunctionSpec, sources: Mapping[str, str]) -> TestResult:
        self.calls.append((function.name, dict(sources)))
        answer = self.answers[function.name]
        if isinstance(answer, Exception):
            raise answer
        return answer


def test_each_function_gets_only_the_sources_of_layers_it_uses(tmp_path: Path) -> None:
    config = stub_config(tmp_path)
    runner = RecordingRunner({"alpha": result("alpha"), "beta": result("beta"), "gamma": result("gamma")})
    gate = run_gate(config, ["beta", "alpha", "beta"], {"common": "/zips/common.zip"}, runner)
    assert runner.calls == [
        ("alpha", {"common": "/zips/common.zip"}),
        ("beta", {"common": "/zips/common.zip"}),
    ]
    assert gate.passed and gate.failed == ()
    assert gate.contexts == (AGGREGATE_CONTEXT, "layer-ci/test/alpha", "layer-ci/test/beta")


def test_a_runner_error_or_a_skip_becomes_an_error_result_and_the_others_still_run(tmp_path: Path) -> None:
    config = stub_config(tmp_path)
    runner = RecordingRunner(
        {"alpha": UsageError("layer common version 9 does not exist in us-east-1"), "beta": result("beta")}
    )
    gate = run_gate(
        config, ["alpha", "beta", "gamma"], {}, runner, skip={"gamma": "template.yaml:3: tools v4 is deleted"}
    )
    by_name = {check.function: check.result for check in gate.checks}
    assert by_name["alpha"].status == "error"
    assert by_name["alpha"].headline == "layer common version 9 does not exist in us-east-1"
    assert by_name["gamma"].headline == "template.yaml:3: tools v4 is deleted"
    assert [name for name, _ in runner.calls] == ["alpha", "beta"]  # gamma never ran
    assert gate.failed == ("alpha", "gamma") and not gate.passed


def test_bugs_in_a_runner_are_not_swallowed(tmp_path: Path) -> None:
    runner = RecordingRunner({"alpha": ZeroDivisionError("bug")})
    with pytest.raises(ZeroDivisionError):
        run_gate(stub_config(tmp_path), ["alpha"], {}, runner)


@pytest.mark.parametrize(
    ("status", "state"),
    [("passed", "success"), ("failed", "failure"), ("timeout", "failure"), ("error", "error")],
)
def test_function_status_states(status: str, state: str) -> None:
    assert function_status(result("f", status, headline="boom"))[0] == state


def test_descriptions_fit_140_characters_and_lose_the_temp_path() -> None:
    long = "ImportError: cannot import name 'shout' from 'mylib' (/tmp/cache/opt/0123abcd/python/mylib.py)"
    state, description = function_status(result("shouter", "failed", long))
    assert (state, description) == ("failure", "ImportError: cannot import name 'shout' from 'mylib'")
    assert function_status(result("greeter", tests=1)) == ("success", "passed (1 test)")
    huge = "AssertionError: " + "x" * 400
    _, cut = function_status(result("f", "failed", huge))
    assert len(cut) == 140 and cut.endswith("…")

    gate = GateResult(
        (
            _check("greeter", result("greeter")),
            _check("shouter", result("shouter", "failed", long)),
            _check("zeta", result("zeta", "failed", huge)),
        )
    )
    state, description = aggregate_status(gate, "common v2")
    assert state == "failure" and len(description) <= 140
    assert description.startswith(
        "2 of 3 failed: shouter: ImportError: cannot import name 'shout' from 'mylib'"
    )
    assert aggregate_status(GateResult(), "common v2") == (
        "success",
        "no function uses common v2; nothing to test",
    )
    passed = GateResult((_check("greeter", result("greeter")),))
    assert aggregate_status(passed, "common v2") == (
        "success",
        "all 1 affected functions passed against common v2",
    )


def _check(name: str, outcome: TestResult) -> FunctionCheck:
    return FunctionCheck(name, (), outcome)


def test_the_actions_run_url_needs_all_three_variables() -> None:
    env = {"GITHUB_SERVER_URL": "https://ghe.example.com/", "GITHUB_REPOSITORY": "o/r", "GITHUB_RUN_ID": "7"}
    assert actions_run_url(env) == "https://ghe.example.com/o/r/actions/runs/7"
    assert actions_run_url({**env, "GITHUB_RUN_ID": ""}) is None
    assert actions_run_url({}) is None


# --------------------------------------------------------------------- statuses over HTTP (stand-in)


@pytest.fixture
def client(github_standin: GitHubStandIn) -> GitHubClient:
    return GitHubClient(github_standin.token, DEFAULT_REPO, policy=FAST)


def test_statuses_are_final_at_once_and_a_rerun_sets_only_what_changed(
    github_standin: GitHubStandIn, client: GitHubClient
) -> None:
    sha = github_standin.create_branch("layer-ci/common")
    gate = GateResult(
        (_check("alpha", result("alpha")), _check("beta", result("beta", "failed", "ModuleNotFoundError: x")))
    )
    reports = report_statuses(client, sha, gate, subject="common v2", target_url="https://run/1")
    statuses = github_standin.repo().statuses
    # No pending state first: the tests ran before the commit existed, so every status is final.
    assert [(s.context, s.state) for s in statuses] == [
        ("layer-ci/test/alpha", "success"),
        ("layer-ci/test/beta", "failure"),
        (AGGREGATE_CONTEXT, "failure"),
    ]
    assert all(s.target_url == "https://run/1" for s in statuses) and all(r.set_now for r in reports)

    github_standin.clear_requests()
    fixed = GateResult((_check("alpha", result("alpha")), _check("beta", result("beta"))))
    current = client.combined_status(sha)
    again = report_statuses(client, sha, fixed, subject="common v2", current=current)
    assert [r.context for r in again if r.set_now] == ["layer-ci/test/beta", AGGREGATE_CONTEXT]
    assert github_standin.count("POST", STATUSES) == 2
    assert client.combined_status(sha).state == "success"


# ------------------------------------------------------------------------------------ the real engine


def test_the_engine_runner_catches_a_layer_that_dropped_a_module(tmp_path: Path) -> None:
    v2 = write_zip(tmp_path / "common-v2.zip", [file("python/other.py", "")])
    app = "import mylib\n\n\ndef handler(event, context):\n    return mylib.VALUE\n"
    test = "import app\n\n\ndef test_value():\n    assert app.handler({}, None) == 1\n"
    function = function_spec(tmp_path, "reader", {"app.py": app, "tests/test_app.py": test}, ("common",))
    config = make_config(tmp_path, [layer_spec(tmp_path, "common")], [function])
    runner = engine_runner(EngineOptions(cache_dir=tmp_path / "cache"))
    gate = run_gate(config, ["reader"], {"common": str(v2)}, runner)
    (check,) = gate.checks
    assert check.result.status == "failed"
    assert check.result.headline == "ModuleNotFoundError: No module named 'mylib'"
    assert function_status(check.result) == ("failure", "ModuleNotFoundError: No module named 'mylib'")
