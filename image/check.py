"""make image-check: build the Action's image with buildah and run its entry point as a GitHub runner would.

No Docker engine: ``buildah bud --isolation chroot`` builds the Dockerfile, on the pinned base when its
registry answers, else on a Debian bookworm rootfs made by mmdebstrap from Debian packages (BASE_IMAGE
build arg). Then ``buildah run --isolation chroot`` starts the image's ENTRYPOINT with the environment
action.yml and the runner give a Docker action, on a copy of examples/monorepo committed to a bare git
remote that the loopback GitHub stand-in serves: a push to the default branch that builds, publishes to
the local registry and tests every consumer. Probe tests added to the copy record, from inside the test
sandbox, the interpreter each function ran on, the user it ran as and whether an absolute /opt path
is served. The last line says what was verified and what was skipped.

Run from the repository root with the project's virtualenv: ``.venv/bin/python image/check.py`` (as
root, with buildah and mmdebstrap installed; ``make image-check`` does both).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# One tag per checkout: several checkouts on one machine share buildah's image store.
IMAGE = f"localhost/layer-ci:image-check-{hashlib.sha256(str(ROOT).encode()).hexdigest()[:10]}"
MMDEBSTRAP_BASE = "localhost/layer-ci-base:bookworm-mmdebstrap"
# What the Dockerfile needs of a base: Debian bookworm with python3 and venv (the pinned base has both).
MMDEBSTRAP_PACKAGES = ("python3", "python3-venv", "ca-certificates")
REPOSITORY = "octo-org/shop"
WORKSPACE = "/github/workspace"
PROBES = "/github/probes"
RUNNER_UID = 1001  # actions/checkout leaves the workspace owned by the runner's user, not the container's
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
PYTHON_DOWNLOAD_HOST = "github.com"  # where uv fetches python-build-standalone interpreters


def say(message: str) -> None:
    print(f"image-check: {message}", flush=True)


def fail(message: str) -> None:
    print(f"image-check: FAILED: {message}", flush=True)
    sys.exit(1)


def run(argv: Sequence[str], *, timeout: float = 1800, **kwargs: Any) -> str:
    done = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, check=False, **kwargs)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-25:])
        fail(f"`{' '.join(argv[:4])} ...` exited {done.returncode}:\n{tail}")
    return done.stdout


def dockerfile_base() -> str:
    match = re.search(r"(?m)^ARG BASE_IMAGE=(\S+)$", (ROOT / "Dockerfile").read_text())
    if not match:
        fail("Dockerfile has no `ARG BASE_IMAGE=...` line")
    return match[1] if match else ""


def image_exists(name: str) -> bool:
    return (
        subprocess.run(
            ["buildah", "inspect", "--type", "image", name], capture_output=True, check=False
        ).returncode
        == 0
    )


def choose_base(mode: str) -> tuple[str, str]:
    """(image to build on, how it was had)."""
    pinned = dockerfile_base()
    if mode in ("auto", "pinned"):
        pulled = subprocess.run(
            ["buildah", "pull", "--quiet", pinned], capture_output=True, text=True, timeout=300, check=False
        )
        if pulled.returncode == 0:
            return pinned, "pinned base pulled"
        reason = (pulled.stderr.strip().splitlines() or ["no answer"])[-1]
        if mode == "pinned":
            fail(f"cannot pull the pinned base {pinned}: {reason}")
        say(f"pinned base cannot be pulled ({reason[:160]}); using a Debian bookworm rootfs from mmdebstrap")
    if not image_exists(MMDEBSTRAP_BASE):
        with tempfile.TemporaryDirectory(prefix="layer-ci-base-") as work:
            tar = Path(work) / "rootfs.tar"
            say(f"mmdebstrap bookworm ({', '.join(MMDEBSTRAP_PACKAGES)}) ...")
            run(
                [
                    "mmdebstrap",
                    "--variant=minbase",
                    f"--include={','.join(MMDEBSTRAP_PACKAGES)}",
                    "bookworm",
                    str(tar),
                ],
                timeout=1800,
            )
            container = run(["buildah", "from", "scratch"]).strip()
            try:
                run(["buildah", "add", "--quiet", container, str(tar), "/"])
                run(
                    [
                        "buildah",
                        "config",
                        "--env",
                        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                        container,
                    ]
                )
                run(["buildah", "commit", "--quiet", container, MMDEBSTRAP_BASE])
            finally:
                subprocess.run(["buildah", "rm", container], capture_output=True, check=False)
    return MMDEBSTRAP_BASE, "mmdebstrap bookworm rootfs (pinned base not pullable)"


def python_downloads(mode: str) -> tuple[str, str]:
    if mode != "auto":
        return mode, f"PYTHON_DOWNLOADS={mode} asked"
    try:
        socket.getaddrinfo(PYTHON_DOWNLOAD_HOST, 443)
    except OSError as exc:
        return (
            "skip",
            f"{PYTHON_DOWNLOAD_HOST}, where uv downloads interpreters, does not resolve here ({exc})",
        )
    return "download", f"{PYTHON_DOWNLOAD_HOST} resolves"


def build(base: str, downloads: str) -> float:
    argv = [
        "buildah",
        "bud",
        "--isolation",
        "chroot",
        "--layers",
        "--pull=false",
        "--build-arg",
        f"BASE_IMAGE={base}",
        "--build-arg",
        f"PYTHON_DOWNLOADS={downloads}",
        "-t",
        IMAGE,
    ]
    if HOST_CA_BUNDLE.is_file():
        # The machine's CA bundle, for builds behind a TLS-intercepting proxy; a secret, so not kept.
        argv += ["--secret", f"id=ca-bundle,src={HOST_CA_BUNDLE}"]
    started = time.monotonic()
    run([*argv, str(ROOT)], timeout=3600)
    return time.monotonic() - started


def image_entrypoint() -> list[str]:
    config = json.loads(run(["buildah", "inspect", "--type", "image", IMAGE]))
    entrypoint = config.get("OCIv1", {}).get("config", {}).get("Entrypoint")
    if not entrypoint:
        fail(f"{IMAGE} has no ENTRYPOINT")
    return list(entrypoint)


def in_image(container: str, *argv: str) -> str:
    return run(["buildah", "run", "--isolation", "chroot", container, "--", *argv])


# ----------------------------------------------------------------------------------------------------
# The workspace: the example, probe tests, a bare remote, as actions/checkout leaves it

PYTHON_PROBE = '''"""image-check probe: what this function's tests ran on, seen from inside its sandbox."""
import json, os, sys

