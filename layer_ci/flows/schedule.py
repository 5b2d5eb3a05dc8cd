"""The scheduled flows behind `layer-ci audit`, `prune`, `watch` and the Action's schedule run.

Audit: every pin's version still exists (a deleted one breaks the next deploy), deployed functions match
the pins. Prune: old versions nothing pins, runs or recently made go. Watch: pinned vendor layers with
newer versions get gated bump pull requests.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from layer_ci.flows.services import RegistryFactory, Services
from layer_ci.model import Config

if TYPE_CHECKING:
    from layer_ci.adapters.git import GitRepo
    from layer_ci.adapters.github import GitHubClient
    from layer_ci.gate.consumers import TestRunner
    from layer_ci.pins.find import Pin
    from layer_ci.publish.audit import AuditReport
    from layer_ci.publish.prune import PruneDecision
    from layer_ci.vendor.watch import AwsFactory, WatchResult


@dataclass(frozen=True)
class PruneOutcome:
    """Every version's decision, the ones deleted (none unless applied), and the rules they followed."""

    decisions: tuple[PruneDecision, ...]
    deleted: tuple[PruneDecision, ...]
    keep: int
    grace_days: int


@dataclass(frozen=True)
class ScheduleOutcome:
    """What a scheduled check found (``audit`` None when it did not audit) and pruned (None: no prune)."""

    audit: AuditReport | None = None
    prune: PruneOutcome | None = None

    @property
    def ok(self) -> bool:
        return self.audit is None or self.audit.ok


def run_schedule(config: Config, services: Services, *, audit: bool, prune: bool | None) -> ScheduleOutcome:
    """Audit the pins (when ``audit``), then prune (``prune`` None: when settings.prune.keep is set)."""
    from layer_ci.pins.find import find_pins

    assert services.registry_factory is not None
    pins = find_pins(config.root, config)
    report = None
    if audit:
        with services.phase("audit"):
            report = audit_pins(config, services.registry_factory, pins=pins)
            services.log(
                f"audit checked {report.pins_checked} pin(s), compared {report.functions_compared} deployed "
                f"function(s): {len(report.errors)} error(s), {len(report.warnings)} warning(s)"
            )
    pruned = None
    if prune if prune is not None else config.settings.prune_keep is not None:
        with services.phase("prune"):
            pruned = prune_versions(config, services.registry_factory, apply=True, pins=pins)
            for decision in pruned.deleted:
                services.log(
                    f"deleted {decision.layer} v{decision.version} in {decision.region}: {decision.reason}"
                )
    return ScheduleOutcome(report, pruned)


def audit_pins(
    config: Config,
    registry_factory: RegistryFactory,
    *,
    check_drift: bool = True,
    pins: Sequence[Pin] | None = None,
) -> AuditReport:
    """Every pin checked against its registry; deployed functions compared with the pins (``check_drift``)."""
    from layer_ci.pins.find import find_pins
    from layer_ci.publish.audit import audit

    found = find_pins(config.root, config) if pins is None else pins
    return audit(config, found, registry_factory, check_drift=check_drift)


def prune_versions(
    config: Config,
    registry_factory: RegistryFactory,
    *,
    apply: bool,
    keep: int | None = None,
    grace_days: int | None = None,
    layers: Sequence[str] = (),
    pins: Sequence[Pin] | None = None,
) -> PruneOutcome:
    """Decide which old versions may go (``keep``/``grace_days`` default to settings.prune); delete them
    only when ``apply``."""
    from layer_ci.pins.find import find_pins
    from layer_ci.plan.lockfile import load_lock
    from layer_ci.publish.prune import DEFAULT_KEEP, apply_prune, plan_prune

    settings = config.settings
    if keep is None:
        keep = settings.prune_keep if settings.prune_keep is not None else DEFAULT_KEEP
    if grace_days is None:
        grace_days = settings.prune_grace_days
    decisions = plan_prune(
        config,
        registry_factory,
        find_pins(config.root, config) if pins is None else pins,
        load_lock(config.root),
        keep=keep,
        grace_days=grace_days,
        now=datetime.now(UTC),
        layers=layers,
    )
    deleted = apply_prune(decisions, registry_factory) if apply else []
    return PruneOutcome(tuple(decisions), tuple(deleted), keep, grace_days)


def watch_vendor(
    config: Config,
    *,
    git: GitRepo | None,
    github: GitHubClient | None,
    test_runner: TestRunner | None = None,
    cache_dir: Path | None = None,
    base: str = "main",
    dry_run: bool = False,
    check_only: bool = False,
    only: Sequence[str] = (),
    target_url: str | None = None,
    aws_for: AwsFactory | None = None,
    fetch: Callable[[str, str, Path], Path] | None = None,
    log: Callable[[str], None] | None = None,
) -> WatchResult:
    """The whole vendor watch on a checkout: look up newer versions, test the consumers, open bump PRs.

    ``test_runner`` defaults to the test engine, ``cache_dir`` (fetched zips) to layer-ci's cache.
    """
    from layer_ci.bump.pull_requests import BumpOptions, bump_vendor_groups, repository_of
    from layer_ci.engine.extract import default_cache_dir
    from layer_ci.engine.prepare import EngineOptions
    from layer_ci.gate.consumers import engine_runner
    from layer_ci.pins.find import find_pins
    from layer_ci.publish.fetch import fetch_url
    from layer_ci.vendor.policy import load_vendor_settings
    from layer_ci.vendor.watch import watch_vendor_layers

    settings = load_vendor_settings(config.path, _shown(config))
    pins = find_pins(config.root, config)
    cache_dir = cache_dir or default_cache_dir()
    runner = test_runner or engine_runner(EngineOptions(cache_dir=cache_dir))

    def bump(view: Config, groups: Sequence[Any], zips: Mapping[str, Path]) -> Any:
        assert git is not None
        _, prefix = repository_of(config.root)
        return bump_vendor_groups(
            view,
            groups,
            git=git,
            github=github,
            test_runner=runner,
            new_zips=zips,
            options=BumpOptions(base=base, repo_prefix=prefix, dry_run=dry_run, target_url=target_url),
            log=log,
        )

    return watch_vendor_layers(
        config,
        pins,
        settings,
        aws_for=aws_for or default_aws(config),
        cache_dir=cache_dir,
        bump=None if check_only else bump,
        fetch=fetch or fetch_url,
        only=only,
        log=log,
    )


def default_aws(config: Config) -> AwsFactory:
    """One read-only adapter per region, with the config's retry mode (created on first use)."""
    from layer_ci.adapters.aws import AwsAdapter, AwsOptions

    adapters: dict[str, AwsAdapter] = {}

    def adapter(region: str) -> AwsAdapter:
        if region not in adapters:
            adapters[region] = AwsAdapter(region, AwsOptions.from_env(config.settings.retry_mode))
        return adapters[region]

    return adapter


def _shown(config: Config) -> str:
    try:
        return config.path.relative_to(Path.cwd()).as_posix()
    except ValueError:
        return str(config.path)
