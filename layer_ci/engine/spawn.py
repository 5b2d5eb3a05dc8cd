"""The one place the engine starts the function's code (test commands, custom runtime bootstraps)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

Sink = int | IO[bytes] | None


def spawn(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    stdout: Sink,
    stderr: Sink = subprocess.STDOUT,
) -> subprocess.Popen[bytes]:
    """Start untrusted code with exactly ``env`` (never inherited) and no stdin.

    Every process of the function's code goes through here, so isolation added later (namespaces,
    another uid) covers test commands and bootstraps alike. Each process leads its own process group:
    killing the group on a timeout takes the children it forked along.
    """
    return subprocess.Popen(
        list(argv),
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=stderr,
        start_new_session=True,
    )


def kill_group(process: subprocess.Popen[bytes], sig: signal.Signals = signal.SIGKILL) -> None:
    """Signal ``process``'s whole group (already gone is fine)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)
