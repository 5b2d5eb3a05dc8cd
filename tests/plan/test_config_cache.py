"""Tests for the config memo used by ``layer-ci plan``: a hit equals load_config, any change is a miss."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from layer_ci.config.loader import load_config
from layer_ci.errors import ConfigError, Location
from layer_ci.fsutil import MACHINE_KEY_FILE, machine_key
from layer_ci.model import BuildSpec, Config, FunctionSpec, LayerSpec, Settings, Sharing
from layer_ci.plan import config_cache
from layer_ci.plan.config_cache import CONFIG_CACHE_PATH, load_config_cached
from tests.support.repos import PROJECT_ROOT, make_monorepo


class FreshLoads:
    """Counts the calls that reach the real loader."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        real = config_cache._load_fresh

        def counting(path: Path | None) -> Config:
            self.count += 1
            return real(path)

        monkeypatch.setattr(config_cache, "_load_fresh", counting)


@pytest.fixture(autouse=True)
def forget_machine_key() -> Iterator[None]:
    """Each test reads the machine key again, from wherever its LAYER_CI_CACHE points."""
    machine_key.cache_clear()
    yield
    machine_key.cache_clear()


@pytest.fixture
def fresh_loads(monkeypatch: pytest.MonkeyPatch) -> FreshLoads:
    return FreshLoads(monkeypatch)


def test_second_load_is_a_hit_equal_to_load_config(example_repo: Path, fresh_loads: FreshLoads) -> None:
    path = example_repo / "layer-ci.yml"
    first = load_config_cached(path)
    second = load_config_cached(path)
    assert fresh_loads.count == 1
    assert first == second == load_config(path)
    assert (example_repo / CONFIG_CACHE_PATH).is_file()


def test_generated_monorepo_round_trips(tmp_path: Path, fresh_loads: FreshLoads) -> None:
    root = make_monorepo(
        tmp_path / "repo", layers=12, functions=30, files=60, regions=("us-east-1", "eu-west-1")
    )
    expected = load_config(root / "layer-ci.yml")
    load_config_cached(root / "layer-ci.yml")
    assert load_config_cached(root / "layer-ci.yml") == expected
    assert fresh_loads.count == 1


def test_default_path_is_the_working_directorys_layer_ci_yml(
    example_repo: Path, monkeypatch: pytest.MonkeyPatch, fresh_loads: FreshLoads
) -> None:
    monkeypatch.chdir(example_repo)
    assert load_config_cached(None) == load_config(None)
    assert load_config_cached(None).root == example_repo.resolve()
    assert fresh_loads.count == 1


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(
            lambda root: _append(root / "layer-ci.yml", "# a comment changes the bytes\n"), id="config"
        ),
        pytest.param(lambda root: _append(root / "template.yaml", "# edited\n"), id="template"),
    ],
)
def test_edited_inputs_are_a_miss(
    example_repo: Path, fresh_loads: FreshLoads, edit: Callable[[Path], None]
) -> None:
    load_config_cached(example_repo / "layer-ci.yml")
    edit(example_repo)
    load_config_cached(example_repo / "layer-ci.yml")
    assert fresh_loads.count == 2


def test_changed_config_is_seen(example_repo: Path) -> None:
    path = example_repo / "layer-ci.yml"
    load_config_cached(path)
    path.write_text(path.read_text().replace("regions: [us-east-1]", "regions: [eu-west-1]", 1))
    assert load_config_cached(path).layer("common-deps").regions == ("eu-west-1",)


def test_deleted_folder_gives_the_loaders_error_not_a_stale_config(example_repo: Path) -> None:
    path = example_repo / "layer-ci.yml"
    load_config_cached(path)
    shutil.rmtree(example_repo / "functions" / "orders")
    with pytest.raises(ConfigError, match="does not exist"):
        load_config_cached(path)


def test_requirements_file_replaced_by_a_folder_is_a_miss(example_repo: Path) -> None:
    path = example_repo / "layer-ci.yml"
    load_config_cached(path)
    requirements = example_repo / "layers" / "common-deps" / "requirements.txt"
    requirements.unlink()
    requirements.mkdir()
    with pytest.raises(ConfigError, match="requirements"):
        load_config_cached(path)


