"""How layer-ci runs untrusted code (tests, handlers, build commands, sdists) out of reach of its secrets.

Three modes, the strongest this machine allows (``LAYER_CI_SANDBOX`` = auto | namespace | user | off):

- ``namespace``: new mount and PID namespaces with their own /proc (sandbox_exec.py). The code sees
  only its own processes, so no ancestor's /proc/<pid>/environ. The layers can be mounted at the real
  /opt (read-only) and the function at /var/task. Any user but root also gets a user namespace, keeping
  its own uid; a process in it may not ptrace-read any process outside it either. Root uses its own
  namespaces and hands the code to the unprivileged user (as in ``user`` mode), with no_new_privs: a
  user namespace would map the code's uid to root outside, free to read root's files and write the
  checkout. Folders on the way to what the code must read that the user may not enter (root's 0700
  home, holding the interpreter or the cache) are replaced, in the namespace only, by a tmpfs holding
  just the entries needed (``unveil``); nothing else in them is visible.
- ``user``: root without namespaces (a Docker container under the default seccomp profile, like the
  Action's): the code runs as an unprivileged user (``LAYER_CI_SANDBOX_USER``, default ``layer-ci``,
  else ``nobody``), which may not read root's /proc/<pid>/environ. /opt is the stand-in folder.
- ``none``: an ordinary user without user namespaces: the code runs as that user, with a scrubbed
  environment only (it could read the user's other processes' environments).
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import fcntl
import functools
import json
import os
import pwd
import select
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

from layer_ci.errors import LayerCiError, UsageError

SANDBOX_ENV = "LAYER_CI_SANDBOX"
REAL_OPT_ENV = "LAYER_CI_REAL_OPT"
SANDBOX_USER_ENV = "LAYER_CI_SANDBOX_USER"
CACHE_USER_ENV = "LAYER_CI_CACHE_USER"
DEFAULT_CACHE_USER = "layer-ci-cache"
_NO_ID = 2**31 - 1  # uids and gids at or above it are (uid_t)-1, overflow ids or not ids at all
# "off": probe this machine afresh, and neither read nor write the memo of the answer.
MEMO_ENV = "LAYER_CI_SANDBOX_MEMO"
MEMO_FILE = "sandbox-probe.json"
MEMO_FORMAT = 4
MEMO_ANSWERS = 16
# Set by layer-ci's own image: /opt and /var/task of this container are layer-ci's to replace.
OWN_CONTAINER_ENV = "LAYER_CI_OWN_CONTAINER"
_PATHS_LOCK = Path("/run/lock/layer-ci-paths.lock")
DEFAULT_SANDBOX_USERS = ("layer-ci", "nobody")
# sbx_user1051, the user a function runs as in Lambda's execution environment.
LAMBDA_UID = 993
EMULATED_NOTE = "/opt emulated: absolute /opt paths are not served"
_HELPER = Path(__file__).with_name("sandbox_exec.py")
_EXIT_SETUP, _EXIT_EXEC = 125, 127
_PROBE_TIMEOUT_S = 20.0

Mode = Literal["namespace", "user", "none"]


class SandboxError(LayerCiError):
    """Untrusted code could not be isolated as asked (``LAYER_CI_SANDBOX``), or cannot reach its files."""


@dataclass(frozen=True)
class Isolation:
    """How untrusted code runs here; ``drop`` is the (uid, gid) it runs as when that is not ours."""

    mode: Mode
    userns: bool = False
    drop: tuple[int, int] | None = None
    user_name: str | None = None
    real_paths: bool = False  # the real /opt and /var/task can be mounted
    reason: str = ""
    # util-linux's unshare (and setpriv, for root's own namespaces), when the probe saw them start code in
    # these namespaces: a lean spawn (no mounts) then needs no helper interpreter. See spawn(lean=True).
    unshare: str | None = None
    setpriv: str | None = None

    @property
    def unveils(self) -> bool:
        """Whether folders the code's user may not enter can be opened to it in the namespace: only root,
        setting up its own namespaces before handing the code over, can reach them to bind them."""
        return self.mode == "namespace" and self.drop is not None and not self.userns

    def describe(self) -> str:
        if self.mode == "namespace":
            who = f" as {self.user_name}" if self.user_name else ""
            return f"namespace (own /proc{who})"
        if self.mode == "user":
            return f"user {self.user_name}"
        return "none (same user, scrubbed environment only)"


@dataclass(frozen=True)
class Mounts:
    """What the namespace shows at /opt (read-only) and /var/task, and the folder the code starts in."""

    opt: Path | None = None
    task: Path | None = None
    task_readonly: bool = False
    cwd: str | None = None
    linked: bool = False  # /opt and /var/task are symlinks (linked_paths), not mounts


def setting(value: str | None = None) -> str:
    chosen = (value if value is not None else os.environ.get(SANDBOX_ENV, "")).strip().lower() or "auto"
    if chosen not in ("auto", "namespace", "user", "off"):
        raise UsageError(f"{SANDBOX_ENV}={chosen!r}: unknown sandbox mode; use auto, namespace, user or off")
    return chosen


def real_opt_wanted() -> bool:
    """False when ``LAYER_CI_REAL_OPT=off`` (or 0/false/no) forces the /opt stand-in."""
    return os.environ.get(REAL_OPT_ENV, "auto").strip().lower() not in ("off", "0", "false", "no")


def isolation(mode: str | None = None) -> Isolation:
    """The strongest isolation this machine allows, within ``LAYER_CI_SANDBOX``.

    Probed once per process, and remembered for this boot in the user's cache (see ``_memo_key``) unless
    ``LAYER_CI_SANDBOX_MEMO=off``.
    """
    return _isolation(setting(mode), os.environ.get(SANDBOX_USER_ENV, ""), memo_wanted())


def memo_wanted() -> bool:
    return os.environ.get(MEMO_ENV, "on").strip().lower() not in ("off", "0", "false", "no")


@functools.lru_cache(maxsize=8)
def _isolation(wanted: str, user: str, memo: bool) -> Isolation:
    if wanted == "off":
        return Isolation("none", reason=f"{SANDBOX_ENV}=off")
    key = _memo_key(wanted, user) if memo else None
    if key is not None:
        remembered = _memo_read(key)
        if remembered is not None:
            return remembered
    found = _probe(wanted, user)
    if key is not None:
        _memo_write(key, found)
    return found


def _probe(wanted: str, user: str) -> Isolation:
    root = os.geteuid() == 0
    if wanted in ("auto", "namespace"):
        if root:
            # Never a user namespace mapping root to itself: the code would be root outside it.
            drop = sandbox_user(user)
            found = _probe_namespace(userns=False, drop=drop)
            if found is None:  # no CAP_SYS_ADMIN: a user namespace made by the unprivileged user
                found = _probe_namespace(userns=True, drop=drop)
        else:
            found = _probe_namespace(userns=True, drop=None)
        if found is not None:
            return _with_lean_launcher(found)
        if wanted == "namespace":
            raise SandboxError(
                f"{SANDBOX_ENV}=namespace but this machine does not allow user, mount and PID namespaces "
                "(`unshare -Urm --pid --fork --mount-proc true` fails); allow unprivileged user namespaces "
                f"or set {SANDBOX_ENV}=auto"
            )
    if root:
        uid, gid, name = sandbox_user(user)
        return Isolation("user", drop=(uid, gid), user_name=name, reason="root without namespaces")
    if wanted == "user":
        raise SandboxError(
            f"{SANDBOX_ENV}=user needs layer-ci to run as root (to switch to an unprivileged user); "
            f"set {SANDBOX_ENV}=auto"
        )
    return Isolation("none", reason="no user namespaces here and not root")


def sandbox_user(name: str = "") -> tuple[int, int, str]:
    """(uid, gid, name) of the unprivileged user root hands untrusted code to."""
    names = (name,) if name else DEFAULT_SANDBOX_USERS
    for candidate in names:
        try:
            entry = pwd.getpwuid(int(candidate)) if candidate.isdigit() else pwd.getpwnam(candidate)
        except (KeyError, ValueError):
            continue
        if entry.pw_uid == 0:
            break
        return entry.pw_uid, entry.pw_gid, entry.pw_name
    raise SandboxError(
        f"{SANDBOX_USER_ENV}: no unprivileged user {' or '.join(repr(n) for n in names)} exists to run "
        "untrusted code as; create one (useradd --system layer-ci) or name another"
    )


def cache_keeper(isolation: Isolation) -> Isolation | None:
    """The sandbox as the one user that may write a lasting installer cache, or None where there is none.

    Where root hands code to another user, code that user runs (an sdist's setup.py, a test, a daemon
    either left) could fill any cache it may write with wheels for later builds. Installs that run none
    (uv --no-build) run as a second unprivileged user instead: ``LAYER_CI_CACHE_USER`` (a name, or a uid
    that needs no entry in /etc/passwd), else ``layer-ci-cache`` where it exists. Never root: what the
    installer reads on a requirements file's behalf (``-r /root/...``, a ``file:`` link on an index
    page) is what that user may read.
    """
    if isolation.drop is None:
        return None
    wanted = os.environ.get(CACHE_USER_ENV, "").strip()
    try:
        if wanted.isascii() and wanted.isdigit():
            uid = gid = int(wanted)
            name = f"uid {uid}"
            with contextlib.suppress(KeyError):
                entry = pwd.getpwuid(uid)
                gid, name = entry.pw_gid, entry.pw_name
        else:
            entry = pwd.getpwnam(wanted or DEFAULT_CACHE_USER)
            uid, gid, name = entry.pw_uid, entry.pw_gid, entry.pw_name
    except KeyError:
        if not wanted:
            return None
        raise SandboxError(
            f"{CACHE_USER_ENV}={wanted}: no such user; create it (useradd --system {wanted}) or give a uid"
        ) from None
    code_uid, code_gid = isolation.drop
    if not (0 < uid < _NO_ID and 0 < gid < _NO_ID):
        # (uid_t)-1 asks setreuid to change nothing: the installer would stay root.
        raise SandboxError(
            f"{CACHE_USER_ENV}={wanted or DEFAULT_CACHE_USER}: uid {uid}, gid {gid}: give a user whose uid "
            f"and gid lie between 1 and {_NO_ID - 1}"
        )
    if uid == code_uid or gid == code_gid:
        raise SandboxError(
            f"{CACHE_USER_ENV}: {name} (uid {uid}, gid {gid}) must be a user and group of its own, not "
            f"shared with {isolation.user_name or code_uid}, the user untrusted code runs as"
        )
    return dataclasses.replace(isolation, drop=(uid, gid), user_name=name)


# ----------------------------------------------------------------------------------------------------
# The probe's answer, remembered per boot: probing starts the helper up to four times (tens of ms), and
# every command that runs untrusted code would pay it again.


def _memo_key(wanted: str, user: str) -> str | None:
    """What the probe's answer depends on, hashed; None (no memo) when part of it cannot be read.

    The boot (a reboot may change kernel settings), who asks (uid, gid, capabilities, seccomp filters),
    from where (the user, mount and PID namespaces: a container is another answer), the kernel's
    namespace settings, the interpreter that runs the helper and layer-ci's own version and helper.
    The memo sits in the user's cache folder, not the checkout; the boot id in the key is unknowable
    to whoever writes a commit, so a memo brought by one is never taken for this machine's.
    """
    from layer_ci.fsutil import memo_digest

    try:
        parts = [
            str(MEMO_FORMAT),
            wanted,
            user,
            _read("/proc/sys/kernel/random/boot_id"),
            f"{os.geteuid()}:{os.getegid()}:{os.path.realpath(sys.executable)}",
            _process_status(),
            *(f"{kind}:{os.stat(f'/proc/self/ns/{kind}').st_ino}" for kind in ("user", "mnt", "pid")),
            *(
                f"{name}={_read(path) if os.path.exists(path) else '-'}"
                for name, path in (
                    ("max_user", "/proc/sys/user/max_user_namespaces"),
                    ("max_mnt", "/proc/sys/user/max_mnt_namespaces"),
                    ("max_pid", "/proc/sys/user/max_pid_namespaces"),
                    ("clone", "/proc/sys/kernel/unprivileged_userns_clone"),
                    ("apparmor", "/proc/sys/kernel/apparmor_restrict_unprivileged_userns"),
                )
            ),
            _code_version(),
        ]
        if os.geteuid() == 0 and wanted != "namespace":
            with contextlib.suppress(SandboxError):
                parts.append(repr(sandbox_user(user)))  # the user root hands code to, as /etc/passwd says
    except OSError:
        return None
    return memo_digest(*parts)


def _read(path: str) -> str:
    with open(path, encoding="ascii", errors="replace") as handle:
        return handle.read().strip()


def _process_status() -> str:
    """This process's capabilities, seccomp mode and filter count, no_new_privs (from /proc/self/status)."""
    wanted = ("CapEff:", "CapBnd:", "NoNewPrivs:", "Seccomp:", "Seccomp_filters:")
    with open("/proc/self/status", encoding="ascii", errors="replace") as handle:
        return ";".join(line.strip() for line in handle if line.startswith(wanted))


