"""Untrusted code cannot read layer-ci's secrets: not from its own environment, not from any process's
/proc/<pid>/environ (the attack: a `command` build copied them from an ancestor into a published zip).

Each attack runs the real CLI as a subprocess whose initial environment holds a canary, the way the
Action's process holds its tokens; the untrusted code scans every /proc/*/environ it can open and its
own environment. The controls run the same attack with the sandbox off and find the canary, so the scan
is known to work.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from layer_ci.adapters import sandbox
from tests.engine.engine_support import HOST_ARCH, HOST_RUNTIME

# Built from two halves so that this file's text (in a process's argv) is not itself a match.
CANARY = "PLANTED-" + "canary-0xC0FFEE-secret"
HALF_A, HALF_B = CANARY[:8], CANARY[8:]

SCAN_SH = f"""\
found=0; scanned=0
for f in /proc/[0-9]*/environ; do
  if [ -r "$f" ] && cat "$f" >/dev/null 2>&1; then
    scanned=$((scanned+1))
    if tr '\\0' '\\n' < "$f" | grep -q "{HALF_A}""{HALF_B}"; then echo "FOUND $f"; found=1; fi
  fi
done
if env | grep -q "{HALF_A}""{HALF_B}"; then echo "FOUND own environment"; fi
echo "SCANNED $scanned"
"""

SCAN_PY = f"""\
import os

def scan():
    canary = "{HALF_A}" + "{HALF_B}"
    found, scanned = [], 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{{pid}}/environ", "rb") as handle:
                data = handle.read()
        except OSError:
            continue
        scanned += 1
        if canary.encode() in data:
            found.append(pid)
    if any(canary in value for value in os.environ.values()):
        found.append("own environment")
    return {{"found": found, "scanned": scanned}}
"""


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A repository every user may read (the unprivileged sandbox user must reach the function)."""
    folder = Path(tempfile.mkdtemp(prefix="layer-ci-isolation-"))
    os.chmod(folder, 0o755)  # noqa: S103
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _repo(root: Path, *, runtime: str, test: str, layer_build: str = "{method: files}") -> Path:
    (root / "layer-ci.yml").write_text(
        f"""
version: 1
layers:
  tools:
    source: layers/tools
    build: {layer_build}
    compatible_runtimes: [{runtime}]
    compatible_architectures: [{HOST_ARCH}]
functions:
  probe:
    source: functions/probe
    runtime: {runtime}
    architecture: {HOST_ARCH}
    handler: app.handler
    layers: [tools]
    test: {test}
"""
    )
    (root / "layers" / "tools" / "bin").mkdir(parents=True)
    (root / "layers" / "tools" / "bin" / "tool").write_text("#!/bin/sh\necho tool\n")
    (root / "layers" / "tools" / "scan.sh").write_text(SCAN_SH)
    function = root / "functions" / "probe"
    function.mkdir(parents=True)
    (function / "scan.sh").write_text(SCAN_SH)
    (function / "scan.py").write_text(SCAN_PY)
    (function / "app.py").write_text("import scan\n\ndef handler(event, context):\n    return scan.scan()\n")
    for path in root.rglob("*"):
        os.chmod(path, 0o755 if path.is_dir() or path.name == "tool" else 0o644)
    return root


def _cli(
    repo: Path, *args: str, mode: str | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("LAYER_CI_")}
    env["LAYER_CI_DEPLOY_TOKEN"] = CANARY  # in the CLI process's initial environment, like the Action's token
    env["LAYER_CI_CACHE"] = str(repo / "cache")
    if mode is not None:
        env[sandbox.SANDBOX_ENV] = mode
    return subprocess.run(
        [sys.executable, "-m", "layer_ci", *args],
        cwd=repo,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _modes() -> list[str]:
    modes = ["auto"]
    if os.geteuid() == 0:
        modes.append("user")  # the Action's case: root in a container without namespaces
    return modes


@pytest.mark.parametrize("mode", _modes())
def test_a_function_test_finds_no_secret_in_any_environ(open_dir: Path, mode: str) -> None:
    repo = _repo(open_dir, runtime="provided.al2023", test="[sh, scan.sh]")
    done = _cli(repo, "test", "probe", "--layer", "tools=local", "-v", mode=mode)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "SCANNED " in output, output
    assert "FOUND" not in output, output


def test_control_without_the_sandbox_the_function_test_finds_it(open_dir: Path) -> None:
    repo = _repo(open_dir, runtime="provided.al2023", test="[sh, scan.sh]")
    done = _cli(repo, "test", "probe", "--layer", "tools=local", "-v", mode="off")
    assert "FOUND /proc/" in done.stderr, done.stdout + done.stderr


def test_an_invoked_handler_finds_no_secret(open_dir: Path) -> None:
    repo = _repo(open_dir, runtime=HOST_RUNTIME, test="[python, -c, pass]")
    done = _cli(repo, "invoke", "probe", "--layer", "tools=local")
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout)
    assert result["scanned"] >= 1 and result["found"] == [], result


