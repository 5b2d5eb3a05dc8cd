"""Fixtures: a local stand-in of GitHub's REST API on loopback, with request counts and fault injection.

``github_standin`` yields a running :class:`GitHubStandIn` with one repository (``octo-org/app``,
refs in memory) and sets ``GITHUB_API_URL`` to it. ``linked_github`` adds a repository whose
branches, tags and PR heads are those of a bare git remote on disk, so ``git push`` and the API agree.
``github_standin_factory(api_prefix="/api/v3")`` starts a GitHub Enterprise style one.

Typical use::

    standin.create_branch("main"); standin.open_pull("layer-ci/x")        # seed state directly
    standin.secondary_rate_limit("POST", "/repos/{owner}/{repo}/pulls")   # 403 + retry-after: 1, once
    standin.bad_gateway("POST", "/repos/{owner}/{repo}/pulls", after_effect=True)
    standin.count("POST", "/repos/{owner}/{repo}/pulls")                 # requests answered, retries too

Path templates are GitHub's documented ones; ``standin.requests`` lists every answered request with
its template, status and the login it ran as (never the token). The default token acts as
``github-actions[bot]`` (an installation token: GET /user answers 403, as on GitHub).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from layer_ci.adapters.github import RetryPolicy
from tests.support.github.faults import (
    ANY,
    SECONDARY_RATE_LIMIT_DOCS,
    SECONDARY_RATE_LIMIT_MESSAGE,
    Fault,
    RecordedRequest,
)
from tests.support.github.server import StandInApp, StandInServer
from tests.support.github.state import Issue, Repo, State

if TYPE_CHECKING:  # imported lazily below: git_remote is a plugin registered after this one
    from tests.support.git_remote import GitRemote

# Every GitHub call of the tests goes to the loopback stand-in: no pacing, short waits.
FAST = RetryPolicy(
    max_total_wait_s=6.0,
    rate_limit_wait_s=0.2,
    backoff_factor_s=0.01,
    seconds_between_requests=0,
    seconds_between_writes=0,
    consistency_delay_s=0.05,
    timeout_s=10,
)
DEFAULT_TOKEN = "ghs_standin0000000000000000000000000001"
DEFAULT_LOGIN = "github-actions[bot]"
DEFAULT_REPO = "octo-org/app"


class GitHubStandIn:
    """A running GitHub REST stand-in: ``url`` is the API base, ``state`` the data, ``requests`` the log."""

    def __init__(self, *, api_prefix: str = "", tokens: dict[str, str] | None = None) -> None:
        self.state = State()
        self.app = StandInApp(
            self.state, dict(tokens or {DEFAULT_TOKEN: DEFAULT_LOGIN}), api_prefix=api_prefix
        )
        self._server = StandInServer(self.app)
        self.token = next(iter(self.app.tokens))
        self.login = self.app.tokens[self.token]

    # ------------------------------------------------------------------------------------ lifecycle

    def start(self) -> GitHubStandIn:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self._server.port}"

    @property
    def url(self) -> str:
        """The API base URL, what GITHUB_API_URL holds (``.../api/v3`` in GitHub Enterprise style)."""
        return self.web_url + self.app.api_prefix

    # ------------------------------------------------------------------------------------ set-up

    def add_token(self, token: str, login: str, *, read_only: bool = False) -> None:
        """Accept ``token`` as ``login``; a read-only token gets 403 on every write, like a fork's."""
        with self.state.lock:
            self.app.tokens[token] = login
            self.state.user(login)
            if read_only:
                self.app.read_only_tokens.add(token)

    def add_repo(self, full_name: str, *, git_dir: Path | None = None, default_branch: str = "main") -> Repo:
        return self.state.add_repo(full_name, git_dir=git_dir, default_branch=default_branch)

    def repo(self, full_name: str = DEFAULT_REPO) -> Repo:
        return self.state.repo(full_name)

    def create_branch(self, branch: str, sha: str | None = None, *, repo: str = DEFAULT_REPO) -> str:
        return self.state.create_branch(repo, branch, sha)

    def open_pull(
        self,
        head: str,
        base: str = "main",
        *,
        title: str = "by hand",
        body: str | None = None,
        user: str | None = None,
        repo: str = DEFAULT_REPO,
        fork_owner: str | None = None,
    ) -> Issue:
        return self.state.open_pull(
            repo,
            head=head,
            base=base,
            title=title,
            body=body,
            user=user or self.login,
            fork_owner=fork_owner,
        )

    def open_pulls(self, repo: str = DEFAULT_REPO) -> list[Issue]:
        return self.state.open_pulls(repo)

    # ------------------------------------------------------------------------------------ requests

    @property
    def requests(self) -> list[RecordedRequest]:
        with self.state.lock:
            return list(self.app.requests)

    def count(self, method: str = ANY, template: str = ANY) -> int:
        """Requests answered for ``method`` and path ``template`` (``*`` = any), retries included."""
        return sum(1 for r in self.requests if method in (ANY, r.method) and template in (ANY, r.template))

    def clear_requests(self) -> None:
        with self.state.lock:
            self.app.requests.clear()

    # ------------------------------------------------------------------------------------ faults

    def inject(self, fault: Fault) -> Fault:
        with self.state.lock:
            self.app.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self.state.lock:
            self.app.faults.clear()

    def secondary_rate_limit(
        self,
        method: str = ANY,
        template: str = ANY,
        *,
        nth: int = 1,
        times: int | None = 1,
        retry_after: int | None = 1,
        status: int = 403,
    ) -> Fault:
        """GitHub's secondary limit: 403 (or 429) with ``retry-after`` and the documented message."""
        headers = {"retry-after": str(retry_after)} if retry_after is not None else {}
        body = {"message": SECONDARY_RATE_LIMIT_MESSAGE, "documentation_url": SECONDARY_RATE_LIMIT_DOCS}
        return self.inject(
            Fault(method, template, status=status, body=body, headers=headers, nth=nth, times=times)
        )

    def too_many_requests(
        self,
        method: str = ANY,
        template: str = ANY,
        *,
        nth: int = 1,
        times: int | None = 1,
        retry_after: int | None = 1,
    ) -> Fault:
        return self.secondary_rate_limit(
            method, template, nth=nth, times=times, retry_after=retry_after, status=429
        )

    def exhaust_primary_rate_limit(
        self, method: str = ANY, template: str = ANY, *, nth: int = 1, reset_in_s: float = 2.0
    ) -> Fault:
        """From the nth matching request the token's hourly budget is spent: 403, remaining 0, until reset."""
        return self.inject(Fault(method, template, kind="primary", nth=nth, times=1, reset_in_s=reset_in_s))

    def bad_gateway(
        self,
        method: str = ANY,
        template: str = ANY,
        *,
        nth: int = 1,
        times: int | None = 1,
        after_effect: bool = False,
    ) -> Fault:
        """A 502; with ``after_effect`` the request has already taken effect when the 502 arrives."""
        body = {"message": "Server Error"}
        return self.inject(
            Fault(method, template, status=502, body=body, nth=nth, times=times, after_effect=after_effect)
        )

    def server_error(
        self,
        method: str = ANY,
        template: str = ANY,
        *,
        status: int = 500,
        nth: int = 1,
        times: int | None = 1,
        body: dict[str, Any] | None = None,
    ) -> Fault:
        return self.inject(Fault(method, template, status=status, body=body, nth=nth, times=times))

    def reset_connection(
        self,
        method: str = ANY,
        template: str = ANY,
        *,
        nth: int = 1,
        times: int | None = 1,
        after_effect: bool = False,
    ) -> Fault:
        return self.inject(
            Fault(method, template, kind="reset", nth=nth, times=times, after_effect=after_effect)
        )

    def slow(
        self, method: str = ANY, template: str = ANY, *, delay_s: float, nth: int = 1, times: int | None = 1
    ) -> Fault:
        return self.inject(Fault(method, template, kind="slow", delay_s=delay_s, nth=nth, times=times))

    def fresh_pr_not_found(self, times: int = 2) -> None:
        """Eventual consistency: the next PR created answers 404 to its next ``times`` requests."""
        with self.state.lock:
            self.app.invisible_after_create = times

    def set_rate_limit(self, limit: int) -> None:
        with self.state.lock:
            self.app.rate_limit = limit
            self.app.windows.clear()


