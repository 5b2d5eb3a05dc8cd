"""Deterministic, streaming zip writer: one tree, one byte stream, whatever mtimes, umask or walk order.

The archive format is written here rather than through ``zipfile`` so that deflate can run on every core:
each file is cut into 1 MiB blocks compressed in parallel, each primed with the 32 KiB before it and
ended with a sync flush (as pigz does), which concatenates into one ordinary deflate stream. The output
depends only on the entries, the level and zlib's deflate; a bounded window of blocks keeps memory flat.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import stat
import struct
import tempfile
import zlib
from collections import deque
from collections.abc import Generator, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

from layer_ci.build.deflate_reuse import BlockRecord, PreviousBlocks, block_name, open_previous, record_blocks
from layer_ci.errors import BuildError

UNIX_CREATE_SYSTEM = 3
CHUNK_SIZE = 1 << 20  # big enough that per-call overhead vanishes next to zlib, small enough for flat memory
BLOCKS_IN_FLIGHT_PER_WORKER = 3  # read ahead of the writer: keeps every worker busy, memory flat
DEFLATE_WINDOW = 32 * 1024  # deflate's history: a block primed with this much loses nothing to the split
# 1980-01-01 00:00:00, the earliest DOS date a zip can hold (reproducible-build tools clamp to it too).
_DOS_TIME, _DOS_DATE = 0, (0 << 9) | (1 << 5) | 1
_VERSION = 20  # 2.0: deflate and folders
_VERSION_ZIP64 = 45
_MADE_BY = (UNIX_CREATE_SYSTEM << 8) | _VERSION
_UTF8_NAME = 0x800
_STORED, _DEFLATED = 0, 8
_DOS_DIRECTORY_FLAG = 0x10  # low byte of external_attr; zip -r and zipfile set it on folder entries
_MAX_32 = 0xFFFFFFFF
_MAX_16 = 0xFFFF
_LOCAL = struct.Struct("<IHHHHHIIIHH")
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")
_END = struct.Struct("<IHHHHIIH")
_END64 = struct.Struct("<IQHHIIQQQQ")
_LOCATOR64 = struct.Struct("<IIQI")

EntryKind = Literal["file", "dir", "symlink"]


@dataclass(frozen=True)
class ZipEntry:
    """One archive member: its POSIX name (directories end with ``/``), where it is on disk and what it holds.

    ``mode`` is already normalised (0o755 / 0o644, 0o777 for symlinks); ``size`` is the unzipped size
    (the link text's length for symlinks, 0 for directories).
    """

    name: str
    path: Path
    kind: EntryKind
    mode: int
    size: int
    link_target: str = ""


def normalised_mode(st_mode: int) -> int:
    """Permission bits as stored: executable for all if executable for anyone, else read-only for others."""
    if stat.S_ISDIR(st_mode):
        return 0o755
    return 0o755 if st_mode & 0o111 else 0o644


def list_entries(src_dir: Path) -> list[ZipEntry]:
    """Every file, directory and in-tree symlink under ``src_dir``, sorted by name bytes; refuses the rest.

    Directories are explicit entries (as ``zip -r`` and SAM write them) so that empty folders survive
    extraction; the root itself is not an entry. Symlinks are never followed.
    """
    root = Path(src_dir)
    if not root.is_dir():
        raise BuildError(f"{root}: not a folder; nothing to zip")
    entries: list[ZipEntry] = []
    _walk(root, "", entries, os.path.realpath(root))
    entries.sort(key=lambda entry: entry.name.encode("utf-8"))
    return entries


def _walk(folder: Path, prefix: str, entries: list[ZipEntry], real_root: str) -> None:
    with os.scandir(folder) as scan:
        children = list(scan)
    for child in children:
        relative = prefix + child.name
        _check_name(relative)
        path = Path(child.path)
        st = child.stat(follow_symlinks=False)
        if stat.S_ISLNK(st.st_mode):
            target = os.readlink(path)
            _check_link(relative, target, path, real_root)
            entries.append(ZipEntry(relative, path, "symlink", 0o777, len(target.encode("utf-8")), target))
        elif stat.S_ISDIR(st.st_mode):
            entries.append(ZipEntry(relative + "/", path, "dir", 0o755, 0))
            _walk(path, relative + "/", entries, real_root)
        elif stat.S_ISREG(st.st_mode):
            entries.append(ZipEntry(relative, path, "file", normalised_mode(st.st_mode), st.st_size))
        else:
            raise BuildError(
                f"{relative}: not a regular file, folder or symlink (a device, socket or pipe); "
                "remove it from the layer"
            )


def _check_name(relative: str) -> None:
    try:
        relative.encode("utf-8")
    except UnicodeEncodeError:
        raise BuildError(
            f"{relative.encode('utf-8', 'surrogateescape')!r}: file name is not valid UTF-8; rename it"
        ) from None


def _check_link(relative: str, target: str, path: Path, real_root: str) -> None:
    # Lambda extracts layers under /opt: an absolute or escaping link would point at the host, not the layer.
    # The lexical check catches `../x`; the real-path check catches escapes through other in-tree links.
    lexical = posixpath.normpath(posixpath.join(posixpath.dirname(relative), target))
    real = os.path.realpath(path)
    escapes = (
        lexical == ".." or lexical.startswith("../") or os.path.commonpath([real, real_root]) != real_root
    )
    if posixpath.isabs(target) or escapes:
        raise BuildError(
            f"{relative}: symlink to {target!r} points outside the layer; "
            "copy the file into the layer or make the link relative to a file inside it"
        )
    if not os.path.exists(path):  # dangling, or a loop: under /opt it would fail only when first used
        raise BuildError(
            f"{relative}: symlink to {target!r} leads to nothing in the layer; "
            "create the file it names or remove the link"
        )
    _check_name(target)


@dataclass
class _Member:
    """A member being written: what its local header needs and, later, the central directory."""

    name: bytes
    flags: int
    method: int
    external_attr: int
    offset: int = 0
    crc: int = 0
    compressed: int = 0
    size: int = 0


@dataclass(frozen=True)
class _Piece:
    """One unit of output in archive order: a whole non-file member, or one block of a file."""

    member: _Member
    first: bool
    last: bool
    raw_size: int
    crc: int  # running CRC of the file up to and including this block
    data: Future[_Deflated] | _Deflated | bytes  # bytes when nothing needs compressing (folders, links)


@dataclass(frozen=True)
class _Deflated:
    """A file block's deflate output, its name (deflate_reuse.block_name), whether it holds refused bytes."""

    name: bytes
    data: bytes
    digest: bytes = b""  # SHA-256 of data, for the next zip's index
    refused: bool = False


class ContentRefused(BuildError):
    """Files whose bytes contain what ``write_entries`` was told to refuse; no zip was written."""

    def __init__(self, members: list[str]) -> None:
        super().__init__(f"refused content in {', '.join(members)}")
        self.members = members


def _member(entry: ZipEntry) -> _Member:
    name = entry.name.encode("utf-8")
    flags = 0 if name.isascii() else _UTF8_NAME
    if entry.kind == "dir":
        return _Member(name, flags, _STORED, ((stat.S_IFDIR | entry.mode) << 16) | _DOS_DIRECTORY_FLAG)
    if entry.kind == "symlink":
        return _Member(name, flags, _STORED, (stat.S_IFLNK | entry.mode) << 16)
    return _Member(name, flags, _DEFLATED, (stat.S_IFREG | entry.mode) << 16)


def _settle(
    block: bytes,
    history: bytes,
    last: bool,
    level: int,
    previous: PreviousBlocks | None,
    refuse: _Refusal,
    pool: ThreadPoolExecutor,
) -> _Deflated | Future[_Deflated]:
    """A block's output when the writer's thread can tell it at once, else its deflate handed to the pool.

    Searching and naming a block is fast next to deflating it, and most blocks of a rebuild are in the
    zip it replaces: handing those to a worker too cost more than reading them here (5 of 8 ms on the
    example's layer).
    """
    # Read here anyway, so searched here: a second pass over the tree would read every file again.
    if refuse.patterns and refuse.found_in(history, block):
        return _Deflated(b"", b"", refused=True)
    name = block_name(block, history, last, level)
    reused = previous.read(name) if previous is not None else None
    if reused is not None:
        return _Deflated(name, *reused)
    return pool.submit(_deflate, block, history, last, level, name)


def _deflate(block: bytes, history: bytes, last: bool, level: int, name: bytes) -> _Deflated:
    # Changing these settings changes every zip's bytes: bump deflate_reuse.FORMAT with them.
    if history:
        compressor = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS, zdict=history)
    else:
        compressor = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS)
    data = compressor.compress(block) + compressor.flush(zlib.Z_FINISH if last else zlib.Z_SYNC_FLUSH)
    return _Deflated(name, data, hashlib.sha256(data).digest())


@dataclass(frozen=True)
class _Refusal:
    """Byte strings no file may contain, longest first."""

    patterns: tuple[bytes, ...]

    def found_in(self, history: bytes, block: bytes) -> bool:
        # A pattern may straddle two blocks: the end of the block before is searched with this one.
        overlap = min(len(history), len(self.patterns[0]) - 1)
        window = history[len(history) - overlap :] + block if overlap else block
        return any(pattern in window for pattern in self.patterns)


def _pieces(
    entries: list[ZipEntry],
    pool: ThreadPoolExecutor,
    level: int,
    previous: PreviousBlocks | None,
    refuse: _Refusal,
) -> Generator[_Piece, None, None]:
    """Read entries in order, handing file blocks to the pool; yields pieces as soon as they are queued."""
    for entry in entries:
        member = _member(entry)
        if entry.kind == "dir":
            yield _Piece(member, True, True, 0, 0, b"")
        elif entry.kind == "symlink":
            target = entry.link_target.encode("utf-8")
            yield _Piece(member, True, True, len(target), zlib.crc32(target), target)
        else:
            yield from _file_pieces(entry, member, pool, level, previous, refuse)


def _file_pieces(
    entry: ZipEntry,
    member: _Member,
    pool: ThreadPoolExecutor,
    level: int,
    previous: PreviousBlocks | None,
    refuse: _Refusal,
) -> Generator[_Piece, None, None]:
    crc = 0
    history = b""
    read = 0
    with entry.path.open("rb") as source:
        block = source.read(CHUNK_SIZE)
        first = True
        while True:
            following = source.read(CHUNK_SIZE) if len(block) == CHUNK_SIZE else b""
            last = not following
            read += len(block)
            if last and read != entry.size:
                raise BuildError(
                    f"{entry.name}: changed while it was being zipped ({entry.size} bytes when listed, "
                    f"{read} now); nothing may write into the folder being zipped, so build again"
                )
            crc = zlib.crc32(block, crc)
            data = _settle(block, history, last, level, previous, refuse, pool)
            yield _Piece(member, first, last, len(block), crc, data)
            if last:
                return
            history = block[-DEFLATE_WINDOW:]
            block, first = following, False


