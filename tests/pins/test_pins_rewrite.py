"""Tests for rewriting pins: only the recorded digits move, stale references are reported, never guessed."""

from __future__ import annotations

import dataclasses
import os
import stat
from pathlib import Path

import pytest

from layer_ci.config.pin_patterns import compile_pin_patterns
from layer_ci.errors import Location
from layer_ci.model import Config, Settings
from layer_ci.pins.find import find_pins, find_pins_in_text
from layer_ci.pins.rewrite import plan_file_rewrites, rewrite_files, rewrite_pins, rewrite_text

ARN = "arn:aws:lambda:us-east-1:111111111111:layer:x:1"


def test_bumping_1_to_2_never_touches_other_ones() -> None:
    text = f"1: line 1 of 11\nlayers: [{ARN}] # 1 layer, 111 ms\n11 {ARN}\n"
    pins = find_pins_in_text(text, "t")
    result = rewrite_text(text, pins, {("x", "us-east-1"): 2})
    assert result.text == text.replace(ARN, ARN[:-1] + "2")
    assert result.text.count("1") == text.count("1") - 2
    assert len(result.changed) == 2 and not result.missing


def test_a_pin_already_current_is_a_no_op() -> None:
    pins = find_pins_in_text(ARN, "t")
    result = rewrite_text(ARN, pins, {("x", "us-east-1"): 1})
    assert result.text == ARN
    assert result.already_current == pins and result.changed == []


def test_layers_not_being_bumped_are_left_alone_and_unlisted() -> None:
    text = f"{ARN} {ARN.replace(':x:', ':y:')}"
    pins = find_pins_in_text(text, "t")
    result = rewrite_text(text, pins, {("y", "us-east-1"): 5})
    assert result.text == f"{ARN} {ARN.replace(':x:1', ':y:5')}"
    assert [pin.layer for pin in result.changed] == ["y"]
    assert result.already_current == result.missing == result.unresolved == []


def test_stale_references_are_reported_and_skipped_never_guessed() -> None:
    original = f"a: {ARN}\nb: {ARN}\nc: {ARN}\n"
    pins = find_pins_in_text(original, "t")
    # Edited since finding: the second reference now names another account, the third grew a digit.
    edited = original.replace(f"b: {ARN}", f"b: {ARN.replace('111111111111', '222222222222')}")
    edited = edited[: edited.rindex(ARN) + len(ARN)] + "2" + edited[edited.rindex(ARN) + len(ARN) :]
    assert len(edited) == len(original) + 1
    result = rewrite_text(edited, pins, {("x", "us-east-1"): 7})
    assert [pin.line for pin in result.changed] == [1]
    assert [pin.line for pin in result.missing] == [2, 3]
    assert result.text == edited.replace(f"a: {ARN}", f"a: {ARN[:-1]}7", 1)
    assert ":x:12" in result.text


def test_a_shift_before_a_reference_makes_it_missing_rather_than_guessing_its_new_place() -> None:
    original = f"a: {ARN}\n"
    pins = find_pins_in_text(original, "t")
    edited = "# new comment\n" + original
    result = rewrite_text(edited, pins, {("x", "us-east-1"): 2})
    assert result.text == edited and result.missing == pins


def test_placeholder_region_needs_a_default_region_or_is_unresolved() -> None:
    text = "!Sub arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:layer:x:1"
    pins = find_pins_in_text(text, "t")
    versions = {("x", "us-east-1"): 2, ("x", "eu-west-1"): 9}
    unresolved = rewrite_text(text, pins, versions)
    assert unresolved.text == text and unresolved.unresolved == pins
    assert rewrite_text(text, pins, versions, default_region="eu-west-1").text.endswith(":layer:x:9")
    placeholder_version: dict[tuple[str, str | None], int] = {("x", None): 4}
    assert rewrite_pins(text, pins, placeholder_version).endswith(":layer:x:4")


def test_pins_move_to_the_version_published_in_their_own_region() -> None:
    text = "\n".join(ARN.replace("us-east-1", region) for region in ("us-east-1", "eu-west-1", "ap-south-1"))
    pins = find_pins_in_text(text, "t")
    result = rewrite_text(text, pins, {("x", "us-east-1"): 3, ("x", "eu-west-1"): 5})
    assert result.text.splitlines() == [
        ARN[:-1] + "3",
        ARN.replace("us-east-1", "eu-west-1")[:-1] + "5",
        ARN.replace("us-east-1", "ap-south-1"),
    ]
    assert [pin.region for pin in result.unresolved] == ["ap-south-1"]