def _code_version() -> str:
    import layer_ci

    helper = os.stat(_HELPER)
    own = os.stat(__file__)
    return f"{layer_ci.__version__}:{helper.st_size}:{helper.st_mtime_ns}:{own.st_size}:{own.st_mtime_ns}"


def _memo_path() -> Path:
    from layer_ci.fsutil import user_cache_dir

    return user_cache_dir() / MEMO_FILE


def _memo_read(key: str) -> Isolation | None:
    """The remembered answer for ``key``; None when there is none, or it is not provably this user's own."""
    answer = _memo_answers().get(key)
    return _isolation_from(answer) if answer is not None else None


def _memo_answers() -> dict[str, object]:
    """The memo's answers by key: empty when there is no memo, or it is not provably this user's own."""
    from layer_ci.fsutil import read_own_file

    raw = read_own_file(_memo_path(), limit=1 << 20)  # this user's own, and nobody else may write it
    if raw is None:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        return {}
    answers = data.get("answers") if isinstance(data, dict) and data.get("format") == MEMO_FORMAT else None
    return answers if isinstance(answers, dict) else {}


def _isolation_from(data: object) -> Isolation | None:
    if not isinstance(data, dict):
        return None
    mode, drop, name = data.get("mode"), data.get("drop"), data.get("user_name")
    if mode not in ("namespace", "user", "none"):
        return None
    if drop is not None and not (
        isinstance(drop, list) and len(drop) == 2 and all(type(n) is int and n > 0 for n in drop)
    ):
        return None
    if mode == "user" and drop is None:
        return None  # "user" means handing the code to another user; without one it would run as root
    if not all(isinstance(data.get(flag), bool) for flag in ("userns", "real_paths")):
        return None
    if not (name is None or isinstance(name, str)) or not isinstance(data.get("reason", ""), str):
        return None
    tools = (data.get("unshare"), data.get("setpriv"))
    if not all(tool is None or (isinstance(tool, str) and os.path.isabs(tool)) for tool in tools):
        return None
    return Isolation(
        mode,
        userns=data["userns"],
        drop=(drop[0], drop[1]) if drop else None,
        user_name=name,
        real_paths=data["real_paths"],
        reason=data.get("reason", ""),
        unshare=tools[0],
        setpriv=tools[1],
    )


