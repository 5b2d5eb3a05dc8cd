"""Tests for layer-ci.lock: stable text, atomic writes, functional updates, one-line errors."""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from layer_ci.errors import ConfigError
from layer_ci.plan.lockfile import (
    LOCK_FILE_NAME,
    Lock,
    LockedLayer,
    PublishedRef,
    load_lock,
    parse_lock,
    save_lock,
)

KEY_A = "sha256:" + "a" * 64
KEY_B = "sha256:" + "b" * 64
ZIP_A = "1" * 64
ZIP_B = "2" * 64
ARN_1 = "arn:aws:lambda:us-east-1:000000000000:layer:common-deps:1"
ARN_2 = "arn:aws:lambda:eu-west-1:000000000000:layer:common-deps:7"

EXPECTED_TEXT = f"""{{
  "layers": {{
    "common-deps": {{
      "input_key": "{KEY_A}",
      "published": {{
        "eu-west-1": {{
          "arn": "{ARN_2}",
          "version": 7
        }},
        "us-east-1": {{
          "arn": "{ARN_1}",
          "version": 1
        }}
      }},
      "zip_sha256": "{ZIP_A}"
    }},
    "tools": {{
      "input_key": "{KEY_B}",
      "published": {{}},
      "zip_sha256": "{ZIP_B}"
    }}
  }},
  "version": 1
}}
"""


def sample_lock() -> Lock:
    # Built in an unsorted order on purpose: the file must come out sorted anyway.
    common = (
        LockedLayer(KEY_A, ZIP_A)
        .with_published("us-east-1", PublishedRef(1, ARN_1))
        .with_published("eu-west-1", PublishedRef(7, ARN_2))
    )
    return Lock().with_layer("tools", LockedLayer(KEY_B, ZIP_B)).with_layer("common-deps", common)


def test_missing_lock_file_is_an_empty_lock(tmp_path: Path) -> None:
    assert load_lock(tmp_path) == Lock()
    assert dict(load_lock(tmp_path).layers) == {}


def test_file_text_is_sorted_indented_and_ends_with_a_newline(tmp_path: Path) -> None:
    save_lock(tmp_path, sample_lock())
    assert (tmp_path / LOCK_FILE_NAME).read_text() == EXPECTED_TEXT


def test_round_trip(tmp_path: Path) -> None:
    lock = sample_lock()
    save_lock(tmp_path, lock)
    loaded = load_lock(tmp_path)
    assert loaded == lock
    assert loaded.layers["common-deps"].published["eu-west-1"] == PublishedRef(7, ARN_2)
    assert loaded.render() == EXPECTED_TEXT


def test_one_new_region_is_a_small_diff(tmp_path: Path) -> None:
    lock = sample_lock()
    before = lock.render().splitlines()
    tools = lock.layers["tools"].with_published(
        "us-east-1", PublishedRef(3, ARN_1.replace("common-deps:1", "tools:3"))
    )
    after = lock.with_layer("tools", tools).render().splitlines()
    diff = [line for line in difflib.ndiff(before, after) if line[:2] in ("- ", "+ ")]
    assert [line[:2] + line[2:].strip() for line in diff] == [
        '- "published": {},',
        '+ "published": {',
        '+ "us-east-1": {',
        '+ "arn": "arn:aws:lambda:us-east-1:000000000000:layer:tools:3",',
        '+ "version": 3',
        "+ }",
        "+ },",
    ]


def test_saving_the_same_lock_leaves_the_file_alone(tmp_path: Path) -> None:
    assert save_lock(tmp_path, sample_lock()) is True
    path = tmp_path / LOCK_FILE_NAME
    os.utime(path, ns=(1, 1))
    assert save_lock(tmp_path, sample_lock()) is False
    assert path.stat().st_mtime_ns == 1


def test_save_is_atomic_and_keeps_the_file_mode(tmp_path: Path) -> None:
    save_lock(tmp_path, Lock())
    path = tmp_path / LOCK_FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    path.chmod(0o664)
    inode = path.stat().st_ino
    save_lock(tmp_path, sample_lock())
    assert path.stat().st_ino != inode  # replaced by rename, never rewritten in place
    assert stat.S_IMODE(path.stat().st_mode) == 0o664
    assert sorted(p.name for p in tmp_path.iterdir()) == [LOCK_FILE_NAME]


def test_failed_save_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    save_lock(tmp_path, Lock())
    original = (tmp_path / LOCK_FILE_NAME).read_text()

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        save_lock(tmp_path, sample_lock())
    assert (tmp_path / LOCK_FILE_NAME).read_text() == original
    assert sorted(p.name for p in tmp_path.iterdir()) == [LOCK_FILE_NAME]