def test_another_accounts_layer_with_the_same_name_is_not_ours() -> None:
    theirs = ARN.replace("111111111111", "999999999999")
    text = f"{ARN} {theirs} arn:aws:lambda:us-east-1:${{AWS::AccountId}}:layer:x:1"
    pins = find_pins_in_text(text, "t")
    result = rewrite_text(text, pins, {("x", "us-east-1"): 2}, account="111111111111")
    assert result.text == f"{ARN[:-1]}2 {theirs} arn:aws:lambda:us-east-1:${{AWS::AccountId}}:layer:x:2"


def test_duplicate_pins_are_applied_once() -> None:
    pins = find_pins_in_text(ARN, "t")
    assert rewrite_text(ARN, pins + pins, {("x", "us-east-1"): 2}).text == ARN[:-1] + "2"


def test_rerun_with_the_old_pins_after_a_length_change_is_recognised_as_current() -> None:
    text = f"{ARN.replace(':x:1', ':x:9')} {ARN.replace(':x:1', ':x:99')} {ARN.replace(':x:1', ':x:9')}"
    pins = find_pins_in_text(text, "t")
    once = rewrite_text(text, pins, {("x", "us-east-1"): 100})
    twice = rewrite_text(once.text, pins, {("x", "us-east-1"): 100})
    assert once.text.count(":x:100") == 3
    assert twice.text == once.text
    assert twice.already_current == pins and twice.missing == []


def test_pattern_pin_that_grew_a_digit_is_missing() -> None:

    patterns = compile_pin_patterns([r"(?P<layer>x)_layer_version = (?P<version>[0-9]+)"], Location("c"))
    pins = find_pins_in_text("x_layer_version = 3\n", "t", patterns)
    bump: dict[tuple[str, str | None], int] = {("x", None): 4}
    assert rewrite_text("x_layer_version = 3\n", pins, bump).text == "x_layer_version = 4\n"
    result = rewrite_text("x_layer_version = 35\n", pins, bump)
    assert result.text == "x_layer_version = 35\n" and result.missing == pins


def test_rewrite_files_preserves_foreign_bytes_mode_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    path = tmp_path / "deploy.sh"
    original = b"#!/bin/sh\r\n# caf\xe9 \xff\r\nLAYER=" + ARN.encode() + b"\r\n"
    path.write_bytes(original)
    path.chmod(0o754)
    changed = rewrite_files(tmp_path, find_pins(tmp_path), {("x", "us-east-1"): 2})
    assert changed == [path]
    assert path.read_bytes() == original.replace(b":layer:x:1", b":layer:x:2")
    assert stat.S_IMODE(path.stat().st_mode) == 0o754
    assert sorted(os.listdir(tmp_path)) == ["deploy.sh"]


def test_a_deleted_file_is_reported_missing_and_not_recreated(tmp_path: Path) -> None:
    (tmp_path / "t.yaml").write_text(ARN)
    config = Config(
        root=tmp_path, path=tmp_path / "layer-ci.yml", layers=(), functions=(), settings=Settings()
    )
    pins = find_pins(tmp_path, config)
    (tmp_path / "t.yaml").unlink()
    (rewrite,) = plan_file_rewrites(tmp_path, pins, {("x", "us-east-1"): 2})
    assert rewrite.result.missing == pins and not rewrite.changed
    assert rewrite_files(tmp_path, pins, {("x", "us-east-1"): 2}) == []
    assert not (tmp_path / "t.yaml").exists()


def test_a_file_edited_since_finding_is_reported_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "template.yaml"
    path.write_text(f"Layers:\n  - {ARN}\n")
    pins = find_pins(tmp_path)
    path.write_text(f"Layers:\n  - {ARN.replace(':x:1', ':x:5')}\n")
    (rewrite,) = plan_file_rewrites(tmp_path, pins, {("x", "us-east-1"): 2})
    assert rewrite.result.missing == pins
    assert rewrite_files(tmp_path, pins, {("x", "us-east-1"): 2}) == []
    assert path.read_text().endswith(":x:5\n")


def test_pin_paths_outside_the_repository_are_refused(tmp_path: Path) -> None:
    (pin,) = find_pins_in_text(ARN, "t")
    for bad in ("../t", "/etc/t"):
        with pytest.raises(ValueError, match="not a relative path inside the repository"):
            rewrite_files(tmp_path, [dataclasses.replace(pin, path=bad)], {("x", "us-east-1"): 2})
