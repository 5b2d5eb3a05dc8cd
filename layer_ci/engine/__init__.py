"""The test-before-upgrade engine: a function's tests, or one invocation, against any layer versions."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from layer_ci.engine.extract import ExtractLimits, UnsafeZipError, default_cache_dir, extract_layer
    from layer_ci.engine.invoke import InvokeResult, invoke_function
    from layer_ci.engine.prepare import EngineOptions, PreflightError
    from layer_ci.engine.runner import JUnitSummary, LayerReport, TestResult, run_function_tests
    from layer_ci.engine.runtimes import InterpreterNotFoundError
    from layer_ci.engine.sources import LayerSourceError, parse_layer_options

# Lazy, like layer_ci.build: builds start installers through layer_ci.engine.sandbox, and importing the
# package must not load the whole engine (runner, invoke, runtimes, extract: ~0.1 s) for that.
_WHERE = {
    "ExtractLimits": "extract",
    "UnsafeZipError": "extract",
    "default_cache_dir": "extract",
    "extract_layer": "extract",
    "InvokeResult": "invoke",
    "invoke_function": "invoke",
    "EngineOptions": "prepare",
    "PreflightError": "prepare",
    "JUnitSummary": "runner",
    "LayerReport": "runner",
    "TestResult": "runner",
    "run_function_tests": "runner",
    "InterpreterNotFoundError": "runtimes",
    "LayerSourceError": "sources",
    "parse_layer_options": "sources",
}

__all__ = [
    "EngineOptions",
    "ExtractLimits",
    "InterpreterNotFoundError",
    "InvokeResult",
    "JUnitSummary",
    "LayerReport",
    "LayerSourceError",
    "PreflightError",
    "TestResult",
    "UnsafeZipError",
    "default_cache_dir",
    "extract_layer",
    "invoke_function",
    "parse_layer_options",
    "run_function_tests",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
