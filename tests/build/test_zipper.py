"""Tests for the deterministic zip writer: byte-identical output, normalised metadata, safe symlinks."""

from __future__ import annotations

import os
import random
import stat
import struct
import subprocess
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from layer_ci.build.zipper import list_entries, sha256_file, write_zip
from layer_ci.errors import BuildError

TREE: dict[str, bytes] = {
    "python/pkg/__init__.py": b"VALUE = 1\n",
    "python/pkg/data/table.csv": b"a,b\n1,2\n" * 200,
    "python/pkg/-dash.py": b"# a name starting with a dash\n",
    "python/pkg.py": b"import pkg\n",
    "bin/tool": b"#!/bin/sh\necho tool\n",
    "lib/libx.so": bytes(range(256)) * 40,
    "nodejs/node_modules/\u00e9l\u00e8ve/index.js": b"module.exports = 1;\n",
}
EXECUTABLES = {"bin/tool"}
EMPTY_DIRS = ("python/pkg/empty",)


@contextmanager
def umask(mask: int) -> Iterator[None]:
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


def make_tree(root: Path, *, order_seed: int, mask: int, executable_mode: int = 0o755) -> Path:
    """Create TREE under root in a shuffled order, under ``mask``, with random mtimes."""
    rng = random.Random(order_seed)
    names = list(TREE)
    rng.shuffle(names)
    with umask(mask):
        for empty in EMPTY_DIRS:
            (root / empty).mkdir(parents=True)
        for name in names:
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(TREE[name])
            if name in EXECUTABLES:
                path.chmod(executable_mode & ~mask)
    for folder, dirnames, filenames in os.walk(root):
        for name in (*dirnames, *filenames):
            stamp = rng.uniform(0, 2_000_000_000)
            os.utime(Path(folder, name), (stamp, stamp))
    return root


def test_same_tree_gives_identical_bytes_whatever_folder_umask_mtimes_and_creation_order(
    tmp_path: Path,
) -> None:
    first = make_tree(tmp_path / "a" / "src", order_seed=1, mask=0o022)
    second = make_tree(
        tmp_path / "elsewhere" / "deeper" / "src", order_seed=2, mask=0o077, executable_mode=0o700
    )
    assert stat.S_IMODE((first / "python/pkg.py").stat().st_mode) != stat.S_IMODE(
        (second / "python/pkg.py").stat().st_mode
    )
    with umask(0o002):
        first_sha = write_zip(first, tmp_path / "one.zip")
    with umask(0o077):
        second_sha = write_zip(second, tmp_path / "out" / "two.zip")
    assert first_sha == second_sha
    assert (tmp_path / "one.zip").read_bytes() == (tmp_path / "out" / "two.zip").read_bytes()
    assert sha256_file(tmp_path / "one.zip") == first_sha


