"""Fixtures: bare git remotes on disk with a clone, and a token-checking smart-HTTP server for them."""

from __future__ import annotations

import base64
import os
import subprocess
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.support.http_body import read_request_body

TEST_IDENTITY = ("Test Author", "author@example.com")


def run_git(
    args: list[str], cwd: Path, *, input: bytes | None = None, env: Mapping[str, str] | None = None
) -> str:
    """Run git for a test's own setup (never through a shell); fails the test loudly on error."""
    name, email = TEST_IDENTITY
    result = subprocess.run(
        [
            "git",
            "-c",
            f"user.name={name}",
            "-c",
            f"user.email={email}",
            "-c",
            "init.defaultBranch=main",
            *args,
        ],
        cwd=cwd,
        input=input,
        capture_output=True,
        env={**os.environ, **(env or {})},
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {result.stderr.decode(errors='replace')}")
    return result.stdout.decode("utf-8", "surrogateescape")


@dataclass
class GitRemote:
    """A bare remote and a clone of it whose ``main`` holds one initial commit."""

    bare: Path
    clone: Path
    initial_sha: str

    def branch_sha(self, branch: str) -> str | None:
        """The remote's tip of ``branch``, or None."""
        result = subprocess.run(
            ["git", "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}"],
            cwd=self.bare,
            capture_output=True,
            text=True,
            check=False,
        )
        return result.stdout.strip() if result.returncode == 0 else None

    def read_file(self, branch: str, path: str) -> bytes | None:
        """A file's content on the remote's ``branch``, or None when absent."""
        spec = f"refs/heads/{branch}:{path}"
        probe = subprocess.run(
            ["git", "cat-file", "-e", spec], cwd=self.bare, capture_output=True, check=False
        )
        if probe.returncode != 0:
            return None
        return subprocess.run(
            ["git", "cat-file", "blob", spec], cwd=self.bare, capture_output=True, check=True
        ).stdout

    def files(self, branch: str) -> dict[str, bytes]:
        """Every file on the remote's ``branch`` with its content."""
        names = run_git(["ls-tree", "-r", "-z", "--name-only", f"refs/heads/{branch}"], self.bare)
        out: dict[str, bytes] = {}
        for name in filter(None, names.split("\0")):
            content = self.read_file(branch, name)
            assert content is not None
            out[name] = content
        return out

    def commit_log(self, branch: str) -> list[tuple[str, str, str]]:
        """(sha, author email, subject) of each commit on the remote's ``branch``, newest first."""
        out = run_git(["log", "--format=%H%x1f%ae%x1f%s", f"refs/heads/{branch}"], self.bare)
        return [tuple(line.split("\x1f")) for line in out.splitlines()]  # type: ignore[misc]

    def push_as(
        self,
        branch: str,
        files: Mapping[str, bytes],
        *,
        author: tuple[str, str],
        message: str,
        base: str = "main",
    ) -> str:
        """Push a commit by ``author`` onto the remote ``branch`` (created from ``base`` when missing)."""
        work = self.bare.parent / f"other-{author[1].split('@')[0]}-{len(list(self.bare.parent.iterdir()))}"
        run_git(["clone", "--quiet", str(self.bare), str(work)], self.bare.parent)
        start = branch if self.branch_sha(branch) else base
        run_git(["checkout", "--quiet", "-B", branch, f"origin/{start}"], work)
        for name, content in files.items():
            target = work / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        run_git(["add", "--all"], work)
        name, email = author
        run_git(
            ["-c", f"user.name={name}", "-c", f"user.email={email}", "commit", "--quiet", "-m", message], work
        )
        run_git(["push", "--quiet", "origin", f"HEAD:refs/heads/{branch}"], work)
        sha = self.branch_sha(branch)
        assert sha is not None
        return sha

    def install_hook(self, name: str, script: str) -> None:
        """Install a server-side hook (e.g. pre-receive) that emulates one of GitHub's refusals."""
        hook = self.bare / "hooks" / name
        hook.write_text(script)
        hook.chmod(0o755)


def make_git_remote(root: Path, files: Mapping[str, bytes] | None = None) -> GitRemote:
    """Create ``root/remote.git`` (bare) and ``root/work`` (a clone with one commit on ``main``)."""
    root.mkdir(parents=True, exist_ok=True)
    bare = root / "remote.git"
    run_git(["init", "--quiet", "--bare", str(bare)], root)
    clone = root / "work"
    run_git(["clone", "--quiet", str(bare), str(clone)], root)
    for name, content in (files or {"README.md": b"hello\n"}).items():
        target = clone / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    run_git(["add", "--all"], clone)
    run_git(["commit", "--quiet", "-m", "initial commit"], clone)
    run_git(["push", "--quiet", "origin", "HEAD:refs/heads/main"], clone)
    sha = run_git(["rev-parse", "HEAD"], clone).strip()
    return GitRemote(bare=bare, clone=clone, initial_sha=sha)


@pytest.fixture
def hermetic_git(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the developer's ~/.gitconfig and /etc/gitconfig out of the tests."""
    home = tmp_path_factory.mktemp("git-home")
    empty = home / "gitconfig"
    empty.write_text("")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(empty))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for key in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_CONFIG_COUNT"):
        monkeypatch.delenv(key, raising=False)


@pytest.fixture
def git_remote(tmp_path: Path, hermetic_git: None) -> GitRemote:
    """A bare remote with ``main`` holding README.md, and a clone of it."""
    return make_git_remote(tmp_path / "git")


# ---------------------------------------------------------------------------------------- smart HTTP


@dataclass
class GitHttpServer:
    """Serves bare repositories under ``root`` over git's smart HTTP protocol on loopback.

    Every request must carry ``Authorization: Basic base64(x-access-token:<token>)`` (what
    actions/checkout configures); the Authorization headers each request carried are recorded.
    """

    root: Path
    token: str
    url: str = ""
    auth_headers: list[list[str]] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    def repo_url(self, bare: Path) -> str:
        return f"{self.url}/{bare.relative_to(self.root).as_posix()}"

    def start(self) -> None:
        handler = _make_git_http_handler(self)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def _make_git_http_handler(server: GitHttpServer) -> type[BaseHTTPRequestHandler]:
    expected = "Basic " + base64.b64encode(f"x-access-token:{server.token}".encode()).decode()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def log_message(self, format: str, *args: object) -> None:
            return

        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def _read_body(self) -> bytes:
            return read_request_body(self.rfile, self.headers)

        def _serve(self) -> None:
            received = self.headers.get_all("Authorization") or []
            server.auth_headers.append(received)
            body = self._read_body()
            if (
                len(received) != 1
                or received[0].split(" ", 1)[0].lower() != "basic"
                or (received[0].split(" ", 1)[1] != expected.split(" ", 1)[1])
            ):
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="test"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            path, _, query = self.path.partition("?")
            env = {
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "GIT_PROJECT_ROOT": str(server.root),
                "GIT_HTTP_EXPORT_ALL": "1",
                "REMOTE_USER": "x-access-token",
                "REMOTE_ADDR": "127.0.0.1",
                "REQUEST_METHOD": self.command,
                "PATH_INFO": path,
                "QUERY_STRING": query,
                "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                "CONTENT_LENGTH": str(len(body)),
                "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
                "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
                "GIT_CONFIG_NOSYSTEM": "1",
                "GIT_CONFIG_GLOBAL": os.devnull,
            }
            result = subprocess.run(
                ["git", "http-backend"], input=body, env=env, capture_output=True, check=False
            )
            head, _, payload = result.stdout.partition(b"\r\n\r\n")
            if not _:
                head, _, payload = result.stdout.partition(b"\n\n")
            status = 200
            headers: list[tuple[str, str]] = []
            for line in head.decode("latin-1").splitlines():
                key, _, value = line.partition(":")
                if key.lower() == "status":
                    status = int(value.strip().split()[0])
                elif key:
                    headers.append((key, value.strip()))
            self.send_response(status)
            for key, value in headers:
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    return Handler


@pytest.fixture
def git_http_server(tmp_path: Path, hermetic_git: None) -> Iterator[GitHttpServer]:
    """A smart-HTTP git server on loopback over ``tmp_path/http``, accepting token ``ghs_httptoken``."""
    root = tmp_path / "http"
    root.mkdir()
    server = GitHttpServer(root=root, token="ghs_httptoken")
    server.start()
    try:
        yield server
    finally:
        server.stop()
