"""Planted secrets never leave the process, and a fork's pull request never writes anywhere.

Secrets: every artefact of a push run and of a pull-request run is grepped for planted values.

The runs get a GitHub token, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN and a custom secret (as a workflow's
``env:`` would hand them over), each a distinctive value. The function's "tests" dump the environment they
see, and every /proc/<pid>/environ they can open, to a file. Afterwards no value (nor the token's
Basic-auth form) may appear in stdout (except in the ``::add-mask::`` lines that hide them), stderr,
GITHUB_OUTPUT, the step summary, anything sent to the
GitHub stand-in (PR titles, bodies, comments, statuses, labels), any object in the bare remote (commit
messages, files, refs), the workspace's git config, layer-ci.lock, the build folder and cache (zips
unpacked), the layer descriptions in Lambda, or the function tests' environment.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.reliability.reliability_support import BRANCH, REGIONS, Run, Shop
from tests.support.fault_proxy import FaultProxy
from tests.support.git_remote import run_git

GITHUB_TOKEN = "ghs_PLANTEDgithubTOKEN0123456789abcdefXYZ"
AWS_SECRET = "PLANTEDawsSECRETkey/0123456789+abcdefghijklmn"
AWS_SESSION = "PLANTEDsessionTOKEN//FwoGZXIvYXdzEJr" + "Q" * 40
CUSTOM = "PLANTED-custom-deploy-secret-7f3a9c"
SECRETS = {
    "GITHUB_TOKEN": GITHUB_TOKEN,
    "AWS_SECRET_ACCESS_KEY": AWS_SECRET,
    "AWS_SESSION_TOKEN": AWS_SESSION,
    "MY_DEPLOY_SECRET": CUSTOM,
}
FORMS = {
    **SECRETS,
    "GITHUB_TOKEN as Basic auth": base64.b64encode(f"x-access-token:{GITHUB_TOKEN}".encode()).decode(),
}
DUMP_SCRIPT = """\
import json, os, pathlib
target = pathlib.Path(os.environ["LAYER_CI_ENV_DUMP"])
target.parent.mkdir(parents=True, exist_ok=True)
seen = {}
for pid in os.listdir("/proc"):  # every ancestor's initial environment the code can open
    if pid.isdigit():
        try:
            seen[pid] = open(f"/proc/{pid}/environ", "rb").read().decode("utf-8", "replace")
        except OSError:
            pass
with target.open("a") as handle:
    handle.write(json.dumps({**os.environ, "PROC_ENVIRON_SCAN": json.dumps(seen)}) + "\\n")
