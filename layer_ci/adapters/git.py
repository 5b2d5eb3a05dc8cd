"""Every git subprocess layer-ci runs: branches, bot commits, leased pushes and remote inspection."""

from __future__ import annotations

import base64
import os
import re
import subprocess
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal, NamedTuple

from layer_ci.errors import ServiceError

SERVICE = "git"
_SHA_RE = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")
_ZERO_SHA = "0" * 40
_MAX_DETAIL = 400
# Variables that would make git print protocol traffic (and with it credentials) or point it at another
# repository than the one this adapter wraps.
_SCRUBBED_ENV_PREFIXES = ("GIT_TRACE", "GIT_CURL_VERBOSE", "GIT_REDACT")
_SCRUBBED_ENV = frozenset(
    {
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_INDEX_FILE",
        "GIT_OBJECT_DIRECTORY",
        "GIT_ALTERNATE_OBJECT_DIRECTORIES",
        "GIT_COMMON_DIR",
        "GIT_NAMESPACE",
        "GIT_CEILING_DIRECTORIES",
        "GIT_DISCOVERY_ACROSS_FILESYSTEM",
        "GIT_EXTERNAL_DIFF",
    }
)
# Settings forced on every call, above any config file: a repository's own config never gets to start a
# program through them. A checkout's files cannot write .git/config, but a fork can commit a whole bare
# repository's layout (HEAD, config, objects/, refs/) into a subfolder; the repository is therefore always
# named explicitly (--git-dir/--work-tree) and git never discovers one. safe.bareRepository=explicit is the
# second wall should anything still ask git to discover.
_FORCED_CONFIG = (
    "core.fsmonitor=false",
    "core.hooksPath=/dev/null",
    "safe.bareRepository=explicit",
    "protocol.ext.allow=never",
    "commit.gpgSign=false",
    "tag.gpgSign=false",
    "core.quotePath=false",
)

_AUTH_FAILURE_MARKERS = (
    "authentication failed",
    "could not read username",
    "could not read password",
    "invalid username or password",
    "permission to",
    "returned error: 401",
    "returned error: 403",
)

PushRejection = Literal[
    "stale-lease",
    "non-fast-forward",
    "protected-branch",
    "workflows-permission",
    "foreign-commits",
    "authentication",
    "other",
]


@dataclass(frozen=True)
class GitIdentity:
    """The author and committer of every commit layer-ci makes (the Actions bot by default)."""

    name: str = "github-actions[bot]"
    email: str = "41898282+github-actions[bot]@users.noreply.github.com"


@dataclass(frozen=True)
class CommitResult:
    """The commit a change produced; ``created`` is False when nothing changed and no commit was made."""

    sha: str
    created: bool


class IndexEntry(NamedTuple):
    """A file as git's index records it: ``mode`` ("100644", "100755", "120000", ...) and its blob id.

    A named tuple rather than a dataclass: a large repository's index holds tens of thousands.
    """

    mode: str
    blob_id: str


@dataclass(frozen=True)
class ForeignCommit:
    """A commit on a bot branch that the bot did not make: authored, committed or merged by someone else."""

    sha: str
    author_name: str
    author_email: str
    committer_name: str = ""
    committer_email: str = ""
    why: str = "authored"

    def __str__(self) -> str:
        if self.why == "committed":
            return f"{self.sha[:12]} committed by {self.committer_name} <{self.committer_email}>"
        if self.why == "merge":
            return f"{self.sha[:12]} (a merge commit by {self.committer_name} <{self.committer_email}>)"
        return f"{self.sha[:12]} by {self.author_name} <{self.author_email}>"


def find_work_tree(start: Path) -> Path | None:
    """The nearest folder at or above ``start`` holding a ``.git`` folder or gitfile, else None.

    Git's own discovery also accepts a folder laid out as a bare repository (HEAD, objects/, refs/), which
    a commit can plant; this walk never does. No commit can contain a ``.git`` entry (git refuses the
    name), so the folder found from inside a checkout is the checkout's top.
    """
    folder = Path(os.path.abspath(start))
    for candidate in (folder, *folder.parents):
        marker = candidate / ".git"
        if marker.is_dir() or marker.is_file():
            return candidate
    return None


class PushRejectedError(ServiceError):
    """The remote refused a push; ``reason`` says why so callers can tell a lost race from a hard refusal."""

    def __init__(self, branch: str, reason: PushRejection, detail: str) -> None:
        self.branch = branch
        self.reason = reason
        super().__init__(SERVICE, "push", f"{branch}: {detail}")


