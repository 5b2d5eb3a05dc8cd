"""A tiny repository on a linked remote, run through entrypoint.py as the runner would, with end-state checks.

The "shop": one ``files`` layer (``tools``, published to two regions through per-region S3 buckets) used
by one function (``orders``) whose "tests" are one Python line importing the layer. It starts with v1
published, recorded in the lock on ``main`` and pinned in ``pins.yaml``; ``change_layer`` commits and
pushes a new tools version, so the next push run walks the whole path: build, publish in each region,
push the bump branch, open the PR, set the statuses. Runs are cheap (about two seconds), so tests can
kill, race and rerun them.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from layer_ci.plan.lockfile import Lock, parse_lock
from layer_ci.report.workflow_commands import parse_output_file
from tests.support.aws import MOTO_ACCOUNT, AwsEnv
from tests.support.git_remote import run_git
from tests.support.github_standin import LinkedRepo
from tests.support.repos import PROJECT_ROOT

REPOSITORY = "octo-org/linked"
REGIONS = ("us-east-1", "eu-west-1")
LAYER = "tools"
BRANCH = f"layer-ci/{LAYER}"
AGGREGATE = "layer-ci/test-before-upgrade"
FUNCTION_CONTEXT = "layer-ci/test/orders"
ENTRYPOINT = PROJECT_ROOT / "entrypoint.py"
_DROPPED_PREFIXES = ("GITHUB_", "INPUT_", "LAYER_CI_", "RUNNER_", "AWS_PROFILE")

CONFIG = """\
version: 1
settings:
  registry: aws
  artifact_bucket: layer-ci-rel-{region}
  labels: [layer-ci]
layers:
  tools:
    source: layers/tools
    build: {method: files}
    compatible_runtimes: [python3.11, python3.12, python3.13]
    regions: [us-east-1, eu-west-1]
functions:
  orders:
    source: functions/orders
    runtime: python3.11
    handler: app.handler
    layers: [tools]
    test: [python, -c, "import tools; assert tools.VERSION >= 1, tools.VERSION"]
    pins: [pins.yaml]
