"""The ``python`` build method: install requirements for the runtimes' Python and architecture with uv.

Layout (see https://docs.aws.amazon.com/lambda/latest/dg/packaging-layers.html): a layer whose
installs are the same for every compatible Python version goes into ``python/`` (on sys.path for all
of them). When they differ — compiled wheels carry the interpreter's ABI in their file names, markers
pick other versions — each version gets ``python/lib/pythonX.Y/site-packages``, which the runtime of
that version alone puts on sys.path. A zip cannot hold two architectures' builds of the same import
name, so a layer compatible with x86_64 and arm64 must install identically for both (pure Python);
otherwise the build fails and suggests one layer per architecture.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from layer_ci.adapters import sandbox
from layer_ci.build.command import (
    DEFAULT_TIMEOUT_S,
    installer_cache,
    installer_env,
    output_tail,
    run_untrusted,
    untrusted_dirs,
)
from layer_ci.config.build_rules import (
    python_requirements,
    python_runtimes,
    require_buildable,
    requirement_target,
)
from layer_ci.errors import BuildError, UsageError
from layer_ci.fsutil import read_own_file
from layer_ci.model import Architecture, LayerSpec

Installer = Literal["uv", "pip"]
INSTALLER_ENV = "LAYER_CI_INSTALLER"
_RUNTIME = re.compile(r"^python(\d+)\.(\d+)$")
_HASH_OPTION = re.compile(r"--hash[=\s]")
# Lambda's Python runtimes up to 3.11 run on Amazon Linux 2 (glibc 2.26), later ones on Amazon Linux
# 2023 (glibc 2.34); a wheel's manylinux tag must not ask for a newer glibc than the runtime has.
_AL2023_FROM = (3, 12)
_GLIBC_AL2 = (2, 17)  # manylinux2014: the newest manylinux tag at or below AL2's glibc 2.26
_GLIBC_AL2023 = (2, 34)
_MACHINE = {"x86_64": "x86_64", "arm64": "aarch64"}
_ABI_SUFFIX = re.compile(r"\.cpython-(\d)(\d+)[-.]")
_UV_NO_WHEEL = (
    re.compile(r"Wheels are required for `([^`]+)`"),
    re.compile(
        r"(?:all versions of |\b)([A-Za-z0-9][A-Za-z0-9._-]*)(?:[=<>!~]=?\S*?)?"
        r" ha(?:s|ve) no (?:usable )?wheels"
    ),
)
_PIP_NO_WHEEL = re.compile(r"No matching distribution found for (\S+)")
_UV_PARSE_POSITION = re.compile(r"Couldn't parse requirement in `([^`]+)` at position ([0-9]+)")
# Requirements-file options that name no file on this machine (see _runs_no_code).
_INDEX_OPTIONS = frozenset({"-i", "--index-url", "--extra-index-url"})
_VALUE_OPTIONS = frozenset({"--hash", "--only-binary", "--trusted-host"})
_FLAG_OPTIONS = frozenset({"--pre", "--prefer-binary", "--require-hashes", "--no-index"})
_ARCHIVES = (".whl", ".zip", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".tar")
_COMMENT = re.compile(r"(?:^|\s)#.*")


@dataclass(frozen=True)
class PythonTarget:
    """One interpreter the layer is installed for: a Python version on a Lambda architecture."""

    version: str  # "3.12"
    architecture: Architecture

    @property
    def glibc(self) -> tuple[int, int]:
        return _GLIBC_AL2023 if _major_minor(self.version) >= _AL2023_FROM else _GLIBC_AL2

    @property
    def uv_platform(self) -> str:
        major, minor = self.glibc
        machine = _MACHINE[self.architecture]
        return (
            f"{machine}-manylinux2014"
            if (major, minor) == (2, 17)
            else f"{machine}-manylinux_{major}_{minor}"
        )

    @property
    def pip_platforms(self) -> tuple[str, ...]:
        # pip matches --platform tags literally, so every manylinux tag the runtime's glibc accepts is listed.
        machine = _MACHINE[self.architecture]
        major, newest = self.glibc
        tags = [f"manylinux_{major}_{minor}_{machine}" for minor in range(newest, 16, -1)]
        tags.append(f"manylinux2014_{machine}")
        if machine == "x86_64":
            tags += [
                "manylinux_2_12_x86_64",
                "manylinux2010_x86_64",
                "manylinux_2_5_x86_64",
                "manylinux1_x86_64",
            ]
        return tuple(tags)

    def describe(self) -> str:
        return f"python{self.version} on {self.architecture}"


def _major_minor(version: str) -> tuple[int, int]:
    """``(3, 12)`` for ``"3.12"``: the versions here come from runtime names, always two numbers."""
    major, minor = version.split(".")
    return int(major), int(minor)


def python_versions(spec: LayerSpec) -> tuple[str, ...]:
    """The distinct ``X.Y`` versions of the layer's python runtimes, oldest first."""
    versions = {f"{m.group(1)}.{m.group(2)}" for r in python_runtimes(spec) if (m := _RUNTIME.match(r))}
    if not versions:
        require_buildable(spec)  # words the missing runtimes as the config loader does
    return tuple(sorted(versions, key=_major_minor))


