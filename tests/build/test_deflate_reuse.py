"""Tests for reusing a replaced zip's deflate output: the bytes of a fresh zip, from trusted input only."""

from __future__ import annotations

import os
import random
import shutil
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from layer_ci.build import deflate_reuse, zipper
from layer_ci.build.deflate_reuse import index_path
from layer_ci.build.zipper import CHUNK_SIZE, write_zip
from layer_ci.fsutil import machine_key


@pytest.fixture(autouse=True)
def own_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    monkeypatch.setenv("LAYER_CI_CACHE", str(tmp_path / "user-cache"))
    machine_key.cache_clear()
    yield tmp_path / "user-cache"
    machine_key.cache_clear()


class Deflates:
    """Counts the blocks the zipper deflates itself (one compressor each)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        real = zlib.compressobj

        def counting(*args: object, **kwargs: object) -> object:
            self.count += 1
            return real(*args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(zlib, "compressobj", counting)

    def during(self, work: object) -> int:
        before = self.count
        assert callable(work)
        work()
        return self.count - before


@pytest.fixture
def deflates(monkeypatch: pytest.MonkeyPatch) -> Deflates:
    return Deflates(monkeypatch)


def make_tree(root: Path) -> Path:
    rng = random.Random(5)
    for index in range(12):
        path = root / "python" / f"pkg{index % 3}" / f"mod{index}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"value_%d = %r\n" % (index, rng.randbytes(40).hex()) * (50 + 30 * index))
    big = b"".join(b"line %d %s\n" % (i, rng.randbytes(6).hex().encode()) for i in range(120_000))
    assert 2 * CHUNK_SIZE < len(big) < 3 * CHUNK_SIZE
    (root / "lib").mkdir()
    (root / "lib" / "big.txt").write_bytes(big)
    (root / "bin").mkdir()
    return root


@pytest.fixture
def zipped(tmp_path: Path) -> tuple[Path, Path]:
    """make_tree's tree and its zip at out/layer.zip, written once (its index beside it)."""
    tree = make_tree(tmp_path / "tree")
    target = tmp_path / "out" / "layer.zip"
    write_zip(tree, target)
    return tree, target


def fresh_zip(tree: Path, where: Path) -> bytes:
    """The zip of ``tree`` written where no earlier zip is: every block deflated."""
    where.mkdir()
    write_zip(tree, where / "fresh.zip")
    return (where / "fresh.zip").read_bytes()


ALL_BLOCKS = 12 + 3  # make_tree's small files, and its large file's three blocks


def deflated_in_full(tree: Path, target: Path, deflates: Deflates, fresh: Path) -> None:
    """Writing ``target`` deflates every block again (nothing reused) and gives a fresh zip's bytes."""
    assert deflates.during(lambda: write_zip(tree, target)) == ALL_BLOCKS
    assert target.read_bytes() == fresh_zip(tree, fresh)


def test_a_rebuild_deflates_only_the_changed_file_and_gives_the_bytes_of_a_fresh_zip(
    tmp_path: Path, deflates: Deflates
) -> None:
    tree = make_tree(tmp_path / "tree")
    target = tmp_path / "out" / "layer.zip"
    assert deflates.during(lambda: write_zip(tree, target)) == ALL_BLOCKS
    assert deflates.during(lambda: write_zip(tree, target)) == 0, "nothing changed: every block reused"
    (tree / "python" / "pkg1" / "mod4.py").write_bytes(b"changed = True\n")
    assert deflates.during(lambda: write_zip(tree, target)) == 1
    assert target.read_bytes() == fresh_zip(tree, tmp_path / "fresh")


def test_a_change_at_the_start_of_a_large_file_re_deflates_the_blocks_it_reaches(
    zipped: tuple[Path, Path], tmp_path: Path, deflates: Deflates
) -> None:
    # Each block is primed with the 32 KiB before it: a change in the first block leaves the later blocks
    # (and the history they are primed with) as they were.
    tree, target = zipped
    big = tree / "lib" / "big.txt"
    content = bytearray(big.read_bytes())
    content[10:14] = b"EDIT"
    big.write_bytes(bytes(content))
    assert deflates.during(lambda: write_zip(tree, target)) == 1
    content[CHUNK_SIZE - 100 : CHUNK_SIZE - 96] = b"EDIT"  # within the history of the second block
    big.write_bytes(bytes(content))
    assert deflates.during(lambda: write_zip(tree, target)) == 2
    assert target.read_bytes() == fresh_zip(tree, tmp_path / "fresh")


