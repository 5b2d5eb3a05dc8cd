"""Audit: pins to deleted or never-published versions (errors), and deployed functions that drift."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from layer_ci.errors import ServiceError
from layer_ci.model import Config, FunctionSpec
from layer_ci.pins.find import Pin
from layer_ci.publish.registry_contract import DeployedFunction, LayerRegistry, parse_layer_arn

RegistryFactory = Callable[[str], LayerRegistry]


@dataclass(frozen=True)
class AuditReport:
    """Errors (redeploys that will fail) and warnings (drift, pins that could not be checked)."""

    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    pins_checked: int = 0
    functions_compared: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass
class _Findings:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Known:
    """What a registry says about one layer: its existing versions, or None when it cannot be listed."""

    versions: frozenset[int] | None
    newest: int | None


def audit(
    config: Config,
    pins: Sequence[Pin],
    registry_factory: RegistryFactory,
    *,
    check_drift: bool = True,
) -> AuditReport:
    """Check every pin against its region's registry, then compare deployed functions with the pins."""
    registries: dict[str, LayerRegistry] = {}

    def registry(region: str) -> LayerRegistry:
        if region not in registries:
            registries[region] = registry_factory(region)
        return registries[region]

    findings = _Findings()
    checked = _check_pins(config, pins, registry, findings)
    compared = _check_drift(config, pins, registry, findings) if check_drift else 0
    return AuditReport(tuple(findings.errors), tuple(findings.warnings), checked, compared)


def pin_regions(config: Config, pin: Pin) -> tuple[str, ...]:
    """The regions a pin applies to: its own, or (a ``${AWS::Region}`` placeholder) every configured one."""
    if pin.region:
        return (pin.region,)
    try:
        return config.layer(pin.layer).regions
    except KeyError:
        return ()


def _check_pins(
    config: Config, pins: Sequence[Pin], registry: Callable[[str], LayerRegistry], findings: _Findings
) -> int:
    known: dict[tuple[str, str], _Known] = {}
    own_layers = {layer.name for layer in config.layers}
    local = config.settings.registry == "local"
    checked = 0
    for pin in pins:
        regions = pin_regions(config, pin)
        if not regions:
            findings.warnings.append(
                f"{pin.path}:{pin.line}: {pin.text}: not checked: the region is a placeholder and layer "
                f"{pin.layer} is not in layer-ci.yml"
            )
            continue
        for region in regions:
            home = registry(region)
            if pin.account is None or pin.account == home.account:
                ref = pin.layer  # a placeholder account means the deploying account: ours
            elif local:
                # The folder registry only holds this repository's layers.
                if pin.layer in own_layers:
                    findings.warnings.append(
                        f"{pin.path}:{pin.line}: not checked: account {pin.account} is not the local "
                        f"registry's ({home.account})"
                    )
                continue
            else:
                # Another account's layer is read by ARN, which works when it is shared with us.
                ref = f"arn:{pin.partition or 'aws'}:lambda:{region}:{pin.account}:layer:{pin.layer}"
            checked += 1
            key = (region, ref)
            if key not in known:
                known[key] = _list(home, ref)
            info = known[key]
            exists = (
                pin.version in info.versions if info.versions is not None else _exists(home, ref, pin.version)
            )
            if exists is None:
                findings.warnings.append(
                    f"{pin.path}:{pin.line}: {pin.text}: not checked: layer {pin.layer} cannot be read in "
                    f"{region} (not shared with this account?)"
                )
            elif not exists:
                findings.errors.append(_missing_message(pin, region, info.newest))
    return checked


def _list(registry: LayerRegistry, ref: str) -> _Known:
    try:
        versions = frozenset(info.version for info in registry.list_versions(ref))
    except ServiceError:
        # Another account's layer: ListLayerVersions cannot be granted across accounts, GetLayerVersion can.
        # Only Lambda's refusals mean that; a damaged local record is the user's to fix, so it propagates.
        return _Known(None, None)
    return _Known(versions, max(versions) if versions else None)


def _exists(registry: LayerRegistry, ref: str, version: int) -> bool | None:
    try:
        return registry.get_version(ref, version) is not None
    except ServiceError:
        return None


def _missing_message(pin: Pin, region: str, newest: int | None) -> str:
    head = (
        f"{pin.path}:{pin.line}: {pin.text}: layer {pin.layer} version {pin.version} does not exist in "
        f"{region} (deleted?); redeploys that reference it will fail"
    )
    if newest is None:
        return f"{head}; no version of {pin.layer} exists there: publish it (`layer-ci publish {pin.layer}`)"
    return f"{head}; bump to v{newest}"


def _function_pins(function: FunctionSpec, pins: Sequence[Pin]) -> list[Pin]:
    if function.pin_files:
        files = set(function.pin_files)
        return [pin for pin in pins if pin.path in files and pin.layer in function.layers]
    return [pin for pin in pins if pin.layer in function.layers]


def _check_drift(
    config: Config, pins: Sequence[Pin], registry: Callable[[str], LayerRegistry], findings: _Findings
) -> int:
    regions = sorted({region for layer in config.layers for region in layer.regions})
    by_name = {function.name: function for function in config.functions}
    compared = 0
    for region in regions:
        try:
            deployed = registry(region).list_functions()
        except ServiceError as exc:
            findings.warnings.append(f"drift not checked in {region}: {exc.one_line()}")
            continue
        for function in deployed:
            spec = by_name.get(function.name)
            if spec is None:
                continue
            compared += 1
            findings.warnings.extend(_drift(function, _function_pins(spec, pins), config))
    return compared


def _drift(function: DeployedFunction, pins: Iterable[Pin], config: Config) -> list[str]:
    running: dict[str, int] = {}
    for arn in function.layer_arns:
        parsed = parse_layer_arn(arn)
        if parsed is not None and parsed.version is not None:
            running[parsed.name] = parsed.version
    warnings = []
    for pin in pins:
        if function.region not in pin_regions(config, pin):
            continue
        deployed = running.get(pin.layer)
        if deployed is None:
            warnings.append(
                f"{pin.path}:{pin.line}: drift: function {function.name} in {function.region} does not use "
                f"layer {pin.layer}, which the repository pins at v{pin.version}"
            )
        elif deployed != pin.version:
            warnings.append(
                f"{pin.path}:{pin.line}: drift: function {function.name} in {function.region} runs "
                f"{pin.layer} v{deployed} but the repository pins v{pin.version}; deploy or bump to converge"
            )
    return warnings
