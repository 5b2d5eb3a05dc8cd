"""What the push flow gives back: small frozen rows for the summary table, the Action's outputs, the exit.

``StageFailed`` carries the outcome so far when a stage fails after something was published, so the
front ends can still say what happened before the failure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from layer_ci.bump.working_tree import PinMove
from layer_ci.errors import EXIT_FAILURE, EXIT_OK, LayerCiError
from layer_ci.gate.local_gate import ConsumerCheck
from layer_ci.model import BuiltLayer, PublishedVersion
from layer_ci.plan.changes import Plan
from layer_ci.plan.lockfile import Lock

if TYPE_CHECKING:
    from layer_ci.bump.pull_requests import PrOutcome

Mode = Literal["local", "pull-requests"]


@dataclass(frozen=True)
class BuiltSummary:
    """One layer built in this run."""

    layer: str
    zip_path: Path
    zip_sha256: str
    zipped_bytes: int
    unzipped_bytes: int

    @classmethod
    def of(cls, layer: BuiltLayer) -> BuiltSummary:
        manifest = layer.manifest
        sizes = (manifest.zipped_bytes, manifest.unzipped_bytes)
        return cls(manifest.layer, layer.zip_path, manifest.zip_sha256, *sizes)

    @property
    def zipped_label(self) -> str:
        return _size_label(self.zipped_bytes)

    @property
    def unzipped_label(self) -> str:
        return _size_label(self.unzipped_bytes)


def _size_label(count: int) -> str:
    """``1.2 MB`` from 100 kB up, else ``12.3 kB``: sizes as the summary tables show them."""
    return f"{count / 1_000_000:.1f} MB" if count >= 100_000 else f"{count / 1000:.1f} kB"


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
class HeldPin:
    """A pin a bump pull request left at its old version (``path`` is relative to the config's folder)."""

    path: str
    line: int
    layer: str
    version: int
    reason: str


@dataclass(frozen=True)
class LayerRow:
    """One targeted layer in one region: what was built and published there, and why it was targeted."""

    layer: str
    region: str
    built: BuiltSummary | None
    published: PublishedVersion | None
    reason: str
    dry_run: bool

    @property
    def version_label(self) -> str:
        """``v4``, ``v4 (reused)``, ``dry run``, or ``-`` when nothing was published."""
        if self.dry_run:
            return "dry run"
        if self.published is None:
            return "-"
        return f"v{self.published.version}" + ("" if self.published.created else " (reused)")


@dataclass(frozen=True)
class PushOutcome:
    """Everything a run did, for the summary table, the Action's outputs and the exit code."""

    plan: Plan
    mode: Mode
    dry_run: bool
    targets: Mapping[str, tuple[str, ...]] = field(default_factory=dict, hash=False)
    built: tuple[BuiltSummary, ...] = ()
    published: tuple[PublishedVersion, ...] = ()
    pin_changes: tuple[PinMove, ...] = ()
    pins_current: int = 0
    held_back: tuple[str, ...] = ()
    pull_requests: tuple[PullRequestRef, ...] = ()
    checks: tuple[ConsumerCheck, ...] = ()
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

    def layer_rows(self) -> list[LayerRow]:
        """One row per targeted layer and region, in config order: the table both front ends print."""
        built = {b.layer: b for b in self.built}
        published = {(p.layer, p.region): p for p in self.published}
        reasons = {change.layer: change.reason for change in self.plan.changes}
        return [
            LayerRow(
                layer,
                region,
                built.get(layer),
                published.get((layer, region)),
                reasons.get(layer, ""),
                self.dry_run,
            )
            for layer, regions in self.targets.items()
            for region in regions
        ]


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


def with_pull_requests(outcome: PushOutcome, lock: Lock, prs: Sequence[PrOutcome]) -> PushOutcome:
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
                ConsumerCheck(
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
