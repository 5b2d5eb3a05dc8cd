"""The sandbox untrusted code runs in: the real /opt and /var/task where namespaces allow, the stand-in
(and a note saying so) where they do not, exit statuses and launch errors relayed, nothing left running."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from layer_ci.adapters import sandbox
from layer_ci.config.loader import load_config
from layer_ci.engine.invoke import invoke_function
from layer_ci.engine.prepare import EngineOptions
from layer_ci.engine.runner import run_function_tests
from tests.engine.engine_support import HOST_ARCH, HOST_RUNTIME, file, write_zip
from tests.support.users import free_id

NAMESPACES = sandbox.isolation("auto")
needs_namespaces = pytest.mark.skipif(
    not NAMESPACES.real_paths,
    reason="this machine allows no user or root namespaces (the fallback is tested)",
)

CONFIG = f"""
version: 1
layers:
  assets:
    source: layers/assets
    build: {{method: files}}
    compatible_runtimes: [{HOST_RUNTIME}]
    compatible_architectures: [{HOST_ARCH}]
functions:
  reader:
    source: functions/reader
    runtime: {HOST_RUNTIME}
    architecture: {HOST_ARCH}
    handler: app.handler
    layers: [assets]
    test: [python, -m, pytest, -q, -p, no:cacheprovider]
"""

READER = """\
import json, os, subprocess

def handler(event, context):
    with open("/opt/config.json") as handle:
        config = json.load(handle)
    tool = subprocess.run(["/opt/bin/tool"], capture_output=True, text=True, check=True).stdout.strip()
    return {"greeting": config["greeting"], "tool": tool, "cwd": os.getcwd(),
            "extensions": sorted(os.listdir("/opt/extensions"))}
"""

READER_TEST = """\
import contextlib
import json
import os
import app

def test_absolute_opt_paths():
    assert app.handler({}, None) == {"greeting": "hi", "tool": "tool ran", "cwd": "/var/task",
                                     "extensions": ["ext"]}

def test_opt_is_read_only():
    try:
        open("/opt/config.json", "w")
    except OSError as exc:
        assert exc.errno == 30, exc  # EROFS: a read-only file system, as in Lambda
    else:
        raise AssertionError("/opt was writable")

def test_lambda_paths_in_the_environment():
    assert os.environ["LAMBDA_TASK_ROOT"] == "/var/task"
    assert os.environ["PATH"].split(":")[-1] == "/opt/bin"
