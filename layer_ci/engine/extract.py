"""Safe, cached extraction of layer zips: hostile entries refused, trees keyed by the zip's SHA-256."""

from __future__ import annotations

import calendar
import contextlib
import hashlib
import json
import lzma
import os
import posixpath
import re
import shutil
import stat
import struct
import tempfile
import time
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from layer_ci.errors import LayerCiError
from layer_ci.fsutil import user_cache_dir, write_atomically
from layer_ci.lambda_spec.native import BinaryFormat, sniff_binary
from layer_ci.model import MAX_UNZIPPED_BYTES

INDEX_FORMAT = 1
_CHUNK = 1 << 20
# A zip's "unix mode" lives in the high 16 bits of external_attr only when it was written on Unix.
_UNIX_CREATOR = 3
_MAX_SYMLINK_TARGET = 4096
_MAX_NAME_BYTES = 4096
_MAX_COMPONENT_BYTES = 255
# Deeper trees than any real layer; also keeps every recursive walk of the tree (os.walk and rmtree are
# recursive before Python 3.12) far from the interpreter's recursion limit.
_MAX_DEPTH = 256
# What a damaged or unsupported entry raises while it is inflated (bz2 raises OSError).
_INFLATE_ERRORS = (
    zipfile.BadZipFile, EOFError, OSError, RuntimeError, NotImplementedError, zlib.error, lzma.LZMAError,
)  # fmt: skip
_DRIVE_RE = re.compile(r"^[A-Za-z]:")
# Files whose mtime is this young may still be rewritten within one timestamp tick: hash them, but
# don't remember the hash (git's "racily clean" rule).
_RACY_WINDOW_NS = 2_000_000_000
# 1980-01-01, the earliest time a zip can express; used when an entry's date is unusable.
_ZIP_EPOCH = 315_532_800

EntryKind = Literal["file", "dir", "symlink"]


class UnsafeZipError(LayerCiError):
    """A layer zip holds an entry layer-ci refuses to extract (path escape, bomb, device, ...)."""


@dataclass(frozen=True)
class ExtractLimits:
    """Caps that stop decompression bombs before they fill the disk.

    The total is Lambda's own 250 MB limit plus a 10% margin, so a layer slightly over the limit still
    extracts and the preflight can report it with its numbers; anything bigger is refused outright.
    """

    max_total_bytes: int = MAX_UNZIPPED_BYTES + MAX_UNZIPPED_BYTES // 10
    max_entries: int = 200_000
    max_ratio: float = 200.0
    ratio_floor_bytes: int = 1 << 20  # small entries may compress absurdly well (runs of zeros) harmlessly


DEFAULT_LIMITS = ExtractLimits()


@dataclass(frozen=True, slots=True)
class TreeEntry:
    """One path in an extracted layer; ``mode`` is the permission bits the zip asked for."""

    path: str
    kind: EntryKind
    size: int = 0
    mode: int = 0o755
    mtime: int = _ZIP_EPOCH
    binary: BinaryFormat | None = None
    elf_machine: int | None = None
    target: str | None = None


@dataclass(frozen=True)
class LayerTree:
    """An extracted layer in the cache: ``root`` holds the files (read-only), the index lists them."""

    sha256: str
    root: Path
    index_path: Path

    @cached_property
    def entries(self) -> tuple[TreeEntry, ...]:
        """Every path, sorted, parents before children (loaded lazily: warm runs often don't need it)."""
        return _read_index(self.index_path, self.sha256)

    @property
    def unzipped_bytes(self) -> int:
        return sum(entry.size for entry in self.entries if entry.kind == "file")


def default_cache_dir() -> Path:
    """``$LAYER_CI_CACHE``, else ``$XDG_CACHE_HOME/layer-ci``, else ``~/.cache/layer-ci``."""
    return user_cache_dir()


