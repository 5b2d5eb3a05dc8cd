"""Benchmark: finding pins over a 20,000-file repository, against naive and grep baselines.

Run: .venv/bin/python bench/bench_pins_find.py [--files 20000] [--rounds 7]
Variants run interleaved in the same process, each round on the same warm tree; medians are reported.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from layer_ci.pins import find_pins
from layer_ci.pins.arn import LAYER_VERSION_ARN_RE
from layer_ci.pins.find import SKIP_DIRS

WORDS = ("def", "class", "import", "return", "layer", "version", "region", "1", "42", ":", "-", "{")


def make_repo(root: Path, files: int, seed: int = 7) -> int:
    """A tree of small text files, 1% holding ARNs, some binaries and a node_modules to skip."""
    rng = random.Random(seed)
    arns = 0
    for index in range(files):
        folder = root / f"pkg{index % 50}" / f"mod{index % 7}"
        if index % 25 == 0:
            folder = root / "node_modules" / f"dep{index % 40}"
        folder.mkdir(parents=True, exist_ok=True)
        if index % 97 == 0:
            (folder / f"blob{index}.bin").write_bytes(bytes(rng.randrange(256) for _ in range(2048)))
            continue
        lines = [" ".join(rng.choice(WORDS) for _ in range(12)) for _ in range(40)]
        if index % 100 == 1:
            arn = f"arn:aws:lambda:us-east-1:123456789012:layer:common-deps:{index}"
            for _ in range(3):
                lines[rng.randrange(40)] += " " + arn
            arns += 3
        (folder / f"file{index}.py").write_text("\n".join(lines) + "\n")
    return arns


def naive_find(root: Path) -> int:
    """Same walk, but decode and regex-scan every file (no `:layer:` pre-filter)."""
    found = 0
    for directory, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS]
        for name in names:
            data = Path(directory, name).read_bytes()
            if b"\0" in data[:8192]:
                continue
            found += sum(1 for _ in LAYER_VERSION_ARN_RE.finditer(data.decode("utf-8", "surrogateescape")))
    return found


def grep_find(root: Path) -> int:
    """`grep -rIoE` with the same skips: a floor for reading every file once."""
    excludes = [f"--exclude-dir={name}" for name in sorted(SKIP_DIRS)]
    pattern = r"arn:aws:lambda:[a-z0-9-]+:[0-9]{12}:layer:[A-Za-z0-9_-]+:[0-9]+"
    completed = subprocess.run(
        ["grep", "-rIoE", *excludes, pattern, str(root)], capture_output=True, text=True, check=False
    )
    return len(completed.stdout.splitlines())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="layer-ci-bench-pins-"))
    try:
        expected = make_repo(workdir, args.files)
        variants: dict[str, Callable[[], int]] = {
            "find_pins": lambda: len(find_pins(workdir)),
            "naive (decode+regex every file)": lambda: naive_find(workdir),
            "grep -rIoE": lambda: grep_find(workdir),
        }
        timings: dict[str, list[float]] = {name: [] for name in variants}
        for name, run in variants.items():  # warm the page cache and check every variant agrees
            assert run() == expected, name
        for _ in range(args.rounds):
            for name, run in variants.items():
                start = time.perf_counter()
                run()
                timings[name].append(time.perf_counter() - start)
        base = statistics.median(timings["find_pins"])
        print(
            f"{args.files} files, {expected} ARNs, {args.rounds} rounds (median seconds, ratio to find_pins)"
        )
        for name, values in timings.items():
            median = statistics.median(values)
            print(f"  {name:34s} {median:7.3f} s   x{median / base:5.2f}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