"""


@pytest.fixture
def reader(tmp_path: Path, shared_cache: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    (tmp_path / "layer-ci.yml").write_text(CONFIG)
    function = tmp_path / "functions" / "reader"
    (function / "tests").mkdir(parents=True)
    (function / "app.py").write_text(READER)
    (tmp_path / "layers" / "assets").mkdir(parents=True)
    (function / "tests" / "test_reader.py").write_text(READER_TEST)
    zip_path = write_zip(
        tmp_path / "assets.zip",
        [
            file("config.json", '{"greeting": "hi"}'),
            file("bin/tool", "#!/bin/sh\necho tool ran\n", mode=0o755),
            file("extensions/ext", "#!/bin/sh\n", mode=0o755),
        ],
    )
    monkeypatch.delenv(sandbox.REAL_OPT_ENV, raising=False)
    return tmp_path, zip_path


def _options(cache: Path) -> EngineOptions:
    return EngineOptions(cache_dir=cache, use_uv=False)


@needs_namespaces
def test_absolute_opt_paths_work_under_the_real_mount(reader: tuple[Path, Path], shared_cache: Path) -> None:
    repo, zip_path = reader
    config = load_config(repo / "layer-ci.yml")
    result = run_function_tests(config, "reader", {"assets": str(zip_path)}, options=_options(shared_cache))
    assert result.status == "passed", result.output_tail
    assert result.real_opt and result.junit is not None and result.junit.tests == 3
    assert not any(sandbox.EMULATED_NOTE in warning for warning in result.warnings)
    assert result.isolation.startswith("namespace")

    invoked = invoke_function(config, "reader", {}, {"assets": str(zip_path)}, options=_options(shared_cache))
    assert invoked.ok, invoked.logs
    assert invoked.document() == {
        "greeting": "hi",
        "tool": "tool ran",
        "cwd": "/var/task",
        "extensions": ["ext"],
    }


def test_the_fallback_says_absolute_opt_paths_are_not_served(
    reader: tuple[Path, Path], shared_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(sandbox.REAL_OPT_ENV, "off")
    repo, zip_path = reader
    config = load_config(repo / "layer-ci.yml")
    result = run_function_tests(config, "reader", {"assets": str(zip_path)}, options=_options(shared_cache))
    assert result.status == "failed"  # /opt/config.json is not there: the stand-in is elsewhere
    assert not result.real_opt
    notes = [warning for warning in result.warnings if sandbox.EMULATED_NOTE in warning]
    assert notes == [f"function reader: {sandbox.EMULATED_NOTE} ({sandbox.REAL_OPT_ENV}=off)"]


@needs_namespaces
def test_the_namespace_sees_only_its_own_processes(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with open(out, "wb") as sink:
        launched = sandbox.spawn(
            ["sh", "-c", "echo $$; ls /proc | grep -c '^[0-9]'"],
            isolation=NAMESPACES,
            env={"PATH": os.defpath},
            cwd=tmp_path,
            stdout=sink,
        )
        assert launched.process.wait(timeout=30) == 0
    assert launched.launch_error() is None
    pid, count = out.read_text().split()
    assert pid == "2" and int(count) <= 4  # PID 1 (the sandbox's init), sh, ls, grep


@needs_namespaces
def test_exit_statuses_and_signals_are_relayed(tmp_path: Path) -> None:
    for script, expected in (("exit 3", 3), ("kill -TERM $$", -15), ("true", 0)):
        launched = sandbox.spawn(
            ["sh", "-c", script], isolation=NAMESPACES, env={"PATH": os.defpath}, cwd=tmp_path
        )
        assert launched.process.wait(timeout=30) == expected, script
        assert launched.launch_error() is None


def test_a_missing_program_is_a_launch_error(tmp_path: Path) -> None:
    try:
        launched = sandbox.spawn(
            ["no-such-program-xyz"], isolation=NAMESPACES, env={"PATH": os.defpath}, cwd=tmp_path
        )
    except FileNotFoundError:
        assert NAMESPACES.mode != "namespace"  # started directly: Popen says so itself
        return
    launched.process.wait(timeout=30)
    assert launched.launch_error() == "could not start 'no-such-program-xyz': No such file or directory"


@needs_namespaces
def test_killing_the_sandbox_leaves_no_process_behind(code_writable: Path) -> None:
    tmp_path = code_writable
    marker = tmp_path / "alive"
    # A daemon that leaves the process group: only the PID namespace's end can reach it.
    script = f"setsid sh -c 'while true; do date > {marker}; sleep 0.1; done' & sleep 60"
    launched = sandbox.spawn(
        ["sh", "-c", script], isolation=NAMESPACES, env={"PATH": os.defpath}, cwd=tmp_path
    )
    deadline = time.monotonic() + 20
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.exists()
    os.killpg(launched.process.pid, 9)
    launched.process.wait(timeout=30)
    launched.close()
    time.sleep(0.5)
    before = marker.stat().st_mtime_ns
    time.sleep(0.5)
    assert marker.stat().st_mtime_ns == before, "the daemon outlived its sandbox"


def _inner_uid(isolation: sandbox.Isolation) -> int:
    """The uid the code sees: Lambda's 993 in a user namespace of root's sandbox user, that user in root's
    own namespaces, else this user's own."""
    if isolation.drop is None:
        return os.geteuid()
    return sandbox.LAMBDA_UID if isolation.userns else isolation.drop[0]


needs_lean = pytest.mark.skipif(
    NAMESPACES.mode != "namespace" or NAMESPACES.unshare is None,
    reason="no namespaces, or util-linux's unshare does not start code in them here",
)


def _util_linux_version() -> tuple[int, ...]:
    unshare = shutil.which("unshare")
    if unshare is None:
        return ()
    words = subprocess.run([unshare, "--version"], capture_output=True, text=True, check=False).stdout.split()
    return tuple(int(part) for part in words[-1].split(".")[:2]) if words else ()


@pytest.mark.skipif(
    NAMESPACES.mode != "namespace" or _util_linux_version() < (2, 38),
    reason="no namespaces here, or no util-linux 2.38+ (whose unshare the lean launcher is known to use)",
)
def test_the_probe_finds_the_lean_launcher_where_unshare_can_do_it() -> None:
    assert NAMESPACES.unshare == shutil.which("unshare")


