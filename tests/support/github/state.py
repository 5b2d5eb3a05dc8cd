"""In-memory state of the GitHub stand-in: repositories, issues, pull requests, comments, statuses, refs."""

from __future__ import annotations

import hashlib
import subprocess
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def fake_sha(seed: str) -> str:
    """A stable 40-hex sha for repositories that have no git folder behind them."""
    return hashlib.sha1(seed.encode(), usedforsecurity=False).hexdigest()


@dataclass
class User:
    login: str
    id: int
    type: str = "User"  # User | Bot | Organization


@dataclass
class Label:
    id: int
    name: str
    color: str = "ededed"
    description: str | None = None
    default: bool = False


@dataclass
class PullFields:
    """What a pull request adds to an issue."""

    head_ref: str
    head_owner: str
    base_ref: str
    head_sha: str  # refreshed from the branch while open; frozen once closed
    base_sha: str
    draft: bool = False
    maintainer_can_modify: bool = False
    merged_at: str | None = None
    merged_by: str | None = None
    merge_commit_sha: str | None = None
    mergeable: bool | None = True  # tests set False to refuse merges


@dataclass
class Issue:
    """An issue, or the issue half of a pull request (they share numbers, labels and comments)."""

    number: int
    id: int
    title: str
    body: str | None
    user: str
    state: str = "open"
    created_at: str = field(default_factory=now_iso)
    updated_at: str = field(default_factory=now_iso)
    closed_at: str | None = None
    closed_by: str | None = None
    labels: list[str] = field(default_factory=list)  # label names, in the order they were added
    pull: PullFields | None = None
    pull_id: int = 0


@dataclass
class Comment:
    id: int
    issue_number: int
    body: str
    user: str
    created_at: str = field(default_factory=now_iso)
    updated_at: str = field(default_factory=now_iso)


@dataclass
class Status:
    id: int
    sha: str
    state: str
    context: str
    description: str | None
    target_url: str | None
    creator: str
    created_at: str = field(default_factory=now_iso)


@dataclass
class Asset:
    id: int
    name: str
    label: str | None
    content_type: str
    data: bytes
    uploader: str
    created_at: str = field(default_factory=now_iso)


@dataclass
class Release:
    id: int
    tag_name: str
    target_commitish: str
    name: str | None
    body: str | None
    draft: bool
    prerelease: bool
    author: str
    created_at: str = field(default_factory=now_iso)
    assets: list[Asset] = field(default_factory=list)


class RefError(Exception):
    """A ref operation GitHub refuses; ``message`` is GitHub's wording."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class RefStore(Protocol):
    """Where a repository's refs live: a dict, or a real bare git repository on disk."""

    def get(self, ref: str) -> tuple[str, str] | None: ...  # (sha, object type)
    def all(self) -> list[tuple[str, str, str]]: ...  # (ref, sha, object type), sorted
    def create(self, ref: str, sha: str) -> None: ...
    def update(self, ref: str, sha: str, *, force: bool) -> None: ...
    def delete(self, ref: str) -> None: ...
    def commit_exists(self, sha: str) -> bool: ...
    def commits_between(self, base: str, head: str) -> int: ...
    def merge(self, base_ref: str, head_sha: str, message: str, committer: User) -> str | None: ...


class MemoryRefs:
    """Refs held in a dict; every sha is accepted as a commit and merges are fast-forward only."""

    def __init__(self) -> None:
        self.refs: dict[str, str] = {}

    def get(self, ref: str) -> tuple[str, str] | None:
        sha = self.refs.get(ref)
        return None if sha is None else (sha, "commit")

    def all(self) -> list[tuple[str, str, str]]:
        return [(ref, sha, "commit") for ref, sha in sorted(self.refs.items())]

    def create(self, ref: str, sha: str) -> None:
        if ref in self.refs:
            raise RefError(422, "Reference already exists")
        self.refs[ref] = sha

    def update(self, ref: str, sha: str, *, force: bool) -> None:
        if ref not in self.refs:
            raise RefError(422, "Reference does not exist")
        self.refs[ref] = sha

    def delete(self, ref: str) -> None:
        if self.refs.pop(ref, None) is None:
            raise RefError(422, "Reference does not exist")

    def commit_exists(self, sha: str) -> bool:
        return len(sha) == 40

    def commits_between(self, base: str, head: str) -> int:
        return 0 if base == head else 1

    def merge(self, base_ref: str, head_sha: str, message: str, committer: User) -> str | None:
        merge_sha = fake_sha(f"merge:{base_ref}:{head_sha}:{time.time_ns()}")
        self.refs[base_ref] = merge_sha
        return merge_sha


