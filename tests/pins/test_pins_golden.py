"""Golden-file tests: bump the pins of each fixture repository and compare with the expected tree."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, cast

import pytest

from layer_ci.model import BuildSpec, Config, LayerSpec, Settings
from layer_ci.pins.find import Pin, find_pins
from layer_ci.pins.rewrite import plan_file_rewrites, rewrite_files
from tests.pins.pin_checks import assert_char_diff_is_version_digits, assert_only_version_digits_changed

FIXTURES = Path(__file__).parent / "fixtures"
CASES = sorted(path.name for path in FIXTURES.iterdir() if (path / "case.json").is_file())


def load_case(name: str, root: Path) -> tuple[dict[str, Any], Config, dict[tuple[str, str | None], int]]:
    case: dict[str, Any] = json.loads((FIXTURES / name / "case.json").read_text())
    layers = tuple(
        LayerSpec(
            name=layer,
            source=root / "layers" / layer,
            build=BuildSpec("files"),
            compatible_runtimes=("python3.11",),
            compatible_architectures=("x86_64",),
            regions=("us-east-1",),
        )
        for layer in case.get("layers", [])
    )
    # Mapping entries are the richer pattern shape this package accepts beside plain regex strings.
    settings = Settings(pin_patterns=cast(tuple[str, ...], tuple(case.get("pin_patterns", []))))
    config = Config(root=root, path=root / "layer-ci.yml", layers=layers, functions=(), settings=settings)
    new_versions = {(layer, region): version for layer, region, version in case["new_versions"]}
    return case, config, new_versions


def copy_repo(name: str, tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(FIXTURES / name / "repo", root)
    return root


def tree(root: Path) -> dict[str, bytes]:
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


@pytest.mark.parametrize("name", CASES)
def test_bump_matches_golden_tree_and_changes_only_version_digits(name: str, tmp_path: Path) -> None:
    root = copy_repo(name, tmp_path)
    case, config, new_versions = load_case(name, root)
    before = tree(root)
    pins = find_pins(root, config)
    assert len(pins) == case["pins"]
    assert len({(pin.path, pin.start) for pin in pins}) == len(pins), "a reference was extracted twice"

    rewrites = plan_file_rewrites(
        root, pins, new_versions, default_region=case.get("default_region"), account=case.get("account")
    )
    assert sum(len(r.result.changed) for r in rewrites) == case["changed"]
    assert sum(len(r.result.unresolved) for r in rewrites) == case.get("unresolved", 0)
    assert not any(r.result.missing for r in rewrites)

    changed_paths = rewrite_files(
        root, pins, new_versions, default_region=case.get("default_region"), account=case.get("account")
    )
    after = tree(root)
    assert after == tree(FIXTURES / name / "expected")
    assert sorted(p.relative_to(root).as_posix() for p in changed_paths) == sorted(
        path for path in before if before[path] != after[path]
    )
    for path, old_bytes in before.items():
        file_pins = [pin for pin in pins if pin.path == path]
        old, new = old_bytes.decode(), after[path].decode()
        assert_only_version_digits_changed(old, new, file_pins)
        assert_char_diff_is_version_digits(old, new, file_pins)


@pytest.mark.parametrize("name", CASES)
def test_bump_is_idempotent_and_refinding_gives_new_versions_on_same_lines(name: str, tmp_path: Path) -> None:
    root = copy_repo(name, tmp_path)
    case, config, new_versions = load_case(name, root)
    options: dict[str, Any] = {"default_region": case.get("default_region"), "account": case.get("account")}
    pins = find_pins(root, config)
    changed = {
        (r.path.relative_to(root).as_posix(), pin.start)
        for r in plan_file_rewrites(root, pins, new_versions, **options)
        for pin in r.result.changed
    }
    rewrite_files(root, pins, new_versions, **options)
    once = tree(root)

    # Again with the pins found before the bump: each is recognised as already current, nothing moves.
    assert rewrite_files(root, pins, new_versions, **options) == []
    stale_rerun = plan_file_rewrites(root, pins, new_versions, **options)
    assert sum(len(r.result.already_current) for r in stale_rerun) == sum(
        len(r.result.already_current) + len(r.result.changed)
        for r in plan_file_rewrites(FIXTURES / name / "repo", pins, new_versions, **options)
    )
    assert not any(r.result.missing for r in stale_rerun)

    # Again with freshly found pins: still nothing to do.
    refound = find_pins(root, config)
    assert rewrite_files(root, refound, new_versions, **options) == []
    assert tree(root) == once

    # Same lines; columns may move when an earlier version on the line grew a digit (9 -> 10).
    assert [(p.path, p.line, p.layer, p.region) for p in refound] == [
        (p.path, p.line, p.layer, p.region) for p in pins
    ]
    for old_pin, new_pin in zip(pins, refound, strict=True):
        expected = (
            expected_version(old_pin, new_versions, case)
            if (old_pin.path, old_pin.start) in changed
            else old_pin.version
        )
        assert new_pin.version == expected, old_pin.location


def expected_version(pin: Pin, new_versions: dict[tuple[str, str | None], int], case: dict[str, Any]) -> int:
    return new_versions[(pin.layer, pin.region or case["default_region"])]


def test_twenty_one_references_are_each_bumped_exactly_once(tmp_path: Path) -> None:
    root = copy_repo("many_refs", tmp_path)
    pins = [pin for pin in find_pins(root) if pin.layer == "x"]
    assert len(pins) == 21
    assert len({(pin.path, pin.start) for pin in pins}) == 21
    before = tree(root)
    rewrite_files(root, find_pins(root), {("x", "us-east-1"): 2})
    after = tree(root)
    old_ref = b"arn:aws:lambda:us-east-1:111111111111:layer:x:1"
    new_ref = b"arn:aws:lambda:us-east-1:111111111111:layer:x:2"
    assert sum(data.count(old_ref) for data in before.values()) == 21
    assert sum(data.count(new_ref) for data in after.values()) == 21
    # No reference was bumped twice (`:x:3`) and the lone `1`s (account, line numbers, counts) stayed.
    assert not any(b":layer:x:3" in data for data in after.values())
    for path in before:
        assert before[path].count(b"1") - after[path].count(b"1") == before[path].count(old_ref)
        assert after[path].replace(new_ref, old_ref) == before[path]
    assert b"layer:x2:1" in after["a.yaml"] and b"layer:xx:1" in after["a.yaml"]


def test_crlf_and_bom_are_preserved_byte_for_byte(tmp_path: Path) -> None:
    root = copy_repo("crlf", tmp_path)
    original = (root / "template.yaml").read_bytes()
    rewrite_files(root, find_pins(root), {("common-deps", "us-east-1"): 4, ("tools", "us-east-1"): 100})
    data = (root / "template.yaml").read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    assert data.count(b"\r\n") == original.count(b"\r\n") == 10
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert "Café orders — 3 layers".encode() in data
