"""`layer-ci watch`: pinned vendor layers -> newest allowed versions -> content fetched -> gated bump PRs.

A vendor layer is a pinned layer ARN whose account is not the repository's own and whose name is not a
layer layer-ci.yml declares. Its bump goes through bump's own pull request steps (one call,
``bump_vendor_groups``): every consumer's tests run against the new version's zip first, a failing
consumer keeps its pin. Nothing is recorded in layer-ci.lock: the pins themselves say what is used.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from layer_ci.bump.releases import BRANCH_PREFIX, BumpGroup, LayerRelease
from layer_ci.errors import LayerCiError, ServiceError
from layer_ci.lambda_spec.arn import parse_layer_version_arn, partition_for_region
from layer_ci.model import BuildSpec, Config, LayerSpec
from layer_ci.pins.find import Pin
from layer_ci.plan.lockfile import LockedLayer, PublishedRef
from layer_ci.publish.fetch import fetch_url
from layer_ci.publish.registry_contract import code_sha256_hex
from layer_ci.report.facts import RegionVersion
from layer_ci.vendor.lookup import VendorAws, newest_version
from layer_ci.vendor.policy import VendorPolicy, VendorSettings

VENDOR_BRANCH_PREFIX = f"{BRANCH_PREFIX}vendor/"
DEFAULT_REGION = "us-east-1"

Log = Callable[[str], None]
AwsFactory = Callable[[str], VendorAws]
Fetcher = Callable[[str, str, Path], Path]  # (location, sha256 hex, cache dir) -> verified zip
Status = Literal["bump", "current", "not watched", "error"]


@dataclass(frozen=True)
class VendorLayer:
    """One vendor layer as the repository pins it: publisher, name, and the pinned version per region.

    ``pinned`` maps a region (None: pins whose region is a placeholder) to the lowest version pinned there.
    """

    account: str
    name: str
    partition: str | None  # None: the pins hold a placeholder, so each region's own partition
    pinned: Mapping[str | None, int]
    pins: tuple[Pin, ...]
    policy: VendorPolicy

    def arn_in(self, region: str) -> str:
        """The layer's ARN (without a version) in ``region``."""
        partition = self.partition or partition_for_region(region)
        return f"arn:{partition}:lambda:{region}:{self.account}:layer:{self.name}"


@dataclass(frozen=True)
class VendorStatus:
    """What the watch found for one vendor layer."""

    layer: str
    account: str
    status: Status
    regions: tuple[RegionVersion, ...] = ()
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "layer": self.layer,
            "account": self.account,
            "status": self.status,
            "regions": [
                {"region": r.region, "pinned": r.old, "newest": r.new, "arn": r.arn} for r in self.regions
            ],
            "detail": self.detail,
        }


@dataclass(frozen=True)
class WatchResult:
    """Every vendor layer's status and the bump's outcome (None when nothing needed a pull request)."""

    layers: tuple[VendorStatus, ...] = ()
    outcome: Any = None  # layer_ci.bump.pull_requests.BumpOutcome
    errors: tuple[str, ...] = field(default=())

    @property
    def tests_failed(self) -> bool:
        return self.outcome is not None and self.outcome.tests_failed

    def to_json(self) -> dict[str, Any]:
        return {
            "vendor_layers": [layer.to_json() for layer in self.layers],
            "pull_requests": self.outcome.to_json()["pull_requests"] if self.outcome is not None else [],
            "errors": list(self.errors),
        }


def is_vendor_pin(pin: Pin, config: Config) -> bool:
    """A concrete-account ARN pin of a layer that is neither the repository's account's nor declared."""
    return (
        pin.kind == "arn"
        and pin.account is not None
        and pin.account != config.settings.account
        and pin.layer not in {layer.name for layer in config.layers}
    )