def choose_installer() -> Installer:
    """uv when it is installed (the fast path), pip otherwise; ``LAYER_CI_INSTALLER`` forces one."""
    wanted = os.environ.get(INSTALLER_ENV, "").strip().lower()
    if wanted not in ("", "auto", "uv", "pip"):
        raise UsageError(f"{INSTALLER_ENV}={wanted!r}: unknown installer; use uv, pip or auto")
    if wanted == "pip":
        return "pip"
    if _uv_binary() is not None:
        return "uv"
    if wanted == "uv":
        raise BuildError(
            f"{INSTALLER_ENV}=uv but uv is not installed; pip install uv, or unset {INSTALLER_ENV}"
        )
    return "pip"


@functools.cache
def _uv_binary() -> str | None:
    # The uv installed with layer-ci sits beside the interpreter running it (a venv's or the image's bin/):
    # found there without the uv package's lookup, which loads sysconfig (~2 ms of every build).
    beside = os.path.join(os.path.dirname(sys.executable), "uv")
    if os.path.isfile(beside) and os.access(beside, os.X_OK):
        return beside
    try:
        from uv import find_uv_bin
    except ImportError:
        return None
    try:
        return str(find_uv_bin())
    except FileNotFoundError:
        return None


def requirements_file(spec: LayerSpec) -> Path:
    """The layer's requirements or lock file, which must exist inside its source folder."""
    require_buildable(spec)  # the rules the config loader applies, the requirements file among them
    return (spec.source / python_requirements(spec)).resolve()


