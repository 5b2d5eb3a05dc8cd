"""Input keys: one hash over everything that decides a layer's zip, with file ids from git's index."""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import stat
import sys
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from layer_ci.config.build_rules import (
    NODE_LOCK_FILES,
    LeftOut,
    left_out,
    local_requirement_folders,
    python_requirements,
)
from layer_ci.errors import ConfigError, UsageError
from layer_ci.model import LayerSpec

# Bump when the hashed material changes shape, so old lock entries read as "inputs changed" rather
# than silently comparing keys computed two different ways. v2: per-file git blob ids, key over parts.
INPUT_KEY_FORMAT = "layer-ci input key v2"

# The parts a key is made of, in the order they are hashed; plan reasons name the ones that changed.
PART_BUILD = "build"
PART_TARGET = "target"
PART_REQUIREMENTS = "requirements"
PART_FILES = "files"
PARTS = (PART_BUILD, PART_TARGET, PART_REQUIREMENTS, PART_FILES)


_SYMLINK_MODE = "120000"
_EXECUTABLE_MODE = "100755"
_REGULAR_MODE = "100644"
_SHA1_HEX_LENGTH = 40
_READ_CHUNK = 1 << 20

_FS_ENCODING = sys.getfilesystemencoding()
_FS_ERRORS = sys.getfilesystemencodeerrors()


@dataclass(frozen=True)
class LayerInputs:
    """A layer's input key (``sha256:<hex>``) and the digests of the parts it was computed from."""

    key: str
    parts: Mapping[str, str] = field(default_factory=dict, hash=False)


def blob_id(data: bytes) -> str:
    """Git's object id of a blob holding ``data``: SHA-1 of ``blob <size>\\0<data>``, computed without git."""
    return hashlib.sha1(b"blob %d\0%s" % (len(data), data), usedforsecurity=False).hexdigest()


def input_key(spec: LayerSpec, root: Path) -> str:
    """``sha256:<hex>`` over the key format, build settings, target and every source file's content.

    Independent of mtimes, walk order, where the repository is checked out and whether it is a git
    checkout at all.
    """
    return layer_inputs([spec], root)[spec.name].key


def input_keys(specs: Iterable[LayerSpec], root: Path) -> dict[str, str]:
    """Input keys of several layers (one look at git's index for all of them)."""
    return {name: inputs.key for name, inputs in layer_inputs(specs, root).items()}


def layer_inputs(
    specs: Iterable[LayerSpec], root: Path, *, index: GitIndexLookup | None = None
) -> dict[str, LayerInputs]:
    """Each layer's input key with its parts.

    In a git checkout the id of each tracked file git reports unchanged comes from the index (no file is
    read); modified, untracked and ignored files are read and hashed here. A blob id is the same in
    and out of git, so the key is too. One exception: files git stores through a filter (LFS, eol
    conversion) are identified by their committed form inside a checkout and by their bytes outside.
    ``index`` is a lookup the caller started earlier (see GitIndexLookup); folders it does not cover
    are looked up here.
    """
    chosen = list(specs)
    sources = {spec.name: _source_folder(spec, root) for spec in chosen}
    needed = index_scopes(root, sources.values())
    early = index if index is not None and index.root == root else None
    missing = [scope for scope in needed if early is None or not early.covers(scope)]
    # git reads its index and stats the tracked files while this thread walks the folders: on a large
    # repository each takes about as long as the other.
    lookups = [lookup for lookup in (early, GitIndexLookup(root, missing) if missing else None) if lookup]
    walks = {spec.name: _walk(os.fspath(sources[spec.name]), left_out(spec)) for spec in chosen}
    clean: dict[str, tuple[str, str]] = {}
    for lookup in lookups:
        clean.update(lookup.result())
    return {
        spec.name: _layer_inputs(spec, root, sources[spec.name], walks[spec.name], clean) for spec in chosen
    }


class GitIndexLookup:
    """git's view of which tracked files under some folders are unchanged, looked up on a thread.

    Started as soon as the folders are known (``layer-ci plan`` starts one before it parses the config),
    so git reads its index and stats the files while Python does other work. ``result()`` waits for it:
    root-relative POSIX path -> (mode, blob id) of every tracked file git reports unchanged, empty
    outside a git checkout (or in a SHA-256 repository, whose ids are not the SHA-1 blob ids used here).
    """

    def __init__(self, root: Path, scopes: Sequence[str]) -> None:
        self.root = root
        self.scopes = tuple(scopes)
        self._answer: list[Mapping[str, tuple[str, str]] | BaseException] = []
        self._thread = threading.Thread(target=self._look_up, name="layer-ci git index")
        self._thread.start()

    def covers(self, scope: str) -> bool:
        """Whether the root-relative folder ``scope`` lies within one of this lookup's folders."""
        return any(mine == "." or scope == mine or scope.startswith(mine + "/") for mine in self.scopes)

    def result(self) -> Mapping[str, tuple[str, str]]:
        self._thread.join()
        answer = self._answer[0]
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def _look_up(self) -> None:
        try:
            self._answer.append(_clean_index(self.root, self.scopes))
        except BaseException as exc:  # raised again by result(), in the caller's thread
            self._answer.append(exc)