def _local_header(member: _Member) -> bytes:
    return _LOCAL.pack(
        0x04034B50, _VERSION, member.flags, member.method, _DOS_TIME, _DOS_DATE,
        member.crc, member.compressed, member.size, len(member.name), 0,
    ) + member.name  # fmt: skip


def _central_header(member: _Member) -> bytes:
    return _CENTRAL.pack(
        0x02014B50, _MADE_BY, _VERSION, member.flags, member.method, _DOS_TIME, _DOS_DATE,
        member.crc, member.compressed, member.size, len(member.name), 0, 0, 0, 0,
        member.external_attr, member.offset,
    ) + member.name  # fmt: skip


def _too_big(what: str) -> BuildError:
    return BuildError(
        f"{what} passes 4 GiB, the plain zip format's limit; Lambda layers are limited to 250 MB unzipped, "
        "so split the layer"
    )


class _Output:
    """The archive file, tracking its own position (``tell()`` on a buffered file flushes it each time)."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.position = 0

    def write(self, data: bytes) -> None:
        self.raw.write(data)
        self.position += len(data)

    def patch(self, offset: int, data: bytes) -> None:
        self.raw.seek(offset)
        self.raw.write(data)
        self.raw.seek(self.position)


def _write_archive(
    out: _Output,
    entries: list[ZipEntry],
    level: int,
    previous: PreviousBlocks | None,
    refuse: _Refusal,
    blocks: list[BlockRecord],
) -> None:
    """Write the archive; ``blocks`` gets each file block's name, place and output digest (for reuse)."""
    members: list[_Member] = []
    refused: dict[str, None] = {}  # the members holding refused bytes, in archive order
    workers = max(1, min(4, os.cpu_count() or 1))
    # Bounded by bytes, not pieces: enough queued to keep every worker busy, no more. A count of pieces
    # starved the workers on small files (a layer's usual content): one large file at the head of the
    # queue held back the reading of the next few, and the other workers idled (zipping the example's
    # python layer, 78 entries: 18.7 -> 12.8 ms median; same bytes).
    budget = BLOCKS_IN_FLIGHT_PER_WORKER * workers * CHUNK_SIZE
    queued = 0
    in_flight: deque[_Piece] = deque()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="layer-ci-deflate") as pool:
        pieces = _pieces(entries, pool, level, previous, refuse)
        try:
            for piece in pieces:
                in_flight.append(piece)
                queued += piece.raw_size
                while queued > budget:
                    emitted = in_flight.popleft()
                    queued -= emitted.raw_size
                    _emit(out, emitted, members, blocks, refused)
            while in_flight:
                _emit(out, in_flight.popleft(), members, blocks, refused)
        finally:
            pieces.close()
            for piece in in_flight:
                if isinstance(piece.data, Future):
                    piece.data.cancel()
    if refused:
        raise ContentRefused(list(refused))
    directory_offset = out.position
    for member in members:
        out.write(_central_header(member))
    directory_size = out.position - directory_offset
    _write_end(out, len(members), directory_offset, directory_size)


