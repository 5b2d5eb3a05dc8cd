"""The one push pipeline behind `layer-ci run` and the Action: plan, build, publish, bump pins, gate tests.

Each stage hands the next a small frozen value. ``Services`` carries everything that reaches outside the
process (registries, builder, test engine, GitHub, git, the log), so tests swap endpoints, not code.
Two ways to finish: *local* (no GitHub) rewrites pins in the working tree after the affected functions'
tests passed, and *pull requests* hands the published versions to the bump and gate of `layer-ci bump`.

Options that cannot work together are refused before anything is built. Once a version is published the
run has changed the world, so a later failure (GitHub refusing a request) is raised as ``StageFailed``
carrying the outcome so far: the published versions and the pull requests already handled.
"""

from __future__ import annotations

import contextlib
import functools
import sys
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from layer_ci.errors import EXIT_FAILURE, EXIT_OK, LayerCiError, UsageError
from layer_ci.fsutil import state_dir
from layer_ci.model import BuiltLayer, Config, FunctionSpec, LayerSpec, PublishedVersion
from layer_ci.plan.changes import Plan, make_plan
from layer_ci.plan.lockfile import Lock, load_lock, save_lock

if TYPE_CHECKING:
    from layer_ci.adapters.git import GitRepo
    from layer_ci.adapters.github import GitHubClient
    from layer_ci.bump.pull_requests import PrOutcome
    from layer_ci.engine.prepare import EngineOptions
    from layer_ci.engine.runner import TestResult
    from layer_ci.pins.find import Pin
    from layer_ci.publish.registry_contract import LayerRegistry

DEFAULT_BUILD_DIR = Path(".layer-ci") / "build"
DEFAULT_TEST_TIMEOUT_S = 600.0

Log = Callable[[str], None]
RegistryFactory = Callable[[str], "LayerRegistry"]
CheckStatus = Literal["passed", "failed", "error", "timeout", "skipped"]
Mode = Literal["local", "pull-requests"]


class BuildFn(Protocol):
    def __call__(
        self, spec: LayerSpec, out_dir: Path, *, input_key: str, cache_dir: Path | None = None
    ) -> BuiltLayer: ...


class TestFn(Protocol):
    def __call__(
        self,
        config: Config,
        function: str,
        layer_sources: Mapping[str, str] | None = None,
        *,
        options: EngineOptions | None = None,
        timeout_s: float = DEFAULT_TEST_TIMEOUT_S,
    ) -> TestResult: ...


def _stderr_log(message: str) -> None:
    print(f"layer-ci: {message}", file=sys.stderr, flush=True)


def _no_group(_title: str) -> AbstractContextManager[None]:
    return contextlib.nullcontext()


def _default_build(
    spec: LayerSpec, out_dir: Path, *, input_key: str, cache_dir: Path | None = None
) -> BuiltLayer:
    from layer_ci.build.layer import build_layer

    return build_layer(spec, out_dir, input_key=input_key, cache_dir=cache_dir)


def _default_tests(
    config: Config,
    function: str,
    layer_sources: Mapping[str, str] | None = None,
    *,
    options: EngineOptions | None = None,
    timeout_s: float = DEFAULT_TEST_TIMEOUT_S,
) -> TestResult:
    from layer_ci.engine.runner import run_function_tests

    return run_function_tests(config, function, layer_sources, options=options, timeout_s=timeout_s)


@dataclass(frozen=True)
class Services:
    """What the pipeline uses to reach the world; None where a run must not (or cannot) reach it.

    ``registry_factory`` None means nothing may be published (a fork's pull request, a dry run).
    ``phase`` wraps each stage (the Action turns it into a ``::group::``).
    """

    registry_factory: RegistryFactory | None = None
    build: BuildFn = _default_build
    run_tests: TestFn = _default_tests
    github: GitHubClient | None = None
    git: GitRepo | None = None
    log: Log = _stderr_log
    phase: Callable[[str], AbstractContextManager[None]] = _no_group


