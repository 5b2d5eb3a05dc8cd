"""A small consumer repository for the bump, gate and verify tests, pushed to a bare remote GitHub can see.

Layer ``common`` (a ``files`` layer holding module ``mylib`` and two dist-info records) is published to
us-east-1 and eu-west-1 of the local registry. Functions ``greeter`` (uses ``mylib.greet``) and
``shouter`` (uses ``mylib.shout``) come from template.yaml; greeter also pins eu-west-1 in infra/prod.tf.
``release()`` changes the layer on main and publishes it, leaving the new lock in the working tree, which
is exactly the state ``layer-ci bump`` starts from in CI.
"""

from __future__ import annotations

import contextlib
import io
import textwrap
from dataclasses import dataclass
from pathlib import Path

from layer_ci import cli
from layer_ci.config.loader import load_config
from layer_ci.model import Config
from layer_ci.plan.lockfile import Lock, load_lock, parse_lock
from tests.engine.engine_support import HOST_ARCH, HOST_RUNTIME
from tests.support.git_remote import GitRemote, run_git

TEST_ARGV = "[python, -m, pytest, -q, -p, no:cacheprovider]"

MYLIB_V1 = """\
def greet(name):
    return f"hello {name}"


def shout(text):
    return text.upper() + "!"
"""
MYLIB_COMPATIBLE = (
    MYLIB_V1
    + """

def wave(name):
    return f"o/ {name}"
"""
)
MYLIB_BREAKING = """\
def greet(name):
    return f"hello {name}"
"""

TEMPLATE = f"""\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Description: two consumers of layer common (the 1 in this line must never change)

Resources:
  greeter:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/greeter/
      Handler: app.handler
      Runtime: {HOST_RUNTIME}
      Architectures: [{HOST_ARCH}]
      MemorySize: 128
      Timeout: 10
      Layers:
        - arn:aws:lambda:us-east-1:000000000000:layer:common:1

  shouter:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/shouter/
      Handler: app.handler
      Runtime: {HOST_RUNTIME}
      Architectures: [{HOST_ARCH}]
      MemorySize: 128
      Timeout: 10
      Layers:
        - !Sub "arn:aws:lambda:${{AWS::Region}}:000000000000:layer:common:1"
"""

PROD_TF = """\
# greeter's eu-west-1 deployment (1 layer, 1 region, timeout 1)
variable "common_layer" {
  default = "arn:aws:lambda:eu-west-1:000000000000:layer:common:1"
}
"""

GREETER_APP = """\
import mylib


def handler(event, context):
    return {"greeting": mylib.greet(event.get("name", "world"))}
"""
GREETER_TEST = """\
import app


def test_greets():
    assert app.handler({"name": "ada"}, None) == {"greeting": "hello ada"}
"""
SHOUTER_APP = """\
from mylib import shout


def handler(event, context):
    return {"text": shout(event["text"])}
"""
SHOUTER_TEST = """\
import app


def test_shouts():
    assert app.handler({"text": "hi"}, None) == {"text": "HI!"}
"""


def metadata(name: str, version: str) -> str:
    return f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"


def config_text(*, auto_merge: bool = False, mode: str = "per-layer") -> str:
    return textwrap.dedent(
        f"""\
        version: 1
        settings:
          registry: local
          labels: [layer-ci, dependencies]
          failure_label: "layer-ci:tests-failed"
          auto_merge: {"true" if auto_merge else "false"}
          pull_requests: {mode}
        templates: [template.yaml]
        layers:
          common:
            source: layers/common
            build: {{method: files}}
            compatible_runtimes: [{HOST_RUNTIME}]
            compatible_architectures: [{HOST_ARCH}]
            regions: [us-east-1, eu-west-1]
        functions:
          greeter:
            test: {TEST_ARGV}
            pins: [infra/prod.tf]
          shouter:
            test: {TEST_ARGV}
        """
    )


