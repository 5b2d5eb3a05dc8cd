"""The scheduled flows: audit the pins, prune old versions (by settings.prune or the caller's numbers)."""

from __future__ import annotations

from pathlib import Path

from layer_ci.flows.schedule import prune_versions, run_schedule
from layer_ci.flows.services import Services
from layer_ci.publish.folder_registry import LocalRegistry
from layer_ci.publish.prune import DEFAULT_KEEP
from layer_ci.publish.registries import registry_factory
from tests.report.bump_repo import BumpRepo, make_bump_repo
from tests.support.git_remote import GitRemote


def _repo(git_remote: GitRemote) -> BumpRepo:
    repo = make_bump_repo(git_remote)
    repo.release(version="2.0.0")
    repo.release(version="3.0.0")  # common v1, v2, v3 in both regions; the pins still name v1
    return repo


def _prune_settings(repo: BumpRepo, keep: int) -> None:
    text = repo.read("layer-ci.yml").replace(
        "settings:\n", f"settings:\n  prune:\n    keep: {keep}\n    grace_days: 0\n", 1
    )
    repo.write("layer-ci.yml", text)


def test_a_clean_audit_without_prune_settings_prunes_nothing(git_remote: GitRemote) -> None:
    repo = _repo(git_remote)
    config = repo.config()
    logged: list[str] = []
    services = Services(registry_factory=registry_factory(config), log=logged.append)

    outcome = run_schedule(config, services, audit=True, prune=None)

    assert outcome.ok and outcome.prune is None
    assert outcome.audit is not None and outcome.audit.pins_checked == 4 and outcome.audit.errors == ()
    assert logged[-1].startswith("audit checked 4 pin(s)")  # template.yaml and infra/prod.tf


def test_a_deleted_pinned_version_fails_the_audit_naming_the_pin(git_remote: GitRemote) -> None:
    repo = _repo(git_remote)
    LocalRegistry(repo.root / ".layer-ci" / "registry", "us-east-1").delete("common", 1)
    config = repo.config()

    outcome = run_schedule(
        config, Services(registry_factory=registry_factory(config)), audit=True, prune=False
    )

    assert not outcome.ok and outcome.audit is not None
    assert any(error.startswith("template.yaml:") and "common" in error for error in outcome.audit.errors)


def test_prune_settings_make_the_schedule_delete_what_nothing_pins(git_remote: GitRemote) -> None:
    repo = _repo(git_remote)
    _prune_settings(repo, keep=1)
    config = repo.config()
    logged: list[str] = []

    outcome = run_schedule(
        config,
        Services(registry_factory=registry_factory(config), log=logged.append),
        audit=False,
        prune=None,
    )

    assert outcome.audit is None and outcome.prune is not None
    assert (outcome.prune.keep, outcome.prune.grace_days) == (1, 0)
    # v1 is pinned and v3 is the newest: only v2 may go, in each region.
    assert sorted((d.region, d.version) for d in outcome.prune.deleted) == [
        ("eu-west-1", 2),
        ("us-east-1", 2),
    ]
    assert sum(line.startswith("deleted common v2 in ") for line in logged) == 2
    remaining = LocalRegistry(repo.root / ".layer-ci" / "registry", "us-east-1")
    assert sorted(info.version for info in remaining.list_versions("common")) == [1, 3]


def test_prune_decides_without_deleting_unless_applied(git_remote: GitRemote) -> None:
    repo = _repo(git_remote)
    config = repo.config()
    factory = registry_factory(config)

    looked = prune_versions(config, factory, apply=False, keep=1, grace_days=0)
    assert looked.deleted == () and {d.version for d in looked.decisions if d.action == "delete"} == {2}
    defaults = prune_versions(config, factory, apply=False)
    assert defaults.keep == DEFAULT_KEEP and all(d.action != "delete" for d in defaults.decisions)
    assert (
        len(LocalRegistry(Path(repo.root / ".layer-ci" / "registry"), "us-east-1").list_versions("common"))
        == 3
    )
