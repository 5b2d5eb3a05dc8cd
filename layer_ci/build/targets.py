"""Build the layers a run targets, each under the input key its plan computed, into one build folder."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Protocol

from layer_ci.model import BuiltLayer, Config, LayerSpec
from layer_ci.plan.changes import Plan


class BuildFn(Protocol):
    """Builds one layer (``build_layer``'s signature), so tests can swap the builder."""

    def __call__(
        self, spec: LayerSpec, out_dir: Path, *, input_key: str, cache_dir: Path | None = None
    ) -> BuiltLayer: ...


def build_targets(
    config: Config,
    plan: Plan,
    layers: Iterable[str],
    out_dir: Path,
    *,
    cache_dir: Path | None = None,
    build: BuildFn | None = None,
    log: Callable[[str], None] = lambda _message: None,
) -> list[BuiltLayer]:
    """Build each of ``layers`` in turn (``build`` defaults to the real builder)."""
    if build is None:
        from layer_ci.build.layer import build_layer

        build = build_layer
    keys = {change.layer: change.input_key for change in plan.changes}
    built = []
    for name in layers:
        key = keys[name]
        assert key is not None  # configured layers always have an input key
        spec = config.layer(name)
        log(f"building {name} ({spec.build.method})")
        built.append(build(spec, out_dir, input_key=key, cache_dir=cache_dir))
    return built
