"""Fetching layer content: presigned-URL downloads from a loopback server, verified and cached by SHA-256."""

from __future__ import annotations

import hashlib
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from layer_ci.errors import ServiceError
from layer_ci.publish.fetch import ContentMismatchError, fetch_url
from tests.support.aws import AwsEnv, layer_spec


class _Files:
    """A loopback HTTP server answering GET with the bytes registered for a path."""

    def __init__(self) -> None:
        self.content: dict[str, tuple[int, bytes]] = {}
        self.hits: list[str] = []
        files = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                return

            def do_GET(self) -> None:
                files.hits.append(self.path)
                status, body = files.content.get(self.path.split("?")[0], (404, b"missing"))
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def url(self, path: str) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}{path}"


@pytest.fixture
def files() -> Iterator[_Files]:
    server = _Files()
    yield server
    server.server.shutdown()
    server.server.server_close()


def _zip_bytes(tmp_path: Path, content: bytes) -> bytes:
    path = tmp_path / "src.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(zipfile.ZipInfo("python/m.py", (1980, 1, 1, 0, 0, 0)), content)
    return path.read_bytes()


def test_download_is_verified_and_cached_by_sha(files: _Files, tmp_path: Path) -> None:
    body = _zip_bytes(tmp_path, b"v = 1\n")
    sha = hashlib.sha256(body).hexdigest()
    files.content["/layer.zip"] = (200, body)
    cache = tmp_path / "cache"
    path = fetch_url(files.url("/layer.zip?X-Amz-Signature=secret"), sha, cache)
    assert path == cache / f"{sha}.zip" and path.read_bytes() == body
    assert fetch_url(files.url("/layer.zip?X-Amz-Signature=secret"), sha, cache) == path
    assert len(files.hits) == 1  # the second fetch was a cache hit


def test_content_that_does_not_match_code_sha256_is_refused(files: _Files, tmp_path: Path) -> None:
    files.content["/layer.zip"] = (200, b"tampered bytes")
    expected = hashlib.sha256(b"the real zip").hexdigest()
    cache = tmp_path / "cache"
    with pytest.raises(ContentMismatchError, match=rf"recorded {expected} \(CodeSha256\); refusing it"):
        fetch_url(files.url("/layer.zip"), expected, cache)
    assert list(cache.iterdir()) == []  # nothing cached, no partial file left


def test_expired_presigned_url_says_so_without_leaking_the_signature(files: _Files, tmp_path: Path) -> None:
    files.content["/layer.zip"] = (403, b"<Error>AccessDenied</Error>")
    with pytest.raises(ServiceError, match=r"HTTP 403 \(presigned locations expire") as caught:
        fetch_url(files.url("/layer.zip?X-Amz-Signature=topsecret"), "0" * 64, tmp_path / "cache")
    assert "topsecret" not in str(caught.value)


def test_only_http_urls_are_downloaded(tmp_path: Path) -> None:
    with pytest.raises(ServiceError, match="refusing to download from a file URL"):
        fetch_url((tmp_path / "x.zip").as_uri(), "0" * 64, tmp_path / "cache")


def test_unreachable_server_is_one_clear_error(tmp_path: Path, files: _Files) -> None:
    url = files.url("/layer.zip")
    files.server.shutdown()
    files.server.server_close()
    with pytest.raises(ServiceError, match=r"download GET failed: http://127\.0\.0\.1:\d+/layer\.zip"):
        fetch_url(url, "0" * 64, tmp_path / "cache", timeout=2)


def test_aws_registry_downloads_the_presigned_location(aws: AwsEnv, files: _Files, tmp_path: Path) -> None:
    """moto answers Content.Location "s3://"; a stand-in adapter swaps in a loopback URL serving the zip."""
    from layer_ci.adapters.aws import AwsAdapter
    from layer_ci.publish.lambda_registry import AwsRegistry

    class PresigningAdapter(AwsAdapter):
        def get_layer_version(self, layer: str, version: int) -> dict[str, Any] | None:
            item = super().get_layer_version(layer, version)
            if item is not None:
                item["Content"]["Location"] = files.url(f"/{layer}/{version}.zip?X-Amz-Expires=600")
            return item

    body = _zip_bytes(tmp_path, b"real = True\n")
    zip_path = tmp_path / "layer.zip"
    zip_path.write_bytes(body)
    registry = AwsRegistry(PresigningAdapter("us-east-1"))
    registry.publish(layer_spec("dl"), zip_path, "d")
    files.content["/dl/1.zip"] = (200, body)
    fetched = registry.fetch("dl", 1, tmp_path / "cache")
    assert fetched.read_bytes() == body
    assert files.hits == ["/dl/1.zip?X-Amz-Expires=600"]

    # The same location serving other bytes is caught by moto's real CodeSha256.
    registry.publish(layer_spec("dl"), zip_path, "d")
    files.content["/dl/2.zip"] = (200, body + b"!")
    with pytest.raises(ContentMismatchError):
        registry.fetch("dl", 2, tmp_path / "cache2")
