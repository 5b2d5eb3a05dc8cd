"""GitRepo against the real git: bare remotes on disk and a token-checking smart-HTTP server on loopback."""

from __future__ import annotations

import base64
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from layer_ci.adapters.git import GitIdentity, GitRepo, IndexEntry, PushRejectedError
from layer_ci.errors import ServiceError
from tests.support.git_remote import GitHttpServer, GitRemote, make_git_remote, run_git

BOT = GitIdentity()
BRANCH = "layer-ci/common-deps"
PROTECTED_HOOK = """#!/bin/sh
echo "error: GH006: Protected branch update failed for refs/heads/main." >&2
echo "error: Changes must be made through a pull request." >&2
exit 1
"""
WORKFLOWS_HOOK = """#!/bin/sh
echo "refusing to allow a GitHub App to create or update workflow" \\
  "\\`.github/workflows/ci.yml\\` without \\`workflows\\` permission" >&2
exit 1
"""


@pytest.fixture
def repo(git_remote: GitRemote) -> GitRepo:
    return GitRepo(git_remote.clone)


def bump(repo: GitRepo, content: bytes, base: str = "main") -> str:
    return repo.commit_files(base, {"layer-ci.lock": content}, "Bump common-deps").sha


# ------------------------------------------------------------------------------------------ pushes


def test_push_with_lease_creates_then_updates_the_branch(git_remote: GitRemote, repo: GitRepo) -> None:
    first = bump(repo, b"v1\n")
    assert repo.push_with_lease(BRANCH, None, source=first) == first
    assert git_remote.branch_sha(BRANCH) == first
    assert git_remote.read_file(BRANCH, "layer-ci.lock") == b"v1\n"
    assert repo.remote_branch_sha(BRANCH) == first

    second = bump(repo, b"v2\n")  # a rewrite from main, not a child of the first: needs the force
    repo.push_with_lease(BRANCH, first, source=second)
    assert git_remote.branch_sha(BRANCH) == second
    assert git_remote.files(BRANCH) == {"README.md": b"hello\n", "layer-ci.lock": b"v2\n"}
    assert [email for _, email, _ in git_remote.commit_log(BRANCH)] == [BOT.email, "author@example.com"]


def test_pushing_what_is_already_there_is_a_no_op(git_remote: GitRemote, repo: GitRepo) -> None:
    sha = bump(repo, b"v1\n")
    repo.push_with_lease(BRANCH, None, source=sha)
    assert repo.push_with_lease(BRANCH, sha, source=sha) == sha
    assert git_remote.branch_sha(BRANCH) == sha


def test_stale_lease_is_refused_clearly(git_remote: GitRemote, repo: GitRepo) -> None:
    ours = bump(repo, b"v1\n")
    repo.push_with_lease(BRANCH, None, source=ours)
    theirs = git_remote.push_as(
        BRANCH, {"x.txt": b"x"}, author=(BOT.name, BOT.email), message="concurrent run"
    )
    newer = bump(repo, b"v2\n")
    with pytest.raises(PushRejectedError) as caught:
        repo.push_with_lease(BRANCH, ours, source=newer)
    assert caught.value.reason == "stale-lease"
    message = str(caught.value)
    assert (
        message.startswith(f"git push failed: {BRANCH}: the remote branch moved") and "stale info" in message
    )
    assert "\n" not in message
    assert git_remote.branch_sha(BRANCH) == theirs


def test_creating_a_branch_that_appeared_meanwhile_is_refused(git_remote: GitRemote, repo: GitRepo) -> None:
    other = git_remote.push_as(BRANCH, {"x.txt": b"x"}, author=(BOT.name, BOT.email), message="other run")
    with pytest.raises(PushRejectedError) as caught:
        repo.push_with_lease(BRANCH, None, source=bump(repo, b"v1\n"))
    assert caught.value.reason == "stale-lease"
    assert git_remote.branch_sha(BRANCH) == other


