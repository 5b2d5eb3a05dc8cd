"""Attack: paths in a fork's layer-ci.yml, templates and committed folders that lead out of the checkout.

Each config names something outside the repository through a symlink, an absolute path or ``.git``;
``layer-ci`` (the CLI as a user runs it) refuses it with one line naming the field and the path, never
the content of the file it pointed at, and writes nothing outside the checkout.
"""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import pytest

from tests.support.command_line import run_layer_ci

SECRET = "s3cr3t-value-from-outside"

LAYER = """\
version: 1
settings:
  registry: local
layers:
  tools:
    source: {source}
    build: {build}
    compatible_runtimes: [python3.12]
"""


def _cli(root: Path, *argv: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {"HOME": str(home), "SECRET_IN_ENV": SECRET}
    return run_layer_ci(root / "layer-ci.yml", *argv, cache=home / "cache", env=env)


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder beside the checkout holding a secret file and a folder the attacker would read or fill."""
    folder = tmp_path / "outside"
    (folder / "lib").mkdir(parents=True)
    (folder / "lib" / "secret.txt").write_text(SECRET + "\n")
    (folder / "requirements.txt").write_text(f"{SECRET}==1.0\n")
    return folder


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "layers" / "tools" / "python").mkdir(parents=True)
    (root / "layers" / "tools" / "python" / "tools.py").write_text("VERSION = 1\n")
    subprocess.run(["git", "init", "--quiet", str(root)], check=True)
    return root


def _refused(done: subprocess.CompletedProcess[str], *words: str) -> None:
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert SECRET not in done.stdout + done.stderr, "the error echoed the content of a file outside"
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    for word in words:
        assert word in lines[0], lines[0]


def test_a_layer_source_that_is_a_symlink_out_of_the_checkout_is_refused(
    repo: Path, outside: Path, tmp_path: Path
) -> None:
    (repo / "layers" / "evil").symlink_to(outside / "lib")
    (repo / "layer-ci.yml").write_text(LAYER.format(source="layers/evil", build="{method: files}"))
    _refused(_cli(repo, "plan", home=tmp_path), "layers.tools.source", "symlink", "outside the repository")


def test_a_layer_source_under_a_symlinked_folder_is_refused(
    repo: Path, outside: Path, tmp_path: Path
) -> None:
    (repo / "vendor").symlink_to(outside)
    (repo / "layer-ci.yml").write_text(LAYER.format(source="vendor/lib", build="{method: files}"))
    _refused(_cli(repo, "build", home=tmp_path), "layers.tools.source", "outside the repository")
    assert not (outside / "lib" / ".layer-ci").exists()


@pytest.mark.parametrize("source", [".git", ".git/objects", "layers/../.git"])
def test_a_layer_source_in_git_s_own_folder_is_refused(repo: Path, tmp_path: Path, source: str) -> None:
    (repo / "layer-ci.yml").write_text(LAYER.format(source=source, build="{method: files}"))
    _refused(_cli(repo, "plan", home=tmp_path), "layers.tools.source", ".git")


@pytest.mark.parametrize(
    "requirements",
    [
        "/proc/self/environ",
        "../../../../../../proc/self/environ",
        "../../../outside/requirements.txt",
        "link.txt",
    ],
)
def test_requirements_outside_the_checkout_are_refused_without_echoing_them(
    repo: Path, outside: Path, tmp_path: Path, requirements: str
) -> None:
    (repo / "layers" / "tools" / "link.txt").symlink_to(outside / "requirements.txt")
    build = f"{{method: python, requirements: '{requirements}'}}"
    (repo / "layer-ci.yml").write_text(LAYER.format(source="layers/tools", build=build))
    _refused(_cli(repo, "build", home=tmp_path), "layers.tools.build.requirements", "outside the repository")


@pytest.mark.parametrize("template", ["/proc/self/environ", "../outside/requirements.txt", "template.yaml"])
def test_templates_outside_the_checkout_are_refused_without_echoing_them(
    repo: Path, outside: Path, tmp_path: Path, template: str
) -> None:
    (repo / "template.yaml").symlink_to(outside / "requirements.txt")
    config = LAYER.format(source="layers/tools", build="{method: files}") + f"templates: ['{template}']\n"
    (repo / "layer-ci.yml").write_text(config)
    _refused(_cli(repo, "plan", home=tmp_path), "templates[0]", "outside the repository")


def test_a_symlinked_code_uri_is_refused(repo: Path, outside: Path, tmp_path: Path) -> None:
    (repo / "functions").mkdir()
    (repo / "functions" / "orders").symlink_to(outside / "lib")
    (repo / "template.yaml").write_text(
        textwrap.dedent(
            """\
            Transform: AWS::Serverless-2016-10-31
            Resources:
              Orders:
                Type: AWS::Serverless::Function
                Properties:
                  CodeUri: functions/orders
                  Runtime: python3.12
                  Handler: app.handler
                  Layers: [arn:aws:lambda:us-east-1:000000000000:layer:tools:1]
            """
        )
    )
    config = LAYER.format(source="layers/tools", build="{method: files}") + "templates: [template.yaml]\n"
    (repo / "layer-ci.yml").write_text(config)
    _refused(_cli(repo, "plan", home=tmp_path), "CodeUri", "outside the repository")


@pytest.mark.parametrize("linked", [".layer-ci", ".layer-ci/build"])
def test_a_committed_symlinked_state_folder_never_gets_written_through(
    repo: Path, outside: Path, tmp_path: Path, linked: str
) -> None:
    (repo / "layer-ci.yml").write_text(LAYER.format(source="layers/tools", build="{method: files}"))
    target = outside / "planted"
    target.mkdir()
    (repo / linked).parent.mkdir(parents=True, exist_ok=True)
    (repo / linked).symlink_to(target)
    before = sorted(p.relative_to(outside) for p in outside.rglob("*"))
    for argv in (["build"], ["publish"], ["plan"]):
        done = _cli(repo, *argv, home=tmp_path)
        assert "Traceback" not in done.stderr, done.stderr
        if argv != ["plan"]:
            _refused(done, linked, "symlink")
    # Plan only reads: a link where its records would be is no record, in either form of its output.
    for argv in (["plan"], ["plan", "--json"]):
        done = _cli(repo, *argv, home=tmp_path)
        assert done.returncode == 0 and "tools" in done.stdout, done.stderr
    assert sorted(p.relative_to(outside) for p in outside.rglob("*")) == before, "a write went outside"
