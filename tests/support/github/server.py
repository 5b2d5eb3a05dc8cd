"""The stand-in's HTTP side: routing, auth, rate limits, pagination, faults, and each endpoint's rules."""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode

from tests.support.github import shapes
from tests.support.github.faults import (
    PRIMARY_RATE_LIMIT_DOCS,
    PRIMARY_RATE_LIMIT_MESSAGE,
    Fault,
    RecordedRequest,
)
from tests.support.github.shapes import JSON, Urls
from tests.support.github.state import (
    Asset,
    Comment,
    Issue,
    Label,
    PullFields,
    RefError,
    Release,
    Repo,
    State,
    Status,
    now_iso,
)
from tests.support.http_body import read_request_body

DOCS = "https://docs.github.com/rest"
MAX_PER_PAGE = 100
DEFAULT_PER_PAGE = 30
MAX_BODY = 65536
STATUS_STATES = ("error", "failure", "pending", "success")
UPLOADS_PREFIX = "/api/uploads"
EXPOSED = (
    "ETag, Link, Location, Retry-After, X-GitHub-OTP, X-RateLimit-Limit, X-RateLimit-Remaining, "
    "X-RateLimit-Used, X-RateLimit-Resource, X-RateLimit-Reset, X-OAuth-Scopes, X-Accepted-OAuth-Scopes, "
    "X-Poll-Interval, X-GitHub-Media-Type, X-GitHub-SSO, X-GitHub-Request-Id, Deprecation, Sunset"
)


class ApiError(Exception):
    def __init__(self, status: int, body: JSON, headers: dict[str, str] | None = None) -> None:
        super().__init__(body.get("message"))
        self.status = status
        self.body = body
        self.headers = headers or {}


def not_found(docs: str = DOCS) -> ApiError:
    return ApiError(404, shapes.error("Not Found", docs, 404))


def validation_failed(errors: list[JSON], docs: str) -> ApiError:
    return ApiError(422, shapes.error("Validation Failed", docs, 422, errors))


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    login: str
    urls: Urls
    params: dict[str, str] = field(default_factory=dict)
    template: str = ""

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def json(self) -> Any:
        if not self.body:
            return {}
        try:
            return json.loads(self.body)
        except ValueError:
            raise ApiError(400, shapes.error("Problems parsing JSON", DOCS, 400)) from None


@dataclass
class Response:
    status: int
    body: Any = None  # JSON-serialisable, bytes, or None for an empty body
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json; charset=utf-8"


Handler = Callable[["StandInApp", Request, Repo | None], Response]


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    pattern: re.Pattern[str]
    handler: Handler
    uploads: bool = False  # served under /api/uploads, as uploads.github.com is on GitHub Enterprise


ROUTES: list[Route] = []
_GREEDY = {"ref", "tag"}


def route(method: str, template: str, *, uploads: bool = False) -> Callable[[Handler], Handler]:
    def compile_template(t: str) -> re.Pattern[str]:
        def param(m: re.Match[str]) -> str:
            name = m.group(1)
            if name in _GREEDY:
                return f"(?P<{name}>.+)"
            if name.endswith("_id") or name == "number":
                return f"(?P<{name}>[0-9]+)"
            return f"(?P<{name}>[^/]+)"

        pieces = re.split(r"(\{\w+\})", t)
        return re.compile(
            "^"
            + "".join(
                param(m) if (m := re.fullmatch(r"\{(\w+)\}", piece)) else re.escape(piece) for piece in pieces
            )
            + "$"
        )

    def register(fn: Handler) -> Handler:
        ROUTES.append(Route(method, template, compile_template(template), fn, uploads))
        return fn

    return register


@dataclass
class RateWindow:
    limit: int
    used: int = 0
    reset_at: int = 0