def _lean(argv: list[str], cwd: Path, isolation: sandbox.Isolation = NAMESPACES) -> tuple[int, str]:
    launched = sandbox.spawn(
        argv, isolation=isolation, env={"PATH": os.defpath}, cwd=cwd, stdout=subprocess.PIPE, lean=True
    )
    out, _ = launched.process.communicate(timeout=30)
    assert launched.launch_error() is None
    return launched.process.returncode, out.decode()


@needs_lean
def test_the_lean_launcher_gives_the_same_namespaces(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAYER_CI_CANARY", "secret")  # in layer-ci's environment, never in the command's
    script = (
        "echo pid=$$; echo procs=$(ls -d /proc/[0-9]* | wc -l); echo uid=$(id -u); "
        "echo env=$(env | grep -c CANARY); pwd"
    )
    code, out = _lean(["sh", "-c", script], tmp_path)
    assert code == 0, out
    lines = out.split()
    expected_uid = str(_inner_uid(NAMESPACES))
    assert lines[:3] == ["pid=1", lines[1], f"uid={expected_uid}"]
    assert int(lines[1].removeprefix("procs=")) <= 4  # sh, the subshell, ls, wc: no process of the host
    assert lines[3:] == ["env=0", str(tmp_path)]


@needs_lean
def test_the_lean_launcher_relays_exit_statuses_and_fails_fast_on_missing_programs(
    code_writable: Path,
) -> None:
    tmp_path = code_writable
    assert _lean(["sh", "-c", "exit 3"], tmp_path)[0] == 3
    launched = sandbox.spawn(
        ["sleep", "30"], isolation=NAMESPACES, env={"PATH": os.defpath}, cwd=tmp_path, lean=True
    )
    os.killpg(launched.process.pid, 9)
    assert launched.process.wait(timeout=30) == -9
    with pytest.raises(FileNotFoundError):
        sandbox.spawn(
            ["no-such-program-xyz"], isolation=NAMESPACES, env={"PATH": os.defpath}, cwd=tmp_path, lean=True
        )
    script = tmp_path / "not-executable.sh"
    script.write_text("#!/bin/sh\necho ran\n")
    with pytest.raises(PermissionError):
        sandbox.spawn(
            ["./not-executable.sh"], isolation=NAMESPACES, env={"PATH": os.defpath}, cwd=tmp_path, lean=True
        )
    script.chmod(0o755)
    assert _lean(["./not-executable.sh"], tmp_path) == (0, "ran\n")


@needs_lean
def test_killing_a_lean_sandbox_leaves_no_process_behind(code_writable: Path) -> None:
    tmp_path = code_writable
    marker = tmp_path / "alive"
    script = f"setsid sh -c 'while true; do date > {marker}; sleep 0.1; done' & sleep 60"
    launched = sandbox.spawn(
        ["sh", "-c", script], isolation=NAMESPACES, env={"PATH": os.defpath}, cwd=tmp_path, lean=True
    )
    deadline = time.monotonic() + 20
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.exists()
    os.killpg(launched.process.pid, 9)
    launched.process.wait(timeout=30)
    time.sleep(0.5)
    before = marker.stat().st_mtime_ns
    time.sleep(0.5)
    assert marker.stat().st_mtime_ns == before, "the daemon outlived its sandbox"


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("setpriv") is None,
    reason="needs root, util-linux's unshare and setpriv",
)
def test_the_lean_launcher_hands_root_namespaces_to_the_unprivileged_user(open_dir: Path) -> None:
    uid, gid, name = sandbox.sandbox_user()
    isolation = sandbox.Isolation(
        "namespace",
        drop=(uid, gid),
        user_name=name,
        unshare=shutil.which("unshare"),
        setpriv=shutil.which("setpriv"),
    )
    code, out = _lean(
        ["sh", "-c", "echo $$ $(id -u) $(id -g) $(id -G); ls -d /proc/[0-9]* | wc -l"], open_dir, isolation
    )
    assert code == 0, out
    first, count = out.splitlines()
    assert first.split() == ["1", str(uid), str(gid), str(gid)]
    assert int(count) <= 4


