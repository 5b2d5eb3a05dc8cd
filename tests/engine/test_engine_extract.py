"""Safe extraction: layers land in the cache once, read-only; hostile zips are refused and write nothing."""

from __future__ import annotations

import os
import stat
import zipfile
from pathlib import Path

import pytest

from layer_ci.engine import extract as extract_module
from layer_ci.engine.extract import ExtractLimits, UnsafeZipError, extract_layer, remove_tree, zip_sha256
from tests.engine.engine_support import (
    ELF_MACHINE,
    HOST_ARCH,
    Entry,
    crafted_elf,
    device,
    file,
    folder,
    host_shared_object,
    link,
    tree_snapshot,
    write_zip,
)


def test_extracts_files_modes_links_and_indexes_native_code(tmp_path: Path) -> None:
    zip_path = write_zip(
        tmp_path / "layer.zip",
        [
            file("python/mylib.py", "VALUE = 1\n"),
            file("bin/tool", "#!/bin/sh\necho hi\n", mode=0o755),
            file("lib/libzcopy.so", host_shared_object().read_bytes()),
            file("lib/foreign.so", crafted_elf(183)),
            link("lib/libzcopy.so.1", "libzcopy.so"),
        ],
    )
    tree = extract_layer(zip_path, tmp_path / "cache")

    assert tree.root == tmp_path / "cache" / "layers" / tree.sha256 / "tree"
    assert (tree.root / "python" / "mylib.py").read_text() == "VALUE = 1\n"
    tool_mode = stat.S_IMODE((tree.root / "bin" / "tool").stat().st_mode)
    assert tool_mode == 0o555  # executable kept, write bits dropped: layers are read-only in Lambda
    assert stat.S_IMODE((tree.root / "python" / "mylib.py").stat().st_mode) == 0o444
    assert stat.S_IMODE((tree.root / "python").stat().st_mode) == 0o555
    assert os.readlink(tree.root / "lib" / "libzcopy.so.1") == "libzcopy.so"
    by_path = {entry.path: entry for entry in tree.entries}
    assert by_path["lib/libzcopy.so"].binary == "elf"
    assert by_path["lib/libzcopy.so"].elf_machine == ELF_MACHINE[HOST_ARCH]
    assert by_path["lib/foreign.so"].elf_machine == 183
    assert by_path["python/mylib.py"].binary is None
    assert by_path["lib/libzcopy.so.1"].kind == "symlink"
    assert by_path["python"].kind == "dir"  # implied folders are listed too
    assert tree.unzipped_bytes == sum(e.size for e in tree.entries if e.kind == "file")


def test_second_extraction_is_a_cache_hit_that_extracts_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    zip_path = write_zip(tmp_path / "layer.zip", [file("python/a.py", "A = 1\n")])
    cache = tmp_path / "cache"
    calls: list[Path] = []
    real = extract_module._extract_into

    def counting(path: Path, root: Path, limits: ExtractLimits) -> tuple[extract_module.TreeEntry, ...]:
        calls.append(path)
        return real(path, root, limits)

    monkeypatch.setattr(extract_module, "_extract_into", counting)
    first = extract_layer(zip_path, cache)
    marker = (first.root / "python" / "a.py").stat().st_ino
    second = extract_layer(zip_path, cache)

    assert len(calls) == 1
    assert second.root == first.root
    assert (second.root / "python" / "a.py").stat().st_ino == marker
    assert [e.path for e in second.entries] == [e.path for e in first.entries]  # read back from the index
    # The same bytes under another name are the same layer: still nothing extracted.
    copy = tmp_path / "elsewhere" / "renamed.zip"
    copy.parent.mkdir()
    copy.write_bytes(zip_path.read_bytes())
    assert extract_layer(copy, cache).root == first.root
    assert len(calls) == 1