def index_scopes(root: Path, sources: Iterable[Path]) -> list[str]:
    """The folders to ask git about for these sources: each one's parent ("layers" for layers/*).

    git's cost grows with the number of pathspecs times index entries, so one folder holding 200 layers
    is far cheaper than 200 pathspecs; its files that belong to no layer are simply never looked up.
    Sources outside ``root`` are left out (their files are hashed directly).
    """
    relatives = (_relative_to_root(source, root) for source in sources)
    return sorted(
        {posixpath.dirname(relative) or relative or "." for relative in relatives if relative is not None}
    )


def changed_parts(previous: Mapping[str, str], current: Mapping[str, str]) -> tuple[str, ...]:
    """The parts whose digests differ (in PARTS order); empty when either side does not know its parts."""
    if not previous or not current:
        return ()
    return tuple(part for part in PARTS if previous.get(part) != current.get(part))


def requirement_files(spec: LayerSpec) -> tuple[str, ...]:
    """Paths (relative to the layer's source, POSIX) of the files that pin the layer's dependencies."""
    build = spec.build
    if build.method == "python":
        return (posixpath.normpath(python_requirements(spec)),)
    if build.method == "nodejs":
        locks = [posixpath.normpath(build.requirements)] if build.requirements else list(NODE_LOCK_FILES)
        folder = posixpath.dirname(locks[0])
        return (*locks, posixpath.join(folder, "package.json"))
    return ()


# --------------------------------------------------------------------------------------- internals


def _source_folder(spec: LayerSpec, root: Path) -> Path:
    source = spec.source if spec.source.is_absolute() else root / spec.source
    if not source.is_dir():
        raise ConfigError(
            spec.location,
            f"layers.{spec.name}.source",
            f"folder '{source}' does not exist",
            "create it or point source at the layer's folder",
        )
    return source


def _relative_to_root(source: Path, root: Path) -> str | None:
    """The source's POSIX path relative to ``root`` ("" for the root itself), None when outside it."""
    relative = os.path.abspath(source).removeprefix(os.path.abspath(root))
    if relative and not relative.startswith(os.sep):
        return None  # a sibling folder sharing a name prefix ("/repo-other" for "/repo")
    return relative.lstrip(os.sep).replace(os.sep, "/")


def _clean_index(root: Path, scopes: Sequence[str]) -> Mapping[str, tuple[str, str]]:
    if not scopes:
        return {}
    # Imported here: a repository without layers never needs it, and it pulls in subprocess handling.
    from layer_ci.adapters.git import GitRepo

    entries = GitRepo(root).clean_index_entries(scopes)
    if not entries:
        return {}
    if any(len(entry.blob_id) != _SHA1_HEX_LENGTH for entry in entries.values()):
        return {}  # a SHA-256 repository
    return entries


def _layer_inputs(
    spec: LayerSpec,
    root: Path,
    source: Path,
    walked: list[tuple[str, str, str]],
    index: Mapping[str, tuple[str, str]],
) -> LayerInputs:
    relative_source = _relative_to_root(source, root)
    prefix = "" if not relative_source else relative_source + "/"
    known = index if relative_source is not None else {}
    requirements = set(requirement_files(spec))
    pinned: list[bytes] = []
    files: list[bytes] = []
    for relative, path, kind in [*walked, *_unwalked(source, requirements, walked)]:
        record = _record(spec, relative, path, kind, known.get(prefix + relative))
        (pinned if relative in requirements else files).append(record)
    # A local package outside the layer's folder is installed into the layer all the same: its files
    # count with the requirements that name it (inside the folder, the walk above has them already).
    for folder, label in _outside_local_packages(spec, source, root):
        for relative, path, kind in _walk(os.fspath(folder), left_out(spec)):
            pinned.append(_record(spec, label + relative, path, kind, None))
    parts = {
        PART_BUILD: _digest(_settings_document(spec)),
        PART_TARGET: _digest(_target_document(spec)),
        # Sorting the finished records (paths end at the NUL, which no path contains) makes the key
        # independent of the order the filesystem lists entries in.
        PART_REQUIREMENTS: _digest(b"".join(sorted(pinned))),
        PART_FILES: _digest(b"".join(sorted(files))),
    }
    combined = INPUT_KEY_FORMAT + "\n" + "".join(f"{part}={parts[part]}\n" for part in PARTS)
    return LayerInputs(_digest(combined.encode()), parts)