@dataclass(frozen=True)
class PushOptions:
    """What to do on this push.

    ``layers`` limits the run to those layers (empty = every changed one); ``force`` considers them even
    when the lock says they are published (identical versions are still reused); ``regions`` replaces
    each layer's regions; ``dry_run`` builds and tests against the built zips but publishes and rewrites
    nothing; ``mode`` picks how pins move: in the working tree, or through bump pull requests.
    """

    dry_run: bool = False
    run_tests: bool = True
    layers: tuple[str, ...] = ()
    force: bool = False
    regions: tuple[str, ...] = ()
    commit: str = "unknown"
    mode: Mode = "local"
    base_branch: str = "main"
    out_dir: Path | None = None
    build_cache_dir: Path | None = None
    engine: EngineOptions | None = None
    test_timeout_s: float = DEFAULT_TEST_TIMEOUT_S
    target_url: str | None = None  # linked from the gate's statuses (the Actions run)


@dataclass(frozen=True)
class BuiltSummary:
    """One layer built in this run."""

    layer: str
    zip_path: Path
    zip_sha256: str
    zipped_bytes: int
    unzipped_bytes: int


@dataclass(frozen=True)
class PinChange:
    """One pin moved in the working tree (local mode)."""

    path: str
    line: int
    layer: str
    region: str | None
    old_version: int
    new_version: int


@dataclass(frozen=True)
class PullRequestRef:
    """A bump branch and its pull request: created, updated, unchanged, closed or skipped."""

    number: int | None
    url: str | None
    branch: str
    layers: tuple[str, ...]
    outcome: str
    reason: str = ""  # why a branch was skipped or closed (a refused push, a newer push's bump, ...)


@dataclass(frozen=True)
class FunctionCheck:
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
class HeldPin:
    """A pin a bump pull request left at its old version (``path`` is relative to the config's folder)."""

    path: str
    line: int
    layer: str
    version: int
    reason: str


@dataclass(frozen=True)
class PushOutcome:
    """Everything a run did, for the summary table, the Action's outputs and the exit code."""

    plan: Plan
    mode: Mode
    dry_run: bool
    targets: Mapping[str, tuple[str, ...]] = field(default_factory=dict, hash=False)
    built: tuple[BuiltSummary, ...] = ()
    published: tuple[PublishedVersion, ...] = ()
    pin_changes: tuple[PinChange, ...] = ()
    pins_current: int = 0
    held_back: tuple[str, ...] = ()
    pull_requests: tuple[PullRequestRef, ...] = ()
    checks: tuple[FunctionCheck, ...] = ()
    notes: tuple[str, ...] = ()
    held_pins: tuple[HeldPin, ...] = ()

    @property
    def nothing_to_do(self) -> bool:
        return not self.targets and not self.pin_changes and not self.checks and not self.pull_requests

    @property
    def tests_passed(self) -> bool | None:
        """True/False when tests ran, None when no function was tested."""
        ran = [check for check in self.checks if check.status != "skipped"]
        if not ran:
            return None
        return all(check.passed for check in ran)

    @property
    def exit_code(self) -> int:
        return EXIT_FAILURE if self.tests_passed is False else EXIT_OK

    def published_arns(self) -> dict[str, dict[str, str]]:
        """layer -> region -> layer version ARN, for the Action's ``published`` output."""
        arns: dict[str, dict[str, str]] = {}
        for version in self.published:
            arns.setdefault(version.layer, {})[version.region] = version.arn
        return arns


class StageFailed(LayerCiError):
    """A stage failed after the run had published something: ``outcome`` is what it did until then.

    The message and exit code are the cause's, prefixed with what already happened, so the CLI prints one
    line as before and the Action can still write its outputs and summary from ``outcome``.
    """

    def __init__(self, stage: str, cause: LayerCiError, outcome: PushOutcome) -> None:
        self.stage = stage
        self.cause = cause
        self.outcome = outcome
        self.exit_code = cause.exit_code
        super().__init__(f"{stage} failed after {_what_happened(outcome)}: {cause.one_line()}")


def _what_happened(outcome: PushOutcome) -> str:
    done = []
    if outcome.published:
        versions = ", ".join(f"{p.layer} v{p.version} in {p.region}" for p in outcome.published)
        done.append(f"publishing {versions} (recorded in layer-ci.lock)")
    if outcome.pull_requests:
        prs = ", ".join(f"{pr.branch} {pr.outcome}" for pr in outcome.pull_requests)
        done.append(f"bumping {prs}")
    return " and ".join(done) or "starting"


