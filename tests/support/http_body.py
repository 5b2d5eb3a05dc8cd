"""Reads a request body the way the loopback test servers need: Content-Length or chunked (git pushes)."""

from __future__ import annotations

from email.message import Message
from typing import BinaryIO


def read_request_body(rfile: BinaryIO, headers: Message) -> bytes:
    if headers.get("Transfer-Encoding", "").lower() == "chunked":
        chunks: list[bytes] = []
        while True:
            size = int(rfile.readline().strip().split(b";")[0], 16)
            if size == 0:
                rfile.readline()
                return b"".join(chunks)
            chunks.append(rfile.read(size))
            rfile.readline()
    return rfile.read(int(headers.get("Content-Length") or 0))
