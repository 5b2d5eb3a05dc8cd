"""entrypoint.py as a subprocess with a simulated runner: every event path against moto (server mode),
the GitHub stand-in and a bare git remote; outputs, summary, annotations, PRs, statuses and versions."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest

from tests.action.action_support import REPOSITORY, ActionRepo, publish_raw
from tests.support.aws import MOTO_ACCOUNT
from tests.support.fault_proxy import FaultProxy

pytestmark = pytest.mark.network  # building common-deps and the test runner's pytest come from PyPI

OUTPUT_NAMES = {"changed-layers", "published", "pull-requests", "matrix", "tests-passed"}
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def _versions(repo: ActionRepo, layer: str) -> list[int]:
    listed = repo.aws.client("lambda").list_layer_versions(LayerName=layer)["LayerVersions"]
    return sorted(int(item["Version"]) for item in listed)


def test_push_to_another_branch_only_plans(action_repo: ActionRepo, tmp_path: Path) -> None:
    payload = action_repo.payload("push", ref="refs/heads/feature")
    run = action_repo.run("push", payload, ref="refs/heads/feature", tmp=tmp_path / "run")

    assert run.returncode == 0, run.stdout + run.stderr
    assert set(run.outputs) == OUTPUT_NAMES
    assert run.output_json("changed-layers") == ["common-deps", "tools"]
    matrix = run.output_json("matrix")
    assert [entry["layer"] for entry in matrix["include"]] == ["common-deps", "tools"]
    assert matrix["include"][0]["functions"] == ["catalog", "notify", "orders"]
    assert run.output_json("published") == {}
    assert run.outputs["tests-passed"] == ""
    assert "planning only" in run.summary
    assert "| common-deps | new |" in run.summary
    assert "```mermaid" in run.summary and "L0 --> F0" in run.summary
    assert _versions(action_repo, "tools") == []
    assert action_repo.linked.standin.count("POST") == 0
    assert "::group::plan" in run.stdout


def test_fork_pull_request_is_read_only_and_never_reaches_aws(
    action_repo: ActionRepo, tmp_path: Path
) -> None:
    payload = action_repo.payload("pull_request")
    payload["pull_request"]["head"]["repo"] = {"full_name": "mallory/linked"}
    standin = action_repo.linked.standin
    standin.clear_requests()
    with FaultProxy(action_repo.aws.endpoint) as proxy:
        run = action_repo.run(
            "pull_request",
            payload,
            ref="refs/pull/7/merge",
            env={"AWS_ENDPOINT_URL": proxy.url},
            tmp=tmp_path / "run",
        )
        aws_requests = list(proxy.requests)

    assert run.returncode == 0, run.stdout + run.stderr
    assert aws_requests == []  # not one request, so certainly no write
    assert not [r for r in standin.requests if r.method in WRITE_METHODS]
    assert re.search(
        r"^::warning title=layer-ci%3A read-only run::Pull request from the fork mallory/linked",
        run.stdout,
        re.M,
    )
    assert "runs read-only" in run.summary
    assert run.output_json("changed-layers") == ["common-deps", "tools"]
    assert run.output_json("published") == {}
    assert _versions(action_repo, "common-deps") == []


def test_config_error_is_an_annotation_on_its_line_and_exit_2(
    action_repo: ActionRepo, tmp_path: Path
) -> None:
    config = action_repo.workspace / "layer-ci.yml"
    lines = config.read_text().splitlines()
    bad = next(index for index, line in enumerate(lines) if "method: files" in line)
    lines[bad] = lines[bad].replace("method: files", "method: filez")
    config.write_text("\n".join(lines) + "\n")
    action_repo.commit_and_push("break the config")

    run = action_repo.run("push", tmp=tmp_path / "run")
    assert run.returncode == 2, run.stdout + run.stderr
    annotation = next(line for line in run.stdout.splitlines() if line.startswith("::error "))
    assert annotation.startswith(f"::error file=layer-ci.yml,line={bad + 1},title=layer-ci%3A config error::")
    assert "filez" in annotation
    assert set(run.outputs) == OUTPUT_NAMES  # still written, so later steps can read them
    assert "Traceback" not in run.stdout + run.stderr


def test_dispatch_dry_run_builds_and_tests_but_publishes_nothing(
    action_repo: ActionRepo, tmp_path: Path
) -> None:
    run = action_repo.run("workflow_dispatch", inputs={"dry-run": "true"}, tmp=tmp_path / "run")
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.output_json("changed-layers") == ["common-deps", "tools"]
    assert run.output_json("published") == {}
    assert run.outputs["tests-passed"] == "true"
    assert "| catalog | common-deps \\(built zip\\), tools \\(built zip\\) | ✅ passed |" in run.summary
    assert "| orders | common-deps \\(built zip\\) | ✅ passed |" in run.summary
    assert _versions(action_repo, "tools") == [] and _versions(action_repo, "common-deps") == []
    assert action_repo.linked.standin.count("POST") == 0
    assert not (action_repo.workspace / "layer-ci.lock").exists()


def test_dispatch_dry_run_of_one_layer_reports_a_consumer_that_cannot_get_its_other_layer(
    action_repo: ActionRepo, tmp_path: Path
) -> None:
    run = action_repo.run(
        "workflow_dispatch", inputs={"dry-run": "true", "layers": "tools"}, tmp=tmp_path / "run"
    )
    assert run.returncode == 1
    assert run.output_json("changed-layers") == ["tools"]
    assert run.outputs["tests-passed"] == "false"
    error = next(line for line in run.stdout.splitlines() if line.startswith("::error"))
    assert "catalog: tests error" in error and "common-deps version 1 does not exist" in error


def test_schedule_audit_fails_on_pins_to_missing_versions_with_file_and_line(
    action_repo: ActionRepo, tmp_path: Path
) -> None:
    run = action_repo.run("schedule", ref="refs/heads/main", tmp=tmp_path / "run")
    assert run.returncode == 1, run.stdout + run.stderr
    errors = [line for line in run.stdout.splitlines() if line.startswith("::error file=template.yaml,line=")]
    assert len(errors) == 5  # every pin (the example has five) names a version missing in moto
    assert "version 1 does not exist in us-east-1" in errors[0]
    assert "### Errors" in run.summary and "does not exist" in run.summary


def test_schedule_audits_clean_pins_and_prunes_when_configured(
    action_repo: ActionRepo, tmp_path: Path
) -> None:
    config = action_repo.workspace / "layer-ci.yml"
    config.write_text(
        config.read_text().replace("settings:\n", "settings:\n  prune: {keep: 1, grace_days: 0}\n")
    )
    action_repo.commit_and_push("prune old versions")
    for layer in ("common-deps", "tools"):
        for index in range(3):
            publish_raw(action_repo.aws, layer, f"{layer} {index}".encode())

    run = action_repo.run("schedule", tmp=tmp_path / "run")
    assert run.returncode == 0, run.stdout + run.stderr
    assert not [line for line in run.stdout.splitlines() if line.startswith("::error")]
    # v1 is pinned, v3 is the newest; only v2 goes.
    assert _versions(action_repo, "tools") == [1, 3]
    assert _versions(action_repo, "common-deps") == [1, 3]
    assert "Pruned \\(keep 1, grace 0 days\\)" in run.summary
    assert "tools v2 in us-east-1" in run.summary


def test_pull_request_payload_without_a_number_is_a_usage_error(
    action_repo: ActionRepo, tmp_path: Path
) -> None:
    payload = action_repo.payload("pull_request")
    del payload["number"]
    del payload["pull_request"]["number"]
    run = action_repo.run("pull_request", payload, ref="refs/pull/7/merge", tmp=tmp_path / "run")
    assert run.returncode == 2
    assert "::error title=layer-ci::" in run.stdout


def test_bad_boolean_input_names_the_input(action_repo: ActionRepo, tmp_path: Path) -> None:
    run = action_repo.run("workflow_dispatch", inputs={"dry-run": "maybe"}, tmp=tmp_path / "run")
    assert run.returncode == 2
    assert "input dry-run: 'maybe' is not a boolean; use true or false" in run.stdout


def test_the_token_is_masked_and_never_printed_otherwise(action_repo: ActionRepo, tmp_path: Path) -> None:
    token = action_repo.linked.standin.token
    run = action_repo.run(
        "push", action_repo.payload("push", ref="refs/heads/x"), ref="refs/heads/x", tmp=tmp_path / "run"
    )
    assert run.stdout.count(token) == 1 and f"::add-mask::{token}" in run.stdout
    assert token not in run.summary and token not in json.dumps(run.outputs) and token not in run.stderr
    assert "## layer-ci plan: push to x" in run.summary
    # git authenticates with a Basic header holding base64("x-access-token:<token>"): a secret of its
    # own that masking the token does not cover, so it is masked too (and printed nowhere else).
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    assert run.stdout.count(basic) == 1 and f"::add-mask::{basic}" in run.stdout.splitlines()
    assert basic not in run.summary + run.stderr + json.dumps(run.outputs)


def _arn(layer: str, version: int) -> str:
    return f"arn:aws:lambda:us-east-1:{MOTO_ACCOUNT}:layer:{layer}:{version}"


def _statuses(repo: ActionRepo, sha: str) -> dict[str, str]:
    latest: dict[str, str] = {}
    for status in repo.linked.repo.statuses:
        if status.sha == sha:
            latest[status.context] = status.state  # later entries are newer
    return latest


def test_push_to_the_default_branch_publishes_opens_bump_prs_and_sets_statuses(
    action_repo: ActionRepo, tmp_path: Path
) -> None:
    run = action_repo.run("push", tmp=tmp_path / "first")
    assert run.returncode == 0, run.stdout + run.stderr

    assert _versions(action_repo, "common-deps") == [1] and _versions(action_repo, "tools") == [1]
    assert run.output_json("published") == {
        "common-deps": {"us-east-1": _arn("common-deps", 1)},
        "tools": {"us-east-1": _arn("tools", 1)},
    }
    assert run.output_json("changed-layers") == ["common-deps", "tools"]
    assert run.outputs["tests-passed"] == "true"
    pulls = _open_pulls(action_repo)
    assert set(pulls) == {"layer-ci/common-deps", "layer-ci/tools"}
    reported = {entry["branch"]: entry for entry in run.output_json("pull-requests")}
    assert {branch: entry["number"] for branch, entry in reported.items()} == {
        branch: number for branch, (number, _sha) in pulls.items()
    }
    assert {entry["outcome"] for entry in reported.values()} == {"created"}
    deps_statuses = _statuses(action_repo, pulls["layer-ci/common-deps"][1])
    assert deps_statuses["layer-ci/test-before-upgrade"] == "success"
    assert {f"layer-ci/test/{name}" for name in ("catalog", "orders", "notify")} <= set(deps_statuses)
    assert "```mermaid" in run.summary and 'L0[["common-deps v1"]]' in run.summary
    for phase in ("plan", "build", "publish", "bump pull requests and test gate"):
        assert f"::group::{phase}" in run.stdout

    # A change to the tools layer, pushed to main: v2, and its bump PR now moves the template's pin.
    slugify = action_repo.workspace / "layers" / "tools" / "bin" / "slugify"
    slugify.write_text(slugify.read_text() + "# changed\n")
    action_repo.commit_and_push("tools: a comment", "layers/tools/bin/slugify")
    action_repo.fresh_checkout()
    second = action_repo.run("push", tmp=tmp_path / "second")
    assert second.returncode == 0, second.stdout + second.stderr
    assert _versions(action_repo, "tools") == [1, 2] and _versions(action_repo, "common-deps") == [1]
    assert second.output_json("published")["tools"] == {"us-east-1": _arn("tools", 2)}
    template = action_repo.linked.remote.read_file("layer-ci/tools", "template.yaml")
    assert template is not None and b"layer:tools:2" in template and b"layer:common-deps:1" in template
    pulls = _open_pulls(action_repo)
    tools_statuses = _statuses(action_repo, pulls["layer-ci/tools"][1])
    assert tools_statuses["layer-ci/test-before-upgrade"] == "success"
    assert tools_statuses["layer-ci/test/catalog"] == "success"
    outcomes = {entry["branch"]: entry["outcome"] for entry in second.output_json("pull-requests")}
    assert outcomes["layer-ci/tools"] == "updated"
    summary = second.summary
    assert f"| tools | us-east-1 | v2 | {_arn('tools', 2)} |" in summary
    assert "| common-deps | us-east-1 | v1 (reused) |" in summary
    assert "### Bump pull requests" in summary and "### Functions" in summary and "✅ passed" in summary

    # The same push once more converges: no new version, the same two pull requests, nothing changed.
    action_repo.fresh_checkout()
    again = action_repo.run("push", tmp=tmp_path / "again")
    assert again.returncode == 0, again.stdout + again.stderr
    assert _versions(action_repo, "tools") == [1, 2]
    assert set(_open_pulls(action_repo)) == {"layer-ci/common-deps", "layer-ci/tools"}
    assert {entry["outcome"] for entry in again.output_json("pull-requests")} == {"unchanged"}


def _open_pulls(repo: ActionRepo) -> dict[str, tuple[int, str]]:
    """head branch -> (number, head sha) of the stand-in's open pull requests."""
    return {
        pull.pull.head_ref: (pull.number, pull.pull.head_sha)
        for pull in repo.linked.standin.open_pulls(REPOSITORY)
        if pull.pull is not None
    }


def test_dispatch_release_publishes_the_chosen_layers_with_tags_and_releases(
    action_repo: ActionRepo, tmp_path: Path
) -> None:
    run = action_repo.run(
        "workflow_dispatch",
        inputs={"layers": "tools, common-deps", "release": "true", "regions": "us-east-1"},
        tmp=tmp_path / "run",
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.output_json("published") == {
        "common-deps": {"us-east-1": _arn("common-deps", 1)},
        "tools": {"us-east-1": _arn("tools", 1)},
    }
    assert action_repo.linked.remote.branch_sha("layer-ci/tools") is not None
    for layer in ("tools", "common-deps"):
        assert subprocess_tag(action_repo, f"layers/{layer}/v1") == action_repo.head
    releases = {release.tag_name: release for release in action_repo.linked.repo.releases}
    assert set(releases) == {"layers/tools/v1", "layers/common-deps/v1"}
    release = releases["layers/common-deps/v1"]
    assert release.name == "common-deps v1"
    assert _arn("common-deps", 1) in (release.body or "")
    assert "python-dateutil" in (release.body or "")  # the packages the layer holds
    assert [asset.name for asset in release.assets] == ["common-deps-v1.zip"]
    assert release.assets[0].data[:2] == b"PK"
    assert "GitHub releases" in run.summary and "layers/tools/v1: release created" in run.summary

    # A rerun finds the tags and releases instead of failing or duplicating them.
    action_repo.fresh_checkout()
    again = action_repo.run(
        "workflow_dispatch",
        inputs={"layers": "tools", "release": "true", "force": "true"},
        tmp=tmp_path / "again",
    )
    assert again.returncode == 0, again.stdout + again.stderr
    assert len(action_repo.linked.repo.releases) == 2
    assert "layers/tools/v1: release found" in again.summary


def subprocess_tag(repo: ActionRepo, tag: str) -> str | None:
    """Where the stand-in (the bare remote) says ``tag`` points."""
    import subprocess

    result = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", f"refs/tags/{tag}^{{commit}}"],
        cwd=repo.linked.remote.bare,
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout.strip() or None


def test_pull_request_verify_reports_a_pin_to_a_missing_version_in_one_sticky_comment(
    action_repo: ActionRepo, tmp_path: Path
) -> None:
    from tests.support.git_remote import run_git

    base_sha = action_repo.head
    run_git(["checkout", "--quiet", "-b", "feature"], action_repo.workspace)
    template = action_repo.workspace / "template.yaml"
    text = template.read_text()
    template.write_text(text.replace("layer:tools:1", "layer:tools:9"))
    run_git(["commit", "--quiet", "-am", "pin tools v9"], action_repo.workspace)
    run_git(["push", "--quiet", "origin", "HEAD:refs/heads/feature"], action_repo.workspace)
    number = action_repo.linked.standin.open_pull("feature", title="pin tools v9", repo=REPOSITORY).number
    payload = action_repo.payload("pull_request", number=number)
    payload["pull_request"].update({"number": number})
    payload["pull_request"]["base"]["sha"] = base_sha

    run = action_repo.run("pull_request", payload, ref=f"refs/pull/{number}/merge", tmp=tmp_path / "run")
    assert run.returncode == 1, run.stdout + run.stderr
    errors = [line for line in run.stdout.splitlines() if line.startswith("::error")]
    assert any("template.yaml" in line and "9" in line for line in errors), errors
    comments = [c for c in action_repo.linked.repo.comments.values() if c.issue_number == number]
    assert len(comments) == 1 and "<!-- layer-ci:verify -->" in comments[0].body
    assert _versions(action_repo, "tools") == []  # verify never publishes
    assert "layer-ci verify" in run.summary

    again = action_repo.run("pull_request", payload, ref=f"refs/pull/{number}/merge", tmp=tmp_path / "again")
    assert again.returncode == 1
    assert len([c for c in action_repo.linked.repo.comments.values() if c.issue_number == number]) == 1


def test_pull_request_without_layer_changes_has_nothing_to_verify(
    action_repo: ActionRepo, tmp_path: Path
) -> None:
    from tests.support.git_remote import run_git

    base_sha = action_repo.head
    run_git(["checkout", "--quiet", "-b", "docs"], action_repo.workspace)
    (action_repo.workspace / "README.md").write_text("words\n")
    run_git(["commit", "--quiet", "-am", "docs"], action_repo.workspace)
    run_git(["push", "--quiet", "origin", "HEAD:refs/heads/docs"], action_repo.workspace)
    payload = action_repo.payload("pull_request")
    payload["pull_request"]["base"]["sha"] = base_sha
    run = action_repo.run("pull_request", payload, ref="refs/pull/7/merge", tmp=tmp_path / "run")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Nothing to verify" in run.summary
    assert not action_repo.linked.repo.comments
    # The required check is green all the same: layer-ci/verify on the pull request's head.
    assert _statuses(action_repo, action_repo.head) == {"layer-ci/verify": "success"}