@dataclass
class _Progress:
    """What the run has done so far, recorded as it happens so a later failure cannot hide it."""

    published: list[PublishedVersion] = field(default_factory=list)
    pull_requests: list[PrOutcome] = field(default_factory=list)

    @property
    def anything(self) -> bool:
        return bool(self.published or self.pull_requests)


# ----------------------------------------------------------------------------------------- the pipeline


def run_push(config: Config, services: Services, options: PushOptions) -> PushOutcome:
    """Plan, build, publish, then move pins (working tree or PRs) behind the affected functions' tests."""
    config.select_layers(options.layers)  # unknown names are a usage error before any work
    check_push_options(services, options)
    with services.phase("plan"):
        lock = load_lock(config.root)
        plan = make_plan(config, lock)
        targets = select_targets(config, plan, options)
        for change in plan.changed:
            services.log(f"{change.layer}: {change.reason}")
    outcome = PushOutcome(plan=plan, mode=options.mode, dry_run=options.dry_run, targets=targets)
    if targets and not options.dry_run and services.registry_factory is None:
        raise UsageError("this run may not publish (no registry was provided); rerun with --dry-run")

    built: list[BuiltLayer] = []
    if targets:
        with services.phase("build"):
            built = _build(config, plan, targets, services, options)
        outcome = replace(outcome, built=tuple(_summary(layer) for layer in built))

    if options.dry_run:
        return _dry_run_tests(config, outcome, built, services, options)

    progress = _Progress()
    stage = "publish"
    try:
        if built:
            with services.phase("publish"):
                lock = _publish(config, lock, built, targets, services, options, progress)
            outcome = replace(outcome, published=tuple(progress.published))
        if options.mode == "pull-requests":
            stage = "bump pull requests"
            with services.phase("bump pull requests and test gate"):
                return _bump_with_pull_requests(config, lock, outcome, services, options, progress)
        stage = "moving pins"
        return _bump_locally(config, lock, outcome, services, options)
    except LayerCiError as exc:
        if not progress.anything:
            raise  # nothing happened yet: the error alone says it all
        partial = replace(outcome, published=tuple(progress.published))
        if progress.pull_requests:
            partial = _with_pull_requests(config, lock, partial, progress.pull_requests)
        raise StageFailed(stage, exc, partial) from exc


def check_push_options(services: Services, options: PushOptions) -> None:
    """Refuse options that could only fail later, before anything is built or published."""
    if options.dry_run or options.mode != "pull-requests":
        return
    if services.github is None or services.git is None:
        raise UsageError("bump pull requests need GitHub and git; run locally without them (`layer-ci run`)")
    if not options.run_tests:
        raise UsageError(
            "bump pull requests always run the affected functions' tests (the gate is what makes them safe "
            "to merge); to build without testing use a dry run"
        )


def select_targets(config: Config, plan: Plan, options: PushOptions) -> dict[str, tuple[str, ...]]:
    """layer -> regions to publish it to, in config order."""
    named = set(options.layers)
    chosen: dict[str, tuple[str, ...]] = {}
    for change in plan.changes:
        if named and change.layer not in named:
            continue
        if options.force:
            regions = config.layer(change.layer).regions
        elif change.changed:
            regions = change.publish_regions
        else:
            continue
        if options.regions:
            regions = (
                options.regions
                if options.force or change.needs_build
                else tuple(region for region in options.regions if region in change.publish_regions)
            )
        if regions:
            chosen[change.layer] = tuple(regions)
    return chosen


def _build(
    config: Config,
    plan: Plan,
    targets: Mapping[str, tuple[str, ...]],
    services: Services,
    options: PushOptions,
) -> list[BuiltLayer]:
    from layer_ci.gate.budget import check_before_publish
    from layer_ci.lambda_spec.limits import raise_on_violations

    keys = {change.layer: change.input_key for change in plan.changes}
    out_dir = options.out_dir or state_dir(config.root, DEFAULT_BUILD_DIR)
    built = []
    for name in targets:
        key = keys[name]
        assert key is not None  # configured layers always have an input key
        spec = config.layer(name)
        services.log(f"building {name} ({spec.build.method})")
        built.append(services.build(spec, out_dir, input_key=key, cache_dir=options.build_cache_dir))
    raise_on_violations(check_before_publish(config, built, load_lock(config.root), warn=services.log))
    return built