def _record(spec: LayerSpec, relative: str, path: str, kind: str, indexed: tuple[str, str] | None) -> bytes:
    """One entry's line of the key: its path, its kind (link, executable, file) and its blob id."""
    if kind == "l":
        if indexed is not None and indexed[0] == _SYMLINK_MODE:
            digest = indexed[1]
        else:
            # Links are hashed as links (their target text, as git stores them), not followed: that
            # is what a zip can store, and following them could leave the folder or loop.
            digest = blob_id(os.fsencode(os.readlink(path)))
        flag = b"l"
    elif kind == "f":
        if indexed is not None and indexed[0] in (_REGULAR_MODE, _EXECUTABLE_MODE):
            digest, executable = indexed[1], indexed[0] == _EXECUTABLE_MODE
        else:
            digest, executable = _hash_file(path)
        flag = b"x" if executable else b"-"
    else:
        raise UsageError(
            f"{path}: layer '{spec.name}' source holds something that is neither a file, a "
            "folder nor a symlink (a FIFO, socket or device); remove it from the layer's folder"
        )
    return b"%s\0%s\0%s\n" % (relative.encode(_FS_ENCODING, _FS_ERRORS), flag, digest.encode())


def _outside_local_packages(spec: LayerSpec, source: Path, root: Path) -> list[tuple[str, str]]:
    """(folder, key label) of each local package the requirements name outside the layer's folder.

    Never beyond the repository: `plan` runs on forks' pull requests, whose requirements could otherwise
    have it walk any folder of the machine (`-e /`).
    """
    if spec.build.method != "python":
        return []
    layer, repository = os.path.realpath(source), os.path.realpath(root)
    found = []
    for folder in local_requirement_folders(source / python_requirements(spec)):
        real = os.path.realpath(folder)
        if os.path.commonpath([layer, real]) == layer or os.path.commonpath([repository, real]) != repository:
            continue
        found.append((real, f"local:{os.path.relpath(real, repository).replace(os.sep, '/')}/"))
    return found


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _settings_document(spec: LayerSpec) -> bytes:
    build = spec.build
    document = {
        "method": build.method,
        "requirements": build.requirements,
        "command": list(build.command),
        "binary_only": build.binary_only,
        "require_hashes": build.require_hashes,
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def _target_document(spec: LayerSpec) -> bytes:
    document = {
        # Both are sets to Lambda and to the builders (which derive targets from them sorted), so
        # reordering them in layer-ci.yml is no change.
        "compatible_runtimes": sorted(spec.compatible_runtimes),
        "compatible_architectures": sorted(spec.compatible_architectures),
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def _unwalked(
    source: Path, requirements: set[str], walked: list[tuple[str, str, str]]
) -> list[tuple[str, str, str]]:
    """Requirement files the walk left out (under a left-out name such as ``env/``): they decide the zip."""
    seen = {relative for relative, _path, _kind in walked}
    found = []
    for relative in sorted(requirements - seen):
        path = os.path.join(source, relative)
        if os.path.islink(path):
            found.append((relative, path, "l"))
        elif os.path.isfile(path):
            found.append((relative, path, "f"))
    return found


def _walk(top: str, left: LeftOut) -> list[tuple[str, str, str]]:
    """Every non-folder entry under ``top`` but what the build leaves out: (POSIX relative path, path, kind).

    Kind is "f" (regular file), "l" (symlink) or "o" (anything else), read from the directory listing
    without a stat per file. Iterative, and unsorted on purpose: the caller sorts the finished records.
    """
    found: list[tuple[str, str, str]] = []
    names, suffixes = left.names, left.suffixes  # LeftOut's test inlined: this loop sees every file
    pending = [(top, "")]
    while pending:
        folder, prefix = pending.pop()
        with os.scandir(folder) as scan:
            for entry in scan:
                name = entry.name
                if name in names or name.endswith(suffixes):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    pending.append((entry.path, prefix + name + "/"))
                elif entry.is_symlink():
                    found.append((prefix + name, entry.path, "l"))
                elif entry.is_file(follow_symlinks=False):
                    found.append((prefix + name, entry.path, "f"))
                else:
                    found.append((prefix + name, entry.path, "o"))
    return found


def _hash_file(path: str) -> tuple[str, bool]:
    """The file's blob id and whether its owner may execute it, read through one open descriptor."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
        with open(fd, "rb", buffering=0) as handle:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise UsageError(
                    f"{path}: changed into something other than a file while being hashed; rerun"
                )
            hasher = hashlib.sha1(b"blob %d\0" % st.st_size, usedforsecurity=False)
            remaining = st.st_size
            while remaining > 0:
                chunk = handle.read(min(remaining, _READ_CHUNK))
                if not chunk:
                    break
                hasher.update(chunk)
                remaining -= len(chunk)
            if remaining or handle.read(1):
                raise UsageError(f"{path}: the file changed size while being hashed; rerun when it is done")
    except OSError as exc:
        raise UsageError(
            f"{path}: cannot read a layer source file ({exc.strerror}); fix its permissions or remove it"
        ) from exc
    return hasher.hexdigest(), bool(st.st_mode & stat.S_IXUSR)
