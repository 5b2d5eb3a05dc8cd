"""Run every benchmark in turn: ``python -m bench`` (quick settings) or ``python -m bench --full``.

Quick settings shrink each workload so the whole set finishes in minutes: a smoke test that every
benchmark still runs, not numbers to publish. ``--full`` runs each script with its own defaults (the
settings docs/benchmarks.md reports). Nothing here rewrites docs/benchmarks.md; run a script with
``--update-docs`` (where it has one) for that. Each script runs in its own process, from the project
root; the exit status is 1 when any of them failed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = BENCH_DIR.parent

# Script name (without bench_ and .py) -> arguments for a quick run.
QUICK_ARGS: dict[str, tuple[str, ...]] = {
    "assemble": ("--runs", "2", "--megabytes", "10"),
    "build": ("--rounds", "1"),  # installs aws-sam-cli from PyPI on first use
    "bump_api_calls": ("--max-functions", "2"),
    "config": ("--runs", "3", "--layers", "20", "--functions", "100"),
    "containment": ("--runs", "3", "--layers", "20", "--functions", "100"),
    "image_start": ("--rounds", "1"),  # skips itself unless `make image-check` built the image
    "native_scan": ("--runs", "2", "--files", "2000"),
    "pins_find": ("--files", "2000", "--rounds", "3"),
    "startup": ("--rounds", "1"),
    "plan": ("--runs", "3", "--layers", "20", "--functions", "50", "--files", "500"),
    "zip": ("--rounds", "1", "--megabytes", "20"),
}


def scripts() -> dict[str, Path]:
    """Every bench/bench_*.py by short name, in name order."""
    return {path.stem.removeprefix("bench_"): path for path in sorted(BENCH_DIR.glob("bench_*.py"))}


def main(argv: Sequence[str] | None = None) -> int:
    found = scripts()
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--full", action="store_true", help="each script's own defaults instead of quick settings"
    )
    parser.add_argument(
        "--only", nargs="+", choices=sorted(found), metavar="NAME", help=f"run only these: {', '.join(found)}"
    )
    parser.add_argument(
        "--skip", nargs="+", choices=sorted(found), default=[], metavar="NAME", help="leave these out"
    )
    args = parser.parse_args(argv)

    chosen = [name for name in (args.only or found) if name not in args.skip]
    results: list[tuple[str, int, float]] = []
    for name in chosen:
        extra = () if args.full else QUICK_ARGS.get(name, ())
        argv_run = [sys.executable, str(found[name]), *extra]
        print(f"\n=== {name}: {' '.join(argv_run[1:])}", flush=True)
        start = time.perf_counter()
        code = subprocess.run(argv_run, cwd=PROJECT_ROOT, check=False).returncode
        results.append((name, code, time.perf_counter() - start))

    print("\n=== summary")
    for name, code, seconds in results:
        print(f"{name:<16} {'ok' if code == 0 else f'FAILED (exit {code})':<16} {seconds:7.1f} s")
    return 0 if all(code == 0 for _, code, _ in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