def test_updates_return_new_values_and_leave_the_old_ones_alone() -> None:
    empty = Lock()
    locked = LockedLayer(KEY_A, ZIP_A)
    lock = empty.with_layer("common-deps", locked)
    published = locked.with_published("us-east-1", PublishedRef(1, ARN_1))
    assert dict(empty.layers) == {}
    assert dict(locked.published) == {}
    assert dict(published.published) == {"us-east-1": PublishedRef(1, ARN_1)}
    assert lock.get("common-deps") == locked
    assert lock.without_layer("common-deps") == empty
    assert lock.get("nope") is None


def test_values_cannot_be_mutated() -> None:
    lock = sample_lock()
    with pytest.raises(dataclasses.FrozenInstanceError):
        lock.layers = {}  # type: ignore[misc]
    with pytest.raises(TypeError):
        lock.layers["x"] = LockedLayer(KEY_A, ZIP_A)  # type: ignore[index]
    with pytest.raises(TypeError):
        lock.layers["common-deps"].published["x"] = PublishedRef(1, ARN_1)  # type: ignore[index]


def test_a_new_build_drops_versions_published_from_another_zip() -> None:
    locked = LockedLayer(KEY_A, ZIP_A).with_published("us-east-1", PublishedRef(1, ARN_1))
    rebuilt_identically = locked.with_build(KEY_B, ZIP_A)
    assert rebuilt_identically.input_key == KEY_B
    assert dict(rebuilt_identically.published) == {"us-east-1": PublishedRef(1, ARN_1)}
    rebuilt_differently = locked.with_build(KEY_B, ZIP_B)
    assert (rebuilt_differently.zip_sha256, dict(rebuilt_differently.published)) == (ZIP_B, {})


def test_locked_layers_are_hashable_and_compare_by_value() -> None:
    assert sample_lock() == sample_lock()
    assert len({LockedLayer(KEY_A, ZIP_A), LockedLayer(KEY_A, ZIP_A)}) == 1


def test_sizes_and_input_parts_round_trip_and_are_written_only_when_known(tmp_path: Path) -> None:
    parts = {"build": KEY_A, "files": KEY_B}
    built = LockedLayer(KEY_A, ZIP_A).with_build(KEY_B, ZIP_B, unzipped_bytes=1234, input_parts=parts)
    lock = sample_lock().with_layer("sized", built.with_published("us-east-1", PublishedRef(2, ARN_1)))
    save_lock(tmp_path, lock)
    text = (tmp_path / LOCK_FILE_NAME).read_text()
    entry = json.loads(text)["layers"]["sized"]
    assert entry["unzipped_bytes"] == 1234
    assert entry["input_parts"] == parts
    loaded = load_lock(tmp_path).layers["sized"]
    assert (loaded.unzipped_bytes, dict(loaded.input_parts)) == (1234, parts)
    assert loaded.published["us-east-1"].version == 2  # with_published kept size and parts
    # Entries without them (locks written before they existed) read as unknown and are written as before.
    old = parse_lock(EXPECTED_TEXT).layers["tools"]
    assert (old.unzipped_bytes, dict(old.input_parts)) == (None, {})
    assert parse_lock(EXPECTED_TEXT).render() == EXPECTED_TEXT
    # A new build forgets the old build's size and parts unless it brings its own.
    assert built.with_build(KEY_A, ZIP_A).unzipped_bytes is None
    assert dict(built.with_build(KEY_A, ZIP_A).input_parts) == {}


# --- damaged files --------------------------------------------------------------------------------


def valid_document() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(EXPECTED_TEXT)
    return document


def mutated(change: Callable[[dict[str, Any]], object]) -> str:
    document = valid_document()
    change(document)
    return json.dumps(document, sort_keys=True, indent=2) + "\n"


def line_of(text: str, needle: str) -> int:
    """1-based number of the first line of ``text`` holding ``needle``."""
    return next(number for number, line in enumerate(text.splitlines(), 1) if needle in line)


MERGE_CONFLICT = EXPECTED_TEXT.replace('      "published": {}', '<<<<<<< HEAD\n      "published": {}')
DUPLICATE = EXPECTED_TEXT.replace('"tools": {', '"common-deps": {')