def test_zip_is_deterministic_when_written_from_another_process_with_another_umask(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "src", order_seed=3, mask=0o022)
    here = write_zip(tree, tmp_path / "here.zip")
    script = (
        "import os, sys; os.umask(0o077); from pathlib import Path; "
        "from layer_ci.build.zipper import write_zip; "
        "print(write_zip(Path(sys.argv[1]), Path(sys.argv[2])))"
    )
    completed = subprocess.run(
        [os.sys.executable, "-c", script, str(tree), str(tmp_path / "there.zip")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert completed.stdout.strip() == here


def test_entries_are_sorted_by_name_bytes_with_explicit_directories(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "src", order_seed=4, mask=0o022)
    write_zip(tree, tmp_path / "t.zip")
    with zipfile.ZipFile(tmp_path / "t.zip") as archive:
        names = archive.namelist()
    assert names == sorted(names, key=lambda name: name.encode("utf-8"))
    assert names.index("python/pkg.py") < names.index("python/pkg/")  # "." is 0x2e, "/" 0x2f
    assert "python/pkg/empty/" in names
    assert "python/" in names and "bin/" in names
    expected_files = set(TREE)
    assert {name for name in names if not name.endswith("/")} == expected_files


def test_metadata_is_fixed_times_unix_normalised_modes_and_no_extra_fields(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "src", order_seed=5, mask=0o077, executable_mode=0o700)
    write_zip(tree, tmp_path / "t.zip")
    with zipfile.ZipFile(tmp_path / "t.zip") as archive:
        infos = archive.infolist()
    for info in infos:
        assert info.date_time == (1980, 1, 1, 0, 0, 0)
        assert info.create_system == 3
        assert info.extra == b""
        assert info.flag_bits & 0x08 == 0, "no data descriptors"
        mode = info.external_attr >> 16
        if info.is_dir():
            assert mode == stat.S_IFDIR | 0o755
            assert info.compress_type == zipfile.ZIP_STORED
        elif info.filename in EXECUTABLES:
            assert mode == stat.S_IFREG | 0o755
        else:
            assert mode == stat.S_IFREG | 0o644
            assert info.compress_type == zipfile.ZIP_DEFLATED
    # zipfile hides local headers: read them raw, the extra-field length must be 0 there too.
    data = (tmp_path / "t.zip").read_bytes()
    offset = 0
    local_headers = 0
    while (offset := data.find(b"PK\x03\x04", offset)) >= 0:
        name_length, extra_length = struct.unpack("<HH", data[offset + 26 : offset + 30])
        name = data[offset + 30 : offset + 30 + name_length].decode("utf-8", "replace")
        if name in {info.filename for info in infos}:
            assert extra_length == 0, name
            local_headers += 1
        offset += 4
    assert local_headers == len(infos)


def test_extraction_restores_content_modes_and_empty_dirs(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "src", order_seed=6, mask=0o022)
    write_zip(tree, tmp_path / "t.zip")
    out = tmp_path / "out"
    subprocess.run(["unzip", "-q", str(tmp_path / "t.zip"), "-d", str(out)], check=True)
    for name, content in TREE.items():
        assert (out / name).read_bytes() == content
    assert (out / "bin/tool").stat().st_mode & 0o111
    assert (out / "python/pkg/empty").is_dir()


def test_symlink_inside_tree_is_stored_as_a_link(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "src", order_seed=7, mask=0o022)
    (tree / "bin" / "alias").symlink_to("tool")
    (tree / "python" / "pkg-link").symlink_to("pkg")
    write_zip(tree, tmp_path / "t.zip")
    with zipfile.ZipFile(tmp_path / "t.zip") as archive:
        alias = archive.getinfo("bin/alias")
        assert stat.S_ISLNK(alias.external_attr >> 16)
        assert archive.read(alias) == b"tool"
        assert stat.S_ISLNK(archive.getinfo("python/pkg-link").external_attr >> 16)
        assert not any(name.startswith("python/pkg-link/") for name in archive.namelist())
    out = tmp_path / "out"
    subprocess.run(["unzip", "-q", str(tmp_path / "t.zip"), "-d", str(out)], check=True)
    assert os.readlink(out / "bin" / "alias") == "tool"


@pytest.mark.parametrize(
    ("link", "target"),
    [
        ("bin/escape", "../../outside.txt"),
        ("bin/absolute", "/etc/passwd"),
        ("python/pkg/up", "../../.."),
    ],
)
def test_symlink_leaving_the_tree_is_refused_naming_the_file(tmp_path: Path, link: str, target: str) -> None:
    tree = make_tree(tmp_path / "src", order_seed=8, mask=0o022)
    (tmp_path / "outside.txt").write_text("secret")
    (tree / link).symlink_to(target)
    with pytest.raises(BuildError, match=link.replace("/", "/")) as error:
        write_zip(tree, tmp_path / "t.zip")
    assert "outside the layer" in str(error.value)
    assert not (tmp_path / "t.zip").exists()
    assert list(tmp_path.glob(".t.zip.*")) == []


def test_symlink_escaping_through_another_in_tree_link_is_refused(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "src", order_seed=9, mask=0o022)
    (tree / "here").symlink_to(".")  # inside: points at the root itself
    (tree / "sneaky").symlink_to("here/../outside.txt")  # lexically inside, really one level up
    (tmp_path / "outside.txt").write_text("secret")
    with pytest.raises(BuildError, match="sneaky"):
        write_zip(tree, tmp_path / "t.zip")


@pytest.mark.parametrize(("link", "target"), [("bin/dangling", "nowhere"), ("bin/loop", "loop")])
def test_a_symlink_leading_to_nothing_is_refused_naming_the_file(
    tmp_path: Path, link: str, target: str
) -> None:
    tree = make_tree(tmp_path / "src", order_seed=10, mask=0o022)
    (tree / link).symlink_to(target)
    with pytest.raises(BuildError) as error:
        write_zip(tree, tmp_path / "t.zip")
    assert str(error.value).startswith(f"{link}: symlink to '{target}' leads to nothing in the layer")
    assert not (tmp_path / "t.zip").exists()


def test_special_files_are_refused(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "src", order_seed=10, mask=0o022)
    os.mkfifo(tree / "bin" / "pipe")
    with pytest.raises(BuildError, match="bin/pipe"):
        write_zip(tree, tmp_path / "t.zip")


def test_failed_write_keeps_the_previous_zip_and_leaves_no_temporary(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "src", order_seed=11, mask=0o022)
    good = write_zip(tree, tmp_path / "t.zip")
    entries = list_entries(tree)
    unreadable = next(entry.path for entry in entries if entry.name == "python/pkg.py")
    unreadable.unlink()
    unreadable.mkdir()  # listed as a file, now a folder: opening it fails mid-archive
    from layer_ci.build.zipper import write_entries

    with pytest.raises(IsADirectoryError):
        write_entries(entries, tmp_path / "t.zip")
    assert sha256_file(tmp_path / "t.zip") == good
    assert sorted(p.name for p in tmp_path.iterdir()) == [".t.zip.deflate-index", "src", "t.zip"]


def test_content_change_changes_the_hash(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "src", order_seed=12, mask=0o022)
    before = write_zip(tree, tmp_path / "a.zip")
    (tree / "python/pkg.py").write_bytes(b"import pkg  # edited\n")
    assert write_zip(tree, tmp_path / "b.zip") != before
    (tree / "python/pkg.py").write_bytes(TREE["python/pkg.py"])
    (tree / "python/pkg.py").chmod(0o755)
    assert write_zip(tree, tmp_path / "c.zip") != before, "an exec bit is content for a layer"


def test_compresslevel_is_honoured(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "src", order_seed=13, mask=0o022)
    write_zip(tree, tmp_path / "fast.zip", compresslevel=1)
    write_zip(tree, tmp_path / "best.zip", compresslevel=9)
    assert (tmp_path / "fast.zip").read_bytes() != (tmp_path / "best.zip").read_bytes()
    with zipfile.ZipFile(tmp_path / "fast.zip") as archive:
        assert archive.testzip() is None


def test_large_files_split_into_parallel_blocks_extract_intact(tmp_path: Path) -> None:
    tree = tmp_path / "src"
    (tree / "lib").mkdir(parents=True)
    rng = random.Random(14)
    text = b"".join(b"line %d of a compressible file\n" % i for i in range(200_000))  # ~6 MB, 6 blocks
    noise = rng.randbytes(3 * 1024 * 1024 + 17)
    (tree / "lib" / "text.txt").write_bytes(text)
    (tree / "lib" / "noise.bin").write_bytes(noise)
    (tree / "lib" / "exact.bin").write_bytes(b"x" * (1 << 20))  # exactly one block
    (tree / "lib" / "empty").write_bytes(b"")
    write_zip(tree, tmp_path / "t.zip")
    with zipfile.ZipFile(tmp_path / "t.zip") as archive:
        assert archive.testzip() is None
        assert archive.read("lib/text.txt") == text
        assert archive.read("lib/noise.bin") == noise
        assert archive.read("lib/exact.bin") == b"x" * (1 << 20)
        assert archive.read("lib/empty") == b""
        assert archive.getinfo("lib/text.txt").compress_size < len(text) / 5, "history carried across blocks"
    subprocess.run(["unzip", "-tq", str(tmp_path / "t.zip")], check=True, capture_output=True)


def test_more_than_65535_entries_use_zip64_end_records(tmp_path: Path) -> None:
    from layer_ci.build.zipper import ZipEntry, write_entries

    count = 65_600
    entries = [ZipEntry(f"d{index:05d}/", tmp_path, "dir", 0o755, 0) for index in range(count)]
    write_entries(entries, tmp_path / "many.zip")
    with zipfile.ZipFile(tmp_path / "many.zip") as archive:
        names = archive.namelist()
    assert len(names) == count
    assert names[-1] == f"d{count - 1:05d}/"


def _golden_tree(root: Path) -> Path:
    """Forty small files in four folders, a 2.3 MiB file (three blocks), a link and an empty folder."""
    rng = random.Random(17)
    for index in range(40):
        words = b" ".join(
            rng.choice([b"layer", b"lambda", b"opt", b"python", b"zip"]) for _ in range(200 + 400 * index)
        )
        (root / "python" / f"m{index % 4}").mkdir(parents=True, exist_ok=True)
        (root / "python" / f"m{index % 4}" / f"f{index:02d}.py").write_bytes(words)
    (root / "lib").mkdir()
    big = b"".join(b"row %d %s\n" % (i, rng.randbytes(8).hex().encode()) for i in range(90_000))
    (root / "lib" / "big.txt").write_bytes(big)
    (root / "lib" / "empty").mkdir()
    os.symlink("../python/m0/f00.py", root / "lib" / "link.py")
    return root


# The zip of _golden_tree as layer-ci has written it since its parallel deflate (cc9fe33 and after), per
# zlib version: a layer-ci upgrade that changed these bytes would publish a new version of every
# unchanged layer. Another zlib (zlib-ng, a newer release) may deflate differently; add its value here.
GOLDEN_ZIP_SHA256 = {"1.2.13": "edce0708cb11067f5f78bd9d5a1c11e2da2f3672b185fd899c1a610fd31f4ea7"}


def test_zip_bytes_are_those_earlier_releases_wrote(tmp_path: Path) -> None:
    expected = GOLDEN_ZIP_SHA256.get(zlib.ZLIB_RUNTIME_VERSION)
    if expected is None:
        pytest.skip(f"no recorded zip for zlib {zlib.ZLIB_RUNTIME_VERSION}")
    assert write_zip(_golden_tree(tmp_path / "tree"), tmp_path / "t.zip") == expected


@pytest.mark.parametrize(("workers", "blocks_in_flight"), [(1, 0), (1, 1), (2, 1), (4, 16)])
def test_bytes_do_not_depend_on_workers_or_how_much_is_queued(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int, blocks_in_flight: int
) -> None:
    from layer_ci.build import zipper

    tree = _golden_tree(tmp_path / "tree")
    reference = write_zip(tree, tmp_path / "reference.zip")
    monkeypatch.setattr(zipper.os, "cpu_count", lambda: workers)
    monkeypatch.setattr(zipper, "BLOCKS_IN_FLIGHT_PER_WORKER", blocks_in_flight)
    assert write_zip(tree, tmp_path / "t.zip") == reference


def test_refused_bytes_are_found_in_every_file_even_across_blocks_and_no_zip_is_written(
    tmp_path: Path,
) -> None:
    from layer_ci.build.zipper import ContentRefused, write_entries

    needle = b"/tmp/layer-ci-build-abc123"
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "a.txt").write_bytes(b"x" * ((1 << 20) - 5) + needle + b"tail")  # straddles blocks 1 and 2
    (tree / "clean.txt").write_bytes(b"nothing here" * 100_000)
    (tree / "sub" / "b.cfg").write_bytes(b"prefix=" + needle + b"/staging\n")
    (tree / "sub" / "late.bin").write_bytes(b"y" * (2 << 20) + needle)  # in its third block
    target = tmp_path / "out" / "t.zip"
    with pytest.raises(ContentRefused) as refused:
        write_entries(list_entries(tree), target, refuse_content=[needle, b"/elsewhere"])
    assert refused.value.members == ["a.txt", "sub/b.cfg", "sub/late.bin"]
    assert sorted(p.name for p in target.parent.iterdir()) == []
    assert write_entries(list_entries(tree), target, refuse_content=[b"/somewhere/else", b""])


def test_a_file_that_changes_size_after_listing_stops_the_zip_naming_it(tmp_path: Path) -> None:
    from layer_ci.build.zipper import write_entries

    tree = make_tree(tmp_path / "src", order_seed=12, mask=0o022)
    entries = list_entries(tree)
    (tree / "python" / "pkg.py").write_bytes(b"import pkg  # grew after the listing\n")
    with pytest.raises(BuildError, match=r"python/pkg\.py: changed while it was being zipped"):
        write_entries(entries, tmp_path / "t.zip")
    assert not (tmp_path / "t.zip").exists()
