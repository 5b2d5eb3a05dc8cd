"""The local bump: lagging pins found against the lock, held back per layer, rewritten file by file."""

from __future__ import annotations

from layer_ci.bump.working_tree import held_back_layers, move_pins, plan_pins, published_versions
from tests.report.bump_repo import BumpRepo, make_bump_repo
from tests.support.git_remote import GitRemote


def _released(git_remote: GitRemote) -> BumpRepo:
    repo = make_bump_repo(git_remote)
    repo.release(version="2.0.0")  # the working tree's lock now names common v2 in both regions
    return repo


def test_pins_behind_the_lock_are_planned_by_layer(git_remote: GitRemote) -> None:
    repo = _released(git_remote)
    pin_plan = plan_pins(repo.config(), repo.lock())
    assert pin_plan.current == 0 and pin_plan.account == "000000000000"
    assert sorted(pin.path for pin in pin_plan.behind["common"]) == [
        "infra/prod.tf",
        "template.yaml",
        "template.yaml",
    ]
    assert published_versions(repo.lock(), ["common"]) == {
        ("common", "us-east-1"): 2,
        ("common", "eu-west-1"): 2,
        ("common", None): 2,
    }


def test_moving_rewrites_only_the_version_digits_and_says_what_moved(git_remote: GitRemote) -> None:
    repo = _released(git_remote)
    config = repo.config()
    logged: list[str] = []

    changes = move_pins(config, plan_pins(config, repo.lock()), (), logged.append)

    assert sorted((c.path, c.old_version, c.new_version) for c in changes) == [
        ("infra/prod.tf", 1, 2),
        ("template.yaml", 1, 2),
        ("template.yaml", 1, 2),
    ]
    assert ":layer:common:1" not in repo.read("template.yaml") + repo.read("infra/prod.tf")
    assert len(logged) == 3 and all(line.endswith("common v1 -> v2") for line in logged)
    assert plan_pins(config, repo.lock()).current == 3  # nothing lags any more


def test_a_failed_consumer_holds_its_layer_back_whole(git_remote: GitRemote) -> None:
    repo = _released(git_remote)
    config = repo.config()
    pin_plan = plan_pins(config, repo.lock())
    assert held_back_layers(config, pin_plan, {"shouter"}) == ("common",)
    assert held_back_layers(config, pin_plan, {"not-a-consumer"}) == ()

    assert move_pins(config, pin_plan, ("common",), lambda _m: None) == ()
    assert repo.read("template.yaml").count(":layer:common:1") == 2
