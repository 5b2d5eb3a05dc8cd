"""`layer-ci watch` end to end: moto serves the vendor layer, real git, the GitHub stand-in gets the PR."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from layer_ci import cli
from tests.support.github_standin import LinkedRepo
from tests.vendor.vendor_support import GOOD, NO_SHOUT, VENDOR, VENDOR_ACCOUNT, VENDOR_V3, Vendor

BRANCH = f"layer-ci/vendor/{VENDOR}"


def watch(root: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict]:
    code = cli.main(["--config", str(root / "layer-ci.yml"), "watch", "--json", *args])
    captured = capsys.readouterr()
    assert captured.out.startswith("{"), captured.err
    return code, json.loads(captured.out)


def test_a_new_vendor_version_opens_a_gated_pull_request(
    consumer: Path, vendor: Vendor, linked_github: LinkedRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    vendor.publish(GOOD)
    vendor.publish(GOOD + "\nVERSION = 2\n")
    vendor.publish(GOOD, name=VENDOR_V3)  # another layer name (a new major): never a target for V2 pins
    vendor.publish(GOOD + "\nVERSION = 3\n", name=VENDOR_V3)
    vendor.publish(GOOD + "\nVERSION = 4\n", name=VENDOR_V3)

    code, result = watch(consumer, capsys)

    assert code == 0, json.dumps(result)
    [layer] = result["vendor_layers"]
    assert (layer["layer"], layer["account"], layer["status"]) == (VENDOR, VENDOR_ACCOUNT, "bump")
    assert layer["regions"] == [
        {
            "region": "us-east-1",
            "pinned": 1,
            "newest": 2,
            "arn": f"arn:aws:lambda:us-east-1:{VENDOR_ACCOUNT}:layer:{VENDOR}:2",
        }
    ]
    [pr] = result["pull_requests"]
    assert (pr["branch"], pr["action"], pr["failed_functions"]) == (BRANCH, "created", [])
    assert pr["files"] == ["template.yaml"]  # the vendor layer is not recorded in layer-ci.lock
    assert pr["statuses"]["layer-ci/test/greeter"] == "success"
    assert pr["statuses"]["layer-ci/test/shouter"] == "success"
    template = linked_github.remote.read_file(BRANCH, "template.yaml")
    assert template is not None
    text = template.decode()
    assert f"arn:aws:lambda:us-east-1:{VENDOR_ACCOUNT}:layer:{VENDOR}:2" in text
    assert f"${{AWS::Region}}:{VENDOR_ACCOUNT}:layer:{VENDOR}:2" in text
    assert f"{VENDOR}:1" not in text and VENDOR_V3 not in text
    [open_pr] = linked_github.standin.open_pulls(linked_github.full_name)
    assert open_pr.pull is not None and open_pr.pull.head_ref == BRANCH
    assert "layer-ci" in open_pr.labels

    # A second scheduled run with nothing new changes nothing.
    code, again = watch(consumer, capsys)
    assert code == 0
    assert [p["action"] for p in again["pull_requests"]] == ["unchanged"]


def test_a_consumer_failing_against_the_new_version_keeps_its_pin(
    consumer: Path, vendor: Vendor, linked_github: LinkedRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    vendor.publish(GOOD)
    vendor.publish(NO_SHOUT)  # v2 drops shout(): shouter breaks, greeter does not

    code, result = watch(consumer, capsys)

    assert code == 1
    [pr] = result["pull_requests"]
    assert pr["failed_functions"] == ["shouter"]
    assert pr["statuses"]["layer-ci/test-before-upgrade"] == "failure"
    text = (linked_github.remote.read_file(BRANCH, "template.yaml") or b"").decode()
    assert f"us-east-1:{VENDOR_ACCOUNT}:layer:{VENDOR}:2" in text  # greeter's pin moved
    assert f"${{AWS::Region}}:{VENDOR_ACCOUNT}:layer:{VENDOR}:1" in text  # shouter's kept


def test_max_version_and_watch_false_are_obeyed(
    linked_github: LinkedRepo,
    vendor: Vendor,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    from tests.vendor.vendor_support import make_vendor_repo

    monkeypatch.setenv("LAYER_CI_CACHE", str(tmp_path / "cache"))
    root = make_vendor_repo(
        linked_github.remote,
        "vendor_layers:\n  layers:\n    - name: VendorLib*V2\n      max_version: 2\n",
    )
    for index in range(4):
        vendor.publish(GOOD + f"\nVERSION = {index}\n")
    code, result = watch(root, capsys, "--dry-run")
    assert code == 0, json.dumps(result)
    assert result["vendor_layers"][0]["regions"][0]["newest"] == 2
    assert [p["action"] for p in result["pull_requests"]] == ["dry-run"]
    assert linked_github.remote.read_file(BRANCH, "template.yaml") is None  # a dry run pushes nothing

    (root / "layer-ci.yml").write_text(
        (root / "layer-ci.yml").read_text().replace("max_version: 2", "watch: false")
    )
    code, result = watch(root, capsys, "--dry-run")
    assert code == 0
    assert result["vendor_layers"][0]["status"] == "not watched"
    assert result["pull_requests"] == []


def test_content_not_matching_code_sha256_is_refused(
    consumer: Path, vendor: Vendor, linked_github: LinkedRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    vendor.publish(GOOD)
    vendor.publish(GOOD + "\nVERSION = 2\n", served=b"PK not what was published")

    code, result = watch(consumer, capsys)

    assert code == 1
    assert result["pull_requests"] == []
    [error] = result["errors"]
    assert "SHA-256" in error and "CodeSha256" in error and "secret" not in error
    assert linked_github.standin.open_pulls(linked_github.full_name) == []


def test_nothing_to_do_when_every_pin_is_current(
    consumer: Path, vendor: Vendor, capsys: pytest.CaptureFixture[str]
) -> None:
    vendor.publish(GOOD)
    code = cli.main(["--config", str(consumer / "layer-ci.yml"), "watch", "--check"])
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith(f"current      {VENDOR} ({VENDOR_ACCOUNT}): us-east-1 v1")


def test_a_placeholder_region_pin_waits_until_every_region_has_the_version(
    linked_github: LinkedRepo,
    vendor: Vendor,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    from tests.vendor.vendor_support import make_vendor_repo

    monkeypatch.setenv("LAYER_CI_CACHE", str(tmp_path / "cache"))
    root = make_vendor_repo(
        linked_github.remote,
        f"vendor_layers:\n  layers:\n    - name: {VENDOR}\n      regions: [us-east-1, eu-west-1]\n",
    )
    vendor.publish(GOOD)
    vendor.publish(GOOD + "\nVERSION = 2\n")
    vendor.publish(GOOD, region="eu-west-1")  # eu-west-1 has not got v2 yet

    code, result = watch(root, capsys, "--dry-run")

    assert code == 0, json.dumps(result)
    assert [(r["region"], r["newest"]) for r in result["vendor_layers"][0]["regions"]] == [
        ("eu-west-1", 1),
        ("us-east-1", 2),
    ]
    [pr] = result["pull_requests"]
    assert pr["action"] == "dry-run" and pr["files"] == ["template.yaml"]
    code = cli.main(["--config", str(root / "layer-ci.yml"), "watch", "--dry-run"])
    text = capsys.readouterr().out
    assert code == 0
    assert "no single new version" in text  # shouter's ${AWS::Region} pin is kept, and the PR says why


def test_a_vendor_pull_request_leaves_a_stale_lock_alone(
    consumer: Path, vendor: Vendor, linked_github: LinkedRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    # The base's lock still records a layer no longer in layer-ci.yml: an own-layer bump would drop that
    # entry, a vendor bump must not (the lock records only this repository's layers).
    from layer_ci.plan.lockfile import LOCK_FILE_NAME, Lock, LockedLayer, PublishedRef
    from tests.support.git_remote import run_git

    stale = Lock().with_layer(
        "retired",
        LockedLayer(
            input_key="sha256:" + "0" * 64,
            zip_sha256="1" * 64,
            published={"us-east-1": PublishedRef(3, "arn:aws:lambda:us-east-1:123456789012:layer:retired:3")},
        ),
    )
    (consumer / LOCK_FILE_NAME).write_text(stale.render(), encoding="utf-8")
    run_git(["add", LOCK_FILE_NAME], consumer)
    run_git(["commit", "--quiet", "-m", "a lock with a retired layer"], consumer)
    run_git(["push", "--quiet", "origin", "HEAD:refs/heads/main"], consumer)
    vendor.publish(GOOD)
    vendor.publish(GOOD + "\nVERSION = 2\n")

    code, result = watch(consumer, capsys)

    assert code == 0, json.dumps(result)
    [pr] = result["pull_requests"]
    assert pr["files"] == ["template.yaml"]
    assert linked_github.remote.read_file(BRANCH, LOCK_FILE_NAME) == stale.render().encode("utf-8")
