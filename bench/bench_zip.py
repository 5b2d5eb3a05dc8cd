"""Benchmark: layer-ci's deterministic zip writer against ``zip -rX`` at the same level on a ~200 MB tree.

Run: ``.venv/bin/python bench/bench_zip.py [--rounds 5] [--megabytes 200]``. Prints a markdown table; each
round times both tools back to back (alternating which goes first) in fresh processes, and the ratio is
write_zip / zip. Peak memory is the write_zip process's max RSS (os.wait4 rusage of that child).

Then the same number of rebuilds: one source file of the tree changes, and each tool rewrites its archive
from the last one: write_zip over its zip (taking unchanged blocks' deflate output from it, see
build/deflate_reuse.py) against ``zip -rXu``, Info-ZIP's own update of an existing archive. The tree is
restored afterwards.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

WORK = Path("/tmp/layer-ci-bench/zip")
LEVEL = 6
TREE_VERSION = 2  # bump when the generator changes, so an old tree on disk is not reused
WORDS = [
    *("def", "return", "import", "class", "self", "value", "layer", "lambda", "python", "package"),
    *("version", "build", "zip", "manifest", "for", "in", "if", "else", "elif", "while", "try"),
    *("except", "finally", "with", "as", "from", "None", "True", "False", "raise", "yield", "async"),
    *("await", "request", "response", "handler", "event", "context", "region", "account", "arn"),
    *("publish", "deploy", "function", "runtime"),
]
CHILD = (
    "import sys, time; from pathlib import Path; from layer_ci.build.zipper import write_zip; "
    "start = time.perf_counter(); "
    "write_zip(Path(sys.argv[1]), Path(sys.argv[2]), compresslevel=int(sys.argv[3])); "
    "print(time.perf_counter() - start)"
)


def generate_tree(root: Path, megabytes: int, seed: int = 20240601) -> tuple[int, int]:
    """A layer-like tree: many small compressible text files plus fewer large random (already packed) ones."""
    marker = root / ".complete"
    if marker.exists() and marker.read_text() == f"{megabytes}:{seed}:{TREE_VERSION}":
        return _count(root)
    shutil.rmtree(root, ignore_errors=True)
    rng = random.Random(seed)
    target = megabytes * 1024 * 1024
    written = 0
    index = 0
    while written < target:
        package = root / "python" / f"pkg{index % 97:02d}" / f"sub{index % 13}"
        package.mkdir(parents=True, exist_ok=True)
        if rng.random() < 0.85:  # source-like text: compresses ~4-6x
            size = int(rng.lognormvariate(9, 1.2))
            lines = []
            length = 0
            while length < size:
                line = "    " * rng.randrange(4) + " ".join(rng.choices(WORDS, k=rng.randrange(3, 12))) + "\n"
                lines.append(line)
                length += len(line)
            data = "".join(lines).encode()
            path = package / f"module{index}.py"
        else:  # wheels' .so files, images, nested zips: barely compress
            size = int(rng.lognormvariate(11, 1.0))
            data = rng.randbytes(size)
            path = package / f"blob{index}.so"
        path.write_bytes(data)
        written += len(data)
        index += 1
    marker.write_text(f"{megabytes}:{seed}:{TREE_VERSION}")
    return _count(root)


def _count(root: Path) -> tuple[int, int]:
    files = [p for p in root.rglob("*") if p.is_file() and p.name != ".complete"]
    return len(files), sum(p.stat().st_size for p in files)


def run_child(argv: list[str], cwd: Path | None = None) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (user + system) and peak RSS (KiB) of one child process."""
    start = time.perf_counter()
    process = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL)
    _pid, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{argv[0]} failed with status {status}")
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--megabytes", type=int, default=200)
    args = parser.parse_args()
    if shutil.which("zip") is None:
        raise SystemExit("zip is not installed (apt-get install zip)")
    tree = WORK / "tree"
    files, total = generate_tree(tree, args.megabytes)
    (tree / ".complete").rename(WORK / ".complete-aside")  # keep the marker out of both archives
    try:
        rows = []
        for round_number in range(args.rounds):
            ours_zip, theirs_zip = WORK / "ours.zip", WORK / "theirs.zip"
            for path in (ours_zip, theirs_zip):
                path.unlink(missing_ok=True)
            ours_cmd = [sys.executable, "-c", CHILD, str(tree), str(ours_zip), str(LEVEL)]
            theirs_cmd = ["zip", "-rX", f"-{LEVEL}", "-q", str(theirs_zip), "."]
            if round_number % 2 == 0:
                ours = run_child(ours_cmd)
                theirs = run_child(theirs_cmd, cwd=tree)
            else:
                theirs = run_child(theirs_cmd, cwd=tree)
                ours = run_child(ours_cmd)
            rows.append((ours, theirs, ours_zip.stat().st_size, theirs_zip.stat().st_size))
        rebuilds = _rebuilds(tree, ours_zip, theirs_zip, args.rounds)
    finally:
        (WORK / ".complete-aside").rename(tree / ".complete")
    load = os.getloadavg()[0]
    print(
        f"Tree: {files} files, {total / 1e6:.1f} MB; deflate level {LEVEL}; {args.rounds} alternating rounds;"
    )
    print(f"{os.cpu_count()} CPUs, 1-minute load average {load:.1f} at the end.")
    print()
    print("| round | write_zip wall (CPU) s | zip -rX wall (CPU) s | wall ratio | CPU ratio | RSS MB (zip) |")
    print("|---|---|---|---|---|---|")
    for number, (ours, theirs, _ours_size, _theirs_size) in enumerate(rows, 1):
        print(
            f"| {number} | {ours[0]:.2f} ({ours[1]:.2f}) | {theirs[0]:.2f} ({theirs[1]:.2f}) | "
            f"{ours[0] / theirs[0]:.2f} | {ours[1] / theirs[1]:.2f} | "
            f"{ours[2] / 1024:.0f} / {theirs[2] / 1024:.0f} |"
        )
    wall = statistics.median(ours[0] / theirs[0] for ours, theirs, *_ in rows)
    cpu = statistics.median(ours[1] / theirs[1] for ours, theirs, *_ in rows)
    peak = max(ours[2] for ours, *_ in rows) / 1024
    print()
    print(
        f"median wall ratio write_zip / zip -rX: **{wall:.2f}** (target <= 1.0); median CPU ratio {cpu:.2f}"
    )
    print(f"peak RSS of write_zip: **{peak:.0f} MB** (target < 150 MB)")
    print(f"archive sizes: write_zip {rows[-1][2] / 1e6:.1f} MB, zip -rX {rows[-1][3] / 1e6:.1f} MB")
    print()
    print("| rebuild after one file changed | write_zip wall (CPU) s | zip -rXu wall (CPU) s | wall ratio |")
    print("|---|---|---|---|")
    for number, (ours, theirs) in enumerate(rebuilds, 1):
        print(
            f"| {number} | {ours[0]:.2f} ({ours[1]:.2f}) | {theirs[0]:.2f} ({theirs[1]:.2f}) | "
            f"{ours[0] / theirs[0]:.2f} |"
        )
    rebuild_wall = statistics.median(ours[0] / theirs[0] for ours, theirs in rebuilds)
    first_wall = statistics.median(ours[0] for ours, *_ in rows)
    print()
    print(
        f"median wall ratio of a rebuild, write_zip / zip -rXu: **{rebuild_wall:.2f}**; a write_zip rebuild "
        f"takes {statistics.median(ours[0] for ours, _ in rebuilds) / first_wall:.2f} of a first write_zip"
    )
    return 0


def _rebuilds(
    tree: Path, ours_zip: Path, theirs_zip: Path, count: int
) -> list[tuple[tuple[float, float, int], tuple[float, float, int]]]:
    """Change one source file at a time and let each tool rewrite its archive from the last; tree restored."""
    sources = sorted(tree.rglob("module*.py"))
    changed = [sources[(index * 7919) % len(sources)] for index in range(count)]
    originals = {path: path.read_bytes() for path in changed}
    results = []
    try:
        for index, path in enumerate(changed):
            path.write_bytes(originals[path] + b"# changed %d\n" % index)
            ours = run_child([sys.executable, "-c", CHILD, str(tree), str(ours_zip), str(LEVEL)])
            theirs = run_child(["zip", "-rXu", f"-{LEVEL}", "-q", str(theirs_zip), "."], cwd=tree)
            results.append((ours, theirs))
    finally:
        for path, content in originals.items():
            path.write_bytes(content)
    return results


if __name__ == "__main__":
    raise SystemExit(main())