def zip_sha256(zip_path: Path, cache_dir: Path | None = None) -> str:
    """The zip's SHA-256 (hex), remembered per file identity so unchanged zips are not re-read."""
    try:
        st = os.stat(zip_path)
    except OSError as exc:
        raise UnsafeZipError(
            f"{zip_path}: cannot read the layer zip ({exc.strerror}); check the path"
        ) from exc
    memo: Path | None = None
    if cache_dir is not None:
        identity = (
            f"{os.path.realpath(zip_path)}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ctime_ns}\0{st.st_ino}"
        )
        memo = cache_dir / "zip-sha256" / hashlib.sha256(identity.encode()).hexdigest()
        with contextlib.suppress(OSError):
            remembered = memo.read_text().strip()
            if re.fullmatch(r"[0-9a-f]{64}", remembered):
                return remembered
    digest = hashlib.sha256()
    with open(zip_path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    hex_digest = digest.hexdigest()
    if memo is not None and time.time_ns() - max(st.st_mtime_ns, st.st_ctime_ns) > _RACY_WINDOW_NS:
        with contextlib.suppress(OSError):
            write_atomically(memo, hex_digest.encode())
    return hex_digest


def extract_layer(
    zip_path: Path,
    cache_dir: Path,
    *,
    limits: ExtractLimits = DEFAULT_LIMITS,
    sha256: str | None = None,
) -> LayerTree:
    """Extract ``zip_path`` into ``<cache>/layers/<sha256>/tree`` once; later calls just look it up.

    Extraction happens in a temporary folder beside the final one and is renamed into place, so a
    crash or a refused zip never leaves a half-written tree that a later run could mistake for done.
    """
    digest = sha256 or zip_sha256(zip_path, cache_dir)
    layers_dir = cache_dir / "layers"
    final = layers_dir / digest
    cached = _cached_tree(final, digest)
    if cached is not None:
        return cached
    layers_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".tmp-{digest[:16]}-", dir=layers_dir))
    try:
        tree_root = work / "tree"
        entries = _extract_into(zip_path, tree_root, limits)
        _write_index(work / "index.json", digest, entries)
        seal_tree(tree_root)
        try:
            os.rename(work, final)
        except OSError:
            # Another process finished the same zip first: theirs is identical, keep it.
            if _cached_tree(final, digest) is None:
                raise
            remove_tree(work)
    except BaseException:
        remove_tree(work)
        raise
    tree = LayerTree(digest, final / "tree", final / "index.json")
    tree.__dict__["entries"] = entries  # already in hand: spare the first reader a JSON parse
    return tree


def layer_tree_path(cache_dir: Path, sha256: str) -> Path:
    return cache_dir / "layers" / sha256


def _cached_tree(final: Path, digest: str) -> LayerTree | None:
    index = final / "index.json"
    if (final / "tree").is_dir() and index.is_file():
        return LayerTree(digest, final / "tree", index)
    if final.exists():  # a folder without its index is not ours to trust: set it aside
        discard(final)
    return None


# ----------------------------------------------------------------------------------------------------
# Validation and writing


@dataclass(frozen=True)
class _Planned:
    info: zipfile.ZipInfo | None  # None for a parent folder the zip only implies
    path: str
    kind: EntryKind
    mode: int
    mtime: int
    target: str | None = None


def _extract_into(zip_path: Path, root: Path, limits: ExtractLimits) -> tuple[TreeEntry, ...]:
    label = str(zip_path)
    try:
        scan_central_directory(zip_path, label, limits)
        archive = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError, ValueError, struct.error) as exc:
        raise UnsafeZipError(
            f"{label}: not a readable zip ({exc}); rebuild or re-download the layer"
        ) from exc
    with archive:
        plan = _plan(archive, label, limits)
        _check_path_lengths(plan, root, label)
        root.mkdir(parents=True)
        entries: list[TreeEntry] = []
        symlinks: list[_Planned] = []
        for item in plan:
            target = root.joinpath(*item.path.split("/"))
            try:
                if item.kind == "dir":
                    target.mkdir(exist_ok=True)
                    entries.append(TreeEntry(item.path, "dir", mode=item.mode))
                elif item.kind == "symlink":
                    symlinks.append(item)  # last, so no file is ever written through a link
                else:
                    assert item.info is not None
                    entries.append(_write_file(archive, item, target, label))
            except OSError as exc:  # a name this file system refuses, a full disk: about this entry
                raise _unwritable(label, item, exc) from exc
        for item in symlinks:
            assert item.target is not None
            try:
                os.symlink(item.target, root.joinpath(*item.path.split("/")))
            except OSError as exc:
                raise _unwritable(label, item, exc) from exc
            entries.append(TreeEntry(item.path, "symlink", size=0, mode=0o777, target=item.target))
        _check_links_inside(root, symlinks, label)
    entries.sort(key=lambda entry: entry.path)
    return tuple(entries)


