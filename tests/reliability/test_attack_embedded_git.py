"""Attack: a fork commits a bare git repository (HEAD, config, objects/, refs/) into the config folder.

Git, run with that folder as its working directory, would take the folder for a repository and run the
fork's ``core.fsmonitor`` command (as root in the Action, with the token and AWS keys in reach). layer-ci
names the repository explicitly on every git call, so the planted one is never read. Driven through
entrypoint.py on the documented read-only route (a fork's pull request), and through the CLI.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from layer_ci.adapters.git import GitRepo
from tests.reliability.reliability_support import Shop
from tests.support.command_line import run_layer_ci
from tests.support.git_remote import run_git

CONFIG = """\
version: 1
settings:
  registry: local
layers:
  tools:
    source: layers/tools
    build: {method: files}
    compatible_runtimes: [python3.12]
"""


def _plant_repository(folder: Path, canary: Path) -> None:
    """The fork's commit: a bare repository's files at the top of ``folder``, fsmonitor writing ``canary``."""
    bare = folder.parent / ".planted-template"
    run_git(["init", "--quiet", "--bare", str(bare)], folder.parent)
    for name in ("HEAD", "config"):
        (folder / name).write_bytes((bare / name).read_bytes())
    for name in ("objects", "refs"):
        for sub in ("info", "pack", "heads", "tags"):
            (folder / name / sub).mkdir(parents=True, exist_ok=True)
            (folder / name / sub / ".keep").write_text("")
    hook = f"touch {canary}; exit 1"
    with (folder / "config").open("a") as config:
        config.write(f"[core]\n\tbare = false\n\tworktree = {folder}\n\tfsmonitor = {hook}\n")
        config.write(f"\tsshCommand = {hook}\n[diff]\n\texternal = {hook}\n")
    subprocess.run(["rm", "-rf", str(bare)], check=True)


def _fork_workspace(tmp_path: Path, canary: Path) -> tuple[Path, str]:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    run_git(["init", "--quiet"], workspace)
    infra = workspace / "infra"
    (infra / "layers" / "tools" / "python").mkdir(parents=True)
    (infra / "layers" / "tools" / "python" / "tools.py").write_text("VERSION = 1\n")
    (infra / "layer-ci.yml").write_text(CONFIG)
    _plant_repository(infra, canary)
    run_git(["add", "--all"], workspace)
    run_git(["commit", "--quiet", "-m", "fork: an innocent change"], workspace)
    # The planted files really are in the fork's commit, as the checkout of its pull request has them.
    tracked = run_git(["ls-files", "infra"], workspace).split()
    assert {"infra/HEAD", "infra/config", "infra/refs/heads/.keep"} <= set(tracked)
    return workspace, run_git(["rev-parse", "HEAD"], workspace).strip()


def test_a_planted_repository_in_the_config_folder_never_runs_on_the_fork_route(
    shop: Shop, tmp_path: Path
) -> None:
    canary = tmp_path / "CANARY"
    workspace, sha = _fork_workspace(tmp_path, canary)
    payload = shop.pull_request_payload(7, sha, sha, fork="mallory/linked")
    run = shop.run(
        event="pull_request",
        sha=sha,
        workspace=workspace,
        env={"LAYER_CI_CONFIG": "infra/layer-ci.yml"},
        payload=payload,
        ref="refs/pull/7/merge",
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "read-only" in run.stdout
    assert run.output_json("changed-layers") == ["tools"]
    assert not canary.exists(), "git ran the fork's core.fsmonitor command"


def test_a_planted_repository_never_runs_through_the_cli(tmp_path: Path) -> None:
    canary = tmp_path / "CANARY"
    workspace, _sha = _fork_workspace(tmp_path, canary)
    for argv in (["plan"], ["publish", "--dry-run"]):
        done = run_layer_ci(workspace / "infra" / "layer-ci.yml", *argv, cache=tmp_path / "cache")
        assert "Traceback" not in done.stderr, done.stderr
        assert not canary.exists(), f"`layer-ci {' '.join(argv)}` ran the fork's fsmonitor: {done.stderr}"


def test_the_adapter_reads_the_enclosing_repository_not_the_planted_one(tmp_path: Path) -> None:
    canary = tmp_path / "CANARY"
    workspace, sha = _fork_workspace(tmp_path, canary)
    (workspace / "infra" / "layers" / "tools" / "python" / "tools.py").write_text("VERSION = 2\n")
    repo = GitRepo(workspace / "infra")
    assert repo.resolve("HEAD") == sha
    entries = repo.clean_index_entries(["layers"])
    assert entries is not None
    # Keys stay relative to the folder; the edited file is dirty, so it is left out.
    assert "layers/tools/python/tools.py" not in entries
    assert "HEAD" not in entries and entries == {}
    assert repo.changed_files(f"{sha}", sha) == ()
    assert not canary.exists()


def test_a_linked_worktree_is_still_found_through_its_gitfile(tmp_path: Path) -> None:
    canary = tmp_path / "CANARY"
    workspace, sha = _fork_workspace(tmp_path, canary)
    linked = tmp_path / "linked"
    run_git(["worktree", "add", "--quiet", "--detach", str(linked), sha], workspace)
    assert (linked / ".git").is_file()
    repo = GitRepo(linked / "infra")
    assert repo.work_tree() == linked
    assert repo.resolve("HEAD") == sha
    assert "layers/tools/python/tools.py" in (repo.clean_index_entries(["layers"]) or {})
    assert not canary.exists()