"""


def arn(region: str, version: int, layer: str = LAYER) -> str:
    return f"arn:aws:lambda:{region}:{MOTO_ACCOUNT}:layer:{layer}:{version}"


def pins_text(version: int) -> str:
    return "".join(f"{region}: {arn(region, version)}\n" for region in REGIONS)


@dataclass(frozen=True)
class Run:
    """What one entrypoint run left behind."""

    returncode: int
    stdout: str
    stderr: str
    outputs: dict[str, str]
    summary: str
    seconds: float = 0.0
    output_file: Path | None = None

    def output_json(self, name: str) -> Any:
        return json.loads(self.outputs[name])


@dataclass
class Shop:
    """The workspace clone, its linked remote (bare git + GitHub stand-in) and moto."""

    workspace: Path
    linked: LinkedRepo
    aws: AwsEnv
    cache: Path
    runs: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    _count: int = 0

    # ------------------------------------------------------------------------------------ arranging

    @property
    def head(self) -> str:
        return run_git(["rev-parse", "HEAD"], self.workspace).strip()

    def commit_and_push(self, message: str) -> str:
        run_git(["add", "--all"], self.workspace)
        run_git(["commit", "--quiet", "-m", message], self.workspace)
        run_git(["push", "--quiet", "origin", "HEAD:refs/heads/main"], self.workspace)
        return self.head

    def change_layer(self, version: int) -> str:
        """Commit and push a new content of the tools layer (VERSION = version) to main.

        A developer's push: on top of main, without what a run left in the workspace (its lock).
        """
        self.fresh_checkout()
        (self.workspace / "layers" / "tools" / "python" / "tools.py").write_text(f"VERSION = {version}\n")
        return self.commit_and_push(f"tools: version {version}")

    def fresh_checkout(self, sha: str | None = None) -> None:
        """The workspace as actions/checkout leaves it for ``sha`` (default: main's tip): nothing else."""
        run_git(["fetch", "--quiet", "origin"], self.workspace)
        run_git(["reset", "--quiet", "--hard", sha or "origin/main"], self.workspace)
        run_git(["clean", "--quiet", "-fdx"], self.workspace)

    def clone_at(self, sha: str) -> Path:
        """Another checkout of ``sha`` (for a second runner working on another push at the same time)."""
        self._count += 1
        path = self.runs / f"clone-{self._count}"
        run_git(["clone", "--quiet", str(self.linked.remote.bare), str(path)], self.runs)
        run_git(["checkout", "--quiet", "--detach", sha], path)
        return path

    # ------------------------------------------------------------------------------------ running

    def pull_request_payload(
        self, number: int, head_sha: str, base_sha: str, *, fork: str = ""
    ) -> dict[str, Any]:
        head_repo = fork or REPOSITORY
        pull = {
            "number": number,
            "head": {"ref": "feature", "sha": head_sha, "repo": {"full_name": head_repo}},
            "base": {"ref": "main", "sha": base_sha, "repo": {"full_name": REPOSITORY}},
        }
        return {
            "action": "synchronize",
            "number": number,
            "pull_request": pull,
            "repository": {"full_name": REPOSITORY, "default_branch": "main", "name": "linked"},
            "sender": {"login": "octocat"},
        }

    def environ(
        self,
        event: str,
        sha: str,
        workspace: Path,
        tmp: Path,
        env: Mapping[str, str],
        payload: Mapping[str, Any] | None = None,
        ref: str = "refs/heads/main",
    ) -> dict[str, str]:
        if payload is None:
            payload = {
                "ref": ref,
                "after": sha,
                "repository": {"full_name": REPOSITORY, "default_branch": "main", "name": "linked"},
                "sender": {"login": "octocat"},
                **({"inputs": {}} if event == "workflow_dispatch" else {}),
            }
        tmp.mkdir(parents=True, exist_ok=True)
        (tmp / "event.json").write_text(json.dumps(payload))
        (tmp / "github_output").write_text("")
        (tmp / "step_summary").write_text("")
        environ = {key: value for key, value in os.environ.items() if not key.startswith(_DROPPED_PREFIXES)}
        environ.update(
            {
                "GITHUB_ACTIONS": "true",
                "GITHUB_EVENT_NAME": event,
                "GITHUB_EVENT_PATH": str(tmp / "event.json"),
                "GITHUB_REPOSITORY": REPOSITORY,
                "GITHUB_SHA": sha,
                "GITHUB_REF": ref,
                "GITHUB_API_URL": self.linked.standin.url,
                "GITHUB_SERVER_URL": self.linked.standin.web_url,
                "GITHUB_RUN_ID": "4242",
                "GITHUB_WORKSPACE": str(workspace),
                "GITHUB_OUTPUT": str(tmp / "github_output"),
                "GITHUB_STEP_SUMMARY": str(tmp / "step_summary"),
                "LAYER_CI_GITHUB_TOKEN": self.linked.standin.token,
                "LAYER_CI_CACHE": str(self.cache),
                # The stand-in has no secondary limits: writes need not be paced a second apart.
                "LAYER_CI_GITHUB_WRITE_INTERVAL": "0",
                "LAYER_CI_GITHUB_REQUEST_INTERVAL": "0",
            }
        )
        environ.update(self.extra_env)
        environ.update(env)
        return environ

    def _tmp(self, label: str) -> Path:
        self._count += 1
        return self.runs / f"{self._count:02d}-{label}"

    def run(
        self,
        *,
        event: str = "push",
        sha: str | None = None,
        workspace: Path | None = None,
        env: Mapping[str, str] | None = None,
        label: str = "run",
        payload: Mapping[str, Any] | None = None,
        ref: str = "refs/heads/main",
    ) -> Run:
        """entrypoint.py once, to the end, as the runner starts the container."""
        tmp = self._tmp(label)
        where = workspace or self.workspace
        environ = self.environ(event, sha or self.head, where, tmp, env or {}, payload, ref)
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, str(ENTRYPOINT)],
            cwd=where,
            env=environ,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        return Run(
            done.returncode,
            done.stdout,
            done.stderr,
            parse_output_file((tmp / "github_output").read_text()),
            (tmp / "step_summary").read_text(),
            time.monotonic() - started,
            tmp / "github_output",
        )

    @contextmanager
    def spawn(
        self, *, sha: str | None = None, workspace: Path | None = None, env: Mapping[str, str] | None = None
    ) -> Iterator[subprocess.Popen[str]]:
        """entrypoint.py started in the background (stdout readable line by line); killed on exit."""
        tmp = self._tmp("spawned")
        where = workspace or self.workspace
        process = subprocess.Popen(
            [sys.executable, "-u", str(ENTRYPOINT)],
            cwd=where,
            env=self.environ("push", sha or self.head, where, tmp, env or {}),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            yield process
        finally:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=30)
            assert process.stdout is not None
            process.stdout.close()

    # ------------------------------------------------------------------------------------ observing

    def versions(self, region: str) -> list[tuple[int, str]]:
        """(version, CodeSha256 hex) of every tools version in ``region``, oldest first."""
        client = self.aws.client("lambda", region)
        listed = client.list_layer_versions(LayerName=LAYER)["LayerVersions"]
        found = []
        for item in sorted(listed, key=lambda entry: int(entry["Version"])):
            detail = client.get_layer_version(LayerName=LAYER, VersionNumber=item["Version"])
            found.append((int(item["Version"]), base64.b64decode(detail["Content"]["CodeSha256"]).hex()))
        return found

    def open_pulls(self) -> dict[str, tuple[int, str]]:
        """head branch -> (number, head sha) of the open pull requests."""
        return {
            issue.pull.head_ref: (issue.number, issue.pull.head_sha)
            for issue in self.linked.standin.open_pulls(REPOSITORY)
            if issue.pull is not None
        }

    def all_pulls(self) -> list[Any]:
        return self.linked.standin.repo(REPOSITORY).pulls()

    def statuses(self, sha: str) -> dict[str, str]:
        latest: dict[str, str] = {}
        for status in self.linked.repo.statuses:
            if status.sha == sha:
                latest[status.context] = status.state  # later entries are newer
        return latest

    def branch_lock(self, branch: str) -> Lock:
        text = self.linked.remote.read_file(branch, "layer-ci.lock")
        assert text is not None, f"{branch} has no layer-ci.lock"
        return parse_lock(text.decode())

    def branch_pins(self, branch: str) -> str:
        text = self.linked.remote.read_file(branch, "pins.yaml")
        assert text is not None
        return text.decode()

    def remote_branches(self) -> list[str]:
        out = run_git(["for-each-ref", "--format=%(refname:short)", "refs/heads/"], self.linked.remote.bare)
        return sorted(out.split())

    def comments(self, number: int) -> list[str]:
        repo = self.linked.standin.repo(REPOSITORY)
        return [comment.body for comment in repo.comments.values() if comment.issue_number == number]