import tools
assert tools.VERSION >= 1
"""


@pytest.fixture
def planted(shop: Shop, code_writable: Path) -> Path:
    """The shop with its function's tests dumping their environment; the secrets in the run's env."""
    dump = code_writable / "function-env.jsonl"
    shop.linked.standin.add_token(GITHUB_TOKEN, "github-actions[bot]")
    (shop.workspace / "functions" / "orders" / "dump_env.py").write_text(DUMP_SCRIPT)
    config = shop.workspace / "layer-ci.yml"
    text = config.read_text().replace(
        'test: [python, -c, "import tools; assert tools.VERSION >= 1, tools.VERSION"]',
        f"test: [python, dump_env.py]\n    environment: {{LAYER_CI_ENV_DUMP: {dump}}}",
    )
    config.write_text(text)
    shop.commit_and_push("the orders tests record their environment")
    shop.extra_env.update(SECRETS)
    shop.extra_env["LAYER_CI_GITHUB_TOKEN"] = GITHUB_TOKEN
    return dump


def files_under(root: Path) -> Iterator[tuple[str, bytes]]:
    """(name, bytes) of every file under ``root``, zips also member by member."""
    if not root.exists():
        return
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
        data = path.read_bytes()
        yield str(path), data
        if path.suffix == ".zip":
            with zipfile.ZipFile(path) as archive:
                for name in archive.namelist():
                    yield f"{path}!{name}", archive.read(name)


def remote_objects(shop: Shop) -> Iterator[tuple[str, bytes]]:
    """Every object in the bare remote (commits, trees, blobs, tags), refs and its config."""
    bare = shop.linked.remote.bare
    listing = run_git(["cat-file", "--batch-all-objects", "--batch-check=%(objectname)"], bare).split()
    payload = subprocess.run(
        ["git", "cat-file", "--batch"],
        cwd=bare,
        input="\n".join(listing).encode() + b"\n",
        capture_output=True,
        check=True,
    ).stdout
    yield "remote objects", payload
    yield from files_under(bare / "refs")
    yield (
        "remote packed-refs",
        (bare / "packed-refs").read_bytes() if (bare / "packed-refs").exists() else b"",
    )


def standin_artefacts(shop: Shop) -> Iterator[tuple[str, bytes]]:
    repo = shop.linked.standin.repo("octo-org/linked")
    for issue in repo.issues.values():
        yield f"issue #{issue.number}", json.dumps([issue.title, issue.body, issue.labels]).encode()
    for comment in repo.comments.values():
        yield f"comment {comment.id}", comment.body.encode()
    for status in repo.statuses:
        yield f"status {status.context}", json.dumps([status.description, status.target_url]).encode()
    for request in shop.linked.standin.requests:
        yield f"request {request.key}", json.dumps([request.path, request.query, request.body]).encode()


def lambda_descriptions(shop: Shop) -> Iterator[tuple[str, bytes]]:
    for region in REGIONS:
        listed = shop.aws.client("lambda", region).list_layer_versions(LayerName="tools")["LayerVersions"]
        for item in listed:
            yield f"{item['LayerVersionArn']} description", json.dumps(item).encode()


def leaks(artefacts: Iterator[tuple[str, bytes]]) -> list[str]:
    found = []
    for where, data in artefacts:
        for name, value in FORMS.items():
            if value.encode() in data:
                found.append(f"{name} in {where}")
    return found


def stdout_without_masks(run: Run) -> bytes:
    lines = [line for line in run.stdout.splitlines() if not line.startswith("::add-mask::")]
    return "\n".join(lines).encode()


def check_run(shop: Shop, run: Run, dump: Path) -> None:
    assert run.returncode in (0, 1), run.stdout + run.stderr
    masks = [line for line in run.stdout.splitlines() if line.startswith("::add-mask::")]
    for value in (GITHUB_TOKEN, AWS_SECRET, AWS_SESSION):
        assert f"::add-mask::{value}" in masks, f"{value[:12]}... is not masked"
    assert run.output_file is not None
    artefacts = [
        ("stdout", stdout_without_masks(run)),
        ("stderr", run.stderr.encode()),
        ("GITHUB_OUTPUT", run.output_file.read_bytes()),
        ("GITHUB_STEP_SUMMARY", run.summary.encode()),
        ("workspace .git/config", (shop.workspace / ".git" / "config").read_bytes()),
        ("workspace FETCH_HEAD", _read(shop.workspace / ".git" / "FETCH_HEAD")),
        ("layer-ci.lock", _read(shop.workspace / "layer-ci.lock")),
        ("function test environment", dump.read_bytes()),
    ]
    found = leaks(
        iter(
            [
                *artefacts,
                *files_under(shop.workspace / ".layer-ci"),
                *files_under(shop.cache),
                *remote_objects(shop),
                *standin_artefacts(shop),
                *lambda_descriptions(shop),
            ]
        )
    )
    assert found == [], found
    seen = [json.loads(line) for line in dump.read_text().splitlines()]
    assert seen, "the function's tests never ran"
    for environment in seen:
        assert not {"GITHUB_TOKEN", "LAYER_CI_GITHUB_TOKEN", "MY_DEPLOY_SECRET"} & set(environment)
        assert environment.get("AWS_SECRET_ACCESS_KEY") != AWS_SECRET


def _read(path: Path) -> bytes:
    return path.read_bytes() if path.exists() else b""


def test_a_push_run_leaks_no_secret(shop: Shop, planted: Path) -> None:
    shop.change_layer(2)
    shop.fresh_checkout()
    run = shop.run(label="push-with-secrets")
    assert run.returncode == 0, run.stdout + run.stderr
    assert BRANCH in shop.open_pulls()  # the whole path ran: publish, push, PR, statuses
    check_run(shop, run, planted)


def test_a_pull_request_run_leaks_no_secret(shop: Shop, planted: Path) -> None:
    base = shop.head
    run_git(["checkout", "--quiet", "-b", "feature"], shop.workspace)
    (shop.workspace / "layers" / "tools" / "python" / "tools.py").write_text("VERSION = 7\n")
    run_git(["commit", "--quiet", "-am", "tools: version 7"], shop.workspace)
    run_git(["push", "--quiet", "origin", "HEAD:refs/heads/feature"], shop.workspace)
    head = shop.head
    number = shop.linked.standin.open_pull("feature", title="tools v7", repo="octo-org/linked").number
    run = shop.run(
        event="pull_request",
        sha=head,
        payload=shop.pull_request_payload(number, head, base),
        ref=f"refs/pull/{number}/merge",
        label="pull-request-with-secrets",
    )
    assert shop.comments(number), run.stdout + run.stderr  # verify ran its tests and commented
    check_run(shop, run, planted)


def test_the_environment_dump_would_catch_a_leak(tmp_path: Path) -> None:
    """The control: the grep does find a planted value where one is."""
    dump = tmp_path / "dump"
    dump.write_text(json.dumps({"X": CUSTOM}))
    assert leaks(iter([("dump", dump.read_bytes())])) == ["MY_DEPLOY_SECRET in dump"]
    assert os.environ.get("MY_DEPLOY_SECRET") is None


# ------------------------------------------------------------------------------------------ fork PRs

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
FORK_CANARY = Path("/tmp/PWNED_layer_ci_fork")


@pytest.mark.parametrize("event", ["pull_request", "pull_request_target"])
def test_a_fork_pull_request_never_writes_even_with_credentials_at_hand(
    shop: Shop, fault_proxy: FaultProxy, event: str
) -> None:
    """Even misconfigured (AWS keys and a write-scoped token in reach, as with pull_request_target), a
    fork's PR reaches AWS not once, writes nothing to GitHub or git, and runs none of the fork's code."""
    FORK_CANARY.unlink(missing_ok=True)
    base = shop.head
    run_git(["checkout", "--quiet", "-b", "feature"], shop.workspace)
    config = shop.workspace / "layer-ci.yml"
    # The fork's change: a layer built by a command, and function "tests", that would leave the canary.
    config.write_text(
        config.read_text()
        .replace("build: {method: files}", f"build: {{method: command, command: [touch, {FORK_CANARY}]}}")
        .replace(
            '"import tools; assert tools.VERSION >= 1, tools.VERSION"', f"\"open('{FORK_CANARY}', 'w')\""
        )
    )
    (shop.workspace / "layers" / "tools" / "python" / "tools.py").write_text("VERSION = 666\n")
    run_git(["commit", "--quiet", "-am", "fork: innocent change"], shop.workspace)
    head = shop.head
    shop.extra_env.update(SECRETS)
    shop.extra_env["LAYER_CI_GITHUB_TOKEN"] = shop.linked.standin.token  # write-scoped, if misconfigured
    shop.linked.standin.clear_requests()
    refs_before = shop.remote_branches(), shop.linked.remote.branch_sha("main")
    fault_proxy.clear()

    run = shop.run(
        event=event,
        sha=head,
        payload=shop.pull_request_payload(9, head, base, fork="mallory/linked"),
        ref="refs/pull/9/merge",
        label=f"fork-{event}",
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert fault_proxy.requests == []  # AWS was not reached at all, so certainly not written to
    writes = [r.key for r in shop.linked.standin.requests if r.method in WRITE_METHODS]
    assert writes == []
    assert (shop.remote_branches(), shop.linked.remote.branch_sha("main")) == refs_before
    assert not FORK_CANARY.exists(), "the fork's code ran"
    assert "runs read-only" in run.summary
    assert json.loads(run.outputs["published"]) == {}
    assert [version for version, _ in shop.versions("us-east-1")] == [1]