# (file text, text on the line the error must name, what the message must say)
BAD_LOCKS = [
    pytest.param(
        EXPECTED_TEXT.replace('"version": 7', '"version": 7,'), "},", "not valid JSON", id="trailing-comma"
    ),
    pytest.param("", None, "not valid JSON", id="empty-file"),
    pytest.param(MERGE_CONFLICT, "<<<<<<<", "unresolved merge conflict", id="merge-conflict"),
    pytest.param(
        DUPLICATE, '"common-deps": {\n      "input_key": "sha256:bbb', "appears twice", id="duplicate"
    ),
    pytest.param("[]\n", None, "must be an object, found a list", id="top-list"),
    pytest.param(mutated(lambda d: d.pop("layers")), None, "missing 'layers'", id="no-layers"),
    pytest.param(
        mutated(lambda d: d.update(version=2)), '  "version": 2', "newer layer-ci; upgrade layer-ci", id="v2"
    ),
    pytest.param(
        mutated(lambda d: d.update(version="1")), '  "version": "1"', 'must be 1, found "1"', id="v-str"
    ),
    pytest.param(mutated(lambda d: d.update(extra=1)), '"extra"', "extra: unknown key", id="unknown-top-key"),
    pytest.param(
        mutated(lambda d: d.update(layers=[])), '"layers"', "layers: must be an object", id="layers-list"
    ),
    pytest.param(
        mutated(lambda d: d["layers"]["tools"].pop("input_key")),
        '"tools"',
        "layers.tools: missing 'input_key'",
        id="no-input-key",
    ),
    pytest.param(
        mutated(lambda d: d["layers"]["tools"].update(input_key="md5:abc")),
        "md5:abc",
        "layers.tools.input_key: must be 'sha256:' and 64 hex digits",
        id="bad-input-key",
    ),
    pytest.param(
        mutated(lambda d: d["layers"]["tools"].update(zip_sha256="XYZ")),
        "XYZ",
        "layers.tools.zip_sha256: must be 64 hex digits",
        id="bad-zip-sha",
    ),
    pytest.param(
        mutated(lambda d: d["layers"]["tools"].update(published=["us-east-1"])),
        '"published": [',
        "layers.tools.published: must be an object, found a list",
        id="published-list",
    ),
    pytest.param(
        mutated(lambda d: d["layers"]["common-deps"]["published"]["us-east-1"].update(version=0)),
        '"version": 0',
        "layers.common-deps.published.us-east-1.version: must be a whole number >= 1, found 0",
        id="version-zero",
    ),
    pytest.param(
        mutated(lambda d: d["layers"]["common-deps"]["published"]["eu-west-1"].update(arn=None)),
        '"arn": null',
        "layers.common-deps.published.eu-west-1.arn: must be a layer version ARN, found null",
        id="arn-null",
    ),
    pytest.param(
        mutated(lambda d: d["layers"]["tools"].update(unzipped_bytes=-1)),
        '"unzipped_bytes": -1',
        "layers.tools.unzipped_bytes: must be a whole number >= 0, found -1",
        id="negative-size",
    ),
    pytest.param(
        mutated(lambda d: d["layers"]["tools"].update(unzipped_bytes="12")),
        '"unzipped_bytes": "12"',
        'layers.tools.unzipped_bytes: must be a whole number >= 0, found "12"',
        id="size-string",
    ),
    pytest.param(
        mutated(lambda d: d["layers"]["tools"].update(input_parts=["files"])),
        '"input_parts": [',
        "layers.tools.input_parts: must be an object, found a list",
        id="parts-list",
    ),
    pytest.param(
        mutated(lambda d: d["layers"]["tools"].update(input_parts={"files": "abc"})),
        '"files": "abc"',
        "layers.tools.input_parts.files: must be 'sha256:' and 64 hex digits",
        id="bad-part-digest",
    ),
]


@pytest.mark.parametrize(("text", "needle", "problem"), BAD_LOCKS)
def test_damaged_lock_is_one_line_naming_file_line_and_fix(
    tmp_path: Path, text: str, needle: str | None, problem: str
) -> None:
    (tmp_path / LOCK_FILE_NAME).write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_lock(tmp_path)
    message = caught.value.one_line()
    if needle is None:
        line = 1
    elif "\n" in needle:
        line = text[: text.index(needle)].count("\n") + 1
    else:
        line = line_of(text, needle)
    assert message.startswith(f"layer-ci.lock:{line}: "), message
    assert problem in message
    assert "; " in message  # then the fix
    assert "\n" not in message
    assert caught.value.exit_code == 2


def test_damaged_lock_tells_how_to_recover() -> None:
    with pytest.raises(ConfigError, match=r"git checkout -- layer-ci.lock.*or delete it"):
        parse_lock("{")


def test_unreadable_bytes_are_a_config_error(tmp_path: Path) -> None:
    (tmp_path / LOCK_FILE_NAME).write_bytes(b"\xff\xfe{}")
    with pytest.raises(ConfigError, match=r"^layer-ci.lock: layer-ci.lock: cannot be read"):
        load_lock(tmp_path)
