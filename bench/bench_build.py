"""Benchmark: the example's Python layer built by ``layer-ci build`` against ``sam build``, cold and warm.

Run: ``.venv/bin/python bench/bench_build.py [--rounds 5]``. The first run installs aws-sam-cli (it pins many
packages) into its own venv under /tmp/layer-ci-bench/sam-venv. Both tools build the same requirements for
python3.11 on x86_64 without Docker, in fresh processes, alternating which goes first each round:

- cold: every download cache empty (uv's for layer-ci; pip's and SAM's for sam build);
- warm: caches filled by an earlier build, output folders fresh, so both really rebuild.

layer-ci's time includes writing the deterministic zip and manifest; ``sam build`` stops at the folder
(zipping happens later in ``sam package``/``sam deploy``), so the comparison favours SAM.
Ratios are layer-ci / sam; medians are reported. pip and SAM read no pip config files here
(``PIP_CONFIG_FILE=/dev/null``), so both tools fetch from the same public index.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_REQUIREMENTS = ROOT / "examples" / "monorepo" / "layers" / "common-deps" / "requirements.txt"
# Used only when the example is missing: a few real, common pure and compiled packages.
FALLBACK_REQUIREMENTS = "requests==2.32.3\npython-dateutil==2.9.0.post0\ntenacity==9.0.0\nmarkupsafe==3.0.2\n"
BENCH = Path("/tmp/layer-ci-bench")
SAM_VENV = BENCH / "sam-venv"
WORK = BENCH / "build"
RUNTIME = "python3.11"

TEMPLATE = f"""\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  CommonDeps:
    Type: AWS::Serverless::LayerVersion
    Properties:
      LayerName: common-deps
      ContentUri: layers/common-deps/
      CompatibleRuntimes: [{RUNTIME}]
      CompatibleArchitectures: [x86_64]
    Metadata:
      BuildMethod: {RUNTIME}
      BuildArchitecture: x86_64
"""
CONFIG = f"""\
version: 1
layers:
  common-deps:
    source: layers/common-deps
    build: {{method: python, requirements: requirements.txt}}
    compatible_runtimes: [{RUNTIME}]
    compatible_architectures: [x86_64]
"""


def ensure_sam() -> Path:
    sam = SAM_VENV / "bin" / "sam"
    if not sam.exists():
        print("installing aws-sam-cli into", SAM_VENV, file=sys.stderr)
        subprocess.run([_python311(), "-m", "venv", str(SAM_VENV)], check=True)
        subprocess.run([str(SAM_VENV / "bin" / "pip"), "install", "-q", "aws-sam-cli"], check=True)
    return sam


def _python311() -> str:
    if sys.version_info[:2] == (3, 11):
        return str(Path(sys.base_prefix) / "bin" / "python3.11")
    found = shutil.which("python3.11")
    if not found:
        raise SystemExit("python3.11 is needed (SAM builds python3.11 layers with a matching interpreter)")
    return found


def make_project(requirements_file: Path | None) -> tuple[Path, str]:
    project = WORK / "project"
    shutil.rmtree(project, ignore_errors=True)
    layer = project / "layers" / "common-deps"
    layer.mkdir(parents=True)
    if requirements_file is not None:
        requirements, origin = requirements_file.read_text(), str(requirements_file)
    elif EXAMPLE_REQUIREMENTS.is_file():
        requirements, origin = EXAMPLE_REQUIREMENTS.read_text(), str(EXAMPLE_REQUIREMENTS.relative_to(ROOT))
    else:
        requirements, origin = FALLBACK_REQUIREMENTS, "bench/bench_build.py FALLBACK_REQUIREMENTS"
    (layer / "requirements.txt").write_text(requirements)
    (project / "template.yaml").write_text(TEMPLATE)
    (project / "layer-ci.yml").write_text(CONFIG)
    return project, origin


def clean_env(pip_cache: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PIP_", "UV_"))}
    python_bin = str(Path(_python311()).parent)
    env.update(
        {
            "PATH": python_bin + os.pathsep + env.get("PATH", ""),  # SAM looks for python3.11 on PATH
            "PIP_CONFIG_FILE": os.devnull,
            "PIP_CACHE_DIR": str(pip_cache),
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "SAM_CLI_TELEMETRY": "0",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
    )
    return env


def timed(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    completed = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if completed.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{completed.stdout}\n{completed.stderr}")
    return elapsed


def one_round(project: Path, sam: Path, mode: str, number: int) -> tuple[float, float]:
    scratch = WORK / f"{mode}-{number}"
    shutil.rmtree(scratch, ignore_errors=True)
    caches = WORK / "warm-caches" if mode == "warm" else scratch / "caches"
    ours_argv = [
        sys.executable, "-m", "layer_ci", "build", "--out", str(scratch / "layer-ci-out"),
        "--cache-dir", str(caches / "layer-ci"),
    ]  # fmt: skip
    sam_argv = [
        str(sam), "build", "--template-file", "template.yaml", "--build-dir", str(scratch / "sam-out"),
        "--cache-dir", str(caches / "sam"),
    ]  # fmt: skip
    env = clean_env(caches / "pip")
    if number % 2 == 0:
        ours = timed(ours_argv, project, env)
        theirs = timed(sam_argv, project, env)
    else:
        theirs = timed(sam_argv, project, env)
        ours = timed(ours_argv, project, env)
    if not (scratch / "sam-out" / "CommonDeps" / "python").is_dir():
        raise SystemExit("sam build produced no python/ folder for the layer")
    if not (scratch / "layer-ci-out" / "common-deps.zip").is_file():
        raise SystemExit("layer-ci build produced no zip")
    shutil.rmtree(scratch, ignore_errors=True)
    return ours, theirs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--requirements", type=Path, default=None, help="another requirements file (default: the example's)"
    )
    args = parser.parse_args()
    sam = ensure_sam()
    version = subprocess.run(
        [str(sam), "--version"], capture_output=True, text=True, check=True
    ).stdout.strip()
    project, origin = make_project(args.requirements)
    shutil.rmtree(WORK / "warm-caches", ignore_errors=True)
    one_round(project, sam, "warm", 0)  # fills the warm caches; not counted
    results: dict[str, list[tuple[float, float]]] = {"cold": [], "warm": []}
    for number in range(args.rounds):
        for mode in ("cold", "warm"):
            results[mode].append(one_round(project, sam, mode, number))
    print(f"Layer: {origin} ({RUNTIME}, x86_64); {version}; {args.rounds} alternating rounds per mode.")
    print()
    print("| mode | round | layer-ci build (s) | sam build (s) | ratio |")
    print("|---|---|---|---|---|")
    for mode, rows in results.items():
        for number, (ours, theirs) in enumerate(rows, 1):
            print(f"| {mode} | {number} | {ours:.2f} | {theirs:.2f} | {ours / theirs:.2f} |")
    print()
    for mode, target in (("cold", "1.0"), ("warm", "0.5")):
        ratios = [ours / theirs for ours, theirs in results[mode]]
        median = statistics.median(ratios)
        print(f"median ratio layer-ci / sam build, {mode}: **{median:.2f}** (target <= {target})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
