"""The gate in this process: one ConsumerCheck per consumer, a test that cannot start is a verdict."""

from __future__ import annotations

from pathlib import Path

from layer_ci.gate.local_gate import ConsumerTests, check_against_zips, consumers_of
from layer_ci.model import Config, FunctionSpec
from tests.support.recording_tests import RecordingTests
from tests.support.repos import config_of, function_spec, layer_spec


def _config(tmp_path: Path) -> Config:
    layers = (layer_spec(tmp_path / "a", "a"), layer_spec(tmp_path / "b", "b"))
    functions = (
        function_spec(tmp_path, "uses-b", ("b",)),
        function_spec(tmp_path, "uses-both", ("a", "b")),
        function_spec(tmp_path, "uses-none", ()),
    )
    return config_of(tmp_path, layers, functions)


def test_consumers_are_the_functions_using_any_layer_in_config_order(tmp_path: Path) -> None:
    config = _config(tmp_path)
    assert consumers_of(config, ["a"]) == ("uses-both",)
    assert consumers_of(config, ["b", "a"]) == ("uses-b", "uses-both")
    assert consumers_of(config, []) == ()


def test_each_consumer_gets_one_row_and_a_test_that_cannot_start_is_an_error(tmp_path: Path) -> None:
    config = _config(tmp_path)
    runner, logged = RecordingTests(failing=("uses-b",), broken=("uses-both",)), []
    tests = ConsumerTests(runner, logged.append)

    checks = check_against_zips(config, {"b": tmp_path / "b.zip"}, tests)

    assert [(c.function, c.status, c.layers) for c in checks] == [
        ("uses-b", "failed", ("b (built zip)",)),
        ("uses-both", "error", ("b (built zip)",)),
    ]
    assert checks[0].headline == "AssertionError: boom" and not checks[0].passed
    assert checks[1].headline == "uses-both: no python3.11 interpreter on this machine"
    assert runner.calls[0] == ("uses-b", {"b": str(tmp_path / "b.zip")}, None)
    assert logged[1] == "FAILED: uses-b (0.1 s): AssertionError: boom"
    assert logged[-1] == "ERROR: uses-both: uses-both: no python3.11 interpreter on this machine"


def test_a_check_runs_in_the_region_asked_for(tmp_path: Path) -> None:
    runner = RecordingTests()
    check = ConsumerTests(runner, lambda _m: None).check(_config(tmp_path), "uses-b", {}, (), "eu-west-1")
    assert check.passed and check.region == "eu-west-1"
    assert runner.calls == [("uses-b", {}, "eu-west-1")]


def test_disabled_tests_report_every_consumer_skipped_without_running_one(tmp_path: Path) -> None:
    runner = RecordingTests()
    tests = ConsumerTests(runner, lambda _m: None, enabled=False)
    checks = check_against_zips(_config(tmp_path), {"a": tmp_path / "a.zip"}, tests)
    assert [(c.function, c.status) for c in checks] == [("uses-both", "skipped")]
    assert checks[0].passed and runner.calls == []


def test_the_status_gate_shape_passes_sources_through(tmp_path: Path) -> None:
    runner, logged = RecordingTests(), []
    run = ConsumerTests(runner, logged.append).as_runner()
    config = _config(tmp_path)
    function: FunctionSpec = config.function("uses-b")
    assert run(config, function, {"b": "3"}).passed
    assert runner.calls == [("uses-b", {"b": "3"}, None)]
    assert logged == ["testing uses-b against b=3"]
