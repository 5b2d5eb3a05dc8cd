"""The push flow behind `layer-ci run` and the Action: plan, build, publish, then move pins behind tests.

Each stage hands the next a small frozen value; ``Services`` (flows/services.py) carries everything that
reaches outside the process. Two ways to finish: *local* (no GitHub) rewrites pins in the working tree
after the affected functions' tests passed, and *pull requests* hands the published versions to the bump
and gate of `layer-ci bump`.

Options that cannot work together are refused before anything is built. Once a version is published the
run has changed the world, so a later failure (GitHub refusing a request) is raised as ``StageFailed``
carrying the outcome so far: the published versions and the pull requests already handled.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from layer_ci.errors import LayerCiError, UsageError
from layer_ci.flows.outcome import BuiltSummary, Mode, PushOutcome, StageFailed, with_pull_requests
from layer_ci.flows.services import Services
from layer_ci.fsutil import state_dir
from layer_ci.gate.local_gate import DEFAULT_TEST_TIMEOUT_S, ConsumerCheck, ConsumerTests
from layer_ci.model import BuiltLayer, Config, PublishedVersion
from layer_ci.plan.changes import Plan, make_plan
from layer_ci.plan.lockfile import Lock, load_lock, save_lock

if TYPE_CHECKING:
    from layer_ci.bump.pull_requests import PrOutcome
    from layer_ci.bump.working_tree import PinMove
    from layer_ci.engine.prepare import EngineOptions

DEFAULT_BUILD_DIR = Path(".layer-ci") / "build"
UNKNOWN_COMMIT = "unknown"


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
    commit: str = UNKNOWN_COMMIT
    mode: Mode = "local"
    base_branch: str = "main"
    out_dir: Path | None = None
    build_cache_dir: Path | None = None
    engine: EngineOptions | None = None
    test_timeout_s: float = DEFAULT_TEST_TIMEOUT_S
    target_url: str | None = None  # linked from the gate's statuses (the Actions run)


@dataclass
class _Progress:
    """What the run has done so far, recorded as it happens so a later failure cannot hide it."""

    published: list[PublishedVersion] = field(default_factory=list)
    pull_requests: list[PrOutcome] = field(default_factory=list)

    @property
    def anything(self) -> bool:
        return bool(self.published or self.pull_requests)


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
    if targets and not options.dry_run and config.settings.pin_patterns:
        from layer_ci.pins.find import find_pins

        # A user's pin pattern can fail on a file (it runs too long): find that out before publishing.
        with services.phase("check pin patterns"):
            find_pins(config.root, config)

    built: list[BuiltLayer] = []
    if targets:
        with services.phase("build"):
            built = build_within_limits(config, plan, lock, targets, services, options)
        outcome = replace(outcome, built=tuple(BuiltSummary.of(layer) for layer in built))
    if options.dry_run:
        return _test_built_zips(config, outcome, built, services, options)

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
            partial = with_pull_requests(partial, lock, progress.pull_requests)
        raise StageFailed(stage, exc, partial) from exc


def plan_push(config: Config, services: Services) -> Plan:
    """The plan alone, where a run may only look (a branch push, a fork's pull request): what would change."""
    with services.phase("plan"):
        plan = make_plan(config, load_lock(config.root))
        for change in plan.changed:
            used_by = ", ".join(change.consumers) or "no function"
            services.log(f"{change.layer}: {change.reason} (used by {used_by})")
        if not plan.has_changes:
            services.log(f"nothing to do: {len(plan.changes)} layer(s) unchanged")
    return plan


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


def build_within_limits(
    config: Config,
    plan: Plan,
    lock: Lock,
    targets: Mapping[str, tuple[str, ...]],
    services: Services,
    options: PushOptions,
) -> list[BuiltLayer]:
    """Build the targets, then refuse (before any publish) what would break a Lambda limit.

    The build step of `layer-ci run`, `layer-ci publish` and the Action alike.
    """
    from layer_ci.build.targets import build_targets
    from layer_ci.gate.budget import check_before_publish
    from layer_ci.lambda_spec.limits import raise_on_violations

    out_dir = options.out_dir or state_dir(config.root, DEFAULT_BUILD_DIR)
    built = build_targets(
        config,
        plan,
        targets,
        out_dir,
        cache_dir=options.build_cache_dir,
        build=services.build,
        log=services.log,
    )
    raise_on_violations(check_before_publish(config, built, lock, warn=services.log))
    return built


def current_commit(root: Path) -> str:
    """$GITHUB_SHA, else the checkout's HEAD, else "unknown" (it is only recorded in descriptions)."""
    if os.environ.get("GITHUB_SHA"):
        return os.environ["GITHUB_SHA"]
    from layer_ci.adapters.git import GitRepo

    try:
        return GitRepo(root).resolve("HEAD") or UNKNOWN_COMMIT
    except LayerCiError:  # not a git checkout: the commit in descriptions is informational only
        return UNKNOWN_COMMIT


def _consumer_tests(services: Services, options: PushOptions) -> ConsumerTests:
    return ConsumerTests(
        services.run_tests, services.log, options.engine, options.test_timeout_s, options.run_tests
    )


def _test_built_zips(
    config: Config,
    outcome: PushOutcome,
    built: Sequence[BuiltLayer],
    services: Services,
    options: PushOptions,
) -> PushOutcome:
    """A dry run tests the consumers against the zips it built; nothing is published or rewritten."""
    from layer_ci.gate.local_gate import check_against_zips, consumers_of

    zips = {layer.spec.name: layer.zip_path for layer in built}
    if not consumers_of(config, list(zips)):
        return outcome
    tests = _consumer_tests(services, options)
    if not tests.enabled:
        return replace(outcome, checks=check_against_zips(config, zips, tests))
    with services.phase("test affected functions"):
        return replace(outcome, checks=check_against_zips(config, zips, tests))


def _publish(
    config: Config,
    lock: Lock,
    built: Sequence[BuiltLayer],
    targets: Mapping[str, tuple[str, ...]],
    services: Services,
    options: PushOptions,
    progress: _Progress,
) -> Lock:
    """Each layer in each region, every version recorded (lock and progress) as soon as it exists."""
    from layer_ci.gate.retest import mark_untested
    from layer_ci.publish.publisher import publish_layers

    def published(version: PublishedVersion) -> None:
        progress.published.append(version)
        mark_untested(config, version)  # before the tests: a run stopped in between still retests it

    assert services.registry_factory is not None
    lock, _published = publish_layers(
        config,
        built,
        services.registry_factory,
        lock,
        options.commit,
        regions=targets,
        save=lambda new_lock: save_lock(config.root, new_lock),
        log=services.log,
        on_published=published,
    )
    return lock


def _bump_locally(
    config: Config, lock: Lock, outcome: PushOutcome, services: Services, options: PushOptions
) -> PushOutcome:
    """Test the consumers against the lock's versions, then move the pins of the layers that passed."""
    from layer_ci.bump.working_tree import held_back_layers, move_pins, plan_pins
    from layer_ci.gate.local_gate import check_against_lock
    from layer_ci.gate.retest import pending_retests, record_results, untested_layers

    pin_plan = plan_pins(config, lock)
    # Layers whose consumers must pass before pins move: those published now, those whose pins still lag
    # behind the lock (a previous run's tests failed, or someone reverted a bump), and those whose consumers
    # failed on the last run against versions the pins already name.
    published_layers = tuple(dict.fromkeys(version.layer for version in outcome.published))
    if options.run_tests:
        retests = pending_retests(config, lock, services.log)
    else:
        retests = ()
        for name in untested_layers(config, lock) or ():
            services.log(
                f"{name}: its consumers have not passed against this version yet; --no-test leaves "
                "them untested, a run without it tests them"
            )
    under_test = tuple(dict.fromkeys([*published_layers, *pin_plan.behind, *retests]))
    checks: tuple[ConsumerCheck, ...] = ()
    if under_test:
        with services.phase("test affected functions"):
            checks = check_against_lock(config, lock, under_test, _consumer_tests(services, options))
    failed = {check.function for check in checks if not check.passed}
    if options.run_tests:
        record_results(config, lock, under_test, failed)
    held_back = held_back_layers(config, pin_plan, failed)
    changes: tuple[PinMove, ...] = ()
    if any(name not in held_back for name in pin_plan.behind):
        with services.phase("bump pins"):
            changes = move_pins(config, pin_plan, held_back, services.log)
    for name in held_back:
        services.log(f"{name}: pins left as they were: a consumer's tests failed against the new version")
    return replace(
        outcome, pin_changes=changes, pins_current=pin_plan.current, held_back=held_back, checks=checks
    )


def _bump_with_pull_requests(
    config: Config,
    lock: Lock,
    outcome: PushOutcome,
    services: Services,
    options: PushOptions,
    progress: _Progress,
) -> PushOutcome:
    """Hand the published versions to `layer-ci bump`: branches, commits, PRs and the gate's statuses.

    The only place the push flow calls the bump package. It compares the lock committed on the base branch
    with the one publishing just wrote, so a rerun after a crash (published, no PR yet) still opens the PR.
    """
    assert services.github is not None and services.git is not None  # check_push_options saw to it
    from layer_ci.bump.pull_requests import bump_after_publish
    from layer_ci.bump.working_tree import plan_pins
    from layer_ci.engine.extract import default_cache_dir

    result = bump_after_publish(
        config,
        git=services.git,
        github=services.github,
        test_runner=_consumer_tests(services, options).as_runner(),
        cache_dir=(options.engine.cache_dir if options.engine else None) or default_cache_dir(),
        base=options.base_branch,
        build_dir=options.out_dir or state_dir(config.root, DEFAULT_BUILD_DIR),
        registry_factory=services.registry_factory,
        target_url=options.target_url,
        log=services.log,
        on_outcome=progress.pull_requests.append,
    )
    pins_current = plan_pins(config, lock).current
    return replace(with_pull_requests(outcome, lock, result.prs), pins_current=pins_current)