def build_python(
    spec: LayerSpec,
    staging: Path,
    work: Path,
    *,
    cache_dir: Path | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    while_installing: Callable[[], None] | None = None,
) -> None:
    """Install the layer's requirements into ``staging/python`` (or per-version site-packages).

    ``while_installing`` is called once, while the first install runs (build_layer loads its tools then).
    """
    requirements = requirements_file(spec)
    try:
        text = requirements.read_text("utf-8")
    except UnicodeDecodeError as exc:
        line = requirements.read_bytes()[: exc.start].count(b"\n") + 1
        raise BuildError(
            f"{requirements}:{line}: not UTF-8 text (byte {exc.start}); save the requirements file as UTF-8"
        ) from None
    require_hashes = spec.build.require_hashes or bool(_HASH_OPTION.search(text))
    installer = choose_installer()
    versions = python_versions(spec)
    builds: dict[PythonTarget, Path] = {}
    pending = while_installing
    # build_layer normalises the whole staged tree afterwards. Installs are normalised here too only when
    # there are several to compare (identical trees across versions and architectures are shipped once):
    # a second pass over one install rewrote every RECORD again for nothing.
    compared = len(spec.compatible_architectures) * len(versions) > 1
    for architecture in spec.compatible_architectures:
        for version in versions:
            target = PythonTarget(version, architecture)
            folder = work / f"{architecture}-python{version}"
            _install(
                spec, target, folder, requirements, installer, require_hashes, cache_dir, timeout_s, pending
            )
            pending = None
            # Loaded while the first install ran (build_layer's FINISHING_MODULES).
            from layer_ci.build.elf import require_architecture
            from layer_ci.build.normalise import normalise_tree

            if compared:
                normalise_tree(folder)
            require_architecture(folder, architecture, spec.name)
            _require_abi(folder, target, spec.name)
            builds[target] = folder
    _require_same_across_architectures(spec, versions, builds)
    first_architecture = spec.compatible_architectures[0]
    per_version = {version: builds[PythonTarget(version, first_architecture)] for version in versions}
    from layer_ci.build.source_files import copy_own_files, python_own_files
    from layer_ci.build.zipper import tree_digest

    if len(per_version) == 1 or len({tree_digest(folder) for folder in per_version.values()}) == 1:
        shutil.move(per_version[versions[0]], staging / "python")
    else:
        for version, folder in per_version.items():
            site_packages = staging / "python" / "lib" / f"python{version}" / "site-packages"
            site_packages.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(folder, site_packages)
    # The folder's own modules go beside the installs, into python/ (on sys.path for every version), as
    # `sam build` puts them; see source_files.py for what is left out.
    (staging / "python").mkdir(exist_ok=True)
    copy_own_files(spec, python_own_files(spec, requirements), staging / "python")


def _install(
    spec: LayerSpec,
    target: PythonTarget,
    folder: Path,
    requirements: Path,
    installer: Installer,
    require_hashes: bool,
    cache_dir: Path | None,
    timeout_s: float,
    while_waiting: Callable[[], None] | None = None,
) -> None:
    folder.mkdir(parents=True)
    isolation = sandbox.isolation()
    from layer_ci.build.local_requirements import copy_local_folders

    repository = _repository_of(spec.source)

    def copyable(local_folder: Path) -> None:
        # Copied by layer-ci and handed to the installer's user: never a folder beyond the checkout
        # (`-e /root/.ssh`), which that user could not have read in place.
        real = os.path.realpath(local_folder)
        if os.path.commonpath([repository, real]) != repository:
            raise BuildError(
                f"layer {spec.name}: local package {local_folder} lies outside the repository "
                f"({repository}); move it into the repository"
            )

    local = copy_local_folders(
        requirements,
        folder.with_name(f"{folder.name}-local"),
        may_read=functools.partial(sandbox.may_read, isolation) if isolation.drop else None,
        check_folder=copyable,
    )
    install_from = local.requirements if local else requirements
    for copy in local.folders if local else ():
        sandbox.give_tree(isolation, copy)
    # uv reads the settings of the folder it runs in and of every folder above it, up to /tmp, where the
    # sandbox's user (a daemon an earlier install left) may write: root's installs read a repository's own
    # only, and only as that user.
    drop = isolation.drop is not None
    repository_settings = drop and installer == "uv" and _repository_uv_settings(spec.source)
    keeper = None
    if drop and local is None and not repository_settings and _runs_no_code(spec, installer, requirements):
        keeper = sandbox.cache_keeper(isolation)
    cwd = spec.source
    if keeper is not None:
        # uv --no-build runs no code of the requirements': it runs as the user of the lasting cache, one
        # no code runs as, outside the checkout.
        cwd = folder.parent
    isolation, cache_dir = installer_cache(isolation, keeper, cache_dir, folder.parent / "installer-cache")
    if installer == "uv":
        argv = _uv_argv(
            spec,
            target,
            folder,
            install_from,
            require_hashes,
            cache_dir,
            isolation,
            no_build=keeper is not None,
            read_settings=not drop or repository_settings,
        )
    else:
        argv = _pip_argv(spec, target, folder, install_from, require_hashes, cache_dir, isolation)
    what = f"layer {spec.name}: {installer} install for {target.describe()}"
    # The installer runs sdists' setup.py (untrusted code): it gets its own settings, never layer-ci's
    # secrets, and runs in the sandbox so it cannot read them from layer-ci's /proc/<pid>/environ either.
    env = installer_env()
    unveil = sandbox.require_reachable(
        isolation,
        [install_from, folder, cwd, Path(sys.executable), Path(argv[0]), *_cache_dirs(argv)],
        what,
        repair_under=folder.parent.parent,
    )
    with untrusted_dirs(isolation, env, [folder]):
        completed = run_untrusted(
            argv,
            cwd=cwd,
            env=env,
            timeout_s=timeout_s,
            what=what,
            isolation=isolation,
            while_waiting=while_waiting,
            unveil=unveil,
        )
    if completed.returncode != 0:
        missing = missing_wheel(completed.stdout, installer)
        if missing and spec.build.binary_only:
            raise BuildError(
                f"layer {spec.name}: no wheel of {missing} for {target.describe()} "
                f"(manylinux glibc {target.glibc[0]}.{target.glibc[1]}) in {requirements.name}; pin a "
                "version that publishes one, or set build.binary_only: false if it is pure Python"
            )
        where = requirements.name
        if (line := _parse_error_line(completed.stdout, install_from)) is not None:
            where += f":{line}"
        raise BuildError(f"{what} failed ({where}): {output_tail(completed.stdout)}")
    # uv's lock file for concurrent installs into the same target: not part of the layer.
    (folder / ".lock").unlink(missing_ok=True)


