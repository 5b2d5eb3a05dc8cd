"""Small file-system helpers shared by every module that writes files: atomic replacement, safe folders."""

from __future__ import annotations

import contextlib
import functools
import os
import stat
from pathlib import Path

from layer_ci.errors import UsageError

try:  # BLAKE2 is built into the interpreter; hashlib loads OpenSSL first, ~3 ms of a command's start
    from _blake2 import blake2b as _blake2b
except ImportError:  # an interpreter built without it
    from hashlib import blake2b as _blake2b

_NEW_FILE_MODE = 0o666  # narrowed by the umask, as for any file a program creates
_ATTEMPTS = 100
CACHE_ENV = "LAYER_CI_CACHE"
MACHINE_KEY_FILE = "machine.key"
_KEY_FILE_LIMIT = 4096  # a key is 64 hex digits; a larger file is not one layer-ci wrote


def memo_digest(*parts: str | bytes) -> str:
    """A 256-bit hex digest of ``parts`` (each length-prefixed, so no two lists of parts share one).

    For what layer-ci's own caches are keyed or fingerprinted by (the config memo, the sandbox probe's
    memo): those are worked out before a build's installer can start, where hashlib's OpenSSL would be
    start-up time. Digests that formats name (SHA-256 of zips, wheels, RECORD lines) still use hashlib.
    """
    digest = _blake2b(digest_size=32)
    for part in parts:
        data = part.encode("utf-8", "surrogateescape") if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.hexdigest()


class UnsafePathError(UsageError):
    """A folder layer-ci would write into is a symlink (or not a folder) inside the checkout."""


def write_atomically(path: Path, data: bytes, mode: int | None = None, *, fsync: bool = False) -> None:
    """Replace ``path`` with ``data`` so that readers see the old file or the new one, never half of one.

    The data goes to a temporary file beside ``path`` (same file system) that is then renamed over it;
    missing parent folders are created. ``mode`` sets the permission bits; without it a replaced file
    keeps its own and a new file gets the usual ones (0o666 less the umask). ``fsync`` flushes the data
    to disk before the rename: for files whose loss after a power cut would matter (the lock file,
    rewritten sources), not for caches.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if mode is None:
        with contextlib.suppress(FileNotFoundError):
            mode = path.stat().st_mode & 0o7777
    fd, temporary = _create_beside(path)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            if fsync:
                handle.flush()
                os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def user_cache_dir() -> Path:
    """``$LAYER_CI_CACHE``, else ``$XDG_CACHE_HOME/layer-ci``, else ``~/.cache/layer-ci``: this user's, not
    the repository's, so nothing a commit brings can be taken for something this machine wrote."""
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit).expanduser().absolute()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return (base / "layer-ci").absolute()


def read_own_file(path: Path, *, limit: int, deny_mode: int = 0o022, owner_only: bool = True) -> bytes | None:
    """The bytes of ``path`` when it is a regular file of this user's, at most ``limit`` bytes long, with none
    of ``deny_mode`` set (default: nobody else may write it); None otherwise, or when it cannot be read.

    For what layer-ci keeps in a cache folder and trusts on reading: a link is not followed, and a device or
    FIFO planted in its place is neither waited on nor read without end. ``owner_only=False`` reads a file
    of the checkout's (whoever owns it) with the same care.
    """
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    with os.fdopen(descriptor, "rb") as handle:
        try:
            st = os.fstat(handle.fileno())
            if (
                not stat.S_ISREG(st.st_mode)
                or (owner_only and st.st_uid != os.geteuid())
                or st.st_mode & deny_mode
            ):
                return None
            if st.st_size > limit:
                return None
            return handle.read(limit)
        except OSError:
            return None


@functools.cache
def machine_key() -> str | None:
    """This user's secret (64 hex digits), created on first use; None when it cannot be kept safely.

    What layer-ci keeps in a repository's .layer-ci/ (the config memo, a zip's deflate index) a commit
    can plant too, a fork's pull request included; signed or fingerprinted with this key, kept in the
    user's cache folder and never in the repository, a planted file is never taken for one written here.
    A key file that is a link, not this user's, or readable by others (as every file git checks out is)
    is not taken: a cache folder pointed into a checkout must not let a commit supply the key.
    """
    path = user_cache_dir() / MACHINE_KEY_FILE
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(os.urandom(32).hex())
        raw = read_own_file(path, limit=_KEY_FILE_LIMIT, deny_mode=0o077)
        if raw is None:
            return None
        key = raw.decode("ascii").strip()
        if not _is_hex_key(key):
            # Empty or cut short (a crash between create and write): replace it whole, or what it signs
            # would be refused for good. A process racing this one at worst misses a memo once.
            key = os.urandom(32).hex()
            write_atomically(path, key.encode("ascii"), 0o600)
    except (OSError, UnicodeDecodeError):
        return None
    return key