def _unwritable(label: str, item: _Planned, exc: OSError) -> UnsafeZipError:
    return UnsafeZipError(
        f"{label}: entry {item.path!r} could not be extracted ({exc.strerror or exc}); "
        "shorten or rename it, or free disk space"
    )


def _check_path_lengths(plan: list[_Planned], root: Path, label: str) -> None:
    """Refuse names too long for this file system once under ``root``, before anything is written."""
    folder = root.parent
    try:
        path_max = os.pathconf(folder, "PC_PATH_MAX")
        name_max = os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        path_max, name_max = 4096, 255
    prefix = len(os.fsencode(root)) + 1
    for item in plan:
        encoded = item.path.encode("utf-8", "surrogateescape")
        longest = max(len(part) for part in encoded.split(b"/"))
        if prefix + len(encoded) >= path_max or longest > name_max:
            raise UnsafeZipError(
                f"{label}: entry {item.path[:80]!r}... is too long for this system once extracted "
                f"({prefix + len(encoded):,} bytes under {folder}, limit {path_max:,}; names at most "
                f"{name_max}); shorten the path"
            )


# The fixed parts of the zip format's end-of-central-directory records (APPNOTE 4.3.14-16).
_END = struct.Struct("<4s4H2LH")
_END64_LOCATOR = struct.Struct("<4sLQL")
_END64 = struct.Struct("<4sQ2H2L4Q")
_CENTRAL = struct.Struct("<4s6H3L5H2L")


