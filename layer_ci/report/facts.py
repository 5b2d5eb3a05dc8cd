"""What the reports show, as small frozen values the bump and verify stages fill in and the renderers read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from layer_ci.build.manifest import ManifestDiff, diff_manifests
from layer_ci.model import MAX_UNZIPPED_BYTES, Manifest

if TYPE_CHECKING:
    from layer_ci.engine.runner import TestResult


@dataclass(frozen=True)
class RegionVersion:
    """One region of a released layer: the version the base records (None: new region) and the new one."""

    region: str
    old: int | None
    new: int
    arn: str

    @property
    def changed(self) -> bool:
        return self.old != self.new


@dataclass(frozen=True)
class LayerBumpReport:
    """One released layer: its versions per region and the manifests of the old and new versions."""

    layer: str
    regions: tuple[RegionVersion, ...]
    before: Manifest | None = None
    after: Manifest | None = None

    @property
    def diff(self) -> ManifestDiff | None:
        if self.before is None or self.after is None:
            return None
        return diff_manifests(self.before, self.after)

    @property
    def new_versions(self) -> tuple[int, ...]:
        return tuple(sorted({region.new for region in self.regions}))


@dataclass(frozen=True)
class FunctionSize:
    """A function's code plus all its layers, unzipped, against Lambda's 262,144,000-byte budget."""

    function: str
    total_bytes: int
    unmeasured: tuple[str, ...] = ()
    budget_bytes: int = MAX_UNZIPPED_BYTES

    @property
    def over_budget(self) -> bool:
        return self.total_bytes > self.budget_bytes


@dataclass(frozen=True)
class KeptPin:
    """A pin of a released layer the bump left at its old version, and why."""

    location: str  # path:line
    layer: str
    version: int
    reason: str


@dataclass(frozen=True)
class BumpReport:
    """Everything one bump pull request says."""

    layers: tuple[LayerBumpReport, ...]
    results: tuple[TestResult, ...] = ()
    sizes: tuple[FunctionSize, ...] = ()
    changed_pins: int = 0
    changed_files: tuple[str, ...] = ()
    kept_pins: tuple[KeptPin, ...] = ()
    run_url: str | None = None

    @property
    def failed(self) -> tuple[TestResult, ...]:
        return tuple(result for result in self.results if not result.passed)

    @property
    def passed(self) -> bool:
        return not self.failed


@dataclass(frozen=True)
class PinChange:
    """A pin a pull request added, moved or removed (``old``/``new`` None for added/removed)."""

    path: str
    line: int
    layer: str
    region: str | None
    old: int | None
    new: int | None
    text: str = ""

    @property
    def location(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass(frozen=True)
class VerifyReport:
    """What `layer-ci verify` found for one change: pins moved, layers rebuilt, problems, test results."""

    base: str
    head: str
    pin_changes: tuple[PinChange, ...] = ()
    rebuilt_layers: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()
    results: tuple[TestResult, ...] = ()
    warnings: tuple[str, ...] = ()
    run_url: str | None = None

    @property
    def relevant(self) -> bool:
        """Whether the change touched pins or layer sources at all."""
        return bool(self.pin_changes or self.rebuilt_layers)

    @property
    def ok(self) -> bool:
        return not self.problems and all(result.passed for result in self.results)
