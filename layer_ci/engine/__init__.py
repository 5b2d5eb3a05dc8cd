"""The test-before-upgrade engine: a function's tests, or one invocation, against any layer versions."""

from layer_ci.engine.extract import ExtractLimits, UnsafeZipError, default_cache_dir, extract_layer
from layer_ci.engine.invoke import InvokeResult, invoke_function
from layer_ci.engine.prepare import EngineOptions, PreflightError
from layer_ci.engine.runner import JUnitSummary, LayerReport, TestResult, run_function_tests
from layer_ci.engine.runtimes import InterpreterNotFoundError
from layer_ci.engine.sources import LayerSourceError, parse_layer_options

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
