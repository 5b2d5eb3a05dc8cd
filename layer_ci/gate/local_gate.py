"""The gate in this process: each consumer of the changed layers tested, as one ConsumerCheck row each.

Used where no commit status is set: a local run tests the consumers against the versions layer-ci.lock
records before its pins move, a dry run against the zips it just built. A test that cannot even start
(no interpreter, a missing version) is a verdict on that function, never an end to the run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from layer_ci.errors import LayerCiError
from layer_ci.model import Config, FunctionSpec
from layer_ci.plan.lockfile import Lock

if TYPE_CHECKING:
    from layer_ci.engine.prepare import EngineOptions
    from layer_ci.engine.runner import TestResult
    from layer_ci.gate.consumers import TestRunner

DEFAULT_TEST_TIMEOUT_S = 600.0

CheckStatus = Literal["passed", "failed", "error", "timeout", "skipped"]


class TestFn(Protocol):
    """Runs one function's tests with some of its layers swapped (``layer-ci test --layer``'s sources)."""

    def __call__(
        self,
        config: Config,
        function: str,
        layer_sources: Mapping[str, str] | None = None,
        *,
        options: EngineOptions | None = None,
        timeout_s: float = DEFAULT_TEST_TIMEOUT_S,
    ) -> TestResult: ...


def engine_tests(
    config: Config,
    function: str,
    layer_sources: Mapping[str, str] | None = None,
    *,
    options: EngineOptions | None = None,
    timeout_s: float = DEFAULT_TEST_TIMEOUT_S,
) -> TestResult:
    """The real ``TestFn``: the test engine, imported only when a test runs."""
    from layer_ci.engine.runner import run_function_tests

    return run_function_tests(config, function, layer_sources, options=options, timeout_s=timeout_s)


@dataclass(frozen=True)
class ConsumerCheck:
    """One affected function's tests against the new layer versions."""

    function: str
    status: CheckStatus
    layers: tuple[str, ...]  # "name vN" or "name (built zip)" for the layers under test
    headline: str | None = None
    duration_s: float = 0.0
    region: str = ""

    @property
    def passed(self) -> bool:
        return self.status in ("passed", "skipped")


@dataclass(frozen=True)
class ConsumerTests:
    """How consumers are tested here: the runner, the engine's options, the time limit, the log.

    ``enabled`` False (``--no-test``) reports every consumer as skipped instead of running it.
    """

    run: TestFn
    log: Callable[[str], None]
    engine: EngineOptions | None = None
    timeout_s: float = DEFAULT_TEST_TIMEOUT_S
    enabled: bool = True

    def check(
        self, config: Config, function: str, sources: Mapping[str, str], labels: tuple[str, ...], region: str
    ) -> ConsumerCheck:
        """Run ``function``'s tests with ``sources`` and log the verdict."""
        from layer_ci.engine.prepare import EngineOptions

        engine = self.engine or EngineOptions()
        if region:
            engine = replace(engine, region=region)
        self.log(f"testing {function} against {', '.join(labels) or 'its pinned layers'}")
        try:
            result = self.run(config, function, sources, options=engine, timeout_s=self.timeout_s)
        except LayerCiError as exc:  # no interpreter, a missing version: a verdict on this function
            self.log(f"ERROR: {function}: {exc.one_line()}")
            return ConsumerCheck(function, "error", labels, exc.one_line(), 0.0, region)
        status: CheckStatus = result.status
        self.log(
            f"{status.upper()}: {function} ({result.duration_s:.1f} s)"
            + (f": {result.headline}" if result.headline and not result.passed else "")
        )
        return ConsumerCheck(
            function, status, labels, result.headline, result.duration_s, result.region or region
        )

    def as_runner(self) -> TestRunner:
        """The same tests in the shape the commit-status gate calls (gate/consumers.py's TestRunner)."""
        from layer_ci.engine.prepare import EngineOptions

        engine = self.engine or EngineOptions()

        def run(config: Config, function: FunctionSpec, sources: Mapping[str, str]) -> TestResult:
            self.log(f"testing {function.name} against {', '.join(f'{k}={v}' for k, v in sources.items())}")
            return self.run(config, function.name, sources, options=engine, timeout_s=self.timeout_s)

        return run


def consumers_of(config: Config, layers: Sequence[str]) -> tuple[str, ...]:
    """The functions using any of ``layers``, in config order."""
    wanted = set(layers)
    return tuple(function.name for function in config.functions if wanted & set(function.layers))


def check_against_lock(
    config: Config, lock: Lock, layers: Sequence[str], tests: ConsumerTests
) -> tuple[ConsumerCheck, ...]:
    """Each consumer of ``layers`` tested against the versions the lock records (in its pins' region)."""
    from layer_ci.engine.sources import default_region

    functions = consumers_of(config, layers)
    if not tests.enabled:
        return tuple(ConsumerCheck(name, "skipped", ()) for name in functions)
    checks = []
    for name in functions:
        function = config.function(name)
        region = default_region(config, function)
        sources: dict[str, str] = {}
        labels = []
        for layer in function.layers:
            locked = lock.get(layer)
            if layer not in layers or locked is None:
                continue
            ref = locked.published.get(region) or next(iter(locked.published.values()), None)
            if ref is None:
                continue
            sources[layer] = ref.arn if region not in locked.published else str(ref.version)
            labels.append(f"{layer} v{ref.version}")
        checks.append(tests.check(config, name, sources, tuple(labels), region))
    return tuple(checks)


def check_against_zips(
    config: Config, zips: Mapping[str, Path], tests: ConsumerTests
) -> tuple[ConsumerCheck, ...]:
    """Each consumer of the built layers (``zips``: layer -> zip) tested against those zips."""
    functions = consumers_of(config, list(zips))
    if not tests.enabled:
        return tuple(ConsumerCheck(name, "skipped", ()) for name in functions)
    checks = []
    for name in functions:
        function = config.function(name)
        sources = {layer: str(zips[layer]) for layer in function.layers if layer in zips}
        labels = tuple(f"{layer} (built zip)" for layer in sources)
        checks.append(tests.check(config, name, sources, labels, ""))
    return tuple(checks)
