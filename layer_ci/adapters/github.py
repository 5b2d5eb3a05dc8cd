"""Every PyGithub call layer-ci makes: pull requests, labels, statuses, sticky comments, releases, tags.

Import it inside a command's ``run()``: it loads PyGithub and requests, which ``plan`` must not pay for.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

import requests
from github import Auth, Github, GithubException, GithubRetry
from github.GithubObject import NotSet
from urllib3.exceptions import MaxRetryError, ResponseError
from urllib3.util.retry import Retry

from layer_ci.errors import ServiceError, UsageError

SERVICE = "GitHub"
DEFAULT_API_URL = "https://api.github.com"
ACTIONS_BOT_LOGIN = "github-actions[bot]"
MAX_BODY_CHARS = 65_536
MAX_TITLE_CHARS = 256
MAX_STATUS_DESCRIPTION_CHARS = 140
STATUS_STATES = ("error", "failure", "pending", "success")
TRUNCATION_NOTE = (
    "\n\n---\n*Truncated: GitHub allows 65,536 characters here; the full report is in the job summary.*"
)
_MARKER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:-]*$")
_FRESH_PR_WINDOW_S = 120.0
_MAX_DETAIL = 500

_log = logging.getLogger(__name__)
# PyGithub installs an INFO console handler on import and narrates every retry; layer-ci reports retries
# itself (one warning each) and failures as one-line errors.
logging.getLogger("github").setLevel(logging.WARNING)

T = TypeVar("T")
PrOutcome = Literal["created", "updated", "unchanged"]
CommentOutcome = Literal["created", "updated", "unchanged"]
MergeOutcome = Literal["merged", "not-green", "not-mergeable", "head-moved"]
StatusState = Literal["error", "failure", "pending", "success"]


@dataclass(frozen=True)
class RetryPolicy:
    """How layer-ci paces and retries GitHub, and how long it waits in total before giving up.

    Rate limits are waited out as GitHub documents: ``Retry-After`` first, else until
    ``x-ratelimit-reset`` when the budget is spent, else ``rate_limit_wait_s``. One request never waits
    more than ``max_total_wait_s`` in all; beyond that the call fails with a ServiceError naming it.
    """

    max_total_wait_s: float = 60.0
    max_retries: int = 5
    rate_limit_wait_s: float = 60.0
    backoff_factor_s: float = 1.0
    seconds_between_requests: float = 0.25
    seconds_between_writes: float = 1.0  # GitHub asks for about a second between content-creating requests
    consistency_attempts: int = 4
    consistency_delay_s: float = 1.0
    timeout_s: int = 15
    idempotent_retries: int = 2  # extra tries of a write that is safe to repeat, after a 5xx or a lost line


@dataclass
class CallCounter:
    """HTTP responses received from GitHub (retries included), so a run can report its API cost."""

    total: int = 0
    by_status: Counter[int] = field(default_factory=Counter)
    waited_s: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, status: int) -> None:
        with self._lock:
            self.total += 1
            self.by_status[status] += 1

    def add_wait(self, seconds: float) -> None:
        with self._lock:
            self.waited_s += seconds


class BoundedGithubRetry(GithubRetry):
    """PyGithub's GithubRetry with a total wait budget, 429 handling, and no blind retry of writes.

    GithubRetry alone may wait without limit and retries POST on 5xx, which can duplicate a pull request
    or comment that GitHub created before the 502. Here POST and PATCH are retried only on rate limits
    (GitHub refuses those before acting); everything else surfaces so the caller can look before retrying.
    """

    def __init__(
        self,
        *,
        max_total_wait: float = 60.0,
        waited: float = 0.0,
        planned_wait: float | None = None,
        counter: CallCounter | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("status_forcelist", [*range(500, 600), 429])
        kwargs.setdefault("allowed_methods", Retry.DEFAULT_ALLOWED_METHODS)
        kwargs.setdefault(
            "raise_on_status", False
        )  # the last real answer reaches PyGithub as a GithubException
        super().__init__(**kwargs)
        self.max_total_wait = max_total_wait
        self.waited = waited
        self.planned_wait = planned_wait
        self.counter = counter if counter is not None else CallCounter()

    def new(self, **kw: Any) -> BoundedGithubRetry:
        kw.setdefault("max_total_wait", self.max_total_wait)
        kw.setdefault("waited", self.waited)
        kw.setdefault("planned_wait", None)
        kw.setdefault("counter", self.counter)
        retry: BoundedGithubRetry = super().new(**kw)
        return retry

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        # urllib3 asks this exactly once for every response it receives, which makes it the one place that
        # sees each HTTP exchange, retries included.
        self.counter.record(status_code)
        if status_code in (403, 429) and self.total:
            return True  # increment() decides whether a 403 is a rate limit
        result: bool = super().is_retry(method, status_code, has_retry_after)
        return result

    def get_backoff_time(self) -> float:
        if self.planned_wait is not None:
            return self.planned_wait
        backoff: float = super().get_backoff_time()
        return backoff

    def increment(  # type: ignore[override]
        self,
        method: str | None = None,
        url: str | None = None,
        response: Any = None,
        error: Exception | None = None,
        _pool: Any = None,
        _stacktrace: Any = None,
    ) -> Retry:
        retry = super().increment(method, url, response, error, _pool, _stacktrace)
        if response is None:
            return retry
        wait = self._planned_wait(response, retry)
        if self.waited + wait > self.max_total_wait:
            # Giving up hands the last answer to PyGithub (raise_on_status=False), so the caller sees
            # GitHub's own message rather than a generic "too many retries".
            raise MaxRetryError(
                _pool, url or "", ResponseError(f"retry budget of {self.max_total_wait:g} s spent")
            )
        self.counter.add_wait(wait)
        _log.warning(
            "GitHub answered %s to %s %s; retrying in %.1f s", response.status, method, _path(url), wait
        )
        return retry.new(waited=self.waited + wait, planned_wait=wait)

    def _planned_wait(self, response: Any, retry: Retry) -> float:
        headers = response.headers
        retry_after = headers.get("Retry-After")
        if retry_after:
            seconds: float = self.parse_retry_after(retry_after)
            return seconds
        if response.status in (403, 429):
            reset = headers.get("X-RateLimit-Reset", "")
            if headers.get("X-RateLimit-Remaining") == "0" and reset.isdigit():
                return max(int(reset) - time.time(), 0.0) + 1.0
            rate_wait: float = self.secondary_rate_wait
            return rate_wait
        backoff: float = Retry.get_backoff_time(retry)
        return backoff


@dataclass(frozen=True)
class PullRequestInfo:
    """The parts of a pull request layer-ci reads back."""

    number: int
    html_url: str
    state: str
    title: str
    body: str
    head_ref: str
    head_sha: str
    base_ref: str
    user_login: str
    labels: tuple[str, ...]
    draft: bool
    merged: bool
    head_repo: str = ""  # owner/name of the head branch's repository ("" when it was deleted)


@dataclass(frozen=True)
class CommentInfo:
    id: int
    html_url: str
    body: str
    user_login: str


@dataclass(frozen=True)
class StatusInfo:
    context: str
    state: str
    description: str | None
    target_url: str | None


@dataclass(frozen=True)
class CombinedStatus:
    """GitHub's combined status: the latest state per context and the overall state."""

    sha: str
    state: str
    statuses: tuple[StatusInfo, ...]

    def context_state(self, context: str) -> str | None:
        return next((s.state for s in self.statuses if s.context == context), None)


