"""A layer's own files beside its dependency manifest, chosen the way ``sam build`` chooses them.

python (aws-lambda-builders' PythonPipWorkflow): every file of the source folder goes under ``python/``
except names matching its EXCLUDED_FILES at any depth (caches, VCS, virtualenvs, editors, ``*.so``,
``*.egg-info``) and what never goes in a layer (config/build_rules.py: left_out, which the input key
follows too); layer-ci also leaves out the requirements file itself.
nodejs (NodejsNpmWorkflow): what ``npm pack`` would put in the package (``files`` in package.json,
``.npmignore``/``.gitignore``; never ``node_modules``) goes under ``nodejs/``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from layer_ci.adapters import sandbox
from layer_ci.build.command import (
    DEFAULT_TIMEOUT_S,
    installer_cache,
    installer_env,
    output_head,
    run_untrusted,
    untrusted_dirs,
)
from layer_ci.config.build_rules import NEVER_IN_A_LAYER, NODE_LOCK_FILES, NODEJS_EXCLUDES, left_out
from layer_ci.errors import BuildError
from layer_ci.model import LayerSpec


def python_own_files(spec: LayerSpec, requirements: Path) -> list[str]:
    """Source-relative POSIX paths of the layer's own files (and links), in a stable order."""
    left = left_out(spec)
    skip = os.path.realpath(requirements)
    found: list[str] = []
    for folder, dirnames, filenames in os.walk(spec.source):
        kept = []
        for name in sorted(dirnames):
            if name in left:
                continue
            if os.path.islink(os.path.join(folder, name)):
                filenames.append(
                    name
                )  # a link to a folder is shipped as a link; the zipper checks its target
            else:
                kept.append(name)
        dirnames[:] = kept
        for name in sorted(filenames):
            path = os.path.join(folder, name)
            if name in left or os.path.realpath(path) == skip:
                continue
            found.append(Path(path).relative_to(spec.source).as_posix())
    return sorted(found)


def npm_path(spec: LayerSpec) -> str:
    """The npm a nodejs layer is built with; a BuildError naming the layer when there is none."""
    npm = shutil.which("npm")
    if npm is None:
        raise BuildError(f"layer {spec.name}: npm is not installed; install Node.js (with npm 10 or newer)")
    return npm


def run_npm(
    argv: Sequence[str],
    cwd: Path,
    work: Path,
    what: str,
    *,
    timeout_s: float,
    runs_no_code: bool = False,
    cache_dir: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """npm in the sandbox, never as root: it reads what the layer's files name (a lock's ``file:`` tarball,
    an .npmrc's cache folder) as a user that cannot read or write root's files.

    ``runs_no_code`` (npm ci --ignore-scripts of registry tarballs alone) runs it as the lasting cache's
    user, where there is one (sandbox.cache_keeper); ``cwd`` is handed to whoever runs it, to write in.
    """
    isolation = sandbox.isolation()
    keeper = sandbox.cache_keeper(isolation) if runs_no_code else None
    isolation, cache = installer_cache(isolation, keeper, cache_dir, work / "npm-cache")
    env = installer_env()
    # npm looks for its project from its folder upward, up to /tmp, where the sandbox's user may leave a
    # package.json naming this folder a workspace of its own, with its .npmrc (a `git` program to run).
    full = [*argv, "--no-workspaces"]
    if keeper is not None:
        full.append("--git=/bin/false")  # whatever slips past the lock check: no git runs as the keeper
    reachable = [cwd, Path(full[0])]
    if cache is not None:
        npm_cache = sandbox.owned_folder(isolation, cache / "npm")
        full.append(f"--cache={npm_cache}")  # beats an npm_config_cache or .npmrc naming another
        reachable.append(npm_cache)
    node = shutil.which("node", path=env["PATH"])
    unveil = sandbox.require_reachable(
        isolation, [*reachable, *([Path(node)] if node else [])], what, repair_under=work.parent
    )
    with untrusted_dirs(isolation, env, [cwd]):
        return run_untrusted(
            full, cwd=cwd, env=env, timeout_s=timeout_s, what=what, isolation=isolation, unveil=unveil
        )


def nodejs_own_files(spec: LayerSpec, work: Path, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> list[str]:
    """What ``npm pack`` would ship from the layer's folder (package.json and lock files left out)."""
    npm = npm_path(spec)
    # npm pack insists on a name and version, which a layer's package.json rarely has: ask it about a
    # copy with both filled in, leaving node_modules (never packed) behind.
    probe = work / "pack-probe"
    shutil.copytree(
        spec.source, probe, symlinks=True, ignore=shutil.ignore_patterns(*NEVER_IN_A_LAYER, *NODEJS_EXCLUDES)
    )
    manifest = probe / "package.json"
    try:
        data = json.loads(manifest.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise BuildError(
            f"layer {spec.name}: {spec.source / 'package.json'} is not valid JSON ({exc}); fix it"
        ) from exc
    if not isinstance(data, dict):
        raise BuildError(f"layer {spec.name}: {spec.source / 'package.json'} is not a JSON object; fix it")
    data.setdefault("name", "layer-ci-probe")
    data.setdefault("version", "0.0.0")
    manifest.write_text(json.dumps(data), "utf-8")
    argv = [
        npm,
        "pack",
        "--dry-run",
        "--json",
        "--ignore-scripts",
        "--no-update-notifier",
        "--loglevel=error",
    ]
    what = f"layer {spec.name}: npm pack --dry-run"
    # npm reads the folder's .npmrc (a cache or log folder anywhere) and runs as an installer would.
    completed = run_npm(argv, probe, work, what, timeout_s=timeout_s)
    if completed.returncode != 0:
        raise BuildError(f"{what} failed: {output_head(completed.stdout)}")
    try:
        start = re.search(r"^\[", completed.stdout, re.MULTILINE)
        listing, _end = json.JSONDecoder().raw_decode(completed.stdout[start.start() if start else 0 :])
        paths = [str(item["path"]) for item in listing[0]["files"]]
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise BuildError(f"{what} printed no file list ({exc}): {output_head(completed.stdout)}") from exc
    skipped = {"package.json", *NODE_LOCK_FILES}
    return sorted(path for path in paths if path not in skipped and (spec.source / path).exists())


def copy_own_files(spec: LayerSpec, paths: list[str], destination: Path) -> None:
    """Copy ``paths`` (relative to the layer's source) into ``destination``; a clash with an installed
    dependency's file is refused, since one of the two would silently be lost."""
    for relative in paths:
        source = spec.source / relative
        target = destination / relative
        if target.exists() or target.is_symlink():
            raise BuildError(
                f"layer {spec.name}: {relative} in {spec.source} clashes with a file the dependency install "
                f"put at {destination.name}/{relative}; rename your module or drop the dependency"
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            os.symlink(os.readlink(source), target)
        else:
            shutil.copyfile(source, target)
            if os.access(source, os.X_OK):
                target.chmod(0o755)
