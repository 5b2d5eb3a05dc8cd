"""Fetching layer content: download or copy a zip, check it against CodeSha256, cache by SHA-256."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from layer_ci.errors import LayerCiError, ServiceError

DOWNLOAD_TIMEOUT_S = 60.0
_CHUNK = 1024 * 1024


class ContentMismatchError(LayerCiError):
    """Fetched bytes do not hash to the SHA-256 the registry recorded for the version."""


def cached_zip_path(cache_dir: Path, sha256_hex: str) -> Path:
    """Where the zip with this SHA-256 lives in the cache (content-addressed, so shared by every layer)."""
    return cache_dir / f"{sha256_hex}.zip"


def fetch_url(url: str, sha256_hex: str, cache_dir: Path, *, timeout: float = DOWNLOAD_TIMEOUT_S) -> Path:
    """Download ``url`` (e.g. Lambda's presigned ``Content.Location``) into the cache, verified."""
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme not in {"http", "https"}:
        raise ServiceError("download", "GET", f"refusing to download from a {scheme or 'schemeless'} URL")
    cached = cached_zip_path(cache_dir, sha256_hex)
    if cached.is_file():
        return cached
    # The presigned URL is a credential: never echo its query string in messages.
    shown = urllib.parse.urlsplit(url)._replace(query="").geturl()

    def copy(out: BinaryIO) -> None:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (scheme checked above)
                shutil.copyfileobj(response, out, _CHUNK)
        except urllib.error.HTTPError as exc:
            hint = " (presigned locations expire after 10 minutes; rerun)" if exc.code == 403 else ""
            raise ServiceError("download", "GET", f"{shown} answered HTTP {exc.code}{hint}") from exc
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise ServiceError("download", "GET", f"{shown}: {exc}") from exc

    return _store_verified(cache_dir, sha256_hex, copy, source=shown)


def fetch_file(path: Path, sha256_hex: str, cache_dir: Path) -> Path:
    """Copy a zip from a folder registry into the cache, verified."""
    cached = cached_zip_path(cache_dir, sha256_hex)
    if cached.is_file():
        return cached

    def copy(out: BinaryIO) -> None:
        with path.open("rb") as src:
            shutil.copyfileobj(src, out, _CHUNK)

    return _store_verified(cache_dir, sha256_hex, copy, source=str(path))


def fetch_with(writer: Callable[[Path], None], sha256_hex: str, cache_dir: Path, *, source: str) -> Path:
    """Let ``writer`` produce the file (e.g. an S3 download to a path), then verify and cache it."""
    cached = cached_zip_path(cache_dir, sha256_hex)
    if cached.is_file():
        return cached
    cache_dir.mkdir(parents=True, exist_ok=True)
    with _temporary(cache_dir) as tmp:
        writer(tmp)
        _verify(tmp, sha256_hex, source)
        os.replace(tmp, cached)
    return cached


def sha256_of(path: Path) -> str:
    """The hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _store_verified(
    cache_dir: Path, sha256_hex: str, copy: Callable[[BinaryIO], None], *, source: str
) -> Path:
    cache_dir.mkdir(parents=True, exist_ok=True)
    with _temporary(cache_dir) as tmp:
        with tmp.open("wb") as out:
            copy(out)
        _verify(tmp, sha256_hex, source)
        # Only verified bytes ever get the content-addressed name, so a cache hit needs no re-hash.
        final = cached_zip_path(cache_dir, sha256_hex)
        os.replace(tmp, final)
    return final


def _verify(path: Path, sha256_hex: str, source: str) -> None:
    actual = sha256_of(path)
    if actual != sha256_hex:
        raise ContentMismatchError(
            f"content fetched from {source} has SHA-256 {actual}, but the registry recorded {sha256_hex} "
            "(CodeSha256); refusing it: the download was corrupted or the source is not that version"
        )


@contextmanager
def _temporary(cache_dir: Path) -> Iterator[Path]:
    fd, name = tempfile.mkstemp(dir=cache_dir, prefix=".fetch-", suffix=".part")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
    finally:
        tmp.unlink(missing_ok=True)