def scan_central_directory(zip_path: Path, label: str, limits: ExtractLimits) -> int:
    """Read the raw central directory record by record before zipfile loads it; returns the entry count.

    zipfile builds a ZipInfo for every record at once (a million empty entries take over 500 MB) and cuts
    a name at its first NUL (so "evil.py\\0.txt" would extract as "evil.py"). Here the declared count is
    checked first, then the records are streamed, counted and their raw names checked. Anything this scan
    cannot make sense of is left for zipfile to word.
    """
    with open(zip_path, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        tail_start = max(0, size - _END.size - (1 << 16))  # zipfile's window, so both find the same record
        handle.seek(tail_start)
        tail = handle.read()
        at = tail.rfind(b"PK\x05\x06")
        if at < 0 or len(tail) - at < _END.size:
            return 0
        _sig, _disk, _cd_disk, _here, declared, cd_size, _offset, _comment = _END.unpack_from(tail, at)
        location = tail_start + at
        if location >= _END64_LOCATOR.size + _END64.size:
            handle.seek(location - _END64_LOCATOR.size)
            if handle.read(4) == b"PK\x06\x07":
                handle.seek(location - _END64_LOCATOR.size - _END64.size)
                record = handle.read(_END64.size)
                if record[:4] == b"PK\x06\x06":
                    *_, declared, cd_size, _offset = _END64.unpack(record)
                    location -= _END64_LOCATOR.size + _END64.size
        if declared > limits.max_entries:
            raise _too_many(label, f"{declared:,} entries", limits)
        # Where zipfile reads it (location - size, whatever the recorded offset): the two must agree.
        start = location - cd_size
        if start < 0:
            return 0
        handle.seek(start)
        count = consumed = 0
        while consumed < cd_size:
            header = handle.read(_CENTRAL.size)
            if len(header) < _CENTRAL.size or header[:4] != b"PK\x01\x02":
                return count
            fields = _CENTRAL.unpack(header)
            flags, (name_len, extra_len, comment_len) = fields[3], fields[10:13]
            name = handle.read(name_len)
            if b"\x00" in name:
                shown = name.decode("utf-8" if flags & 0x800 else "cp437", "replace")
                raise UnsafeZipError(
                    f"{label}: entry {shown!r} contains a NUL byte (zip tools cut the name there and "
                    "would extract a different file); refusing to extract it"
                )
            handle.seek(extra_len + comment_len, os.SEEK_CUR)
            consumed += _CENTRAL.size + name_len + extra_len + comment_len
            count += 1
            if count > limits.max_entries:
                raise _too_many(label, f"more than {limits.max_entries:,} entries", limits)
        return count


def _too_many(label: str, what: str, limits: ExtractLimits) -> UnsafeZipError:
    return UnsafeZipError(
        f"{label}: {what}, over the cap of {limits.max_entries:,}; "
        "refusing a possible zip bomb (split the layer or raise the cap)"
    )


def _plan(archive: zipfile.ZipFile, label: str, limits: ExtractLimits) -> list[_Planned]:
    infos = archive.infolist()
    if len(infos) > limits.max_entries:
        raise UnsafeZipError(
            f"{label}: {len(infos):,} entries, over the cap of {limits.max_entries:,}; "
            "refusing a possible zip bomb (split the layer or raise the cap)"
        )
    kinds: dict[str, EntryKind] = {}
    plan: list[_Planned] = []
    total = 0
    for info in infos:
        raw = info.filename
        parts = _safe_parts(raw, label)
        if not parts:
            continue  # "./" or "/"-only names carry nothing
        path = "/".join(parts)
        mode = (info.external_attr >> 16) if info.create_system == _UNIX_CREATOR else 0
        file_type = stat.S_IFMT(mode)
        if file_type in (stat.S_IFCHR, stat.S_IFBLK, stat.S_IFIFO, stat.S_IFSOCK):
            raise UnsafeZipError(
                f"{label}: entry {raw!r} is a device, FIFO or socket; layers may only hold files, "
                "folders and symlinks"
            )
        if info.flag_bits & 0x1:
            raise UnsafeZipError(f"{label}: entry {raw!r} is encrypted; Lambda cannot read encrypted zips")
        is_dir = raw.endswith("/") or file_type == stat.S_IFDIR
        kind: EntryKind = "dir" if is_dir else "symlink" if file_type == stat.S_IFLNK else "file"
        _claim_parents(parts, kinds, plan, raw, label, info)
        previous = kinds.get(path)
        if previous is not None and not (previous == "dir" and kind == "dir"):
            raise UnsafeZipError(
                f"{label}: entry {raw!r} appears more than once (as {previous} and {kind}); "
                "a zip with duplicate names extracts differently on different tools: rebuild it"
            )
        if previous == "dir":
            continue
        kinds[path] = kind
        mtime = _zip_time(info)
        if kind == "dir":
            plan.append(_Planned(info, path, "dir", 0o755, mtime))
            continue
        total += info.file_size
        if total > limits.max_total_bytes:
            raise UnsafeZipError(
                f"{label}: entries add up to more than {limits.max_total_bytes:,} bytes unzipped "
                f"(at {raw!r}); refusing a possible zip bomb (Lambda allows {MAX_UNZIPPED_BYTES:,})"
            )
        if info.file_size > limits.ratio_floor_bytes and (
            info.compress_size == 0 or info.file_size / info.compress_size > limits.max_ratio
        ):
            ratio = info.file_size / max(info.compress_size, 1)
            raise UnsafeZipError(
                f"{label}: entry {raw!r} inflates {info.compress_size:,} -> {info.file_size:,} bytes "
                f"({ratio:,.0f}:1, cap {limits.max_ratio:,.0f}:1); refusing a possible zip bomb"
            )
        permissions = 0o755 if mode & 0o111 else 0o644
        if kind == "symlink":
            link_target = _read_link_target(archive, info, label)
            _check_link_lexically(parts, link_target, raw, label)
            plan.append(_Planned(info, path, "symlink", 0o777, mtime, link_target))
        else:
            plan.append(_Planned(info, path, "file", permissions, mtime))
    return plan


def _safe_parts(name: str, label: str) -> list[str]:
    """The name's path components, or an error for anything that could land outside the tree."""
    problem = None
    if "\x00" in name:
        problem = "contains a NUL byte"
    elif "\\" in name:
        problem = "contains a backslash (a Windows path separator that some tools treat as a folder)"
    elif name.startswith("/"):
        problem = "is an absolute path"
    elif _DRIVE_RE.match(name):
        problem = "starts with a drive letter"
    elif len(name.encode("utf-8", "surrogateescape")) > _MAX_NAME_BYTES:
        problem = "is longer than 4096 bytes"
    if problem is None:
        parts = [part for part in name.split("/") if part not in ("", ".")]
        if ".." in parts:
            problem = "contains '..' (zip-slip: it would be written outside the layer)"
        elif any(len(part.encode("utf-8", "surrogateescape")) > _MAX_COMPONENT_BYTES for part in parts):
            problem = "has a path component longer than 255 bytes"
        elif len(parts) > _MAX_DEPTH:
            problem = f"is {len(parts):,} folders deep (at most {_MAX_DEPTH} are allowed)"
        else:
            return parts
    raise UnsafeZipError(f"{label}: entry {name!r} {problem}; refusing to extract it")


def _claim_parents(
    parts: list[str],
    kinds: dict[str, EntryKind],
    plan: list[_Planned],
    raw: str,
    label: str,
    info: zipfile.ZipInfo,
) -> None:
    for depth in range(1, len(parts)):
        parent = "/".join(parts[:depth])
        kind = kinds.get(parent)
        if kind is None:
            kinds[parent] = "dir"
            plan.append(_Planned(None, parent, "dir", 0o755, _zip_time(info)))
        elif kind != "dir":
            raise UnsafeZipError(
                f"{label}: entry {raw!r} lies under {parent!r}, which the zip also holds as a {kind}; "
                "refusing an ambiguous (possibly link-following) layout"
            )


def _read_link_target(archive: zipfile.ZipFile, info: zipfile.ZipInfo, label: str) -> str:
    if info.file_size > _MAX_SYMLINK_TARGET:
        raise UnsafeZipError(
            f"{label}: symlink {info.filename!r} has a {info.file_size}-byte target; refusing"
        )
    try:
        data = archive.read(info)
    except _INFLATE_ERRORS as exc:
        raise UnsafeZipError(
            f"{label}: symlink {info.filename!r} is corrupt ({exc}); rebuild the zip"
        ) from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnsafeZipError(f"{label}: symlink {info.filename!r} has a target that is not UTF-8") from exc


def _check_link_lexically(parts: list[str], link_target: str, raw: str, label: str) -> None:
    problem = None
    if not link_target or "\x00" in link_target:
        problem = "an empty or NUL-containing target"
    elif link_target.startswith("/") or _DRIVE_RE.match(link_target) or "\\" in link_target:
        problem = f"the absolute target {link_target!r} (use a relative link inside the layer)"
    else:
        resolved = posixpath.normpath(
            posixpath.join(*parts[:-1], link_target) if len(parts) > 1 else link_target
        )
        if resolved == ".." or resolved.startswith("../"):
            problem = f"the target {link_target!r}, which points outside the layer"
    if problem is not None:
        raise UnsafeZipError(f"{label}: symlink {raw!r} has {problem}; refusing to extract it")


def _check_links_inside(root: Path, symlinks: list[_Planned], label: str) -> None:
    """Resolve every link on disk: chains of individually harmless links can still climb out."""
    real_root = os.path.realpath(root)
    for item in symlinks:
        resolved = os.path.realpath(root.joinpath(*item.path.split("/")))
        if resolved != real_root and not resolved.startswith(real_root + os.sep):
            raise UnsafeZipError(
                f"{label}: symlink {item.path!r} -> {item.target!r} resolves outside the layer "
                "(through other links); refusing to extract it"
            )


def _write_file(archive: zipfile.ZipFile, item: _Planned, target: Path, label: str) -> TreeEntry:
    info = item.info
    assert info is not None
    written = 0
    head = b""
    # O_EXCL + O_NOFOLLOW: never follow or reuse something already there (links are created later).
    fd = os.open(
        target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), 0o600
    )
    try:
        with os.fdopen(fd, "wb", closefd=True) as out, archive.open(info) as source:
            while chunk := source.read(_CHUNK):
                if not head:
                    head = chunk[:64]
                written += len(chunk)
                if written > info.file_size:
                    raise UnsafeZipError(
                        f"{label}: entry {info.filename!r} inflates past its declared {info.file_size:,} "
                        "bytes; refusing a forged zip"
                    )
                out.write(chunk)
    except _INFLATE_ERRORS as exc:
        raise UnsafeZipError(
            f"{label}: entry {info.filename!r} could not be extracted ({exc}); rebuild or re-download the zip"
        ) from exc
    os.chmod(target, _read_only(item.mode))
    os.utime(target, ns=(item.mtime * 1_000_000_000, item.mtime * 1_000_000_000))
    binary, machine = sniff_binary(head)
    return TreeEntry(item.path, "file", written, item.mode, item.mtime, binary, machine)


