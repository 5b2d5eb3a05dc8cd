"""Tests for running untrusted build code: output kept, timeouts from its start, nothing left running."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from layer_ci.adapters import sandbox
from layer_ci.build.command import run_untrusted
from layer_ci.errors import BuildError


def wait_for(path: Path, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.exists():
            return True
        time.sleep(0.02)
    return False


def run_python(
    script: str, folder: Path, *, what: str, timeout_s: float = 60, **options: Any
) -> subprocess.CompletedProcess[str]:
    """``script`` run by this interpreter as untrusted code, in ``folder`` (handed to the code's user, as
    a build's output folder is), with only PATH set."""
    isolation = sandbox.isolation()
    sandbox.give_to(isolation, [folder])
    unveil = sandbox.require_reachable(isolation, [folder, Path(sys.executable)], what)
    return run_untrusted(
        [sys.executable, "-c", script],
        cwd=folder,
        env={"PATH": os.environ["PATH"]},
        timeout_s=timeout_s,
        what=what,
        unveil=unveil,
        **options,
    )


def test_the_code_keeps_running_and_writing_while_layer_ci_works_meanwhile(tmp_path: Path) -> None:
    # 256 KiB of output fills a pipe four times over: with a pipe nobody read during while_waiting, the
    # code would stall before writing its marker.
    script = (
        "import pathlib, sys\n"
        "sys.stdout.write('x' * 262144 + '\\n')\n"
        "sys.stdout.flush()\n"
        "pathlib.Path('marker').write_text('done')\n"
        "print('the end')\n"
    )
    seen: list[bool] = []
    completed = run_python(
        script,
        tmp_path,
        timeout_s=60,
        what="noisy build",
        while_waiting=lambda: seen.append(wait_for(tmp_path / "marker", 10)),
    )
    assert seen == [True]
    assert completed.returncode == 0
    assert completed.stdout.endswith("the end\n")
    assert len(completed.stdout) > 262144


def test_the_timeout_counts_from_the_start_not_from_the_end_of_the_work_meanwhile(tmp_path: Path) -> None:
    started = time.monotonic()
    with pytest.raises(BuildError, match=r"slow build: timed out after 1 s"):
        run_python(
            "print('working', flush=True); import time; time.sleep(30)",
            tmp_path,
            timeout_s=1,
            what="slow build",
            while_waiting=lambda: time.sleep(1.5),
        )
    assert time.monotonic() - started < 2.3


def test_a_failure_meanwhile_stops_the_code_and_leaves_no_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Unsandboxed, so the pid the code writes is one this test can look up.
    monkeypatch.setenv("LAYER_CI_SANDBOX", "off")
    script = "import os, pathlib, time\npathlib.Path('pid').write_text(str(os.getpid()))\ntime.sleep(30)\n"

    def fail() -> None:
        assert wait_for(tmp_path / "pid", 10)
        raise BuildError("the input key could not be worked out")

    started = time.monotonic()
    with pytest.raises(BuildError, match="input key"):
        run_python(
            script,
            tmp_path,
            timeout_s=60,
            what="build",
            while_waiting=fail,
        )
    assert time.monotonic() - started < 10
    with pytest.raises(ProcessLookupError):  # killed and reaped: not even a zombie is left
        os.kill(int((tmp_path / "pid").read_text()), 0)


def test_only_the_end_of_a_flood_of_output_is_kept(tmp_path: Path) -> None:
    from layer_ci.build.command import OUTPUT_KEPT

    script = (
        "import sys\n"
        "for _ in range(48):\n"
        "    sys.stdout.write('y' * 65535 + '\\n')\n"
        "print('error: the last word')\n"
    )
    completed = run_python(
        script,
        tmp_path,
        timeout_s=60,
        what="flood",
    )
    assert len(completed.stdout) == OUTPUT_KEPT < 48 * 65536
    assert completed.stdout.endswith("error: the last word\n")
