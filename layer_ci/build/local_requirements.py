"""Local folders a requirements file names, installed from copies: the installer never writes the checkout."""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from layer_ci.config.build_rules import local_path, requirement_target

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


def copy_local_folders(requirements: Path, scratch: Path) -> LocalCopies | None:
    """A rewritten copy of ``requirements`` in ``scratch`` whose local folders are copies made there.

    None when the file names no local folder (install from it as it is). Line numbers stay those of the
    original, so errors still point at the right line.
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
            shutil.copytree(local, copy, symlinks=True, ignore=_COPY_IGNORE)
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