def _is_hex_key(text: str) -> bool:
    return len(text) == 64 and all(character in "0123456789abcdef" for character in text)


def _create_beside(path: Path) -> tuple[int, str]:
    # Not tempfile.mkstemp: it creates files 0o600 whatever the umask, which a new file would keep.
    for _ in range(_ATTEMPTS):
        candidate = os.path.join(path.parent, f".{path.name}.{os.urandom(6).hex()}.tmp")
        try:
            return os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _NEW_FILE_MODE), candidate
        except FileExistsError:
            continue
    raise FileExistsError(f"cannot create a temporary file beside {path}")


def state_dir(root: Path, relative: Path | str) -> Path:
    """``root/relative``, a folder layer-ci writes into (builds, caches, the local registry), checked first.

    Every part of it that already exists must be a real folder: a checkout may carry a committed
    ``.layer-ci`` (or ``.layer-ci/build``) that is a symlink, and following it would write zips, manifests
    and caches wherever it points, outside the checkout. Missing parts are left for the writer to create.
    Raises UnsafePathError naming the part.
    """
    target = Path(root)
    for part in Path(relative).parts:
        target = target / part
        try:
            mode = os.lstat(target).st_mode
        except FileNotFoundError:
            break
        if stat.S_ISLNK(mode):
            raise UnsafePathError(
                f"{target} is a symlink; layer-ci writes its builds and caches there and does not follow a "
                "link out of the checkout: delete it (and list .layer-ci/ in .gitignore)"
            )
        if not stat.S_ISDIR(mode):
            raise UnsafePathError(f"{target} is not a folder; delete it so layer-ci can create its folder")
    return Path(root) / relative


def containment_problem(
    path: Path | str, root: Path | str, seen: dict[str, bool] | None = None
) -> str | None:
    """Why ``path`` (lexically inside ``root``) may not be used as a repository file or folder, or None.

    Real paths this time: a symlink on the way that leads out of ``root`` (to /etc, /proc/self/environ,
    a home folder) is refused, and so is anything in a ``.git`` folder (git's own files, never content).
    Only the path is named, never what the file holds. The parts below ``root`` are lstat-ed one by one
    (``seen`` remembers them across calls of one load, as sibling folders share parents); only a path
    that passes through a symlink pays for a full realpath, which was a third of a large config's load.
    """
    root_text, text = os.path.normpath(root), os.path.normpath(path)
    top = root_text.rstrip(os.sep) + os.sep
    # String slicing, not os.path.relpath (two getcwd calls each): this runs for every folder of a config.
    parts = [] if text == root_text else text[len(top) :].split(os.sep) if text.startswith(top) else None
    if parts and any(part.casefold() == ".git" for part in parts):
        return _IN_GIT
    linked = parts is None  # not lexically inside: the real path decides
    prefix = root_text
    for part in parts or ():
        if linked:
            break
        prefix = os.path.join(prefix, part)
        known = seen.get(prefix) if seen is not None else None
        if known is None:
            known = os.path.islink(prefix)
            if seen is not None:
                seen[prefix] = known
        linked = known
    if not linked:
        return None
    real_root = _real(root_text)
    real = os.path.realpath(text)
    if not is_inside(real, real_root):
        return f"leads through a symlink to {real}, outside the repository ({real_root})"
    if any(part.casefold() == ".git" for part in os.path.relpath(real, real_root).split(os.sep)):
        return _IN_GIT
    return None


_IN_GIT = "lies in the .git folder, git's own files"


@functools.lru_cache(maxsize=64)
def _real(root: str) -> str:
    return os.path.realpath(root)


def is_inside(folder: Path | str, root: Path | str) -> bool:
    """Whether absolute ``folder`` is absolute ``root`` or lies below it, on the paths as written.

    Lexical (``..`` folded, symlinks not followed) and cheap: the loader asks it for every source folder.
    """
    folder_text, root_text = os.path.normpath(folder), os.path.normpath(root)
    return folder_text == root_text or folder_text.startswith(root_text.rstrip(os.sep) + os.sep)
