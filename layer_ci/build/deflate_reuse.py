"""A rebuilt zip takes the deflate output of its unchanged blocks from the zip it replaces.

Deflate is most of a zip's time, and a rebuild changes few files: a layer of 200 MB where one package moved
re-deflates that package only. Each block the zipper compresses is named by the SHA-256 of everything its
output depends on (level, the block, the 32 KiB of history it is primed with, whether it ends its file), and
the zipper records where each block's output sits in the zip it wrote, in an index beside it. The next
zip of the same path reads a block with the same name from there, so its bytes are those a fresh deflate
would give.

The index lives in the repository's .layer-ci/, which a commit can fill: it is signed with this user's
machine key (fsutil.machine_key), so a planted index is never read; and each record carries the SHA-256 of
its block's deflate output, checked whenever the block is read, so a zip replaced or rewritten since (a
checkout, another tool, a build racing this one) can put no bytes into a layer that its files did not make.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import struct
import zlib
from collections.abc import Iterable
from pathlib import Path

from layer_ci.fsutil import machine_key, read_own_file, write_atomically

# Bumped whenever the zipper's deflate settings (window bits, memory level, strategy, flush) or the
# index's layout change.
FORMAT = 2
_MAGIC = b"layer-ci deflate index\n"
# A block's name, the offset and length of its deflate output in the zip, and that output's SHA-256.
_RECORD = struct.Struct("<32sQI32s")
_SIGNATURE_SIZE = hashlib.sha256().digest_size
# An index is read whole; a larger one is not ours (1.7 million blocks, far past what Lambda allows a layer).
_MAX_INDEX_BYTES = 128 * 1024 * 1024

BlockRecord = tuple[bytes, int, int, bytes]  # name, offset, length, SHA-256 of the output


def block_name(block: bytes, history: bytes, last: bool, level: int) -> bytes:
    """What a block's deflate output depends on, hashed: equal names give equal output."""
    digest = hashlib.sha256(b"%d %d %d\n" % (level, last, len(history)))
    digest.update(history)
    digest.update(block)
    return digest.digest()


def index_path(zip_path: Path) -> Path:
    return zip_path.with_name(f".{zip_path.name}.deflate-index")


class PreviousBlocks:
    """The blocks of the zip being replaced, by name; ``read`` is safe from several threads (pread)."""

    def __init__(self, descriptor: int, blocks: dict[bytes, tuple[int, int, bytes]]) -> None:
        self._descriptor = descriptor
        self._blocks = blocks

    def read(self, name: bytes) -> tuple[bytes, bytes] | None:
        """The deflate output of the block named ``name`` and its SHA-256, or None when the previous zip
        does not hold it (as recorded, byte for byte)."""
        where = self._blocks.get(name)
        if where is None:
            return None
        offset, length, digest = where
        try:
            data = os.pread(self._descriptor, length, offset)
        except (OSError, OverflowError):
            return None
        if len(data) != length or hashlib.sha256(data).digest() != digest:
            return None
        return data, digest

    def close(self) -> None:
        os.close(self._descriptor)


def open_previous(zip_path: Path) -> PreviousBlocks | None:
    """The blocks of the zip now at ``zip_path``, when the index beside it was signed on this machine."""
    secret = machine_key()
    if secret is None:
        return None
    body = _signed_body(index_path(zip_path), secret)
    if body is None:
        return None
    header_end = body.find(b"\n", len(_MAGIC)) + 1
    records = body[header_end:]
    if not body.startswith(_MAGIC) or header_end == 0 or len(records) % _RECORD.size:
        return None
    if body[len(_MAGIC) : header_end] != _header():
        return None
    try:
        descriptor = os.open(zip_path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        size = os.fstat(descriptor).st_size
        blocks = {
            name: (offset, length, digest)
            for name, offset, length, digest in _RECORD.iter_unpack(records)
            if offset + length <= size
        }
    except BaseException:
        os.close(descriptor)
        raise
    return PreviousBlocks(descriptor, blocks)


def record_blocks(zip_path: Path, blocks: Iterable[BlockRecord]) -> None:
    """Write the index of the zip just written to ``zip_path``: each block's name, place and output digest.

    A zip without an index is only slower to rebuild, so an index that cannot be written is left out
    (and a stale one removed: its records would not match the new zip's bytes anyway).
    """
    path = index_path(zip_path)
    secret = machine_key()
    if secret is None:
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)
        return
    body = b"".join([_MAGIC, _header(), *(_RECORD.pack(*record) for record in blocks)])
    with contextlib.suppress(OSError):
        write_atomically(path, body + _sign(secret, body), 0o600)


def _header() -> bytes:
    return f"{FORMAT} {zlib.ZLIB_RUNTIME_VERSION}\n".encode("ascii")


def _signed_body(path: Path, secret: str) -> bytes | None:
    """The index's contents without its signature, if it is a file of this user's that this key signed."""
    raw = read_own_file(path, limit=_MAX_INDEX_BYTES)
    if raw is None or len(raw) <= _SIGNATURE_SIZE:
        return None
    body, signature = raw[:-_SIGNATURE_SIZE], raw[-_SIGNATURE_SIZE:]
    return body if hmac.compare_digest(_sign(secret, body), signature) else None


def _sign(secret: str, body: bytes) -> bytes:
    return hmac.new(bytes.fromhex(secret), body, hashlib.sha256).digest()
