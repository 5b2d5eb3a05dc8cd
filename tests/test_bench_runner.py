"""`python -m bench` (what `make bench` runs): every benchmark script is known and has quick settings."""

from __future__ import annotations

import subprocess
import sys

from bench.__main__ import PROJECT_ROOT, QUICK_ARGS, scripts


def test_every_bench_script_has_quick_settings() -> None:
    found = scripts()
    assert set(found) == set(QUICK_ARGS)
    assert {"plan", "zip", "build", "config"} <= set(found)


def test_python_dash_m_bench_runs_and_lists_every_script() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "bench", "--help"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    for name in scripts():
        assert name in completed.stdout


def test_quick_settings_are_options_each_script_accepts() -> None:
    for name, path in scripts().items():
        completed = subprocess.run(
            [sys.executable, str(path), "--help"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        for option in QUICK_ARGS[name][::2]:
            assert option in completed.stdout, (name, option)
