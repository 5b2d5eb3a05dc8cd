"""What a layer's build needs that its config alone can show: one rule set for the loader and the builders.

``layer-ci schema --check`` (and every command that loads the config) reports these as
``FILE:LINE: FIELD: problem; fix``; ``build`` refuses the same layer with the same words, so nothing
the config could have told is discovered only halfway through a build.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from layer_ci.errors import BuildError
from layer_ci.model import LayerSpec

DEFAULT_PYTHON_REQUIREMENTS = "requirements.txt"
NODE_LOCK_FILES = ("package-lock.json", "npm-shrinkwrap.json")
_PYTHON_RUNTIME = re.compile(r"^python(\d+)\.(\d+)$")

# What never goes from a layer's folder into its zip, whatever the build method, matched per name at
# any depth: layer-ci's own state (caches, builds, the local registry), git's database, bytecode caches
# (normalising drops every __pycache__) and macOS Finder files.
NEVER_IN_A_LAYER = (".layer-ci", ".git", "__pycache__", ".DS_Store")
# aws-lambda-builders python_pip/workflow.py EXCLUDED_FILES: what `sam build` leaves out of a python
# layer's own files ("*.x" matches names ending in ".x").
SAM_PYTHON_EXCLUDES = (
    ".aws-sam", ".chalice", ".git", ".gitignore",
    "*.pyc", "__pycache__", "*.so",
    ".Python", "*.egg-info", "*.egg",
    "pip-log.txt", "pip-delete-this-directory.txt",
    "htmlcov", ".tox", ".nox", ".coverage", ".cache", ".pytest_cache",
    ".python-version",
    ".mypy_cache", ".dmypy.json", ".pyre",
    ".env", ".venv", "venv", "venv.bak", "env.bak", "ENV", "env",
    ".vscode", ".idea",
)  # fmt: skip
# How a requirements line names a local package (pip's and uv's forms): a path or file: URL, as it is,
# after -e/--editable, or after `NAME @`.
_EDITABLE = r"(?:-e|--editable)(?:\s+|=)"
_DIRECT_TARGET = re.compile(rf"^(?P<head>\s*(?:{_EDITABLE})?)(?P<target>[^\s;#]+)")
_NAMED_TARGET = re.compile(
    rf"^(?P<head>\s*(?:{_EDITABLE})?[A-Za-z0-9][A-Za-z0-9._-]*\s*(?:\[[^\]]*\])?\s*@\s*)(?P<target>[^\s;#]+)"
)
_LOCAL_STARTS = ("./", "../", "/", "file:", "~/")
# A nodejs layer is package.json and its lock installed by npm: a node_modules folder left by a local
# `npm install` is an output, never packed.
NODEJS_EXCLUDES = ("node_modules",)


@dataclass(frozen=True)
class LeftOut:
    """Names (and ``*.suffix`` patterns) that a build leaves out of a layer wherever they stand."""

    names: frozenset[str]
    suffixes: tuple[str, ...]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (name in self.names or name.endswith(self.suffixes))

    @classmethod
    def of(cls, patterns: tuple[str, ...]) -> LeftOut:
        suffixes = tuple(pattern[1:] for pattern in patterns if pattern.startswith("*."))
        return cls(frozenset(pattern for pattern in patterns if not pattern.startswith("*")), suffixes)


_LEFT_OUT = {
    "python": LeftOut.of(NEVER_IN_A_LAYER + SAM_PYTHON_EXCLUDES),
    "nodejs": LeftOut.of(NEVER_IN_A_LAYER + NODEJS_EXCLUDES),
}
_NEVER = LeftOut.of(NEVER_IN_A_LAYER)


def left_out(spec: LayerSpec) -> LeftOut:
    """What ``spec``'s build leaves out of its folder: the one rule for the builders and the input key.

    The key hashes every other file, so an edit under a left-out name (a ``.venv``, a ``.pytest_cache``)
    never rebuilds, and any edit to what does reach the zip does. A nodejs layer's npm ``files`` and
    ``.npmignore`` rules narrow what it packs further; the key does not follow those.
    """
    return _LEFT_OUT.get(spec.build.method, _NEVER)


@dataclass(frozen=True)
class LayerProblem:
    """A reason the layer cannot be built: the config field (below ``layers.NAME``), what and the fix."""

    field: tuple[str, ...]
    problem: str
    fix: str

    def error(self, spec: LayerSpec) -> BuildError:
        where = ".".join(("layers", spec.name, *self.field))
        return BuildError(f"{spec.location}: {where}: {self.problem}; {self.fix}")


def python_runtimes(spec: LayerSpec) -> tuple[str, ...]:
    return tuple(runtime for runtime in spec.compatible_runtimes if _PYTHON_RUNTIME.match(runtime))


def python_requirements(spec: LayerSpec) -> str:
    """The python layer's requirements file, relative to its source: ``build.requirements`` or the default."""
    return spec.build.requirements or DEFAULT_PYTHON_REQUIREMENTS