def _emit(
    out: _Output,
    piece: _Piece,
    members: list[_Member],
    blocks: list[BlockRecord],
    refused: dict[str, None],
) -> None:
    member = piece.member
    if isinstance(piece.data, bytes):
        data = piece.data
    else:
        deflated = piece.data if isinstance(piece.data, _Deflated) else piece.data.result()
        if deflated.refused:
            refused[member.name.decode("utf-8")] = None  # the archive is thrown away: the rest is moot
        data = deflated.data
        # Where the data will be: after the local header for a member's first block, else right here.
        offset = out.position + (_LOCAL.size + len(member.name) if piece.first else 0)
        blocks.append((deflated.name, offset, len(data), deflated.digest))
    if piece.first:
        member.offset = out.position
        if member.offset > _MAX_32:
            raise _too_big("the zip")
        members.append(member)
        if piece.last:  # the whole member is known: its header is written once, final
            member.crc, member.compressed, member.size = piece.crc, len(data), piece.raw_size
        out.write(_local_header(member))  # else CRC and sizes are zero until patched below
        out.write(data)
        member.compressed, member.size = len(data), piece.raw_size
        return
    out.write(data)
    member.compressed += len(data)
    member.size += piece.raw_size
    if piece.last:
        member.crc = piece.crc
        if member.compressed > _MAX_32 or member.size > _MAX_32:
            raise _too_big(member.name.decode("utf-8"))
        out.patch(member.offset, _local_header(member))


def _write_end(out: _Output, count: int, directory_offset: int, directory_size: int) -> None:
    if count > _MAX_16 or directory_offset > _MAX_32 or directory_size > _MAX_32:
        # Large node_modules trees pass 65,535 entries: the ZIP64 end records hold the true counts.
        end64_offset = out.position
        out.write(
            _END64.pack(
                0x06064B50,
                _END64.size - 12,
                _MADE_BY & 0xFF00 | _VERSION_ZIP64,
                _VERSION_ZIP64,
                0,
                0,
                count,
                count,
                directory_size,
                directory_offset,
            )
        )
        out.write(_LOCATOR64.pack(0x07064B50, 0, end64_offset, 1))
    out.write(
        _END.pack(
            0x06054B50,
            0,
            0,
            min(count, _MAX_16),
            min(count, _MAX_16),
            min(directory_size, _MAX_32),
            min(directory_offset, _MAX_32),
            0,
        )
    )


def write_entries(
    entries: list[ZipEntry], zip_path: Path, *, compresslevel: int = 6, refuse_content: Iterable[bytes] = ()
) -> str:
    """Write ``entries`` (in the given order) to ``zip_path`` atomically; returns the zip's sha256 hex.

    A file whose bytes contain one of ``refuse_content`` (symlinks' targets are not searched) raises
    ContentRefused naming every such file, and ``zip_path`` is left as it was.
    """
    refuse = _Refusal(
        tuple(sorted({pattern for pattern in refuse_content if pattern}, key=len, reverse=True))
    )
    zip_path = Path(zip_path)
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    blocks: list[BlockRecord] = []
    previous = open_previous(zip_path)
    try:
        descriptor, temporary = tempfile.mkstemp(
            prefix=f".{zip_path.name}.", suffix=".tmp", dir=zip_path.parent
        )
        try:
            with os.fdopen(descriptor, "w+b") as raw:
                _write_archive(_Output(raw), entries, compresslevel, previous, refuse, blocks)
                raw.flush()
                raw.seek(0)
                digest = hashlib.file_digest(raw, "sha256").hexdigest()  # what was written, not the path
            os.chmod(temporary, 0o644)
            os.replace(temporary, zip_path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    finally:
        if previous is not None:
            previous.close()
    record_blocks(zip_path, blocks)
    return digest


def write_zip(src_dir: Path, zip_path: Path, *, compresslevel: int = 6) -> str:
    """Zip the tree under ``src_dir`` deterministically to ``zip_path``; returns the zip's sha256 hex."""
    return write_entries(list_entries(src_dir), zip_path, compresslevel=compresslevel)


def sha256_file(path: Path) -> str:
    """The sha256 hex of a file, read in chunks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while chunk := handle.read(CHUNK_SIZE):
            digest.update(chunk)
    return digest.hexdigest()


def tree_digest(root: Path) -> str:
    """A digest of a tree's names, kinds, modes and contents: equal digests mean equal zips."""
    digest = hashlib.sha256()
    for entry in list_entries(root):
        digest.update(f"{entry.kind}\0{entry.name}\0{entry.mode:o}\0{entry.link_target}\0".encode())
        if entry.kind == "file":
            with entry.path.open("rb") as handle:
                while chunk := handle.read(CHUNK_SIZE):
                    digest.update(chunk)
        digest.update(b"\0")
    return digest.hexdigest()