def test_branch_with_someone_elses_commit_is_never_force_pushed(git_remote: GitRemote, repo: GitRepo) -> None:
    ours = bump(repo, b"v1\n")
    repo.push_with_lease(BRANCH, None, source=ours)
    theirs = git_remote.push_as(
        BRANCH,
        {"fix.txt": b"manual fix\n"},
        author=("Dana Dev", "dana@example.com"),
        message="fix the bump by hand",
    )
    assert [c.sha for c in repo.remote_foreign_commits(BRANCH, "main")] == [theirs]
    with pytest.raises(PushRejectedError) as caught:
        repo.push_with_lease(BRANCH, theirs, source=bump(repo, b"v2\n"), protect_foreign_since="main")
    assert caught.value.reason == "foreign-commits"
    assert "Dana Dev <dana@example.com>" in str(caught.value) and "refusing to force-push" in str(
        caught.value
    )
    assert git_remote.branch_sha(BRANCH) == theirs


def test_bot_only_branch_is_rewritten_with_the_guard_on(git_remote: GitRemote, repo: GitRepo) -> None:
    ours = bump(repo, b"v1\n")
    repo.push_with_lease(BRANCH, None, source=ours)
    newer = bump(repo, b"v2\n")
    assert repo.push_with_lease(BRANCH, ours, source=newer, protect_foreign_since="main") == newer
    assert repo.remote_foreign_commits(BRANCH, "main") == ()


def test_guard_fetches_a_remote_tip_it_has_not_seen(git_remote: GitRemote, tmp_path: Path) -> None:
    theirs = git_remote.push_as(
        BRANCH, {"fix.txt": b"x"}, author=("Dana Dev", "dana@example.com"), message="m"
    )
    other_clone = tmp_path / "second-clone"
    run_git(
        [
            "clone",
            "--quiet",
            "--single-branch",
            "--branch",
            "main",
            git_remote.bare.as_uri(),
            str(other_clone),
        ],
        tmp_path,
    )
    second = GitRepo(other_clone)
    assert second.resolve(theirs) is None
    with pytest.raises(PushRejectedError, match="carries commits the bot did not author"):
        second.push_with_lease(BRANCH, theirs, source=bump(second, b"v2\n"), protect_foreign_since="main")


def test_protected_branch_rejection_is_recognised(git_remote: GitRemote, repo: GitRepo) -> None:
    git_remote.install_hook("pre-receive", PROTECTED_HOOK)
    with pytest.raises(PushRejectedError) as caught:
        repo.push_with_lease("main", git_remote.initial_sha, source=bump(repo, b"v1\n"))
    assert caught.value.reason == "protected-branch"
    assert "protected" in str(caught.value) and "GH006" in str(caught.value)


def test_missing_workflows_permission_is_recognised(git_remote: GitRemote, repo: GitRepo) -> None:
    git_remote.install_hook("pre-receive", WORKFLOWS_HOOK)
    change = repo.commit_files("main", {".github/workflows/ci.yml": b"on: push\n"}, "touch a workflow")
    with pytest.raises(PushRejectedError) as caught:
        repo.push_with_lease(BRANCH, None, source=change.sha)
    assert caught.value.reason == "workflows-permission"
    assert "`workflows` permission" in str(caught.value)


def test_delete_remote_branch_with_lease(git_remote: GitRemote, repo: GitRepo) -> None:
    sha = bump(repo, b"v1\n")
    repo.push_with_lease(BRANCH, None, source=sha)
    with pytest.raises(PushRejectedError):
        repo.delete_remote_branch(BRANCH, git_remote.initial_sha)
    repo.delete_remote_branch(BRANCH, sha)
    assert git_remote.branch_sha(BRANCH) is None


# ---------------------------------------------------------------------------------- branch names


@pytest.mark.parametrize(
    "name", ["a;rm -rf x", "-f", "a..b", "a b", "x@{-1}", "trailing/", "a\nb", "", "a.lock"]
)
def test_invalid_branch_names_are_refused(repo: GitRepo, name: str) -> None:
    with pytest.raises(ServiceError, match="not a valid branch name"):
        repo.push_with_lease(name, None)