def find_vendor_layers(
    config: Config, pins: Sequence[Pin], settings: VendorSettings
) -> tuple[VendorLayer, ...]:
    """The vendor layers ``pins`` reference, grouped by (account, name), in name order."""
    grouped: dict[tuple[str, str], list[Pin]] = {}
    for pin in pins:
        if is_vendor_pin(pin, config):
            assert pin.account is not None
            grouped.setdefault((pin.account, pin.layer), []).append(pin)
    layers = []
    for (account, name), group in sorted(grouped.items(), key=lambda item: (item[0][1], item[0][0])):
        pinned: dict[str | None, int] = {}
        for pin in group:
            pinned[pin.region] = min(pin.version, pinned.get(pin.region, pin.version))
        partitions = {pin.partition for pin in group if pin.partition}
        layers.append(
            VendorLayer(
                account=account,
                name=name,
                partition=partitions.pop() if len(partitions) == 1 else None,
                pinned=pinned,
                pins=tuple(group),
                policy=settings.policy(account, name),
            )
        )
    return tuple(layers)


def lookup_regions(config: Config, layer: VendorLayer) -> tuple[str, ...]:
    """Regions to look in: each concrete pin's, plus (for placeholder pins) the policy's or the config's."""
    regions = {region for region in layer.pinned if region is not None}
    if None in layer.pinned:
        fallback = layer.policy.regions or tuple(
            sorted({region for spec in config.layers for region in spec.regions})
        )
        regions.update(fallback or (DEFAULT_REGION,))
    return tuple(sorted(regions))


def release_of(
    config: Config, layer: VendorLayer, aws_for: AwsFactory, say: Log
) -> tuple[VendorStatus, LayerRelease | None]:
    """Look the layer up in every region; a release when some region has a newer allowed version."""
    regions: list[RegionVersion] = []
    notes = []
    for region in lookup_regions(config, layer):
        pinned = layer.pinned.get(region, layer.pinned.get(None))
        assert pinned is not None
        newest = newest_version(
            aws_for(region), layer.arn_in(region), layer.account, layer.name, pinned, layer.policy
        )
        say(
            f"{layer.name} ({layer.account}) in {region}: pinned v{pinned}, newest v{newest.version} "
            f"({newest.found_by})"
        )
        notes.append(f"{region}: {newest.found_by}")
        regions.append(
            RegionVersion(region, pinned, newest.version, f"{layer.arn_in(region)}:{newest.version}")
        )
    detail = "; ".join(notes)
    if not any(region.changed for region in regions):
        return VendorStatus(layer.name, layer.account, "current", tuple(regions), detail), None
    first = next(region for region in regions if region.changed)
    locked = LockedLayer(
        input_key="sha256:" + "0" * 64,  # not built here: the vendor's version is the input
        zip_sha256="",
        published={r.region: PublishedRef(r.new, r.arn) for r in regions},
    )
    release = LayerRelease(layer.name, tuple(regions), locked)
    return VendorStatus(
        layer.name, layer.account, "bump", tuple(regions), f"tested with {first.arn}; {detail}"
    ), release


def fetch_version(aws: VendorAws, arn: str, cache_dir: Path, fetch: Fetcher) -> tuple[Path, dict[str, Any]]:
    """The version's zip (from Content.Location, verified against CodeSha256) and its metadata."""
    layer_arn, _, version = arn.rpartition(":")
    item = aws.get_layer_version(layer_arn, int(version))
    if item is None:
        raise ServiceError("AWS Lambda", "GetLayerVersion", f"{arn} vanished while being watched; rerun")
    content = item.get("Content") or {}
    sha = code_sha256_hex(str(content.get("CodeSha256", "")))
    location = str(content.get("Location") or "")
    if not sha or not location.startswith(("https://", "http://")):
        raise ServiceError(
            "AWS Lambda",
            "GetLayerVersion",
            f"{arn} came without a downloadable Content.Location or CodeSha256",
        )
    return fetch(location, sha, cache_dir), item