def _zip_time(info: zipfile.ZipInfo) -> int:
    try:
        return calendar.timegm((*info.date_time, 0, 0, 0))
    except (ValueError, OverflowError):
        return _ZIP_EPOCH


def _read_only(mode: int) -> int:
    # Lambda mounts /opt read-only; the cache's trees are shared (hardlinked) by every assembled /opt.
    return 0o555 if mode & 0o111 else 0o444


# ----------------------------------------------------------------------------------------------------
# Index, sealing and removal


def _write_index(path: Path, digest: str, entries: tuple[TreeEntry, ...]) -> None:
    rows = [[e.path, e.kind, e.size, e.mode, e.mtime, e.binary, e.elf_machine, e.target] for e in entries]
    document = {"format": INDEX_FORMAT, "sha256": digest, "entries": rows}
    write_atomically(path, json.dumps(document, separators=(",", ":")).encode())


def _read_index(path: Path, digest: str) -> tuple[TreeEntry, ...]:
    document: dict[str, Any] = json.loads(path.read_bytes())
    if document.get("format") != INDEX_FORMAT or document.get("sha256") != digest:
        raise UnsafeZipError(f"{path}: cache index is from another layer-ci version; delete {path.parent}")
    return tuple(
        TreeEntry(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7])
        for row in document["entries"]
    )


