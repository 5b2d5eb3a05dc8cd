"""A rebuilt zip takes the deflate output of its unchanged blocks from the zip it replaces.

Deflate is most of a zip's time, and a rebuild changes few files: a layer of 200 MB where one package moved
re-deflates that package only. Each block the zipper compresses is named by the SHA-256 of everything its
output depends on (level, the block, the 32 KiB of history it is primed with, whether it ends its file), and
the zipper records where each block's output sits in the zip it wrote, in an index beside it. The next
zip of the same path reads a block with the same name from there, so its bytes are those a fresh deflate
would give.

The index lives in the repository's .layer-ci/, which a commit can fill: it is signed with this user's
machine key (fsutil.machine_key) and names the SHA-256 of the zip it describes, so neither a planted index
nor a zip replaced since (a checkout, another tool) can put bytes into a layer that its files did not make.
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

from layer_ci.fsutil import machine_key, write_atomically

# Bumped whenever the zipper's deflate settings (window bits, memory level, strategy, flush) change.
FORMAT = 1
_MAGIC = b"layer-ci deflate index\n"
_RECORD = struct.Struct("<32sQI")  # block name, offset of its deflate output in the zip, its length
_SIGNATURE_SIZE = hashlib.sha256().digest_size


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

    def __init__(self, descriptor: int, blocks: dict[bytes, tuple[int, int]]) -> None:
        self._descriptor = descriptor
        self._blocks = blocks

    def read(self, name: bytes) -> bytes | None:
        """The deflate output of the block named ``name``, or None when the previous zip has no such block."""
        where = self._blocks.get(name)
        if where is None:
            return None
        offset, length = where
        data = os.pread(self._descriptor, length, offset)
        return data if len(data) == length else None

    def close(self) -> None:
        os.close(self._descriptor)


def open_previous(zip_path: Path) -> PreviousBlocks | None:
    """The blocks of the zip now at ``zip_path``, when its index is this machine's and describes it."""
    secret = machine_key()
    if secret is None:
        return None
    try:
        raw = index_path(zip_path).read_bytes()
    except OSError:
        return None
    body, signature = raw[:-_SIGNATURE_SIZE], raw[-_SIGNATURE_SIZE:]
    if not hmac.compare_digest(_sign(secret, body), signature):
        return None
    header_end = body.find(b"\n", len(_MAGIC)) + 1
    records = body[header_end:]
    if not body.startswith(_MAGIC) or header_end == 0 or len(records) % _RECORD.size:
        return None
    try:
        form, zlib_version, zip_sha256 = body[len(_MAGIC) : header_end - 1].decode("ascii").split(" ")
    except (UnicodeDecodeError, ValueError):
        return None
    if form != str(FORMAT) or zlib_version != zlib.ZLIB_RUNTIME_VERSION:
        return None
    try:
        descriptor = os.open(zip_path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        with os.fdopen(os.dup(descriptor), "rb") as handle:
            same_zip = hashlib.file_digest(handle, "sha256").hexdigest() == zip_sha256
    except OSError:
        same_zip = False
    if not same_zip:
        os.close(descriptor)
        return None
    blocks = {name: (offset, length) for name, offset, length in _RECORD.iter_unpack(records)}
    return PreviousBlocks(descriptor, blocks)


def record_blocks(zip_path: Path, zip_sha256: str, blocks: Iterable[tuple[bytes, int, int]]) -> None:
    """Write the index of the zip just written to ``zip_path``: each block's name, offset and length.

    A zip without an index is only slower to rebuild, so an index that cannot be written is left out
    (and a stale one removed: it names the previous zip's hash, so it would never be used anyway).
    """
    path = index_path(zip_path)
    secret = machine_key()
    if secret is None:
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)
        return
    body = b"".join(
        [
            _MAGIC,
            f"{FORMAT} {zlib.ZLIB_RUNTIME_VERSION} {zip_sha256}\n".encode("ascii"),
            *(_RECORD.pack(name, offset, length) for name, offset, length in blocks),
        ]
    )
    with contextlib.suppress(OSError):
        write_atomically(path, body + _sign(secret, body), 0o600)


def _sign(secret: str, body: bytes) -> bytes:
    return hmac.new(bytes.fromhex(secret), body, hashlib.sha256).digest()