class StandInApp:
    """Answers one parsed HTTP request at a time (under the state lock) exactly as GitHub would."""

    def __init__(self, state: State, tokens: dict[str, str], *, api_prefix: str = "") -> None:
        self.state = state
        self.tokens = tokens  # token -> login
        self.read_only_tokens: set[str] = set()
        self.api_prefix = api_prefix.rstrip("/")
        self.faults: list[Fault] = []
        self.requests: list[RecordedRequest] = []
        self.rate_limit = 5000
        self.windows: dict[str, RateWindow] = {}
        self.invisible_after_create = 0  # eventual consistency: 404s for a fresh PR's next requests
        self.invisible: dict[tuple[int, int], int] = {}

    # ------------------------------------------------------------------------------------ plumbing

    def window(self, login: str) -> RateWindow:
        now = int(time.time())
        win = self.windows.get(login)
        if win is None or now >= win.reset_at:
            win = self.windows[login] = RateWindow(limit=self.rate_limit, reset_at=now + 3600)
        return win

    def rate_headers(self, login: str | None) -> dict[str, str]:
        win = self.window(login or "anonymous")
        return {
            "x-ratelimit-limit": str(win.limit),
            "x-ratelimit-remaining": str(max(win.limit - win.used, 0)),
            "x-ratelimit-reset": str(win.reset_at),
            "x-ratelimit-used": str(win.used),
            "x-ratelimit-resource": "core",
        }

    def handle(
        self, method: str, raw_target: str, headers: dict[str, str], body: bytes, host: str
    ) -> tuple[Response, str | None, Fault | None]:
        """Answer one request; returns the response, the login it ran as, and the fault applied (if any)."""
        request_id = ":".join(secrets.token_hex(n).upper() for n in (2, 3, 4, 4, 4))
        response, login, fault, path, template, query = self._answer(method, raw_target, headers, body, host)
        with self.state.lock:
            self.requests.append(
                RecordedRequest(
                    method=method,
                    path=path,
                    template=template,
                    query=query,
                    status=response.status,
                    login=login,
                    body=_loggable(body, headers),
                    faulted=fault is not None,
                )
            )
        base = {
            "x-github-request-id": request_id,
            "x-github-media-type": "github.v3; format=json",
            "x-github-api-version-selected": "2022-11-28",
            "x-oauth-scopes": "repo, workflow",
            "x-accepted-oauth-scopes": "repo",
            "access-control-allow-origin": "*",
            "access-control-expose-headers": EXPOSED,
            "strict-transport-security": "max-age=31536000; includeSubdomains; preload",
            "x-frame-options": "deny",
            "x-content-type-options": "nosniff",
            "x-xss-protection": "0",
            "referrer-policy": "origin-when-cross-origin, strict-origin-when-cross-origin",
            "content-security-policy": "default-src 'none'",
            "cache-control": "private, max-age=60, s-maxage=60" if method == "GET" else "no-cache",
        }
        if not path.startswith(UPLOADS_PREFIX):
            base.update(self.rate_headers(login))
        base.update(response.headers)
        if isinstance(response.body, dict) and "{request_id}" in str(response.body.get("message", "")):
            response.body["message"] = response.body["message"].replace("{request_id}", request_id)
        response.headers = base
        return response, login, fault

    def _answer(
        self, method: str, raw_target: str, headers: dict[str, str], body: bytes, host: str
    ) -> tuple[Response, str | None, Fault | None, str, str, dict[str, list[str]]]:
        raw_path, _, raw_query = raw_target.partition("?")
        query = parse_qs(raw_query, keep_blank_values=True)
        uploads = raw_path.startswith(UPLOADS_PREFIX + "/")
        if uploads:
            path = raw_path[len(UPLOADS_PREFIX) :]
        elif self.api_prefix and raw_path.startswith(self.api_prefix + "/"):
            path = raw_path[len(self.api_prefix) :]
        elif self.api_prefix:
            return Response(404, shapes.error("Not Found", DOCS, 404)), None, None, raw_path, "", query
        else:
            path = raw_path
        web = f"http://{host}"
        urls = Urls(api=web + self.api_prefix, web=web, uploads=web + UPLOADS_PREFIX)

        login = self._authenticate(headers)
        if isinstance(login, Response):
            return login, None, None, raw_path, "", query

        with self.state.lock:
            path = self._canonical_repo_path(path)
            found = self._match(method, path, uploads)
            if found is None:
                return Response(404, shapes.error("Not Found", DOCS, 404)), login, None, raw_path, "", query
            rt, params = found
            req = Request(method, path, query, headers, body, login, urls, params, rt.template)
            limited = self._primary_limit(login, rt.template)
            if limited is not None:
                return limited, login, None, raw_path, rt.template, query
            fault = next((f for f in self.faults if f.matches(method, rt.template) and f.fire()), None)
            if fault is not None and fault.kind == "primary":
                win = self.window(login)
                win.used = win.limit
                win.reset_at = int(time.time() + fault.reset_in_s)
                limited = self._primary_limit(login, rt.template)
                assert limited is not None
                return limited, login, fault, raw_path, rt.template, query
            if fault is not None and fault.kind in ("status", "reset") and not fault.after_effect:
                return self._fault_response(fault), login, fault, raw_path, rt.template, query
            self.window(login).used += 1
            if (
                method != "GET"
                and headers.get("authorization", "").split(" ", 1)[-1] in self.read_only_tokens
            ):
                response = Response(403, shapes.error("Resource not accessible by integration", DOCS, 403))
            else:
                response = self._dispatch(rt, req)
            if fault is not None and fault.kind in ("status", "reset"):
                response = self._fault_response(fault)
            return response, login, fault, raw_path, rt.template, query

    def _authenticate(self, headers: dict[str, str]) -> str | Response:
        value = headers.get("authorization", "")
        scheme, _, token = value.partition(" ")
        if not value:
            return Response(401, shapes.error("Requires authentication", DOCS, 401))
        if scheme.lower() not in ("token", "bearer") or token.strip() not in self.tokens:
            return Response(401, shapes.error("Bad credentials", DOCS, 401))
        login = self.tokens[token.strip()]
        self.state.user(login)
        return login

    def _canonical_repo_path(self, path: str) -> str:
        # Pagination links name the repository by id (/repositories/1000/...), as GitHub's do.
        m = re.match(r"^/repositories/([0-9]+)(/.*)?$", path)
        if m:
            repo = self.state.repo_by_id(int(m.group(1)))
            if repo is not None:
                return f"/repos/{repo.full_name}{m.group(2) or ''}"
        return path

    def _match(self, method: str, path: str, uploads: bool) -> tuple[Route, dict[str, str]] | None:
        for rt in ROUTES:
            if rt.method != method or rt.uploads != uploads:
                continue
            m = rt.pattern.match(path)
            if m:
                return rt, {k: unquote(v) for k, v in m.groupdict().items()}
        return None

    def _primary_limit(self, login: str, template: str) -> Response | None:
        if template == "/rate_limit":
            return None
        win = self.window(login)
        if win.used < win.limit:
            return None
        user = self.state.user(login)
        message = PRIMARY_RATE_LIMIT_MESSAGE.format(user_id=user.id, request_id="{request_id}")
        return Response(403, shapes.error(message, PRIMARY_RATE_LIMIT_DOCS, 403))

    def _fault_response(self, fault: Fault) -> Response:
        if fault.kind == "reset":
            return Response(-1)
        body = dict(fault.body) if fault.body is not None else {"message": "Server Error"}
        return Response(fault.status, body, dict(fault.headers))

    def _dispatch(self, rt: Route, req: Request) -> Response:
        repo: Repo | None = None
        if "owner" in req.params:
            try:
                repo = self.state.repo(f"{req.params['owner']}/{req.params['repo']}")
            except KeyError:
                return Response(404, shapes.error("Not Found", f"{DOCS}/repos/repos#get-a-repository", 404))
            number = req.params.get("number")
            if number is not None:
                key = (repo.id, int(number))
                remaining = self.invisible.get(key, 0)
                if remaining > 0:
                    self.invisible[key] = remaining - 1
                    return Response(404, shapes.error("Not Found", DOCS, 404))
        try:
            response = rt.handler(self, req, repo)
        except ApiError as exc:
            return Response(exc.status, exc.body, exc.headers)
        if (
            rt.template == "/repos/{owner}/{repo}/pulls"
            and req.method == "POST"
            and response.status == 201
            and self.invisible_after_create
            and repo is not None
        ):
            self.invisible[(repo.id, response.body["number"])] = self.invisible_after_create
            self.invisible_after_create = 0
        return response

    # ---------------------------------------------------------------------------------- helpers

    def paginate(self, req: Request, repo: Repo | None, items: list[Any]) -> Response:
        try:
            per_page = min(max(int(req.arg("per_page") or DEFAULT_PER_PAGE), 1), MAX_PER_PAGE)
        except ValueError:
            per_page = DEFAULT_PER_PAGE
        try:
            page = max(int(req.arg("page") or 1), 1)
        except ValueError:
            page = 1
        last = max((len(items) + per_page - 1) // per_page, 1)
        chunk = items[(page - 1) * per_page : page * per_page]
        headers: dict[str, str] = {}
        if last > 1:
            if repo is not None:
                rest = req.path[len(f"/repos/{repo.full_name}") :]
                base = f"{req.urls.api}/repositories/{repo.id}{rest}"
            else:
                base = f"{req.urls.api}{req.path}"
            kept = [(k, v) for k, values in req.query.items() if k != "page" for v in values]

            def link(n: int, rel: str) -> str:
                return f'<{base}?{urlencode([*kept, ("page", str(n))])}>; rel="{rel}"'

            rels = []
            if page > 1:
                rels.append(link(page - 1, "prev"))
            if page < last:
                rels.append(link(page + 1, "next"))
                rels.append(link(last, "last"))
            if page > 1:
                rels.append(link(1, "first"))
            headers["link"] = ", ".join(rels)
        return Response(200, chunk, headers)

    def users(self) -> dict[str, Any]:
        return self.state.users

    def issue_or_404(self, repo: Repo, number: str) -> Issue:
        item = repo.issues.get(int(number))
        if item is None:
            raise not_found(f"{DOCS}/issues/issues#get-an-issue")
        repo.refresh_pull(item)
        return item

    def pull_or_404(self, repo: Repo, number: str) -> Issue:
        item = repo.issues.get(int(number))
        if item is None or item.pull is None:
            raise not_found(f"{DOCS}/pulls/pulls#get-a-pull-request")
        repo.refresh_pull(item)
        return item

    def resolve_commit(self, repo: Repo, ref: str) -> str | None:
        for candidate in (f"refs/heads/{ref}", f"refs/tags/{ref}", ref if ref.startswith("refs/") else ""):
            if candidate:
                found = repo.refs.get(candidate)
                if found is not None:
                    return found[0]
        if re.fullmatch(r"[0-9a-f]{40}", ref) and repo.refs.commit_exists(ref):
            return ref
        return None

    def labels_json(self, req: Request, repo: Repo, item: Issue) -> list[JSON]:
        return [shapes.label(req.urls, repo, repo.labels[name.lower()]) for name in item.labels]

    def ensure_label(self, repo: Repo, name: str) -> Label:
        found = repo.labels.get(name.lower())
        if found is None:
            found = repo.labels[name.lower()] = Label(id=self.state.next_id(), name=name)
        return found


def _loggable(body: bytes, headers: dict[str, str]) -> Any:
    if not body:
        return None
    if "json" in headers.get("content-type", "") or body[:1] in (b"{", b"["):
        try:
            return json.loads(body)
        except ValueError:
            return None
    return f"<{len(body)} bytes>"


def _created(body: JSON) -> Response:
    return Response(201, body, {"location": body["url"]})


# ------------------------------------------------------------------------------------------ users


@route("GET", "/user")
def get_user(app: StandInApp, req: Request, repo: Repo | None) -> Response:
    # Installation tokens (the Actions GITHUB_TOKEN acts as github-actions[bot]) may not read /user.
    if req.login.endswith("[bot]"):
        docs = f"{DOCS}/users/users#get-the-authenticated-user"
        raise ApiError(403, shapes.error("Resource not accessible by integration", docs, 403))
    return Response(200, shapes.user(req.urls, app.state.user(req.login)))


@route("GET", "/users/{login}")
def get_named_user(app: StandInApp, req: Request, repo: Repo | None) -> Response:
    found = app.state.users.get(req.params["login"].lower())
    if found is None:
        raise not_found(f"{DOCS}/users/users#get-a-user")
    return Response(200, shapes.user(req.urls, found))


@route("GET", "/rate_limit")
def get_rate_limit(app: StandInApp, req: Request, repo: Repo | None) -> Response:
    win = app.window(req.login)
    core = {
        "limit": win.limit,
        "used": win.used,
        "remaining": max(win.limit - win.used, 0),
        "reset": win.reset_at,
    }
    return Response(200, {"resources": {"core": core}, "rate": core})


@route("GET", "/repos/{owner}/{repo}")
def get_repo(app: StandInApp, req: Request, repo: Repo | None) -> Response:
    assert repo is not None
    return Response(200, shapes.repository(req.urls, repo))


# ------------------------------------------------------------------------------------------ pulls

PULLS_DOCS = f"{DOCS}/pulls/pulls"


@route("GET", "/repos/{owner}/{repo}/pulls")
def list_pulls(app: StandInApp, req: Request, repo: Repo | None) -> Response:
    assert repo is not None
    state = req.arg("state", "open")
    if state not in ("open", "closed", "all"):
        raise validation_failed([{"resource": "Issue", "field": "state", "code": "invalid"}], PULLS_DOCS)
    items = [i for i in repo.pulls() if state == "all" or i.state == state]
    head = req.arg("head")
    # GitHub ignores a head filter without the "owner:" part and returns every pull request.
    if head and ":" in head:
        owner, _, branch = head.partition(":")
        items = [
            i
            for i in items
            if i.pull is not None and i.pull.head_owner.lower() == owner.lower() and i.pull.head_ref == branch
        ]
    base = req.arg("base")
    if base:
        items = [i for i in items if i.pull is not None and i.pull.base_ref == base]
    sort = req.arg("sort", "created")
    direction = req.arg("direction", "desc" if sort in ("created", None) else "asc")
    key = (lambda i: (i.updated_at, i.number)) if sort == "updated" else (lambda i: i.number)
    items.sort(key=key, reverse=direction == "desc")
    for item in items:
        repo.refresh_pull(item)
    return app.paginate(req, repo, [shapes.pull(req.urls, repo, i, app.state.users) for i in items])


def _open_duplicate(repo: Repo, head: str, base: str, exclude: int | None = None) -> Issue | None:
    for item in repo.pulls():
        p = item.pull
        if (
            item.state == "open"
            and p
            and p.head_ref == head
            and p.base_ref == base
            and item.number != exclude
        ):
            return item
    return None


@route("POST", "/repos/{owner}/{repo}/pulls")
def create_pull(app: StandInApp, req: Request, repo: Repo | None) -> Response:
    assert repo is not None
    data = req.json()
    docs = f"{PULLS_DOCS}#create-a-pull-request"
    for name in ("title", "head", "base"):
        if not isinstance(data.get(name), str) or not data.get(name):
            raise validation_failed(
                [{"resource": "PullRequest", "code": "missing_field", "field": name}], docs
            )
    head_spec: str = data["head"]
    owner, _, branch = head_spec.rpartition(":")
    if owner and owner.lower() != repo.owner.login.lower():
        raise validation_failed([{"resource": "PullRequest", "field": "head", "code": "invalid"}], docs)
    base: str = data["base"]
    head_sha = repo.branch_sha(branch)
    if head_sha is None:
        raise validation_failed([{"resource": "PullRequest", "field": "head", "code": "invalid"}], docs)
    base_sha = repo.branch_sha(base)
    if base_sha is None:
        raise validation_failed([{"resource": "PullRequest", "field": "base", "code": "invalid"}], docs)
    _check_text(data, docs)
    if _open_duplicate(repo, branch, base) is not None:
        message = f"A pull request already exists for {repo.owner.login}:{branch}."
        raise validation_failed([{"resource": "PullRequest", "code": "custom", "message": message}], docs)
    if repo.refs.commits_between(base_sha, head_sha) == 0:
        message = f"No commits between {base} and {branch}"
        raise validation_failed([{"resource": "PullRequest", "code": "custom", "message": message}], docs)
    item = Issue(
        number=repo.next_number,
        id=app.state.next_id(),
        title=data["title"],
        body=data.get("body"),
        user=req.login,
        pull=PullFields(
            head_ref=branch,
            head_owner=repo.owner.login,
            base_ref=base,
            head_sha=head_sha,
            base_sha=base_sha,
            draft=bool(data.get("draft", False)),
            maintainer_can_modify=bool(data.get("maintainer_can_modify", False)),
        ),
        pull_id=app.state.next_id(),
    )
    repo.next_number += 1
    repo.issues[item.number] = item
    return _created(shapes.pull(req.urls, repo, item, app.state.users, single=True))


def _check_text(data: JSON, docs: str) -> None:
    title = data.get("title")
    if isinstance(title, str) and len(title) > 256:
        message = "title is too long (maximum is 256 characters)"
        raise validation_failed(
            [{"resource": "Issue", "code": "custom", "field": "title", "message": message}], docs
        )
    body = data.get("body")
    if isinstance(body, str) and len(body) > MAX_BODY:
        message = f"body is too long (maximum is {MAX_BODY} characters)"
        raise validation_failed(
            [{"resource": "Issue", "code": "custom", "field": "body", "message": message}], docs
        )


@route("GET", "/repos/{owner}/{repo}/pulls/{number}")
def get_pull(app: StandInApp, req: Request, repo: Repo | None) -> Response:
    assert repo is not None
    item = app.pull_or_404(repo, req.params["number"])
    return Response(200, shapes.pull(req.urls, repo, item, app.state.users, single=True))


def _set_state(app: StandInApp, repo: Repo, item: Issue, state: str, login: str, docs: str) -> None:
    if state not in ("open", "closed"):
        raise validation_failed([{"resource": "Issue", "field": "state", "code": "invalid"}], docs)
    if state == item.state:
        return
    if state == "open" and item.pull is not None:
        if item.pull.merged_at is not None:
            raise validation_failed(
                [
                    {
                        "resource": "PullRequest",
                        "code": "custom",
                        "message": "state cannot be changed. The pull request has been merged.",
                    }
                ],
                docs,
            )
        if _open_duplicate(repo, item.pull.head_ref, item.pull.base_ref, exclude=item.number):
            message = f"A pull request already exists for {repo.owner.login}:{item.pull.head_ref}."
            raise validation_failed([{"resource": "PullRequest", "code": "custom", "message": message}], docs)
    item.state = state
    item.closed_at = now_iso() if state == "closed" else None
    item.closed_by = login if state == "closed" else None


@route("PATCH", "/repos/{owner}/{repo}/pulls/{number}")
def update_pull(app: StandInApp, req: Request, repo: Repo | None) -> Response:
    assert repo is not None
    item = app.pull_or_404(repo, req.params["number"])
    assert item.pull is not None
    data = req.json()
    docs = f"{PULLS_DOCS}#update-a-pull-request"
    _check_text(data, docs)
    if "base" in data:
        if repo.branch_sha(data["base"]) is None:
            raise validation_failed([{"resource": "PullRequest", "field": "base", "code": "invalid"}], docs)
        item.pull.base_ref = data["base"]
    if "state" in data:
        _set_state(app, repo, item, data["state"], req.login, docs)
    if "title" in data:
        item.title = data["title"]
    if "body" in data:
        item.body = data["body"]
    item.updated_at = now_iso()
    repo.refresh_pull(item)
    return Response(200, shapes.pull(req.urls, repo, item, app.state.users, single=True))


@route("GET", "/repos/{owner}/{repo}/pulls/{number}/merge")
def check_merged(app: StandInApp, req: Request, repo: Repo | None) -> Response:
    assert repo is not None
    item = app.pull_or_404(repo, req.params["number"])
    assert item.pull is not None
    if item.pull.merged_at is None:
        raise not_found(f"{PULLS_DOCS}#check-if-a-pull-request-has-been-merged")
    return Response(204)


def _latest_statuses(repo: Repo, sha: str) -> list[Status]:
    latest: dict[str, Status] = {}
    for s in repo.statuses:
        if s.sha == sha:
            latest[s.context] = s
    return sorted(latest.values(), key=lambda s: s.id)


@route("PUT", "/repos/{owner}/{repo}/pulls/{number}/merge")
def merge_pull(app: StandInApp, req: Request, repo: Repo | None) -> Response:
    assert repo is not None
    item = app.pull_or_404(repo, req.params["number"])
    p = item.pull
    assert p is not None
    data = req.json()
    docs = f"{PULLS_DOCS}#merge-a-pull-request"
    method = data.get("merge_method", "merge")
    if method not in ("merge", "squash", "rebase"):
        raise validation_failed(
            [{"resource": "PullRequest", "field": "merge_method", "code": "invalid"}], docs
        )
    if item.state != "open" or p.mergeable is False:
        raise ApiError(405, shapes.error("Pull Request is not mergeable", docs, 405))
    if data.get("sha") and data["sha"] != p.head_sha:
        raise ApiError(
            409, shapes.error("Head branch was modified. Review and try the merge again.", docs, 409)
        )
    latest = {s.context: s.state for s in _latest_statuses(repo, p.head_sha)}
    for context in repo.required_contexts:
        if context not in latest or latest[context] == "pending":
            raise ApiError(405, shapes.error(f'Required status check "{context}" is expected.', docs, 405))
        if latest[context] != "success":
            raise ApiError(405, shapes.error(f'Required status check "{context}" is failing.', docs, 405))
    title = data.get("commit_title") or f"Merge pull request #{item.number} from {p.head_owner}/{p.head_ref}"
    message = title + ("\n\n" + data["commit_message"] if data.get("commit_message") else "")
    merge_sha = repo.refs.merge(f"refs/heads/{p.base_ref}", p.head_sha, message, app.state.user(req.login))
    if merge_sha is None:
        raise ApiError(405, shapes.error("Pull Request is not mergeable", docs, 405))
    p.merged_at = now_iso()
    p.merged_by = req.login
    p.merge_commit_sha = merge_sha
    _set_state(app, repo, item, "closed", req.login, docs)
    return Response(200, {"sha": merge_sha, "merged": True, "message": "Pull Request successfully merged"})


# ----------------------------------------------------------------------------------------- issues

ISSUES_DOCS = f"{DOCS}/issues/issues"


@route("GET", "/repos/{owner}/{repo}/issues")
def list_issues(app: StandInApp, req: Request, repo: Repo | None) -> Response:
    assert repo is not None
    state = req.arg("state", "open")
    items = [i for i in repo.issues.values() if state == "all" or i.state == state]
    wanted = [name.strip().lower() for name in (req.arg("labels") or "").split(",") if name.strip()]
    if wanted:
        items = [i for i in items if all(w in {n.lower() for n in i.labels} for w in wanted)]
    items.sort(key=lambda i: i.number, reverse=req.arg("direction", "desc") == "desc")
    return app.paginate(req, repo, [shapes.issue(req.urls, repo, i, app.state.users) for i in items])


@route("POST", "/repos/{owner}/{repo}/issues")
def create_issue(app: StandInApp, req: Request, repo: Repo | None) -> Response:
    assert repo is not None
    data = req.json()
    docs = f"{ISSUES_DOCS}#create-an-issue"
    if not isinstance(data.get("title"), str) or not data["title"]:
        raise validation_failed([{"resource": "Issue", "code": "missing_field", "field": "title"}], docs)
    _check_text(data, docs)
    item = Issue(
        number=repo.next_number,
        id=app.state.next_id(),
        title=data["title"],
        body=data.get("body"),
        user=req.login,
    )
    for name in data.get("labels") or []:
        item.labels.append(app.ensure_label(repo, name).name)
    repo.next_number += 1
    repo.issues[item.number] = item
    return _created(shapes.issue(req.urls, repo, item, app.state.users, single=True))


@route("GET", "/repos/{owner}/{repo}/issues/{number}")
def get_issue(app: StandInApp, req: Request, repo: Repo | None) -> Response:
    assert repo is not None
    item = app.issue_or_404(repo, req.params["number"])
    return Response(200, shapes.issue(req.urls, repo, item, app.state.users, single=True))


@route("PATCH", "/repos/{owner}/{repo}/issues/{number}")
def update_issue(app: StandInApp, req: Request, repo: Repo | None) -> Response:
    assert repo is not None
    item = app.issue_or_404(repo, req.params["number"])
    data = req.json()
    docs = f"{ISSUES_DOCS}#update-an-issue"
    _check_text(data, docs)
    if "state" in data:
        _set_state(app, repo, item, data["state"], req.login, docs)
    for name in ("title", "body"):
        if name in data:
            setattr(item, name, data[name])
    if "labels" in data:
        item.labels = [app.ensure_label(repo, _label_name(n)).name for n in data["labels"]]
    item.updated_at = now_iso()
    return Response(200, shapes.issue(req.urls, repo, item, app.state.users, single=True))


# --------------------------------------------------------------------------------------- comments

COMMENTS_DOCS = f"{DOCS}/issues/comments"


def _comment_or_404(repo: Repo, comment_id: str) -> Comment:
    found = repo.comments.get(int(comment_id))
    if found is None:
        raise not_found(f"{COMMENTS_DOCS}#get-an-issue-comment")
    return found


def _comment_body(data: JSON, docs: str) -> str:
    body = data.get("body")
    if not isinstance(body, str) or not body:
        raise validation_failed(
            [{"resource": "IssueComment", "code": "missing_field", "field": "body"}], docs
        )
    if len(body) > MAX_BODY:
        message = f"Body is too long (maximum is {MAX_BODY} characters)"
        raise validation_failed(
            [{"resource": "IssueComment", "code": "unprocessable", "field": "data", "message": message}], docs
        )
    return body


@route("GET", "/repos/{owner}/{repo}/issues/{number}/comments")
def list_comments(app: StandInApp, req: Request, repo: Repo | None) -> Response:
    assert repo is not None
    item = app.issue_or_404(repo, req.params["number"])
    found = sorted((c for c in repo.comments.values() if c.issue_number == item.number), key=lambda c: c.id)
    return app.paginate(req, repo, [shapes.comment(req.urls, repo, c, app.state.users) for c in found])


@route("POST", "/repos/{owner}/{repo}/issues/{number}/comments")
def create_comment(app: StandInApp, req: Request, repo: Repo | None) -> Response:
    assert repo is not None
    item = app.issue_or_404(repo, req.params["number"])
    body = _comment_body(req.json(), f"{COMMENTS_DOCS}#create-an-issue-comment")
    comment = Comment(id=app.state.next_id(), issue_number=item.number, body=body, user=req.login)
    repo.comments[comment.id] = comment
    return _created(shapes.comment(req.urls, repo, comment, app.state.users))


@route("GET", "/repos/{owner}/{repo}/issues/comments/{comment_id}")
def get_comment(app: StandInApp, req: Request, repo: Repo | None) -> Response:
    assert repo is not None
    comment = _comment_or_404(repo, req.params["comment_id"])
    return Response(200, shapes.comment(req.urls, repo, comment, app.state.users))


@route("PATCH", "/repos/{owner}/{repo}/issues/comments/{comment_id}")
def update_comment(app: StandInApp, req: Request, repo: Repo | None) -> Response:
    assert repo is not None
    comment = _comment_or_404(repo, req.params["comment_id"])
    comment.body = _comment_body(req.json(), f"{COMMENTS_DOCS}#update-an-issue-comment")
    comment.updated_at = now_iso()
    return Response(200, shapes.comment(req.urls, repo, comment, app.state.users))


@route("DELETE", "/repos/{owner}/{repo}/issues/comments/{comment_id}")
def delete_comment(app: StandInApp, req: Request, repo: Repo | None) -> Response:
    assert repo is not None
    comment = _comment_or_404(repo, req.params["comment_id"])
    del repo.comments[comment.id]
    return Response(204)


# ----------------------------------------------------------------------------------------- labels

LABELS_DOCS = f"{DOCS}/issues/labels"
_COLOR = re.compile(r"^[0-9a-fA-F]{6}$")


def _label_name(value: Any) -> str:
    return str(value["name"]) if isinstance(value, dict) else str(value)


def _label_names(data: Any) -> list[str]:
    raw = data.get("labels", []) if isinstance(data, dict) else data
    return [_label_name(v) for v in raw or []]


@route("GET", "/repos/{owner}/{repo}/issues/{number}/labels")
def list_issue_labels(app: StandInApp, req: Request, repo: Repo | None) -> Response:
    assert repo is not None
    item = app.issue_or_404(repo, req.params["number"])
    return app.paginate(req, repo, app.labels_json(req, repo, item))


@route("POST", "/repos/{owner}/{repo}/issues/{number}/labels")
def add_issue_labels(app: StandInApp, req: Request, repo: Repo | None) -> Response:
    assert repo is not None
    item = app.issue_or_404(repo, req.params["number"])
    present = {n.lower() for n in item.labels}
    # Labels the repository lacks are created (grey, no description), as the recorded exchange shows.
    for name in _label_names(req.json()):
        lab = app.ensure_label(repo, name)
        if lab.name.lower() not in present:
            item.labels.append(lab.name)
            present.add(lab.name.lower())
    return Response(200, app.labels_json(req, repo, item))


@route("PUT", "/repos/{owner}/{repo}/issues/{number}/labels")
def set_issue_labels(app: StandInApp, req: Request, repo: Repo | None) -> Response:
    assert repo is not None
    item = app.issue_or_404(repo, req.params["number"])
    names: list[str] = []
    for name in _label_names(req.json()):
        lab = app.ensure_label(repo, name)
        if lab.name not in names:
            names.append(lab.name)
    item.labels = names
    return Response(200, app.labels_json(req, repo, item))


@route("DELETE", "/repos/{owner}/{repo}/issues/{number}/labels/{name}")
def remove_issue_label(app: StandInApp, req: Request, repo: Repo | None) -> Response:
    assert repo is not None
    item = app.issue_or_404(repo, req.params["number"])
    wanted = req.params["name"].lower()
    if wanted not in {n.lower() for n in item.labels}:
        raise ApiError(
            404, shapes.error("Label does not exist", f"{LABELS_DOCS}#remove-a-label-from-an-issue", 404)
        )
    item.labels = [n for n in item.labels if n.lower() != wanted]
    return Response(200, app.labels_json(req, repo, item))


@route("DELETE", "/repos/{owner}/{repo}/issues/{number}/labels")
def clear_issue_labels(app: StandInApp, req: Request, repo: Repo | None) -> Response:
    assert repo is not None
    app.issue_or_404(repo, req.params["number"]).labels = []
    return Response(204)


@route("GET", "/repos/{owner}/{repo}/labels")
def list_labels(app: StandInApp, req: Request, repo: Repo | None) -> Response:
    assert repo is not None
    ordered = sorted(repo.labels.values(), key=lambda lab: lab.id)
    return app.paginate(req, repo, [shapes.label(req.urls, repo, lab) for lab in ordered])


@route("POST", "/repos/{owner}/{repo}/labels")
def create_label(app: StandInApp, req: Request, repo: Repo | None) -> Response:
    assert repo is not None
    data = req.json()
    docs = "https://docs.github.com/rest/reference/issues#create-a-label"
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise validation_failed([{"resource": "Label", "code": "missing_field", "field": "name"}], docs)
    color = str(data.get("color", "ededed")).removeprefix("#")
    if not _COLOR.match(color):
        raise validation_failed([{"resource": "Label", "code": "invalid", "field": "color"}], docs)
    if name.lower() in repo.labels:
        raise validation_failed([{"resource": "Label", "code": "already_exists", "field": "name"}], docs)
    lab = repo.labels[name.lower()] = Label(
        id=app.state.next_id(), name=name, color=color, description=data.get("description")
    )
    return _created(shapes.label(req.urls, repo, lab))


def _label_or_404(repo: Repo, name: str) -> Label:
    found = repo.labels.get(name.lower())
    if found is None:
        raise not_found(f"{LABELS_DOCS}#get-a-label")
    return found


@route("GET", "/repos/{owner}/{repo}/labels/{name}")
def get_label(app: StandInApp, req: Request, repo: Repo | None) -> Response:
    assert repo is not None
    return Response(200, shapes.label(req.urls, repo, _label_or_404(repo, req.params["name"])))


@route("PATCH", "/repos/{owner}/{repo}/labels/{name}")
def update_label(app: StandInApp, req: Request, repo: Repo | None) -> Response:
    assert repo is not None
    lab = _label_or_404(repo, req.params["name"])
    data = req.json()
    docs = f"{LABELS_DOCS}#update-a-label"
    if "color" in data:
        color = str(data["color"]).removeprefix("#")
        if not _COLOR.match(color):
            raise validation_failed([{"resource": "Label", "code": "invalid", "field": "color"}], docs)
        lab.color = color
    if "description" in data:
        lab.description = data["description"]
    new_name = data.get("new_name")
    if new_name and new_name != lab.name:
        if new_name.lower() in repo.labels and new_name.lower() != lab.name.lower():
            raise validation_failed([{"resource": "Label", "code": "already_exists", "field": "name"}], docs)
        old = lab.name
        del repo.labels[old.lower()]
        lab.name = new_name
        repo.labels[new_name.lower()] = lab
        for item in repo.issues.values():
            item.labels = [new_name if n == old else n for n in item.labels]
    return Response(200, shapes.label(req.urls, repo, lab))


@route("DELETE", "/repos/{owner}/{repo}/labels/{name}")
def delete_label(app: StandInApp, req: Request, repo: Repo | None) -> Response:
    assert repo is not None
    lab = _label_or_404(repo, req.params["name"])
    del repo.labels[lab.name.lower()]
    for item in repo.issues.values():
        item.labels = [n for n in item.labels if n.lower() != lab.name.lower()]
    return Response(204)


# --------------------------------------------------------------------------------------- statuses

STATUSES_DOCS = f"{DOCS}/commits/statuses"


@route("POST", "/repos/{owner}/{repo}/statuses/{sha}")
def create_status(app: StandInApp, req: Request, repo: Repo | None) -> Response:
    assert repo is not None
    sha = req.params["sha"]
    docs = f"{STATUSES_DOCS}#create-a-commit-status"
    if not re.fullmatch(r"[0-9a-f]{40}", sha) or not repo.refs.commit_exists(sha):
        raise ApiError(422, shapes.error(f"No commit found for SHA: {sha}", docs, 422))
    data = req.json()
    state = data.get("state")
    if state not in STATUS_STATES:
        message = "state is not included in the list"
        raise validation_failed(
            [{"resource": "Status", "code": "custom", "field": "state", "message": message}], docs
        )
    description = data.get("description")
    if isinstance(description, str) and len(description) > 140:
        message = "description is too long (maximum is 140 characters)"
        raise validation_failed(
            [{"resource": "Status", "code": "custom", "field": "description", "message": message}], docs
        )
    status = Status(
        id=app.state.next_id(),
        sha=sha,
        state=state,
        context=data.get("context") or "default",
        description=description,
        target_url=data.get("target_url"),
        creator=req.login,
    )
    repo.statuses.append(status)
    return _created(shapes.status(req.urls, repo, status, app.state.users))


def _statuses_for(app: StandInApp, req: Request, repo: Repo) -> Response:
    sha = app.resolve_commit(repo, req.params["ref"])
    if sha is None:
        raise not_found(f"{STATUSES_DOCS}#list-commit-statuses-for-a-reference")
    found = sorted((s for s in repo.statuses if s.sha == sha), key=lambda s: s.id, reverse=True)
    return app.paginate(req, repo, [shapes.status(req.urls, repo, s, app.state.users) for s in found])


@route("GET", "/repos/{owner}/{repo}/commits/{ref}/statuses")
def list_statuses(app: StandInApp, req: Request, repo: Repo | None) -> Response:
    assert repo is not None
    return _statuses_for(app, req, repo)


@route("GET", "/repos/{owner}/{repo}/statuses/{ref}")
def list_statuses_legacy(app: StandInApp, req: Request, repo: Repo | None) -> Response:
    assert repo is not None
    return _statuses_for(app, req, repo)


@route("GET", "/repos/{owner}/{repo}/commits/{ref}/status")
def combined_status(app: StandInApp, req: Request, repo: Repo | None) -> Response:
    assert repo is not None
    ref = req.params["ref"]
    sha = app.resolve_commit(repo, ref)
    if sha is None:
        raise ApiError(
            422,
            shapes.error(
                f"No commit found for SHA: {ref}",
                f"{STATUSES_DOCS}#get-the-combined-status-for-a-specific-reference",
                422,
            ),
        )
    latest = _latest_statuses(repo, sha)
    return Response(200, shapes.combined_status(req.urls, repo, sha, ref, latest, app.state.users))


@route("GET", "/repos/{owner}/{repo}/commits/{ref}")
def get_commit(app: StandInApp, req: Request, repo: Repo | None) -> Response:
    assert repo is not None
    ref = req.params["ref"]
    if ref.endswith(("/status", "/statuses")):
        raise not_found()
    sha = app.resolve_commit(repo, ref)
    if sha is None:
        raise ApiError(
            422, shapes.error(f"No commit found for SHA: {ref}", f"{DOCS}/commits/commits#get-a-commit", 422)
        )
    return Response(200, shapes.commit(req.urls, repo, sha))


# ------------------------------------------------------------------------------------------- refs

REFS_DOCS = f"{DOCS}/git/refs"


def _refs_json(req: Request, repo: Repo, prefix: str) -> list[JSON]:
    return [
        shapes.git_ref(req.urls, repo, ref, sha, kind)
        for ref, sha, kind in repo.refs.all()
        if ref.startswith(prefix)
    ]


@route("GET", "/repos/{owner}/{repo}/git/refs")
def list_refs(app: StandInApp, req: Request, repo: Repo | None) -> Response:
    assert repo is not None
    return app.paginate(req, repo, _refs_json(req, repo, "refs/"))


@route("GET", "/repos/{owner}/{repo}/git/refs/")
def list_refs_slash(app: StandInApp, req: Request, repo: Repo | None) -> Response:
    assert repo is not None
    return app.paginate(req, repo, _refs_json(req, repo, "refs/"))


@route("GET", "/repos/{owner}/{repo}/git/ref/{ref}")
def get_ref(app: StandInApp, req: Request, repo: Repo | None) -> Response:
    assert repo is not None
    name = "refs/" + req.params["ref"].removeprefix("refs/")
    found = repo.refs.get(name)
    if found is None:
        raise not_found(f"{REFS_DOCS}#get-a-reference")
    return Response(200, shapes.git_ref(req.urls, repo, name, *found))


@route("GET", "/repos/{owner}/{repo}/git/refs/{ref}")
def get_ref_legacy(app: StandInApp, req: Request, repo: Repo | None) -> Response:
    assert repo is not None
    name = "refs/" + req.params["ref"].removeprefix("refs/")
    found = repo.refs.get(name)
    if found is not None:
        return Response(200, shapes.git_ref(req.urls, repo, name, *found))
    matching = _refs_json(req, repo, name.rstrip("/") + "/")
    if not matching:
        raise not_found(f"{REFS_DOCS}#get-a-reference")
    return app.paginate(req, repo, matching)


@route("GET", "/repos/{owner}/{repo}/git/matching-refs/{ref}")
def matching_refs(app: StandInApp, req: Request, repo: Repo | None) -> Response:
    assert repo is not None
    return app.paginate(req, repo, _refs_json(req, repo, "refs/" + req.params["ref"].removeprefix("refs/")))


@route("POST", "/repos/{owner}/{repo}/git/refs")
def create_ref(app: StandInApp, req: Request, repo: Repo | None) -> Response:
    assert repo is not None
    data = req.json()
    docs = f"{REFS_DOCS}#create-a-reference"
    ref, sha = data.get("ref"), data.get("sha")
    if not isinstance(ref, str) or not ref.startswith("refs/") or ref.count("/") < 2:
        raise ApiError(
            422,
            shapes.error("Reference name must start with 'refs/' and have at least two slashes.", docs, 422),
        )
    if not isinstance(sha, str) or not re.fullmatch(r"[0-9a-f]{40}", sha):
        raise ApiError(422, shapes.error("Object does not exist", docs, 422))
    try:
        repo.refs.create(ref, sha)
    except RefError as exc:
        raise ApiError(exc.status, shapes.error(exc.message, docs, exc.status)) from None
    found = repo.refs.get(ref)
    assert found is not None
    return _created(shapes.git_ref(req.urls, repo, ref, *found))


@route("PATCH", "/repos/{owner}/{repo}/git/refs/{ref}")
def update_ref(app: StandInApp, req: Request, repo: Repo | None) -> Response:
    assert repo is not None
    data = req.json()
    docs = f"{REFS_DOCS}#update-a-reference"
    name = "refs/" + req.params["ref"].removeprefix("refs/")
    sha = data.get("sha")
    if not isinstance(sha, str) or not re.fullmatch(r"[0-9a-f]{40}", sha):
        raise ApiError(422, shapes.error("Object does not exist", docs, 422))
    try:
        repo.refs.update(name, sha, force=bool(data.get("force", False)))
    except RefError as exc:
        raise ApiError(exc.status, shapes.error(exc.message, docs, exc.status)) from None
    found = repo.refs.get(name)
    assert found is not None
    return Response(200, shapes.git_ref(req.urls, repo, name, *found))


@route("DELETE", "/repos/{owner}/{repo}/git/refs/{ref}")
def delete_ref(app: StandInApp, req: Request, repo: Repo | None) -> Response:
    assert repo is not None
    name = "refs/" + req.params["ref"].removeprefix("refs/")
    try:
        repo.refs.delete(name)
    except RefError as exc:
        raise ApiError(
            exc.status, shapes.error(exc.message, f"{REFS_DOCS}#delete-a-reference", exc.status)
        ) from None
    return Response(204)


# --------------------------------------------------------------------------------------- releases

RELEASES_DOCS = f"{DOCS}/releases/releases"


def _release_or_404(repo: Repo, release_id: str) -> Release:
    found = next((r for r in repo.releases if r.id == int(release_id)), None)
    if found is None:
        raise not_found(f"{RELEASES_DOCS}#get-a-release")
    return found


@route("GET", "/repos/{owner}/{repo}/releases")
def list_releases(app: StandInApp, req: Request, repo: Repo | None) -> Response:
    assert repo is not None
    ordered = sorted(repo.releases, key=lambda r: r.id, reverse=True)
    return app.paginate(req, repo, [shapes.release(req.urls, repo, r, app.state.users) for r in ordered])


@route("POST", "/repos/{owner}/{repo}/releases")
def create_release(app: StandInApp, req: Request, repo: Repo | None) -> Response:
    assert repo is not None
    data = req.json()
    docs = f"{RELEASES_DOCS}#create-a-release"
    tag = data.get("tag_name")
    if not isinstance(tag, str) or not tag:
        raise validation_failed([{"resource": "Release", "code": "missing_field", "field": "tag_name"}], docs)
    if any(r.tag_name == tag for r in repo.releases):
        raise validation_failed(
            [{"resource": "Release", "code": "already_exists", "field": "tag_name"}], docs
        )
    target = data.get("target_commitish") or repo.default_branch
    draft = bool(data.get("draft", False))
    if repo.refs.get(f"refs/tags/{tag}") is None:
        sha = app.resolve_commit(repo, target)
        if sha is None:
            raise validation_failed(
                [{"resource": "Release", "code": "invalid", "field": "target_commitish"}], docs
            )
        if not draft:  # GitHub creates the tag when the release is published
            repo.refs.create(f"refs/tags/{tag}", sha)
    release = Release(
        id=app.state.next_id(),
        tag_name=tag,
        target_commitish=target,
        name=data.get("name"),
        body=data.get("body"),
        draft=draft,
        prerelease=bool(data.get("prerelease", False)),
        author=req.login,
    )
    repo.releases.append(release)
    return _created(shapes.release(req.urls, repo, release, app.state.users))


@route("GET", "/repos/{owner}/{repo}/releases/tags/{tag}")
def get_release_by_tag(app: StandInApp, req: Request, repo: Repo | None) -> Response:
    assert repo is not None
    found = next((r for r in repo.releases if r.tag_name == req.params["tag"] and not r.draft), None)
    if found is None:
        raise not_found(f"{RELEASES_DOCS}#get-a-release-by-tag-name")
    return Response(200, shapes.release(req.urls, repo, found, app.state.users))


@route("GET", "/repos/{owner}/{repo}/releases/{release_id}")
def get_release(app: StandInApp, req: Request, repo: Repo | None) -> Response:
    assert repo is not None
    found = _release_or_404(repo, req.params["release_id"])
    return Response(200, shapes.release(req.urls, repo, found, app.state.users))


@route("PATCH", "/repos/{owner}/{repo}/releases/{release_id}")
def update_release(app: StandInApp, req: Request, repo: Repo | None) -> Response:
    assert repo is not None
    found = _release_or_404(repo, req.params["release_id"])
    data = req.json()
    for name in ("name", "body", "prerelease"):
        if name in data:
            setattr(found, name, data[name])
    if "draft" in data:
        found.draft = bool(data["draft"])
        if not found.draft and repo.refs.get(f"refs/tags/{found.tag_name}") is None:
            sha = app.resolve_commit(repo, found.target_commitish)
            if sha is not None:
                repo.refs.create(f"refs/tags/{found.tag_name}", sha)
    return Response(200, shapes.release(req.urls, repo, found, app.state.users))


@route("DELETE", "/repos/{owner}/{repo}/releases/{release_id}")
def delete_release(app: StandInApp, req: Request, repo: Repo | None) -> Response:
    assert repo is not None
    found = _release_or_404(repo, req.params["release_id"])
    repo.releases.remove(found)
    return Response(204)


@route("GET", "/repos/{owner}/{repo}/releases/{release_id}/assets")
def list_assets(app: StandInApp, req: Request, repo: Repo | None) -> Response:
    assert repo is not None
    found = _release_or_404(repo, req.params["release_id"])
    return app.paginate(
        req, repo, [shapes.asset(req.urls, repo, found, a, app.state.users) for a in found.assets]
    )


@route("POST", "/repos/{owner}/{repo}/releases/{release_id}/assets", uploads=True)
def upload_asset(app: StandInApp, req: Request, repo: Repo | None) -> Response:
    assert repo is not None
    found = _release_or_404(repo, req.params["release_id"])
    docs = f"{DOCS}/releases/assets#upload-a-release-asset"
    name = req.arg("name")
    if not name:
        raise validation_failed(
            [{"resource": "ReleaseAsset", "code": "missing_field", "field": "name"}], docs
        )
    if any(a.name == name for a in found.assets):
        raise validation_failed(
            [{"resource": "ReleaseAsset", "code": "already_exists", "field": "name"}], docs
        )
    item = Asset(
        id=app.state.next_id(),
        name=name,
        label=req.arg("label"),
        content_type=req.headers.get("content-type", "application/octet-stream"),
        data=req.body,
        uploader=req.login,
    )
    found.assets.append(item)
    return Response(201, shapes.asset(req.urls, repo, found, item, app.state.users))


def _asset_or_404(repo: Repo, asset_id: str) -> tuple[Release, Asset]:
    for release in repo.releases:
        for item in release.assets:
            if item.id == int(asset_id):
                return release, item
    raise not_found(f"{DOCS}/releases/assets#get-a-release-asset")


@route("GET", "/repos/{owner}/{repo}/releases/assets/{asset_id}")
def get_asset(app: StandInApp, req: Request, repo: Repo | None) -> Response:
    assert repo is not None
    release, item = _asset_or_404(repo, req.params["asset_id"])
    if req.headers.get("accept", "") == "application/octet-stream":
        return Response(200, item.data, content_type=item.content_type)
    return Response(200, shapes.asset(req.urls, repo, release, item, app.state.users))


@route("PATCH", "/repos/{owner}/{repo}/releases/assets/{asset_id}")
def update_asset(app: StandInApp, req: Request, repo: Repo | None) -> Response:
    assert repo is not None
    release, item = _asset_or_404(repo, req.params["asset_id"])
    data = req.json()
    if "name" in data:
        item.name = data["name"]
    if "label" in data:
        item.label = data["label"]
    return Response(200, shapes.asset(req.urls, repo, release, item, app.state.users))


@route("DELETE", "/repos/{owner}/{repo}/releases/assets/{asset_id}")
def delete_asset(app: StandInApp, req: Request, repo: Repo | None) -> Response:
    assert repo is not None
    release, item = _asset_or_404(repo, req.params["asset_id"])
    release.assets.remove(item)
    return Response(204)


# ------------------------------------------------------------------------------------------- HTTP


def make_handler(app: StandInApp, port: int) -> type[BaseHTTPRequestHandler]:
    class GitHubHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "GitHub.com"
        sys_version = ""

        def log_message(self, format: str, *args: object) -> None:
            return

        def _read_body(self) -> bytes:
            return read_request_body(self.rfile, self.headers)

        def _serve(self) -> None:
            body = self._read_body()
            headers = {k.lower(): v for k, v in self.headers.items()}
            host = headers.get("host") or f"127.0.0.1:{port}"
            response, _login, fault = app.handle(self.command, self.path, headers, body, host)
            if fault is not None and fault.delay_s:
                time.sleep(fault.delay_s)
            if response.status == -1:  # a connection reset: no answer at all
                self.close_connection = True
                self.connection.close()
                return
            if isinstance(response.body, bytes):
                payload = response.body
            elif response.body is None:
                payload = b""
            else:
                payload = json.dumps(response.body).encode()
            self.send_response(response.status)
            for key, value in response.headers.items():
                self.send_header(key, value)
            if payload or response.status not in (204, 304):
                self.send_header("content-type", response.content_type)
            if 200 <= response.status < 300 and payload:
                self.send_header("etag", f'W/"{hashlib.sha256(payload).hexdigest()[:32]}"')
                self.send_header("last-modified", formatdate(usegmt=True))
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

    return GitHubHandler


class StandInServer:
    """A threaded HTTP server on 127.0.0.1 (random port) in front of a StandInApp."""

    def __init__(self, app: StandInApp) -> None:
        self.app = app
        # Bind first, then hand the handler the port it serves on (for URLs when a client sends no Host).
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
        self.port = int(self._server.server_address[1])
        self._server.RequestHandlerClass = make_handler(app, self.port)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="github-standin",
            daemon=True,
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