def seal_tree(root: Path) -> None:
    """Make every folder under ``root`` read-only, deepest first (files are already read-only)."""
    for folder, _dirs, _files in _walk_bottom_up(root):
        os.chmod(folder, 0o555)  # noqa: S103 - read-only for everyone, like /opt in Lambda


def _walk_bottom_up(root: Path) -> Iterator[tuple[str, list[str], list[str]]]:
    yield from os.walk(root, topdown=False, followlinks=False)


def discard(path: Path) -> None:
    """Move a cache folder out of the way atomically, then delete it: readers never see half of it."""
    if not path.exists() and not path.is_symlink():
        return
    trash = path.parent / f".trash-{path.name}-{os.getpid()}-{time.monotonic_ns()}"
    try:
        os.rename(path, trash)
    except OSError:
        return  # someone else moved it first
    remove_tree(trash)


def remove_tree(path: Path) -> None:
    """Delete a tree layer-ci made read-only (restores write permission on folders as it goes)."""
    if not path.exists() and not path.is_symlink():
        return

    def _retry_writable(func: Any, failed: str, _exc: Any) -> None:
        parent = os.path.dirname(failed)
        with contextlib.suppress(OSError):
            os.chmod(parent, 0o700)
        with contextlib.suppress(OSError):
            if not os.path.islink(failed) and os.path.isdir(failed):
                os.chmod(failed, 0o700)
        func(failed)

    for folder, _dirs, _files in os.walk(path, followlinks=False):
        with contextlib.suppress(OSError):
            os.chmod(folder, 0o700)
    if path.is_symlink() or path.is_file():
        path.unlink()
        return
    shutil.rmtree(path, onerror=_retry_writable)  # onexc only exists from 3.12