def test_other_spelling_of_the_config_path_gets_its_own_locations(
    example_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Error locations carry the path as the user wrote it; a hit must not hand back another spelling.
    monkeypatch.chdir(example_repo)
    absolute = load_config_cached(example_repo / "layer-ci.yml")
    relative = load_config_cached(Path("layer-ci.yml"))
    assert relative == load_config(Path("layer-ci.yml"))
    assert absolute == load_config(example_repo / "layer-ci.yml")


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda text: "{not json", id="not-json"),
        pytest.param(lambda text: text.replace('"memory_mb":128', '"memory_mb":"128"'), id="wrong-type"),
        pytest.param(lambda text: text.replace('"memory_mb":128', '"memory_mb":true'), id="bool-for-int"),
        pytest.param(lambda text: text.replace('"method":"files"', '"method":"shell"'), id="bad-literal"),
        pytest.param(lambda text: text.replace('"memory_mb":128,', ""), id="missing-field"),
        pytest.param(lambda text: text.replace('"root":"', '"root":"/elsewhere'), id="other-root"),
    ],
)
def test_damaged_cache_falls_back_to_a_full_load(
    example_repo: Path,
    fresh_loads: FreshLoads,
    damage: Callable[[str], str],
) -> None:
    path = example_repo / "layer-ci.yml"
    expected = load_config_cached(path)
    cache_file = example_repo / CONFIG_CACHE_PATH
    damaged = damage(cache_file.read_text())
    assert damaged != cache_file.read_text()
    cache_file.write_text(damaged)
    assert load_config_cached(path) == expected
    assert fresh_loads.count == 2


def test_config_errors_are_not_cached(example_repo: Path, fresh_loads: FreshLoads) -> None:
    path = example_repo / "layer-ci.yml"
    path.write_text("version: 1\nlayers: {}\n")
    for _ in range(2):
        with pytest.raises(ConfigError):
            load_config_cached(path)
    assert fresh_loads.count == 2
    assert not (example_repo / CONFIG_CACHE_PATH).exists()


def test_missing_config_is_the_loaders_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file: file not found"):
        load_config_cached(tmp_path / "layer-ci.yml")


def test_every_model_field_kind_round_trips(tmp_path: Path) -> None:
    config = Config(
        root=tmp_path,
        path=tmp_path / "layer-ci.yml",
        layers=(
            LayerSpec(
                "a",
                tmp_path / "a",
                BuildSpec("command", command=("make", "it"), binary_only=False),
                ("python3.11", "python3.12"),
                ("x86_64", "arm64"),
                ("us-east-1",),
                license=None,
                sharing=Sharing(accounts=("123456789012",), organization="o-abc", public=True),
                location=Location("layer-ci.yml", 7),
            ),
        ),
        functions=(
            FunctionSpec(
                "f", tmp_path / "f", "python3.11", "arm64", "app.handler", ("a",), environment=(("K", "V"),)
            ),
        ),
        settings=Settings(registry="aws", artifact_bucket=None, prune_keep=None, labels=("x", "y")),
        templates=("template.yaml",),
    )
    encoded = json.loads(json.dumps(config_cache._encode(config)))
    assert config_cache._decode(Config, encoded) == config


