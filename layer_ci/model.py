"""Immutable value objects passed between the pipeline's stages (config, builds, plans, publications)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from layer_ci.errors import Location, UsageError

BuildMethod = Literal["python", "nodejs", "files", "command"]
Architecture = Literal["x86_64", "arm64"]

# Lambda's documented limits (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html).
MAX_LAYERS_PER_FUNCTION = 5
MAX_UNZIPPED_BYTES = 262_144_000
MAX_DIRECT_UPLOAD_BYTES = 50 * 1024 * 1024
MAX_LAYER_NAME_LENGTH = 140
MAX_DESCRIPTION_LENGTH = 256
MAX_COMPATIBLE_RUNTIMES = 15
MAX_COMPATIBLE_ARCHITECTURES = 2


@dataclass(frozen=True)
class Sharing:
    """Who may use a layer's versions besides the owning account."""

    accounts: tuple[str, ...] = ()
    organization: str | None = None
    public: bool = False


@dataclass(frozen=True)
class BuildSpec:
    """How a layer's content is produced from its source folder.

    ``requirements`` is the requirements/lock file for python, the package.json folder's lock for nodejs;
    ``command`` is an argv run without a shell for the ``command`` method, with ``LAYER_CI_OUT`` naming
    the folder it must fill; ``binary_only`` refuses source distributions (the safe default for targets).
    """

    method: BuildMethod
    requirements: str | None = None
    command: tuple[str, ...] = ()
    binary_only: bool = True
    require_hashes: bool = False


@dataclass(frozen=True)
class LayerSpec:
    """One layer as declared in layer-ci.yml; ``source`` is absolute."""

    name: str
    source: Path
    build: BuildSpec
    compatible_runtimes: tuple[str, ...]
    compatible_architectures: tuple[Architecture, ...]
    regions: tuple[str, ...]
    license: str | None = None
    description: str = ""
    sharing: Sharing = field(default_factory=Sharing)
    location: Location = field(default_factory=lambda: Location("layer-ci.yml"))


@dataclass(frozen=True)
class FunctionSpec:
    """One function that consumes layers; ``layers`` is in the function's order (later wins in /opt).

    ``layers`` names only layers declared in layer-ci.yml; ``external_layers`` holds the layer version
    ARNs of layers layer-ci does not build (vendor layers), and ``layer_order`` every entry (names and
    ARNs; an ARN always contains ``:``, a name never does) in the order the function lists them. An empty
    ``layer_order`` means ``layers + external_layers``; use ``ordered_layers()`` rather than the field.
    """

    name: str
    source: Path
    runtime: str
    architecture: Architecture
    handler: str
    layers: tuple[str, ...]
    test_command: tuple[str, ...] = ()
    pin_files: tuple[str, ...] = ()
    memory_mb: int = 128
    timeout_s: int = 3
    environment: tuple[tuple[str, str], ...] = ()
    location: Location = field(default_factory=lambda: Location("layer-ci.yml"))
    external_layers: tuple[str, ...] = ()
    layer_order: tuple[str, ...] = ()

    def ordered_layers(self) -> tuple[str, ...]:
        """Every layer entry (config names and external ARNs) in the function's order."""
        return self.layer_order or (self.layers + self.external_layers)


IGNORED_BY_CONFIG = "ignored in layer-ci.yml"  # how every reason IgnoreRule.describe() gives begins


@dataclass(frozen=True)
class IgnoreRule:
    """Pins a bump leaves alone on purpose: ``layer``'s pins feeding ``function`` (None: every pin)."""

    layer: str
    function: str | None = None
    reason: str = ""

    def describe(self) -> str:
        scope = f"{self.layer} for {self.function}" if self.function else f"every pin of {self.layer}"
        return f"{IGNORED_BY_CONFIG} (settings.ignore: {scope})" + (f": {self.reason}" if self.reason else "")


@dataclass(frozen=True)
class Settings:
    """Repository-wide settings with embedded defaults that need no cloud account."""

    registry: Literal["local", "aws"] = "local"
    registry_path: str = ".layer-ci/registry"
    account: str = "000000000000"
    artifact_bucket: str | None = None
    retry_mode: Literal["standard", "adaptive"] = "standard"
    pr_mode: Literal["per-layer", "per-push"] = "per-layer"
    labels: tuple[str, ...] = ("layer-ci",)
    failure_label: str = "layer-ci:tests-failed"
    auto_merge: bool = False
    prune_keep: int | None = None
    prune_grace_days: int = 14
    # Each entry: a regex string, or a mapping {regex, layer?, region?, files?} (config/pin_patterns.py).
    pin_patterns: tuple[str | Mapping[str, object], ...] = ()
    # settings.pins.exclude: globs (.gitignore rules) of paths never searched for pins.
    pins_exclude: tuple[str, ...] = ()
    # Pins bump pull requests never move (and whose functions the gate does not test against the layer).
    ignore: tuple[IgnoreRule, ...] = ()


@dataclass(frozen=True)
class Config:
    """The whole validated configuration of one repository."""

    root: Path
    path: Path
    layers: tuple[LayerSpec, ...]
    functions: tuple[FunctionSpec, ...]
    settings: Settings = field(default_factory=Settings)
    templates: tuple[str, ...] = ()

    def layer(self, name: str) -> LayerSpec:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)

    def select_layers(self, names: Sequence[str]) -> tuple[LayerSpec, ...]:
        """The named layers in the order given (repeats once), or every layer when ``names`` is empty.

        Raises UsageError naming each unknown name and listing the declared layers.
        """
        if not names:
            return self.layers
        by_name = {layer.name: layer for layer in self.layers}
        unknown = [name for name in dict.fromkeys(names) if name not in by_name]
        if unknown:
            raise UsageError(
                f"unknown layer {', '.join(repr(name) for name in unknown)}; "
                f"{self.path.name} declares: {', '.join(by_name) or '(no layers)'}"
            )
        return tuple(by_name[name] for name in dict.fromkeys(names))

    def function(self, name: str) -> FunctionSpec:
        for function in self.functions:
            if function.name == name:
                return function
        raise KeyError(name)

    def consumers(self, layer_name: str) -> tuple[FunctionSpec, ...]:
        return tuple(f for f in self.functions if layer_name in f.layers)


@dataclass(frozen=True)
class PackageInfo:
    """A distribution found inside a built layer (from its metadata)."""

    name: str
    version: str


@dataclass(frozen=True)
class Manifest:
    """What a built layer zip holds; written next to the zip and diffed for PR comments."""

    layer: str
    input_key: str
    zip_sha256: str
    zipped_bytes: int
    unzipped_bytes: int
    files: tuple[tuple[str, int], ...]  # (path inside the zip, unzipped size), sorted
    packages: tuple[PackageInfo, ...]
    runtime_targets: tuple[str, ...] = ()
    architectures: tuple[str, ...] = ()


@dataclass(frozen=True)
class BuiltLayer:
    """The result of building one layer: the zip on disk and its manifest."""

    spec: LayerSpec
    zip_path: Path
    manifest_path: Path
    manifest: Manifest


@dataclass(frozen=True)
class PublishedVersion:
    """A layer version that exists in one region (or the local registry)."""

    layer: str
    region: str
    version: int
    arn: str
    code_sha256_hex: str
    created: bool  # False when an existing identical version was found and reused
