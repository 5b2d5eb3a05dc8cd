"""Start one untrusted command in fresh user, mount and PID namespaces (run as ``python -I -S`` itself).

Standard library only and no layer_ci imports: this file is executed by path, before the command's
interpreter starts, so it must start fast and must not read anything the command's environment steers.
Every run of an installer or a test pays its start-up, so it imports only what it needs: its settings
come as ``NAME=VALUE`` arguments (no json, which loads re and enum) and signals through ``_signal``
(``signal`` loads enum).

The arguments are ``NAME=VALUE`` settings (see layer_ci.adapters.sandbox.spawn), ``--``, then the command's
argv. The process tree is:

    outer (this process, in the caller's namespaces: unshares, maps ids, relays the exit status)
      init (PID 1 of the new PID namespace: mounts /proc, /opt and /var/task, reaps, forwards signals)
        command (exec'd with the caller's environment, which is already the scrubbed one)

When PID 1 exits the kernel kills everything left in the namespace, so no process the command started
outlives it. A launch problem is written to the ``error_fd`` setting and the exit status is 125 (the
sandbox could not be set up) or 127 (the command could not be executed).
"""

from __future__ import annotations

import ctypes
import os
import stat
import sys

TYPE_CHECKING = False  # not from typing (milliseconds of this start-up); mypy reads it all the same
if TYPE_CHECKING:
    import signal
else:
    try:  # the C module behind `signal`, which would import enum (and functools, collections)
        import _signal as signal
    except ImportError:  # not CPython
        import signal

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_NOATIME = 0x400
MS_NODIRATIME = 0x800
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000
MS_RELATIME = 0x200000
PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_NO_NEW_PRIVS = 38
# statvfs flag -> mount flag: a bind remount inside a user namespace must keep the flags the kernel locked.
_KEEP_FLAGS = (
    (2, MS_NOSUID),
    (4, MS_NODEV),
    (8, MS_NOEXEC),
    (1024, MS_NOATIME),
    (2048, MS_NODIRATIME),
    (4096, MS_RELATIME),
)
_FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)
EXIT_SETUP, EXIT_EXEC = 125, 127

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = (ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_void_p)
_libc.unshare.argtypes = (ctypes.c_int,)
_libc.prctl.argtypes = (ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong)