def _summary(layer: BuiltLayer) -> BuiltSummary:
    manifest = layer.manifest
    return BuiltSummary(
        manifest.layer, layer.zip_path, manifest.zip_sha256, manifest.zipped_bytes, manifest.unzipped_bytes
    )


def _publish(
    config: Config,
    lock: Lock,
    built: Sequence[BuiltLayer],
    targets: Mapping[str, tuple[str, ...]],
    services: Services,
    options: PushOptions,
    progress: _Progress,
) -> Lock:
    """Publish one layer in one region at a time, recording each version as soon as it exists."""
    from layer_ci.publish.publisher import publish_layers

    assert services.registry_factory is not None
    registries = functools.cache(services.registry_factory)  # one client per region for the whole run
    for layer in built:
        for region in targets[layer.spec.name]:
            lock, published = publish_layers(
                config,
                [layer],
                registries,
                lock,
                options.commit,
                regions={layer.spec.name: (region,)},
                save=lambda new_lock: save_lock(config.root, new_lock),
                log=services.log,
            )
            progress.published.extend(published)
    return lock


# ------------------------------------------------------------------------------------------ local mode


@dataclass(frozen=True)
class _PinPlan:
    """Pins that lag behind the lock, grouped so a layer can be held back as a whole."""

    pins: tuple[Pin, ...]
    new_versions: Mapping[tuple[str, str | None], int]
    account: str | None
    behind: Mapping[str, tuple[Pin, ...]]  # layer -> its pins that would move
    current: int


def published_versions(lock: Lock, layers: Sequence[str]) -> dict[tuple[str, str | None], int]:
    """(layer, region) -> the version the lock records; (layer, None) when every region agrees.

    The None entry serves pins whose region is a placeholder (``${AWS::Region}``): they can only move when
    one version number is right for every region the stack may be deployed to.
    """
    versions: dict[tuple[str, str | None], int] = {}
    for name in layers:
        locked = lock.get(name)
        if locked is None:
            continue
        for region, ref in locked.published.items():
            versions[(name, region)] = ref.version
        numbers = {ref.version for ref in locked.published.values()}
        if len(numbers) == 1:
            versions[(name, None)] = numbers.pop()
    return versions


def _lock_account(lock: Lock) -> str | None:
    from layer_ci.publish.registry_contract import parse_layer_arn

    for locked in lock.layers.values():
        for ref in locked.published.values():
            parsed = parse_layer_arn(ref.arn)
            if parsed is not None:
                return parsed.account
    return None


def _plan_pins(config: Config, lock: Lock) -> _PinPlan:
    from layer_ci.pins.find import find_pins
    from layer_ci.pins.rewrite import target_version

    pins = tuple(find_pins(config.root, config))
    new_versions = published_versions(lock, [layer.name for layer in config.layers])
    account = _lock_account(lock)
    behind: dict[str, list[Pin]] = {}
    current = 0
    if config.settings.ignore:  # pins layer-ci.yml keeps where they are on purpose: never moved
        from layer_ci.bump.releases import ignore_reason
        from layer_ci.pins.owners import pin_owners

        owners = pin_owners(config, pins)
        pins = tuple(
            pin
            for pin in pins
            if ignore_reason(config.settings.ignore, pin.layer, owners.get(pin, ())) is None
        )
    for pin in pins:
        if (pin.layer, pin.region) not in new_versions and (pin.layer, None) not in new_versions:
            continue
        if account is not None and pin.account is not None and pin.account != account:
            continue  # another account's layer that shares a name with ours
        target = target_version(pin, new_versions)
        if target is None:
            continue
        if target == pin.version:
            current += 1
        else:
            behind.setdefault(pin.layer, []).append(pin)
    return _PinPlan(
        pins, new_versions, account, {name: tuple(found) for name, found in behind.items()}, current
    )