def test_unknown_sandbox_setting_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(sandbox.SANDBOX_ENV, "chroot")
    with pytest.raises(Exception) as caught:
        sandbox.isolation()
    assert "LAYER_CI_SANDBOX='chroot': unknown sandbox mode; use auto, namespace, user or off" in str(
        caught.value
    )


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can hand code to another user")
def test_root_without_namespaces_runs_code_as_an_unprivileged_user(tmp_path: Path) -> None:
    isolation = sandbox.isolation("user")
    assert isolation.mode == "user" and isolation.drop is not None
    done = subprocess.run(["id", "-u"], capture_output=True, text=True, check=True, user=isolation.drop[0])
    launched = sandbox.spawn(
        ["id", "-u"], isolation=isolation, env={"PATH": os.defpath}, cwd=Path("/"), stdout=subprocess.PIPE
    )
    out, _ = launched.process.communicate(timeout=30)
    assert out.decode().strip() == done.stdout.strip() == str(isolation.drop[0])


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A folder every user may enter (pytest's own tmp_path sits under a 0700 folder of root's)."""
    folder = Path(tempfile.mkdtemp(prefix="layer-ci-open-"))
    os.chmod(folder, 0o755)  # noqa: S103
    yield folder
    shutil.rmtree(folder)


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can hand code to another user")
def test_unreadable_paths_are_named_and_the_cache_is_opened(open_dir: Path) -> None:
    isolation = sandbox.isolation("user")
    tmp_path = open_dir
    private = tmp_path / "private"
    (private / "cache" / "deep").mkdir(parents=True)
    os.chmod(private, 0o755)  # noqa: S103
    os.chmod(private / "cache", 0o700)
    os.chmod(private / "cache" / "deep", 0o700)
    assert sandbox.unreachable(isolation, [private / "cache" / "deep"], repair_under=private / "cache") == []
    assert (private / "cache" / "deep").stat().st_mode & 0o005 == 0o005
    secret = tmp_path / "secret"
    secret.mkdir(mode=0o700)
    problems = sandbox.unreachable(isolation, [secret / "x"])
    assert problems == [f"{secret / 'x'} (stopped at {secret}, mode 0700)"]


def test_a_tree_is_handed_over_bottom_up_without_following_links(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A folder handed over before its contents lets that user's running code swap an entry the walk has
    # yet to reach for a link to root's files: every folder must come after everything in it.
    outside = tmp_path / "outside"
    outside.mkdir()
    tree = tmp_path / "copy"
    (tree / "pkg" / "sub").mkdir(parents=True)
    (tree / "pkg" / "sub" / "module.py").write_text("x = 1\n")
    (tree / "setup.py").write_text("")
    (tree / "pkg" / "escape").symlink_to(outside)
    handed: list[str] = []

    def record(path: str, uid: int, gid: int, *, dir_fd: int | None = None, follow_symlinks: bool) -> None:
        assert not follow_symlinks and (uid, gid) == (4242, 4243)
        where = os.readlink(f"/proc/self/fd/{dir_fd}") if dir_fd is not None else ""
        handed.append(os.path.relpath(os.path.join(where, path), tree))

    monkeypatch.setattr(os, "chown", record)
    sandbox.give_tree(sandbox.Isolation("user", drop=(4242, 4243)), tree)
    assert sorted(handed) == sorted([".", "setup.py", "pkg", "pkg/sub", "pkg/sub/module.py", "pkg/escape"])
    for entry in handed:
        inside = [other for other in handed if other != entry and other.startswith(f"{entry}/")]
        later = [other for other in inside if handed.index(other) > handed.index(entry)]
        assert entry != "." or handed[-1] == ".", handed
        assert later == [], f"{entry} handed over before {later}"


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can hand files to another user")
def test_a_handed_tree_belongs_to_the_code_user_and_what_its_links_name_does_not(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("root's")
    tree = tmp_path / "copy"
    (tree / "pkg").mkdir(parents=True)
    (tree / "pkg" / "module.py").write_text("")
    (tree / "pkg" / "escape").symlink_to(outside)
    sandbox.give_tree(sandbox.Isolation("user", drop=(4242, 4243)), tree)
    for entry in [tree, tree / "pkg", tree / "pkg" / "module.py", tree / "pkg" / "escape"]:
        assert (entry.lstat().st_uid, entry.lstat().st_gid) == (4242, 4243), entry
    assert outside.stat().st_uid == 0 and (outside / "secret").stat().st_uid == 0


LINKED_CONFIG = f"""
version: 1
layers:
  assets:
    source: layers/assets
    build: {{method: files}}
    compatible_runtimes: [provided.al2023]
    compatible_architectures: [{HOST_ARCH}]
