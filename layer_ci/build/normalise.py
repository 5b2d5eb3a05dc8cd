"""Strip what differs per build (bytecode, build paths, installer notes) from a staged layer tree."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import os
import re
import stat
from pathlib import Path

from layer_ci.build.zipper import CHUNK_SIZE, normalised_mode
from layer_ci.fsutil import write_atomically

# __pycache__ folders are dropped, not regenerated. Cached .pyc files embed the source mtime (or need the
# exact target interpreter's magic number for hash-based pycs), and the build interpreter is usually not
# the runtime's: a 3.11 builder making a python3.12 or arm64 layer cannot write pycs the runtime would
# accept. Lambda compiles in memory on import (/opt is read-only), which costs some cold-start time but
# never correctness. A .pyc outside __pycache__ is a sourceless module someone shipped on purpose: kept.
BYTECODE_CACHE = "__pycache__"
# Per-installation notes that name the installer or the source location (a build path for local
# requirements), or, uv's own, when and from what commit a local source was built (uv_cache.json holds the
# source's mtime): none belongs in a layer that must be identical wherever and whenever it was built.
DROPPED_DIST_INFO_FILES = ("direct_url.json", "INSTALLER", "uv_cache.json", "uv_build.json")
PORTABLE_SHEBANG = b"#!/usr/bin/env python3"
_PYTHON_SHEBANG = re.compile(rb"^#![ \t]*(?:\S*/)?python[0-9.]*(?:[ \t][^\r\n]*)?$")
# pip's and uv's launcher for interpreter paths with spaces or over 127 bytes: sh re-executing python.
_SH_LAUNCHER = re.compile(rb"^#!/bin/sh\r?\n'''exec' [^\n]*\n' '''\r?\n")
# A console script's entry point, ``module.sub:object.attr [extras]``, and the launcher written for it.
_ENTRY_POINT = re.compile(r"^\s*(?P<module>[\w.]+)\s*:\s*(?P<attr>[\w.]+)\s*(?:\[[^\]]*\])?\s*$")
_LAUNCHER = """#!/usr/bin/env python3
import sys
from {module} import {head}
if __name__ == "__main__":
    sys.argv[0] = sys.argv[0].removesuffix(".exe")
    sys.exit({attribute}())
"""


def normalise_tree(root: Path) -> None:
    """Make ``root`` (a staged /opt layout) depend only on what was installed, not on how, where or when."""
    root = Path(root)
    dist_infos, pths, paths = _survey(root)
    for dist_info in sorted(dist_infos):
        _normalise_dist_info(Path(dist_info))
    for pth in sorted(pths):
        _relativise_pth(Path(pth), root)
    _fix_modes(paths)


def _survey(root: Path) -> tuple[list[str], list[str], list[str]]:
    """One walk of the tree (each walk of a large layer costs): its bytecode caches removed on the way,
    its .dist-info folders, its .pth files, and every path under it. Symlinks are listed, never followed.
    """
    dist_infos: list[str] = []
    pths: list[str] = []
    paths: list[str] = []
    for folder, dirnames, filenames in os.walk(root):
        if BYTECODE_CACHE in dirnames:
            cache = Path(folder, BYTECODE_CACHE)
            if cache.is_symlink():
                cache.unlink()
            else:
                _remove_tree(cache)
            dirnames.remove(BYTECODE_CACHE)
        for name in dirnames:
            path = os.path.join(folder, name)
            paths.append(path)
            if name.endswith(".dist-info") and not os.path.islink(path):
                dist_infos.append(path)
        for name in filenames:
            path = os.path.join(folder, name)
            paths.append(path)
            if name.endswith(".pth") and stat.S_ISREG(os.lstat(path).st_mode):
                pths.append(path)
    return dist_infos, pths, paths


def _remove_tree(path: Path) -> None:
    for folder, dirnames, filenames in os.walk(path, topdown=False):
        for filename in filenames:
            Path(folder, filename).unlink()
        for dirname in dirnames:
            child = Path(folder, dirname)
            if child.is_symlink():
                child.unlink()
            else:
                child.rmdir()
    path.rmdir()


def _normalise_dist_info(dist_info: Path) -> None:
    for name in DROPPED_DIST_INFO_FILES:
        (dist_info / name).unlink(missing_ok=True)
    record = dist_info / "RECORD"
    if not record.is_file():
        return
    site = dist_info.parent
    lines = csv.reader(io.StringIO(record.read_text(encoding="utf-8")))
    rows = [_relocate(row, site) for row in lines if row]
    installed = [Path(os.path.normpath(site / row[0])) for row in rows]
    rewritten = _regenerate_scripts(dist_info, set(installed))
    # Only the installer's own scripts (bin/) carry its interpreter path; package files are left as
    # published, which also means no file hard-linked from an installer cache is ever rewritten.
    scripts = {path for path in installed if path.parent == site / "bin" and path not in rewritten}
    rewritten |= {
        path for path in scripts if path.is_file() and not path.is_symlink() and _rewrite_shebang(path)
    }
    kept: list[list[str]] = []
    for row, path in zip(rows, installed, strict=True):
        if path == record:
            kept.append([row[0], "", ""])
        elif path.is_file() or path.is_symlink():
            kept.append([row[0], *record_hash(path)] if path in rewritten else row)
        # else: removed above (bytecode, installer notes) or never installed; a stale line would fail
        # `pip check`-style verification, so it goes.
    kept.sort(key=lambda row: row[0])
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(kept)
    replace_bytes(record, buffer.getvalue().encode("utf-8"))


def _regenerate_scripts(dist_info: Path, installed: set[Path]) -> set[Path]:
    """Rewrite console scripts from entry_points.txt with one fixed launcher.

    uv and pip each write their own launcher text; writing ours makes a layer built with either installer
    the same bytes, and points it at ``python3`` on PATH rather than at the build machine's interpreter.
    """
    entry_points = dist_info / "entry_points.txt"
    if not entry_points.is_file():
        return set()
    import configparser  # only packages with console scripts need it

    parser = configparser.ConfigParser(interpolation=None, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # script names are case-sensitive
    try:
        parser.read_string(entry_points.read_text(encoding="utf-8"))
    except (configparser.Error, UnicodeDecodeError):
        return set()  # unreadable metadata: leave the installer's scripts (their shebangs are still fixed)
    rewritten: set[Path] = set()
    for section in ("console_scripts", "gui_scripts"):
        if not parser.has_section(section):
            continue
        for name, value in parser.items(section):
            match = _ENTRY_POINT.match(value)
            candidates = [path for path in installed if path.name == name and path.parent.name == "bin"]
            if not match or not candidates or "/" in name:
                continue
            module, attribute = match.group("module"), match.group("attr")
            launcher = _LAUNCHER.format(module=module, head=attribute.split(".")[0], attribute=attribute)
            for path in candidates:
                if path.is_file():
                    replace_bytes(path, launcher.encode("utf-8"))
                    path.chmod(0o755)
                    rewritten.add(path)
    return rewritten


def _relocate(row: list[str], site: Path) -> list[str]:
    """Point a RECORD line at where the file really is.

    ``pip install --target`` installs into a scratch prefix and then moves ``bin/`` into the target,
    leaving RECORD lines such as ``../../bin/tool`` that no longer resolve; the file is at ``bin/tool``.
    """
    name = row[0]
    if not name.startswith("../") or (site / name).exists():
        return row
    inside = name
    while inside.startswith("../"):
        inside = inside[3:]
    return [inside, *row[1:]] if (site / inside).is_file() else row


def record_hash(path: Path) -> list[str]:
    """The ``sha256=<urlsafe b64>`` and size columns of a RECORD line for ``path`` (PEP 376 / 627)."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK_SIZE):
            digest.update(chunk)
            size += len(chunk)
    encoded = base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode("ascii")
    return [f"sha256={encoded}", str(size)]