@dataclass(frozen=True)
class MergeResult:
    """What a merge attempt did; ``message`` is GitHub's reason when it refused."""

    outcome: MergeOutcome
    message: str = ""

    @property
    def merged(self) -> bool:
        return self.outcome == "merged"


@dataclass(frozen=True)
class ReleaseInfo:
    id: int
    tag: str
    html_url: str
    assets: tuple[str, ...]
    created: bool


def truncate_body(text: str, limit: int = MAX_BODY_CHARS, note: str = TRUNCATION_NOTE) -> str:
    """``text`` cut to GitHub's limit for PR bodies and comments, ending with a note that it was cut."""
    if len(text) <= limit:
        return text
    return text[: limit - len(note)] + note


def marker_comment(marker: str) -> str:
    """The hidden HTML comment that identifies layer-ci's sticky comment of one kind."""
    if not _MARKER_RE.match(marker):
        raise ValueError(f"sticky comment marker {marker!r} must be letters, digits and ._/:-")
    return f"<!-- layer-ci:{marker} -->"


class GitHubClient:
    """One repository on GitHub (or GitHub Enterprise) via PyGithub; failures are one-line ServiceErrors.

    Pass it into the code that needs GitHub; tests point ``api_url`` at the loopback stand-in.
    ``api_calls`` counts the HTTP exchanges made so far, retries included.
    """

    def __init__(
        self,
        token: str,
        repository: str,
        *,
        api_url: str | None = None,
        policy: RetryPolicy | None = None,
        login: str | None = None,
    ) -> None:
        if not token:
            raise UsageError("no GitHub token given; set GITHUB_TOKEN (the workflow's `github.token`)")
        if not re.fullmatch(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", repository or ""):
            raise UsageError(f"GitHub repository {repository!r} is not of the form owner/name")
        self.repository = repository
        self.owner = repository.split("/")[0]
        self.api_url = (api_url or os.environ.get("GITHUB_API_URL") or DEFAULT_API_URL).rstrip("/")
        self.policy = policy or RetryPolicy()
        self.counter = CallCounter()
        self._token = token
        self._login = login
        self._fresh_prs: dict[int, float] = {}
        retry = BoundedGithubRetry(
            total=self.policy.max_retries,
            backoff_factor=self.policy.backoff_factor_s,
            secondary_rate_wait=self.policy.rate_limit_wait_s,
            max_total_wait=self.policy.max_total_wait_s,
            counter=self.counter,
        )
        self._gh = Github(
            base_url=self.api_url,
            auth=Auth.Token(token),
            retry=retry,
            timeout=self.policy.timeout_s,
            per_page=100,
            seconds_between_requests=self.policy.seconds_between_requests or None,
            seconds_between_writes=self.policy.seconds_between_writes or None,
            lazy=True,  # objects are addressed by URL, so no GET is spent just to reach them
        )
        self._repo = self._gh.get_repo(repository)

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, *, policy: RetryPolicy | None = None
    ) -> GitHubClient:
        """Build from the Actions environment: GITHUB_TOKEN, GITHUB_REPOSITORY and GITHUB_API_URL."""
        source = os.environ if env is None else env
        repository = source.get("GITHUB_REPOSITORY", "")
        if not repository:
            raise UsageError("GITHUB_REPOSITORY is not set; run inside GitHub Actions or export owner/name")
        return cls(
            source.get("GITHUB_TOKEN", ""),
            repository,
            api_url=source.get("GITHUB_API_URL") or DEFAULT_API_URL,
            policy=policy,
            login=source.get("LAYER_CI_BOT_LOGIN") or None,
        )

    def __repr__(self) -> str:  # the token stays out of reprs, logs and tracebacks
        return f"GitHubClient({self.repository!r}, api_url={self.api_url!r})"

    def close(self) -> None:
        self._gh.close()

    @property
    def api_calls(self) -> int:
        return self.counter.total

    # ------------------------------------------------------------------------------------- identity

    @property
    def login(self) -> str:
        """The login the token acts as; the Actions token cannot read /user, so it falls back to its bot."""
        if self._login is None:
            try:
                self._login = str(self._raw_call(lambda: self._gh.get_user().login))
            except GithubException as exc:
                if exc.status != 403:
                    raise self._service_error("read the token's user", exc) from exc
                # An installation token (the workflow's GITHUB_TOKEN) may not read /user; it writes as the
                # Actions bot. Other GitHub Apps pass their bot login explicitly.
                self._login = ACTIONS_BOT_LOGIN
            except requests.RequestException as exc:
                raise self._network_error("read the token's user", exc) from exc
        return self._login

    # ---------------------------------------------------------------------------------- pull requests

    def find_open_pr(self, head_branch: str, base: str | None = None) -> PullRequestInfo | None:
        """The open pull request from ``head_branch`` of this repository (into ``base``), if any."""

        def find() -> PullRequestInfo | None:
            pulls = self._repo.get_pulls(
                state="open", head=f"{self.owner}:{head_branch}", base=base or NotSet
            )
            for pr in pulls:
                if pr.head.ref == head_branch and (base is None or pr.base.ref == base):
                    return _pr_info(pr)
            return None

        return self._call("find pull request", find)

    def list_open_prs(self, *, head_prefix: str = "", base: str | None = None) -> list[PullRequestInfo]:
        """Open pull requests from branches of this repository starting with ``head_prefix`` (every page).

        One paginated listing (100 per page) answers for every branch at once, where ``find_open_pr`` costs
        a request per branch; pull requests from forks are left out, whatever their branch is called.
        """

        def collect() -> list[PullRequestInfo]:
            pulls = self._repo.get_pulls(state="open", base=base or NotSet)
            found = [_pr_info(pr) for pr in pulls if pr.head.ref.startswith(head_prefix)]
            return [pr for pr in found if pr.head_repo.lower() == self.repository.lower()]

        return self._call("list pull requests", collect)

    def get_pr(self, number: int) -> PullRequestInfo:
        return self._pr_call(number, "read pull request", lambda: _pr_info(self._complete_pull(number)))

    def create_or_update_pr(
        self, head: str, base: str, title: str, body: str, *, draft: bool = False
    ) -> tuple[PullRequestInfo, PrOutcome]:
        """Open a pull request from ``head`` into ``base``, or bring the open one up to date; never twice.

        GitHub answers 422 "A pull request already exists" for a second open PR with the same head and
        base: that one is found by ``owner:head`` and updated. A 5xx or a lost connection may hide a
        create that happened, so the PR is looked for before the create is tried again.
        """
        title = _truncate_title(title)
        body = truncate_body(body)
        for attempt in range(2):
            try:
                pr = self._raw_call(
                    lambda: self._repo.create_pull(base=base, head=head, title=title, body=body, draft=draft)
                )
            except GithubException as exc:
                if exc.status == 422 and "already exists" in _error_text(exc).lower():
                    return self._update_existing(head, base, title, body, "updated")
                if exc.status < 500 or attempt == 1:
                    raise self._service_error("create pull request", exc) from exc
            except requests.RequestException as exc:
                if attempt == 1:
                    raise self._network_error("create pull request", exc) from exc
            else:
                self._fresh_prs[pr.number] = time.monotonic()
                return _pr_info(pr), "created"
            # The failed create may have gone through: look before trying again.
            existing = self.find_open_pr(head, base)
            if existing is not None:
                self._fresh_prs[existing.number] = time.monotonic()
                return self._update_existing(head, base, title, body, "created", existing)
        raise AssertionError("unreachable")  # pragma: no cover

    def _update_existing(
        self,
        head: str,
        base: str,
        title: str,
        body: str,
        changed: PrOutcome,
        existing: PullRequestInfo | None = None,
    ) -> tuple[PullRequestInfo, PrOutcome]:
        found = existing
        for attempt in range(self.policy.consistency_attempts):
            found = found or self.find_open_pr(head, base)
            if found is not None:
                break
            time.sleep(self.policy.consistency_delay_s * 2**attempt)
        if found is None:
            raise ServiceError(
                SERVICE,
                "create pull request",
                f"GitHub says a pull request from {head} exists but none is open",
            )
        if found.title == title and found.body == body:
            return found, "unchanged" if changed == "updated" else changed
        return self.update_pr(found.number, title=title, body=body), changed

    def update_pr(self, number: int, *, title: str | None = None, body: str | None = None) -> PullRequestInfo:
        fields: dict[str, Any] = {}
        if title is not None:
            fields["title"] = _truncate_title(title)
        if body is not None:
            fields["body"] = truncate_body(body)

        def edit() -> PullRequestInfo:
            pr = self._repo.get_pull(number)
            pr.edit(**fields)
            return _pr_info(pr)

        return self._pr_call(number, "update pull request", self._again_on_failure(edit))

    def close_pr(self, number: int, *, comment: str | None = None) -> PullRequestInfo:
        """Close a pull request (after leaving ``comment``, e.g. which newer PR supersedes it)."""
        if comment:
            self._pr_call(
                number,
                "comment on pull request",
                lambda: self._repo.get_issue(number).create_comment(truncate_body(comment)),
            )

        def close() -> PullRequestInfo:
            pr = self._repo.get_pull(number)
            pr.edit(state="closed")
            return _pr_info(pr)

        return self._pr_call(number, "close pull request", close)

    # ----------------------------------------------------------------------------------------- labels

    def add_labels(self, number: int, labels: Sequence[str]) -> None:
        """Add labels to a PR or issue; GitHub creates labels the repository lacks."""
        if labels:
            add = self._again_on_failure(lambda: self._repo.get_issue(number).add_to_labels(*labels))
            self._pr_call(number, "add labels", add)

    def set_labels(self, number: int, labels: Sequence[str]) -> None:
        """Replace all labels of a PR or issue."""
        self._pr_call(number, "set labels", lambda: self._repo.get_issue(number).set_labels(*labels))

    def remove_label(self, number: int, label: str) -> bool:
        """Remove one label; False when it was not there."""
        try:
            self._pr_call(
                number,
                "remove label",
                lambda: self._repo.get_issue(number).remove_from_labels(label),
                missing_ok=True,
            )
        except _Missing:
            return False
        return True

    def ensure_labels(self, labels: Mapping[str, tuple[str, str]]) -> list[str]:
        """Create missing repository labels (name -> (hex color, description)); returns those made."""
        created = []
        for name, (color, description) in labels.items():
            try:
                self._repo.create_label(name, color.lstrip("#"), description)
            except GithubException as exc:
                if exc.status == 422 and "already_exists" in _error_text(exc):
                    continue
                raise self._service_error("create label", exc) from exc
            except requests.RequestException as exc:
                raise self._network_error("create label", exc) from exc
            created.append(name)
        return created

    # --------------------------------------------------------------------------------------- statuses

    def set_status(
        self, sha: str, context: str, state: StatusState, description: str, target_url: str | None = None
    ) -> StatusInfo:
        """Set a commit status; the description is cut to GitHub's 140 characters."""
        if state not in STATUS_STATES:
            raise ValueError(f"commit status state must be one of {', '.join(STATUS_STATES)}, not {state!r}")
        if len(description) > MAX_STATUS_DESCRIPTION_CHARS:
            description = description[: MAX_STATUS_DESCRIPTION_CHARS - 1] + "…"

        def create() -> StatusInfo:
            status = self._repo.get_commit(sha).create_status(
                state, target_url=target_url or NotSet, description=description, context=context
            )
            return StatusInfo(status.context, status.state, status.description, status.target_url)

        return self._call("set commit status", self._again_on_failure(create))

    def combined_status(self, ref: str) -> CombinedStatus:
        """The latest status per context on ``ref`` and GitHub's overall state for them."""

        def read() -> CombinedStatus:
            combined = self._repo.get_commit(ref).get_combined_status()
            statuses = tuple(
                StatusInfo(s.context, s.state, s.description, s.target_url) for s in combined.statuses
            )
            return CombinedStatus(sha=combined.sha, state=combined.state, statuses=statuses)

        return self._call("read combined status", read)

    def statuses(self, ref: str) -> list[StatusInfo]:
        """Every status set on ``ref``, newest first."""

        def read() -> list[StatusInfo]:
            return [
                StatusInfo(s.context, s.state, s.description, s.target_url)
                for s in self._repo.get_commit(ref).get_statuses()
            ]

        return self._call("list commit statuses", read)

    # ------------------------------------------------------------------------------------------ merge

    def merge_if_green(
        self,
        number: int,
        *,
        required_contexts: Iterable[str],
        merge_method: Literal["merge", "squash", "rebase"] = "squash",
        expected_head_sha: str | None = None,
    ) -> MergeOutcome:
        """Merge the PR only when every required context passed on its current head (and it is that head)."""
        pr = self._pr_call(number, "read pull request", lambda: self._complete_pull(number))
        head_sha = pr.head.sha
        if expected_head_sha is not None and head_sha != expected_head_sha:
            return "head-moved"
        combined = self.combined_status(head_sha)
        required = list(required_contexts)
        if combined.state != "success" or any(combined.context_state(c) != "success" for c in required):
            return "not-green"
        try:
            self._raw_call(lambda: pr.merge(sha=head_sha, merge_method=merge_method))
        except GithubException as exc:
            if exc.status == 405:
                return "not-mergeable"
            if exc.status == 409:
                return "head-moved"
            raise self._service_error("merge pull request", exc) from exc
        except requests.RequestException as exc:
            raise self._network_error("merge pull request", exc) from exc
        return "merged"

    def merge_at_sha(
        self, number: int, sha: str, *, merge_method: Literal["merge", "squash", "rebase"] = "squash"
    ) -> MergeResult:
        """Merge the PR only if its head is still ``sha``: one request, no reading back first.

        For a caller that has just set every status on ``sha`` itself. GitHub refuses with 409 when the
        head moved, and with 405 when the PR is not mergeable, including when branch protection's
        required checks are missing or failing on ``sha``: its own answer guards the merge.
        """

        def merge() -> MergeResult:
            try:
                self._repo.get_pull(number).merge(sha=sha, merge_method=merge_method)
            except GithubException as exc:
                if exc.status == 405:
                    return MergeResult("not-mergeable", self._redact(_error_text(exc)))
                if exc.status == 409:
                    return MergeResult("head-moved", self._redact(_error_text(exc)))
                raise
            return MergeResult("merged")

        return self._pr_call(number, "merge pull request", merge)

    # --------------------------------------------------------------------------------- sticky comment

    def upsert_sticky_comment(
        self,
        number: int,
        marker: str,
        body: str | Callable[[str | None], str],
        *,
        new_pr: bool = False,
        author: str | None = None,
    ) -> tuple[CommentInfo, CommentOutcome]:
        """Keep exactly one comment of ours carrying ``marker`` on the PR: create it, or edit it in place.

        A comment counts as ours only when it carries the hidden marker and was written by this token's
        login, so comments of people who quoted the marker are never touched. ``new_pr`` (the caller has
        just created the PR, so it has no comments yet) skips listing them. ``author`` is the login the
        token writes as when the caller knows it (the author of a pull request it opened), which saves
        asking GitHub. ``body`` may be a function of the comment's current text (without the marker; None
        when there is none yet), for a comment that carries something over from its previous version.
        """
        tag = marker_comment(marker)
        login = (author or self.login).lower()

        def text(current: str | None) -> str:
            rendered = body(current) if callable(body) else body
            return truncate_body(f"{tag}\n{rendered}")

        def mine() -> list[Any]:
            return [
                c
                for c in self._repo.get_issue(number).get_comments()
                if tag in (c.body or "") and c.user is not None and c.user.login.lower() == login
            ]

        ours = [] if new_pr else self._pr_call(number, "list comments", mine)
        if ours:
            keep, extra = ours[0], ours[1:]
            for duplicate in extra:  # left by an earlier crash between create and a retry
                self._call("delete duplicate comment", duplicate.delete)
            full = text((keep.body or "").removeprefix(f"{tag}\n"))
            if keep.body == full:
                return _comment_info(keep), "updated" if extra else "unchanged"
            self._call("update comment", lambda: keep.edit(full))
            return _comment_info(keep), "updated"
        full = text(None)
        for attempt in range(2):
            try:
                created = self._raw_call(lambda: self._repo.get_issue(number).create_comment(full))
                return _comment_info(created), "created"
            except GithubException as exc:
                if exc.status < 500 or attempt == 1:
                    raise self._service_error("create comment", exc) from exc
            except requests.RequestException as exc:
                if attempt == 1:
                    raise self._network_error("create comment", exc) from exc
            found = self._pr_call(number, "list comments", mine)  # look before creating again
            if found:
                return _comment_info(found[0]), "created"
        raise AssertionError("unreachable")  # pragma: no cover

    # ------------------------------------------------------------------------------- releases and tags

    def get_ref_sha(self, ref: str) -> str | None:
        """The sha a ref (``heads/main``, ``tags/v1``) points at, or None."""
        try:
            return str(self._raw_call(lambda: self._repo.get_git_ref(ref.removeprefix("refs/")).object.sha))
        except GithubException as exc:
            if exc.status == 404:
                return None
            raise self._service_error("read ref", exc) from exc
        except requests.RequestException as exc:
            raise self._network_error("read ref", exc) from exc

    def create_tag_ref(self, tag: str, sha: str) -> Literal["created", "exists"]:
        """Create lightweight tag ``tag`` at ``sha``; already there is fine, pointing elsewhere an error."""
        try:
            self._raw_call(lambda: self._repo.create_git_ref(f"refs/tags/{tag}", sha))
            return "created"
        except GithubException as exc:
            if not (exc.status == 422 and "already exists" in _error_text(exc).lower()):
                raise self._service_error("create tag", exc) from exc
        except requests.RequestException as exc:
            raise self._network_error("create tag", exc) from exc
        current = self.get_ref_sha(f"tags/{tag}")
        if current == sha:
            return "exists"
        raise ServiceError(
            SERVICE,
            "create tag",
            f"tag {tag} already points at {str(current)[:12]}, not {sha[:12]}; tags are never moved, "
            "release a new version instead",
        )

    def create_release(
        self,
        tag: str,
        name: str,
        body: str,
        *,
        asset_paths: Sequence[Path] = (),
        target_commitish: str | None = None,
    ) -> ReleaseInfo:
        """Create the release for ``tag`` (or reuse it) and upload the assets it does not have yet."""
        created = False
        release = self._find_release(tag)
        if release is None:
            try:
                release = self._raw_call(
                    lambda: self._repo.create_git_release(
                        tag,
                        name=name,
                        message=truncate_body(body),
                        target_commitish=target_commitish or NotSet,
                    )
                )
                created = True
            except GithubException as exc:
                if not (exc.status == 422 and "already_exists" in _error_text(exc)):
                    raise self._service_error("create release", exc) from exc
                release = self._find_release(tag)
            except requests.RequestException as exc:
                release = self._find_release(tag)  # the create may have happened
                if release is None:
                    raise self._network_error("create release", exc) from exc
            if release is None:
                raise ServiceError(SERVICE, "create release", f"release {tag} exists but cannot be read")
        present = {a.name for a in self._call("list release assets", lambda: list(release.get_assets()))}
        for path in asset_paths:
            if path.name in present:
                continue
            content_type = "application/zip" if path.suffix == ".zip" else "application/octet-stream"
            try:
                release.upload_asset(str(path), name=path.name, content_type=content_type)
            except GithubException as exc:
                raise self._service_error(f"upload release asset {path.name}", exc) from exc
            except requests.RequestException as exc:
                raise self._network_error(f"upload release asset {path.name}", exc) from exc
            present.add(path.name)
        return ReleaseInfo(
            id=release.id, tag=tag, html_url=release.html_url, assets=tuple(sorted(present)), created=created
        )

    def _find_release(self, tag: str) -> Any:
        try:
            return self._raw_call(lambda: self._repo.get_release(tag))
        except GithubException as exc:
            if exc.status == 404:
                return None
            raise self._service_error("read release", exc) from exc
        except requests.RequestException as exc:
            raise self._network_error("read release", exc) from exc

    # -------------------------------------------------------------------------------------- internals

    def _complete_pull(self, number: int) -> Any:
        pr = self._repo.get_pull(number)
        pr.complete()
        return pr

    def _raw_call(self, fn: Callable[[], T]) -> T:
        return fn()

    def _again_on_failure(self, fn: Callable[[], T]) -> Callable[[], T]:
        """``fn`` sent again after a 5xx or a lost connection, for writes whose repetition changes nothing.

        The retry policy leaves POST and PATCH alone on 5xx, because a create may have happened; setting
        a status, adding labels or setting a PR's title and body to given values end the same however
        often they arrive, so a transient failure of one need not end the run.
        """

        def call() -> T:
            retries = self.policy.idempotent_retries
            for attempt in range(retries + 1):
                try:
                    return fn()
                except GithubException as exc:
                    if exc.status < 500 or attempt == retries:
                        raise
                    what = str(exc.status)
                except requests.RequestException as exc:
                    if attempt == retries:
                        raise
                    what = type(exc).__name__
                wait = self.policy.backoff_factor_s * 2**attempt
                _log.warning(
                    "GitHub answered %s to a repeatable write; sending it again in %.1f s", what, wait
                )
                self.counter.add_wait(wait)
                time.sleep(wait)
            raise AssertionError("unreachable")  # pragma: no cover

        return call

    def _call(self, operation: str, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except GithubException as exc:
            raise self._service_error(operation, exc) from exc
        except requests.RequestException as exc:
            raise self._network_error(operation, exc) from exc

    def _pr_call(self, number: int, operation: str, fn: Callable[[], T], *, missing_ok: bool = False) -> T:
        """Like _call, but a PR this client just created may answer 404 for a moment: retry that briefly."""
        created_at = self._fresh_prs.get(number)
        fresh = created_at is not None and time.monotonic() - created_at < _FRESH_PR_WINDOW_S
        attempts = self.policy.consistency_attempts if fresh else 1
        for attempt in range(attempts):
            try:
                return fn()
            except GithubException as exc:
                if exc.status == 404 and missing_ok and "label does not exist" in _error_text(exc).lower():
                    raise _Missing from exc
                if exc.status == 404 and attempt + 1 < attempts:
                    time.sleep(self.policy.consistency_delay_s * 2**attempt)
                    continue
                raise self._service_error(operation, exc) from exc
            except requests.RequestException as exc:
                raise self._network_error(operation, exc) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _service_error(self, operation: str, exc: GithubException) -> ServiceError:
        status = exc.status
        text = _error_text(exc) or "no message"
        headers = {k.lower(): v for k, v in (exc.headers or {}).items()}
        lowered = text.lower()
        spent = headers.get("x-ratelimit-remaining") == "0"
        if status == 403 and spent and text == "no message":  # the retry inspected and consumed the body
            text = "API rate limit exceeded"
        if status in (403, 429) and (
            "rate limit" in lowered or "retry-after" in headers or spent or status == 429
        ):
            budget = self.policy.max_total_wait_s
            hint = f"GitHub rate-limited the token and the {budget:g} s retry budget ran out"
            reset = headers.get("x-ratelimit-reset", "")
            if spent and reset.isdigit():
                at = datetime.fromtimestamp(int(reset), UTC).strftime("%H:%M:%S UTC")
                hint += f"; the hourly limit resets at {at}"
            hint += "; rerun later"
        elif status == 401:
            hint = "the token is invalid or expired; check the token the workflow passes"
        elif status == 403:
            hint = (
                "the token lacks a permission this needs (grant `contents`, `pull-requests`, `issues` and "
                "`statuses: write` in the workflow's `permissions:`)"
            )
        elif status == 404:
            hint = f"{self.repository} or the object does not exist, or the token cannot see it"
        elif status >= 500:
            hint = "GitHub had a server error; rerun the job"
        else:
            hint = ""
        detail = f"{status} {text}" + (f" ({hint})" if hint else "")
        return ServiceError(SERVICE, operation, self._redact(detail))

    def _network_error(self, operation: str, exc: requests.RequestException) -> ServiceError:
        kind = "timed out" if isinstance(exc, requests.Timeout) else "connection failed"
        return ServiceError(
            SERVICE, operation, f"could not reach {self.api_url}: {kind} ({type(exc).__name__})"
        )

    def _redact(self, text: str) -> str:
        one_line = " ".join(text.replace(self._token, "***").split())
        return one_line[:_MAX_DETAIL]


class _Missing(Exception):
    """Raised inside the adapter when an object to remove was already gone."""


def _error_text(exc: GithubException) -> str:
    data = exc.data if isinstance(exc.data, dict) else {}
    message = str(data.get("message") or exc.message or "")
    details = []
    for item in data.get("errors") or []:
        if isinstance(item, dict):
            details.append(
                str(item.get("message") or f"{item.get('resource')}.{item.get('field')} {item.get('code')}")
            )
        else:
            details.append(str(item))
    return message + (f": {'; '.join(details)}" if details else "")


def _path(url: str | None) -> str:
    return (url or "").split("?", 1)[0]


def _truncate_title(title: str) -> str:
    title = " ".join(title.split())
    return title if len(title) <= MAX_TITLE_CHARS else title[: MAX_TITLE_CHARS - 1] + "…"


def _pr_info(pr: Any) -> PullRequestInfo:
    head_repo = pr.head.repo
    return PullRequestInfo(
        number=pr.number,
        html_url=pr.html_url,
        state=pr.state,
        title=pr.title,
        body=pr.body or "",
        head_ref=pr.head.ref,
        head_sha=pr.head.sha,
        base_ref=pr.base.ref,
        user_login=pr.user.login,
        labels=tuple(label.name for label in pr.labels),
        draft=bool(pr.draft),
        merged=bool(pr.merged_at),
        head_repo=head_repo.full_name if head_repo is not None else "",
    )


def _comment_info(comment: Any) -> CommentInfo:
    return CommentInfo(
        id=comment.id, html_url=comment.html_url, body=comment.body, user_login=comment.user.login
    )


def github_client(repo_slug: str | None) -> GitHubClient:
    """The GitHub client from the environment, for ``--repo-slug`` (default: ``$GITHUB_REPOSITORY``)."""
    env = dict(os.environ)
    if repo_slug:
        env["GITHUB_REPOSITORY"] = repo_slug
    return GitHubClient.from_env(env)