functions:
  reader:
    source: functions/reader
    runtime: provided.al2023
    architecture: {HOST_ARCH}
    handler: bootstrap
    layers: [assets]
    test: [sh, -c, "id -u; cat /opt/config.json; /opt/bin/tool; pwd; touch /opt/x && echo WROTE || true"]
"""


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None, reason="needs root and util-linux's unshare"
)
def test_root_in_its_own_container_links_opt_and_var_task(open_dir: Path) -> None:
    """The Action's case: root, no namespaces for the code, a container whose /opt is layer-ci's.

    The container is simulated by an overlay of this machine's root in a private mount namespace, with
    /opt emptied there: this machine's own /opt is never touched. layer-ci then runs as root in that
    root (chroot), the code as the unprivileged user, in no namespace of its own.
    """
    repo = open_dir
    (repo / "layer-ci.yml").write_text(LINKED_CONFIG)
    (repo / "layers" / "assets" / "bin").mkdir(parents=True)
    (repo / "layers" / "assets" / "config.json").write_text('{"greeting": "hi"}')
    tool = repo / "layers" / "assets" / "bin" / "tool"
    tool.write_text("#!/bin/sh\necho tool ran\n")
    (repo / "functions" / "reader").mkdir(parents=True)
    for path in repo.rglob("*"):
        os.chmod(path, 0o755 if path.is_dir() or path == tool else 0o644)
    env = {key: value for key, value in os.environ.items() if not key.startswith("LAYER_CI_")}
    env.update(
        {
            sandbox.SANDBOX_ENV: "user",
            sandbox.OWN_CONTAINER_ENV: "1",
            "LAYER_CI_CACHE": str(repo / "cache"),
        }
    )
    layers = repo / "container"
    layers.mkdir()
    inner = f"cd {repo} && exec {sys.executable} -m layer_ci test reader --layer assets=local -v"
    script = (
        f"mount -t tmpfs tmpfs {layers} && mkdir {layers}/upper {layers}/work {layers}/root && "
        f"mount -t overlay overlay -o lowerdir=/,upperdir={layers}/upper,workdir={layers}/work "
        f"{layers}/root && "
        f"for m in /proc /sys /dev; do mount --rbind $m {layers}/root$m; done && "
        # The image's interpreters are others' to run; on this machine they may sit in root's 0700 home.
        f"chmod o+x {layers}/root/root && "
        f"rm -rf {layers}/root/opt/* && exec chroot {layers}/root sh -c '{inner}'"
    )
    done = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    user = sandbox.sandbox_user()
    assert f"\n{user[0]}\n" in output
    assert '{"greeting": "hi"}' in output and "tool ran" in output
    assert "WROTE" not in output and "Permission denied" in output
    assert sandbox.EMULATED_NOTE not in output
    assert "/opt (read-only) and /var/task in place" in output
    assert not Path("/var/task").exists()  # nothing of it reached this machine


# ----------------------------------------------------------------------------------------------------
# The probe's answer, remembered for the boot


@pytest.fixture
def memo_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh user cache folder, and no answer remembered in this process before or after."""
    monkeypatch.setenv("LAYER_CI_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv(sandbox.MEMO_ENV, raising=False)
    sandbox._isolation.cache_clear()
    yield tmp_path / "cache" / sandbox.MEMO_FILE
    sandbox._isolation.cache_clear()


def _count_probes(monkeypatch: pytest.MonkeyPatch, answer: sandbox.Isolation | None = None) -> list[str]:
    calls: list[str] = []
    real = sandbox._probe

    def probe(wanted: str, user: str) -> sandbox.Isolation:
        calls.append(wanted)
        return answer if answer is not None else real(wanted, user)

    monkeypatch.setattr(sandbox, "_probe", probe)
    return calls


def test_the_probe_answer_is_remembered_in_the_user_cache(
    memo_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _count_probes(monkeypatch)
    first = sandbox.isolation("auto")
    assert calls == ["auto"]
    assert memo_home.stat().st_mode & 0o777 == 0o600
    sandbox._isolation.cache_clear()  # as a new process would start
    assert sandbox.isolation("auto") == first
    assert calls == ["auto"]  # answered from the memo
    sandbox._isolation.cache_clear()
    calls.clear()
    for wanted in ("namespace", "auto"):  # each mode remembers an answer of its own, beside the others
        with contextlib.suppress(sandbox.SandboxError):
            sandbox.isolation(wanted)
    assert calls == ["namespace"]
    assert sandbox._memo_key("auto", "") != sandbox._memo_key("namespace", "")
    assert sandbox._memo_key("auto", "") != sandbox._memo_key("auto", "nobody")


def _plant(memo_home: Path, isolation: object, *, key: str | None = None, mode: int = 0o600) -> None:
    memo_home.parent.mkdir(parents=True, exist_ok=True)
    document = {"format": sandbox.MEMO_FORMAT, "answers": {key or sandbox._memo_key("auto", ""): isolation}}
    memo_home.write_text(json.dumps(document))
    os.chmod(memo_home, mode)


PLANTED = {
    "mode": "none",
    "userns": False,
    "drop": None,
    "user_name": None,
    "real_paths": False,
    "reason": "x",
}


def test_a_planted_or_stale_memo_is_not_believed(memo_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    probed = sandbox.Isolation("none", reason="probed")
    calls = _count_probes(monkeypatch, probed)
    _plant(memo_home, PLANTED)
    assert sandbox.isolation("auto").reason == "x"  # the control: a memo of ours with the right key is used
    variants: list[tuple[object, str | None, int]] = [
        (PLANTED, "0" * 64, 0o600),  # another boot, user, namespace, kernel setting or layer-ci version
        (PLANTED, None, 0o666),  # others may write it
        ({**PLANTED, "mode": "user"}, None, 0o600),  # "user" without a user to hand the code to
        ({**PLANTED, "drop": [0, 0]}, None, 0o600),
        ("none", None, 0o600),
    ]
    for isolation, key, mode in variants:
        sandbox._isolation.cache_clear()
        memo_home.unlink(missing_ok=True)
        _plant(memo_home, isolation, key=key, mode=mode)
        assert sandbox.isolation("auto") == probed, (isolation, key, mode)
    sandbox._isolation.cache_clear()
    memo_home.unlink()
    elsewhere = memo_home.with_name("elsewhere.json")
    _plant(elsewhere, PLANTED)
    memo_home.symlink_to(elsewhere)  # a link is not followed
    assert sandbox.isolation("auto") == probed
    assert len(calls) == 6


def test_memo_off_probes_afresh_and_keeps_no_memo(memo_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _count_probes(monkeypatch, sandbox.Isolation("none", reason="probed"))
    monkeypatch.setenv(sandbox.MEMO_ENV, "off")
    assert sandbox.isolation("auto").reason == "probed"
    assert not memo_home.exists()
    _plant(memo_home, PLANTED)
    sandbox._isolation.cache_clear()
    assert sandbox.isolation("auto").reason == "probed"
    assert calls == ["auto", "auto"]


@needs_namespaces
def test_a_sandbox_that_cannot_be_set_up_forgets_the_memo(memo_home: Path, tmp_path: Path) -> None:
    found = sandbox.isolation("auto")
    assert memo_home.exists()
    launched = sandbox.spawn(
        ["true"],
        isolation=found,
        env={"PATH": os.defpath},
        cwd=tmp_path,
        mounts=sandbox.Mounts(opt=tmp_path / "missing", task=tmp_path, cwd="/var/task"),
    )
    assert launched.process.wait(timeout=30) == 125
    assert (launched.launch_error() or "").startswith("could not set up the sandbox")
    assert not memo_home.exists()


def test_a_lean_launcher_that_fails_itself_forgets_the_memo(memo_home: Path, tmp_path: Path) -> None:
    from layer_ci.build.command import run_untrusted

    # A stand-in for util-linux's unshare: runs the command after "--", or, once the machine changed
    # since the probe (the marker), fails the way unshare words it.
    marker = tmp_path / "changed"
    fake = tmp_path / "unshare"
    fake.write_text(
        "#!/bin/sh\n"
        f"if [ -e {marker} ]; then echo 'unshare: unshare failed: Operation not permitted' >&2; exit 1; fi\n"
        'while [ "$1" != "--" ]; do shift; done; shift; exec "$@"\n'
    )
    fake.chmod(0o755)
    isolation = sandbox.Isolation("namespace", userns=True, unshare=str(fake))
    failing = ["sh", "-c", "echo 'the command failed'; exit 1"]
    for changed in (False, True):
        if changed:
            marker.touch()
        _plant(memo_home, PLANTED)
        done = run_untrusted(
            failing, cwd=tmp_path, env={"PATH": os.defpath}, timeout_s=30, what="x", isolation=isolation
        )
        assert done.returncode == 1
        assert done.stdout.startswith("unshare: " if changed else "the command failed"), done.stdout
        assert memo_home.exists() is not changed  # only unshare's own failure drops the memo


# ----------------------------------------------------------------------------------------------------
# Root's sandbox: the code is an unprivileged user outside as well as inside

needs_root_namespaces = pytest.mark.skipif(
    os.geteuid() != 0 or NAMESPACES.mode != "namespace",
    reason="needs root, and namespaces root may use",
)


def _run(argv: list[str], cwd: Path, *, unveil: tuple[str, ...] = (), lean: bool = False) -> tuple[int, str]:
    launched = sandbox.spawn(
        argv,
        isolation=NAMESPACES,
        env={"PATH": os.defpath},
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        unveil=unveil,
        lean=lean,
    )
    out, _ = launched.process.communicate(timeout=60)
    assert launched.launch_error() is None
    return launched.process.returncode, out.decode()


@needs_root_namespaces
@pytest.mark.parametrize("lean", [False, True])
def test_roots_code_can_neither_read_roots_secrets_nor_write_its_files(open_dir: Path, lean: bool) -> None:
    # Before, a user namespace mapped the code's uid 993 to root outside: it read 0600 files of root's,
    # wrote the checkout's .git/config and could poison layer-ci's cache.
    secret = open_dir / "secret"
    secret.write_text("root's key")
    secret.chmod(0o600)
    owned = open_dir / "config"
    owned.write_text("[core]\n")
    owned.chmod(0o644)
    script = "cat secret; echo >> config; echo x > planted; grep NoNewPrivs /proc/self/status; id -u"
    _, out = _run(["sh", "-c", script], open_dir, lean=lean)
    assert "root's key" not in out and out.count("Permission denied") == 3, out
    assert owned.read_text() == "[core]\n" and not (open_dir / "planted").exists()
    assert "NoNewPrivs:\t1" in out
    assert out.split()[-1] == str(_inner_uid(NAMESPACES)) != "0"


@needs_root_namespaces
def test_a_closed_folder_on_the_way_is_opened_to_the_code_for_just_what_it_needs(open_dir: Path) -> None:
    # Root's interpreter or cache in its 0700 home: the code reaches what it must run, nothing beside it.
    private = open_dir / "home"
    (private / "tools").mkdir(parents=True)
    (private / "notes.txt").write_text("private notes")
    tool = private / "tools" / "tool"
    tool.write_text("#!/bin/sh\necho tool ran\n")
    tool.chmod(0o755)
    (private / "tools" / "data").write_text("beside the tool, in an open folder\n")
    private.chmod(0o700)
    closed = open_dir / "secret"
    closed.write_text("x")
    closed.chmod(0o600)
    with pytest.raises(sandbox.SandboxError, match=r"cannot read .*secret \(stopped at .*, mode 0600\)"):
        sandbox.require_reachable(NAMESPACES, [closed], "check")  # a closed file itself cannot be opened
    unveil = sandbox.require_reachable(NAMESPACES, [tool], "check")
    assert unveil == (str(tool),)
    code, out = _run(
        ["sh", "-c", f"{tool}; ls -A {private}; cat {private}/tools/data; cat {private}/notes.txt"],
        open_dir,
        unveil=unveil,
    )
    assert code != 0 and out.splitlines()[:3] == ["tool ran", "tools", "beside the tool, in an open folder"]
    assert "private notes" not in out
    assert stat.S_IMODE(private.stat().st_mode) == 0o700  # nothing changed outside the namespace
    code, out = _run(["sh", "-c", f"{tool}"], open_dir)
    assert code != 0 and "tool ran" not in out, "without unveil, the closed folder stays closed"


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None or not NAMESPACES.real_paths,
    reason="needs root, setpriv and namespaces",
)
def test_root_without_cap_sys_admin_hands_the_user_namespace_to_the_unprivileged_user(open_dir: Path) -> None:
    # Root that may not make namespaces of its own, but may make user namespaces: the unprivileged user
    # makes it, so the code's uid 993 maps to that user outside, never to root.
    secret = open_dir / "secret"
    secret.write_text("root's key")
    secret.chmod(0o600)
    probe = (
        "import os, subprocess, sys\n"
        "from pathlib import Path\n"
        "from layer_ci.adapters import sandbox\n"
        "found = sandbox.isolation()\n"
        "print(found.mode, found.userns, found.user_name)\n"
        "for lean in (False, True):\n"
        "    launched = sandbox.spawn(\n"
        "        ['sh', '-c', 'id -u; cat secret'], isolation=found, env={'PATH': os.defpath},\n"
        "        cwd=Path(sys.argv[1]), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, lean=lean,\n"
        "    )\n"
        "    print(launched.process.communicate()[0].decode().strip().replace(chr(10), ' | '))\n"
    )
    env = {**os.environ, sandbox.MEMO_ENV: "off"}
    done = subprocess.run(
        ["setpriv", "--inh-caps=-sys_admin", "--bounding-set=-sys_admin",
         sys.executable, "-c", probe, str(open_dir)],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"namespace True {sandbox.sandbox_user()[2]}"
    for line in lines[1:]:
        assert line.startswith(f"{sandbox.LAMBDA_UID} | ") and "Permission denied" in line, line
    assert "root's key" not in done.stdout


def test_the_lasting_cache_has_a_user_of_its_own_or_none(monkeypatch: pytest.MonkeyPatch) -> None:
    import pwd

    code = sandbox.Isolation("user", drop=(65534, 65534), user_name="nobody")
    monkeypatch.setattr(sandbox, "DEFAULT_CACHE_USER", "no-such-user-for-layer-ci")
    monkeypatch.delenv(sandbox.CACHE_USER_ENV, raising=False)
    assert sandbox.cache_keeper(code) is None  # no third user: no lasting cache at all
    assert sandbox.cache_keeper(sandbox.Isolation("namespace", userns=True)) is None  # not root: n/a
    free = free_id()
    monkeypatch.setenv(sandbox.CACHE_USER_ENV, str(free))  # a uid need not be in /etc/passwd
    assert sandbox.cache_keeper(code) == sandbox.Isolation("user", drop=(free, free), user_name=f"uid {free}")
    daemon = pwd.getpwnam("daemon")
    monkeypatch.setenv(sandbox.CACHE_USER_ENV, "daemon")
    keeper = sandbox.cache_keeper(code)
    assert keeper is not None and keeper.drop == (daemon.pw_uid, daemon.pw_gid)
    assert keeper.mode == "user" and keeper.user_name == "daemon"


@pytest.mark.parametrize(
    ("wanted", "message"),
    [
        (
            "no-such-user-for-layer-ci",
            "LAYER_CI_CACHE_USER=no-such-user-for-layer-ci: no such user; create it",
        ),
        ("²", "LAYER_CI_CACHE_USER=²: no such user; create it"),
        (
            "nobody",
            "LAYER_CI_CACHE_USER: nobody (uid 65534, gid 65534) must be a user and group of its own",
        ),
        ("0", "LAYER_CI_CACHE_USER=0: uid 0, gid 0: give a user whose uid and gid lie between 1 and"),
        ("root", "LAYER_CI_CACHE_USER=root: uid 0, gid 0: give a user whose uid and gid lie between 1"),
        # (uid_t)-1: setreuid and setpriv --reuid leave the process root.
        ("4294967295", "LAYER_CI_CACHE_USER=4294967295: uid 4294967295, gid 4294967295: give a user"),
    ],
)
def test_a_cache_user_shared_with_code_or_root_is_refused(
    monkeypatch: pytest.MonkeyPatch, wanted: str, message: str
) -> None:
    code = sandbox.Isolation("user", drop=(65534, 65534), user_name="nobody")
    monkeypatch.setenv(sandbox.CACHE_USER_ENV, wanted)
    with pytest.raises(sandbox.SandboxError) as raised:
        sandbox.cache_keeper(code)
    assert str(raised.value).startswith(message), str(raised.value)
    assert "\n" not in str(raised.value)


def test_a_link_in_place_of_a_users_own_folder_is_refused_not_followed(tmp_path: Path) -> None:
    # Where a cache_dir's parent is writable by others, `uv-uid<N>` planted as a link to /etc would have
    # had root chown whatever it points to.
    target = tmp_path / "elsewhere"
    target.mkdir()
    code = sandbox.Isolation("user", drop=(65534, 65534), user_name="nobody")
    (tmp_path / "uv-uid65534").symlink_to(target)
    with pytest.raises(sandbox.SandboxError, match=r"uv-uid65534 is not a folder \(a link\?\); delete it"):
        sandbox.owned_folder(code, tmp_path / "uv")
    assert target.stat().st_uid == os.geteuid()
