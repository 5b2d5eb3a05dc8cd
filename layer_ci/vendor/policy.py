"""The `vendor_layers:` section of layer-ci.yml: which vendor layers are watched, how far and where."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from layer_ci.config.schema_errors import validate
from layer_ci.config.yamldoc import read_document
from layer_ci.errors import Location

Lookup = Literal["auto", "list", "ssm", "probe"]

# Vendors known to publish their layer ARNs as public SSM parameters (values are version ARNs).
KNOWN_SSM_PATHS = {
    "017000801446": "/aws/service/powertools/",  # Powertools for AWS Lambda (Python)
    "094274105915": "/aws/service/powertools/",  # Powertools for AWS Lambda (TypeScript)
    "336392948345": "/aws/service/aws-sdk-pandas/",  # AWS SDK for pandas
}


@dataclass(frozen=True)
class VendorRule:
    """One entry of ``vendor_layers.layers``; ``location`` is where it is written."""

    name: str
    account: str | None = None
    watch: bool = True
    max_version: int | None = None
    regions: tuple[str, ...] = ()
    lookup: Lookup = "auto"
    ssm_path: str | None = None
    location: Location = field(default_factory=lambda: Location("layer-ci.yml"))

    def matches(self, account: str, layer: str) -> bool:
        return (self.account is None or self.account == account) and fnmatch.fnmatchcase(layer, self.name)


@dataclass(frozen=True)
class VendorPolicy:
    """What applies to one vendor layer: the matching rule's choices, or the defaults."""

    watch: bool = True
    max_version: int | None = None
    regions: tuple[str, ...] = ()
    lookup: Lookup = "auto"
    ssm_path: str | None = None


@dataclass(frozen=True)
class VendorSettings:
    """The whole section; an absent section watches every pinned vendor layer with the defaults."""

    watch_all: bool = True
    rules: tuple[VendorRule, ...] = ()

    def policy(self, account: str, layer: str) -> VendorPolicy:
        """The first rule naming this layer decides; without one, ``watch: all`` watches it."""
        for rule in self.rules:
            if rule.matches(account, layer):
                return VendorPolicy(
                    rule.watch,
                    rule.max_version,
                    rule.regions,
                    rule.lookup,
                    rule.ssm_path or KNOWN_SSM_PATHS.get(account),
                )
        return VendorPolicy(watch=self.watch_all, ssm_path=KNOWN_SSM_PATHS.get(account))


def load_vendor_settings(config_path: Path, display: str | None = None) -> VendorSettings:
    """Read ``vendor_layers:`` from layer-ci.yml; every mistake is a one-line ``file:line`` ConfigError."""
    from layer_ci.adapters.aws import check_region
    from layer_ci.errors import UsageError

    document = read_document(config_path, display or config_path.name, what="config file")
    validate(document)  # the schema already names the line of a wrong type or unknown key
    data: Any = document.data if isinstance(document.data, dict) else {}
    section = data.get("vendor_layers") or {}
    rules = []
    for index, raw in enumerate(section.get("layers") or ()):
        path = ("vendor_layers", "layers", index)
        for region_index, region in enumerate(raw.get("regions") or ()):
            try:
                check_region(region)
            except UsageError as exc:
                raise document.error(
                    (*path, "regions", region_index),
                    f"unknown AWS region {region!r}",
                    "use a region such as us-east-1",
                ) from exc
        lookup = raw.get("lookup", "auto")
        if lookup == "ssm" and not raw.get("ssm_path") and raw.get("account") not in KNOWN_SSM_PATHS:
            raise document.error(
                (*path, "lookup"),
                "lookup: ssm needs a parameter path, and none is known for this layer's publisher",
                "add ssm_path: /aws/service/... (the vendor's public parameters), or use lookup: auto",
            )
        rules.append(
            VendorRule(
                name=str(raw["name"]),
                account=raw.get("account"),
                watch=bool(raw.get("watch", True)),
                max_version=raw.get("max_version"),
                regions=tuple(raw.get("regions") or ()),
                lookup=lookup,
                ssm_path=raw.get("ssm_path"),
                location=document.location(path),
            )
        )
    return VendorSettings(watch_all=section.get("watch", "all") == "all", rules=tuple(rules))