def test_runs_on_the_runtimes_exact_python_and_records_what_it_sees():
    runtime = os.environ["AWS_EXECUTION_ENV"].removeprefix("AWS_Lambda_python")
    facts = {"function": os.environ["AWS_LAMBDA_FUNCTION_NAME"], "runtime": "python" + runtime,
             "version": ".".join(map(str, sys.version_info[:3])), "executable": sys.executable,
             "uid": os.getuid()}
    try:
        with open("/opt/bin/slugify", encoding="utf-8") as handle:
            facts["opt_read"] = "slugify" in handle.readline() + handle.readline()
    except OSError as exc:
        facts["opt_read"] = f"{type(exc).__name__}: {exc.strerror}"
    with open(os.path.join("%(probes)s", facts["function"] + ".json"), "w", encoding="utf-8") as out:
        json.dump(facts, out)
    assert "%%d.%%d" %% sys.version_info[:2] == runtime
'''

NODE_PROBE = """// image-check probe: what this function's tests ran on, seen from inside the test sandbox.
"use strict";
const fs = require("node:fs");
const path = require("node:path");
const { test } = require("node:test");
const assert = require("node:assert/strict");

test("runs on the runtime's exact Node.js major and records what it sees", () => {
  const runtime = process.env.AWS_EXECUTION_ENV.replace("AWS_Lambda_", "");
  const facts = { function: process.env.AWS_LAMBDA_FUNCTION_NAME, runtime, version: process.versions.node,
                  executable: process.execPath, uid: process.getuid() };
  try {
    const manifest = fs.readFileSync("/opt/nodejs/node_modules/slugify/package.json", "utf8");
    facts.opt_read = JSON.parse(manifest).name === "slugify";
  } catch (error) {
    facts.opt_read = error.message;
  }
  fs.writeFileSync(path.join("%(probes)s", `${facts.function}.json`), JSON.stringify(facts));
  assert.equal(`nodejs${process.versions.node.split(".")[0]}.x`, runtime);
});
"""


def git(args: Sequence[str], cwd: Path) -> str:
    env = {**os.environ, "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1"}
    return run(
        ["git", "-c", "user.name=layer-ci check", "-c", "user.email=check@example.invalid", *args],
        cwd=cwd,
        env=env,
    )


def prepare_workspace(work: Path) -> tuple[Path, Path, str]:
    bare = work / "remote.git"
    git(["init", "--quiet", "--bare", "--initial-branch=main", str(bare)], work)
    workspace = work / "workspace"
    shutil.copytree(
        ROOT / "examples" / "monorepo", workspace, ignore=shutil.ignore_patterns(".layer-ci", "__pycache__")
    )
    (workspace / "functions" / "catalog" / "tests" / "test_image_check_probe.py").write_text(
        PYTHON_PROBE % {"probes": PROBES}
    )
    (workspace / "functions" / "labels" / "test" / "image-check-probe.test.js").write_text(
        NODE_PROBE % {"probes": PROBES}
    )
    # A nodejs layer of no dependencies (npm ci and npm pack run, with nothing to download): npm must be in
    # the image and run as the sandbox's users.
    node_layer = workspace / "layers" / "node-tools"
    node_layer.mkdir(parents=True)
    (node_layer / "package.json").write_text(json.dumps({"name": "node-tools", "version": "1.0.0"}))
    (node_layer / "package-lock.json").write_text(
        json.dumps(
            {
                "name": "node-tools",
                "version": "1.0.0",
                "lockfileVersion": 3,
                "requires": True,
                "packages": {"": {"name": "node-tools", "version": "1.0.0"}},
            }
        )
    )
    (node_layer / "index.js").write_text("exports.shout = (text) => text.toUpperCase();\n")
    config = workspace / "layer-ci.yml"
    config.write_text(
        config.read_text().replace(
            "\nfunctions:\n",
            "\n  node-tools:\n    source: layers/node-tools\n    build: {method: nodejs}\n"
            "    compatible_runtimes: [nodejs20.x]\n    compatible_architectures: [x86_64]\n"
            "    regions: [us-east-1]\n\nfunctions:\n",
        )
    )
    git(["init", "--quiet", "--initial-branch=main"], workspace)
    git(["add", "--all"], workspace)
    git(["commit", "--quiet", "-m", "the example shop"], workspace)
    git(["remote", "add", "origin", str(bare)], workspace)
    git(["push", "--quiet", "origin", "main"], workspace)
    head = git(["rev-parse", "HEAD"], workspace).strip()
    for folder, _dirs, files in os.walk(workspace):
        os.chown(folder, RUNNER_UID, RUNNER_UID)
        for name in files:
            os.chown(os.path.join(folder, name), RUNNER_UID, RUNNER_UID, follow_symlinks=False)
    return workspace, bare, head


def action_environment(api_url: str, server_url: str, token: str, head: str) -> dict[str, str]:
    """What a Docker action's container gets: the runner's GITHUB_* and action.yml's runs.env."""
    from ruamel.yaml import YAML

    action = YAML(typ="safe").load((ROOT / "action.yml").read_text())
    defaults = {name: str(spec.get("default", "")) for name, spec in action["inputs"].items()}
    env: dict[str, str] = {
        "HOME": "/github/home",
        "CI": "true",
        "GITHUB_ACTIONS": "true",
        "GITHUB_EVENT_NAME": "push",
        "GITHUB_EVENT_PATH": "/github/workflow/event.json",
        "GITHUB_REPOSITORY": REPOSITORY,
        "GITHUB_SHA": head,
        "GITHUB_REF": "refs/heads/main",
        "GITHUB_API_URL": api_url,
        "GITHUB_SERVER_URL": server_url,
        "GITHUB_RUN_ID": "4242",
        "GITHUB_WORKSPACE": WORKSPACE,
        "GITHUB_OUTPUT": "/github/file_commands/output",
        "GITHUB_STEP_SUMMARY": "/github/file_commands/summary",
        "RUNNER_TEMP": "/github/runner_temp",
        # The stand-in has no secondary rate limits: no need to pace writes a second apart.
        "LAYER_CI_GITHUB_WRITE_INTERVAL": "0",
        "LAYER_CI_GITHUB_REQUEST_INTERVAL": "0",
    }
    for variable, expression in action["runs"]["env"].items():
        name = re.fullmatch(r"\$\{\{ inputs\.([a-z-]+) \}\}", str(expression))
        value = defaults[name[1]] if name else str(expression)
        env[variable] = token if value == "${{ github.token }}" else value
    return env


def start_container(
    entrypoint: list[str], env: Mapping[str, str], mounts: Mapping[Path, str]
) -> tuple[int, str, float, float]:
    """Run the entry point in a fresh container: (exit, output, seconds to first line, seconds in all)."""
    container = run(["buildah", "from", "--quiet", IMAGE]).strip()
    try:
        argv = ["buildah", "run", "--isolation", "chroot", "--workingdir", WORKSPACE]
        for host, inside in mounts.items():
            argv += ["-v", f"{host}:{inside}"]
        for name, value in env.items():
            argv += ["-e", f"{name}={value}"]
        started = time.monotonic()
        process = subprocess.Popen(
            [*argv, container, "--", *entrypoint],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert process.stdout is not None
        first: float | None = None
        lines: list[str] = []
        for line in process.stdout:
            if first is None and line.strip():
                first = time.monotonic() - started
            lines.append(line)
        code = process.wait(timeout=1800)
        return code, "".join(lines), first or 0.0, time.monotonic() - started
    finally:
        subprocess.run(["buildah", "rm", container], capture_output=True, check=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--base", choices=("auto", "pinned", "mmdebstrap"), default=os.environ.get("BASE", "auto")
    )
    parser.add_argument(
        "--python-downloads",
        choices=("auto", "download", "skip"),
        default=os.environ.get("PYTHON_DOWNLOADS", "auto"),
    )
    args = parser.parse_args()
    if os.geteuid() != 0:
        fail("run as root (buildah's chroot isolation and mmdebstrap need it here)")
    for tool in ("buildah", "mmdebstrap", "git"):
        if shutil.which(tool) is None:
            fail(f"{tool} is not installed: apt-get update && apt-get install buildah mmdebstrap")

    verified: list[str] = []
    skipped: list[str] = []
    base, how = choose_base(args.base)
    if base != dockerfile_base():
        skipped.append(f"pinned base ({how})")
    downloads, why = python_downloads(args.python_downloads)
    say(f"building {IMAGE} on {base} with PYTHON_DOWNLOADS={downloads} ({why}) ...")
    seconds = build(base, downloads)
    say(f"built in {seconds:.0f} s")

    container = run(["buildah", "from", "--quiet", IMAGE]).strip()
    try:
        manifest = json.loads(in_image(container, "cat", "/usr/local/lib/layer-ci/runtimes.json"))
        safe = in_image(container, "git", "config", "--system", "--get-all", "safe.directory").split()
        user = in_image(container, "id", "-u", "layer-ci").strip()
        cache_user = in_image(container, "id", "-u", "layer-ci-cache").strip()
        util = in_image(container, "sh", "-c", "command -v unshare && command -v setpriv").split()
    finally:
        subprocess.run(["buildah", "rm", container], capture_output=True, check=False)
    if safe != [WORKSPACE]:
        fail(f"git safe.directory in the image is {safe}, expected exactly [{WORKSPACE}]")
    if user != "10001" or cache_user != "10002" or len(util) != 2:
        fail(
            f"layer-ci user uid {user!r}, layer-ci-cache uid {cache_user!r}, unshare/setpriv {util}: "
            "expected uids 10001 and 10002 and both tools"
        )
    installed: dict[str, dict[str, str]] = manifest["installed"]
    from layer_ci.lambda_spec.runtimes import image_runtimes

    wanted = [row.name for row in (*image_runtimes("python"), *image_runtimes("nodejs"))]
    missing = [name for name in wanted if name not in installed and name not in manifest["skipped"]]
    if missing:
        fail(f"the image has neither an interpreter nor a recorded skip for {missing}")
    verified.append(
        "interpreters "
        + ", ".join(f"{name} ({installed[name]['version']})" for name in wanted if name in installed)
    )
    if manifest["skipped"]:
        skipped.append(f"{', '.join(name for name in wanted if name in manifest['skipped'])} ({why})")
    verified.append(f"safe.directory exactly {WORKSPACE}, user layer-ci uid 10001, unshare and setpriv")

    from tests.support.github_standin import GitHubStandIn

    standin = GitHubStandIn().start()
    try:
        with tempfile.TemporaryDirectory(prefix="layer-ci-image-check-") as scratch:
            work = Path(scratch)
            workspace, bare, head = prepare_workspace(work)
            standin.add_repo(REPOSITORY, git_dir=bare)
            files, workflow, probes, home, runner_temp = (
                work / "file_commands",
                work / "workflow",
                work / "probes",
                work / "home",
                work / "runner_temp",
            )
            for folder in (files, workflow, home, runner_temp):
                folder.mkdir()
            probes.mkdir(mode=0o1777)
            probes.chmod(0o1777)  # the tests write here as whichever user the sandbox runs them as
            (files / "output").write_text("")
            (files / "summary").write_text("")
            payload = {
                "ref": "refs/heads/main",
                "after": head,
                "repository": {"full_name": REPOSITORY, "default_branch": "main", "name": "shop"},
                "sender": {"login": "octocat"},
            }
            (workflow / "event.json").write_text(json.dumps(payload))
            env = action_environment(standin.url, standin.web_url, standin.token, head)
            mounts = {}
            if HOST_CA_BUNDLE.is_file():
                # As on a self-hosted runner behind a TLS-intercepting proxy: the machine's CAs, named by
                # SSL_CERT_FILE (which layer-ci hands to its installers), so uv reaches PyPI.
                mounts[HOST_CA_BUNDLE] = "/run/host-ca-bundle.crt:ro"
                env["SSL_CERT_FILE"] = "/run/host-ca-bundle.crt"
            mounts |= {
                workspace: WORKSPACE,
                files: "/github/file_commands",
                workflow: "/github/workflow",
                home: "/github/home",
                runner_temp: "/github/runner_temp",
                probes: PROBES,
                bare: str(bare),
            }
            say("running the entry point on a push to main (publish locally, test every consumer) ...")
            code, output, first_line, total = start_container(image_entrypoint(), env, mounts)
            say(f"container start to first layer-ci output: {first_line:.2f} s; whole run {total:.1f} s")
            summary_text = (files / "summary").read_text()
            (ROOT / ".image-check.log").write_text(f"{output}\n==== step summary ====\n{summary_text}")
            if code != 0:
                tail = "\n".join(output.strip().splitlines()[-30:])
                fail(f"the entry point exited {code} (full output in .image-check.log):\n{tail}")
            from layer_ci.report.workflow_commands import parse_output_file

            outputs = parse_output_file((files / "output").read_text())
            summary = (files / "summary").read_text()
            published = json.loads(outputs.get("published") or "{}")
            if (
                set(published) != {"common-deps", "tools", "node-tools"}
                or outputs.get("tests-passed") != "true"
            ):
                fail(
                    "expected common-deps, tools and node-tools published and tests passed; "
                    f"outputs: {outputs}"
                )
            registry = workspace / ".layer-ci"
            if not registry.is_dir():
                fail("nothing was published to the local registry under .layer-ci/")
            arns = ", ".join(
                arn.rsplit(":", 2)[-2] + " v" + arn.rsplit(":", 1)[-1]
                for regions in published.values()
                for arn in regions.values()
            )
            verified.append(f"push published {arns} to the local registry")
            # common-deps (wheels from PyPI alone) installs as layer-ci-cache, the one user of the lasting
            # wheel cache; the test sandbox's user (layer-ci) must own nothing there.
            build_cache = home / ".cache" / "layer-ci" / "build-cache"
            owners = {path.lstat().st_uid for path in build_cache.rglob("*")}
            wheels = list((build_cache / f"uv-uid{cache_user}").rglob("*.dist-info"))
            if not wheels or owners - {0, int(cache_user)}:
                fail(
                    f"lasting wheel cache {build_cache}: {len(wheels)} wheels, owners {sorted(owners)}, "
                    f"expected wheels of uid {cache_user}"
                )
            verified.append(f"wheels cached as uid {cache_user} alone")
            facts = {path.stem: json.loads(path.read_text()) for path in probes.glob("*.json")}
            for function, family in (("catalog", "Python"), ("labels", "Node.js")):
                seen = facts.get(function)
                if seen is None or f"| {function} |" not in summary:
                    fail(f"{function}'s probe test did not run (probes: {sorted(facts)})")
                if seen["uid"] != int(user):
                    # The container runs as root; untrusted code must not (it could read the secrets).
                    fail(f"{function}'s tests ran as uid {seen['uid']}, not as the layer-ci user ({user})")
                verified.append(
                    f"{function} tested on {seen['runtime']} with {family} {seen['version']} "
                    f"as uid {seen['uid']}"
                )
            opt = [seen.get("opt_read") for seen in facts.values()]
            if all(value is True for value in opt):
                verified.append("absolute /opt read by catalog and labels")
            else:
                skipped.append(
                    f"real /opt: not available in this build (absolute /opt read answered {opt[0]!r})"
                )
            verified.append(f"container start to first output line {first_line:.2f} s")
    finally:
        standin.stop()
    print(
        f"image-check: OK: verified {'; '.join(verified)}. "
        f"Skipped: {'; '.join(skipped) if skipped else 'nothing'}.",
        flush=True,
    )


if __name__ == "__main__":
    main()
