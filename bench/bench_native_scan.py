"""Benchmark: the build-time native-code scan of a staged layer, against a bare ``os.walk`` of it.

Run: ``.venv/bin/python bench/bench_native_scan.py [--runs 7] [--files 20000]``.
Generates a deterministic staged layer under /tmp/layer-ci-bench/native (pure-Python files in nested
packages, 1 in 100 a small ELF ``.so``), then alternates, round by round in one process:

- layer-ci: ``native_files`` + the rules (``require_loadable``), what every non-nodejs build now runs;
- baseline: ``os.walk`` over the same tree, touching nothing (the least any scan can cost).

Prints the medians and the median ratio (layer-ci / baseline).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from layer_ci.lambda_spec.native import require_loadable  # noqa: E402

ROOT = Path("/tmp/layer-ci-bench/native")
ELF_X86_64 = b"\x7fELF\x02\x01\x01" + b"\x00" * 9 + b"\x03\x00\x3e\x00" + b"\x00" * 44


def make_tree(files: int) -> Path:
    tree = ROOT / f"layer-{files}"
    if tree.is_dir():
        return tree
    shutil.rmtree(ROOT, ignore_errors=True)
    for index in range(files):
        package = tree / "python" / f"pkg{index % 50}" / f"sub{index % 7}"
        package.mkdir(parents=True, exist_ok=True)
        if index % 100 == 0:
            (package / f"_ext{index}.cpython-312-x86_64-linux-gnu.so").write_bytes(ELF_X86_64)
        else:
            (package / f"mod{index}.py").write_text(f"VALUE = {index}\n")
    return tree


def bare_walk(tree: Path) -> None:
    for _ in os.walk(tree):
        pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--files", type=int, default=20000)
    args = parser.parse_args()
    tree = make_tree(args.files)
    ours: list[float] = []
    base: list[float] = []
    for _ in range(args.runs):
        start = time.perf_counter()
        require_loadable(tree, "bench", ("x86_64",), ("python3.12",))
        ours.append(time.perf_counter() - start)
        start = time.perf_counter()
        bare_walk(tree)
        base.append(time.perf_counter() - start)
    ratios = [a / b for a, b in zip(ours, base, strict=True)]
    print(f"{args.files} files, {args.runs} rounds")
    print(f"layer-ci native scan  median {statistics.median(ours) * 1000:.0f} ms")
    print(f"baseline os.walk      median {statistics.median(base) * 1000:.0f} ms")
    print(f"median ratio          {statistics.median(ratios):.2f}x")


if __name__ == "__main__":
    main()