def test_plan_on_a_hit_imports_neither_yaml_nor_json_schema(example_repo: Path) -> None:
    probe = (
        "import sys; from layer_ci.cli import main; code = main(['plan']); "
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('ruamel', 'jsonschema')); "
        "print(heavy, file=sys.stderr); "
        "sys.exit(code)"
    )
    env = {"PYTHONPATH": str(PROJECT_ROOT), "PATH": "/usr/bin:/bin"}
    runs = [
        subprocess.run(
            [sys.executable, "-c", probe],
            cwd=example_repo,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        for _ in range(2)
    ]
    assert [run.returncode for run in runs] == [0, 0], runs[0].stderr
    assert runs[0].stdout == runs[1].stdout
    assert "ruamel" in runs[0].stderr.splitlines()[-1]  # the first run parsed the YAML
    assert runs[1].stderr.splitlines()[-1] == "[]"


def _append(path: Path, text: str) -> None:
    path.write_text(path.read_text() + text)


def test_a_memo_hit_and_the_sandbox_probe_memo_need_no_openssl(example_repo: Path) -> None:
    # Both are worked out before a build's installer can start; hashlib loads OpenSSL on import (~3 ms
    # of every build's start), so their fingerprints are BLAKE2 (built into the interpreter). Input keys,
    # zips and RECORD lines still take SHA-256 from hashlib, once the installer runs.
    probe = (
        "import sys; from pathlib import Path\n"
        "from layer_ci.plan.config_cache import load_config_cached\n"
        "from layer_ci.adapters import sandbox\n"
        "config = load_config_cached(Path('layer-ci.yml'))\n"
        "sandbox.isolation()\n"
        "print(len(config.layers), sorted({'hashlib', '_hashlib'} & set(sys.modules)))\n"
    )
    env = {"PYTHONPATH": str(PROJECT_ROOT), "PATH": "/usr/bin:/bin", "HOME": str(example_repo.parent)}
    runs = [
        subprocess.run(
            [sys.executable, "-c", probe], cwd=example_repo, env=env, capture_output=True, text=True
        )
        for _ in range(2)
    ]
    assert [run.returncode for run in runs] == [0, 0], runs[0].stderr
    layers = len(load_config(example_repo / "layer-ci.yml").layers)
    # The first run parses the YAML (the loader may use hashlib); the second is answered from both memos.
    assert runs[1].stdout.split() == [str(layers), "[]"], runs[1].stdout + runs[1].stderr


def test_a_memo_written_elsewhere_is_never_a_hit(
    example_repo: Path, fresh_loads: FreshLoads, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A fork can commit .layer-ci/cache/config.json made on its own machine with the same layer-ci code;
    # taken as a hit, it would hand over a Config the loader never checked (a source outside the repo).
    path = example_repo / "layer-ci.yml"
    monkeypatch.setenv("LAYER_CI_CACHE", str(tmp_path / "attacker-machine"))
    load_config_cached(path)
    cache_file = example_repo / CONFIG_CACHE_PATH
    planted = json.loads(cache_file.read_text())
    planted["config"]["layers"][0]["source"] = "/etc"
    cache_file.write_text(json.dumps(planted))

    monkeypatch.setenv("LAYER_CI_CACHE", str(tmp_path / "this-machine"))
    machine_key.cache_clear()
    loaded = load_config_cached(path)
    assert fresh_loads.count == 2
    assert loaded == load_config(path)
    assert all(layer.source.is_relative_to(example_repo) for layer in loaded.layers)
    assert (tmp_path / "this-machine" / MACHINE_KEY_FILE).stat().st_mode & 0o077 == 0


def test_without_a_place_for_its_key_the_memo_is_skipped(
    example_repo: Path, fresh_loads: FreshLoads, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder\n")
    monkeypatch.setenv("LAYER_CI_CACHE", str(blocker / "cache"))
    path = example_repo / "layer-ci.yml"
    assert load_config_cached(path) == load_config_cached(path) == load_config(path)
    assert fresh_loads.count == 2
    assert not (example_repo / CONFIG_CACHE_PATH).exists()


def test_a_tampered_memo_naming_a_path_outside_the_repository_is_a_miss(
    example_repo: Path, fresh_loads: FreshLoads
) -> None:
    # Even with this machine's key (the fingerprint covers the config file, not the memo's contents), the
    # Config a memo returns gets the loader's containment check: its own paths, not a list stored beside it.
    path = example_repo / "layer-ci.yml"
    expected = load_config_cached(path)
    cache_file = example_repo / CONFIG_CACHE_PATH
    tampered = json.loads(cache_file.read_text())
    tampered["config"]["layers"][0]["source"] = "/etc"
    cache_file.write_text(json.dumps(tampered))
    assert load_config_cached(path) == expected
    assert fresh_loads.count == 2
