"""Checks that refuse a function/layers combination before any test runs: limits, arch, ABI, shadowing."""

from __future__ import annotations

import os
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from layer_ci.engine.assemble import find_conflicts
from layer_ci.engine.extract import LayerTree, TreeEntry
from layer_ci.engine.sources import ResolvedLayer
from layer_ci.lambda_spec.limits import check_function_limits
from layer_ci.lambda_spec.native import native_problem
from layer_ci.lambda_spec.runtimes import Runtime
from layer_ci.model import Config, FunctionSpec

_SITE_PACKAGES_RE = re.compile(r"^python/lib/python(\d+\.\d+)/site-packages/")
MAX_FILES_NAMED = 10
FUNCTION_SKIPPED_NAMES = frozenset(
    {"__pycache__", ".pytest_cache", ".git", ".mypy_cache", ".ruff_cache", ".layer-ci"}
)


@dataclass(frozen=True)
class LayerUnderTest:
    """A resolved layer with its extracted tree."""

    resolved: ResolvedLayer
    tree: LayerTree

    @property
    def name(self) -> str:
        return self.resolved.name


@dataclass(frozen=True)
class PreflightReport:
    """Errors stop the run before any test; warnings are reported alongside the result."""

    errors: tuple[str, ...]
    warnings: tuple[str, ...]
    function_bytes: int
    layer_bytes: tuple[tuple[str, int], ...]

    @property
    def ok(self) -> bool:
        return not self.errors


def function_code_bytes(task_root: Path) -> int:
    """What the function's own folder adds to the 250 MB (caches and VCS folders are not deployed)."""
    total = 0
    for folder, dirnames, filenames in os.walk(task_root):
        dirnames[:] = [name for name in dirnames if name not in FUNCTION_SKIPPED_NAMES]
        for name in filenames:
            try:
                stat = os.lstat(os.path.join(folder, name))
            except OSError:
                continue
            total += stat.st_size
    return total


def preflight(
    config: Config,
    function: FunctionSpec,
    runtime: Runtime,
    layers: Sequence[LayerUnderTest],
    *,
    function_bytes: int,
) -> PreflightReport:
    """Every problem Lambda would refuse (or silently mis-run) for this function with these layers."""
    errors: list[str] = []
    warnings: list[str] = []
    sizes = {layer.name: layer.tree.unzipped_bytes for layer in layers}
    errors.extend(
        check_function_limits(config, _with_resolved_names(function, layers), sizes, function_bytes)
    )
    for layer in layers:
        errors.extend(_compatibility(function, layer, config))
        errors.extend(_native_code(function, runtime, layer))
        warnings.extend(_layout(function, runtime, layer))
    names = [layer.name for layer in layers]
    errors.extend(
        f"function {function.name}: {problem}; Lambda's merge of /opt is undefined there, rename one"
        for problem in find_conflicts([layer.tree for layer in layers], names)
    )
    warnings.extend(_shadowing(function, layers))
    return PreflightReport(
        tuple(dict.fromkeys(errors)), tuple(warnings), function_bytes, tuple(sizes.items())
    )


def _with_resolved_names(function: FunctionSpec, layers: Sequence[LayerUnderTest]) -> FunctionSpec:
    # The limits module keys sizes by the function's entries; external entries are ARNs, sizes by name.
    from dataclasses import replace

    return replace(function, layers=tuple(layer.name for layer in layers), external_layers=(), layer_order=())


def _compatibility(function: FunctionSpec, layer: LayerUnderTest, config: Config) -> list[str]:
    """Compatibility as published (a version from the registry), beyond what layer-ci.yml declares."""
    resolved = layer.resolved
    problems: list[str] = []
    declared = {spec.name: spec for spec in config.layers}.get(layer.name)
    runtimes = resolved.compatible_runtimes
    architectures = resolved.compatible_architectures
    if (
        declared is not None
        and runtimes == declared.compatible_runtimes
        and architectures == tuple(declared.compatible_architectures)
    ):
        return problems  # the limits check already covered the declared lists
    if runtimes and function.runtime not in runtimes:
        problems.append(
            f"function {function.name}: layer {resolved.label} is compatible only with "
            f"{', '.join(runtimes)}, not {function.runtime}; publish a version that lists "
            f"{function.runtime} or use another layer"
        )
    if architectures and function.architecture not in architectures:
        problems.append(
            f"function {function.name}: layer {resolved.label} is compatible only with "
            f"{', '.join(architectures)}, not {function.architecture}; publish an "
            f"{function.architecture} build"
        )
    return problems