@pytest.mark.parametrize("mode", [*_modes(), "off"])
def test_a_command_build_cannot_put_a_secret_into_the_zip(open_dir: Path, mode: str) -> None:
    repo = _repo(
        open_dir,
        runtime="provided.al2023",
        test="[sh, scan.sh]",
        layer_build=(
            "{method: command, command: [sh, -c, "
            '"sh scan.sh > $LAYER_CI_OUT/scan.txt; cp -r bin $LAYER_CI_OUT/"]}'
        ),
    )
    done = _cli(repo, "build", "tools", "--out", str(repo / "out"), mode=mode)
    assert done.returncode == 0, done.stdout + done.stderr
    with zipfile.ZipFile(repo / "out" / "tools.zip") as archive:
        report = archive.read("scan.txt").decode()
    assert "SCANNED " in report
    if mode == "off":  # the control: unsandboxed, the build reads the CLI's environ (the reported attack)
        assert "FOUND /proc/" in report, report
    else:
        assert "FOUND" not in report, report


SETUP_PY = f"""\
import os
from setuptools import setup

canary = "{HALF_A}" + "{HALF_B}"
found, scanned = [], 0
for pid in os.listdir("/proc"):
    if pid.isdigit():
        try:
            with open(f"/proc/{{pid}}/environ", "rb") as handle:
                data = handle.read()
        except OSError:
            continue
        scanned += 1
        if canary.encode() in data:
            found.append(pid)
if any(canary in value for value in os.environ.values()):
    found.append("own environment")
os.makedirs("sneaky", exist_ok=True)
with open(os.path.join("sneaky", "__init__.py"), "w") as handle:
    handle.write(f"FOUND = {{found!r}}\\nSCANNED = {{scanned}}\\n")
setup(name="sneaky", version="1.0", packages=["sneaky"])
"""


@pytest.mark.network  # setuptools, the sdist's build backend, comes from PyPI
def test_an_sdist_setup_py_finds_no_secret(open_dir: Path) -> None:
    repo = _repo(
        open_dir,
        runtime=HOST_RUNTIME,
        test="[python, -c, pass]",
        layer_build="{method: python, requirements: requirements.txt, binary_only: false}",
    )
    # An sdist, as an index serves it: the installer unpacks and builds it in a folder of its own (a source
    # folder in the checkout would be built in place, which code handed to another user may not write).
    with tarfile.open(repo / "layers" / "tools" / "sneaky-1.0.tar.gz", "w:gz") as sdist:
        for name, text in (
            ("setup.py", SETUP_PY),
            ("PKG-INFO", "Metadata-Version: 2.1\nName: sneaky\nVersion: 1.0\n"),
        ):
            data = text.encode()
            info = tarfile.TarInfo(f"sneaky-1.0/{name}")
            info.size, info.mode = len(data), 0o644
            sdist.addfile(info, io.BytesIO(data))
    (repo / "layers" / "tools" / "sneaky-1.0.tar.gz").chmod(0o644)
    (repo / "layers" / "tools" / "requirements.txt").write_text("sneaky @ ./sneaky-1.0.tar.gz\n")
    done = _cli(repo, "build", "tools", "--out", str(repo / "out"), "--cache-dir", str(repo / "cache"))
    assert done.returncode == 0, done.stdout + done.stderr
    with zipfile.ZipFile(repo / "out" / "tools.zip") as archive:
        names = [name for name in archive.namelist() if name.endswith("sneaky/__init__.py")]
        report = archive.read(names[0]).decode()
    assert "SCANNED = " in report and "SCANNED = 0" not in report, report
    assert "FOUND = []" in report, report


ENTRYPOINT_PROBE = """\
import json, os, subprocess, sys
sys.path.insert(0, sys.argv[1])
import entrypoint
entrypoint.hide_environment()
with open("/proc/self/environ", "rb") as handle:
    initial = handle.read().decode()
child = subprocess.run([sys.executable, "-c", "import os; print(os.environ.get('LAYER_CI_DEPLOY_TOKEN'))"],
                       capture_output=True, text=True, check=True).stdout.strip()
print(json.dumps({"pid": os.getpid(), "restored": os.environ.get("LAYER_CI_DEPLOY_TOKEN"),
                  "in_initial": "LAYER_CI_DEPLOY_TOKEN" in initial, "child": child,
                  "fd_left": entrypoint.ENVIRONMENT_FD in os.environ}))
"""


def test_the_entry_point_keeps_secrets_out_of_its_initial_environment(tmp_path: Path) -> None:
    """The Action's process re-executes itself: /proc/<pid>/environ no longer holds the token, while
    layer-ci itself (and the trusted tools it starts with os.environ) still has it."""
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "LAYER_CI_DEPLOY_TOKEN": CANARY}
    done = subprocess.run(
        [sys.executable, "-c", ENTRYPOINT_PROBE, str(root)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    facts = json.loads(done.stdout)
    assert facts == {
        "pid": facts["pid"],
        "restored": CANARY,
        "in_initial": False,
        "child": CANARY,
        "fd_left": False,
    }
