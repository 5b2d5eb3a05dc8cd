"""Runs entrypoint.py as the runner would: a workspace clone, an event payload, GITHUB_* variables, files.

The workspace is the bundled example committed to a bare remote that the GitHub stand-in serves as
``octo-org/linked``; its config is switched to the ``aws`` registry (moto in server mode, through an S3
artifact bucket, since moto's ``Content.Location`` cannot be downloaded) and its pins to moto's account.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from layer_ci.report.workflow_commands import parse_output_file
from tests.support.aws import MOTO_ACCOUNT, AwsEnv
from tests.support.git_remote import run_git
from tests.support.github_standin import GitHubStandIn, LinkedRepo
from tests.support.repos import PROJECT_ROOT, copy_example

REPOSITORY = "octo-org/linked"
BUCKET = "layer-ci-artifacts-test"
ENTRYPOINT = PROJECT_ROOT / "entrypoint.py"
# The runner's own variables are never inherited from the developer's shell.
_DROPPED_PREFIXES = ("GITHUB_", "INPUT_", "LAYER_CI_", "RUNNER_")


@dataclass(frozen=True)
class ActionRun:
    """What one entrypoint run left behind."""

    returncode: int
    stdout: str
    stderr: str
    outputs: dict[str, str]
    summary: str

    def output_json(self, name: str) -> Any:
        return json.loads(self.outputs[name])

    @property
    def prs(self) -> dict[str, dict[str, Any]]:
        """branch -> its entry of the pull-requests output."""
        return {entry["branch"]: entry for entry in self.output_json("pull-requests")}

    def annotations(self, kind: str) -> list[str]:
        return [line for line in self.stdout.splitlines() if line.startswith(f"::{kind}")]

    def explain(self) -> str:
        return self.stdout + self.stderr


@dataclass(frozen=True)
class ActionRepo:
    """The workspace, its remote and the services the action talks to."""

    workspace: Path
    linked: LinkedRepo
    aws: AwsEnv
    cache: Path

    @property
    def head(self) -> str:
        return run_git(["rev-parse", "HEAD"], self.workspace).strip()

    def commit_and_push(self, message: str, *paths: str) -> str:
        run_git(["add", "--", *(paths or ["."])], self.workspace)
        run_git(["commit", "--quiet", "-m", message], self.workspace)
        run_git(["push", "--quiet", "origin", "HEAD:refs/heads/main"], self.workspace)
        return self.head

    def fresh_checkout(self) -> None:
        """The workspace as actions/checkout leaves it: HEAD of main, nothing else (no .layer-ci/)."""
        run_git(["fetch", "--quiet", "origin"], self.workspace)
        run_git(["reset", "--quiet", "--hard", "origin/main"], self.workspace)
        run_git(["clean", "--quiet", "-fdx"], self.workspace)

    def payload(self, event: str, **overrides: Any) -> dict[str, Any]:
        return event_payload(event, self.head, **overrides)

    def run(
        self,
        event: str,
        payload: Mapping[str, Any] | None = None,
        *,
        ref: str = "refs/heads/main",
        inputs: Mapping[str, str] | None = None,
        env: Mapping[str, str] | None = None,
        tmp: Path,
    ) -> ActionRun:
        """Run entrypoint.py once as a subprocess, as GitHub's runner would start the container."""
        return run_entrypoint(
            self.linked.standin,
            self.workspace,
            event,
            payload if payload is not None else self.payload(event),
            folder=tmp,
            cache=self.cache,
            ref=ref,
            inputs=inputs,
            env={"LAYER_CI_DEBUG": "1", **(env or {})},
        )


def event_payload(event: str, head: str, **overrides: Any) -> dict[str, Any]:
    """The event GitHub sends for ``event`` on octo-org/linked with ``head`` checked out."""
    repository = {"full_name": REPOSITORY, "default_branch": "main", "name": "linked"}
    base: dict[str, Any] = {"repository": repository, "sender": {"login": "octocat"}}
    if event == "push":
        base.update({"ref": "refs/heads/main", "after": head})
    elif event == "pull_request":
        base.update(
            {
                "action": "synchronize",
                "number": 7,
                "pull_request": {
                    "number": 7,
                    "head": {"ref": "feature", "sha": head, "repo": {"full_name": REPOSITORY}},
                    "base": {"ref": "main", "repo": {"full_name": REPOSITORY}},
                },
            }
        )
    elif event == "workflow_dispatch":
        base.update({"ref": "refs/heads/main", "inputs": {}})
    elif event == "schedule":
        base.update({"schedule": "17 6 * * 1"})
    base.update(overrides)
    return base


