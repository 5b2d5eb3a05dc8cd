"""Local folders a requirements file names, installed from copies: the installer never writes the checkout."""

from __future__ import annotations

import os
import re
import shutil
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from layer_ci.config.build_rules import local_path, requirement_target
from layer_ci.errors import BuildError

# A build backend writes into the folder it builds (setuptools: build/, *.egg-info). Built in place, a
# local package would dirty the checkout (and change the layer's input key), and fail outright where the
# installer runs as another user, who may not write the checkout.
# Options whose value is a path read as it is (never built): made absolute, since the rewritten file
# lives elsewhere and relative paths in it are read relative to it.
_PATH_OPTION = re.compile(
    r"^(?P<head>\s*(?:-r|-c|-f|--requirement|--constraint|--find-links)(?:\s+|=))(?P<target>[^\s#]+)"
)
_COPY_IGNORE = shutil.ignore_patterns(".git", "__pycache__", "node_modules", ".layer-ci")


@dataclass(frozen=True)
class LocalCopies:
    """The rewritten requirements file and the folders copied for it (the installer may write those)."""

    requirements: Path
    folders: tuple[Path, ...]


def _copy_tree(top: Path, destination: Path, may_read: Callable[[os.stat_result], bool] | None) -> None:
    """Copy a local package: folders, regular files and links (as links), nothing else.

    ``may_read`` says whether the installer's user could read an entry itself: the copy is handed to that
    user, so it must hold nothing layer-ci's own rights alone could read (root's 0600 files).
    """
    for folder, dirs, files in os.walk(top):
        dirs[:] = [name for name in dirs if not _COPY_IGNORE(folder, [name])]
        relative = os.path.relpath(folder, top)
        target = destination / relative
        st = os.stat(folder)
        if may_read is not None and not may_read(st):
            raise BuildError(
                f"{folder}: the installer's user may not enter this folder of a local package; "
                "make it readable by others or move it out of the package"
            )
        target.mkdir(parents=True, exist_ok=True)
        # Never writable by others, whatever the source's mode or the umask: give_tree's safety rests
        # on nobody but layer-ci changing a folder's entries before it is handed over.
        os.chmod(target, 0o755)  # noqa: S103 - read by the installer's user, written by none
        for name in [*dirs, *files]:
            path = os.path.join(folder, name)
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):  # os.walk does not follow it into a folder either
                os.symlink(os.readlink(path), target / name)
                continue
            if stat.S_ISDIR(st.st_mode):
                continue
            if not stat.S_ISREG(st.st_mode):
                raise BuildError(f"{path}: neither a file, a folder nor a link in a local package; remove it")
            if may_read is not None and not may_read(st):
                raise BuildError(
                    f"{path}: a file of a local package the installer's user may not read; "
                    "make it readable by others or remove it"
                )
            _copy_file(path, target / name)


def _copy_file(source: str, target: Path) -> None:
    # Opened without following a link and without blocking: swapped for a FIFO or device since the
    # listing, it is refused rather than read from without end.
    fd = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with open(fd, "rb") as reader:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise BuildError(f"{source}: changed into something other than a file while copied; rerun")
        with open(target, "xb") as writer:
            shutil.copyfileobj(reader, writer)
    os.chmod(target, stat.S_IMODE(st.st_mode) & 0o755)


def copy_local_folders(
    requirements: Path,
    scratch: Path,
    may_read: Callable[[os.stat_result], bool] | None = None,
    check_folder: Callable[[Path], None] | None = None,
) -> LocalCopies | None:
    """A rewritten copy of ``requirements`` in ``scratch`` whose local folders are copies made there.

    None when the file names no local folder (install from it as it is). Line numbers stay those of the
    original, so errors still point at the right line. ``may_read``: see ``_copy_tree``; ``check_folder``
    raises for a local folder that may not be copied at all, before anything of it is.
    """
    base = requirements.parent
    lines = requirements.read_text("utf-8").splitlines(keepends=True)
    rewritten: list[str] = []
    copies: list[Path] = []
    for line in lines:
        match = requirement_target(line)
        local = local_path(match["target"], base) if match else None
        if match and local is not None and local.is_dir():
            copy = scratch / "local" / f"{len(copies)}-{local.name}"
            if check_folder is not None:
                check_folder(local)
            _copy_tree(local, copy, may_read)
            copies.append(copy)
            target = copy.as_uri() if match["target"].startswith("file:") else str(copy)
            rewritten.append(line[: match.start("target")] + target + line[match.end("target") :])
            continue
        option = _PATH_OPTION.match(line)
        if option is None and match and local is not None:
            option = match  # a local wheel or sdist archive: read, never built
        if option is not None and "://" not in option["target"]:
            named = option["target"]
            target_path = local_path(named, base) or Path(os.path.normpath(base / named))
            line = line[: option.start("target")] + str(target_path) + line[option.end("target") :]
        rewritten.append(line)
    if not copies:
        return None
    scratch.mkdir(parents=True, exist_ok=True)
    copied = scratch / requirements.name
    copied.write_text("".join(rewritten), "utf-8")
    return LocalCopies(copied, tuple(copies))