def _memo_write(key: str, found: Isolation) -> None:
    from layer_ci.fsutil import write_atomically

    # Several answers are kept: each interpreter, mode and sandbox user asks with a key of its own.
    answers = {name: value for name, value in _memo_answers().items() if name != key}
    kept = dict(list(answers.items())[-(MEMO_ANSWERS - 1) :])
    kept[key] = dataclasses.asdict(found)
    with contextlib.suppress(OSError):  # without a memo, the next command probes again: no harm
        path = _memo_path()
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_atomically(path, json.dumps({"format": MEMO_FORMAT, "answers": kept}).encode(), 0o600)


def forget_memo() -> None:
    """Drop the remembered answer (this process's and the file): the sandbox it describes failed to start."""
    _isolation.cache_clear()
    with contextlib.suppress(OSError):
        _memo_path().unlink()


def _probe_namespace(*, userns: bool, drop: tuple[int, int, str] | None) -> Isolation | None:
    """Start ``true`` in the namespaces (with /opt and /var/task mounts, then without); None: neither ran."""
    true = shutil.which("true") or "/bin/true"
    with tempfile.TemporaryDirectory(prefix="layer-ci-probe-") as scratch:
        os.chmod(scratch, 0o755)  # noqa: S103 - an empty folder the dropped user must be able to enter
        for real_paths in (True, False):
            mounts = Mounts(opt=Path(scratch), task=Path(scratch), cwd="/var/task") if real_paths else None
            candidate = Isolation(
                "namespace",
                userns=userns,
                drop=(drop[0], drop[1]) if drop else None,
                user_name=drop[2] if drop else None,
                real_paths=real_paths,
                reason="user namespaces" if userns else "root's own namespaces",
            )
            try:
                launched = spawn(
                    [true],
                    isolation=candidate,
                    env={"PATH": os.defpath},
                    cwd=Path(scratch),
                    mounts=mounts,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                code = wait_promptly(launched.process, _PROBE_TIMEOUT_S)
                launched.close()
            except (OSError, subprocess.TimeoutExpired):
                return None
            if code == 0:
                return candidate
    return None


def wait_promptly(process: subprocess.Popen[bytes], timeout: float) -> int:
    """``process.wait(timeout)``, woken the moment the process ends.

    Popen.wait with a timeout polls with growing sleeps (up to 50 ms), which would add up to that much
    to every probe; a pidfd becomes readable exactly when the process exits.
    """
    try:
        pidfd = os.pidfd_open(process.pid)
    except (AttributeError, OSError):  # Linux before 5.3, or not Linux
        return process.wait(timeout=timeout)
    try:
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        if not poller.poll(timeout * 1000):
            raise subprocess.TimeoutExpired(process.args, timeout)
    finally:
        os.close(pidfd)
    return process.wait()


def _with_lean_launcher(found: Isolation) -> Isolation:
    """``found`` with util-linux's unshare (and setpriv) named, if they start ``true`` in its namespaces."""
    unshare = shutil.which("unshare")
    setpriv = shutil.which("setpriv") if found.drop else None
    if unshare is None or (found.drop and setpriv is None):
        return found
    candidate = dataclasses.replace(found, unshare=unshare, setpriv=setpriv)
    with tempfile.TemporaryDirectory(prefix="layer-ci-probe-") as scratch:
        os.chmod(scratch, 0o755)  # noqa: S103 - an empty folder the dropped user must be able to enter
        try:
            launched = spawn(
                # Its own PID 1 and /proc, or the probe fails: an unshare too old for an option exits 1.
                ["sh", "-c", 'test "$$" = 1 && test "$(ls -d /proc/[0-9]* | wc -l)" -le 8'],
                isolation=candidate,
                env={"PATH": os.defpath},
                cwd=Path(scratch),
                lean=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            code = wait_promptly(launched.process, _PROBE_TIMEOUT_S)
        except (OSError, subprocess.TimeoutExpired):
            return found
    return candidate if code == 0 else found


class Launched:
    """A started process, and the reason it could not start, if it could not (read after it ended)."""

    def __init__(self, process: subprocess.Popen[bytes], error_fd: int | None, *, lean: bool = False) -> None:
        self.process = process
        self._error_fd = error_fd
        self._error: str | None = None
        self.lean = lean  # started by util-linux's unshare, whose own failures go to the command's output

    def lean_setup_failed(self, output: bytes) -> bool:
        """After a lean start ended in failure: whether unshare or setpriv themselves failed (then the memo
        of the probe's answer is dropped, as for the helper's exit 125: the next command probes again)."""
        failed = (
            self.lean and self.process.returncode != 0 and output.startswith((b"unshare: ", b"setpriv: "))
        )
        if failed:
            forget_memo()
        return failed

    def launch_error(self) -> str | None:
        """Call after the process ended: why the sandbox or the command did not start, else None."""
        if self._error_fd is not None and self.process.returncode in (_EXIT_SETUP, _EXIT_EXEC):
            os.set_blocking(self._error_fd, False)
            with contextlib.suppress(BlockingIOError, OSError):
                self._error = os.read(self._error_fd, 4096).decode("utf-8", "replace").strip() or None
            if self.process.returncode == _EXIT_SETUP:
                forget_memo()  # the machine changed since the probe (or the memo was wrong): probe again
        self.close()
        return self._error

    def close(self) -> None:
        if self._error_fd is not None:
            os.close(self._error_fd)
            self._error_fd = None


def spawn(
    argv: Sequence[str],
    *,
    isolation: Isolation,
    env: Mapping[str, str],
    cwd: Path,
    mounts: Mounts | None = None,
    stdin: int | IO[bytes] | None = subprocess.DEVNULL,
    stdout: int | IO[bytes] | None = None,
    stderr: int | IO[bytes] | None = None,
    lean: bool = False,
    unveil: Sequence[str] = (),
) -> Launched:
    """Start ``argv`` isolated as ``isolation`` says, in its own process group (one kill reaches it all).

    Raises OSError when the program cannot be started outside a namespace (as Popen does); inside one,
    ``launch_error()`` tells after the fact.

    ``lean`` (for installers and build commands, which need no /opt or /var/task): where the probe found
    util-linux's unshare working, it starts the command in the same namespaces without the helper's
    interpreter (tens of ms less per build). The command is then PID 1 of its namespace itself, with no
    init to relay signals sent from inside it or to reap orphans; a missing or non-executable program
    raises FileNotFoundError or PermissionError at once, as Popen does.

    ``unveil``: paths (from ``require_reachable``) the code's user reaches only once the folders in their
    way are opened to it in the namespace; that takes the helper, never the lean start.
    """
    if lean and isolation.mode == "namespace" and isolation.unshare and mounts is None and not unveil:
        return _spawn_unshare(argv, isolation, env, cwd, stdin, stdout, stderr)
    if isolation.mode != "namespace":
        drop = isolation.drop
        process = subprocess.Popen(
            list(argv),
            cwd=mounts.cwd if mounts and mounts.linked and mounts.cwd else cwd,
            env=dict(env),
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
            user=drop[0] if drop else None,
            group=drop[1] if drop else None,
            extra_groups=[] if drop else None,
        )
        return Launched(process, None)
    read_end, write_end = os.pipe()
    root = os.geteuid() == 0
    settings = {
        "error_fd": str(write_end),
        "userns": "1" if isolation.userns else "",
        "inner_uid": str(LAMBDA_UID if root else os.geteuid()),
        "inner_gid": str(LAMBDA_UID if root else os.getegid()),
        "drop": f"{isolation.drop[0]}:{isolation.drop[1]}" if isolation.drop else "",
        "opt": str(mounts.opt) if mounts and mounts.opt else "",
        "task": str(mounts.task) if mounts and mounts.task else "",
        "task_readonly": "1" if mounts and mounts.task_readonly else "",
        "cwd": mounts.cwd or "" if mounts else "",
    }
    unveiled = [f"unveil={path}" for path in unveil] if isolation.unveils else []
    try:
        process = subprocess.Popen(
            [
                *(sys.executable, "-I", "-S", str(_HELPER)),
                *(f"{name}={value}" for name, value in settings.items()),
                *unveiled,
                *("--", *argv),
            ],
            cwd=cwd,
            env=dict(env),
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
            pass_fds=(write_end,),
        )
    except BaseException:
        os.close(read_end)
        raise
    finally:
        os.close(write_end)
    return Launched(process, read_end)


def _spawn_unshare(
    argv: Sequence[str],
    isolation: Isolation,
    env: Mapping[str, str],
    cwd: Path,
    stdin: int | IO[bytes] | None,
    stdout: int | IO[bytes] | None,
    stderr: int | IO[bytes] | None,
) -> Launched:
    """The helper's namespaces through util-linux: new mount (private) and PID namespaces with their own
    /proc, a user namespace mapping the caller as the helper does, SIGKILL to the command if unshare dies.
    Root hands the command to the unprivileged user through setpriv: after setting up its own namespaces,
    or before the user namespace, which that user then makes."""
    _require_executable(argv[0], env.get("PATH", os.defpath), cwd)
    assert isolation.unshare is not None
    drop: list[str] = []
    if isolation.drop:
        assert isolation.setpriv is not None
        uid, gid = isolation.drop
        drop = [isolation.setpriv, f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--no-new-privs"]
        drop.append("--")
    wrapper = list(drop) if isolation.userns else []
    wrapper += [isolation.unshare]
    if isolation.userns:
        root = os.geteuid() == 0
        wrapper += [
            f"--map-user={LAMBDA_UID if root else os.geteuid()}",
            f"--map-group={LAMBDA_UID if root else os.getegid()}",
        ]
    wrapper += ["--mount", "--propagation=private", "--pid", "--fork", "--mount-proc", "--kill-child", "--"]
    if not isolation.userns:
        wrapper += drop
    process = subprocess.Popen(
        [*wrapper, *argv],
        cwd=cwd,
        env=dict(env),
        stdin=stdin,
        stdout=stdout,
        stderr=stderr,
        start_new_session=True,
    )
    return Launched(process, None, lean=True)


def _require_executable(program: str, path: str, cwd: Path) -> None:
    """Raise as execvp would fail for ``program`` (looked up in ``path``; ``cwd``-relative with a slash)."""
    if "/" in program:
        candidates = [os.path.join(cwd, program)]
    else:
        candidates = [os.path.join(cwd, folder or ".", program) for folder in path.split(os.pathsep)]
    denied = False
    for candidate in candidates:
        if os.path.isfile(candidate):
            if os.access(candidate, os.X_OK):
                return
            denied = True
    if denied:
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), program)
    raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), program)