def _runs_no_code(spec: LayerSpec, installer: Installer, requirements: Path) -> bool:
    """Whether uv --no-build installs these requirements as they read: wheels from indexes alone.

    Such an install runs no code of theirs, so it may keep its cache beyond the build (see
    sandbox.cache_keeper). Anything else keeps the sandbox's own user and a cache for that build alone: a
    path, a file: URL, another requirements file or an ${VARIABLE} (read on the file's behalf), a VCS URL
    (git runs) and a file's own --no-binary (uv refuses it with --no-build). A repository's own uv
    settings keep the sandbox's user too (see _install).
    """
    if installer != "uv" or not spec.build.binary_only:
        return False
    try:
        text = requirements.read_text("utf-8")
    except (OSError, UnicodeDecodeError):
        return False  # the sandboxed install names the problem
    return all(_names_only_index_packages(line) for line in _logical_lines(text))


def _logical_lines(text: str) -> list[str]:
    """Lines as pip and uv read them: a trailing backslash continues a line, but never a comment's."""
    lines: list[str] = []
    pending = ""
    for physical in text.removeprefix("\ufeff").splitlines():
        line = pending + physical
        if line.endswith("\\") and not _COMMENT.search(line):
            pending = line[:-1] + " "
            continue
        lines.append(line)
        pending = ""
    return [*lines, pending] if pending else lines


def _names_only_index_packages(raw: str) -> bool:
    line = _COMMENT.sub("", raw).strip()
    if not line:
        return True
    if "${" in line or "file:" in line:
        return False
    tokens = line.split()
    if line.startswith("-"):
        return _plain_options(tokens)
    if not line[0].isalnum():
        return False  # not a package name: something uv may read otherwise (a BOM, a path)
    match = requirement_target(line)
    target = match["target"] if match else ""
    remote = target.startswith(("https://", "http://"))
    if not remote and ("://" in target or "/" in target or target.lower().endswith(_ARCHIVES)):
        return False  # a path (uv reads `dist/x.whl` as one) or a VCS URL (git runs)
    return all(token.startswith("--hash") for token in tokens if token.startswith("-"))


def _plain_options(tokens: list[str]) -> bool:
    index = 0
    while index < len(tokens):
        name, equals, value = tokens[index].partition("=")
        if name in _INDEX_OPTIONS or name in _VALUE_OPTIONS:
            if not equals:
                index += 1
                value = tokens[index] if index < len(tokens) else ""
            if name in _INDEX_OPTIONS and not value.startswith(("https://", "http://")):
                return False
        elif name not in _FLAG_OPTIONS:
            return False  # -r, -c, -e, -f and whatever else may name a path
        index += 1
    return True