@dataclass
class BumpRepo:
    """The consumer repository: ``root`` is the clone (the CI checkout), ``remote`` its bare origin."""

    root: Path
    remote: GitRemote

    @property
    def config_path(self) -> Path:
        return self.root / "layer-ci.yml"

    def config(self) -> Config:
        return load_config(self.config_path)

    def write(self, relative: str, text: str) -> None:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")

    def read(self, relative: str) -> str:
        return (self.root / relative).read_text(encoding="utf-8")

    def commit_push(self, message: str, *, paths: tuple[str, ...] = (), with_lock: bool = False) -> str:
        """Commit and push to main; like a fresh CI checkout, the lock `publish` left is not committed
        (unless ``with_lock``: somebody committing it by hand)."""
        if not with_lock and (self.root / "layer-ci.lock").exists():
            run_git(["checkout", "HEAD", "--", "layer-ci.lock"], self.root)
        run_git(["add", "--all", *paths] if paths else ["add", "--all"], self.root)
        run_git(["commit", "--quiet", "--allow-empty", "-m", message], self.root)
        run_git(["push", "--quiet", "origin", "HEAD:refs/heads/main"], self.root)
        return run_git(["rev-parse", "HEAD"], self.root).strip()

    def publish(self) -> str:
        """`layer-ci publish` in this checkout; returns what it printed."""
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main(["--config", str(self.config_path), "publish"])
        assert code == 0, err.getvalue()
        return out.getvalue()

    def set_layer(self, mylib: str, packages: dict[str, str]) -> None:
        layer = self.root / "layers" / "common" / "python"
        if layer.exists():
            for path in sorted(layer.rglob("*"), reverse=True):
                path.unlink() if path.is_file() else path.rmdir()
        self.write("layers/common/python/mylib.py", mylib)
        for name, version in packages.items():
            self.write(f"layers/common/python/{name}-{version}.dist-info/METADATA", metadata(name, version))

    def release(self, *, breaking: bool = False, version: str = "2.0.0", message: str = "") -> None:
        """Change the layer on main and publish it: the working tree's lock now names the new versions."""
        mylib = MYLIB_BREAKING if breaking else MYLIB_COMPATIBLE + f"\nVERSION = {version!r}\n"
        self.set_layer(mylib, {"mylib": version, "six": "1.16.0", "idna": "3.7"})
        self.commit_push(message or f"common: mylib {version}", paths=("layers",))
        self.publish()

    def lock(self) -> Lock:
        return load_lock(self.root)

    def remote_lock(self, branch: str) -> Lock:
        data = self.remote.read_file(branch, "layer-ci.lock")
        assert data is not None
        return parse_lock(data.decode())


def extra_greeter(index: int) -> tuple[str, str]:
    """Another consumer like greeter: its template resource and its layer-ci.yml entry."""
    resource = f"""
  greeter{index}:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/greeter/
      Handler: app.handler
      Runtime: {HOST_RUNTIME}
      Architectures: [{HOST_ARCH}]
      Layers:
        - arn:aws:lambda:us-east-1:000000000000:layer:common:1
"""
    return resource, f"  greeter{index}:\n    test: {TEST_ARGV}\n"


def make_bump_repo(
    remote: GitRemote,
    *,
    auto_merge: bool = False,
    mode: str = "per-layer",
    extra_consumers: int = 0,
    subdir: str = "",
) -> BumpRepo:
    """Write the consumer repository into the remote's clone, publish v1 everywhere, push it all to main.

    ``extra_consumers`` adds that many more functions like greeter (to measure costs per function);
    ``subdir`` puts layer-ci.yml and everything else in that folder of the git repository.
    """
    repo = BumpRepo(remote.clone / subdir if subdir else remote.clone, remote)
    extras = [extra_greeter(index) for index in range(1, extra_consumers + 1)]
    repo.write(".gitignore", ".layer-ci/\n__pycache__/\n.pytest_cache/\n")
    repo.write("layer-ci.yml", config_text(auto_merge=auto_merge, mode=mode) + "".join(e[1] for e in extras))
    repo.write("template.yaml", TEMPLATE + "".join(e[0] for e in extras))
    repo.write("infra/prod.tf", PROD_TF)
    repo.write("functions/greeter/app.py", GREETER_APP)
    repo.write("functions/greeter/tests/test_app.py", GREETER_TEST)
    repo.write("functions/shouter/app.py", SHOUTER_APP)
    repo.write("functions/shouter/tests/test_app.py", SHOUTER_TEST)
    repo.set_layer(MYLIB_V1, {"mylib": "1.0.0", "six": "1.16.0"})
    repo.publish()
    lock = repo.lock()
    assert {r: ref.version for r, ref in lock.layers["common"].published.items()} == {
        "eu-west-1": 1,
        "us-east-1": 1,
    }
    repo.commit_push("consumers of common v1", with_lock=True)
    return repo


def engine_cache(tmp_root: Path) -> Path:
    path = tmp_root / "engine-cache"
    path.mkdir(parents=True, exist_ok=True)
    return path