def read_until(stream: IO[str], marker: str, *, timeout_s: float = 120.0) -> list[str]:
    """Lines of ``stream`` up to and including the first one containing ``marker``; fails if it ends first."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout_s
    for line in stream:
        seen.append(line.rstrip("\n"))
        if marker in line:
            return seen
        if time.monotonic() > deadline:
            break
    raise AssertionError(f"the run never printed {marker!r}; it printed:\n" + "\n".join(seen))


def make_shop(linked: LinkedRepo, aws: AwsEnv, cache: Path, runs: Path) -> Shop:
    """The shop on ``linked``'s remote with tools v1 published in both regions, locked and pinned on main."""
    from layer_ci.cli import main

    workspace = linked.remote.clone
    (workspace / "layers" / "tools" / "python").mkdir(parents=True)
    (workspace / "layers" / "tools" / "python" / "tools.py").write_text("VERSION = 1\n")
    orders = workspace / "functions" / "orders"
    orders.mkdir(parents=True)
    (orders / "app.py").write_text(
        "import tools\n\n\ndef handler(event, context):\n    return tools.VERSION\n"
    )
    (workspace / "layer-ci.yml").write_text(CONFIG)
    (workspace / "pins.yaml").write_text(pins_text(1))
    (workspace / ".gitignore").write_text(".layer-ci/\n")
    for region in REGIONS:
        aws.client("s3", region).create_bucket(
            Bucket=f"layer-ci-rel-{region}",
            **(
                {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
            ),
        )
    assert main(["--config", str(workspace / "layer-ci.yml"), "publish", "--commit", "0" * 40]) == 0
    run_git(["add", "--all"], workspace)
    run_git(["commit", "--quiet", "-m", "the shop, tools v1 published"], workspace)
    run_git(["push", "--quiet", "origin", "HEAD:refs/heads/main"], workspace)
    runs.mkdir(parents=True, exist_ok=True)
    return Shop(workspace, linked, aws, cache, runs)
