"""The push pipeline in local mode: plan -> build -> publish -> tests -> pins, on a small files-layer repo.

The builder and the local registry are the real ones; the test runner is swapped through ``Services`` so
each case decides which functions pass (the real engine runs in tests/commands/test_run_command.py).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from layer_ci.bump.working_tree import published_versions
from layer_ci.config.loader import load_config
from layer_ci.errors import ConfigError, UsageError
from layer_ci.flows.outcome import PushOutcome
from layer_ci.flows.push import PushOptions, run_push, select_targets
from layer_ci.flows.services import Services
from layer_ci.model import Config
from layer_ci.plan.changes import make_plan
from layer_ci.plan.lockfile import load_lock
from layer_ci.publish.folder_registry import LocalRegistry
from layer_ci.publish.registries import registry_factory
from tests.support.recording_tests import RecordingTests

TEMPLATE = """\
Resources:
  alpha:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/alpha/
      Handler: app.handler
      Runtime: python3.11
      Layers:
        - arn:aws:lambda:us-east-1:000000000000:layer:tools:1
  beta:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/beta/
      Handler: app.handler
      Runtime: python3.11
      Layers:
        - arn:aws:lambda:us-east-1:000000000000:layer:tools:1
        - !Sub arn:aws:lambda:${AWS::Region}:000000000000:layer:data:1
"""

CONFIG = """\
version: 1
templates: [template.yaml]
layers:
  tools:
    source: layers/tools
    build: {method: files}
    compatible_runtimes: [python3.11]
  data:
    source: layers/data
    build: {method: files}
    compatible_runtimes: [python3.11]
functions:
  alpha: {test: [python, -m, pytest, -q]}
  beta: {test: [python, -m, pytest, -q]}