def _repository_uv_settings(source: Path) -> bool:
    """Whether uv.toml or a pyproject.toml with a [tool.uv] table lies in ``source`` or above it in the
    checkout; a pyproject.toml that cannot be read as a file (a link, a FIFO, beyond 4 MiB, not TOML)
    counts as having settings, for the sandbox's user's install to read or reject."""
    repository = _repository_of(source)
    real = os.path.realpath(source)
    for folder in [real, *map(str, Path(real).parents)]:
        if os.path.lexists(os.path.join(folder, "uv.toml")):
            return True
        pyproject = Path(folder, "pyproject.toml")
        if os.path.lexists(pyproject):
            data = read_own_file(pyproject, limit=4 << 20, deny_mode=0, owner_only=False)
            if data is None:
                return True
            import tomllib

            try:
                tool = tomllib.loads(data.decode("utf-8")).get("tool")
            except (UnicodeDecodeError, tomllib.TOMLDecodeError):
                return True
            if isinstance(tool, dict) and "uv" in tool:
                return True
        if folder == repository:
            break
    return False


def _repository_of(source: Path) -> str:
    """The checkout holding a layer's folder: the nearest folder above it with .git or layer-ci.yml."""
    real = os.path.realpath(source)
    for folder in [real, *map(str, Path(real).parents)]:
        if any(os.path.lexists(os.path.join(folder, mark)) for mark in (".git", "layer-ci.yml")):
            return folder
    return real


def _parse_error_line(output: str, requirements: Path) -> int | None:
    """The requirements file's line uv could not parse: uv names a byte offset, people read lines."""
    match = _UV_PARSE_POSITION.search(output)
    if match is None or Path(match[1]).name != requirements.name:  # an error in a nested -r file
        return None
    try:
        data = requirements.read_bytes()
    except OSError:
        return None
    offset = int(match[2])
    return data.count(b"\n", 0, offset) + 1 if offset <= len(data) else None


def _cache_dirs(argv: Sequence[str]) -> list[Path]:
    """The installer's cache folder, named after ``--cache-dir``."""
    return [Path(argv[index + 1]) for index, arg in enumerate(argv[:-1]) if arg == "--cache-dir"]


def _uv_argv(
    spec: LayerSpec,
    target: PythonTarget,
    folder: Path,
    requirements: Path,
    require_hashes: bool,
    cache_dir: Path | None,
    isolation: sandbox.Isolation,
    *,
    no_build: bool = False,
    read_settings: bool = False,
) -> list[str]:
    uv = _uv_binary()
    assert uv is not None  # choose_installer() only picks uv when it is there
    argv = [
        uv, "pip", "install",
        "--target", str(folder),
        "--python", sys.executable,
        "--python-version", target.version,
        "--python-platform", target.uv_platform,
        "--no-compile-bytecode",
        # Hard links are the fastest way out of uv's cache (a copy costs more than the install). They share
        # inodes with the cache, so normalise_tree writes only through new inodes and never chmods a
        # linked file. Named explicitly: a user's UV_LINK_MODE=symlink would point out of the layer.
        "--link-mode", "hardlink",
        "-r", str(requirements),
    ]  # fmt: skip
    if not read_settings:
        argv.append("--no-config")
    if no_build:
        # What lets the lasting cache's user run it (_runs_no_code): like --only-binary :all:, but local
        # folders cannot ask for a build either.
        argv.append("--no-build")
    elif spec.build.binary_only:
        argv += ["--only-binary", ":all:"]
    if require_hashes:
        argv.append("--require-hashes")
    if cache_dir is not None:
        argv += ["--cache-dir", str(sandbox.owned_folder(isolation, cache_dir / "uv"))]
    return argv