def vendor_view(config: Config, releases: Sequence[tuple[LayerRelease, str, dict[str, Any]]]) -> Config:
    """``config`` with each released vendor layer declared, and used by the functions that pin it.

    Bump finds consumers and tests among declared layers; the functions keep their order of layers
    (``layer_order``), so the engine still mounts the vendor layer where the function lists it.
    """
    specs = []
    functions = list(config.functions)
    for release, account, item in releases:
        specs.append(
            LayerSpec(
                name=release.layer,
                source=config.root / ".layer-ci" / "vendor" / release.layer,  # never built
                build=BuildSpec(method="files"),
                compatible_runtimes=tuple(item.get("CompatibleRuntimes") or ()),
                compatible_architectures=tuple(item.get("CompatibleArchitectures") or ()),
                regions=tuple(region.region for region in release.regions),
                description=f"vendor layer of account {account}",
            )
        )
        # The function's entry becomes the concrete ARN of the first region: the zip stands in for it in
        # the tests anyway, and one concrete entry names the layer the same way everywhere.
        concrete = release.regions[0].arn
        for index, function in enumerate(functions):
            if any(_is_entry_of(entry, account, release.layer) for entry in function.external_layers):

                def fixed(entries: tuple[str, ...]) -> tuple[str, ...]:
                    return tuple(
                        concrete if _is_entry_of(entry, account, release.layer) else entry  # noqa: B023
                        for entry in entries
                    )

                functions[index] = replace(
                    function,
                    layers=(*function.layers, release.layer),
                    external_layers=fixed(function.external_layers),
                    layer_order=fixed(function.ordered_layers()),
                )
    return replace(config, layers=(*config.layers, *specs), functions=tuple(functions))


def _is_entry_of(entry: str, account: str, name: str) -> bool:
    try:
        arn = parse_layer_version_arn(entry)
    except ValueError:
        return False
    return arn.layer == name and arn.account in (account, None)


def watch_vendor_layers(
    config: Config,
    pins: Sequence[Pin],
    settings: VendorSettings,
    *,
    aws_for: AwsFactory,
    cache_dir: Path,
    bump: Callable[[Config, Sequence[BumpGroup], Mapping[str, Path]], Any] | None,
    fetch: Fetcher = fetch_url,
    only: Sequence[str] = (),
    log: Log | None = None,
) -> WatchResult:
    """Find the vendor layers, their newest versions, fetch the new content and hand the bumps over.

    ``bump`` gets the vendor view of the config, one group per layer and the zips to test with (None:
    only report what would move). One layer that cannot be looked up or fetched is reported as an error
    and the others go on.
    """
    say = log or (lambda _message: None)
    statuses: list[VendorStatus] = []
    errors: list[str] = []
    released: list[tuple[LayerRelease, str, dict[str, Any]]] = []
    zips: dict[str, Path] = {}
    for layer in find_vendor_layers(config, pins, settings):
        if only and layer.name not in only:
            continue
        if not layer.policy.watch:
            statuses.append(VendorStatus(layer.name, layer.account, "not watched", (), "watch: false"))
            continue
        try:
            status, release = release_of(config, layer, aws_for, say)
            if release is not None:
                changed = next(r for r in release.regions if r.changed)
                zips[layer.name], item = fetch_version(aws_for(changed.region), changed.arn, cache_dir, fetch)
                released.append((release, layer.account, item))
        except LayerCiError as exc:
            message = f"{layer.name} ({layer.account}): {exc.one_line()}"
            errors.append(message)
            statuses.append(VendorStatus(layer.name, layer.account, "error", (), exc.one_line()))
            continue
        statuses.append(status)
    outcome = None
    if released and bump is not None:
        groups = tuple(
            BumpGroup(f"{VENDOR_BRANCH_PREFIX}{release.layer}", (release,)) for release, _a, _i in released
        )
        outcome = bump(vendor_view(config, released), groups, zips)
    return WatchResult(tuple(statuses), outcome, tuple(errors))
