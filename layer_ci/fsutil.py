"""Small file-system helpers shared by every module that writes files: atomic replacement."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

_NEW_FILE_MODE = 0o666  # narrowed by the umask, as for any file a program creates
_ATTEMPTS = 100
CACHE_ENV = "LAYER_CI_CACHE"


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


def _create_beside(path: Path) -> tuple[int, str]:
    # Not tempfile.mkstemp: it creates files 0o600 whatever the umask, which a new file would keep.
    for _ in range(_ATTEMPTS):
        candidate = os.path.join(path.parent, f".{path.name}.{os.urandom(6).hex()}.tmp")
        try:
            return os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _NEW_FILE_MODE), candidate
        except FileExistsError:
            continue
    raise FileExistsError(f"cannot create a temporary file beside {path}")