def node_lock_file(spec: LayerSpec) -> Path | None:
    """The nodejs layer's lock file: ``build.requirements`` or the first of npm's usual names present."""
    candidates = [spec.build.requirements] if spec.build.requirements else list(NODE_LOCK_FILES)
    for name in candidates:
        path = spec.source / name
        if path.is_file():
            return path
    return None


def layer_problems(spec: LayerSpec) -> list[LayerProblem]:
    """Everything about ``spec`` that would make its build fail, found without building."""
    problems: list[LayerProblem] = []
    if not spec.compatible_architectures:
        problems.append(LayerProblem(("compatible_architectures",), "empty", "list x86_64, arm64 or both"))
    method = spec.build.method
    if method == "python" and not python_runtimes(spec):
        listed = ", ".join(spec.compatible_runtimes) or "none"
        problems.append(
            LayerProblem(
                ("compatible_runtimes",),
                f"no python runtime listed ({listed}), and a python build installs for each one's Python",
                "add the runtimes it serves, e.g. compatible_runtimes: [python3.12] (or CompatibleRuntimes "
                "on the template's LayerVersion)",
            )
        )
    if method == "python":
        requirements = spec.source / python_requirements(spec)
        if not requirements.is_file():
            problems.append(
                LayerProblem(
                    ("build", "requirements"),
                    f"{requirements} does not exist",
                    "create it (pip freeze / uv pip compile) or point requirements at the right file",
                )
            )
    if method == "nodejs":
        problems.extend(_nodejs_problems(spec))
    return problems


def _nodejs_problems(spec: LayerSpec) -> list[LayerProblem]:
    lock = node_lock_file(spec)
    if lock is None:
        names = spec.build.requirements or " or ".join(NODE_LOCK_FILES)
        return [
            LayerProblem(
                ("build",),
                f"no {names} in {spec.source}",
                "run `npm install` there and commit the lock file (builds install exactly what it pins)",
            )
        ]
    if not (lock.parent / "package.json").is_file():
        return [
            LayerProblem(
                ("build",),
                f"{lock.parent / 'package.json'} does not exist beside {lock.name}",
                "add it or point build.requirements at the right lock file",
            )
        ]
    return []


def require_buildable(spec: LayerSpec) -> None:
    """Raise the first of :func:`layer_problems` as a BuildError."""
    problems = layer_problems(spec)
    if problems:
        raise problems[0].error(spec)


def requirement_target(line: str) -> re.Match[str] | None:
    """The ``target`` group of what a requirements line installs (a name, path or URL); None for comments."""
    if line.lstrip().startswith("#"):
        return None
    return _NAMED_TARGET.match(line) or _DIRECT_TARGET.match(line)


def local_path(target: str, base: Path) -> Path | None:
    """The file or folder ``target`` names (a path, relative to ``base``, or a file: URL); else None."""
    if target.startswith("file:"):
        from urllib.parse import unquote, urlsplit

        parsed = urlsplit(target)
        if parsed.netloc not in ("", "localhost"):
            return None
        raw = unquote(parsed.path)
    elif target.startswith(_LOCAL_STARTS):
        raw = target
    else:
        return None
    path = Path(os.path.expanduser(raw))
    return Path(os.path.normpath(path if path.is_absolute() else base / path))


def local_requirement_folders(requirements: Path) -> list[Path]:
    """The local package folders a requirements file names, in order (none when it cannot be read)."""
    try:
        lines = requirements.read_text("utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return []  # the build reports an unreadable file, naming its line
    folders = []
    for line in lines:
        match = requirement_target(line)
        path = local_path(match["target"], requirements.parent) if match else None
        if path is not None and path.is_dir():
            folders.append(path)
    return folders
