"""Input keys: one content hash over everything that decides a layer's zip, kept fast by a stat cache."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

from layer_ci.errors import ConfigError, UsageError
from layer_ci.model import LayerSpec

# Bump when the hashed material changes shape, so old lock entries read as "inputs changed" rather
# than silently comparing keys computed two different ways.
INPUT_KEY_FORMAT = "layer-ci input key v1"

STAT_CACHE_PATH = Path(".layer-ci") / "cache" / "stat-cache.json"
STAT_CACHE_VERSION = 2

# ".layer-ci" holds layer-ci's own state (this cache, builds, the local registry): hashing it into a
# layer whose source is the repository root would change the key on every run.
IGNORED_NAMES = frozenset({"__pycache__", ".git", ".DS_Store", ".layer-ci"})
IGNORED_SUFFIXES = (".pyc",)
# A nodejs layer is built from package.json and its lock; a node_modules folder left by a local
# `npm install` is an output, and hashing it would make every machine's key differ.
NODEJS_IGNORED_NAMES = frozenset({"node_modules"})

# Filesystems record mtimes with finite resolution (1-2 s on some), so a file rewritten with the same
# size within one tick of being hashed keeps the same stat. Entries that young are used for this run
# but not remembered (git's "racily clean" rule).
RACY_WINDOW_NS = 2_000_000_000

_FS_ENCODING = sys.getfilesystemencoding()
_FS_ERRORS = sys.getfilesystemencodeerrors()


class StatCache:
    """Maps a file's (path, size, mtime, ctime, inode) to its content SHA-256, persisted between runs.

    Only the lookup uses stat data; the key is computed from content alone, so a fresh clone (new
    mtimes, new inodes) re-reads every file once and arrives at the same keys. Each entry is one string,
    ``"<size> <mtime_ns> <ctime_ns> <inode> <sha256 hex>"``: tens of thousands of them load in a few ms.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._old: dict[str, str] = self._read(path) if path is not None else {}
        self._seen: dict[str, str] = {}
        self._dirty = False
        self.files_hashed = 0
        self.files_reused = 0

    @classmethod
    def for_root(cls, root: Path) -> StatCache:
        return cls(root / STAT_CACHE_PATH)

    @staticmethod
    def _read(path: Path) -> dict[str, str]:
        try:
            data = json.loads(path.read_bytes())
        except (OSError, ValueError):
            return {}  # a missing or damaged cache only costs one full re-read
        if not isinstance(data, dict) or data.get("version") != STAT_CACHE_VERSION:
            return {}
        entries = data.get("entries")
        return entries if isinstance(entries, dict) else {}

    def content_sha256(self, cache_name: str, path: str, st: os.stat_result) -> str:
        """The hex SHA-256 of the file at ``path``, read only if its stat changed since it was cached."""
        signature = f"{st.st_size} {st.st_mtime_ns} {st.st_ctime_ns} {st.st_ino} "
        entry = self._old.get(cache_name)
        if entry.__class__ is str and len(entry) == len(signature) + 64 and entry.startswith(signature):
            self._seen[cache_name] = entry
            self.files_reused += 1
            return entry[-64:]
        digest = _hash_file(path)
        self.files_hashed += 1
        if time.time_ns() - st.st_mtime_ns > RACY_WINDOW_NS:
            self._seen[cache_name] = signature + digest
            self._dirty = True
        return digest

    def save(self, *, prune: bool = False) -> None:
        """Persist the cache; ``prune`` keeps only files seen in this run (after a pass over all layers)."""
        if self.path is None:
            return
        if prune:
            entries = self._seen
            changed = self._dirty or entries.keys() != self._old.keys()
        else:
            entries = {**self._old, **self._seen}
            changed = self._dirty
        if not changed:
            return
        payload = json.dumps({"version": STAT_CACHE_VERSION, "entries": entries}, separators=(",", ":"))
        # The cache is an optimisation: a read-only checkout must still be able to plan.
        with contextlib.suppress(OSError):
            _write_atomically(self.path, payload.encode())
        self._old = entries
        self._seen = {}
        self._dirty = False


def input_key(spec: LayerSpec, root: Path, *, cache: StatCache | None = None) -> str:
    """``sha256:<hex>`` over the key format, build settings, target and every source file's content.

    Independent of mtimes, walk order and where the repository is checked out. Without ``cache`` the
    repository's stat cache is used and saved.
    """
    own_cache = cache is None
    active = StatCache.for_root(root) if cache is None else cache
    key = _compute_key(spec, root, active)
    if own_cache:
        active.save()
    return key