@pytest.fixture
def github_standin_factory() -> Iterator[Callable[..., GitHubStandIn]]:
    """Start extra stand-ins (e.g. ``api_prefix="/api/v3"`` for GitHub Enterprise style)."""
    started: list[GitHubStandIn] = []

    def start(*, api_prefix: str = "", tokens: dict[str, str] | None = None) -> GitHubStandIn:
        standin = GitHubStandIn(api_prefix=api_prefix, tokens=tokens).start()
        standin.add_repo(DEFAULT_REPO)
        started.append(standin)
        return standin

    yield start
    for standin in started:
        standin.stop()


@pytest.fixture
def github_standin(
    github_standin_factory: Callable[..., GitHubStandIn], monkeypatch: pytest.MonkeyPatch
) -> GitHubStandIn:
    """A running stand-in with repository ``octo-org/app``; GITHUB_API_URL points at it."""
    standin: GitHubStandIn = github_standin_factory()
    monkeypatch.setenv("GITHUB_API_URL", standin.url)
    return standin


@dataclass
class LinkedRepo:
    """A stand-in repository backed by a bare git remote: PR heads are the pushed branch tips."""

    standin: GitHubStandIn
    remote: GitRemote
    full_name: str

    @property
    def repo(self) -> Repo:
        return self.standin.repo(self.full_name)


@pytest.fixture
def linked_github(github_standin: GitHubStandIn, tmp_path: Path, hermetic_git: None) -> LinkedRepo:
    """Repository ``octo-org/linked`` in the stand-in, whose refs are those of a fresh bare remote."""
    from tests.support.git_remote import make_git_remote

    remote = make_git_remote(tmp_path / "linked")
    github_standin.add_repo("octo-org/linked", git_dir=remote.bare)
    return LinkedRepo(standin=github_standin, remote=remote, full_name="octo-org/linked")