def test_an_index_signed_elsewhere_is_not_used(
    tmp_path: Path, deflates: Deflates, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A commit can bring .layer-ci/build/ with a zip and an index of its own: signed with another
    # machine's key, it is ignored, and its zip's bytes never reach the new zip.
    tree = make_tree(tmp_path / "tree")
    planted = tmp_path / "out" / "layer.zip"
    monkeypatch.setenv("LAYER_CI_CACHE", str(tmp_path / "attacker-cache"))
    machine_key.cache_clear()
    write_zip(tree, planted)
    monkeypatch.setenv("LAYER_CI_CACHE", str(tmp_path / "user-cache"))
    machine_key.cache_clear()
    deflated_in_full(tree, planted, deflates, tmp_path / "fresh")


def test_blocks_of_a_zip_changed_since_its_index_was_written_are_deflated_again(
    zipped: tuple[Path, Path], tmp_path: Path, deflates: Deflates
) -> None:
    tree, target = zipped
    index = index_path(target).read_bytes()
    # Same length, other bytes where the first block of lib/big.txt sits: only its digest can tell.
    content = bytearray(target.read_bytes())
    content[200:240] = bytes(40)
    target.write_bytes(bytes(content))
    assert index_path(target).read_bytes() == index
    assert deflates.during(lambda: write_zip(tree, target)) == 1
    assert target.read_bytes() == fresh_zip(tree, tmp_path / "fresh")


def test_a_zip_rewritten_in_place_while_it_is_being_replaced_gives_no_bytes(
    zipped: tuple[Path, Path], tmp_path: Path, deflates: Deflates, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another tool writing into the old zip (same inode) after the index was read: every block read from
    # it is checked against the digest its record holds.
    tree, target = zipped
    real_open = zipper.open_previous

    def open_then_overwrite(path: Path) -> object:
        previous = real_open(path)
        if previous is not None:
            with path.open("r+b") as handle:
                handle.write(b"\0" * path.stat().st_size)
        return previous

    monkeypatch.setattr(zipper, "open_previous", open_then_overwrite)
    deflated_in_full(tree, target, deflates, tmp_path / "fresh")


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda raw: raw[:-1], id="cut short"),
        pytest.param(lambda raw: raw[:60] + b"X" + raw[61:], id="one byte changed"),
        pytest.param(lambda raw: b"", id="empty"),
    ],
)
def test_a_damaged_index_is_not_used(
    zipped: tuple[Path, Path], tmp_path: Path, deflates: Deflates, damage: object
) -> None:
    tree, target = zipped
    assert callable(damage)
    index_path(target).write_bytes(damage(index_path(target).read_bytes()))
    deflated_in_full(tree, target, deflates, tmp_path / "fresh")


def test_another_zlib_deflates_everything_again(
    zipped: tuple[Path, Path], tmp_path: Path, deflates: Deflates, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree, target = zipped
    monkeypatch.setattr(zlib, "ZLIB_RUNTIME_VERSION", "0.0.other")
    assert deflates.during(lambda: write_zip(tree, target)) == ALL_BLOCKS


def test_a_zip_moved_elsewhere_keeps_nothing_but_a_copy_beside_its_index_is_used(
    tmp_path: Path, deflates: Deflates
) -> None:
    tree = make_tree(tmp_path / "tree")
    first = tmp_path / "a" / "layer.zip"
    write_zip(tree, first)
    (tmp_path / "b").mkdir()
    shutil.copy(first, tmp_path / "b" / "layer.zip")
    assert (
        deflates.during(lambda: write_zip(tree, tmp_path / "b" / "layer.zip")) == ALL_BLOCKS
    )  # no index there
    shutil.copy(index_path(first), index_path(tmp_path / "b" / "layer.zip"))
    assert deflates.during(lambda: write_zip(tree, tmp_path / "b" / "layer.zip")) == 0


def test_without_a_machine_key_no_index_is_kept_and_zips_are_still_right(
    zipped: tuple[Path, Path], tmp_path: Path, deflates: Deflates, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree, target = zipped
    assert index_path(target).exists()
    (tmp_path / "blocker").write_text("a file where the cache folder would be\n")
    monkeypatch.setenv("LAYER_CI_CACHE", str(tmp_path / "blocker" / "cache"))
    machine_key.cache_clear()
    deflated_in_full(tree, target, deflates, tmp_path / "fresh")
    assert not index_path(target).exists(), "a stale index is removed"


def test_the_index_is_readable_by_its_user_only(tmp_path: Path) -> None:
    target = tmp_path / "out" / "layer.zip"
    write_zip(make_tree(tmp_path / "tree"), target)
    assert os.stat(index_path(target)).st_mode & 0o077 == 0


@pytest.mark.parametrize("planted", ["/dev/zero", "huge"])
def test_an_index_that_is_a_device_link_or_too_large_is_not_read(
    zipped: tuple[Path, Path], tmp_path: Path, deflates: Deflates, planted: str
) -> None:
    # A commit can put a link to /dev/zero where the index goes: reading it would never end.
    tree, target = zipped
    index_path(target).unlink()
    if planted == "huge":
        with index_path(target).open("wb") as handle:
            handle.truncate(200 * 1024 * 1024)  # sparse: no disk used
    else:
        index_path(target).symlink_to(planted)
    deflated_in_full(tree, target, deflates, tmp_path / "fresh")


def test_a_signed_record_pointing_past_the_zip_is_dropped(
    zipped: tuple[Path, Path], tmp_path: Path, deflates: Deflates
) -> None:
    # Only an index signed here can hold such a record; it must still not break a build.
    tree, target = zipped
    content = (tree / "python" / "pkg0" / "mod0.py").read_bytes()
    name = deflate_reuse.block_name(content, b"", True, 6)
    deflate_reuse.record_blocks(target, [(name, 2**63, 10, bytes(32)), (name, 10, 2**32 - 1, bytes(32))])
    deflated_in_full(tree, target, deflates, tmp_path / "fresh")
