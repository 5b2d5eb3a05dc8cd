"""Benchmark: no-op ``layer-ci plan`` on a generated monorepo, against git and sha256sum on the same tree.

Run: ``.venv/bin/python bench/bench_plan.py [--runs 9] [--layers 200] [--functions 1000] [--files 20000]
[--update-docs]``. Generates the repository under /tmp/layer-ci-bench/plan, records layer-ci.lock (so
nothing changed), commits it with git, then alternates, in fresh processes each round:

- warm: ``layer-ci plan`` in that repository with ``.layer-ci/cache`` (the validated config) in place,
  next to ``git status --porcelain``;
- fresh clone: ``git clone`` of it (not timed), then ``layer-ci plan`` in the clone: no ``.layer-ci``
  at all, as on every CI run; next to ``sha256sum`` over the same layer files in one process.

File contents stay in the page cache in both (the clone has just written them), as on a CI runner right
after checkout. Reports medians and median ratios, plus an in-process breakdown.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from bench.docs_section import update_docs_section  # noqa: E402
from layer_ci.config.loader import load_config  # noqa: E402
from layer_ci.plan.changes import make_plan  # noqa: E402
from layer_ci.plan.config_cache import load_config_cached  # noqa: E402
from layer_ci.plan.inputs import INPUT_KEY_FORMAT, input_keys  # noqa: E402
from layer_ci.plan.lockfile import load_lock  # noqa: E402
from tests.support.repos import commit_all, git_env, init_git_repo, make_monorepo, record_lock  # noqa: E402

WORK = Path("/tmp/layer-ci-bench/plan")
SECTION = "## No-op plan"


def prepare(layers: int, functions: int, files: int) -> Path:
    root = WORK / f"repo-{layers}-{functions}-{files}"
    marker = root / ".layer-ci-bench-complete"
    if not marker.exists():
        shutil.rmtree(root, ignore_errors=True)
        make_monorepo(root, layers=layers, functions=functions, files=files)
        (root / ".gitignore").write_text(".layer-ci/\n.layer-ci-bench-complete\n")
        init_git_repo(root, "generated monorepo")
    if not marker.exists() or marker.read_text().strip() != INPUT_KEY_FORMAT:
        # Keys of another format would make every layer "changed": record and commit the lock again.
        record_lock(load_config(root / "layer-ci.yml"))
        commit_all(root, f"lock for {INPUT_KEY_FORMAT}")
        marker.write_text(INPUT_KEY_FORMAT + "\n")
    return root


def timed(
    argv: Sequence[str], cwd: Path, env: dict[str, str] | None = None, expect: str | None = None
) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system) of one child process.

    On a shared machine wall time includes waiting for a core; CPU time does not.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    completed = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if completed.returncode != 0:
        raise SystemExit(f"{argv[0]} failed ({completed.returncode}): {completed.stderr.strip()}")
    if expect is not None and expect not in completed.stdout:
        raise SystemExit(f"unexpected output from {' '.join(argv)}: {completed.stdout[:300]!r}")
    return elapsed, cpu


def ms(samples: Sequence[float]) -> str:
    return f"{statistics.median(samples) * 1000:.0f} ms"


def ratio(ours: Sequence[float], baseline: Sequence[float]) -> str:
    return f"{statistics.median(o / b for o, b in zip(ours, baseline, strict=True)):.2f}"


def column(samples: list[tuple[float, float]], index: int) -> list[float]:
    return [sample[index] for sample in samples]


def breakdown(root: Path, runs: int) -> dict[str, list[float]]:
    """Where a no-op plan spends its time, measured inside one process (warm caches)."""
    parts: dict[str, list[float]] = {
        "load_config (no cache)": [],
        "load_config_cached (hit)": [],
        "input keys (git index)": [],
        "lock + plan": [],
    }
    for _ in range(runs):
        start = time.perf_counter()
        load_config(root / "layer-ci.yml")
        parts["load_config (no cache)"].append(time.perf_counter() - start)
        start = time.perf_counter()
        config = load_config_cached(root / "layer-ci.yml")
        parts["load_config_cached (hit)"].append(time.perf_counter() - start)
        start = time.perf_counter()
        keys = input_keys(config.layers, config.root)
        parts["input keys (git index)"].append(time.perf_counter() - start)
        start = time.perf_counter()
        plan = make_plan(config, load_lock(root), keys=keys)
        parts["lock + plan"].append(time.perf_counter() - start)
        assert not plan.has_changes
    return parts


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--layers", type=int, default=200)
    parser.add_argument("--functions", type=int, default=1000)
    parser.add_argument("--files", type=int, default=20000)
    parser.add_argument(
        "--update-docs", action="store_true", help=f"rewrite '{SECTION}' in docs/benchmarks.md"
    )
    args = parser.parse_args(argv)

    root = prepare(args.layers, args.functions, args.files)
    layer_files = sorted(str(p.relative_to(root)) for p in (root / "layers").rglob("*") if p.is_file())
    plan_argv = [sys.executable, "-m", "layer_ci", "plan"]
    sha_argv = ["sha256sum", "--", *layer_files]  # one process, as the plan is; the names fit in ARG_MAX
    git_argv = ["git", "status", "--porcelain"]
    env = git_env()
    nothing = f"nothing to do: {args.layers} layers unchanged"
    clone = WORK / "fresh-clone"

    def warm_plan() -> tuple[float, float]:
        return timed(plan_argv, root, expect=nothing)

    def fresh_clone() -> None:
        shutil.rmtree(clone, ignore_errors=True)
        subprocess.run(["git", "clone", "--quiet", str(root), str(clone)], env=env, check=True)

    def cold_plan() -> tuple[float, float]:
        fresh_clone()
        return timed(plan_argv, clone, expect=nothing)

    def sha256sum() -> tuple[float, float]:
        fresh_clone()
        return timed(sha_argv, clone)

    load_before = os.getloadavg()[0]
    warm_plan()  # fill layer-ci's caches and the page cache
    timed(git_argv, root, env)
    samples: dict[str, list[tuple[float, float]]] = {
        "plan warm": [],
        "git status": [],
        "plan cold": [],
        "sha256sum": [],
    }
    pairs: list[tuple[str, Callable[[], tuple[float, float]], str, Callable[[], tuple[float, float]]]] = [
        ("plan warm", warm_plan, "git status", lambda: timed(git_argv, root, env)),
        ("plan cold", cold_plan, "sha256sum", sha256sum),
    ]
    for round_number in range(args.runs):
        for ours, run_ours, baseline, run_baseline in pairs:
            # Alternate who goes first so neither always inherits the other's warm caches.
            if round_number % 2:
                samples[baseline].append(run_baseline())
                samples[ours].append(run_ours())
            else:
                samples[ours].append(run_ours())
                samples[baseline].append(run_baseline())
    warm_plan()  # leave the caches warm for the breakdown
    parts = breakdown(root, args.runs)
    startup = [timed([sys.executable, "-c", "import layer_ci.cli"], root)[0] for _ in range(args.runs)]

    config_kb = round((root / "layer-ci.yml").stat().st_size / 1000)
    wall = {name: column(values, 0) for name, values in samples.items()}
    cpu = {name: column(values, 1) for name, values in samples.items()}
    lines = [
        SECTION,
        "",
        f"No-op `layer-ci plan` (every layer unchanged) on a generated monorepo of {args.layers} layers, "
        f"{args.functions:,} functions and {len(layer_files):,} layer source files; each command a fresh "
        f"process, {args.runs} alternating rounds, medians. Target: under 1 s.",
        "",
        "| case | layer-ci plan wall (CPU) | baseline, same tree and round | baseline wall (CPU) "
        "| median ratio wall (CPU) |",
        "|---|---|---|---|---|",
        f"| warm: `.layer-ci/cache` in place (local rerun) | {ms(wall['plan warm'])} "
        f"({ms(cpu['plan warm'])}) "
        f"| `git status --porcelain` | {ms(wall['git status'])} ({ms(cpu['git status'])}) "
        f"| {ratio(wall['plan warm'], wall['git status'])} ({ratio(cpu['plan warm'], cpu['git status'])}) |",
        f"| cold: fresh `git clone`, no `.layer-ci` (every CI run) | {ms(wall['plan cold'])} "
        f"({ms(cpu['plan cold'])}) "
        f"| `sha256sum` of the layer files | {ms(wall['sha256sum'])} ({ms(cpu['sha256sum'])}) "
        f"| {ratio(wall['plan cold'], wall['sha256sum'])} ({ratio(cpu['plan cold'], cpu['sha256sum'])}) |",
        "",
        "How: a file's id is its git blob id, taken from git's index for tracked files git reports "
        "unchanged (`git ls-files --stage` and `--modified`, started on another thread before the "
        "config is parsed), so no layer file is read; the same id is computed from the bytes outside git. "
        f"Most of the cold run is parsing and validating the {config_kb} KB layer-ci.yml (`load_config`).",
        "",
        "Inside one process (medians): "
        + ", ".join(f"{name} {ms(values)}" for name, values in parts.items())
        + f"; interpreter start + `import layer_ci.cli`: {ms(startup)}.",
        "",
        f"Machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, 1-minute load average "
        f"{load_before:.1f} at the start and {os.getloadavg()[0]:.1f} at the end. Reproduce: "
        f"`.venv/bin/python bench/bench_plan.py --runs {args.runs} --layers {args.layers} "
        f"--functions {args.functions} --files {args.files}`.",
    ]
    cpus = os.cpu_count() or 1
    if max(load_before, os.getloadavg()[0]) > cpus:
        lines += [
            "",
            f"The machine was shared during this run (load above its {cpus} CPUs): wall times include "
            "waiting for a core, for the baselines too; the CPU figures are what one run costs by itself "
            "(the plan's files sit in the page cache, and its git child works while Python parses the "
            "config, so on an idle machine its wall time is at most its CPU time).",
        ]
    report = "\n".join(lines) + "\n"
    print(report)
    if args.update_docs:
        update_docs_section(SECTION, report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