def input_keys(specs: Iterable[LayerSpec], root: Path, *, prune_cache: bool = False) -> dict[str, str]:
    """Input keys of several layers sharing one stat cache (loaded and saved once).

    ``prune_cache`` forgets cached files not under any of ``specs``: pass it when ``specs`` is every layer.
    """
    cache = StatCache.for_root(root)
    keys = {spec.name: _compute_key(spec, root, cache) for spec in specs}
    cache.save(prune=prune_cache)
    return keys


def _settings_document(spec: LayerSpec) -> bytes:
    build = spec.build
    document = {
        "format": INPUT_KEY_FORMAT,
        "build": {
            "method": build.method,
            "requirements": build.requirements,
            "command": list(build.command),
            "binary_only": build.binary_only,
            "require_hashes": build.require_hashes,
        },
        "target": {
            # Both are sets to Lambda and to the builders (which derive targets from them sorted), so
            # reordering them in layer-ci.yml is no change.
            "compatible_runtimes": sorted(spec.compatible_runtimes),
            "compatible_architectures": sorted(spec.compatible_architectures),
        },
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def _compute_key(spec: LayerSpec, root: Path, cache: StatCache) -> str:
    source = spec.source if spec.source.is_absolute() else root / spec.source
    if not source.is_dir():
        raise ConfigError(
            spec.location,
            f"layers.{spec.name}.source",
            f"folder '{source}' does not exist",
            "create it or point source at the layer's folder",
        )
    ignored_names = IGNORED_NAMES | (NODEJS_IGNORED_NAMES if spec.build.method == "nodejs" else frozenset())
    cache_prefix = _cache_prefix(source, root)
    records: list[bytes] = []
    append = records.append
    content_sha256 = cache.content_sha256
    for relative, entry in _walk(os.fspath(source), ignored_names):
        encoded = relative.encode(_FS_ENCODING, _FS_ERRORS)
        if entry.is_symlink():
            # Links are hashed as links (their target text), not followed: that is what a zip can
            # store, and following them could leave the folder or loop.
            append(encoded + b"\0l\0" + os.fsencode(os.readlink(entry.path)) + b"\n")
            continue
        st = entry.stat(follow_symlinks=False)
        mode = st.st_mode
        if not stat.S_ISREG(mode):
            raise UsageError(
                f"{entry.path}: layer '{spec.name}' source holds something that is neither a file, a "
                "folder nor a symlink (a FIFO, socket or device); remove it from the layer's folder"
            )
        digest = content_sha256(cache_prefix + relative, entry.path, st)
        append(b"%s\0%s\0%s\n" % (encoded, b"x" if mode & stat.S_IXUSR else b"-", digest.encode()))
    # Sorting the finished records (paths end at the NUL, which no path contains) makes the key
    # independent of the order the filesystem lists entries in.
    records.sort()
    settings = _settings_document(spec)
    hasher = hashlib.sha256(b"%d\n" % len(settings))
    hasher.update(settings)
    hasher.update(b"".join(records))
    return "sha256:" + hasher.hexdigest()


def _walk(top: str, ignored_names: frozenset[str]) -> list[tuple[str, os.DirEntry[str]]]:
    """Every non-folder entry under ``top`` with its POSIX path relative to it, ignored names skipped.

    Iterative, and unsorted on purpose: the caller sorts the finished records, which is what makes
    the key independent of listing order.
    """
    found: list[tuple[str, os.DirEntry[str]]] = []
    pending = [(top, "")]
    while pending:
        folder, prefix = pending.pop()
        with os.scandir(folder) as scan:
            for entry in scan:
                name = entry.name
                if name in ignored_names or name.endswith(IGNORED_SUFFIXES):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    pending.append((entry.path, prefix + name + "/"))
                else:
                    found.append((prefix + name, entry))
    return found


def _cache_prefix(source: Path, root: Path) -> str:
    # Cache names are relative to the repository root so a moved checkout keeps its cache.
    try:
        relative = source.relative_to(root).as_posix()
    except ValueError:
        return source.as_posix() + "/"
    return "" if relative == "." else relative + "/"


def _hash_file(path: str) -> str:
    try:
        with open(path, "rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError as exc:
        raise UsageError(
            f"{path}: cannot read a layer source file ({exc.strerror}); fix its permissions or remove it"
        ) from exc


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise
