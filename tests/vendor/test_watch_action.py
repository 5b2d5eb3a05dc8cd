"""The Action on `schedule`: entrypoint.py audits, then watches the vendor layers and opens their PRs."""

from __future__ import annotations

from pathlib import Path

from tests.action.action_support import ActionRepo
from tests.support.aws import AwsEnv
from tests.support.github_standin import LinkedRepo
from tests.vendor.vendor_support import GOOD, VENDOR, VENDOR_ACCOUNT, Vendor


def test_schedule_opens_the_vendor_bump_pull_request(
    consumer: Path, vendor: Vendor, linked_github: LinkedRepo, aws: AwsEnv, tmp_path: Path
) -> None:
    vendor.publish(GOOD)
    vendor.publish(GOOD + "\nVERSION = 2\n")
    repo = ActionRepo(consumer, linked_github, aws, tmp_path / "cache")

    run = repo.run("schedule", tmp=tmp_path / "run")

    assert run.returncode == 0, run.stdout + run.stderr
    assert "## layer-ci: vendor layers" in run.summary
    # The summary escapes Markdown punctuation of repository-controlled text (issue 12).
    assert f"{VENDOR} \\({VENDOR_ACCOUNT}\\): bump; us-east-1 v1 → v2" in run.summary
    [pr] = linked_github.standin.open_pulls(linked_github.full_name)
    assert pr.pull is not None and pr.pull.head_ref == f"layer-ci/vendor/{VENDOR}"
    text = (linked_github.remote.read_file(f"layer-ci/vendor/{VENDOR}", "template.yaml") or b"").decode()
    assert f"{VENDOR}:2" in text and f"{VENDOR}:1" not in text


def test_command_audit_on_schedule_stays_read_only(
    consumer: Path, vendor: Vendor, linked_github: LinkedRepo, aws: AwsEnv, tmp_path: Path
) -> None:
    vendor.publish(GOOD)
    vendor.publish(GOOD + "\nVERSION = 2\n")
    repo = ActionRepo(consumer, linked_github, aws, tmp_path / "cache")

    run = repo.run("schedule", inputs={"command": "audit"}, tmp=tmp_path / "run")

    assert "vendor layers" not in run.summary, run.stdout + run.stderr
    assert linked_github.standin.open_pulls(linked_github.full_name) == []


def test_without_a_github_token_the_schedule_warns_and_opens_nothing(
    consumer: Path, vendor: Vendor, linked_github: LinkedRepo, aws: AwsEnv, tmp_path: Path
) -> None:
    vendor.publish(GOOD)
    vendor.publish(GOOD + "\nVERSION = 2\n")
    repo = ActionRepo(consumer, linked_github, aws, tmp_path / "cache")

    run = repo.run("schedule", env={"LAYER_CI_GITHUB_TOKEN": ""}, tmp=tmp_path / "run")

    warning = [line for line in run.stdout.splitlines() if "vendor layers not watched" in line]
    assert warning and warning[0].startswith("::warning title=layer-ci watch::"), run.stdout + run.stderr
    assert linked_github.remote.read_file(f"layer-ci/vendor/{VENDOR}", "template.yaml") is None
    assert linked_github.standin.open_pulls(linked_github.full_name) == []