# ----------------------------------------------------------------------------------------------------
# Root in its own container, without namespaces: /opt and /var/task as symlinks


def links_allowed(isolation: Isolation) -> bool:
    """True for root in a container marked as layer-ci's own (its image sets ``LAYER_CI_OWN_CONTAINER=1``)."""
    marked = os.environ.get(OWN_CONTAINER_ENV, "").strip().lower() in ("1", "true", "yes")
    return isolation.mode == "user" and marked and os.geteuid() == 0


@contextlib.contextmanager
def linked_paths(opt: Path, task: Path) -> Iterator[str | None]:
    """Point /opt and /var/task at ``opt`` and ``task`` for one run; yields None, or why it cannot.

    The Action's container has no CAP_SYS_ADMIN (Docker's default seccomp profile refuses unshare and
    mount), but it is layer-ci's own: its /opt may become a symlink. The code runs as the unprivileged
    user, which cannot write the root-owned tree behind it, so /opt is read-only to it as in Lambda.
    One run at a time holds the lock: the links are global to the container.
    """
    _PATHS_LOCK.parent.mkdir(parents=True, exist_ok=True)
    with open(_PATHS_LOCK, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield _point(Path("/opt"), opt) or _point(Path("/var/task"), task)


def _point(link: Path, target: Path) -> str | None:
    try:
        if link.is_symlink():
            fresh = link.with_name(f".{link.name}.layer-ci-new")
            fresh.unlink(missing_ok=True)
            fresh.symlink_to(target)
            os.replace(fresh, link)
            return None
        if link.is_dir():
            if any(link.iterdir()):
                return f"{link} holds files of its own; layer-ci's image keeps it empty"
            link.rmdir()
        link.symlink_to(target)
    except OSError as exc:
        return f"cannot point {link} at the run's folder: {exc.strerror or exc}"
    return None


# ----------------------------------------------------------------------------------------------------
# Files the code runs with, when it runs as another user


def give_to(isolation: Isolation, paths: Iterable[Path]) -> None:
    """Hand folders the code must write (its HOME, TMPDIR, output) to the user it runs as."""
    if isolation.drop is None:
        return
    uid, gid = isolation.drop
    for path in paths:
        os.chown(path, uid, gid)


def give_tree(isolation: Isolation, root: Path) -> None:
    """Hand a whole folder the code may write to its user: every entry, links themselves not followed.

    Bottom-up through folder descriptors: a folder is handed over only after everything in it, so code
    already running as that user (a daemon an earlier install left behind) never owns a folder the walk
    still works in and cannot swap an entry for a link to root's files; no path is resolved twice.
    """
    if isolation.drop is None:
        return
    uid, gid = isolation.drop
    for _top, dirs, files, top_fd in os.fwalk(root, topdown=False, follow_symlinks=False):
        for name in [*dirs, *files]:
            os.chown(name, uid, gid, dir_fd=top_fd, follow_symlinks=False)
    os.chown(root, uid, gid, follow_symlinks=False)


def owned_folder(isolation: Isolation, path: Path) -> Path:
    """``path`` created if needed and writable by the code's user (a per-user twin when root owns it)."""
    if isolation.drop is None:
        path.mkdir(parents=True, exist_ok=True)
        return path
    uid, gid = isolation.drop
    own = path.with_name(f"{path.name}-uid{uid}")
    own.mkdir(parents=True, exist_ok=True)
    st = os.lstat(own)
    if not stat.S_ISDIR(st.st_mode):  # a link planted where a cache_dir's parent is writable
        raise SandboxError(f"{own} is not a folder (a link?); delete it so layer-ci can create its own")
    if st.st_uid != uid:
        os.chown(own, uid, gid, follow_symlinks=False)
    return own


def unreachable(
    isolation: Isolation, paths: Iterable[Path], *, repair_under: Path | None = None
) -> list[str]:
    """Paths the code's user could not read, each with the folder that stops it (empty: all fine).

    Folders of layer-ci's own under ``repair_under`` (its cache: made by mkdtemp, mode 0700) are opened
    to others for reading on the way instead. Where the namespace can open the way (``Isolation.unveils``),
    only a path closed itself counts.
    """
    return [problem for path in paths if (problem := _reach(isolation, path, repair_under)[0])]


def _reach(isolation: Isolation, path: Path, repair_under: Path | None) -> tuple[str | None, bool]:
    """(why the code's user cannot read ``path``, or None; whether the namespace must open its way)."""
    if isolation.drop is None:
        return None, False
    uid, gid = isolation.drop
    repairable = os.path.realpath(repair_under) if repair_under is not None else None
    target = Path(os.path.abspath(path))
    unveil = False
    for folder in (*reversed(target.parents), target):
        try:
            st = os.stat(folder)
        except OSError:
            break  # not there (yet): the command's own error will say so
        if _allows(st, uid, gid):
            continue
        if repairable is not None and under(folder, repairable):
            wanted = 0o055 if stat.S_ISDIR(st.st_mode) else 0o044
            os.chmod(folder, stat.S_IMODE(st.st_mode) | wanted)
            continue
        if isolation.unveils and folder != target:
            unveil = True
            continue
        return f"{path} (stopped at {folder}, mode {stat.S_IMODE(st.st_mode):04o})", False
    return None, unveil


def may_read(isolation: Isolation, st: os.stat_result) -> bool:
    """Whether the code's user may read this file or enter this folder (its own permissions alone)."""
    return isolation.drop is None or _allows(st, *isolation.drop)


def _allows(st: os.stat_result, uid: int, gid: int) -> bool:
    """Whether the user may enter this folder, or read this file."""
    if st.st_uid == uid:
        shift = 6
    elif st.st_gid == gid:
        shift = 3
    else:
        shift = 0
    needed = stat.S_IXOTH if stat.S_ISDIR(st.st_mode) else stat.S_IROTH
    return bool((st.st_mode >> shift) & needed)


def require_reachable(
    isolation: Isolation, paths: Iterable[Path], what: str, *, repair_under: Path | None = None
) -> tuple[str, ...]:
    """Check that the code's user can read ``paths``, and where links in them lead; raise if not.

    Returns the paths whose way the namespace must open to the code (``Isolation.unveils``): pass them
    to ``spawn(unveil=...)``.
    """
    problems: list[str] = []
    unveil: dict[str, None] = {}
    for path in paths:
        for route in dict.fromkeys([os.path.abspath(path), os.path.realpath(path)]):
            problem, blocked = _reach(isolation, Path(route), repair_under)
            if problem:
                problems.append(problem)
            elif blocked:
                unveil[route] = None
    if problems:
        raise SandboxError(
            f"{what}: untrusted code runs as {isolation.user_name}, which cannot read {problems[0]}; "
            "the interpreters, the checkout and layer-ci's cache (LAYER_CI_CACHE) must be readable by "
            "others, "
            f"or name another user in {SANDBOX_USER_ENV}"
        )
    return tuple(unveil)


def under(path: Path, folder: str) -> bool:
    text = os.path.realpath(path)
    return text == folder or text.startswith(folder + "/")