def _bump_locally(
    config: Config, lock: Lock, outcome: PushOutcome, services: Services, options: PushOptions
) -> PushOutcome:
    from layer_ci.pins.rewrite import plan_file_rewrites, target_version, write_atomically

    pin_plan = _plan_pins(config, lock)
    # Layers whose consumers must pass before pins move: those published now, and those whose pins still
    # lag behind the lock (a previous run's tests failed, or someone reverted a bump).
    published_layers = tuple(dict.fromkeys(version.layer for version in outcome.published))
    under_test = tuple(dict.fromkeys([*published_layers, *pin_plan.behind]))
    checks: tuple[FunctionCheck, ...] = ()
    if under_test:
        with services.phase("test affected functions"):
            checks = _run_gate(config, lock, under_test, services, options)
    failed = {check.function for check in checks if not check.passed}
    held_back = tuple(
        name
        for name in pin_plan.behind
        if any(function.name in failed for function in config.consumers(name))
    )
    movable = {key: version for key, version in pin_plan.new_versions.items() if key[0] not in held_back}
    changes: list[PinChange] = []
    if any(name not in held_back for name in pin_plan.behind):
        with services.phase("bump pins"):
            pins = [pin for name, found in pin_plan.behind.items() if name not in held_back for pin in found]
            for rewrite in plan_file_rewrites(config.root, pins, movable, account=pin_plan.account):
                for pin in rewrite.result.unmovable:
                    services.log(f"{pin.location}: {pin.layer} v{pin.version} not moved: "
                                 f"unmovable: {pin.unmovable}; edit it by hand")
                if not rewrite.changed:
                    continue
                write_atomically(rewrite.path, rewrite.after)
                for pin in rewrite.result.changed:
                    new = target_version(pin, movable)
                    assert new is not None
                    changes.append(PinChange(pin.path, pin.line, pin.layer, pin.region, pin.version, new))
                    services.log(f"{pin.path}:{pin.line}: {pin.layer} v{pin.version} -> v{new}")
    for name in held_back:
        services.log(f"{name}: pins left as they were: a consumer's tests failed against the new version")
    return replace(
        outcome,
        pin_changes=tuple(changes),
        pins_current=pin_plan.current,
        held_back=held_back,
        checks=checks,
    )


def _run_gate(
    config: Config, lock: Lock, layers: Sequence[str], services: Services, options: PushOptions
) -> tuple[FunctionCheck, ...]:
    """Each consumer of ``layers`` tested against the versions the lock records (in its pins' region)."""
    from layer_ci.engine.sources import default_region

    functions = _consumers(config, layers)
    if not options.run_tests:
        return tuple(FunctionCheck(name, "skipped", ()) for name in functions)
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
        checks.append(_test_one(config, name, sources, tuple(labels), region, services, options))
    return tuple(checks)


def _dry_run_tests(
    config: Config,
    outcome: PushOutcome,
    built: Sequence[BuiltLayer],
    services: Services,
    options: PushOptions,
) -> PushOutcome:
    """A dry run tests the consumers against the zips it built; nothing is published or rewritten."""
    zips = {layer.spec.name: layer.zip_path for layer in built}
    functions = _consumers(config, list(zips))
    if not functions:
        return outcome
    if not options.run_tests:
        return replace(outcome, checks=tuple(FunctionCheck(name, "skipped", ()) for name in functions))
    checks = []
    with services.phase("test affected functions"):
        for name in functions:
            function = config.function(name)
            sources = {layer: str(zips[layer]) for layer in function.layers if layer in zips}
            labels = tuple(f"{layer} (built zip)" for layer in sources)
            checks.append(_test_one(config, name, sources, labels, "", services, options))
    return replace(outcome, checks=tuple(checks))


def _consumers(config: Config, layers: Sequence[str]) -> tuple[str, ...]:
    wanted = set(layers)
    return tuple(function.name for function in config.functions if wanted & set(function.layers))