class GitRepo:
    """A working repository driven through the real ``git`` binary, argv lists only, never a shell.

    Every command names its repository explicitly (``--git-dir``/``--work-tree`` of ``work_tree``, else
    of the checkout found above ``path`` by :func:`find_work_tree`), so a repository planted inside the
    checkout is never read; relative paths are taken from ``path``. Every command runs with the bot
    identity, hooks, fsmonitor, external diffs and commit signing off, prompts disabled and a scrubbed
    environment. A token, when given, is sent as an ``http.<remote-url>.extraheader`` set
    through ``GIT_CONFIG_COUNT`` variables: it is never written to disk, never part of a URL and never
    on a command line that other users could read in the process table.
    """

    def __init__(
        self,
        path: Path,
        *,
        remote: str = "origin",
        identity: GitIdentity | None = None,
        token: str | None = None,
        timeout_s: float = 300.0,
        work_tree: Path | None = None,
    ) -> None:
        if not remote or remote.startswith("-") or any(c.isspace() for c in remote):
            raise ValueError(f"invalid git remote name {remote!r}")
        self.path = Path(path)
        self.remote = remote
        self.identity = identity or GitIdentity()
        if any(c in f"{self.identity.name}{self.identity.email}" for c in "\n\r\0<>"):
            raise ValueError(f"invalid git identity {self.identity!r}")
        self._token = token or None
        self._timeout_s = timeout_s
        self._cached_remote_url: str | None = None
        self._work_tree = Path(os.path.abspath(work_tree)) if work_tree is not None else None

    def __repr__(self) -> str:  # the token stays out of reprs, logs and tracebacks
        return f"GitRepo({str(self.path)!r}, remote={self.remote!r})"

    # ----------------------------------------------------------------------------------- inspection

    def current_sha(self, ref: str = "HEAD") -> str:
        """The commit ``ref`` points at (a branch, tag, sha or ``HEAD``)."""
        sha = self.resolve(ref)
        if sha is None:
            raise ServiceError(SERVICE, "rev-parse", f"{ref!r} does not name a commit in {self.path}")
        return sha

    def resolve(self, ref: str) -> str | None:
        """The commit ``ref`` points at, or None when it does not exist."""
        _refuse_option_like(ref, "rev-parse")
        result = self._git(
            ["rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}"],
            operation="rev-parse",
            check=False,
        )
        return result.stdout.strip() if result.returncode == 0 else None

    def current_branch(self) -> str | None:
        """The checked-out branch, or None when HEAD is detached."""
        result = self._git(
            ["symbolic-ref", "--quiet", "--short", "HEAD"], operation="symbolic-ref", check=False
        )
        if result.returncode != 0:
            return None
        return result.stdout.strip() or None

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        _refuse_option_like(ancestor, "merge-base")
        _refuse_option_like(descendant, "merge-base")
        result = self._git(
            ["merge-base", "--is-ancestor", ancestor, descendant], operation="merge-base", check=False
        )
        if result.returncode not in (0, 1):
            raise self._error("merge-base", result)
        return result.returncode == 0

    def read_file(self, ref: str, path: str) -> bytes | None:
        """The content of ``path`` at ``ref``, or None when the file is not there."""
        _refuse_option_like(ref, "cat-file")
        spec = f"{ref}:{_repo_path(path)}"
        if self._git(["cat-file", "-e", spec], operation="cat-file", check=False).returncode != 0:
            return None
        return self._git_bytes(["cat-file", "blob", spec], operation="cat-file")

    def clean_index_entries(self, pathspecs: Sequence[str]) -> dict[str, IndexEntry] | None:
        """Tracked files under ``pathspecs`` whose working copy git sees as identical to its index entry.

        Keys are POSIX paths relative to this repository folder (as git prints them, relative to the
        folder, which may lie below the top of the work tree). Pass few pathspecs (common parent folders
        rather than one per file or folder): git matches every index entry against each of them. Left
        out: unmerged paths and files whose content, type or executable bit differ from the index
        (stat-dirty ones too; racily clean ones are compared by content, as git always does). Read-only:
        the index is not refreshed or written. Returns None when git cannot answer (not a work tree,
        git missing, an untrusted repository).
        """
        if not pathspecs:
            return {}
        # Paths are folders from layer-ci.yml, not patterns: "lib[1]" must not be a glob.
        literal = ["--literal-pathspecs"]
        # One git process for both questions: -t tags each line, "H" for an index entry (-c) and "C"
        # for a modified one (-m), so the stage listing and the dirty paths come back together.
        # core.fileMode=true: an executable bit changed on disk counts even where the repository chose
        # to ignore modes, since layer zips keep it.
        tagged_listing = ["ls-files", "-z", "-t", "-c", "-m", "-s", "--", *pathspecs]
        try:
            listed = self._run(
                ["-c", "core.fileMode=true", *literal, *tagged_listing],
                operation="ls-files",
                env=None,
            )
            if listed.returncode != 0:
                return None
        except ServiceError:
            return None
        entries: dict[str, IndexEntry] = {}
        unmerged: set[str] = set()
        dirty: list[str] = []
        for record in listed.stdout.split("\0"):
            if not record:
                continue
            info, _, path = record.partition("\t")
            tag, mode, blob_id, stage = info.split(" ")
            if tag == "C":
                dirty.append(path)
            elif stage != "0":
                unmerged.add(path)
            else:
                entries[path] = IndexEntry(mode, blob_id)
        for path in (*unmerged, *dirty):
            entries.pop(path, None)
        return entries

    def changed_files(self, base: str, tip: str) -> tuple[str, ...]:
        """Paths that differ between two commits, sorted."""
        _refuse_option_like(base, "diff")
        _refuse_option_like(tip, "diff")
        out = self._git_bytes(
            ["diff", "--name-only", "-z", "--no-renames", "--no-ext-diff", "--no-textconv", base, tip, "--"],
            operation="diff",
        )
        return tuple(sorted(p.decode("utf-8", "surrogateescape") for p in out.split(b"\0") if p))

    # ------------------------------------------------------------------------------------- branches

    def validate_branch(self, branch: str) -> str:
        """Return ``branch`` when git accepts it as a branch name, else raise ServiceError."""
        if not branch or branch.startswith("-") or branch != branch.strip() or "\0" in branch:
            raise ServiceError(SERVICE, "check-ref-format", f"{branch!r} is not a valid branch name")
        result = self._git(
            ["check-ref-format", "--branch", branch], operation="check-ref-format", check=False
        )
        if result.returncode != 0 or result.stdout.strip() != branch:
            raise ServiceError(
                SERVICE,
                "check-ref-format",
                f"{branch!r} is not a valid branch name (see git check-ref-format)",
            )
        return branch

    def start_branch(self, branch: str, base: str) -> str:
        """Create or reset local ``branch`` at ``base`` and check it out; returns the base commit."""
        self.validate_branch(branch)
        base_sha = self.current_sha(base)
        self._git(["checkout", "--quiet", "--no-track", "-B", branch, base_sha, "--"], operation="checkout")
        return base_sha

    def checkout(self, ref: str) -> None:
        """Check out an existing branch (or detach at a commit)."""
        _refuse_option_like(ref, "checkout")
        if self.resolve(ref) is None:
            raise ServiceError(SERVICE, "checkout", f"{ref!r} does not name a commit in {self.path}")
        self._git(["checkout", "--quiet", ref, "--"], operation="checkout")

    def set_branch(self, branch: str, sha: str) -> None:
        """Point local ``branch`` at ``sha`` without touching the working tree."""
        self.validate_branch(branch)
        self._git(["update-ref", f"refs/heads/{branch}", self.current_sha(sha)], operation="update-ref")

    # -------------------------------------------------------------------------------------- commits

    def add(self, paths: Sequence[str]) -> None:
        """Stage ``paths`` (relative to the repository root), including deletions."""
        if not paths:
            return
        self._git(["add", "--all", "--", *(_repo_path(p) for p in paths)], operation="add")

    def commit(self, message: str, paths: Sequence[str] | None = None) -> CommitResult:
        """Commit the staged changes (after staging ``paths`` when given) as the bot; no-op when unchanged."""
        if paths is not None:
            self.add(paths)
        staged = self._git(["diff", "--cached", "--quiet", "--no-ext-diff"], operation="commit", check=False)
        if staged.returncode == 0:
            return CommitResult(self.current_sha("HEAD"), created=False)
        if staged.returncode != 1:
            raise self._error("commit", staged)
        self._git(
            ["commit", "--quiet", "--no-verify", "--file=-"], operation="commit", input=message.encode()
        )
        return CommitResult(self.current_sha("HEAD"), created=True)

    def commit_files(self, base: str, files: Mapping[str, bytes | None], message: str) -> CommitResult:
        """Commit ``files`` (path -> content, None deletes) on top of ``base`` without touching the checkout.

        The commit is built in a private index, so the working tree, the real index and HEAD stay as they
        were; push the returned sha with :meth:`push_with_lease`. Modes of existing files are kept.
        """
        base_sha = self.current_sha(base)
        with tempfile.TemporaryDirectory(prefix="layer-ci-index-") as tmp:
            env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
            self._git(["read-tree", base_sha], operation="commit", env=env)
            records = []
            for raw_path, content in sorted(files.items()):
                path = _repo_path(raw_path)
                if content is None:
                    records.append(f"0 {_ZERO_SHA}\t{path}")
                    continue
                blob = self._git(
                    ["hash-object", "-w", "--stdin"], operation="commit", input=content
                ).stdout.strip()
                records.append(f"{self._mode_at(base_sha, path)} {blob}\t{path}")
            if records:
                payload = "".join(f"{r}\0" for r in records).encode("utf-8", "surrogateescape")
                self._git(["update-index", "-z", "--index-info"], operation="commit", env=env, input=payload)
            tree = self._git(["write-tree"], operation="commit", env=env).stdout.strip()
        if tree == self._git(["rev-parse", f"{base_sha}^{{tree}}"], operation="commit").stdout.strip():
            return CommitResult(base_sha, created=False)
        sha = self._git(
            ["commit-tree", tree, "-p", base_sha, "-F", "-"], operation="commit", input=message.encode()
        ).stdout.strip()
        return CommitResult(sha, created=True)

    def foreign_commits(
        self, tip: str, base: str, *, allowed_emails: Iterable[str] = ()
    ) -> tuple[ForeignCommit, ...]:
        """Commits in ``base..tip`` the bot did not make itself, newest first.

        The bot writes exactly what it commits: one commit, author and committer both the bot. So a commit
        whose author or committer is someone else is foreign (``git commit --amend`` keeps the bot as
        author but makes the person the committer), and so is any merge commit (GitHub's "Update branch").
        """
        _refuse_option_like(tip, "log")
        _refuse_option_like(base, "log")
        allowed = {self.identity.email.lower(), *(e.lower() for e in allowed_emails)}
        out = self._git(
            ["log", "--format=%H%x1f%an%x1f%ae%x1f%cn%x1f%ce%x1f%P", "--end-of-options", f"{base}..{tip}"],
            operation="log",
        ).stdout
        found = []
        for line in out.splitlines():
            sha, name, email, committer_name, committer_email, parents = line.split("\x1f")
            why = (
                "authored"
                if email.lower() not in allowed
                else "committed"
                if committer_email.lower() not in allowed
                else "merge"
                if len(parents.split()) > 1
                else None
            )
            if why is not None:
                found.append(ForeignCommit(sha, name, email, committer_name, committer_email, why))
        return tuple(found)

    # --------------------------------------------------------------------------------------- remote

    def remote_branch_sha(self, branch: str) -> str | None:
        """The remote's tip of ``branch`` (``git ls-remote``), or None when the branch does not exist."""
        self.validate_branch(branch)
        ref = f"refs/heads/{branch}"
        out = self._git(
            ["ls-remote", "--refs", "--end-of-options", self.remote, ref], operation="ls-remote"
        ).stdout
        for line in out.splitlines():
            sha, _, name = line.partition("\t")
            if name == ref:
                return sha
        return None

    def fetch(self, branch: str | None = None) -> str | None:
        """Fetch ``branch`` (or every branch) into ``refs/remotes/<remote>/``; returns the branch's tip.

        A branch missing on the remote returns None instead of failing.
        """
        if branch is None:
            self._git(
                [
                    "fetch",
                    "--quiet",
                    "--no-tags",
                    "--prune",
                    self.remote,
                    f"+refs/heads/*:refs/remotes/{self.remote}/*",
                ],
                operation="fetch",
            )
            return None
        self.validate_branch(branch)
        if self.remote_branch_sha(branch) is None:
            return None
        tracking = f"refs/remotes/{self.remote}/{branch}"
        self._git(
            ["fetch", "--quiet", "--no-tags", self.remote, f"+refs/heads/{branch}:{tracking}"],
            operation="fetch",
        )
        return self.current_sha(tracking)

    def remote_foreign_commits(self, branch: str, base: str) -> tuple[ForeignCommit, ...]:
        """Commits on the remote ``branch`` (beyond ``base``) the bot did not make (see foreign_commits)."""
        tip = self.fetch(branch)
        return () if tip is None else self.foreign_commits(tip, base)

    def push_with_lease(
        self,
        branch: str,
        expected_remote_sha: str | None,
        *,
        source: str = "HEAD",
        protect_foreign_since: str | None = None,
    ) -> str:
        """Force-push ``source`` to ``branch`` only if the remote tip still is ``expected_remote_sha``.

        ``expected_remote_sha=None`` means the branch must not exist yet. With ``protect_foreign_since``
        (the base the bot branches from) the push is refused when the remote branch carries commits
        somebody else authored, as Renovate does. Returns the pushed sha; raises PushRejectedError.
        """
        self.validate_branch(branch)
        local_sha = self.current_sha(source)
        if expected_remote_sha is not None and not _SHA_RE.match(expected_remote_sha):
            raise ValueError(f"expected_remote_sha must be a full commit sha, got {expected_remote_sha!r}")
        if expected_remote_sha is not None and protect_foreign_since is not None:
            if self.resolve(expected_remote_sha) is None:
                self.fetch(branch)
            if self.resolve(expected_remote_sha) is not None:
                foreign = self.foreign_commits(expected_remote_sha, protect_foreign_since)
                if foreign:
                    shown = ", ".join(str(c) for c in foreign[:3])
                    raise PushRejectedError(
                        branch,
                        "foreign-commits",
                        f"the remote branch carries commits the bot did not author or commit ({shown}); "
                        "refusing to force-push over them: merge or close that pull request, or delete the "
                        "branch",
                    )
        if expected_remote_sha == local_sha:
            return local_sha
        self._leased_push(branch, expected_remote_sha, f"{local_sha}:refs/heads/{branch}")
        return local_sha

    def delete_remote_branch(self, branch: str, expected_remote_sha: str) -> None:
        """Delete the remote ``branch`` if its tip still is ``expected_remote_sha``."""
        self.validate_branch(branch)
        self._leased_push(branch, expected_remote_sha, f":refs/heads/{branch}")

    # ------------------------------------------------------------------------------------ internals

    def _leased_push(self, branch: str, expected_remote_sha: str | None, refspec: str) -> None:
        """Push ``refspec`` only while the remote ``branch`` is at ``expected_remote_sha`` (None: absent)."""
        lease = f"--force-with-lease=refs/heads/{branch}:{expected_remote_sha or ''}"
        result = self._git(
            ["push", "--porcelain", "--no-verify", lease, self.remote, refspec], operation="push", check=False
        )
        if result.returncode != 0:
            raise self._push_rejection(branch, expected_remote_sha, result)

    def _mode_at(self, commit: str, path: str) -> str:
        out = self._git(["ls-tree", "-z", commit, "--", path], operation="commit").stdout
        mode = out.split(" ", 1)[0] if out else ""
        return mode if mode in ("100644", "100755") else "100644"

    def _push_rejection(
        self, branch: str, expected: str | None, result: subprocess.CompletedProcess[str]
    ) -> PushRejectedError:
        reasons = [
            m.group(1)
            for line in result.stdout.splitlines()
            if line.startswith("!") and (m := re.search(r"\(([^)]*)\)\s*$", line))
        ]
        reason_text = "; ".join(reasons)
        remote_lines = [
            " ".join(line.removeprefix("remote:").split())
            for line in result.stderr.splitlines()
            if line.startswith("remote:") and line.removeprefix("remote:").strip()
        ]
        everything = f"{reason_text} {' '.join(remote_lines)} {result.stderr}".lower()
        expected_text = expected[:12] if expected else "no branch"
        # "stale info": the lease failed before sending; the others: another push moved the ref while
        # this one was in flight, and the server refused to update it (a lost race, not a hard refusal).
        if any(
            sign in everything
            for sign in ("stale info", "failed to update ref", "failed to lock", "cannot lock ref")
        ):
            return PushRejectedError(
                branch,
                "stale-lease",
                f"the remote branch moved since it was read (lease expected {expected_text}, stale info); "
                "someone else pushed: fetch it and rerun",
            )
        if "workflow" in everything and ("permission" in everything or "scope" in everything):
            return PushRejectedError(
                branch,
                "workflows-permission",
                "the token may not create or update files under .github/workflows (it lacks the `workflows` "
                "permission); give the token that permission or keep workflow files out of the change",
            )
        if "gh006" in everything or "protected branch" in everything:
            return PushRejectedError(
                branch,
                "protected-branch",
                "the branch is protected and refused the push (GH006); use an unprotected bot branch or "
                "allow the bot to push to it",
            )
        if "non-fast-forward" in everything or "fetch first" in everything:
            return PushRejectedError(
                branch, "non-fast-forward", "the remote has commits the push would drop (non-fast-forward)"
            )
        if any(marker in everything for marker in _AUTH_FAILURE_MARKERS):
            return PushRejectedError(
                branch,
                "authentication",
                f"the remote refused the credentials ({self._summarise(result)}); check that the token has "
                "`contents: write` on this repository",
            )
        detail = reason_text or self._summarise(result)
        return PushRejectedError(branch, "other", self._redact(detail))

    def _remote_url(self) -> str:
        if self._cached_remote_url is None:
            result = self._run(["remote", "get-url", "--", self.remote], operation="remote", env=None)
            self._cached_remote_url = result.stdout.strip() if result.returncode == 0 else ""
        return self._cached_remote_url

    def _config_env(self) -> dict[str, str]:
        if self._token is None:
            return {}
        url = self._remote_url()
        if not url.startswith(("https://", "http://")):
            return {}
        basic = base64.b64encode(f"x-access-token:{self._token}".encode()).decode()
        # The empty value first clears any header actions/checkout persisted for this host, so exactly one
        # Authorization header is sent; the full remote URL is the most specific match git knows.
        pairs = [
            (f"http.{url}.extraheader", ""),
            (f"http.{url}.extraheader", f"AUTHORIZATION: basic {basic}"),
            ("credential.helper", ""),
        ]
        # Entries the caller's environment already defines this way are kept; ours are appended after them.
        first = int(os.environ.get("GIT_CONFIG_COUNT", "0") or 0)
        env = {"GIT_CONFIG_COUNT": str(first + len(pairs))}
        for index, (key, value) in enumerate(pairs, start=first):
            env[f"GIT_CONFIG_KEY_{index}"] = key
            env[f"GIT_CONFIG_VALUE_{index}"] = value
        return env

    def _base_env(self) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if key not in _SCRUBBED_ENV and not key.startswith(_SCRUBBED_ENV_PREFIXES)
        }
        env.update(
            {
                "GIT_TERMINAL_PROMPT": "0",
                "GCM_INTERACTIVE": "never",
                "GIT_ASKPASS": "",
                "SSH_ASKPASS": "",
                "LC_ALL": "C",
                "LANGUAGE": "C",
            }
        )
        return env

    def work_tree(self, operation: str = "rev-parse") -> Path:
        """The checkout every command names: ``work_tree`` when given, else the one holding ``path``."""
        if self._work_tree is None:
            if not self.path.is_dir():
                raise ServiceError(SERVICE, operation, f"repository folder {self.path} does not exist")
            found = find_work_tree(self.path)
            if found is None:
                raise ServiceError(SERVICE, operation, f"{self.path} is not inside a git checkout")
            self._work_tree = found
        return self._work_tree

    def _argv(self, args: Sequence[str], operation: str) -> list[str]:
        ident = self.identity
        top = self.work_tree(operation)
        forced = [item for setting in _FORCED_CONFIG for item in ("-c", setting)]
        return [
            "git",
            f"--git-dir={top / '.git'}",
            f"--work-tree={top}",
            "-c",
            f"user.name={ident.name}",
            "-c",
            f"user.email={ident.email}",
            *forced,
            *args,
        ]

    def _run(
        self,
        args: Sequence[str],
        *,
        operation: str,
        env: Mapping[str, str] | None,
        input: bytes | None = None,
    ) -> subprocess.CompletedProcess[str]:
        full_env = self._base_env()
        if env:
            full_env.update(env)
        argv = self._argv(args, operation)
        try:
            raw = subprocess.run(
                argv,
                cwd=self.path,
                env=full_env,
                input=input if input is not None else b"",
                capture_output=True,
                timeout=self._timeout_s,
                check=False,
            )
        except FileNotFoundError as exc:
            if not self.path.is_dir():
                raise ServiceError(
                    SERVICE, operation, f"repository folder {self.path} does not exist"
                ) from None
            raise ServiceError(
                SERVICE, operation, "the git executable was not found on PATH; install git"
            ) from exc
        except subprocess.TimeoutExpired:
            raise ServiceError(SERVICE, operation, f"timed out after {self._timeout_s:g} s") from None
        return subprocess.CompletedProcess(
            raw.args,
            raw.returncode,
            raw.stdout.decode("utf-8", "surrogateescape"),
            raw.stderr.decode("utf-8", "replace"),
        )

    def _git(
        self,
        args: Sequence[str],
        *,
        operation: str,
        check: bool = True,
        input: bytes | None = None,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        extra = {**self._config_env(), **(env or {})} if operation in ("push", "fetch", "ls-remote") else env
        result = self._run(args, operation=operation, env=extra, input=input)
        if check and result.returncode != 0:
            raise self._error(operation, result)
        return result

    def _git_bytes(self, args: Sequence[str], *, operation: str) -> bytes:
        argv = self._argv(args, operation)
        try:
            raw = subprocess.run(
                argv,
                cwd=self.path,
                env=self._base_env(),
                input=b"",
                capture_output=True,
                timeout=self._timeout_s,
                check=False,
            )
        except (FileNotFoundError, subprocess.TimeoutExpired) as exc:
            raise ServiceError(SERVICE, operation, f"could not run git: {type(exc).__name__}") from None
        if raw.returncode != 0:
            err = subprocess.CompletedProcess(
                raw.args, raw.returncode, "", raw.stderr.decode("utf-8", "replace")
            )
            raise self._error(operation, err)
        return raw.stdout

    def _summarise(self, result: subprocess.CompletedProcess[str]) -> str:
        lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
        important = [
            line
            for line in lines
            if line.startswith(("fatal:", "error:", "remote: error:", "remote: fatal:")) or "denied" in line
        ]
        chosen = important or lines[-2:] or [f"exit status {result.returncode}"]
        text = " ".join("; ".join(chosen).split())
        return self._redact(text)[:_MAX_DETAIL]

    def _error(self, operation: str, result: subprocess.CompletedProcess[str]) -> ServiceError:
        return ServiceError(SERVICE, operation, self._summarise(result))

    def _redact(self, text: str) -> str:
        text = re.sub(r"(\w+://)[^/@\s]+@", r"\1***@", text)
        if self._token:
            basic = base64.b64encode(f"x-access-token:{self._token}".encode()).decode()
            for secret in (self._token, basic):
                text = text.replace(secret, "***")
        return text


def _refuse_option_like(value: str, operation: str) -> None:
    # Refs come from config files and event payloads; one starting with "-" would be read as an option.
    if not value or value.startswith("-") or "\0" in value or "\n" in value:
        raise ServiceError(SERVICE, operation, f"{value!r} is not a valid git revision")


def _repo_path(path: str) -> str:
    pure = PurePosixPath(path.replace(os.sep, "/"))
    if pure.is_absolute() or not pure.parts or ".." in pure.parts or pure.parts[0] == ".git" or "\0" in path:
        raise ServiceError(SERVICE, "add", f"{path!r} is not a path inside the repository")
    return pure.as_posix()


def source_files(folder: Path, *, timeout_s: float = 60.0) -> list[str] | None:
    """Files git would commit under ``folder``: tracked plus untracked-not-ignored, relative to it.

    Paths are POSIX, relative to ``folder`` (which may lie below the top of the work tree), in git's
    order; tracked files deleted from the working copy may be listed. Returns None when ``folder`` is
    not in a git work tree or git cannot answer, so callers fall back to walking the folder.
    """
    repo = GitRepo(folder, timeout_s=timeout_s)
    try:
        result = repo._run(
            ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], operation="ls-files", env=None
        )
    except ServiceError:
        return None
    if result.returncode != 0:
        return None
    listed = list(dict.fromkeys(path for path in result.stdout.split("\0") if path))
    if not listed:
        # A folder the enclosing checkout ignores (a copy under .demo/, a scratch tree) is no source of
        # that checkout: every file would be skipped. It is treated as a folder outside git instead.
        try:
            ignored = repo._run(
                ["check-ignore", "-q", str(folder.absolute())], operation="check-ignore", env=None
            )
        except ServiceError:
            return None
        if ignored.returncode == 0:
            return None
    return listed
