"""The Docker action's entry point: secrets out of its initial environment, then layer_ci.action.main."""

from __future__ import annotations

import json
import os
import sys

# The environment travels to the re-executed process through this file descriptor (a memfd).
ENVIRONMENT_FD = "LAYER_CI_ENVIRONMENT_FD"
# What the interpreter needs before it can read that descriptor; everything else, secrets included,
# stays out of /proc/<pid>/environ, which shows a process's initial environment for its whole life.
_STARTUP = frozenset({"PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TERM", "VIRTUAL_ENV"})


def hide_environment() -> None:
    """Re-execute this script with an almost empty environment; the real one is restored in memory.

    os.environ changes after startup never reach /proc/<pid>/environ, so the secrets (tokens, AWS keys)
    are readable only from this process's memory, which untrusted code cannot reach from its sandbox.
    """
    passed = os.environ.get(ENVIRONMENT_FD)
    if passed is not None:
        with os.fdopen(int(passed), "rb") as handle:
            environment = json.loads(handle.read())
        os.environ.clear()
        os.environ.update(environment)
        return
    if not hasattr(os, "memfd_create"):
        return  # not Linux: nothing to hide from
    fd = os.memfd_create("layer-ci-environment", 0)  # no MFD_CLOEXEC: it survives the exec
    data = json.dumps(dict(os.environ)).encode()
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    os.lseek(fd, 0, os.SEEK_SET)
    startup = {
        name: value for name, value in os.environ.items() if name in _STARTUP or name.startswith("PYTHON")
    }
    startup[ENVIRONMENT_FD] = str(fd)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], startup)  # noqa: S606 - argv, no shell


if __name__ == "__main__":
    hide_environment()
    from layer_ci.action.main import main

    sys.exit(main())