@pytest.mark.parametrize(
    "name",
    [
        "layer-ci/x;touch${IFS}pwned",
        "layer-ci/$(touch${IFS}pwned)",
        "layer-ci/`touch${IFS}pwned`",
        "layer-ci/&&id>pwned",
    ],
)
def test_shell_metacharacters_in_valid_names_are_never_executed(
    git_remote: GitRemote, repo: GitRepo, name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    sha = bump(repo, b"v1\n")
    repo.push_with_lease(name, None, source=sha)
    repo.start_branch(name, "main")
    assert repo.current_branch() == name
    assert git_remote.branch_sha(name) == sha
    assert not list(tmp_path.rglob("pwned")) and not list(git_remote.clone.rglob("pwned"))


def test_option_like_revisions_are_refused(repo: GitRepo) -> None:
    with pytest.raises(ServiceError, match="not a valid git revision"):
        repo.current_sha("--output=/tmp/x")


# ------------------------------------------------------------------------------------------- commits


def test_commit_is_a_no_op_when_nothing_changed(git_remote: GitRemote, repo: GitRepo) -> None:
    unchanged = repo.commit("nothing", paths=["README.md"])
    assert unchanged.created is False and unchanged.sha == git_remote.initial_sha
    same = repo.commit_files("main", {"README.md": b"hello\n"}, "same bytes")
    assert same.created is False and same.sha == git_remote.initial_sha


def test_working_tree_commit_on_a_fresh_branch(git_remote: GitRemote, repo: GitRepo) -> None:
    assert repo.start_branch(BRANCH, "main") == git_remote.initial_sha
    (git_remote.clone / "template.yaml").write_text("Layers: [arn:aws:lambda:us-east-1:1:layer:x:2]\n")
    (git_remote.clone / "README.md").unlink()
    result = repo.commit("Bump x to 2", paths=["template.yaml", "README.md"])
    assert result.created and repo.current_sha() == result.sha and repo.current_branch() == BRANCH
    assert repo.changed_files("main", result.sha) == ("README.md", "template.yaml")
    assert repo.read_file(result.sha, "README.md") is None
    author = run_git(["log", "-1", "--format=%an <%ae>|%cn <%ce>", result.sha], git_remote.clone).strip()
    assert author == f"{BOT.name} <{BOT.email}>|{BOT.name} <{BOT.email}>"
    repo.checkout("main")
    assert repo.current_branch() == "main" and (git_remote.clone / "README.md").exists()


def test_commit_files_leaves_the_checkout_alone(git_remote: GitRemote, repo: GitRepo) -> None:
    script = git_remote.clone / "build.sh"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    run_git(["add", "build.sh"], git_remote.clone)
    run_git(["commit", "--quiet", "-m", "script"], git_remote.clone)
    base = repo.current_sha()
    (git_remote.clone / "scratch.txt").write_text("uncommitted work\n")
    result = repo.commit_files(
        base, {"build.sh": b"#!/bin/sh\necho 2\n", "README.md": None, "nested/dir/new.json": b"{}\n"}, "Bump"
    )
    assert result.created
    assert repo.current_sha() == base  # HEAD, index and files untouched
    assert (git_remote.clone / "README.md").read_bytes() == b"hello\n"
    assert run_git(["status", "--porcelain"], git_remote.clone) == "?? scratch.txt\n"
    tree = run_git(["ls-tree", "-r", result.sha], git_remote.clone)
    assert "100755 blob" in next(line for line in tree.splitlines() if line.endswith("build.sh"))
    assert repo.read_file(result.sha, "nested/dir/new.json") == b"{}\n"
    assert repo.read_file(result.sha, "README.md") is None


@pytest.mark.parametrize("path", ["../escape.txt", "/etc/passwd", ".git/config", "a/../../b"])
def test_paths_outside_the_repository_are_refused(repo: GitRepo, path: str) -> None:
    with pytest.raises(ServiceError, match="not a path inside the repository"):
        repo.commit_files("main", {path: b"x"}, "nope")


# -------------------------------------------------------------------------------------- inspection


def test_remote_branch_sha_matches_the_exact_branch(git_remote: GitRemote, repo: GitRepo) -> None:
    short = git_remote.push_as("a", {"a": b"a"}, author=(BOT.name, BOT.email), message="a")
    git_remote.push_as("x/a", {"b": b"b"}, author=(BOT.name, BOT.email), message="b")
    assert repo.remote_branch_sha("a") == short
    assert repo.remote_branch_sha("nope") is None


def test_fetch_returns_the_tip_or_none(git_remote: GitRemote, repo: GitRepo) -> None:
    tip = git_remote.push_as(BRANCH, {"a": b"a"}, author=(BOT.name, BOT.email), message="a")
    assert repo.fetch(BRANCH) == tip
    assert repo.current_sha(f"origin/{BRANCH}") == tip
    assert repo.fetch("missing") is None
    assert repo.fetch() is None
    assert repo.is_ancestor("main", tip)


def test_missing_repository_is_a_clear_error(tmp_path: Path, hermetic_git: None) -> None:
    with pytest.raises(ServiceError, match="does not exist"):
        GitRepo(tmp_path / "nowhere").current_sha()


# ---------------------------------------------------------------------------------- index lookups


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def test_clean_index_entries_lists_only_files_matching_the_index(git_remote: GitRemote) -> None:
    clone = git_remote.clone
    _write(clone, {"layer/a.txt": "a\n", "layer/b.txt": "b\n", "layer/c.txt": "c\n", "layer/tool": "t\n"})
    (clone / "layer" / "tool").chmod(0o755)
    (clone / "layer" / "link").symlink_to("a.txt")
    _write(clone, {"other/x.txt": "outside the pathspec\n"})
    run_git(["add", "--all"], clone)
    run_git(["commit", "--quiet", "-m", "files"], clone)
    repo = GitRepo(clone)
    assert repo.clean_index_entries(["layer"]) == {
        "layer/a.txt": IndexEntry("100644", "78981922613b2afb6025042ff6bd878ac1994e85"),
        "layer/b.txt": IndexEntry("100644", "61780798228d17af2d34fce4cfbdf35556832472"),
        "layer/c.txt": IndexEntry("100644", "f2ad6c76f0115a6ba5b00456a849810e7ec0af20"),
        "layer/link": IndexEntry("120000", "8d14cbf983b3fad683171c9418998d9f68340823"),
        "layer/tool": IndexEntry("100755", "718f4d2ff533cf8ead8d3556cf43912bd245fbc4"),
    }

    (clone / "layer" / "a.txt").write_text("edited\n")
    (clone / "layer" / "b.txt").chmod(0o755)
    (clone / "layer" / "c.txt").unlink()
    (clone / "layer" / "new.txt").write_text("untracked\n")
    assert set(repo.clean_index_entries(["layer"]) or {}) == {"layer/link", "layer/tool"}


def test_clean_index_entries_counts_mode_changes_even_when_the_repository_ignores_them(
    git_remote: GitRemote,
) -> None:
    clone = git_remote.clone
    _write(clone, {"layer/tool": "t\n"})
    run_git(["add", "--all"], clone)
    run_git(["commit", "--quiet", "-m", "tool"], clone)
    run_git(["config", "core.fileMode", "false"], clone)
    (clone / "layer" / "tool").chmod(0o755)
    assert GitRepo(clone).clean_index_entries(["layer"]) == {}


def test_clean_index_entries_paths_are_literal_and_relative_to_the_folder(git_remote: GitRemote) -> None:
    clone = git_remote.clone
    _write(clone, {"sub/lib[1]/x.txt": "x\n", "sub/lib1/y.txt": "y\n"})
    run_git(["add", "--all"], clone)
    run_git(["commit", "--quiet", "-m", "glob-like names"], clone)
    assert set(GitRepo(clone / "sub").clean_index_entries(["lib[1]"]) or {}) == {"lib[1]/x.txt"}


def test_clean_index_entries_is_none_outside_a_work_tree(tmp_path: Path, hermetic_git: None) -> None:
    (tmp_path / "plain").mkdir()
    assert GitRepo(tmp_path / "plain").clean_index_entries(["."]) is None
    assert GitRepo(tmp_path / "missing").clean_index_entries(["."]) is None
    assert GitRepo(tmp_path / "plain").clean_index_entries([]) == {}


# ------------------------------------------------------------------------------- tokens over HTTPS


def http_repo(server: GitHttpServer, token: str) -> tuple[GitRemote, GitRepo]:
    remote = make_git_remote(server.root / "octo-org")
    run_git(["remote", "set-url", "origin", server.repo_url(remote.bare)], remote.clone)
    return remote, GitRepo(remote.clone, token=token)


def test_token_is_sent_as_one_basic_header(git_http_server: GitHttpServer) -> None:
    remote, repo = http_repo(git_http_server, git_http_server.token)
    # actions/checkout persists its own header for the host; it must be replaced, not sent twice.
    run_git(
        ["config", f"http.{git_http_server.url}/.extraheader", "AUTHORIZATION: basic c3RhbGU="], remote.clone
    )
    sha = bump(repo, b"v1\n")
    assert repo.remote_branch_sha("main") == remote.initial_sha
    repo.push_with_lease(BRANCH, None, source=sha)
    assert remote.branch_sha(BRANCH) == sha
    expected = "basic " + base64.b64encode(f"x-access-token:{git_http_server.token}".encode()).decode()
    assert git_http_server.auth_headers and all(h == [expected] for h in git_http_server.auth_headers)
    config = (remote.clone / ".git" / "config").read_text()
    assert git_http_server.token not in config and "x-access-token" not in config


def test_token_never_appears_in_errors(
    git_http_server: GitHttpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "ghs_NeverPrintThis0123456789"
    monkeypatch.setenv("GIT_TRACE", "1")  # would print traffic to stderr if it were not scrubbed
    monkeypatch.setenv("GIT_CURL_VERBOSE", "1")
    remote, repo = http_repo(git_http_server, secret)
    encoded = base64.b64encode(f"x-access-token:{secret}".encode()).decode()
    errors: list[ServiceError] = []
    attempts: list[Callable[[], object]] = [
        lambda: repo.remote_branch_sha("main"),
        lambda: repo.push_with_lease(BRANCH, None),
        lambda: repo.fetch("main"),
    ]
    for attempt in attempts:
        with pytest.raises(ServiceError) as caught:
            attempt()
        errors.append(caught.value)
    push_error = errors[1]
    assert isinstance(push_error, PushRejectedError) and push_error.reason == "authentication"
    for error in errors:
        text = f"{error} {error!r} {error.args}"
        assert secret not in text and encoded not in text and "NeverPrint" not in text
        assert "\n" not in str(error)
    assert secret not in repr(repo)
    assert remote.branch_sha(BRANCH) is None


def test_credentials_in_a_remote_url_are_redacted(git_remote: GitRemote, tmp_path: Path) -> None:
    run_git(["remote", "set-url", "origin", "http://user:hunter2@127.0.0.1:9/nowhere.git"], git_remote.clone)
    with pytest.raises(ServiceError) as caught:
        GitRepo(git_remote.clone).remote_branch_sha("main")
    assert "hunter2" not in str(caught.value)


def test_environment_cannot_redirect_the_repository(
    git_remote: GitRemote, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    elsewhere = make_git_remote(tmp_path / "elsewhere", {"other.txt": b"other\n"})
    monkeypatch.setenv("GIT_DIR", str(elsewhere.clone / ".git"))
    assert GitRepo(git_remote.clone).current_sha() == git_remote.initial_sha != elsewhere.initial_sha
    assert os.environ["GIT_DIR"]  # the caller's environment itself is left as it was
