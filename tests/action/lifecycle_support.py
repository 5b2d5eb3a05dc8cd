"""Whole bump lifecycles through entrypoint.py: a consumer repository with two layers on a bare origin.

``Shop`` is the workspace (a clone of the bare origin the GitHub stand-in serves as ``octo-org/linked``)
with two ``files`` layers published to a local registry outside the checkout, so a fresh checkout (as
actions/checkout leaves it) keeps the published versions. Layer ``common`` holds ``mylib`` (used by
functions ``greeter`` and ``shouter``), layer ``tools`` holds ``toolbox`` (used by ``catalog``); no two
pins of different layers sit on neighbouring lines. ``Shop.push()`` runs the Action the way the runner
starts it after a push to main: a subprocess of entrypoint.py with GITHUB_* and INPUT_* variables,
outputs and the step summary in files. ``Shop.merge()`` merges a pull request through the stand-in's
REST API (a real ``git merge-tree`` on the origin), as a person pressing the button would.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.action.action_support import REPOSITORY, ActionRun, event_payload, run_entrypoint
from tests.engine.engine_support import HOST_ARCH, HOST_RUNTIME
from tests.report.bump_repo import MYLIB_V1, SHOUTER_APP, TEST_ARGV
from tests.support.git_remote import run_git
from tests.support.github.state import Issue
from tests.support.github_standin import GitHubStandIn, LinkedRepo

PULLS = "/repos/{owner}/{repo}/pulls"
COMMENTS = "/repos/{owner}/{repo}/issues/{number}/comments"
STATUSES = "/repos/{owner}/{repo}/statuses/{sha}"
TOOLBOX_V1 = 'def slug(text):\n    return text.lower().replace(" ", "-")\n'
TOOLBOX_V2 = TOOLBOX_V1 + "\n\ndef title(text):\n    return text.title()\n"

# shouter fixed: it no longer needs mylib.shout
SHOUTER_FIXED = 'def handler(event, context):\n    return {"text": event["text"].upper() + "!"}\n'


def _template() -> str:
    def function(name: str, layer: str) -> str:
        return textwrap.dedent(
            f"""\
              {name}:
                Type: AWS::Serverless::Function
                Properties:
                  CodeUri: functions/{name}/
                  Handler: app.handler
                  Runtime: {HOST_RUNTIME}
                  Architectures: [{HOST_ARCH}]
                  Timeout: 10
                  Layers:
                    - arn:aws:lambda:us-east-1:000000000000:layer:{layer}:1
            """
        )

    functions = [function("greeter", "common"), function("catalog", "tools"), function("shouter", "common")]
    return (
        'AWSTemplateFormatVersion: "2010-09-09"\nTransform: AWS::Serverless-2016-10-31\n\nResources:\n'
        + "\n".join(textwrap.indent(text, "  ") for text in functions)
    )


def _config(registry: Path, ignore: str = "") -> str:
    return (
        textwrap.dedent(
            f"""\
        version: 1
        settings:
          registry: local
          registry_path: {registry}
          labels: [layer-ci]
        """
        )
        + ignore
        + textwrap.dedent(
            f"""\
        templates: [template.yaml]
        layers:
          common:
            source: layers/common
            build: {{method: files}}
            compatible_runtimes: [{HOST_RUNTIME}]
            regions: [us-east-1]
          tools:
            source: layers/tools
            build: {{method: files}}
            compatible_runtimes: [{HOST_RUNTIME}]
            regions: [us-east-1]
        functions:
          greeter: {{test: {TEST_ARGV}}}
          shouter: {{test: {TEST_ARGV}}}
          catalog: {{test: {TEST_ARGV}}}
        """
        )
    )


def _app(imports: str, returns: str) -> str:
    return f"{imports}\n\n\ndef handler(event, context):\n    return {returns}\n"


def _test(condition: str) -> str:
    return f"import app\n\n\ndef test_handler():\n    assert {condition}\n"


FILES: dict[str, str] = {
    ".gitignore": ".layer-ci/\n__pycache__/\n.pytest_cache/\n",
    "template.yaml": _template(),
    "layers/common/python/mylib.py": MYLIB_V1,
    "layers/tools/python/toolbox.py": TOOLBOX_V1,
    "functions/greeter/app.py": _app("import mylib", 'mylib.greet("ada")'),
    "functions/greeter/tests/test_app.py": _test("app.handler({}, None) == 'hello ada'"),
    "functions/shouter/app.py": SHOUTER_APP,
    "functions/shouter/tests/test_app.py": _test("app.handler({'text': 'hi'}, None) == {'text': 'HI!'}"),
    "functions/catalog/app.py": _app("import toolbox", 'toolbox.slug("A B")'),
    "functions/catalog/tests/test_app.py": _test("app.handler({}, None) == 'a-b'"),
}


@dataclass
class Shop:
    """The consumer repository: ``workspace`` is the checkout, ``linked`` the stand-in and its origin."""

    workspace: Path
    linked: LinkedRepo
    registry: Path
    cache: Path
    tmp: Path
    runs: int = 0
    env: dict[str, str] = field(default_factory=dict)
    last_pr: tuple[int, str] = (0, "")  # number and head sha of the last pull request a test opened

    @property
    def standin(self) -> GitHubStandIn:
        return self.linked.standin

    @property
    def head(self) -> str:
        return run_git(["rev-parse", "HEAD"], self.workspace).strip()

    def write(self, relative: str, text: str) -> None:
        path = self.workspace / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")

    def read_remote(self, branch: str, relative: str) -> str:
        data = self.linked.remote.read_file(branch, relative)
        assert data is not None, f"{relative} missing on {branch}"
        return data.decode()

    def commit_and_push(self, message: str) -> str:
        """A person's commit of the files written since, on top of main's tip (merges move it), pushed.

        The lock a run's publish left in the working tree is not theirs to commit: it is dropped first.
        """
        tracked = run_git(["ls-files", "--", "layer-ci.lock"], self.workspace).strip()
        if tracked:
            run_git(["checkout", "HEAD", "--", "layer-ci.lock"], self.workspace)
        else:
            (self.workspace / "layer-ci.lock").unlink(missing_ok=True)
        run_git(["stash", "--quiet", "--include-untracked"], self.workspace)
        self.checkout()
        run_git(["stash", "pop", "--quiet"], self.workspace)
        run_git(["add", "--all"], self.workspace)
        run_git(["commit", "--quiet", "-m", message], self.workspace)
        run_git(["push", "--quiet", "origin", "HEAD:refs/heads/main"], self.workspace)
        return self.head

    def checkout(self) -> None:
        """The workspace as actions/checkout leaves it for a push event: main's tip, nothing else."""
        run_git(["fetch", "--quiet", "origin"], self.workspace)
        run_git(["reset", "--quiet", "--hard"], self.workspace)
        run_git(["clean", "--quiet", "-fdx"], self.workspace)
        run_git(["checkout", "--quiet", "-B", "main", "origin/main"], self.workspace)

    def push(self, **inputs: str) -> ActionRun:
        """The Action on a push to main (after a fresh checkout of main's tip)."""
        self.checkout()
        return self.run("push", event_payload("push", self.head), inputs=inputs)

    def run(
        self,
        event: str,
        payload: Mapping[str, Any],
        *,
        ref: str = "refs/heads/main",
        inputs: Mapping[str, str] | None = None,
    ) -> ActionRun:
        """entrypoint.py once, as a subprocess, as the runner starts the container."""
        self.runs += 1
        return run_entrypoint(
            self.standin,
            self.workspace,
            event,
            payload,
            folder=self.tmp / f"run-{self.runs}",
            cache=self.cache,
            ref=ref,
            inputs={"command": "auto", **(inputs or {})},
            env=self.env,
        )

    # ------------------------------------------------------------------------------- GitHub's side

    def open_pulls(self) -> dict[str, Issue]:
        """head branch -> open pull request."""
        return {pull.pull.head_ref: pull for pull in self.standin.open_pulls(REPOSITORY) if pull.pull}

    def merge(self, branch: str) -> int:
        """Merge the open PR from ``branch`` through the REST API, as a person would; the HTTP status."""
        pull = self.open_pulls()[branch]
        return self.merge_number(pull.number)

    def merge_number(self, number: int) -> int:
        import requests

        response = requests.put(
            f"{self.standin.url}/repos/{REPOSITORY}/pulls/{number}/merge",
            headers={"Authorization": f"token {self.standin.token}"},
            json={"merge_method": "merge"},
            timeout=30,
        )
        return response.status_code

    def statuses(self, sha: str) -> dict[str, str]:
        latest: dict[str, str] = {}
        for status in self.linked.repo.statuses:
            if status.sha == sha:
                latest[status.context] = status.state
        return latest

    def comments(self, number: int) -> list[str]:
        return [comment.body for comment in self.standin.state.comments_on(REPOSITORY, number)]

    def remote_branches(self) -> list[str]:
        out = run_git(["for-each-ref", "--format=%(refname:short)", "refs/heads"], self.linked.remote.bare)
        return sorted(out.split())


def make_shop(linked: LinkedRepo, tmp: Path, cache: Path, *, ignore: str = "") -> Shop:
    """The repository committed on the origin's main: two layers, never published yet (no lock)."""
    registry = tmp / "registry"
    shop = Shop(linked.remote.clone, linked, registry, cache, tmp / "runs")
    for relative, text in FILES.items():
        shop.write(relative, text)
    shop.write("layer-ci.yml", _config(registry, ignore))
    shop.commit_and_push("the shop: two layers, three functions")
    return shop


def set_ignore(shop: Shop, ignore: str) -> None:
    shop.write("layer-ci.yml", _config(shop.registry, ignore))


def pin_line(text: str, function: str) -> str:
    """The pin line of ``function`` in template.yaml's ``text``."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == f"{function}:")
    return next(line.strip() for line in lines[start:] if ":layer:" in line)
