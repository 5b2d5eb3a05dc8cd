"""`layer-ci verify` on pull requests people write: moved pins, changed layer sources, one sticky comment."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import pytest

from layer_ci import cli
from layer_ci.adapters.git import GitRepo
from layer_ci.engine.preflight import function_code_bytes
from layer_ci.engine.runner import LayerReport, TestResult
from layer_ci.gate.consumers import TestRunner
from layer_ci.gate.verify import diff_pins, verify_change
from layer_ci.model import MAX_UNZIPPED_BYTES, Architecture, Config, FunctionSpec
from layer_ci.pins.find import find_pins_in_text
from layer_ci.publish.folder_registry import LocalRegistry
from layer_ci.publish.registries import registry_factory
from layer_ci.report.facts import VerifyReport
from layer_ci.report.render import verify_comment
from tests.report.bump_repo import TEMPLATE, BumpRepo, make_bump_repo
from tests.support.git_remote import run_git
from tests.support.github.state import Comment
from tests.support.github_standin import GitHubStandIn, LinkedRepo

MARKER = "<!-- layer-ci:verify -->"
GREETER_PIN = "        - arn:aws:lambda:us-east-1:000000000000:layer:common:1"
GREETER_LINE = TEMPLATE.splitlines().index(GREETER_PIN) + 1


@pytest.fixture(autouse=True)
def no_workflow_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key in ("GITHUB_RUN_ID", "GITHUB_EVENT_PATH", "GITHUB_EVENT_NAME", "GITHUB_BASE_REF", "GITHUB_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.delenv("GITHUB_REPOSITORY", raising=False)
    monkeypatch.setenv("LAYER_CI_CACHE", str(tmp_path / "engine-cache"))


@pytest.fixture
def repo(linked_github: LinkedRepo) -> BumpRepo:
    """The consumer repository with common v1, v2 and v3 published and v3 deleted again in us-east-1."""
    repo = make_bump_repo(linked_github.remote)
    repo.release(version="2.0.0")
    repo.release(version="3.0.0")
    run_git(["checkout", "--quiet", "HEAD", "--", "layer-ci.lock"], repo.root)  # a fresh checkout's lock
    LocalRegistry(repo.root / ".layer-ci" / "registry", "us-east-1").delete("common", 3)
    return repo


def feature(repo: BumpRepo, name: str, files: Mapping[str, str], *, push: bool = False) -> str:
    """A person's branch: ``files`` changed in one commit on top of main (and pushed when asked)."""
    run_git(["checkout", "--quiet", "-B", name, "main"], repo.root)
    for path, text in files.items():
        repo.write(path, text)
    run_git(["add", "--all"], repo.root)
    run_git(["commit", "--quiet", "-m", f"{name}: by hand"], repo.root)
    if push:
        run_git(["push", "--quiet", "--force", "origin", f"HEAD:refs/heads/{name}"], repo.root)
    return run_git(["rev-parse", "HEAD"], repo.root).strip()


def pin_greeter(version: int) -> dict[str, str]:
    return {
        "template.yaml": TEMPLATE.replace(GREETER_PIN, GREETER_PIN.replace(":common:1", f":common:{version}"))
    }


def verify_on_main(repo: BumpRepo, config: Config, runner: TestRunner) -> VerifyReport:
    """verify_change of the checked-out branch against main, with the repository's own registry."""
    return verify_change(
        config,
        git=GitRepo(repo.root),
        base="main",
        lock=repo.lock(),
        registry_factory=registry_factory(config),
        test_runner=runner,
    )


def verify_cli(repo: BumpRepo, *args: str) -> int:
    return cli.main(["--config", str(repo.config_path), "verify", "--base", "main", *args])


# ------------------------------------------------------------------------------------------- pins


