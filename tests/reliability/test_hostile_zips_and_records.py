"""Bad input that used to be reported as a bug (exit 70): damaged and hostile zips, damaged registry records.

Each one must be a one-line refusal naming the file (and the entry or field), exit 1 or 2, no traceback,
and no ``.tmp-*`` folder left in the cache. The zips go through `layer-ci test --layer x=evil.zip` (as
in test_hostile_input); the registry records through `layer-ci publish`, which reads every recorded
version to avoid publishing the same zip twice.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from layer_ci.engine.extract import ExtractLimits, UnsafeZipError, extract_layer
from tests.engine.engine_support import file, link, write_zip
from tests.reliability.test_hostile_input import make_canary_repo

EXIT_BUG = 70


@pytest.fixture
def canary(code_writable: Path) -> Path:
    return code_writable / "ran"


@pytest.fixture
def repo(tmp_path: Path, canary: Path) -> Path:
    return make_canary_repo(tmp_path, canary=canary)


def layer_ci(
    repo: Path, *args: str, cache: Path, rss_file: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LAYER_CI_", "AWS_", "GITHUB_"))}
    env["LAYER_CI_CACHE"] = str(cache)
    # The CLI, and on the way out its peak memory (VmHWM, KiB) when asked for. Not ru_maxrss: Linux
    # carries the forking parent's high-water mark over into the child's.
    script = (
        "import atexit, sys\n"
        "from layer_ci.cli import main\n"
        + (
            f"atexit.register(lambda: open({str(rss_file)!r}, 'w').write(next("
            "line.split()[1] for line in open('/proc/self/status') if line.startswith('VmHWM:'))))\n"
            if rss_file
            else ""
        )
        + "sys.exit(main(sys.argv[1:]))\n"
    )
    return subprocess.run(
        [sys.executable, "-c", script, "--config", str(repo / "layer-ci.yml"), *args],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def assert_refused(done: subprocess.CompletedProcess[str], named: str, words: str) -> str:
    assert done.returncode not in (0, EXIT_BUG), done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert "internal error" not in done.stderr, done.stderr
    lines = [
        line
        for line in done.stderr.splitlines()
        if line.startswith(("layer-ci: error:", "layer-ci: refused:"))
    ]
    assert len(lines) == 1, done.stderr
    assert named in lines[0] and words in lines[0], lines[0]
    return lines[0]


def leftovers(cache: Path) -> list[str]:
    layers = cache / "layers"
    return sorted(p.name for p in layers.iterdir() if p.name.startswith(".tmp-")) if layers.is_dir() else []


# ----------------------------------------------------------------------------------------- raw patching


def patch_headers(
    path: Path, name: bytes, *, method: int | None = None, new_name: bytes | None = None
) -> None:
    """Rewrite one entry's compression method and/or name (same length) in its local and central headers."""
    data = bytearray(path.read_bytes())
    for signature, method_at, name_len_at, fixed in ((b"PK\x03\x04", 8, 26, 30), (b"PK\x01\x02", 10, 28, 46)):
        start = 0
        while (at := data.find(signature, start)) >= 0:
            start = at + 4
            (length,) = struct.unpack_from("<H", data, at + name_len_at)
            if bytes(data[at + fixed : at + fixed + length]) != name:
                continue
            if method is not None:
                struct.pack_into("<H", data, at + method_at, method)
            if new_name is not None:
                assert len(new_name) == len(name)
                data[at + fixed : at + fixed + length] = new_name
    path.write_bytes(bytes(data))


def corrupt_deflate(path: Path) -> Path:
    write_zip(path, [file("python/common.py", "VALUE = 2\n" * 200)])
    data = bytearray(path.read_bytes())
    start = 30 + len("python/common.py")
    data[start : start + 8] = b"\xff" * 8  # an invalid deflate block type: zlib.error, not a CRC error
    path.write_bytes(bytes(data))
    return path


def deflate64_symlink(path: Path) -> Path:
    write_zip(
        path,
        [file("python/common.py", "VALUE = 2\n"), link("python/alias.py", "common.py")],
        compression=zipfile.ZIP_STORED,
    )
    patch_headers(path, b"python/alias.py", method=9)  # Deflate64: zipfile cannot read it
    return path


def name_too_long_for_the_system(path: Path) -> Path:
    # Every component under 255 bytes and the whole under 4,096, but not once it sits in the cache.
    deep = "/".join(["d" * 250] * 16) + "/" + "c" * 30 + ".py"
    assert 4000 < len("python/" + deep) < 4096
    return write_zip(path, [file("python/common.py", "VALUE = 2\n"), file("python/" + deep, "x = 1\n")])


def deep_tree(path: Path) -> Path:
    return write_zip(
        path, [file("python/common.py", "VALUE = 2\n"), file("python/" + "d/" * 1500 + "x.py", "")]
    )


def nul_in_name(path: Path) -> Path:
    # zipfile cuts a name at its NUL: "python/evil.py\0.so" would extract as "python/evil.py".
    write_zip(path, [file("python/common.py", "VALUE = 2\n"), file("python/evil.pyX.so", "x = 1\n")])
    patch_headers(path, b"python/evil.pyX.so", new_name=b"python/evil.py\x00.so")
    assert "python/evil.py" in zipfile.ZipFile(path).namelist()
    return path