"""


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    _write(root / "layer-ci.yml", CONFIG)
    _write(root / "template.yaml", TEMPLATE)
    _write(root / "layers" / "tools" / "bin" / "hello", "#!/bin/sh\necho hello\n")
    (root / "layers" / "tools" / "bin" / "hello").chmod(0o755)
    _write(root / "layers" / "data" / "python" / "data.py", "VALUE = 1\n")
    for name in ("alpha", "beta"):
        _write(root / "functions" / name / "app.py", "def handler(event, context):\n    return 1\n")
    return root


def _run(
    root: Path, tests: RecordingTests, logs: list[str] | None = None, **options: Any
) -> tuple[Config, PushOutcome]:
    config = load_config(root / "layer-ci.yml")
    services = Services(
        registry_factory=None if options.get("dry_run") else registry_factory(config),
        run_tests=tests,
        log=logs.append if logs is not None else lambda _message: None,
    )
    outcome = run_push(config, services, PushOptions(commit="abc123", **options))
    return config, outcome


def _pins(root: Path) -> list[str]:
    return [line.strip() for line in (root / "template.yaml").read_text().splitlines() if ":layer:" in line]


def test_first_run_publishes_tests_every_consumer_and_second_run_is_a_no_op(repo: Path) -> None:
    tests = RecordingTests()
    _, outcome = _run(repo, tests)

    assert [(p.layer, p.region, p.version, p.created) for p in outcome.published] == [
        ("tools", "us-east-1", 1, True),
        ("data", "us-east-1", 1, True),
    ]
    assert {call[0] for call in tests.calls} == {"alpha", "beta"}
    beta_sources = next(sources for name, sources, _ in tests.calls if name == "beta")
    assert beta_sources == {"tools": "1", "data": "1"}  # the published versions, fetched from the registry
    assert outcome.tests_passed is True
    assert outcome.exit_code == 0
    assert outcome.pin_changes == ()  # the pins already say v1
    assert outcome.pins_current == 3
    lock = load_lock(repo)
    assert lock.layers["tools"].published["us-east-1"].version == 1
    assert LocalRegistry(repo / ".layer-ci" / "registry", "us-east-1").list_versions("data")[0].version == 1

    again = RecordingTests()
    _, second = _run(repo, again)
    assert second.nothing_to_do
    assert second.exit_code == 0
    assert again.calls == []
    assert second.published == ()


def test_a_changed_layer_moves_only_its_pins_after_its_consumers_pass(repo: Path) -> None:
    _run(repo, RecordingTests())
    (repo / "layers" / "data" / "python" / "data.py").write_text("VALUE = 2\n")
    tests = RecordingTests()
    _, outcome = _run(repo, tests)

    assert [(p.layer, p.version) for p in outcome.published] == [("data", 2)]
    assert [call[0] for call in tests.calls] == ["beta"]  # alpha does not use data
    assert tests.calls[0][1] == {"data": "2"}  # tools stays at the version beta pins
    changes = [(c.layer, c.old_version, c.new_version) for c in outcome.pin_changes]
    assert changes == [("data", 1, 2)]
    assert _pins(repo) == [
        "- arn:aws:lambda:us-east-1:000000000000:layer:tools:1",
        "- arn:aws:lambda:us-east-1:000000000000:layer:tools:1",
        "- !Sub arn:aws:lambda:${AWS::Region}:000000000000:layer:data:2",
    ]


def test_a_failing_consumer_keeps_the_old_pins_and_fails_until_fixed(repo: Path) -> None:
    _run(repo, RecordingTests())
    hello = repo / "layers" / "tools" / "bin" / "hello"
    hello.write_text("#!/bin/sh\necho changed\n")
    _, outcome = _run(repo, RecordingTests(failing=("beta",)))

    assert outcome.exit_code == 1
    assert outcome.tests_passed is False
    assert outcome.held_back == ("tools",)
    assert outcome.pin_changes == ()
    assert "layer:tools:1" in _pins(repo)[0]
    assert load_lock(repo).layers["tools"].published["us-east-1"].version == 2  # published all the same

    # Nothing to build now, but the pins still lag: the next run tests again (and still fails) ...
    tests = RecordingTests(failing=("beta",))
    _, rerun = _run(repo, tests)
    assert rerun.published == () and rerun.exit_code == 1
    assert sorted(call[0] for call in tests.calls) == ["alpha", "beta"]
    # ... and once the consumers pass, the pins move without publishing anything.
    _, fixed = _run(repo, RecordingTests())
    assert fixed.exit_code == 0 and fixed.published == ()
    assert [(c.layer, c.new_version) for c in fixed.pin_changes] == [("tools", 2), ("tools", 2)]


TOOLS_V1 = "arn:aws:lambda:us-east-1:000000000000:layer:tools:1"
DATA_V1 = "arn:aws:lambda:us-east-1:000000000000:layer:data:1"


def _record(repo: Path) -> dict[str, list[str]]:
    path = repo / ".layer-ci" / "failed-tests.json"
    return json.loads(path.read_text()) if path.exists() else {}


def test_a_failure_against_versions_the_pins_already_name_is_tested_again_until_fixed(repo: Path) -> None:
    # The first publish: the pins already say v1, so no pin lags behind to hold back.
    _, first = _run(repo, RecordingTests(failing=("beta",)))
    assert first.exit_code == 1 and first.pin_changes == ()
    assert _record(repo) == {"data": [DATA_V1], "tools": [TOOLS_V1]}  # beta uses both

    tests = RecordingTests(failing=("beta",))
    _, rerun = _run(repo, tests)
    assert not rerun.nothing_to_do
    assert rerun.exit_code == 1
    # beta uses both layers; alpha uses tools, so it is tested again with it.
    assert sorted(call[0] for call in tests.calls) == ["alpha", "beta"]

    _, fixed = _run(repo, RecordingTests())
    assert fixed.exit_code == 0
    assert _record(repo) == {}
    quiet = RecordingTests()
    _, after = _run(repo, quiet)
    assert after.nothing_to_do and quiet.calls == []


def test_a_run_stopped_between_publishing_and_testing_tests_on_the_next_run(repo: Path) -> None:
    class Interrupted(RecordingTests):
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _run(repo, Interrupted())
    assert load_lock(repo).layers["tools"].published["us-east-1"].version == 1  # published, never tested
    assert _record(repo) == {"data": [DATA_V1], "tools": [TOOLS_V1]}
    tests = RecordingTests(failing=("alpha",))
    _, rerun = _run(repo, tests)
    assert sorted(call[0] for call in tests.calls) == ["alpha", "beta"]
    assert rerun.exit_code == 1
    assert _record(repo) == {"tools": [TOOLS_V1]}  # beta passed against data v1; alpha failed on tools


def test_publish_alone_leaves_its_versions_to_be_tested_by_the_next_run(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from layer_ci import cli

    monkeypatch.chdir(repo)
    assert cli.main(["publish", "tools"]) == 0
    assert _record(repo) == {"tools": [TOOLS_V1]}
    tests = RecordingTests()
    _, outcome = _run(repo, tests, layers=("tools",))
    assert outcome.published == ()  # tools is published already; its consumers were still tested
    assert sorted(call[0] for call in tests.calls) == ["alpha", "beta"]
    assert _record(repo) == {}


def test_a_failure_against_an_older_version_is_not_tested_once_the_lock_moved_on(repo: Path) -> None:
    _run(repo, RecordingTests(failing=("alpha",)))
    assert _record(repo)["tools"] == [TOOLS_V1]
    # Another machine published tools v2 and moved the pins (a git pull brings its lock and pins).
    (repo / "layers" / "tools" / "bin" / "hello").write_text("#!/bin/sh\necho fixed\n")
    _run(repo, RecordingTests())
    record_after_v2 = _record(repo)
    assert "tools" not in record_after_v2
    (repo / ".layer-ci" / "failed-tests.json").write_text(json.dumps({"tools": [TOOLS_V1]}))
    quiet = RecordingTests()
    _, after = _run(repo, quiet)
    assert after.nothing_to_do and quiet.calls == []


def test_a_runaway_pin_pattern_stops_the_run_before_anything_is_published(repo: Path) -> None:
    config_text = (repo / "layer-ci.yml").read_text()
    runaway = "settings:\n  pin_patterns: ['(?P<layer>(a|aa)+)b(?P<version>[0-9]+)']\n"
    (repo / "layer-ci.yml").write_text(config_text.replace("version: 1\n", "version: 1\n" + runaway))
    (repo / "prod.tfvars").write_text("a" * 60 + "c\n")
    with pytest.raises(ConfigError, match=r"settings\.pin_patterns\[0\].* on prod\.tfvars"):
        _run(repo, RecordingTests())
    assert load_lock(repo).layers == {}
    assert not (repo / ".layer-ci" / "registry").exists()


def _fifo(path: Path) -> None:
    os.mkfifo(path)


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda path: path.write_text("{not json"), id="not-json"),
        pytest.param(lambda path: path.write_text("[" * 100_000 + "]" * 100_000), id="deeply-nested"),
        pytest.param(lambda path: path.symlink_to("/dev/zero"), id="link-to-dev-zero"),
        pytest.param(_fifo, id="fifo"),
        pytest.param(lambda path: path.write_text(" " * (2 << 20) + "{}"), id="huge"),
    ],
)
def test_an_unreadable_failure_record_tests_every_consumer_again(
    repo: Path, damage: Callable[[Path], object]
) -> None:
    _run(repo, RecordingTests())
    record = repo / ".layer-ci" / "failed-tests.json"
    record.unlink(missing_ok=True)
    damage(record)
    tests = RecordingTests()
    _, outcome = _run(repo, tests)
    assert sorted(call[0] for call in tests.calls) == ["alpha", "beta"]
    assert outcome.exit_code == 0
    assert _record(repo) == {}


def test_no_test_leaves_the_failure_record_for_the_next_tested_run(repo: Path) -> None:
    _run(repo, RecordingTests(failing=("beta",)))
    recorded = _record(repo)
    untested = RecordingTests()
    logs: list[str] = []
    _run(repo, untested, logs, run_tests=False)
    assert untested.calls == []
    assert _record(repo) == recorded
    said = [line for line in logs if "--no-test leaves them untested" in line]
    assert sorted(line.split(":")[0] for line in said) == sorted(recorded)
    tests = RecordingTests(failing=("beta",))
    _, rerun = _run(repo, tests)
    assert rerun.exit_code == 1


def test_dry_run_builds_and_tests_the_zips_but_publishes_and_rewrites_nothing(repo: Path) -> None:
    tests = RecordingTests()
    _, outcome = _run(repo, tests, dry_run=True)

    assert outcome.dry_run and outcome.published == ()
    assert {b.layer for b in outcome.built} == {"tools", "data"}
    beta_sources = next(sources for name, sources, _ in tests.calls if name == "beta")
    assert beta_sources["tools"].endswith("tools.zip") and Path(beta_sources["tools"]).is_file()
    assert not (repo / "layer-ci.lock").exists()
    assert not (repo / ".layer-ci" / "registry").exists()


def test_no_test_moves_pins_without_running_anything(repo: Path) -> None:
    _run(repo, RecordingTests())
    (repo / "layers" / "data" / "python" / "data.py").write_text("VALUE = 3\n")
    tests = RecordingTests(failing=("beta",))
    _, outcome = _run(repo, tests, run_tests=False)
    assert tests.calls == []
    assert [c.status for c in outcome.checks] == ["skipped"]
    assert outcome.tests_passed is None and outcome.exit_code == 0
    assert [(c.layer, c.new_version) for c in outcome.pin_changes] == [("data", 2)]


def test_targets_respect_layers_force_and_regions(repo: Path) -> None:
    config = load_config(repo / "layer-ci.yml")
    _run(repo, RecordingTests())
    plan = make_plan(config, load_lock(repo))
    assert select_targets(config, plan, PushOptions()) == {}
    assert select_targets(config, plan, PushOptions(force=True, layers=("data",))) == {"data": ("us-east-1",)}
    forced = select_targets(config, plan, PushOptions(force=True, regions=("eu-west-1",)))
    assert forced == {"tools": ("eu-west-1",), "data": ("eu-west-1",)}


def test_unknown_layer_is_a_usage_error(repo: Path) -> None:
    with pytest.raises(UsageError, match="unknown layer 'nope'"):
        _run(repo, RecordingTests(), layers=("nope",))


def test_forced_rerun_reuses_the_identical_version(repo: Path) -> None:
    _run(repo, RecordingTests())
    _, outcome = _run(repo, RecordingTests(), force=True, layers=("tools",))
    assert [(p.layer, p.version, p.created) for p in outcome.published] == [("tools", 1, False)]
    assert LocalRegistry(repo / ".layer-ci" / "registry", "us-east-1").list_versions("tools")[0].version == 1


def test_placeholder_region_pins_move_only_when_every_region_agrees(repo: Path) -> None:
    from layer_ci.plan.lockfile import Lock, LockedLayer, PublishedRef

    arn = "arn:aws:lambda:{}:000000000000:layer:data:{}"
    lock = Lock(
        {
            "data": LockedLayer(
                "sha256:" + "0" * 64,
                "0" * 64,
                {
                    "us-east-1": PublishedRef(3, arn.format("us-east-1", 3)),
                    "eu-west-1": PublishedRef(4, arn.format("eu-west-1", 4)),
                },
            )
        }
    )
    versions = published_versions(lock, ["data"])
    assert versions == {("data", "us-east-1"): 3, ("data", "eu-west-1"): 4}
    same = lock.with_layer(
        "data", lock.layers["data"].with_published("eu-west-1", PublishedRef(3, arn.format("eu-west-1", 3)))
    )
    assert published_versions(same, ["data"])[("data", None)] == 3


# ------------------------------------------------------------------------- refused before publishing


@pytest.mark.parametrize(
    ("with_github", "run_tests", "message"),
    [
        (False, True, "bump pull requests need GitHub and git"),
        (True, False, "bump pull requests always run the affected functions' tests"),
    ],
)
def test_pull_request_mode_without_its_needs_is_refused_before_anything_is_published(
    repo: Path, with_github: bool, run_tests: bool, message: str
) -> None:
    from layer_ci.adapters.git import GitRepo
    from layer_ci.adapters.github import GitHubClient

    config = load_config(repo / "layer-ci.yml")
    tests = RecordingTests()
    built: list[str] = []

    def build(spec: Any, out_dir: Path, *, input_key: str, cache_dir: Path | None = None) -> Any:
        built.append(spec.name)
        raise AssertionError("nothing may be built before the options are checked")

    services = Services(
        registry_factory=registry_factory(config),
        build=build,
        run_tests=tests,
        # Clients that were never used: a refusal up front makes no request at all.
        github=GitHubClient("t0ken", "octo/app", api_url="http://127.0.0.1:9") if with_github else None,
        git=GitRepo(repo) if with_github else None,
        log=lambda _message: None,
    )
    options = PushOptions(commit="abc123", mode="pull-requests", run_tests=run_tests)
    with pytest.raises(UsageError, match=message):
        run_push(config, services, options)
    assert built == [] and tests.calls == []
    assert not (repo / "layer-ci.lock").exists() and not (repo / ".layer-ci").exists()


# ------------------------------------------------------------------------- failing after publishing


def test_a_failure_after_a_version_was_published_carries_what_was_published(repo: Path) -> None:
    from layer_ci.errors import ServiceError
    from layer_ci.flows.outcome import StageFailed

    config = load_config(repo / "layer-ci.yml")
    real = registry_factory(config)

    def factory(region: str) -> Any:
        if region == "eu-west-1":
            raise ServiceError(
                "AWS", "publish layer version", "AccessDeniedException: not allowed in eu-west-1"
            )
        return real(region)

    services = Services(registry_factory=factory, run_tests=RecordingTests(), log=lambda _message: None)
    options = PushOptions(commit="abc123", regions=("us-east-1", "eu-west-1"))
    with pytest.raises(StageFailed) as raised:
        run_push(config, services, options)

    failure = raised.value
    assert failure.exit_code == 1 and failure.stage == "publish"
    assert [(p.layer, p.region, p.version) for p in failure.outcome.published] == [("tools", "us-east-1", 1)]
    assert failure.outcome.published_arns() == {
        "tools": {"us-east-1": "arn:aws:lambda:us-east-1:000000000000:layer:tools:1"}
    }
    assert failure.one_line() == (
        "publish failed after publishing tools v1 in us-east-1 (recorded in layer-ci.lock): AWS publish "
        "layer version failed: AccessDeniedException: not allowed in eu-west-1"
    )
    lock = load_lock(repo)
    assert {region: ref.version for region, ref in lock.layers["tools"].published.items()} == {"us-east-1": 1}
    assert "data" not in lock.layers  # never reached