def run_entrypoint(
    standin: GitHubStandIn,
    workspace: Path,
    event: str,
    payload: Mapping[str, Any],
    *,
    folder: Path,
    cache: Path,
    ref: str = "refs/heads/main",
    inputs: Mapping[str, str] | None = None,
    env: Mapping[str, str] | None = None,
) -> ActionRun:
    """entrypoint.py once, as a subprocess in ``workspace``, as the runner starts the container.

    The event, outputs and step summary are files in ``folder``; the GitHub token is the stand-in's.
    """
    folder.mkdir(parents=True, exist_ok=True)
    event_path = folder / f"{event}.json"
    output_path, summary_path = folder / "github_output", folder / "step_summary"
    event_path.write_text(json.dumps(payload))
    output_path.write_text("")
    summary_path.write_text("")
    environ = {key: value for key, value in os.environ.items() if not key.startswith(_DROPPED_PREFIXES)}
    environ.update(
        {
            "GITHUB_ACTIONS": "true",
            "GITHUB_EVENT_NAME": event,
            "GITHUB_EVENT_PATH": str(event_path),
            "GITHUB_REPOSITORY": REPOSITORY,
            "GITHUB_SHA": run_git(["rev-parse", "HEAD"], workspace).strip(),
            "GITHUB_REF": ref,
            "GITHUB_API_URL": standin.url,
            "GITHUB_SERVER_URL": standin.web_url,
            "GITHUB_RUN_ID": "4242",
            "GITHUB_WORKSPACE": str(workspace),
            "GITHUB_OUTPUT": str(output_path),
            "GITHUB_STEP_SUMMARY": str(summary_path),
            "LAYER_CI_CACHE": str(cache),
            # The stand-in has no secondary rate limits: no need to pace writes a second apart.
            "LAYER_CI_GITHUB_WRITE_INTERVAL": "0",
            "LAYER_CI_GITHUB_REQUEST_INTERVAL": "0",
        }
    )
    # The runner sets INPUT_<NAME> (hyphens kept) for every input; action.yml's runs.env maps each to
    # LAYER_CI_<NAME>, which the entrypoint reads.
    for name, value in {"github-token": standin.token, **(inputs or {})}.items():
        environ["INPUT_" + name.upper()] = value
        environ["LAYER_CI_" + name.upper().replace("-", "_")] = value
    environ.update(env or {})
    completed = subprocess.run(
        [sys.executable, str(ENTRYPOINT)],
        cwd=workspace,
        env=environ,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    return ActionRun(
        completed.returncode,
        completed.stdout,
        completed.stderr,
        parse_output_file(output_path.read_text()),
        summary_path.read_text(),
    )


def prepare_workspace(linked: LinkedRepo, aws: AwsEnv, *, registry: str = "aws") -> Path:
    """The example committed on the linked remote's main, set up for ``registry``; returns the clone."""
    workspace = linked.remote.clone
    example = copy_example(workspace.parent / "example")
    for entry in example.iterdir():
        target = workspace / entry.name
        entry.rename(target)
    config = workspace / "layer-ci.yml"
    text = config.read_text()
    if registry == "aws":
        text = re.sub(r"(?m)^  registry: local.*$", f"  registry: aws\n  artifact_bucket: {BUCKET}", text)
        template = workspace / "template.yaml"
        template.write_text(template.read_text().replace(":000000000000:", f":{MOTO_ACCOUNT}:"))
        aws.client("s3").create_bucket(Bucket=BUCKET)
    config.write_text(text)
    run_git(["add", "--all"], workspace)
    run_git(["commit", "--quiet", "-m", "the example shop"], workspace)
    run_git(["push", "--quiet", "origin", "HEAD:refs/heads/main"], workspace)
    return workspace


def publish_raw(aws: AwsEnv, layer: str, content: bytes, description: str = "by hand") -> int:
    """Publish a tiny layer version straight into moto (arranging state the action then finds)."""
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("python/marker.txt", content)
    response = aws.client("lambda").publish_layer_version(
        LayerName=layer, Description=description, Content={"ZipFile": buffer.getvalue()}
    )
    return int(response["Version"])