def _test_one(
    config: Config,
    function: str,
    sources: Mapping[str, str],
    labels: tuple[str, ...],
    region: str,
    services: Services,
    options: PushOptions,
) -> FunctionCheck:
    from layer_ci.engine.prepare import EngineOptions

    engine = options.engine or EngineOptions()
    if region:
        engine = replace(engine, region=region)
    services.log(f"testing {function} against {', '.join(labels) or 'its pinned layers'}")
    try:
        result = services.run_tests(
            config, function, sources, options=engine, timeout_s=options.test_timeout_s
        )
    except LayerCiError as exc:  # no interpreter, a missing version: a verdict on this function
        services.log(f"ERROR: {function}: {exc.one_line()}")
        return FunctionCheck(function, "error", labels, exc.one_line(), 0.0, region)
    status: CheckStatus = result.status
    verdict = status.upper()
    services.log(
        f"{verdict}: {function} ({result.duration_s:.1f} s)"
        + (f": {result.headline}" if result.headline and not result.passed else "")
    )
    return FunctionCheck(
        function, status, labels, result.headline, result.duration_s, result.region or region
    )


# ----------------------------------------------------------------------------------- pull-request mode


def _bump_with_pull_requests(
    config: Config,
    lock: Lock,
    outcome: PushOutcome,
    services: Services,
    options: PushOptions,
    progress: _Progress,
) -> PushOutcome:
    """Hand the published versions to `layer-ci bump`: branches, commits, PRs and the gate's statuses.

    The only place the pipeline calls the bump package. It compares the lock committed on the base branch
    with the one publishing just wrote, so a rerun after a crash (published, no PR yet) still opens the PR.
    """
    assert services.github is not None and services.git is not None  # check_push_options saw to it
    from layer_ci.bump.pull_requests import bump_after_publish
    from layer_ci.engine.extract import default_cache_dir
    from layer_ci.engine.prepare import EngineOptions

    engine = options.engine or EngineOptions()

    def test_runner(config: Config, function: FunctionSpec, sources: Mapping[str, str]) -> TestResult:
        services.log(f"testing {function.name} against {', '.join(f'{k}={v}' for k, v in sources.items())}")
        return services.run_tests(
            config, function.name, sources, options=engine, timeout_s=options.test_timeout_s
        )

    result = bump_after_publish(
        config,
        git=services.git,
        github=services.github,
        test_runner=test_runner,
        cache_dir=engine.cache_dir or default_cache_dir(),
        base=options.base_branch,
        build_dir=options.out_dir or state_dir(config.root, DEFAULT_BUILD_DIR),
        registry_factory=services.registry_factory,
        target_url=options.target_url,
        log=services.log,
        on_outcome=progress.pull_requests.append,
    )
    pin_plan = _plan_pins(config, lock)
    return replace(_with_pull_requests(config, lock, outcome, result.prs), pins_current=pin_plan.current)


def _with_pull_requests(
    config: Config, lock: Lock, outcome: PushOutcome, prs: Sequence[PrOutcome]
) -> PushOutcome:
    """The bump branches' outcomes in the run's terms: PR refs, each gate result as run, held pins.

    Every branch's test results count, also those of a branch that was skipped (e.g. carrying commits
    by people): the tests ran against the published versions and their verdict is the run's.
    """
    pull_requests = tuple(
        PullRequestRef(pr.number, pr.url, pr.branch, tuple(pr.layers), pr.action, pr.reason) for pr in prs
    )
    checks = []
    for pr in prs:
        for check in pr.checks:
            result = check.result
            labels = tuple(_released_label(lock, layer) for layer, _source in check.sources)
            checks.append(
                FunctionCheck(
                    check.function,
                    result.status,
                    labels,
                    result.headline,
                    result.duration_s,
                    result.region,
                )
            )
    held = tuple(
        HeldPin(path, int(line), kept.layer, kept.version, kept.reason)
        for pr in prs
        for kept in pr.kept_pins
        for path, _, line in [kept.location.rpartition(":")]
        if line.isdigit()
    )
    return replace(outcome, pull_requests=pull_requests, checks=tuple(checks), held_pins=held)


def _released_label(lock: Lock, layer: str) -> str:
    """``common-deps v4`` (``v4/v5`` when regions got different numbers), as the lock records it."""
    locked = lock.get(layer)
    numbers = sorted({ref.version for ref in locked.published.values()}) if locked is not None else []
    return f"{layer} " + "/".join(f"v{number}" for number in numbers) if numbers else layer
