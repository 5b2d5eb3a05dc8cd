"""Action image: container start to the first line of layer-ci output, against a bare interpreter start.

``.venv/bin/python bench/bench_image_start.py [--rounds 7] [--update-docs]`` (as root, after
``make image-check`` built its image, ``localhost/layer-ci:image-check-<checkout hash>``). Each round,
alternating, starts a fresh container of the image with ``buildah from`` + ``buildah run --isolation
chroot`` (no Docker engine here):

- layer-ci: the image's ENTRYPOINT with the Action's environment on a push of the example to a feature
  branch (the plan-only route), timed from the start of ``buildah from`` to the first line it prints;
- baseline: the image's Python printing one line (``python -c 'print(1)'``), timed the same way.

The difference is what layer-ci itself adds before it says anything. The image pull, which the runner
does once per job before the container starts, is not included (the image is local here).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.docs_section import update_docs_section  # noqa: E402

SECTION = "## Action image: container start to first output"


def _check() -> ModuleType:
    spec = importlib.util.spec_from_file_location("image_check", ROOT / "image" / "check.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def first_line(argv: Sequence[str], image: str) -> float:
    """Seconds from ``buildah from`` to the first non-empty line ``argv`` prints in a fresh container."""
    start = time.perf_counter()
    container = subprocess.run(
        ["buildah", "from", "--quiet", image], capture_output=True, text=True, check=True
    ).stdout.strip()
    try:
        process = subprocess.Popen(
            [*argv[:-1], container, "--", *argv[-1].split("\0")],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert process.stdout is not None
        seen: float | None = None
        lines = []
        for line in process.stdout:
            if seen is None and line.strip():
                seen = time.perf_counter() - start
            lines.append(line)
        if process.wait() != 0 or seen is None:
            raise SystemExit(f"the container run failed ({process.returncode}):\n{''.join(lines)[-2000:]}")
        return seen
    finally:
        subprocess.run(["buildah", "rm", container], capture_output=True, check=False)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument(
        "--update-docs", action="store_true", help=f"rewrite '{SECTION}' in docs/benchmarks.md"
    )
    args = parser.parse_args(argv)
    check = _check()
    if shutil.which("buildah") is None or os.geteuid() != 0 or not check.image_exists(check.IMAGE):
        # `python -m bench` runs every script; this one needs what only `make image-check` leaves behind.
        print(
            f"bench_image_start: SKIPPED: needs root, buildah and {check.IMAGE}; run `make image-check` first"
        )
        return 0
    entrypoint = check.image_entrypoint()
    from tests.support.github_standin import GitHubStandIn

    standin = GitHubStandIn().start()
    ours: list[float] = []
    baseline: list[float] = []
    try:
        with tempfile.TemporaryDirectory(prefix="layer-ci-bench-image-") as scratch:
            work = Path(scratch)
            workspace, bare, head = check.prepare_workspace(work)
            standin.add_repo(check.REPOSITORY, git_dir=bare)
            files, workflow = work / "file_commands", work / "workflow"
            for folder in (files, workflow, work / "home", work / "runner_temp", work / "probes"):
                folder.mkdir()
            payload = {
                "ref": "refs/heads/feature",
                "after": head,
                "repository": {"full_name": check.REPOSITORY, "default_branch": "main", "name": "shop"},
            }
            (workflow / "event.json").write_text(json.dumps(payload))
            env = check.action_environment(standin.url, standin.web_url, standin.token, head)
            env["GITHUB_REF"] = "refs/heads/feature"
            mounts = {
                workspace: check.WORKSPACE,
                files: "/github/file_commands",
                workflow: "/github/workflow",
                work / "home": "/github/home",
                work / "runner_temp": "/github/runner_temp",
                bare: str(bare),
            }
            run_argv = ["buildah", "run", "--isolation", "chroot", "--workingdir", check.WORKSPACE]
            for host, inside in mounts.items():
                run_argv += ["-v", f"{host}:{inside}"]
            for name, value in env.items():
                run_argv += ["-e", f"{name}={value}"]
            python = entrypoint[0]
            for _ in range(args.rounds):
                (files / "output").write_text("")
                (files / "summary").write_text("")
                ours.append(first_line([*run_argv, "\0".join(entrypoint)], check.IMAGE))
                baseline.append(first_line([*run_argv, "\0".join([python, "-c", "print(1)"])], check.IMAGE))
    finally:
        standin.stop()
    load = os.getloadavg()[0]
    ratio = statistics.median(o / b for o, b in zip(ours, baseline, strict=True))
    report = (
        f"{SECTION}\n\n"
        f"`.venv/bin/python bench/bench_image_start.py --rounds {args.rounds}` (after `make image-check`) — "
        f"the Action's image built by buildah, {args.rounds} alternating rounds, each a fresh container "
        "(`buildah from` + `buildah run --isolation chroot`), timed to the first line printed; the Action's "
        "environment on a push of the example to a feature branch (plan only).\n\n"
        "| what | median |\n|---|---|\n"
        "| layer-ci: container start to the entry point's first line | "
        f"{statistics.median(ours) * 1000:.0f} ms |\n"
        f"| baseline: container start to `python -c 'print(1)'` in the same image | "
        f"{statistics.median(baseline) * 1000:.0f} ms |\n\n"
        f"Median ratio layer-ci / baseline: **{ratio:.2f}**. Before the image was prebuilt, every run of "
        "the Action first built the Dockerfile (apt, pip, the interpreters): 145 s and 350 s in two "
        "uncached `buildah bud` runs here (load-dependent), without the uv downloads. A runner still "
        "pulls the image once per job (not measured here: no registry is reachable).\n\n"
        f"Machine: {os.cpu_count()} CPUs shared with other jobs, "
        f"1-minute load average {load:.1f} at the end, "
        f"{platform.machine()}.\n"
    )
    print(report)
    if args.update_docs:
        update_docs_section(SECTION, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
