"""Deterministic layer builds: stage a layer's /opt layout, strip non-determinism, zip it, describe it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from layer_ci.build.layer import build_layer

__all__ = ["build_layer"]


def __getattr__(name: str) -> Any:
    # Lazy: importing layer_ci.build.zipper or .manifest (plan, publish, bench) must not load every builder.
    if name == "build_layer":
        from layer_ci.build.layer import build_layer

        return build_layer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