ZIPS: dict[str, tuple[Callable[[Path], Path], str]] = {
    "corrupt-deflate": (corrupt_deflate, "python/common.py"),
    "deflate64-symlink": (deflate64_symlink, "python/alias.py"),
    "name-too-long-for-the-system": (name_too_long_for_the_system, "too long"),
    "1500-deep": (deep_tree, "folders deep"),
    "nul-in-name": (nul_in_name, "NUL"),
}


@pytest.mark.parametrize("case", sorted(ZIPS))
def test_a_damaged_or_hostile_zip_is_a_one_line_refusal(
    repo: Path, tmp_path: Path, canary: Path, case: str
) -> None:
    make, words = ZIPS[case]
    evil = make(tmp_path / "zips" / "evil.zip")
    cache = tmp_path / "cache"
    done = layer_ci(repo, "test", "canary", "--layer", f"common={evil}", cache=cache)
    assert_refused(done, str(evil), words)
    assert leftovers(cache) == []
    assert not canary.exists(), "function code ran against a refused layer"


# ------------------------------------------------------------------------ a million-entry central directory


def central_directory_bomb(path: Path, entries: int, *, claimed: int | None = None) -> Path:
    """One stored empty file, then ``entries`` central-directory records all pointing at it (53 B each)."""
    name = b"f/00000"
    local = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 0, 0, 0, 0, 0, 0, len(name), 0) + name
    records = []
    for index in range(entries):
        entry_name = b"f/%05x" % (index % 0xFFFFF)
        records.append(
            struct.pack(
                "<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 0, 0, 0, 0, 0, 0, len(entry_name), 0, 0, 0, 0, 0, 0
            )
            + entry_name
        )
    directory = b"".join(records)
    count = min(claimed if claimed is not None else entries, 0xFFFF)
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, count, count, len(directory), len(local), 0)
    if claimed is None and entries >= 0xFFFF:  # a ZIP64 end record carries the true count
        zip64_at = len(local) + len(directory)
        zip64 = struct.pack(
            "<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, entries, entries, len(directory), len(local)
        )
        locator = struct.pack("<4sLQL", b"PK\x06\x07", 0, zip64_at, 1)
        end = (
            zip64
            + locator
            + struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(local + directory + end)
    return path


def test_a_million_entry_zip_is_refused_before_its_directory_is_in_memory(repo: Path, tmp_path: Path) -> None:
    bomb = central_directory_bomb(tmp_path / "zips" / "bomb.zip", 1_000_000)
    assert bomb.stat().st_size > 50_000_000
    cache = tmp_path / "cache"
    rss = tmp_path / "rss"
    done = layer_ci(repo, "test", "canary", "--layer", f"common={bomb}", cache=cache, rss_file=rss)
    assert_refused(done, str(bomb), "1,000,000 entries")
    assert leftovers(cache) == []
    peak_mib = int(rss.read_text()) / 1024
    assert peak_mib < 150, f"peak memory {peak_mib:.0f} MiB: the central directory was read into memory"


def test_an_end_record_that_understates_the_entries_does_not_get_past_the_cap(tmp_path: Path) -> None:
    """The end record claims 10 entries, the directory holds 5,000: the records themselves are counted."""
    bomb = central_directory_bomb(tmp_path / "liar.zip", 5_000, claimed=10)
    with pytest.raises(UnsafeZipError, match="more than 1,000 entries"):
        extract_layer(bomb, tmp_path / "cache", limits=ExtractLimits(max_entries=1_000))
    assert leftovers(tmp_path / "cache") == []


# ------------------------------------------------------------------------------ local registry records


def _record(path: Path) -> dict[str, object]:
    loaded: dict[str, object] = json.loads(path.read_text())
    return loaded


DAMAGES: dict[str, Callable[[Path], None]] = {
    "empty": lambda p: p.write_text(""),
    "truncated": lambda p: p.write_text(p.read_text()[:40]),
    "not-utf8": lambda p: p.write_bytes(b"\xff\xfe" + p.read_bytes()),
    "a-list": lambda p: p.write_text("[1, 2]"),
    "no-version": lambda p: p.write_text(json.dumps({k: v for k, v in _record(p).items() if k != "Version"})),
    "version-not-a-number": lambda p: p.write_text(json.dumps({**_record(p), "Version": "one"})),
    "bad-date": lambda p: p.write_text(json.dumps({**_record(p), "CreatedDate": "yesterday"})),
    "runtimes-a-number": lambda p: p.write_text(json.dumps({**_record(p), "CompatibleRuntimes": 3})),
    "arn-a-mapping": lambda p: p.write_text(json.dumps({**_record(p), "LayerVersionArn": {"a": 1}})),
    "version-of-another-file": lambda p: p.write_text(json.dumps({**_record(p), "Version": 7})),
}


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_a_damaged_local_registry_record_is_named_in_one_line(
    repo: Path, tmp_path: Path, damage: str
) -> None:
    cache = tmp_path / "cache"
    first = layer_ci(repo, "publish", "--commit", "0" * 40, cache=cache)
    assert first.returncode == 0, first.stdout + first.stderr
    records = list((repo / ".layer-ci" / "registry").rglob("1.json"))
    assert len(records) == 1, records
    DAMAGES[damage](records[0])
    (repo / "layers" / "common" / "python" / "common.py").write_text("VALUE = 2\n")
    done = layer_ci(repo, "publish", "--commit", "1" * 40, cache=cache)
    line = assert_refused(done, str(records[0]), "registry record")
    assert "restore" in line or "delete" in line, line
