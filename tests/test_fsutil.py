"""Tests for write_atomically: all or nothing, modes kept or set, nothing left behind."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from layer_ci.fsutil import MACHINE_KEY_FILE, machine_key, memo_digest, write_atomically


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_new_file_gets_the_umask_mode_and_parent_folders(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "file.txt"
    old = os.umask(0o022)
    try:
        write_atomically(target, b"hello")
    finally:
        os.umask(old)
    assert target.read_bytes() == b"hello"
    assert _mode(target) == 0o644
    assert os.listdir(target.parent) == ["file.txt"]


def test_replaced_file_keeps_its_mode_unless_one_is_given(tmp_path: Path) -> None:
    target = tmp_path / "tool"
    target.write_bytes(b"old")
    target.chmod(0o751)
    write_atomically(target, b"new", fsync=True)
    assert (target.read_bytes(), _mode(target)) == (b"new", 0o751)
    write_atomically(target, b"newer", mode=0o600)
    assert (target.read_bytes(), _mode(target)) == (b"newer", 0o600)


def test_a_failed_write_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "layer-ci.lock"
    target.write_bytes(b"old")

    def refuse(*_args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("layer_ci.fsutil.os.replace", refuse)
    with pytest.raises(OSError, match="No space left"):
        write_atomically(target, b"new")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["layer-ci.lock"]


def test_a_folder_in_the_way_is_an_error_naming_it(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(OSError) as caught:
        write_atomically(tmp_path / "file" / "x.json", b"{}")
    assert caught.value.filename is not None


@pytest.fixture
def own_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    monkeypatch.setenv("LAYER_CI_CACHE", str(tmp_path / "cache"))
    machine_key.cache_clear()
    yield tmp_path / "cache"
    machine_key.cache_clear()


def test_the_machine_key_is_made_once_readable_only_by_its_user(own_cache: Path) -> None:
    key = machine_key()
    assert key is not None and len(key) == 64
    assert stat.S_IMODE((own_cache / MACHINE_KEY_FILE).stat().st_mode) == 0o600
    machine_key.cache_clear()
    assert machine_key() == key


@pytest.mark.parametrize("content", ["0123", "", "z" * 64, "0123456789ABCDEF" * 4])
def test_a_cut_short_or_garbled_machine_key_is_replaced(own_cache: Path, content: str) -> None:
    own_cache.mkdir()
    (own_cache / MACHINE_KEY_FILE).write_text(content)
    (own_cache / MACHINE_KEY_FILE).chmod(0o600)  # as created: a crash between create and write
    key = machine_key()
    assert key is not None and len(key) == 64 and key != content
    assert int(key, 16) >= 0
    assert (own_cache / MACHINE_KEY_FILE).read_text() == key


def test_a_machine_key_others_can_read_is_not_taken(own_cache: Path) -> None:
    # Files git checks out are 0644: a cache folder pointed into a checkout cannot hand over a key.
    own_cache.mkdir()
    (own_cache / MACHINE_KEY_FILE).write_text("ab" * 32)
    (own_cache / MACHINE_KEY_FILE).chmod(0o644)
    assert machine_key() is None
    assert (own_cache / MACHINE_KEY_FILE).read_text() == "ab" * 32


def test_a_machine_key_that_is_a_link_is_not_followed(own_cache: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "planted.key"
    elsewhere.write_text("cd" * 32)
    elsewhere.chmod(0o600)
    own_cache.mkdir()
    (own_cache / MACHINE_KEY_FILE).symlink_to(elsewhere)
    assert machine_key() is None


def test_without_a_place_for_it_there_is_no_machine_key(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "a-file").write_text("not a folder\n")
    monkeypatch.setenv("LAYER_CI_CACHE", str(tmp_path / "a-file" / "cache"))
    machine_key.cache_clear()
    try:
        assert machine_key() is None
    finally:
        machine_key.cache_clear()


def test_read_own_file_takes_only_a_regular_file_of_this_users_that_others_cannot_write(
    tmp_path: Path,
) -> None:
    from layer_ci.fsutil import read_own_file

    good = tmp_path / "memo"
    good.write_bytes(b"remembered")
    good.chmod(0o644)
    assert read_own_file(good, limit=100) == b"remembered"
    assert read_own_file(good, limit=5) is None, "larger than the limit"
    assert read_own_file(good, limit=100, deny_mode=0o077) is None, "others may read it"
    good.chmod(0o664)
    assert read_own_file(good, limit=100) is None, "others may write it"
    (tmp_path / "link").symlink_to(good)
    assert read_own_file(tmp_path / "link", limit=100, deny_mode=0) is None
    os.mkfifo(tmp_path / "fifo", 0o600)
    assert read_own_file(tmp_path / "fifo", limit=100) is None  # returns at once: no writer is waited for
    assert read_own_file(tmp_path / "missing", limit=100) is None


def test_memo_digest_tells_apart_parts_that_join_to_the_same_text() -> None:
    # Joined with a separator, ("a\0b",) and ("a", "b") would share a fingerprint; each part is
    # length-prefixed instead.
    digests = {
        memo_digest("ab", "c"),
        memo_digest("a", "bc"),
        memo_digest("abc"),
        memo_digest("a\0b"),
        memo_digest("a", "b"),
        memo_digest(),
    }
    assert len(digests) == 6
    assert all(len(digest) == 64 and int(digest, 16) >= 0 for digest in digests)


def test_memo_digest_is_the_same_for_text_and_its_utf8_bytes_and_stable() -> None:
    assert memo_digest("é", b"\xff") == memo_digest("é".encode(), b"\xff")
    assert memo_digest("x") == memo_digest("x")
    assert memo_digest("x") != memo_digest("y")