def _pip_argv(
    spec: LayerSpec,
    target: PythonTarget,
    folder: Path,
    requirements: Path,
    require_hashes: bool,
    cache_dir: Path | None,
    isolation: sandbox.Isolation,
) -> list[str]:
    argv = [
        sys.executable, "-m", "pip", "install",
        "--target", str(folder),
        "--no-compile", "--no-input", "--disable-pip-version-check", "--no-warn-script-location",
        "-r", str(requirements),
    ]  # fmt: skip
    if spec.build.binary_only:
        for tag in target.pip_platforms:
            argv += ["--platform", tag]
        argv += ["--python-version", target.version, "--implementation", "cp", "--only-binary=:all:"]
    elif not _is_host(target):
        # pip builds sdists with this interpreter for this machine; only uv can resolve for another target.
        raise BuildError(
            f"layer {spec.name}: build.binary_only: false with pip needs the target "
            f"({target.describe()}) to be this machine; install uv (pip install uv) or set binary_only: true"
        )
    if require_hashes:
        argv.append("--require-hashes")
    if cache_dir is not None:
        argv += ["--cache-dir", str(sandbox.owned_folder(isolation, cache_dir / "pip"))]
    return argv


def _is_host(target: PythonTarget) -> bool:
    host_version = f"{sys.version_info.major}.{sys.version_info.minor}"
    host_machine = os.uname().machine.lower().replace("amd64", "x86_64").replace("arm64", "aarch64")
    return (
        sys.platform == "linux"
        and host_version == target.version
        and host_machine == _MACHINE[target.architecture]
    )


def missing_wheel(output: str, installer: Installer) -> str | None:
    """The requirement an installer could find no wheel for, parsed from its error output."""
    if installer == "pip":
        match = _PIP_NO_WHEEL.search(output)
        if not match:
            return None
        # Imported on this error path only: packaging.requirements pulls in markers, tags and platform.
        from packaging.requirements import InvalidRequirement, Requirement

        try:
            return Requirement(match.group(1)).name
        except InvalidRequirement:
            return match.group(1)
    for pattern in _UV_NO_WHEEL:
        if match := pattern.search(output):
            return match.group(1)
    return None


def _require_abi(folder: Path, target: PythonTarget, layer: str) -> None:
    """Refuse extension modules compiled for another Python (an sdist built by the build interpreter)."""
    wanted = target.version.replace(".", "")
    for path in sorted(folder.rglob("*.so")):
        match = _ABI_SUFFIX.search(path.name)
        if match and match.group(1) + match.group(2) != wanted:
            raise BuildError(
                f"layer {layer}: {path.relative_to(folder).as_posix()} is built for CPython "
                f"{match.group(1)}.{match.group(2)}, not {target.version}; use binary wheels "
                f"(binary_only: true) or build on python{target.version}"
            )


def _require_same_across_architectures(
    spec: LayerSpec, versions: tuple[str, ...], builds: dict[PythonTarget, Path]
) -> None:
    if len(spec.compatible_architectures) < 2:
        return
    from layer_ci.build.zipper import tree_digest

    first, second = spec.compatible_architectures[:2]
    for version in versions:
        left, right = builds[PythonTarget(version, first)], builds[PythonTarget(version, second)]
        if tree_digest(left) == tree_digest(right):
            continue
        differing = _differing_files(left, right)
        raise BuildError(
            f"layer {spec.name}: requirements install differently on {first} and {second} "
            f"(e.g. {', '.join(differing[:3])}), and one zip cannot hold both; split it into one layer per "
            "architecture (compatible_architectures: [x86_64] and [arm64])"
        )


def _differing_files(left: Path, right: Path) -> list[str]:
    from layer_ci.build.zipper import list_entries

    def files(root: Path) -> dict[str, str]:
        return {entry.name: _file_digest(entry.path) for entry in list_entries(root) if entry.kind != "dir"}

    left_files, right_files = files(left), files(right)
    names = sorted(set(left_files) | set(right_files))
    return [name for name in names if left_files.get(name) != right_files.get(name)]


def _file_digest(path: Path) -> str:
    if path.is_symlink():
        return "link:" + os.readlink(path)
    from layer_ci.build.zipper import sha256_file

    return sha256_file(path)