class GitDirRefs:
    """Refs read from and written to a bare git repository, so API and ``git push`` see the same branches."""

    def __init__(self, git_dir: Path) -> None:
        self.git_dir = Path(git_dir)

    def _git(
        self, *args: str, input: bytes | None = None, env: dict[str, str] | None = None
    ) -> tuple[int, str]:
        import os

        result = subprocess.run(
            ["git", f"--git-dir={self.git_dir}", *args],
            input=input,
            capture_output=True,
            env={**os.environ, **(env or {})},
            check=False,
        )
        return result.returncode, result.stdout.decode().strip()

    def get(self, ref: str) -> tuple[str, str] | None:
        code, out = self._git("show-ref", "--verify", "--", ref)
        if code != 0:
            return None
        sha = out.split()[0]
        _, kind = self._git("cat-file", "-t", sha)
        return sha, kind

    def all(self) -> list[tuple[str, str, str]]:
        _, out = self._git("for-each-ref", "--format=%(refname) %(objectname) %(objecttype)")
        return sorted(tuple(line.split(" ")) for line in out.splitlines() if line)  # type: ignore[misc]

    def create(self, ref: str, sha: str) -> None:
        if not self.commit_exists(sha) and self._git("cat-file", "-e", sha)[0] != 0:
            raise RefError(422, "Object does not exist")
        if self.get(ref) is not None:
            raise RefError(422, "Reference already exists")
        if self._git("update-ref", ref, sha, "")[0] != 0:
            raise RefError(422, "Reference already exists")

    def update(self, ref: str, sha: str, *, force: bool) -> None:
        current = self.get(ref)
        if current is None:
            raise RefError(422, "Reference does not exist")
        if not self.commit_exists(sha):
            raise RefError(422, "Object does not exist")
        if not force and self._git("merge-base", "--is-ancestor", current[0], sha)[0] != 0:
            raise RefError(422, "Update is not a fast forward")
        if self._git("update-ref", ref, sha, current[0])[0] != 0:
            raise RefError(422, "Reference cannot be updated")

    def delete(self, ref: str) -> None:
        if self.get(ref) is None or self._git("update-ref", "-d", ref)[0] != 0:
            raise RefError(422, "Reference does not exist")

    def commit_exists(self, sha: str) -> bool:
        return self._git("cat-file", "-e", f"{sha}^{{commit}}")[0] == 0

    def commits_between(self, base: str, head: str) -> int:
        code, out = self._git("rev-list", "--count", f"{base}..{head}")
        return int(out) if code == 0 else 0

    def merge(self, base_ref: str, head_sha: str, message: str, committer: User) -> str | None:
        """A merge commit of head into base made with ``git merge-tree``; None on conflicts."""
        base = self.get(base_ref)
        if base is None:
            return None
        code, tree = self._git("merge-tree", "--write-tree", base[0], head_sha)
        if code != 0:
            return None
        ident = {
            "GIT_AUTHOR_NAME": committer.login,
            "GIT_AUTHOR_EMAIL": f"{committer.id}+{committer.login}@users.noreply.github.com",
            "GIT_COMMITTER_NAME": "GitHub",
            "GIT_COMMITTER_EMAIL": "noreply@github.com",
        }
        code, merge_sha = self._git(
            "commit-tree",
            tree.splitlines()[0],
            "-p",
            base[0],
            "-p",
            head_sha,
            "-F",
            "-",
            input=message.encode(),
            env=ident,
        )
        if code != 0 or self._git("update-ref", base_ref, merge_sha, base[0])[0] != 0:
            return None
        return merge_sha


@dataclass
class Repo:
    id: int
    owner: User
    name: str
    refs: RefStore
    default_branch: str = "main"
    private: bool = False
    issues: dict[int, Issue] = field(default_factory=dict)
    comments: dict[int, Comment] = field(default_factory=dict)
    statuses: list[Status] = field(default_factory=list)
    labels: dict[str, Label] = field(default_factory=dict)  # keyed by lower-case name
    releases: list[Release] = field(default_factory=list)
    next_number: int = 1
    created_at: str = field(default_factory=now_iso)
    required_contexts: list[str] = field(default_factory=list)  # branch protection on the default branch

    @property
    def full_name(self) -> str:
        return f"{self.owner.login}/{self.name}"

    def pulls(self) -> list[Issue]:
        return [issue for issue in self.issues.values() if issue.pull is not None]

    def branch_sha(self, branch: str) -> str | None:
        found = self.refs.get(f"refs/heads/{branch}")
        return None if found is None else found[0]

    def refresh_pull(self, issue: Issue) -> None:
        """An open PR's head and base follow their branches, as on GitHub after a push."""
        pull = issue.pull
        if pull is None or issue.state != "open":
            return
        head = self.branch_sha(pull.head_ref)
        if head is not None:
            pull.head_sha = head
        base = self.branch_sha(pull.base_ref)
        if base is not None:
            pull.base_sha = base


