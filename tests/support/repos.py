"""Fixtures and builders for test repositories: the bundled example as a git repo, generated monorepos."""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

import pytest

from layer_ci.model import Architecture, BuildMethod, BuildSpec, Config, FunctionSpec, LayerSpec
from layer_ci.plan.inputs import layer_inputs
from layer_ci.plan.lockfile import Lock, LockedLayer, PublishedRef, save_lock

PROJECT_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_DIR = PROJECT_ROOT / "examples" / "monorepo"

# Local state a developer's runs may have left in the example; a fresh clone has none of it.
_NOT_COPIED = shutil.ignore_patterns(".layer-ci", "__pycache__", "*.pyc", ".pytest_cache", ".aws-sam")

GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "layer-ci tests",
    "GIT_AUTHOR_EMAIL": "tests@layer-ci.invalid",
    "GIT_COMMITTER_NAME": "layer-ci tests",
    "GIT_COMMITTER_EMAIL": "tests@layer-ci.invalid",
}


def git_env() -> dict[str, str]:
    """The environment for test git commands: a fixed identity, no user or system config."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("GIT_")}
    env.update(GIT_IDENTITY)
    env["GIT_CONFIG_NOSYSTEM"] = "1"
    env["GIT_CONFIG_GLOBAL"] = os.devnull
    return env


def git(root: Path, *args: str) -> str:
    completed = subprocess.run(
        ["git", "-C", str(root), *args], env=git_env(), capture_output=True, text=True, check=True
    )
    return completed.stdout


def init_git_repo(root: Path, message: str = "initial commit") -> None:
    """Make ``root`` a git repository on ``main`` with everything in it committed."""
    subprocess.run(
        ["git", "-c", "init.defaultBranch=main", "init", "--quiet", str(root)],
        env=git_env(),
        capture_output=True,
        check=True,
    )
    commit_all(root, message)


def commit_all(root: Path, message: str) -> None:
    git(root, "add", "--all")
    git(root, "commit", "--quiet", "--allow-empty", "-m", message)


def copy_example(destination: Path) -> Path:
    """Copy examples/monorepo to ``destination`` (which must not exist), keeping file modes."""
    shutil.copytree(EXAMPLE_DIR, destination, ignore=_NOT_COPIED)
    return destination


@pytest.fixture
def example_repo(tmp_path: Path) -> Path:
    """The bundled example, copied to a temporary folder and committed as a fresh git repository."""
    root = copy_example(tmp_path / "monorepo")
    init_git_repo(root, "example monorepo")
    return root


def layer_spec(
    source: Path,
    name: str = "common-deps",
    *,
    method: BuildMethod = "files",
    requirements: str | None = None,
    command: tuple[str, ...] = (),
    binary_only: bool = True,
    runtimes: tuple[str, ...] = ("python3.11",),
    architectures: tuple[Architecture, ...] = ("x86_64",),
    regions: tuple[str, ...] = ("us-east-1",),
) -> LayerSpec:
    """A LayerSpec built directly (no layer-ci.yml), for tests of the stages after config loading."""
    build = BuildSpec(method, requirements=requirements, command=command, binary_only=binary_only)
    return LayerSpec(name, source, build, runtimes, architectures, regions)


def function_spec(root: Path, name: str, layers: tuple[str, ...]) -> FunctionSpec:
    return FunctionSpec(name, root / "functions" / name, "python3.11", "x86_64", "app.handler", layers)


def config_of(root: Path, layers: tuple[LayerSpec, ...], functions: tuple[FunctionSpec, ...] = ()) -> Config:
    return Config(root=root, path=root / "layer-ci.yml", layers=layers, functions=functions)


def record_lock(config: Config, *, zip_sha256: Mapping[str, str] | None = None) -> Lock:
    """Write layer-ci.lock as if every layer had been built and published as version 1 in its regions.

    Stands in for build + publish when a test only needs "the lock matches the tree". Without
    ``zip_sha256`` each layer gets a made-up (but well-formed) digest derived from its input key.
    """
    inputs = layer_inputs(config.layers, config.root)
    lock = Lock()
    for layer in config.layers:
        key = inputs[layer.name].key
        digest = (zip_sha256 or {}).get(layer.name) or hashlib.sha256(key.encode()).hexdigest()
        locked = LockedLayer(key, digest, input_parts=inputs[layer.name].parts)
        for region in layer.regions:
            arn = f"arn:aws:lambda:{region}:{config.settings.account}:layer:{layer.name}:1"
            locked = locked.with_published(region, PublishedRef(1, arn))
        lock = lock.with_layer(layer.name, locked)
    save_lock(config.root, lock)
    return lock


def make_monorepo(
    root: Path,
    *,
    layers: int = 10,
    functions: int = 20,
    files: int = 200,
    seed: int = 0,
    regions: tuple[str, ...] = ("us-east-1",),
) -> Path:
    """Generate a repository with ``layers`` layers holding ``files`` source files between them and
    ``functions`` functions using one to three layers each; returns ``root``.

    Every tenth layer is a ``python`` layer (a requirements file plus local modules), the rest are
    ``files`` layers with Python packages and, in some, executables under ``bin/``. Same arguments,
    same bytes.
    """
    if layers < 1 or files < layers:
        raise ValueError("need at least one layer and at least one file per layer")
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    layer_names = [f"layer-{index:03d}" for index in range(layers)]
    config_lines = [
        "# Generated by tests/support/repos.py::make_monorepo.",
        "version: 1",
        "settings:",
        "  registry: local",
        "layers:",
    ]
    region_list = ", ".join(regions)
    for index, name in enumerate(layer_names):
        share = files // layers + (1 if index < files % layers else 0)
        source = root / "layers" / name
        python_layer = index % 10 == 0
        if python_layer:
            _write(source / "requirements.txt", f"six==1.17.0\nidna==3.{index % 11}\n")
            share -= 1
        _fill_layer(source, name, share, rng, with_bin=not python_layer and index % 3 == 0)
        build = "{method: python, requirements: requirements.txt}" if python_layer else "{method: files}"
        config_lines += [
            f"  {name}:",
            f"    source: layers/{name}",
            f"    build: {build}",
            "    compatible_runtimes: [python3.11, python3.12]",
            "    compatible_architectures: [x86_64]",
            f"    description: Generated layer {index}",
            f"    regions: [{region_list}]",
        ]
    if functions:
        config_lines.append("functions:")
    for index in range(functions):
        name = f"fn-{index:04d}"
        used = rng.sample(layer_names, k=min(len(layer_names), rng.randint(1, 3)))
        _write(
            root / "functions" / name / "app.py",
            f'"""Generated function {index}."""\n\n\n'
            f'def handler(event, context):\n    return {{"fn": {index}}}\n',
        )
        config_lines += [
            f"  {name}:",
            f"    source: functions/{name}",
            "    runtime: python3.11",
            "    handler: app.handler",
            f"    layers: [{', '.join(used)}]",
            "    test: [python, -m, pytest, -q]",
        ]
    _write(root / "layer-ci.yml", "\n".join(config_lines) + "\n")
    return root


def _fill_layer(source: Path, name: str, count: int, rng: random.Random, *, with_bin: bool) -> None:
    package = name.replace("-", "_")
    for index in range(count):
        if with_bin and index % 25 == 0:
            path = source / "bin" / f"{name}-tool-{index}"
            _write(path, f"#!/bin/sh\necho {name} {index}\n")
            path.chmod(0o755)
            continue
        folder = source / "python" / package / f"sub{index // 50:03d}"
        body = "".join(f"VALUE_{line} = {rng.randrange(1 << 30)}\n" for line in range(rng.randint(5, 40)))
        _write(folder / f"module_{index:05d}.py", f'"""{name} module {index}."""\n\n{body}')


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
