"""Tests for the change plan and ``layer-ci plan``: reasons, the consumer graph, matrix, and no network."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from layer_ci.commands.plan_command import early_index_lookup, render_text
from layer_ci.config.loader import load_config
from layer_ci.model import BuildSpec, Config
from layer_ci.plan.changes import (
    REASON_CHANGED,
    REASON_FORMAT_CHANGED,
    REASON_NEW,
    REASON_REMOVED,
    REASON_UNCHANGED,
    make_plan,
)
from layer_ci.plan.inputs import GitIndexLookup, layer_inputs
from layer_ci.plan.lockfile import LOCK_FILE_NAME, Lock, LockedLayer, PublishedRef, load_lock, save_lock
from tests.support.repos import (
    PROJECT_ROOT,
    commit_all,
    config_of,
    function_spec,
    git,
    layer_spec,
    record_lock,
)

ZIP = "0" * 64

# --- make_plan on configs built in memory ---------------------------------------------------------


@pytest.fixture
def small_config(tmp_path: Path) -> Config:
    root = tmp_path / "repo"
    for name in ("deps", "tools", "unused"):
        (root / "layers" / name).mkdir(parents=True)
        (root / "layers" / name / "content.txt").write_text(name)
    layers = (
        layer_spec(root / "layers" / "deps", "deps", regions=("us-east-1", "eu-west-1")),
        layer_spec(root / "layers" / "tools", "tools"),
        layer_spec(root / "layers" / "unused", "unused"),
    )
    functions = (
        function_spec(root, "api", ("deps", "tools")),
        function_spec(root, "worker", ("deps",)),
        function_spec(root, "cron", ("tools",)),
    )
    return config_of(root, layers, functions)


def lock_matching(config: Config, *, skip_regions: tuple[str, ...] = (), with_parts: bool = False) -> Lock:
    inputs = layer_inputs(config.layers, config.root)
    lock = Lock()
    for layer in config.layers:
        parts = inputs[layer.name].parts if with_parts else {}
        locked = LockedLayer(inputs[layer.name].key, ZIP, input_parts=parts)
        for region in layer.regions:
            if region not in skip_regions:
                locked = locked.with_published(
                    region, PublishedRef(1, f"arn:aws:lambda:{region}:0:layer:x:1")
                )
        lock = lock.with_layer(layer.name, locked)
    return lock


def test_everything_is_new_without_a_lock(small_config: Config) -> None:
    plan = make_plan(small_config, Lock())
    assert [(c.layer, c.status, c.reason) for c in plan.changes] == [
        ("deps", "new", REASON_NEW),
        ("tools", "new", REASON_NEW),
        ("unused", "new", REASON_NEW),
    ]
    assert all(c.needs_build and c.previous_key is None for c in plan.changes)
    assert plan.changes[0].publish_regions == ("us-east-1", "eu-west-1")


def test_matching_lock_means_nothing_to_do(small_config: Config) -> None:
    plan = make_plan(small_config, lock_matching(small_config))
    assert not plan.has_changes
    assert plan.changed == ()
    assert [c.reason for c in plan.changes] == [REASON_UNCHANGED] * 3
    assert plan.affected_functions == ()
    assert render_text(plan) == "nothing to do: 3 layers unchanged"
    # A version whose consumers have not passed yet is work for the next run, whatever the inputs say.
    assert render_text(plan, ("tools",)) == (
        "consumers not yet passed against the current version of: tools (the next run tests them)\n"
        "nothing to build: 3 layers unchanged"
    )


def test_changed_layer_lists_exactly_its_consumers(small_config: Config) -> None:
    lock = lock_matching(small_config)
    (small_config.root / "layers" / "tools" / "content.txt").write_text("tools v2")
    plan = make_plan(small_config, lock)
    [change] = plan.changed
    assert (change.layer, change.status, change.reason) == ("tools", "changed", REASON_CHANGED)
    assert change.previous_key == lock.layers["tools"].input_key != change.input_key
    assert change.consumers == ("api", "cron")
    assert plan.affected_functions == ("api", "cron")
    assert change.publish_regions == ("us-east-1",)


def test_reason_names_the_changed_input_parts_when_the_lock_recorded_them(small_config: Config) -> None:
    lock = lock_matching(small_config, with_parts=True)
    (small_config.root / "layers" / "tools" / "content.txt").write_text("tools v2")
    [change] = make_plan(small_config, lock).changed
    assert (change.layer, change.reason, change.changed_parts) == (
        "tools",
        "inputs changed: source files",
        ("files",),
    )

    retargeted = dataclasses.replace(
        small_config.layer("deps"),
        compatible_runtimes=("python3.12",),
        build=BuildSpec("command", command=("make",)),
    )
    config = dataclasses.replace(small_config, layers=(retargeted, *small_config.layers[1:]))
    deps = make_plan(config, lock).changes[0]
    assert deps.reason == "inputs changed: build settings, target (compatible runtimes/architectures)"
    assert deps.changed_parts == ("build", "target")


def test_reason_without_recorded_parts_or_after_a_format_change(small_config: Config) -> None:
    (small_config.root / "layers" / "tools" / "content.txt").write_text("tools v2")
    old_lock = lock_matching(small_config)  # no parts recorded (a lock written by an older layer-ci)
    (small_config.root / "layers" / "tools" / "content.txt").write_text("tools v3")
    [change] = make_plan(small_config, old_lock).changed
    assert (change.reason, change.changed_parts) == (REASON_CHANGED, ())

    # Same parts, different key: only the way the key is put together changed.
    current = lock_matching(small_config, with_parts=True)
    locked = current.layers["tools"]
    stale = current.with_layer(
        "tools", LockedLayer("sha256:" + "e" * 64, ZIP, locked.published, input_parts=locked.input_parts)
    )
    [change] = make_plan(small_config, stale).changed
    assert change.reason == REASON_FORMAT_CHANGED


def test_layer_no_function_uses_still_gets_built(small_config: Config) -> None:
    lock = lock_matching(small_config)
    (small_config.root / "layers" / "unused" / "content.txt").write_text("changed")
    [change] = make_plan(small_config, lock).changed
    assert (change.layer, change.consumers) == ("unused", ())
    assert "(no functions use it)" in render_text(make_plan(small_config, lock))


def test_region_added_to_config_needs_a_publish_not_a_build(small_config: Config) -> None:
    plan = make_plan(small_config, lock_matching(small_config, skip_regions=("eu-west-1",)))
    [change] = plan.changed
    assert (change.layer, change.status) == ("deps", "unpublished")
    assert change.reason == "not yet published in eu-west-1"
    assert change.publish_regions == ("eu-west-1",)
    assert not change.needs_build
    assert change.consumers == ("api", "worker")


def test_layer_removed_from_config_is_reported_without_action(small_config: Config) -> None:
    lock = lock_matching(small_config).with_layer("retired", LockedLayer("sha256:" + "9" * 64, ZIP))
    plan = make_plan(small_config, lock)
    assert not plan.has_changes
    [removed] = plan.removed
    assert (removed.layer, removed.status, removed.reason) == ("retired", "removed", REASON_REMOVED)
    assert not removed.changed
    assert plan.to_matrix() == {"include": []}
    assert "retired: removed from config (no action)" in render_text(plan)


def test_function_listing_a_layer_twice_is_one_consumer(small_config: Config) -> None:
    config = config_of(
        small_config.root, small_config.layers, (function_spec(small_config.root, "f", ("deps", "deps")),)
    )
    assert make_plan(config, Lock()).changes[0].consumers == ("f",)


def test_matrix_and_json(small_config: Config) -> None:
    lock = lock_matching(small_config, skip_regions=("eu-west-1",)).without_layer("tools")
    plan = make_plan(small_config, lock)
    assert plan.to_matrix() == {
        "include": [
            {"layer": "deps", "functions": ["api", "worker"], "reason": "not yet published in eu-west-1"},
            {"layer": "tools", "functions": ["api", "cron"], "reason": REASON_NEW},
        ]
    }
    document = plan.to_json()
    assert document["has_changes"] is True
    assert document["affected_functions"] == ["api", "cron", "worker"]
    assert [(layer["layer"], layer["status"], layer["needs_build"]) for layer in document["layers"]] == [
        ("deps", "unpublished", False),
        ("tools", "new", True),
        ("unused", "unchanged", False),
    ]
    assert json.loads(json.dumps(document)) == document


def test_plan_values_are_frozen(small_config: Config) -> None:
    plan = make_plan(small_config, Lock())
    with pytest.raises(AttributeError):
        plan.changes = ()  # type: ignore[misc]
    with pytest.raises(AttributeError):
        plan.changes[0].reason = "x"  # type: ignore[misc]


# --- `layer-ci plan` on the bundled example, as a subprocess --------------------------------------

# Loaded at interpreter start through PYTHONPATH: every way out of the process raises and is logged.
OFFLINE_SITECUSTOMIZE = textwrap.dedent(
    """
    import os
    import socket

    def _refuse(*args, **kwargs):
        with open(os.environ["LAYER_CI_TEST_NETWORK_LOG"], "a") as log:
            log.write(repr(args[:2]) + "\\n")
        raise OSError("network blocked by the test's sitecustomize")

    socket.socket.connect = _refuse
    socket.socket.connect_ex = _refuse
    socket.socket.sendto = _refuse
    socket.create_connection = _refuse
    socket.getaddrinfo = _refuse
    """
)

HEAVY_MODULES = ("boto3", "botocore", "github", "moto", "requests", "urllib3", "s3transfer")

# Runs the CLI exactly as `python -m layer_ci plan ...` would, then reports which heavy modules it loaded.
PLAN_PROBE = textwrap.dedent(
    f"""
    import json, sys
    from layer_ci.cli import main
    code = main(sys.argv[1:])
    sys.stdout.flush()
    heavy = sorted(m for m in sys.modules if m.split(".")[0] in {HEAVY_MODULES!r})
    print("HEAVY=" + json.dumps(heavy), file=sys.stderr)
    sys.exit(code)
    """
)


@pytest.fixture
def offline_env(tmp_path: Path) -> dict[str, str]:
    site = tmp_path / "offline-site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(OFFLINE_SITECUSTOMIZE)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "GITHUB_", "LAYER_CI_"))
    }
    env["PYTHONPATH"] = os.pathsep.join([str(site), str(PROJECT_ROOT)])
    env["LAYER_CI_TEST_NETWORK_LOG"] = str(tmp_path / "network.log")
    # Anything that did try AWS or GitHub would find endpoints that answer nowhere.
    env["AWS_ENDPOINT_URL"] = "http://192.0.2.1:9"
    env["GITHUB_API_URL"] = "http://192.0.2.1:9"
    return env


def run_plan(
    root: Path, env: dict[str, str], *args: str
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    completed = subprocess.run(
        [sys.executable, "-c", PLAN_PROBE, "plan", *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    heavy_lines = [line for line in completed.stderr.splitlines() if line.startswith("HEAVY=")]
    assert heavy_lines, completed.stderr
    return completed, json.loads(heavy_lines[-1][len("HEAVY=") :])


def test_offline_sitecustomize_really_blocks_the_network(offline_env: dict[str, str], tmp_path: Path) -> None:
    probe = (
        "import socket\n"
        "try:\n    socket.create_connection(('127.0.0.1', 9), timeout=1)\n"
        "except OSError as e:\n    print(e)\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", probe], env=offline_env, capture_output=True, text=True, check=True
    )
    assert "network blocked by the test's sitecustomize" in completed.stdout
    assert "127.0.0.1" in (tmp_path / "network.log").read_text()


def test_untouched_repo_plans_nothing_offline_and_light(
    example_repo: Path, offline_env: dict[str, str], tmp_path: Path
) -> None:
    record_lock(load_config(example_repo / "layer-ci.yml"))
    commit_all(example_repo, "record the lock")
    completed, heavy = run_plan(example_repo, offline_env)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout == "nothing to do: 2 layers unchanged\n"
    assert not (tmp_path / "network.log").exists(), (tmp_path / "network.log").read_text()
    assert heavy == []
    # The plan changes nothing git sees: its caches live in the ignored .layer-ci/ folder.
    assert git(example_repo, "status", "--porcelain", "--untracked-files=all") == ""


def test_editing_requirements_lists_that_layer_and_exactly_its_consumers(
    example_repo: Path, offline_env: dict[str, str], tmp_path: Path
) -> None:
    record_lock(load_config(example_repo / "layer-ci.yml"))
    requirements = example_repo / "layers" / "common-deps" / "requirements.txt"
    requirements.write_text(requirements.read_text().replace("idna==3.10", "idna==3.11"))
    completed, heavy = run_plan(example_repo, offline_env, "--json")
    assert completed.returncode == 0, completed.stderr
    document = json.loads(completed.stdout)
    reason = "inputs changed: requirements file requirements.txt"
    assert [(layer["layer"], layer["reason"]) for layer in document["layers"]] == [
        ("common-deps", reason),
        ("tools", "unchanged"),
    ]
    assert document["layers"][0]["changed_parts"] == ["requirements"]
    assert document["layers"][0]["consumers"] == ["catalog", "notify", "orders"]
    assert document["matrix"] == {
        "include": [{"layer": "common-deps", "functions": ["catalog", "notify", "orders"], "reason": reason}]
    }
    assert not (tmp_path / "network.log").exists()
    assert heavy == []


def test_editing_the_tool_touches_only_the_function_using_the_tools_layer(
    example_repo: Path, offline_env: dict[str, str]
) -> None:
    record_lock(load_config(example_repo / "layer-ci.yml"))
    tool = example_repo / "layers" / "tools" / "bin" / "slugify"
    tool.write_text(tool.read_text() + "# tweak\n")
    completed, _ = run_plan(example_repo, offline_env, "--matrix")
    assert completed.returncode == 0, completed.stderr
    assert (
        completed.stdout == '{"include":[{"layer":"tools","functions":["catalog","labels"],'
        '"reason":"inputs changed: source files"}]}\n'
    )


def test_early_index_lookup_is_only_a_head_start(example_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = load_config(example_repo / "layer-ci.yml")
    record_lock(config)
    commit_all(example_repo, "record the lock")
    lock = load_lock(example_repo)
    early = early_index_lookup(example_repo / "layer-ci.yml")
    assert early is not None and early.scopes == ("layers",)  # from the `source:` lines, before parsing
    started: list[tuple[str, ...]] = []
    real_init = GitIndexLookup.__init__

    def recording(self: GitIndexLookup, root: Path, scopes: tuple[str, ...]) -> None:
        started.append(tuple(scopes))
        real_init(self, root, scopes)

    monkeypatch.setattr(GitIndexLookup, "__init__", recording)
    plan = make_plan(config, lock, index=early)
    assert not plan.has_changes
    assert started == []  # the early lookup covered every layer: no second call to git
    # A lookup of the wrong folders (a guess gone wrong) costs a second lookup, not a wrong answer.
    wrong = GitIndexLookup(example_repo, ["functions"])
    assert make_plan(config, lock, index=wrong) == plan
    assert started == [("functions",), ("layers",)]
    assert wrong.covers("functions/catalog") and not wrong.covers("layers") and not wrong.covers("functionsx")


def test_fresh_example_says_both_layers_are_new(example_repo: Path) -> None:
    assert not (example_repo / LOCK_FILE_NAME).exists()
    completed = subprocess.run(
        [sys.executable, "-m", "layer_ci", "plan"],
        cwd=example_repo,
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.splitlines() == [
        "2 of 2 layers need work:",
        "  common-deps  new layer (not in layer-ci.lock)",
        "               consumers: catalog, notify, orders",
        "  tools        new layer (not in layer-ci.lock)",
        "               consumers: catalog, labels",
        "functions to test: catalog, labels, notify, orders",
    ]


def test_region_added_and_layer_removed_in_config(example_repo: Path) -> None:
    config_path = example_repo / "layer-ci.yml"
    original = load_config(config_path)
    lock = record_lock(original)
    # The lock also remembers a layer the config no longer has.
    save_lock(example_repo, lock.with_layer("old-layer", LockedLayer("sha256:" + "1" * 64, ZIP)))
    text = config_path.read_text()
    tools_block = text.index("  tools:")
    text = text[:tools_block] + text[tools_block:].replace(
        "regions: [us-east-1]", "regions: [us-east-1, eu-west-2]", 1
    )
    config_path.write_text(text)
    plan = make_plan(load_config(config_path), load_lock(example_repo))
    assert [(c.layer, c.reason) for c in plan.changes] == [
        ("common-deps", REASON_UNCHANGED),
        ("tools", "not yet published in eu-west-2"),
    ]
    assert [(c.layer, c.reason) for c in plan.removed] == [("old-layer", REASON_REMOVED)]


def test_plan_works_from_another_folder_with_config(example_repo: Path, tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "layer_ci", "--config", str(example_repo / "layer-ci.yml"), "plan", "--json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout)["has_changes"] is True
    assert not (tmp_path / ".layer-ci").exists()  # caches live in the repository, not the cwd
    assert (example_repo / ".layer-ci" / "cache" / "config.json").exists()


def test_damaged_lock_is_a_one_line_usage_error(example_repo: Path) -> None:
    (example_repo / LOCK_FILE_NAME).write_text('{"version": 1,\n "layers": {\n')
    completed = subprocess.run(
        [sys.executable, "-m", "layer_ci", "plan"],
        cwd=example_repo,
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 2
    assert completed.stdout == ""
    [line] = completed.stderr.splitlines()
    assert line.startswith("layer-ci: error: layer-ci.lock:3: layer-ci.lock: not valid JSON")
    assert "git checkout -- layer-ci.lock" in line


def test_json_and_matrix_are_exclusive(example_repo: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "layer_ci", "plan", "--json", "--matrix"],
        cwd=example_repo,
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 2
    assert "not allowed with argument" in completed.stderr
