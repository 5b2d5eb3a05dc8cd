"""Benchmark: the fixed cost every command pays (start-up, imports, config), side by side with its floor.

Run: ``.venv/bin/python bench/bench_startup.py [--rounds 9] [--update-docs]``. On a copy of
examples/monorepo (a git checkout, as in CI), in fresh processes, alternating the order each round:

- ``layer-ci --version`` against ``python -c pass`` (the interpreter's own start-up);
- ``layer-ci plan`` (nothing to build: config, templates, input keys, lock);
- ``layer-ci build common-deps`` against the floor for the same layer: ``uv pip install --target ...
  --require-hashes`` with the same target flags, then ``zip -qrX``; uv's cache is warm for both, and so
  is the sandbox probe's per-boot memo (the warm-up build fills both);
- for reference, the same build with ``LAYER_CI_SANDBOX=off``: what isolating the installer costs;
- run as root, the builds install as the lasting wheel cache's own user, as in layer-ci's image
  (``LAYER_CI_CACHE_USER``: a free uid is named when no ``layer-ci-cache`` user exists); for reference,
  the same build without one, which downloads its wheels each time;
- for reference, the same build into a new ``--out`` folder each time: a first build, with no earlier zip
  whose deflate output it could reuse (build/deflate_reuse.py);
- the build and the floor again with ``UV_OFFLINE=1``: uv answering from its cache without asking the index
  whether its pages are still current. Against pypi.org uv does that by itself for ten minutes after a
  fetch (the pages say ``max-age=600``); the registry proxy of the machine these numbers were taken on
  sends no such header, so there uv revalidates every page on every install and the plain rows carry that
  network wait in both columns.

Bytecode is compiled first (``compileall``) for layer_ci and its dependencies, as an installed package
has it: this machine sets PYTHONDONTWRITEBYTECODE, which would otherwise make every run re-compile every
module and measure the compiler. Medians are reported; the targets are issue #17's.
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import functools
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.docs_section import update_docs_section  # noqa: E402

EXAMPLE = ROOT / "examples" / "monorepo"
SECTION = "## Fixed cost of a command"
TARGETS = {"version": 0.060, "plan": 0.150, "build_ratio": 1.5}


def layer_ci_argv() -> list[str]:
    script = Path(sys.executable).with_name("layer-ci")
    return [str(script)] if script.exists() else [sys.executable, "-m", "layer_ci"]


Sample = tuple[float, float]  # wall seconds, CPU seconds (user + system of the child processes)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(argv: Sequence[str], cwd: Path, env: dict[str, str] | None = None) -> Sample:
    start, start_cpu = time.perf_counter(), _children_cpu()
    subprocess.run(argv, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start, _children_cpu() - start_cpu


def prepare(work: Path) -> Path:
    repo = work / "repo"
    shutil.copytree(EXAMPLE, repo, ignore=shutil.ignore_patterns(".layer-ci"))
    git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.invalid"]
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-qm", "example"], cwd=repo, check=True)
    return repo


def compile_bytecode() -> None:
    import layer_ci

    for folder in {Path(layer_ci.__file__).parent, Path(os.__file__).parent / "site-packages"}:
        compileall.compile_dir(str(folder), quiet=2, workers=2)
    site_packages = next(Path(sys.prefix, "lib").glob("python3*/site-packages"), None)
    if site_packages is not None:
        compileall.compile_dir(str(site_packages), quiet=2, workers=2)


def floor_argv(repo: Path, target: Path) -> list[str]:
    from uv import find_uv_bin

    requirements = repo / "layers" / "common-deps" / "requirements.txt"
    return [
        find_uv_bin(), "pip", "install", "--quiet",
        "--target", str(target / "python"),
        "--python", sys.executable,
        "--python-version", "3.11",
        "--python-platform", "x86_64-manylinux2014",
        "--no-compile-bytecode", "--link-mode", "hardlink", "--only-binary", ":all:",
        "--require-hashes", "-r", str(requirements),
    ]  # fmt: skip


def floor_build(repo: Path, work: Path, env: dict[str, str] | None = None) -> Sample:
    target = work / "floor"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir()
    start, start_cpu = time.perf_counter(), _children_cpu()
    subprocess.run(floor_argv(repo, target), check=True, env=env)
    subprocess.run(["zip", "-qrX", str(work / "floor.zip"), "python"], cwd=target, check=True)
    sample = time.perf_counter() - start, _children_cpu() - start_cpu
    (work / "floor.zip").unlink()
    return sample


def name_a_cache_user() -> bool:
    """As root, name a free uid for the lasting wheel cache where no user is; whether this named one."""
    import pwd

    if os.geteuid() != 0 or os.environ.get("LAYER_CI_CACHE_USER"):
        return False
    with contextlib.suppress(KeyError):
        pwd.getpwnam("layer-ci-cache")
        return False
    for uid in range(20_000, 30_000):
        try:
            pwd.getpwuid(uid)
        except KeyError:
            os.environ["LAYER_CI_CACHE_USER"] = str(uid)
            return True
    return False


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument(
        "--update-docs", action="store_true", help=f"rewrite '{SECTION}' in docs/benchmarks.md"
    )
    args = parser.parse_args(argv)

    compile_bytecode()
    layer_ci = layer_ci_argv()
    named_cache_user = name_a_cache_user()
    names = (
        "pass", "version", "plan", "build", "unsandboxed", "first", "floor", "cached", "cached_floor",
        "no_cache_user",
    )  # fmt: skip
    samples: dict[str, list[Sample]] = {name: [] for name in names}
    unsandboxed = {**os.environ, "LAYER_CI_SANDBOX": "off"}
    offline = {**os.environ, "UV_OFFLINE": "1"}
    # An empty name means the default user, which name_a_cache_user found missing where this row runs.
    no_cache_user = {**os.environ, "LAYER_CI_CACHE_USER": ""}
    with tempfile.TemporaryDirectory(prefix="layer-ci-bench-startup-") as tmp:
        work = Path(tmp)
        repo = prepare(work)
        build = [*layer_ci, "build", "common-deps", "--out", str(work / "out")]
        subprocess.run(build, cwd=repo, check=True, capture_output=True)  # fills uv's cache
        floor_build(repo, work)
        load_before = os.getloadavg()[0]
        for index in range(args.rounds):
            first_build = [*layer_ci, "build", "common-deps", "--out", str(work / f"first-{index}")]
            steps: list[tuple[str, Callable[[], Sample]]] = [
                ("pass", lambda: timed([sys.executable, "-c", "pass"], repo)),
                ("version", lambda: timed([*layer_ci, "--version"], repo)),
                ("plan", lambda: timed([*layer_ci, "plan"], repo)),
                ("build", lambda: timed(build, repo)),
                ("unsandboxed", lambda: timed(build, repo, unsandboxed)),
                ("first", functools.partial(timed, first_build, repo)),
                ("floor", lambda: floor_build(repo, work)),
                ("cached", lambda: timed(build, repo, offline)),
                ("cached_floor", lambda: floor_build(repo, work, offline)),
            ]
            if named_cache_user:
                steps.append(("no_cache_user", lambda: timed(build, repo, no_cache_user)))
            for name, step in steps if index % 2 == 0 else reversed(steps):
                samples[name].append(step())
        load_after = os.getloadavg()[0]
        with zipfile.ZipFile(work / "out" / "common-deps.zip") as built:
            files = len(built.namelist())

    measured = {name: values for name, values in samples.items() if values}
    median = {name: statistics.median(wall for wall, _ in values) for name, values in measured.items()}
    cpu = {name: statistics.median(used for _, used in values) for name, values in measured.items()}
    pairs = list(zip(samples["build"], samples["floor"], strict=True))
    build_ratio = statistics.median(ours[0] / floor[0] for ours, floor in pairs)
    cpu_ratio = statistics.median(ours[1] / floor[1] for ours, floor in pairs)
    unsandboxed_ratio, first_ratio, cached_ratio = (
        statistics.median(
            ours[0] / floor[0] for ours, floor in zip(samples[name], samples[base], strict=True)
        )
        for name, base in (("unsandboxed", "floor"), ("first", "floor"), ("cached", "cached_floor"))
    )
    # What layer-ci adds to the same install and zip, in ms (the title: under 100 ms). Paired per
    # round like the ratios; unlike them it does not shrink when the network makes the floor slower.
    fixed_cost, cached_fixed_cost = (
        statistics.median(
            ours[0] - floor[0] for ours, floor in zip(samples[name], samples[base], strict=True)
        )
        for name, base in (("build", "floor"), ("cached", "cached_floor"))
    )
    rows = [
        ("`layer-ci --version`", "version", f"≤ {TARGETS['version'] * 1000:.0f} ms"),
        ("baseline: `python -c pass`", "pass", ""),
        ("`layer-ci plan` (example, nothing changed)", "plan", f"≤ {TARGETS['plan'] * 1000:.0f} ms"),
        ("`layer-ci build common-deps`", "build", f"≤ {TARGETS['build_ratio']}x the floor"),
        ("the same with `LAYER_CI_SANDBOX=off` (reference only)", "unsandboxed", ""),
        ("the same into a new `--out` each time: nothing to reuse (reference only)", "first", ""),
        ("floor: `uv pip install --target --require-hashes` + `zip -qrX`", "floor", ""),
        ("`layer-ci build common-deps`, uv answering from its cache (`UV_OFFLINE=1`)", "cached", ""),
        ("floor, uv answering from its cache (`UV_OFFLINE=1`)", "cached_floor", ""),
    ]
    if samples["no_cache_user"]:
        rows.insert(
            5, ("as root with no user for the lasting wheel cache (reference only)", "no_cache_user", "")
        )
    table = "\n".join(
        f"| {what} | {median[name] * 1000:.0f} ms | {cpu[name] * 1000:.0f} ms | {target} |"
        for what, name, target in rows
    )
    as_root = (
        f"; run as root, installing as uid {os.environ['LAYER_CI_CACHE_USER']} for the lasting wheel cache, "
        "as layer-ci's image does as `layer-ci-cache`"
        if named_cache_user
        else ""
    )
    section = (
        f"{SECTION}\n\n"
        f"`.venv/bin/python bench/bench_startup.py --rounds {args.rounds}` — examples/monorepo as a git "
        f"checkout; each command a fresh process, {args.rounds} alternating rounds, medians; bytecode "
        f"compiled as an installed package has it; uv's cache warm for both builds ({files} zip entries)"
        f"{as_root}.\n\n"
        "| command | median wall | median CPU | target |\n|---|---|---|---|\n"
        f"{table}\n\n"
        f"Median ratio build / floor (paired per round): **{build_ratio:.2f}** wall, {cpu_ratio:.2f} CPU; "
        f"{unsandboxed_ratio:.2f} wall without the sandbox, {first_ratio:.2f} wall for a first build, "
        f"{cached_ratio:.2f} wall with uv answering from its cache. "
        f"Fixed cost, build minus floor (paired): **{fixed_cost * 1000:.0f} ms**, "
        f"{cached_fixed_cost * 1000:.0f} ms with uv answering from its cache "
        "(CPU time is the steadier figure on a shared machine; uv uses several threads, so CPU exceeds wall "
        f"for both builds). Machine: {os.cpu_count()} "
        f"CPUs, Python {sys.version.split()[0]}, 1-minute load average {load_before:.1f} at the start and "
        f"{load_after:.1f} at the end.\n"
    )
    print(section)
    if args.update_docs:
        update_docs_section(SECTION, section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