def _rewrite_shebang(path: Path) -> bool:
    """Point an installed script at ``python3`` on PATH instead of the build machine's interpreter."""
    with path.open("rb") as handle:
        head = handle.read(4096)
    if not head.startswith(b"#!"):
        return False
    launcher = _SH_LAUNCHER.match(head)
    if launcher:
        body_start = launcher.end()
    else:
        first_line_end = head.find(b"\n")
        first_line = head if first_line_end < 0 else head[:first_line_end]
        if not _PYTHON_SHEBANG.match(first_line.rstrip(b"\r")) or first_line.startswith(PORTABLE_SHEBANG):
            return False
        body_start = len(first_line)
    content = path.read_bytes()
    replacement = PORTABLE_SHEBANG + (b"\n" if launcher else b"") + content[body_start:]
    replace_bytes(path, replacement)
    return True


def _relativise_pth(pth: Path, root: Path) -> None:
    """Turn path lines that point into the build folder into paths relative to the .pth's folder."""
    root_text = str(root.resolve())
    lines = pth.read_text(encoding="utf-8", errors="surrogateescape").splitlines(keepends=True)
    changed = False
    for index, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith("import ") or not os.path.isabs(stripped):
            continue
        if os.path.commonpath([os.path.realpath(stripped), root_text]) == root_text:
            relative = os.path.relpath(os.path.realpath(stripped), pth.parent.resolve())
            lines[index] = relative + "\n"
            changed = True
    if changed:
        replace_bytes(pth, "".join(lines).encode("utf-8", "surrogateescape"))


def replace_bytes(path: Path, content: bytes) -> None:
    """Swap in new content through a new inode, so a file hard-linked from an installer cache stays intact."""
    write_atomically(path, content)  # a new file renamed over the old one keeps the old one's mode


def _fix_modes(paths: list[str]) -> None:
    """Give every file and folder the mode the zip will record, so the staged tree and the zip agree."""
    for path in paths:
        try:
            st = os.lstat(path)
        except FileNotFoundError:  # an installer note removed since the survey
            continue
        # A hard-linked file may be an installer cache's inode: leave it, the zip normalises modes anyway.
        if stat.S_ISLNK(st.st_mode) or (stat.S_ISREG(st.st_mode) and st.st_nlink > 1):
            continue
        wanted = normalised_mode(st.st_mode)
        if stat.S_IMODE(st.st_mode) != wanted:
            os.chmod(path, wanted)