def test_a_pin_to_a_deleted_version_fails_naming_file_and_line(
    repo: BumpRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    feature(repo, "feature/pin-v3", pin_greeter(3))
    assert verify_cli(repo) == 1
    captured = capsys.readouterr()
    expected = (
        f"template.yaml:{GREETER_LINE}: common v3 does not exist in us-east-1 (deleted, or never published)"
    )
    assert f"layer-ci: error: {expected}" in captured.err
    assert "pin an existing version (newest: v2)" in captured.err
    comment = captured.out
    assert comment.startswith("## layer-ci verify: ❌ failed")
    assert f"| `template.yaml:{GREETER_LINE}` | `common` | us-east-1 | v1 | v3 |" in comment
    assert expected in comment
    # greeter's tests were not run against a version nobody can deploy; shouter was not affected.
    assert "| `greeter` | ⚠️ error |" in comment and "`shouter`" not in comment


def test_a_pin_to_an_existing_version_runs_the_tests_against_it(
    repo: BumpRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    feature(repo, "feature/pin-v2", pin_greeter(2))
    assert verify_cli(repo, "--json") == 0
    document = json.loads(capsys.readouterr().out)
    assert document["ok"] is True and document["problems"] == []
    assert document["pin_changes"] == [
        {
            "where": f"template.yaml:{GREETER_LINE}",
            "layer": "common",
            "region": "us-east-1",
            "from": 1,
            "to": 2,
        }
    ]
    assert document["results"] == {"greeter": "passed"}


def test_an_incompatible_version_is_refused(repo: BumpRepo, tmp_path: Path) -> None:
    config = repo.config()
    other_arch: Architecture = (
        "arm64" if config.layer("common").compatible_architectures[0] == "x86_64" else "x86_64"
    )
    spec = replace(config.layer("common"), compatible_architectures=(other_arch,))
    zip_path = LocalRegistry(repo.root / ".layer-ci" / "registry", "us-east-1").fetch("common", 2, tmp_path)
    info = LocalRegistry(repo.root / ".layer-ci" / "registry", "us-east-1").publish(
        spec, zip_path, "other arch"
    )
    feature(repo, "feature/other-arch", pin_greeter(info.version))

    report = verify_on_main(repo, repo.config(), _passing)
    assert not report.ok
    (problem,) = report.problems
    assert problem == (
        f"template.yaml:{GREETER_LINE}: common v{info.version} in us-east-1 is built for {other_arch} only, "
        f"but function greeter runs on {config.function('greeter').architecture}"
    )


def _passing(config: Config, function: FunctionSpec, sources: Mapping[str, str]) -> TestResult:
    return TestResult(function.name, "passed", 0.1, 0, None, "")


class _SizedRunner:
    """Stands in for the engine: the tests pass, and the layer they ran against measured ``size`` unzipped.

    A real 250 MB layer would cost seconds of disk I/O per run; what verify checks is the size the engine
    reports, which is exactly what this returns.
    """

    def __init__(self, size: int) -> None:
        self.size = size

    def __call__(self, config: Config, function: FunctionSpec, sources: Mapping[str, str]) -> TestResult:
        used = (LayerReport("common", "common v2", "0" * 64, self.size, version=2),)
        return TestResult(function.name, "passed", 0.1, 0, None, "", layers=used)


def test_a_pin_whose_version_does_not_fit_lambdas_size_limit_fails_verify(repo: BumpRepo) -> None:
    feature(repo, "feature/pin-v2", pin_greeter(2))
    config = repo.config()
    code = function_code_bytes(config.function("greeter").source)
    assert code > 0

    def verify(layer_bytes: int) -> VerifyReport:
        return verify_on_main(repo, config, _SizedRunner(layer_bytes))

    fits = verify(MAX_UNZIPPED_BYTES - code)  # function and layer at exactly 262,144,000 bytes
    assert fits.ok and fits.problems == ()
    over = verify(MAX_UNZIPPED_BYTES - code + 1)
    assert not over.ok
    (problem,) = over.problems
    assert problem.startswith("function 'greeter' would be 262,144,001 bytes (262.1 MB) unzipped")
    assert problem.endswith(
        "Lambda allows 262,144,000 bytes for function and layers together, 1 bytes too many"
    )
    layer = MAX_UNZIPPED_BYTES - code + 1
    assert f"function code {code} bytes (0.0 MB) + layer 'common' {layer:,} bytes (262.1 MB);" in problem
    comment = verify_comment(over)
    assert comment.startswith("## layer-ci verify: ❌ failed") and "### Problems" in comment
    assert "greeter" in comment.split("### Problems", 1)[1] and "262,144,001 bytes" in comment


# ---------------------------------------------------------------------------------- layer sources


def test_a_changed_layer_source_runs_the_consumers_against_a_local_build(
    repo: BumpRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    mylib = repo.read("layers/common/python/mylib.py").replace("def shout", "def yell")
    feature(repo, "feature/rename-shout", {"layers/common/python/mylib.py": mylib})
    assert verify_cli(repo) == 1
    comment = capsys.readouterr().out
    assert "### Layer sources changed\n\n`common`: the consumers' tests ran against a local build." in comment
    assert "| `greeter` | ✅ passed |" in comment and "| `shouter` | ❌ failed |" in comment
    assert "ImportError: cannot import name 'shout' from 'mylib'" in comment

    recorder = _Recorder()
    report = verify_on_main(repo, repo.config(), recorder)
    assert report.rebuilt_layers == ("common",) and report.pin_changes == ()
    assert recorder.calls == {"greeter": {"common": "local"}, "shouter": {"common": "local"}}


class _Recorder:
    def __init__(self) -> None:
        self.calls: dict[str, dict[str, str]] = {}

    def __call__(self, config: Config, function: FunctionSpec, sources: Mapping[str, str]) -> TestResult:
        self.calls[function.name] = dict(sources)
        return _passing(config, function, sources)


def test_an_unrelated_change_needs_no_verification(
    repo: BumpRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    feature(repo, "feature/docs", {"README.md": "docs only\n"})
    assert verify_cli(repo) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and "nothing to verify" in captured.err


# --------------------------------------------------------------------------------- sticky comment


def test_one_sticky_comment_is_updated_in_place_never_duplicated(
    repo: BumpRepo,
    linked_github: LinkedRepo,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    standin: GitHubStandIn = linked_github.standin
    sha = feature(repo, "feature/pin-v3", pin_greeter(3), push=True)
    pull = standin.open_pull("feature/pin-v3", title="pin common v3", user="ada", repo="octo-org/linked")
    for n in range(120):  # a long discussion: the sticky comment lands on the second page
        standin.state.add_comment("octo-org/linked", pull.number, f"comment {n}", user="bob")
    quoting = standin.state.add_comment("octo-org/linked", pull.number, f"why {MARKER}?", user="bob")
    monkeypatch.setenv("GITHUB_TOKEN", standin.token)
    monkeypatch.setenv("GITHUB_REPOSITORY", "octo-org/linked")

    assert verify_cli(repo, "--pr", str(pull.number)) == 1
    first = _sticky(standin, pull.number)
    first_id, first_body = first.id, first.body  # the stand-in edits the same object in place
    assert (
        "❌ failed" in first_body and f"template.yaml:{GREETER_LINE}: common v3 does not exist" in first_body
    )

    # The author fixes the pin; the workflow runs again from the pull_request event.
    feature(repo, "feature/pin-v3", pin_greeter(2), push=True)
    event = tmp_path / "event.json"
    base_sha = repo.remote.branch_sha("main")
    event.write_text(json.dumps({"pull_request": {"number": pull.number, "base": {"sha": base_sha}}}))
    monkeypatch.setenv("GITHUB_EVENT_PATH", str(event))
    assert cli.main(["--config", str(repo.config_path), "verify"]) == 0
    second = _sticky(standin, pull.number)
    assert second.id == first_id and second.body != first_body
    assert second.body.startswith(f"{MARKER}\n## layer-ci verify: ✅ passed")
    assert "| `greeter` | ✅ passed |" in second.body
    comments = standin.state.comments_on("octo-org/linked", pull.number)
    assert len(comments) == 122  # 120 + the quoting one + exactly one sticky comment
    assert next(c for c in comments if c.id == quoting.id).body == f"why {MARKER}?"
    assert capsys.readouterr().out == ""  # posted, not printed
    assert sha != repo.remote.branch_sha("feature/pin-v3")


def _sticky(standin: GitHubStandIn, number: int) -> Comment:
    ours = [
        c
        for c in standin.state.comments_on("octo-org/linked", number)
        if c.body.startswith(MARKER) and c.user == standin.login
    ]
    assert len(ours) == 1
    return ours[0]


def test_pr_without_a_token_is_a_usage_error(repo: BumpRepo, capsys: pytest.CaptureFixture[str]) -> None:
    feature(repo, "feature/pin-v2", pin_greeter(2))
    assert verify_cli(repo, "--pr", "7") == 2
    assert "--pr needs GITHUB_TOKEN and GITHUB_REPOSITORY" in capsys.readouterr().err


# ------------------------------------------------------------------------------------- pin diffs


def test_pins_are_paired_by_what_they_reference_not_by_line() -> None:
    base = (
        "a: arn:aws:lambda:us-east-1:000000000000:layer:common:1\n"
        "b: arn:aws:lambda:eu-west-1:000000000000:layer:common:4\n"
    )
    head = (
        "# a new comment line moves everything down\n"
        "a: arn:aws:lambda:us-east-1:000000000000:layer:common:1\n"
        "b: arn:aws:lambda:eu-west-1:000000000000:layer:common:5\n"
        "c: arn:aws:lambda:us-east-1:000000000000:layer:tools:2\n"
    )
    diff = diff_pins(find_pins_in_text(base, "t.yaml"), find_pins_in_text(head, "t.yaml"))
    assert [(c.line, c.layer, c.region, c.old, c.new) for c in diff.changes] == [
        (3, "common", "eu-west-1", 4, 5),
        (4, "tools", "us-east-1", None, 2),
    ]
    assert [pin.line for pin in diff.moved] == [3, 4]
    removed = diff_pins(find_pins_in_text(base, "t.yaml"), find_pins_in_text(base.splitlines()[0], "t.yaml"))
    assert [(c.layer, c.old, c.new) for c in removed.changes] == [("common", 4, None)]
    assert removed.moved == ()
