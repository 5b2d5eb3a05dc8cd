"""Turn ``--layer NAME=SOURCE`` (zip, ``local``, version, ARN) or the function's pin into a zip path."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from layer_ci.errors import UsageError

if TYPE_CHECKING:
    from layer_ci.lambda_spec.arn import LayerVersionArn
    from layer_ci.model import Config, FunctionSpec, LayerSpec
    from layer_ci.pins.find import Pin

DEFAULT_REGION = "us-east-1"
LOCAL = "local"


class LayerSourceError(UsageError):
    """A ``--layer`` value (or the default pinned version) cannot be turned into a layer zip."""


@dataclass(frozen=True)
class ResolvedLayer:
    """One layer of the function, pinned down to a zip on disk and described for humans."""

    name: str
    label: str
    zip_path: Path
    version: int | None = None
    arn: str | None = None
    compatible_runtimes: tuple[str, ...] = ()
    compatible_architectures: tuple[str, ...] = ()


def parse_layer_options(values: Sequence[str]) -> dict[str, str]:
    """``["a=local", "b=3"]`` -> ``{"a": "local", "b": "3"}``; each name at most once."""
    sources: dict[str, str] = {}
    for value in values:
        name, sep, source = value.partition("=")
        name, source = name.strip(), source.strip()
        if not sep or not name or not source:
            raise LayerSourceError(
                f"--layer {value!r}: expected NAME=SOURCE, where SOURCE is a zip path, a version number, "
                "a layer version ARN or 'local'"
            )
        if name in sources:
            raise LayerSourceError(
                f"--layer {name} is given twice ({sources[name]!r} and {source!r}); keep one"
            )
        sources[name] = source
    return sources


def layer_entries(function: FunctionSpec) -> list[tuple[str, str | None]]:
    """(name, ARN or None) for each layer of the function, in its order; external layers carry their ARN.

    An external layer's name is its real name, read with the pins' ARN parser, so placeholders such as
    `arn:${AWS::Partition}:lambda:${AWS::Region}:017000801446:layer:NAME:3` name NAME.
    """
    from layer_ci.lambda_spec.arn import parse_layer_version_arn

    entries: list[tuple[str, str | None]] = []
    for entry in function.ordered_layers():
        if ":" in entry:
            try:
                entries.append((parse_layer_version_arn(entry).layer, entry))
            except ValueError:
                entries.append((entry, entry))  # unreadable: named by itself, and refused when resolved
        else:
            entries.append((entry, None))
    return entries


def concrete_arn(config: Config, arn: str, region: str) -> LayerVersionArn:
    """``arn`` with its placeholders filled: the region the run uses, settings.account, its partition.

    Raises LayerSourceError naming the ARN when it is not a layer version ARN.
    """
    from layer_ci.lambda_spec.arn import LayerVersionArn, parse_layer_version_arn, partition_for_region

    try:
        parsed = parse_layer_version_arn(arn)
    except ValueError as exc:
        raise LayerSourceError(str(exc)) from exc
    concrete_region = parsed.region or region
    return LayerVersionArn(
        partition=parsed.partition or partition_for_region(concrete_region),
        region=concrete_region,
        account=parsed.account or config.settings.account,
        layer=parsed.layer,
        version=parsed.version,
    )


def resolve_layers(
    config: Config,
    function: FunctionSpec,
    sources: Mapping[str, str],
    *,
    region: str,
    cache_dir: Path,
) -> list[ResolvedLayer]:
    """A zip for each of the function's layers, in the function's order."""
    entries = layer_entries(function)
    unknown = sorted(set(sources) - {name for name, _ in entries})
    if unknown:
        raise LayerSourceError(
            f"--layer {unknown[0]}: function {function.name} does not use that layer "
            f"(its layers: {', '.join(name for name, _ in entries) or 'none'})"
        )
    return [
        resolve_layer(
            config,
            function,
            name,
            sources.get(name, external),
            region=region,
            cache_dir=cache_dir,
            external=external,
        )
        for name, external in entries
    ]


def resolve_layer(
    config: Config,
    function: FunctionSpec,
    name: str,
    source: str | None,
    *,
    region: str,
    cache_dir: Path,
    external: str | None = None,
) -> ResolvedLayer:
    """Resolve one layer; ``source`` None means the version the function pins.

    ``external`` is the ARN the function names for a layer layer-ci does not build (a vendor's).
    """
    spec = _spec(config, name)
    runtimes = spec.compatible_runtimes if spec else ()
    architectures: tuple[str, ...] = tuple(spec.compatible_architectures) if spec else ()

    def resolved(label: str, zip_path: Path) -> ResolvedLayer:
        return ResolvedLayer(name, label, zip_path, None, None, runtimes, architectures)

    if source is None:
        version, where = pinned_version(config, function, name, region)
        return fetch_version(config, name, name, version, region, cache_dir, f"{name} v{version} ({where})")
    if source == LOCAL:
        if spec is None:
            raise LayerSourceError(
                f"--layer {name}=local: layer {name} is not declared in layer-ci.yml, so there is no "
                "source to build it from"
            )
        return resolved(
            f"{name} built from {_relative(spec.source, config.root)}", build_local(config, spec, cache_dir)
        )
    if re.fullmatch(r"[0-9]{1,10}", source):
        version = int(source)
        if version < 1:
            raise LayerSourceError(f"--layer {name}={source}: layer versions start at 1")
        if external is not None:  # another account's layer: that version of the ARN the function names
            arn = concrete_arn(config, external, region)
            assert arn.region is not None
            layer_arn = arn.layer_arn
            return fetch_version(
                config, name, layer_arn, version, arn.region, cache_dir, f"{name} v{version} ({layer_arn})"
            )
        return fetch_version(config, name, name, version, region, cache_dir, f"{name} v{version} ({region})")
    if re.fullmatch(r"[+-]?[0-9]+", source):
        raise LayerSourceError(
            f"--layer {name}={source[:40]}: not a layer version number; versions count from 1 "
            f"(pass the version Lambda gave it, e.g. --layer {name}=3)"
        )
    if source.startswith("arn:"):
        try:
            arn = concrete_arn(config, source, region)
        except LayerSourceError as exc:
            raise LayerSourceError(f"--layer {name}: {exc}") from exc
        assert arn.region is not None  # filled from the run's region
        if spec is not None and arn.layer != name:
            # One of ours swapped for another layer would test the function without the layer it names.
            raise LayerSourceError(
                f"--layer {name}={source}: that ARN is a version of layer {arn.layer}, not of {name}; "
                f"pass a version of {name} (its number or its ARN)"
            )
        layer_arn = arn.layer_arn
        label = f"{name} = {source}" if str(arn) == source else f"{name} = {arn} (from {source})"
        return fetch_version(config, name, layer_arn, arn.version, arn.region, cache_dir, label)
    return resolved(f"{name} from {source}", _existing_zip(name, source, config.root))


def default_region(config: Config, function: FunctionSpec) -> str:
    """The region the function's pins name, else its first layer's first region, else the first region
    any layer of layer-ci.yml is published to, else us-east-1."""
    try:
        pins = _function_pins(config, function)
    except Exception:  # pins are a convenience here; an unreadable file is reported by `layer-ci pins`
        pins = []
    names = {name for name, _ in layer_entries(function)}
    for pin in pins:
        if pin.layer in names and pin.region:
            return str(pin.region)
    for name, _ in layer_entries(function):
        spec = _spec(config, name)
        if spec is not None and spec.regions:
            return spec.regions[0]
    for spec in config.layers:
        if spec.regions:
            return spec.regions[0]
    return DEFAULT_REGION


def pinned_version(config: Config, function: FunctionSpec, layer: str, region: str) -> tuple[int, str]:
    """The version of ``layer`` the function pins in ``region`` and where that was read.

    The pins in the function's files come first; when it has none, the version layer-ci.lock records
    as published in that region (what a fresh deploy would use).
    """
    pins = [
        pin
        for pin in _function_pins(config, function)
        if pin.layer == layer and (pin.region is None or pin.region == region)
    ]
    versions = sorted({pin.version for pin in pins})
    if len(versions) == 1:
        first = pins[0]
        return versions[0], f"pinned at {first.path}:{first.line}"
    if len(versions) > 1:
        places = ", ".join(f"v{pin.version} at {pin.path}:{pin.line}" for pin in pins[:4])
        raise LayerSourceError(
            f"function {function.name} pins layer {layer} at several versions ({places}); "
            f"choose one with --layer {layer}=VERSION"
        )
    published = _locked_version(config, layer, region)
    if published is not None:
        return published, f"published in {region} per layer-ci.lock"
    raise LayerSourceError(
        f"function {function.name} pins no version of layer {layer} in {region} and layer-ci.lock records "
        f"none; pass --layer {layer}=local (build from source), --layer {layer}=VERSION or a zip path"
    )


# ----------------------------------------------------------------------------------------------------
# The seams to the build, registry, lockfile and pins modules: small, so each is easy to rewire.


def build_local(config: Config, spec: LayerSpec, cache_dir: Path) -> Path:
    """Build ``spec`` from the repository's source (once per input key) and return its zip."""
    from layer_ci.build.layer import build_layer
    from layer_ci.plan.inputs import input_key

    key = input_key(spec, config.root)
    out_dir = cache_dir / "builds" / spec.name / key.split(":")[-1][:32]
    built_zip = out_dir / f"{spec.name}.zip"
    if built_zip.is_file() and (out_dir / f"{spec.name}.manifest.json").is_file():
        return built_zip
    built = build_layer(spec, out_dir, input_key=key, cache_dir=cache_dir / "build-cache")
    return Path(built.zip_path)


def fetch_version(
    config: Config, name: str, layer: str, version: int, region: str, cache_dir: Path, label: str
) -> ResolvedLayer:
    """Download (or find in the cache) a published version, verified by its SHA-256.

    ``layer`` is a name or a layer ARN (for layers of other accounts). Compatibility comes from the
    published version itself: that, not today's layer-ci.yml, is what Lambda checks.
    """
    from layer_ci.publish.registries import open_registry

    registry = open_registry(config, region)
    info = registry.get_version(layer, version)
    if info is None:
        where = f"{layer} " if layer.startswith("arn:") else ""
        raise LayerSourceError(
            f"layer {name} version {version} {where}does not exist in {region} for the "
            f"{config.settings.registry} registry (deleted, never published, or another account's); "
            f"pass --layer {name}=VERSION or --layer {name}=path/to/layer.zip"
        )
    zip_path = Path(registry.fetch(layer, version, cache_dir / "zips"))
    return ResolvedLayer(
        name,
        label,
        zip_path,
        version,
        info.arn,
        tuple(info.compatible_runtimes),
        tuple(info.compatible_architectures),
    )


def _locked_version(config: Config, layer: str, region: str) -> int | None:
    from layer_ci.plan.lockfile import load_lock

    lock = load_lock(config.root)
    locked = lock.layers.get(layer)
    if locked is None:
        return None
    ref = locked.published.get(region)
    return None if ref is None else int(ref.version)


def _function_pins(config: Config, function: FunctionSpec) -> list[Pin]:
    from layer_ci.pins.find import find_pins

    pins = list(find_pins(config.root, config))
    if function.pin_files:
        wanted = {Path(path).as_posix() for path in function.pin_files}
        pins = [pin for pin in pins if Path(pin.path).as_posix() in wanted]
    return pins


def _spec(config: Config, name: str) -> LayerSpec | None:
    try:
        return config.layer(name)
    except KeyError:
        return None


def _existing_zip(name: str, source: str, root: Path) -> Path:
    path = Path(source).expanduser()
    candidates = [path] if path.is_absolute() else [Path.cwd() / path, root / path]
    for candidate in candidates:
        if candidate.is_file():
            return candidate.absolute()
    if any(candidate.is_dir() for candidate in candidates):
        raise LayerSourceError(
            f"--layer {name}={source}: a folder, not a zip; pass the zip `layer-ci build {name}` wrote, "
            f"or --layer {name}=local to build the layer from its source"
        )
    raise LayerSourceError(
        f"--layer {name}={source}: no such file; SOURCE is a built zip, a version number, a layer "
        "version ARN or 'local'"
    )


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)
