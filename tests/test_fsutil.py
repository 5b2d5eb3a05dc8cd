"""Tests for write_atomically: all or nothing, modes kept or set, nothing left behind."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from layer_ci.fsutil import write_atomically


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
