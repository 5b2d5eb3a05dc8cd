"""Which layers a bump moves: released ones, and those whose pins lag the lock (unless ignored)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from layer_ci.bump.releases import account_of, committed_lock, lagging_pins, pending_releases
from layer_ci.model import Config, IgnoreRule
from layer_ci.pins.owners import PinReader, pin_owners
from layer_ci.plan.lockfile import Lock, LockedLayer, PublishedRef
from tests.support.repos import config_of, function_spec, layer_spec

ACCOUNT = "000000000000"
KEY = "sha256:" + "1" * 64


def _locked(version: int, *, regions: tuple[str, ...] = ("us-east-1",), zip_digit: str = "a") -> LockedLayer:
    published = {
        region: PublishedRef(version, f"arn:aws:lambda:{region}:{ACCOUNT}:layer:common:{version}")
        for region in regions
    }
    return LockedLayer(KEY, zip_digit * 64, published)


def _config(tmp_path: Path, *ignore: IgnoreRule) -> Config:
    config = config_of(
        tmp_path,
        (layer_spec(tmp_path / "layers" / "common", "common", regions=("us-east-1", "eu-west-1")),),
        (function_spec(tmp_path, "api", ("common",)),),
    )
    return dataclasses.replace(config, settings=dataclasses.replace(config.settings, ignore=ignore))


def _lagging(config: Config, lock: Lock, texts: dict[str, str]) -> dict[str, tuple[int, ...]]:
    found = lagging_pins(config, lock, texts, PinReader(config).pins, lambda pins: pin_owners(config, pins))
    return {layer: tuple(pin.version for pin in pins) for layer, pins in found.items()}


TEXTS = {
    "template.yaml": (
        f"- arn:aws:lambda:us-east-1:{ACCOUNT}:layer:common:1\n"  # behind v3
        f"- arn:aws:lambda:us-east-1:{ACCOUNT}:layer:common:3\n"  # current
        "- arn:aws:lambda:us-east-1:111122223333:layer:common:1\n"  # another account's layer
        "- arn:aws:lambda:eu-west-1:" + ACCOUNT + ":layer:common:2\n"  # eu-west-1 records v2: current
    )
}


def test_pins_behind_the_lock_lag_and_make_the_layer_pending(tmp_path: Path) -> None:
    config = _config(tmp_path)
    lock = Lock({"common": dataclasses.replace(_locked(3), published={
        "us-east-1": PublishedRef(3, f"arn:aws:lambda:us-east-1:{ACCOUNT}:layer:common:3"),
        "eu-west-1": PublishedRef(2, f"arn:aws:lambda:eu-west-1:{ACCOUNT}:layer:common:2"),
    })})  # fmt: skip
    assert _lagging(config, lock, TEXTS) == {"common": (1,)}

    # The base's lock records the same versions: nothing was released, yet the lagging pin is pending,
    # moving from the version it names.
    lagging = lagging_pins(config, lock, TEXTS, PinReader(config).pins, lambda pins: pin_owners(config, pins))
    (release,) = pending_releases(lock, lock, config, lagging)
    regions = {region.region: (region.old, region.new) for region in release.regions}
    assert regions == {"us-east-1": (1, 3), "eu-west-1": (2, 2)}


def test_nothing_lags_when_every_pin_names_the_locked_version(tmp_path: Path) -> None:
    config = _config(tmp_path)
    lock = Lock({"common": _locked(1)})
    texts = {"t.yaml": f"arn:aws:lambda:us-east-1:{ACCOUNT}:layer:common:1\n"}
    assert _lagging(config, lock, texts) == {}
    assert pending_releases(lock, lock, config, {}) == ()


def test_ignored_pins_never_lag(tmp_path: Path) -> None:
    texts = {"t.yaml": f"arn:aws:lambda:us-east-1:{ACCOUNT}:layer:common:1\n"}
    lock = Lock({"common": _locked(2)})
    assert _lagging(_config(tmp_path), lock, texts) == {"common": (1,)}
    assert _lagging(_config(tmp_path, IgnoreRule("common")), lock, texts) == {}
    # A rule for one function covers only the pins that feed it: this pin feeds no function.
    assert _lagging(_config(tmp_path, IgnoreRule("common", "api")), lock, texts) == {"common": (1,)}


def test_a_placeholder_region_pin_lags_only_when_every_region_agrees(tmp_path: Path) -> None:
    config = _config(tmp_path)
    texts = {"t.yaml": '!Sub "arn:aws:lambda:${AWS::Region}:' + ACCOUNT + ':layer:common:1"\n'}
    agreeing = Lock({"common": _locked(2, regions=("us-east-1", "eu-west-1"))})
    assert _lagging(config, agreeing, texts) == {"common": (1,)}
    split = Lock({"common": dataclasses.replace(_locked(2), published={
        "us-east-1": PublishedRef(2, f"arn:aws:lambda:us-east-1:{ACCOUNT}:layer:common:2"),
        "eu-west-1": PublishedRef(3, f"arn:aws:lambda:eu-west-1:{ACCOUNT}:layer:common:3"),
    })})  # fmt: skip
    assert _lagging(config, split, texts) == {}


def test_every_bump_commit_records_the_whole_new_lock_less_removed_layers(tmp_path: Path) -> None:
    config = _config(tmp_path)
    lock = Lock({"common": _locked(2), "retired": _locked(5, zip_digit="b")})
    assert committed_lock(config, lock) == Lock({"common": _locked(2)})


def test_the_account_of_a_locked_layer_reads_each_arn_with_the_parser() -> None:
    locked = _locked(3, regions=("us-east-1", "eu-west-1"))
    assert account_of(Lock({"common": locked}), "common") == ACCOUNT
    # A hand-edited region whose partition is a placeholder: a split on ":" read "lambda" as its account
    # and so found two accounts; the parser reads the same account.
    placeholder = PublishedRef(3, f"arn:${{AWS::Partition}}:lambda:eu-west-1:{ACCOUNT}:layer:common:3")
    edited = dataclasses.replace(locked, published={**locked.published, "eu-west-1": placeholder})
    assert account_of(Lock({"common": edited}), "common") == ACCOUNT
    other = PublishedRef(3, "arn:aws:lambda:eu-west-1:111122223333:layer:common:3")
    mixed = dataclasses.replace(locked, published={**locked.published, "eu-west-1": other})
    assert account_of(Lock({"common": mixed}), "common") is None
    assert account_of(Lock(), "common") is None
