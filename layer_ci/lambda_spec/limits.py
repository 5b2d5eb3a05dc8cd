"""Lambda's hard limits checked before anything is published: layer counts, sizes, names, compatibility."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from layer_ci.errors import LimitError
from layer_ci.lambda_spec.runtimes import RUNTIME_NAMES
from layer_ci.model import (
    MAX_COMPATIBLE_ARCHITECTURES,
    MAX_COMPATIBLE_RUNTIMES,
    MAX_DESCRIPTION_LENGTH,
    MAX_LAYER_NAME_LENGTH,
    MAX_LAYERS_PER_FUNCTION,
    MAX_UNZIPPED_BYTES,
    Config,
    FunctionSpec,
    LayerSpec,
)

ARCHITECTURES: tuple[str, ...] = ("x86_64", "arm64")
# Managed runtimes Lambda accepts: runtimes.py's table is the one list (the JSON Schema's runtime enum
# must name exactly these; a test keeps the two in step).
LAMBDA_RUNTIMES: tuple[str, ...] = RUNTIME_NAMES
LAYER_NAME_PATTERN = re.compile(r"[a-zA-Z0-9_-]+")
HANDLER_PATTERN = re.compile(r"[^\s]{1,128}")  # CreateFunction's Handler: up to 128, no whitespace


def handler_problem(handler: str, runtime: str) -> tuple[str, str] | None:
    """(problem, fix) when Lambda would refuse ``handler``, or it would lead out of the function's code."""
    if not HANDLER_PATTERN.fullmatch(handler):
        return (
            f"{handler[:60]!r} is not a handler Lambda accepts (1 to 128 characters, no spaces)",
            "write MODULE.FUNCTION, e.g. app.handler",
        )
    # A custom runtime's bootstrap reads the handler as it likes; the managed ones load a file under
    # /var/task, and a handler climbing out of it would load code that is not the function's.
    if not runtime.startswith("provided") and (handler.startswith("/") or ".." in handler.split("/")):
        return (
            f"handler {handler!r} leads out of the function's code folder",
            "name a module inside the function's folder, e.g. app.handler or src/app.handler",
        )
    return None


def _bytes(count: int) -> str:
    return f"{count:,} bytes ({count / 1_000_000:.1f} MB)"


def _layer_label(entry: str) -> str:
    return f"external layer {entry}" if ":" in entry else f"layer '{entry}'"


def check_layer_spec(spec: LayerSpec) -> list[str]:
    """Violations of Lambda's limits on one layer's name, description and compatibility lists."""
    problems: list[str] = []
    name = spec.name
    if not LAYER_NAME_PATTERN.fullmatch(name):
        problems.append(
            f"layer '{name}': the name may only hold letters, digits, '-' and '_' (Lambda's [a-zA-Z0-9-_]+)"
        )
    if len(name) > MAX_LAYER_NAME_LENGTH:
        problems.append(
            f"layer '{name[:40]}...': the name is {len(name)} characters, "
            f"Lambda allows at most {MAX_LAYER_NAME_LENGTH}"
        )
    if len(spec.description) > MAX_DESCRIPTION_LENGTH:
        problems.append(
            f"layer '{name}': the description is {len(spec.description)} characters, "
            f"Lambda allows at most {MAX_DESCRIPTION_LENGTH}"
        )
    if len(spec.compatible_runtimes) > MAX_COMPATIBLE_RUNTIMES:
        problems.append(
            f"layer '{name}': {len(spec.compatible_runtimes)} compatible runtimes, "
            f"Lambda allows at most {MAX_COMPATIBLE_RUNTIMES}"
        )
    if len(spec.compatible_architectures) > MAX_COMPATIBLE_ARCHITECTURES:
        problems.append(
            f"layer '{name}': {len(spec.compatible_architectures)} compatible architectures, "
            f"Lambda allows at most {MAX_COMPATIBLE_ARCHITECTURES}"
        )
    unknown = [runtime for runtime in spec.compatible_runtimes if runtime not in LAMBDA_RUNTIMES]
    if unknown:
        problems.append(f"layer '{name}': unknown Lambda runtime(s) {', '.join(unknown)}")
    return problems


def compatibility_problems(function: FunctionSpec, layer: LayerSpec) -> list[str]:
    """Why ``function`` cannot use ``layer`` (empty compatibility lists restrict nothing, as in Lambda)."""
    problems: list[str] = []
    if layer.compatible_runtimes and function.runtime not in layer.compatible_runtimes:
        problems.append(
            f"function '{function.name}' runs {function.runtime} but layer '{layer.name}' is compatible "
            f"only with {', '.join(layer.compatible_runtimes)}"
        )
    if layer.compatible_architectures and function.architecture not in layer.compatible_architectures:
        problems.append(
            f"function '{function.name}' runs on {function.architecture} but layer '{layer.name}' is "
            f"compatible only with {', '.join(layer.compatible_architectures)}"
        )
    return problems


def check_function_limits(
    config: Config,
    function: FunctionSpec,
    unzipped_sizes: Mapping[str, int],
    function_bytes: int,
) -> list[str]:
    """Violations of Lambda's per-function limits; ``unzipped_sizes`` maps layer names (or ARNs) to bytes.

    Layers missing from ``unzipped_sizes`` count as 0 bytes and are named in the size message, so a
    caller that could not measure an external layer still sees that the total is a lower bound.
    """
    problems: list[str] = []
    entries = function.ordered_layers()
    if len(entries) > MAX_LAYERS_PER_FUNCTION:
        problems.append(
            f"function '{function.name}' uses {len(entries)} layers ({', '.join(entries)}); "
            f"Lambda allows at most {MAX_LAYERS_PER_FUNCTION}, "
            f"remove {len(entries) - MAX_LAYERS_PER_FUNCTION}"
        )
    total = function_bytes + sum(unzipped_sizes.get(entry, 0) for entry in entries)
    if total > MAX_UNZIPPED_BYTES:
        parts = [f"function code {_bytes(function_bytes)}"]
        parts += [
            f"{_layer_label(entry)} {_bytes(unzipped_sizes[entry])}"
            for entry in entries
            if entry in unzipped_sizes
        ]
        unmeasured = [entry for entry in entries if entry not in unzipped_sizes]
        note = f" (not counted, size unknown: {', '.join(unmeasured)})" if unmeasured else ""
        problems.append(
            f"function '{function.name}' would be {_bytes(total)} unzipped: {' + '.join(parts)}{note}; "
            f"Lambda allows {MAX_UNZIPPED_BYTES:,} bytes for function and layers together, "
            f"{total - MAX_UNZIPPED_BYTES:,} bytes too many"
        )
    known = {layer.name: layer for layer in config.layers}
    for entry in entries:
        layer = known.get(entry)
        if layer is not None:
            problems.extend(compatibility_problems(function, layer))
    return problems


def raise_on_violations(messages: Iterable[str]) -> None:
    """Raise one LimitError holding every violation, or return when there is none."""
    found = list(messages)
    if not found:
        return
    if len(found) == 1:
        raise LimitError(f"Lambda limit exceeded: {found[0]}")
    numbered = " ".join(f"({index}) {message}" for index, message in enumerate(found, 1))
    raise LimitError(f"{len(found)} Lambda limits exceeded: {numbered}")