def _native_code(function: FunctionSpec, runtime: Runtime, layer: LayerUnderTest) -> list[str]:
    problems: list[str] = []
    for entry in layer.tree.entries:
        if entry.kind != "file":
            continue
        problem = _native_problem(entry, function, runtime)
        if problem:
            problems.append(
                f"function {function.name} ({function.runtime}, {function.architecture}): layer "
                f"{layer.resolved.label}: {entry.path} {problem}"
            )
    if len(problems) > MAX_FILES_NAMED:
        hidden = len(problems) - MAX_FILES_NAMED
        problems = [
            *problems[:MAX_FILES_NAMED],
            f"function {function.name}: layer {layer.resolved.label}: {hidden} more native files with "
            "the same problem",
        ]
    return problems


def python_abi_of(runtime: Runtime) -> tuple[tuple[int, int], ...]:
    """The CPython (major, minor) a python runtime loads extensions for; () for other runtimes."""
    if runtime.family != "python" or len(runtime.version) < 2:
        return ()
    return ((runtime.version[0], runtime.version[1]),)


def _native_problem(entry: TreeEntry, function: FunctionSpec, runtime: Runtime) -> str | None:
    # The build refuses the same files for the layer's own compatible lists (layer_ci.lambda_spec.native).
    return native_problem(
        entry.path,
        entry.binary,
        entry.elf_machine,
        architectures=(function.architecture,),
        pythons=python_abi_of(runtime),
        on_architecture=f"the function runs on {function.architecture}",
        on_python=f"the function runs {runtime.name}",
    )


def _layout(function: FunctionSpec, runtime: Runtime, layer: LayerUnderTest) -> list[str]:
    """Content Lambda never puts on a search path: usually a zip built one folder too deep or shallow."""
    tops = {entry.path.split("/")[0] for entry in layer.tree.entries}
    known = {"bin", "lib", "python", "nodejs", "java", "ruby", "etc", "share", "extensions"}
    warnings: list[str] = []
    if runtime.family == "python":
        other_versions = sorted(
            {
                match[1]
                for entry in layer.tree.entries
                if (match := _SITE_PACKAGES_RE.match(entry.path)) and match[1] != runtime.wanted
            }
        )
        if other_versions:
            warnings.append(
                f"function {function.name}: layer {layer.resolved.label} installs packages under "
                f"python/lib/python{other_versions[0]}/site-packages, which {runtime.name} never searches"
            )
    if "bootstrap" in tops and (runtime.name == "provided" or runtime.name.startswith("provided.")):
        return warnings  # a custom runtime's layer: /opt/bootstrap finds its own files, wherever they are
    strays = sorted(tops - known)
    if strays and not tops & {"python", "nodejs", "bin", "lib", "java", "ruby"}:
        shown = ", ".join(strays[:5])
        warnings.append(
            f"function {function.name}: layer {layer.resolved.label} has nothing under python/, nodejs/, "
            f"bin/ or lib/ (top level: {shown}); Lambda puts none of it on a search path"
        )
    return warnings


def _shadowing(function: FunctionSpec, layers: Sequence[LayerUnderTest]) -> list[str]:
    """Files shipped by several layers: the last one wins in Lambda, silently."""
    owners: dict[str, list[int]] = defaultdict(list)
    for index, layer in enumerate(layers):
        for entry in layer.tree.entries:
            if entry.kind != "dir":
                owners[entry.path].append(index)
    groups: dict[tuple[int, ...], list[str]] = defaultdict(list)
    for path, owner_list in owners.items():
        if len(owner_list) > 1:
            groups[tuple(owner_list)].append(path)
    warnings = []
    for indexes, paths in sorted(groups.items()):
        paths.sort()
        winner = layers[indexes[-1]].resolved.label
        losers = ", ".join(layers[index].resolved.label for index in indexes[:-1])
        shown = ", ".join(paths[:MAX_FILES_NAMED])
        more = f" and {len(paths) - MAX_FILES_NAMED} more" if len(paths) > MAX_FILES_NAMED else ""
        warnings.append(
            f"function {function.name}: {len(paths)} file(s) shipped by both {losers} and {winner}; "
            f"{winner} wins (it comes later): {shown}{more}"
        )
    return warnings
