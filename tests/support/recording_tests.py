"""A test runner (``TestFn``) that never starts the engine, for cases about what runs the tests."""

from __future__ import annotations

from collections.abc import Mapping

from layer_ci.engine.prepare import EngineOptions
from layer_ci.engine.runner import TestResult
from layer_ci.errors import LayerCiError
from layer_ci.model import Config


class RecordingTests:
    """Records each call as (function, sources, region); ``failing`` fail, ``broken`` cannot even start."""

    def __init__(self, failing: tuple[str, ...] = (), broken: tuple[str, ...] = ()) -> None:
        self.failing, self.broken = failing, broken
        self.calls: list[tuple[str, dict[str, str], str | None]] = []

    def __call__(
        self,
        config: Config,
        function: str,
        layer_sources: Mapping[str, str] | None = None,
        *,
        options: EngineOptions | None = None,
        timeout_s: float = 600.0,
    ) -> TestResult:
        region = options.region if options else None
        self.calls.append((function, dict(layer_sources or {}), region))
        if function in self.broken:
            raise LayerCiError(f"{function}: no python3.11 interpreter on this machine")
        failed = function in self.failing
        return TestResult(
            function=function,
            status="failed" if failed else "passed",
            duration_s=0.1,
            exit_code=1 if failed else 0,
            headline="AssertionError: boom" if failed else None,
            output_tail="",
            region=region or "",
        )

    @property
    def functions(self) -> list[str]:
        return [function for function, _sources, _region in self.calls]


def quiet(_message: str) -> None:
    """A log that keeps the test output clean."""
