"""Local folders in a requirements file are installed from copies; every other path is made absolute."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from layer_ci.build.local_requirements import copy_local_folders
from layer_ci.errors import BuildError


def _package(folder: Path, name: str) -> Path:
    (folder / name).mkdir(parents=True)
    (folder / name / "pyproject.toml").write_text(f"[project]\nname = '{name}'\nversion = '1'\n")
    (folder / name / ".git").mkdir()
    (folder / name / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (folder / name / "__pycache__").mkdir()
    return folder / name


def test_a_file_without_local_folders_is_installed_as_it_is(tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("six==1.17.0 \\\n    --hash=sha256:" + "0" * 64 + "\n-r base.txt\n")
    (tmp_path / "base.txt").write_text("idna==3.10\n")
    assert copy_local_folders(requirements, tmp_path / "scratch") is None
    assert not (tmp_path / "scratch").exists()


def test_each_way_of_naming_a_local_folder_is_pointed_at_a_copy(tmp_path: Path) -> None:
    layer = tmp_path / "repo" / "layers" / "deps"
    layer.mkdir(parents=True)
    inside = _package(layer, "inside")
    shared = _package(tmp_path / "repo" / "libs", "shared")
    absolute = _package(tmp_path / "elsewhere", "absolute")
    (layer / "dist").mkdir()
    (layer / "dist" / "tool-1-py3-none-any.whl").write_bytes(b"PK")
    requirements = layer / "requirements.txt"
    requirements.write_text(
        "# a comment naming ./inside stays as it is\n"
        "six==1.17.0\n"
        "./inside\n"
        "-e ../../libs/shared  # editable\n"
        f"absolute @ file://{absolute}\n"
        "also-shared @ file:../../libs/shared ; python_version >= '3.9'\n"
        "./dist/tool-1-py3-none-any.whl\n"
        "-r base.txt\n"
        "--find-links=./dist\n"
    )
    scratch = tmp_path / "scratch"

    local = copy_local_folders(requirements, scratch)

    assert local is not None
    assert local.requirements == scratch / "requirements.txt"
    copies = [scratch / "local" / name for name in ("0-inside", "1-shared", "2-absolute", "3-shared")]
    assert list(local.folders) == copies
    assert local.requirements.read_text().splitlines() == [
        "# a comment naming ./inside stays as it is",
        "six==1.17.0",
        str(copies[0]),
        f"-e {copies[1]}  # editable",
        f"absolute @ {copies[2].as_uri()}",
        f"also-shared @ {copies[3].as_uri()} ; python_version >= '3.9'",
        str(layer / "dist" / "tool-1-py3-none-any.whl"),
        f"-r {layer / 'base.txt'}",
        f"--find-links={layer / 'dist'}",
    ]
    for copy, original in zip(copies, [inside, shared, absolute, shared], strict=True):
        assert (copy / "pyproject.toml").read_text() == (original / "pyproject.toml").read_text()
        assert not (copy / ".git").exists() and not (copy / "__pycache__").exists()


def test_links_are_copied_as_links_and_special_files_are_refused(tmp_path: Path) -> None:
    package = _package(tmp_path, "pkg")
    (package / "data").symlink_to("/etc")  # a link to a folder: kept as a link, never followed
    (package / "key").symlink_to("/etc/shadow")
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("./pkg\n")
    local = copy_local_folders(requirements, tmp_path / "scratch")
    assert local is not None
    copy = local.folders[0]
    assert os.readlink(copy / "data") == "/etc" and os.readlink(copy / "key") == "/etc/shadow"
    assert not (copy / "data" / "passwd").is_symlink() and (copy / "data").is_symlink()

    os.mkfifo(package / "pipe")  # read by a plain copy, it would block the build for ever
    with pytest.raises(BuildError, match=r"pkg/pipe: neither a file, a folder nor a link"):
        copy_local_folders(requirements, tmp_path / "scratch2")


def test_a_file_the_installers_user_could_not_read_is_not_copied_for_it(tmp_path: Path) -> None:
    package = _package(tmp_path, "pkg")
    (package / "secret.txt").write_text("root only")
    os.chmod(package / "secret.txt", 0o600)
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("./pkg\n")

    def others_may_read(st: os.stat_result) -> bool:
        return bool(st.st_mode & (stat.S_IXOTH if stat.S_ISDIR(st.st_mode) else stat.S_IROTH))

    with pytest.raises(BuildError, match=r"pkg/secret.txt: a file of a local package the installer's user"):
        copy_local_folders(requirements, tmp_path / "scratch", may_read=others_may_read)
    assert not (tmp_path / "scratch" / "local" / "0-pkg" / "secret.txt").exists()


def test_copied_folders_are_never_writable_by_others(tmp_path: Path) -> None:
    # The copy is handed to the installer's user folder by folder (sandbox.give_tree): until then no one
    # else may change what is in a folder, whatever the source's mode.
    package = _package(tmp_path, "open")
    (package / "src").mkdir()
    os.chmod(package, 0o777)  # noqa: S103
    os.chmod(package / "src", 0o777)  # noqa: S103
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("./open\n")
    copies = copy_local_folders(requirements, tmp_path / "scratch")
    assert copies is not None
    (copy,) = copies.folders
    assert {stat.S_IMODE(os.stat(folder).st_mode) for folder in (copy, copy / "src")} == {0o755}
