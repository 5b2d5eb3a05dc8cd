"""Two runs on two pushes in quick succession, without the workflow's `concurrency` queue to serialise them.

Push A changes the tools layer, push B (right after) changes it again. Both runs publish their own
content (content-addressed: never a duplicate) and both want to bump ``layer-ci/tools``. Whatever the
interleaving, the pull request must end pinned to the version holding the NEWEST push's content (main's
tip), in every region, with the lock and statuses to match: an older run that finishes last must not
drag the PR back to its older content.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.reliability.reliability_support import (
    AGGREGATE,
    BRANCH,
    LAYER,
    REGIONS,
    Shop,
    arn,
)


def newest_push_state(shop: Shop, newest_content_sha256: str) -> None:
    """No duplicate versions, and the one open PR pins the version holding the newest content."""
    for region in REGIONS:
        digests = [digest for _, digest in shop.versions(region)]
        assert len(digests) == len(set(digests)), f"{region}: duplicate versions {digests}"
    pulls = shop.open_pulls()
    assert list(pulls) == [BRANCH], pulls
    assert len(shop.all_pulls()) == 1
    lock = shop.branch_lock(BRANCH).layers[LAYER]
    assert lock.zip_sha256 == newest_content_sha256
    pins = shop.branch_pins(BRANCH)
    for region in REGIONS:
        wanted = next(version for version, digest in shop.versions(region) if digest == newest_content_sha256)
        assert lock.published[region].version == wanted
        assert arn(region, wanted) in pins, (region, wanted, pins)
    _, head = pulls[BRANCH]
    assert shop.statuses(head)[AGGREGATE] == "success"
    parent = shop.linked.remote.commit_log(BRANCH)[1][0]
    assert parent == shop.linked.remote.branch_sha("main")


def content_digest(shop: Shop, version: int) -> str:
    """The SHA-256 of the zip a push of ``VERSION = version`` builds (built once, aside)."""
    from layer_ci.build.layer import build_layer
    from layer_ci.config.loader import load_config
    from layer_ci.plan.inputs import input_key

    config = load_config(shop.workspace / "layer-ci.yml")
    spec = config.layer(LAYER)
    source = spec.source / "python" / "tools.py"
    original = source.read_text()
    source.write_text(f"VERSION = {version}\n")
    try:
        out = shop.runs / f"digest-{version}"
        built = build_layer(spec, out, input_key=input_key(spec, config.root))
    finally:
        source.write_text(original)
    return built.manifest.zip_sha256


def two_pushes(shop: Shop) -> tuple[str, str, Path, Path]:
    older = shop.change_layer(2)
    newer = shop.change_layer(3)
    return older, newer, shop.clone_at(older), shop.clone_at(newer)


def finish(process_output: tuple[int, str]) -> None:
    code, output = process_output
    assert code == 0, output
    assert "Traceback" not in output


def run_concurrently(shop: Shop, jobs: list[tuple[str, Path]], stagger_s: float) -> list[tuple[int, str]]:
    """Start one entrypoint per (sha, workspace), ``stagger_s`` apart, and wait for all of them."""
    from contextlib import ExitStack

    results = []
    with ExitStack() as stack:
        processes = []
        for sha, workspace in jobs:
            processes.append(stack.enter_context(shop.spawn(sha=sha, workspace=workspace)))
            time.sleep(stagger_s)
        for process in processes:
            assert process.stdout is not None
            output = process.stdout.read()
            results.append((process.wait(timeout=300), output))
    return results


@pytest.mark.parametrize("stagger_s", [0.0, 0.7])
def test_two_pushes_racing_end_pinned_to_the_newest(shop: Shop, stagger_s: float) -> None:
    older, newer, older_tree, newer_tree = two_pushes(shop)
    for result in run_concurrently(shop, [(older, older_tree), (newer, newer_tree)], stagger_s):
        finish(result)
    newest_push_state(shop, content_digest(shop, 3))


def test_an_older_run_finishing_last_does_not_drag_the_pr_back(shop: Shop) -> None:
    """The worst order, made deterministic: the newer push's run completes before the older one starts."""
    older, newer, older_tree, newer_tree = two_pushes(shop)
    first = shop.run(sha=newer, workspace=newer_tree, label="newer")
    assert first.returncode == 0, first.stdout + first.stderr
    late = shop.run(sha=older, workspace=older_tree, label="older-late")
    assert late.returncode == 0, late.stdout + late.stderr
    assert "Traceback" not in late.stdout + late.stderr
    newest_push_state(shop, content_digest(shop, 3))
    assert "newer" in late.stdout  # it says why it left the bump alone


def test_two_runs_of_the_same_push_publish_one_version_per_region(shop: Shop) -> None:
    sha = shop.change_layer(2)
    for result in run_concurrently(shop, [(sha, shop.clone_at(sha)), (sha, shop.clone_at(sha))], 0.0):
        finish(result)
    for region in REGIONS:
        assert [version for version, _ in shop.versions(region)] == [1, 2]
    newest_push_state(shop, content_digest(shop, 2))
