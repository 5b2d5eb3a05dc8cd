"""The ``nodejs`` build method: ``npm ci`` the locked production dependencies into ``nodejs/node_modules``."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from layer_ci.build.command import DEFAULT_TIMEOUT_S, output_head
from layer_ci.build.normalise import normalise_tree
from layer_ci.build.source_files import copy_own_files, nodejs_own_files, npm_path, run_npm
from layer_ci.build.zipper import tree_digest
from layer_ci.config.build_rules import node_lock_file, require_buildable
from layer_ci.errors import BuildError
from layer_ci.model import LayerSpec

# npm's names for Lambda's architectures (its --cpu values follow Node's process.arch).
NPM_CPU = {"x86_64": "x64", "arm64": "arm64"}


def lock_file(spec: LayerSpec) -> Path:
    """The layer's npm lock file (``build.requirements`` or the usual names), beside its package.json."""
    require_buildable(spec)  # the rules the config loader applies: lock file present, package.json beside it
    lock = node_lock_file(spec)
    assert lock is not None  # require_buildable refuses a nodejs layer without one
    return lock


def build_nodejs(
    spec: LayerSpec,
    staging: Path,
    work: Path,
    *,
    cache_dir: Path | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> None:
    """Install the locked production dependencies into ``staging/nodejs`` for the layer's architecture(s)."""
    lock = lock_file(spec)
    npm = npm_path(spec)
    registry_only = _registry_tarballs_only(lock)
    builds: dict[str, Path] = {}
    for architecture in spec.compatible_architectures:
        folder = work / architecture / "nodejs"
        folder.mkdir(parents=True)
        shutil.copyfile(lock.parent / "package.json", folder / "package.json")
        shutil.copyfile(lock, folder / lock.name)
        argv = [
            npm, "ci",
            "--omit=dev", "--ignore-scripts",  # install scripts run arbitrary code and build for this host
            "--no-audit", "--no-fund", "--no-update-notifier",
            f"--cpu={NPM_CPU[architecture]}", "--os=linux", "--libc=glibc",
        ]  # fmt: skip
        what = f"layer {spec.name}: npm ci for {architecture}"
        completed = run_npm(
            argv, folder, work, what, timeout_s=timeout_s, runs_no_code=registry_only, cache_dir=cache_dir
        )
        if completed.returncode != 0:
            # npm states the problem first, then prints usage and a log path: its head is what matters.
            raise BuildError(f"{what} failed: {output_head(completed.stdout)}")
        # No ELF architecture check here: packages built with node-gyp-build ship prebuilt binaries for
        # every platform side by side and load the right one at run time.
        # npm's hidden lock file, which `sam build` removes too (NodejsNpmLockFileCleanUpAction).
        (folder / "node_modules" / ".package-lock.json").unlink(missing_ok=True)
        normalise_tree(folder)
        builds[architecture] = folder
    if len({tree_digest(folder) for folder in builds.values()}) > 1:
        raise BuildError(
            f"layer {spec.name}: node_modules differ between {' and '.join(builds)} (platform-specific "
            "packages), and one zip cannot hold both; split it into one layer per architecture"
        )
    shutil.move(builds[spec.compatible_architectures[0]], staging / "nodejs")
    # The folder's own files (what `npm pack` would ship) sit beside package.json, as `sam build` puts them.
    copy_own_files(spec, nodejs_own_files(spec, work, timeout_s=timeout_s), staging / "nodejs")


def _registry_tarballs_only(lock: Path) -> bool:
    """Whether every package npm ci installs is a tarball from a registry, checked by its integrity.

    ``npm ci --ignore-scripts`` of such a lock runs no code of its packages', so it may keep a lasting
    cache (sandbox.cache_keeper). npm re-resolves a dependency whose package.json spec the lock does not
    match before it compares the two, so package.json's specs must be registry ones too. A git dependency
    (git runs, and npm runs its prepare script to pack it), a ``file:`` tarball or folder, a link,
    workspaces, bundled dependencies or a lock of the old format keep the sandbox's user and a cache for
    the build alone.
    """
    try:
        data = json.loads(lock.read_text("utf-8"))
        manifest = json.loads((lock.parent / "package.json").read_text("utf-8"))
    except (OSError, ValueError):
        return False  # npm ci names the problem
    packages = data.get("packages") if isinstance(data, dict) else None
    if not isinstance(packages, dict) or not isinstance(manifest, dict):
        return False
    if any(manifest.get(field) for field in ("workspaces", "bundleDependencies", "bundledDependencies")):
        return False
    roots = [manifest, packages.get("", {})]
    specs = [
        spec
        for root in roots
        if isinstance(root, dict)
        for field in _DEPENDENCY_FIELDS
        for spec in _leaves(root.get(field, {}))
    ]
    if not all(_registry_spec(spec) for spec in specs):
        return False
    return all(
        isinstance(entry, dict)
        and not entry.get("link")
        and str(entry.get("resolved", "")).startswith("https://")
        and bool(entry.get("integrity"))
        for path, entry in packages.items()
        if path
    )


_DEPENDENCY_FIELDS = (
    "dependencies", "devDependencies", "optionalDependencies", "peerDependencies", "overrides",
)  # fmt: skip
# A semver range or a dist-tag: no path, URL, git host shorthand (user/repo) or protocol.
_RANGE_OR_TAG = re.compile(r"[\w.\-^~<>=|*+ ]*")
_PACKAGE_NAME = re.compile(r"(@[\w.\-]+/)?[\w.\-]+")


def _registry_spec(spec: object) -> bool:
    """Whether a package.json dependency spec names a registry package (``^1.2``, ``latest``,
    ``npm:other@^2``, an override's ``$name``)."""
    if not isinstance(spec, str):
        return False
    if spec.startswith("npm:"):
        body = spec[4:]
        at = body.rfind("@")
        name, wanted = (body[:at], body[at + 1 :]) if at > 0 else (body, "")
        return bool(_PACKAGE_NAME.fullmatch(name)) and bool(_RANGE_OR_TAG.fullmatch(wanted))
    if spec.startswith("$"):
        return bool(_PACKAGE_NAME.fullmatch(spec[1:]))
    return bool(_RANGE_OR_TAG.fullmatch(spec))


def _leaves(value: object) -> list[object]:
    """The specs of a dependency table; overrides nest tables, keyed by package, with "." for its own."""
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in _leaves(item)]
    return [value]