# Every new GitHub repository starts with these labels (name, color, description).
DEFAULT_LABELS = (
    ("bug", "d73a4a", "Something isn't working"),
    ("documentation", "0075ca", "Improvements or additions to documentation"),
    ("duplicate", "cfd3d7", "This issue or pull request already exists"),
    ("enhancement", "a2eeef", "New feature or request"),
    ("good first issue", "7057ff", "Good for newcomers"),
    ("help wanted", "008672", "Extra attention is needed"),
    ("invalid", "e4e669", "This doesn't seem right"),
    ("question", "d876e3", "Further information is requested"),
    ("wontfix", "ffffff", "This will not be worked on"),
)


class State:
    """Everything the stand-in knows; handlers hold ``lock`` while they read or change it."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.users: dict[str, User] = {}
        self.repos: dict[str, Repo] = {}  # keyed by lower-case full name
        self._next_id = 1000

    def next_id(self) -> int:
        with self.lock:
            self._next_id += 1
            return self._next_id

    def user(self, login: str) -> User:
        with self.lock:
            found = self.users.get(login.lower())
            if found is None:
                kind = "Bot" if login.endswith("[bot]") else "User"
                found = self.users[login.lower()] = User(login=login, id=self.next_id(), type=kind)
            return found

    def add_repo(
        self,
        full_name: str,
        *,
        git_dir: Path | None = None,
        default_branch: str = "main",
        owner_type: str = "Organization",
        private: bool = False,
    ) -> Repo:
        """Create a repository; with ``git_dir`` its branches and tags are those of that bare repository."""
        owner_login, name = full_name.split("/")
        with self.lock:
            owner = self.user(owner_login)
            owner.type = owner_type
            refs: RefStore = GitDirRefs(git_dir) if git_dir is not None else MemoryRefs()
            repo = Repo(
                id=self.next_id(),
                owner=owner,
                name=name,
                refs=refs,
                default_branch=default_branch,
                private=private,
            )
            for label_name, color, description in DEFAULT_LABELS:
                repo.labels[label_name] = Label(
                    id=self.next_id(), name=label_name, color=color, description=description, default=True
                )
            self.repos[full_name.lower()] = repo
            return repo

    def repo(self, full_name: str) -> Repo:
        return self.repos[full_name.lower()]

    def repo_by_id(self, repo_id: int) -> Repo | None:
        return next((r for r in self.repos.values() if r.id == repo_id), None)

    def create_branch(self, full_name: str, branch: str, sha: str | None = None) -> str:
        """Create a branch in a repository without a git folder (sha defaults to a stable fake)."""
        repo = self.repo(full_name)
        value = sha or fake_sha(f"{full_name}:{branch}")
        with self.lock:
            existing = repo.refs.get(f"refs/heads/{branch}")
            if existing is None:
                repo.refs.create(f"refs/heads/{branch}", value)
            else:
                repo.refs.update(f"refs/heads/{branch}", value, force=True)
        return value

    def open_pull(
        self,
        full_name: str,
        *,
        head: str,
        base: str,
        title: str,
        body: str | None = None,
        user: str,
        fork_owner: str | None = None,
    ) -> Issue:
        """Open a pull request directly in the state (as if somebody had used the web UI).

        ``fork_owner`` makes it a pull request from that user's fork (``fork_owner/<name>``), whose head
        branch is not one of this repository's: its sha is the base's tip.
        """
        repo = self.repo(full_name)
        with self.lock:
            if fork_owner is not None:
                self.user(fork_owner)
                head_sha = repo.branch_sha(base) or ""
            else:
                head_sha = repo.branch_sha(head) or self.create_branch(full_name, head)
            base_sha = repo.branch_sha(base) or ""
            issue = Issue(
                number=repo.next_number,
                id=self.next_id(),
                title=title,
                body=body,
                user=self.user(user).login,
                pull=PullFields(
                    head_ref=head,
                    head_owner=fork_owner or repo.owner.login,
                    base_ref=base,
                    head_sha=head_sha,
                    base_sha=base_sha,
                ),
                pull_id=self.next_id(),
            )
            repo.next_number += 1
            repo.issues[issue.number] = issue
            return issue

    def add_comment(self, full_name: str, number: int, body: str, *, user: str) -> Comment:
        """Add an issue comment directly in the state (as another user would)."""
        repo = self.repo(full_name)
        with self.lock:
            comment = Comment(id=self.next_id(), issue_number=number, body=body, user=self.user(user).login)
            repo.comments[comment.id] = comment
            return comment

    def open_pulls(self, full_name: str) -> list[Issue]:
        repo = self.repo(full_name)
        with self.lock:
            return [i for i in repo.pulls() if i.state == "open"]

    def comments_on(self, full_name: str, number: int) -> list[Comment]:
        repo = self.repo(full_name)
        with self.lock:
            return [c for c in repo.comments.values() if c.issue_number == number]