def _call(result: int, what: str) -> None:
    if result != 0:
        number = ctypes.get_errno()
        raise OSError(number, f"{what}: {os.strerror(number)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    def raw(text: str | None) -> bytes | None:
        return None if text is None else os.fsencode(text)

    _call(_libc.mount(raw(source), raw(target), raw(fstype), flags, raw(data)), f"mount {target}")


def _bind(source: str, target: str, *, readonly: bool) -> None:
    _mount(source, target, None, MS_BIND | MS_REC)
    if readonly:
        current = os.statvfs(target).f_flag
        kept = 0
        for st_flag, ms_flag in _KEEP_FLAGS:
            if current & st_flag:
                kept |= ms_flag
        _mount(None, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY | kept)


def _write(path: str, text: str) -> None:
    # Bytes, not a text file: no codec to import once root dropped to a user that cannot reach the stdlib.
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def _report(fd: int, message: str) -> None:
    try:  # noqa: SIM105 - contextlib would cost this start-up two more modules
        os.write(fd, message.encode("utf-8", "replace")[:4000])
    except OSError:
        pass


def _place_task(task_fd: int, readonly: bool) -> None:
    """Bind the function's folder at /var/task; when /var has no task folder, rebuild /var on a tmpfs."""
    source = f"/proc/self/fd/{task_fd}"
    if os.path.isdir("/var/task"):
        _bind(source, "/var/task", readonly=readonly)
        return
    _rebuild("/var", os.listdir("/var"))
    os.mkdir("/var/task", 0o755)
    _bind(source, "/var/task", readonly=readonly)


def _rebuild(folder: str, names: list[str]) -> None:
    """Cover ``folder`` with a tmpfs (mode 755) holding only ``names``, each bound back from the original."""
    folder_fd = os.open(folder, os.O_PATH | os.O_DIRECTORY)
    entries = [(name, os.lstat(f"{folder}/{name}").st_mode) for name in names]
    _mount("tmpfs", folder, "tmpfs", MS_NOSUID | MS_NODEV, "mode=755")
    for name, mode in entries:
        original = f"/proc/self/fd/{folder_fd}/{name}"
        placed = f"{folder}/{name}"
        if stat.S_ISLNK(mode):
            os.symlink(os.readlink(original), placed)
            continue
        if stat.S_ISDIR(mode):
            os.mkdir(placed)
        else:
            os.close(os.open(placed, os.O_CREAT | os.O_WRONLY, 0o644))
        _mount(original, placed, None, MS_BIND | MS_REC)
    os.close(folder_fd)


def _allows(path: str, uid: int, gid: int) -> bool:
    """Whether the user may enter this folder (as layer_ci.adapters.sandbox._allows decides)."""
    st = os.stat(path)
    shift = 6 if st.st_uid == uid else 3 if st.st_gid == gid else 0
    return bool((st.st_mode >> shift) & stat.S_IXOTH)


def _unveil(paths: list[str], uid: int, gid: int) -> None:
    """Open the way to ``paths`` for the user: each folder on it the user may not enter (root's 0700 home)
    is covered, here only, by a tmpfs holding just the entries on the way; the rest of it stays unseen."""
    needed: dict[str, list[str]] = {}
    for path in paths:
        folder = "/"
        for part in [part for part in path.split("/") if part]:
            if not os.path.isdir(folder):
                break
            if not _allows(folder, uid, gid) and part not in needed.setdefault(folder, []):
                needed[folder].append(part)
            folder = folder.rstrip("/") + "/" + part
    # Outer folders first: an inner one is covered through the entry its outer one bound back.
    for folder in sorted(needed, key=lambda text: len([part for part in text.split("/") if part])):
        _rebuild(folder, [name for name in needed[folder] if os.path.lexists(f"{folder}/{name}")])


def _init(spec: dict[str, str], argv: list[str], status_fd: int) -> None:
    """PID 1 of the new namespace: set the mounts up, start the command, reap, report its status."""
    error_fd = int(spec["error_fd"])
    try:
        _call(_libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0), "prctl")
        _mount(None, "/", None, MS_REC | MS_PRIVATE)
        # Open the sources first: /opt and /var are about to be covered.
        opt_fd = os.open(spec["opt"], os.O_PATH | os.O_DIRECTORY) if spec.get("opt") else None
        task_fd = os.open(spec["task"], os.O_PATH | os.O_DIRECTORY) if spec.get("task") else None
        # Our own /proc lists only this namespace's processes: the callers' environments are not there.
        _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
        if opt_fd is not None:
            _bind(f"/proc/self/fd/{opt_fd}", "/opt", readonly=True)
            os.close(opt_fd)
        if task_fd is not None:
            _place_task(task_fd, spec.get("task_readonly") == "1")
            os.close(task_fd)
        drop = spec.get("drop")
        if drop:
            # os.execvpe imports warnings when called: after the drop, the helper's own interpreter may be
            # out of the user's reach (under root's 0700 home).
            import warnings  # noqa: F401
        if drop and spec.get("unveil"):
            uid, gid = drop.split(":")
            _unveil(spec["unveil"].split("\0"), int(uid), int(gid))
    except OSError as exc:
        _report(error_fd, f"could not set up the sandbox: {exc.strerror or exc}")
        os._exit(EXIT_SETUP)
    child = os.fork()
    if child == 0:
        os.close(status_fd)
        for number in _FORWARDED:
            signal.signal(number, signal.SIG_DFL)
        try:
            if drop and spec.get("userns") != "1":  # with a user namespace, the outer process dropped
                _drop(drop)
            # Set-user-ID programs of the host (su, mount, ...) give the code no privilege back.
            _call(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl")
            if spec.get("cwd"):
                os.chdir(spec["cwd"])
            os.set_inheritable(error_fd, False)
            os.execvpe(argv[0], argv, dict(os.environ))  # noqa: S606 - an argv, never a shell
        except (OSError, ValueError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            _report(error_fd, f"could not start {argv[0]!r}: {reason}")
        os._exit(EXIT_EXEC)

    def forward(number: int, _frame: object) -> None:
        try:  # noqa: SIM105
            os.kill(child, number)
        except ProcessLookupError:
            pass

    for number in _FORWARDED:
        signal.signal(number, forward)
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            os._exit(EXIT_SETUP)
        except InterruptedError:
            continue
        if pid == child:
            os.write(status_fd, str(status).encode())
            os._exit(0)


def _drop(drop: str) -> None:
    """Become the unprivileged user ``uid:gid``, with no supplementary group (root's were kept so far)."""
    uid, gid = drop.split(":")
    os.setgroups([])
    os.setgid(int(gid))
    os.setuid(int(uid))


def parse(args: list[str]) -> tuple[dict[str, str], list[str]]:
    """``NAME=VALUE ... -- argv...`` into the settings and the command's argv; ``unveil`` may repeat (its
    values are joined with NUL, which no argument can hold)."""
    end = args.index("--")
    settings: dict[str, str] = {}
    for name, _, value in (arg.partition("=") for arg in args[:end]):
        if name == "unveil" and name in settings:
            value = settings[name] + "\0" + value
        settings[name] = value
    return settings, args[end + 1 :]


def main() -> None:
    spec, argv = parse(sys.argv[1:])
    error_fd = int(spec["error_fd"])
    userns = spec.get("userns") == "1"
    flags = CLONE_NEWNS | CLONE_NEWPID | (CLONE_NEWUSER if userns else 0)
    try:
        if userns and spec.get("drop"):
            import warnings  # noqa: F401 - see _init: os.execvpe imports it, and the stdlib may be root's

            # Root hands the namespace to the unprivileged user before making it: the code's uid then maps
            # to that user outside, never to root. The drop made this process undumpable, which would
            # leave /proc/self/uid_map root's: it is this user's own process again.
            _drop(spec["drop"])
            _call(_libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0), "prctl")
        uid, gid = os.geteuid(), os.getegid()
        _call(_libc.unshare(flags), "unshare")
        if userns:
            _write("/proc/self/setgroups", "deny")
            _write("/proc/self/uid_map", f"{int(spec['inner_uid'])} {uid} 1\n")
            _write("/proc/self/gid_map", f"{int(spec['inner_gid'])} {gid} 1\n")
    except OSError as exc:
        _report(error_fd, f"could not set up the sandbox: {exc.strerror or exc}")
        sys.exit(EXIT_SETUP)
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(read_end)
        _init(spec, argv, write_end)
    os.close(write_end)
    os.close(error_fd)

    def forward(number: int, _frame: object) -> None:
        try:  # noqa: SIM105
            os.kill(child, number)
        except ProcessLookupError:
            pass

    for number in _FORWARDED:
        signal.signal(number, forward)
    chunks = []
    while chunk := os.read(read_end, 64):
        chunks.append(chunk)
    _, init_status = os.waitpid(child, 0)
    text = b"".join(chunks).decode()
    # PID 1 reports the command's status; without a report, its own (a setup failure, or it was killed).
    status = int(text) if text else init_status
    if os.WIFSIGNALED(status):
        killed_by = os.WTERMSIG(status)
        signal.signal(killed_by, signal.SIG_DFL)
        os.kill(os.getpid(), killed_by)
    sys.exit(os.waitstatus_to_exitcode(status))


if __name__ == "__main__":
    main()