def test_zip_hash_is_remembered_per_file_identity(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    zip_path = write_zip(tmp_path / "layer.zip", [file("python/a.py", "A = 1\n")])
    cache = tmp_path / "cache"
    zip_sha256(zip_path, cache)
    assert not (cache / "zip-sha256").exists()  # a file written this very moment may still change: not kept
    monkeypatch.setattr(extract_module, "_RACY_WINDOW_NS", 0)
    cache = tmp_path / "cache"
    digest = zip_sha256(zip_path, cache)
    memo_files = list((cache / "zip-sha256").iterdir())
    assert len(memo_files) == 1 and memo_files[0].read_text() == digest
    # Rewriting the file changes its identity (ctime), so a stale digest is never reused.
    write_zip(zip_path, [file("python/a.py", "A = 2\n")])
    assert zip_sha256(zip_path, cache) != digest


HOSTILE = {
    "zip-slip": ([file("python/../../evil.py", "x")], "zip-slip"),
    "absolute": ([file("/etc/evil.conf", "x")], "absolute path"),
    "backslash": ([file("..\\..\\evil.py", "x")], "backslash"),
    "drive-letter": ([file("C:/evil.py", "x")], "drive letter"),
    "outward-symlink": ([link("python/escape", "../../../outside")], "outside the layer"),
    "absolute-symlink": ([link("python/passwd", "/etc/passwd")], "absolute target"),
    "symlink-chain": ([link("a", "."), link("b", "a/..")], "resolves outside the layer"),
    "device": ([device("dev/null")], "device"),
    "duplicate": ([file("python/x.py", "1"), file("python/x.py", "2")], "more than once"),
    "file-under-file": ([file("python/x", "1"), file("python/x/y.py", "2")], "ambiguous"),
    "write-through-link": ([link("python/d", "."), file("python/d/y.py", "2")], "ambiguous"),
    "ratio-bomb": ([file("python/zeros.bin", bytes(8 * 1024 * 1024))], "zip bomb"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_zips_are_refused_and_write_nothing_outside_the_cache(tmp_path: Path, case: str) -> None:
    entries, expected = HOSTILE[case]
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    (workspace / "bystander.txt").write_text("untouched")
    zip_path = write_zip(tmp_path / "zips" / f"{case}.zip", entries)
    cache = workspace / "deep" / "cache"
    before = tree_snapshot(tmp_path)

    with pytest.raises(UnsafeZipError) as caught:
        extract_layer(zip_path, cache)

    message = str(caught.value)
    assert expected in message
    assert str(zip_path) in message  # the error names the zip ...
    after = tree_snapshot(tmp_path)
    created = {path for path in after if path not in before}
    # ... and nothing appeared anywhere but the (now empty) cache folders themselves.
    assert created <= {"workspace/deep", "workspace/deep/cache", "workspace/deep/cache/layers"}, created
    assert all(after[path] == size for path, size in before.items())


def test_error_names_the_entry(tmp_path: Path) -> None:
    zip_path = write_zip(tmp_path / "slip.zip", [file("ok.txt", "fine"), file("../evil.py", "x")])
    with pytest.raises(UnsafeZipError, match=r"slip\.zip: entry '\.\./evil\.py' contains '\.\.'"):
        extract_layer(zip_path, tmp_path / "cache")


def test_bomb_caps_total_size_and_entry_count(tmp_path: Path) -> None:
    zip_path = write_zip(tmp_path / "big.zip", [file(f"python/f{i}.txt", "x" * 1000) for i in range(20)])
    with pytest.raises(UnsafeZipError, match="more than 5,000 bytes unzipped"):
        extract_layer(zip_path, tmp_path / "cache", limits=ExtractLimits(max_total_bytes=5_000))
    with pytest.raises(UnsafeZipError, match="20 entries, over the cap of 10"):
        extract_layer(zip_path, tmp_path / "cache", limits=ExtractLimits(max_entries=10))
    # Well-compressed small files are fine: the ratio cap starts at 1 MB per entry.
    assert extract_layer(zip_path, tmp_path / "cache").unzipped_bytes == 20_000


def test_entry_inflating_past_its_declared_size_is_refused(tmp_path: Path) -> None:
    zip_path = write_zip(
        tmp_path / "forged.zip", [file("python/a.txt", "A" * 4096)], compression=zipfile.ZIP_STORED
    )
    # Forge the central directory to declare a smaller size than the data holds.
    data = bytearray(zip_path.read_bytes())
    central = data.rindex(b"PK\x01\x02")
    data[central + 24 : central + 28] = (100).to_bytes(4, "little")
    zip_path.write_bytes(bytes(data))
    with pytest.raises(UnsafeZipError, match=r"python/a\.txt"):
        extract_layer(zip_path, tmp_path / "cache")
    assert not any((tmp_path / "cache" / "layers").iterdir())


def test_not_a_zip_is_one_clear_error(tmp_path: Path) -> None:
    bogus = tmp_path / "layer.zip"
    bogus.write_text("definitely not a zip")
    with pytest.raises(UnsafeZipError, match="not a readable zip"):
        extract_layer(bogus, tmp_path / "cache")


def test_explicit_folder_entries_and_dot_segments_are_fine(tmp_path: Path) -> None:
    zip_path = write_zip(
        tmp_path / "layer.zip",
        [folder("python"), file("./python/a.py", "A = 1\n"), Entry("python/sub/", kind="dir")],
    )
    tree = extract_layer(zip_path, tmp_path / "cache")
    assert {e.path for e in tree.entries} == {"python", "python/a.py", "python/sub"}


def test_remove_tree_deletes_read_only_trees(tmp_path: Path) -> None:
    zip_path = write_zip(tmp_path / "layer.zip", [file("python/pkg/a.py", "A = 1\n")])
    tree = extract_layer(zip_path, tmp_path / "cache")
    remove_tree(tree.root.parent)
    assert not tree.root.parent.exists()
    # A missing index makes the cached folder untrustworthy: it is replaced, not used.
    again = extract_layer(zip_path, tmp_path / "cache")
    (again.root.parent / "index.json").unlink()
    assert extract_layer(zip_path, tmp_path / "cache").entries


def test_the_raw_directory_scan_counts_what_zipfile_reads(tmp_path: Path) -> None:
    """A zip with data in front (a self-extractor stub), a comment and a ZIP64 directory still extracts."""
    from layer_ci.engine.extract import scan_central_directory

    plain = write_zip(tmp_path / "plain.zip", [file(f"python/m{i}.py", f"x = {i}\n") for i in range(5)])
    stubbed = tmp_path / "stubbed.zip"
    stubbed.write_bytes(b"#!/bin/sh\nexit 0\n" + plain.read_bytes())
    with zipfile.ZipFile(stubbed, "a") as archive:
        archive.comment = b"built by a self-extracting archiver"
    forced64 = tmp_path / "zip64.zip"
    with zipfile.ZipFile(forced64, "w") as archive:
        for i in range(3):
            with archive.open(f"python/big{i}.py", "w", force_zip64=True) as handle:
                handle.write(b"y = 1\n")
    for path, count in ((plain, 5), (stubbed, 5), (forced64, 3)):
        assert scan_central_directory(path, str(path), ExtractLimits()) == count, path
        tree = extract_layer(path, tmp_path / "cache")
        assert len([e for e in tree.entries if e.kind == "file"]) == count
