"""Find a vendor layer's newest version in one region: ListLayerVersions, public SSM parameters, or probing.

Vendors share their layers with ``lambda:GetLayerVersion`` for everyone, rarely ``ListLayerVersions``
(why Renovate's Lambda-layer datasource never landed). So each source is tried in turn: the listing where
the owner allows it; the SSM parameters some vendors publish (Powertools, AWS SDK for pandas), which can
lag a release, so probing continues past them; and GetLayerVersion at N+1, N+2, ... until a miss.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from layer_ci.errors import UsageError
from layer_ci.lambda_spec.arn import LAYER_VERSION_ARN_RE, arn_from_match
from layer_ci.vendor.policy import VendorPolicy

# Probing never walks further than this many versions past the pin in one run: a vendor releasing more
# between two scheduled runs is implausible, and a runaway loop would cost one request per step.
MAX_PROBE_STEPS = 200


class VendorAws(Protocol):
    """The read calls the watch needs (layer_ci.adapters.aws.AwsAdapter provides them)."""

    region: str

    def list_layer_versions_if_allowed(self, layer_arn: str) -> list[dict[str, Any]] | None: ...

    def ssm_parameters_by_path(self, path: str) -> list[tuple[str, str]] | None: ...

    def get_layer_version(self, layer: str, version: int) -> dict[str, Any] | None: ...


@dataclass(frozen=True)
class Newest:
    """The newest allowed version of a vendor layer in one region, and how it was found."""

    region: str
    version: int
    found_by: str


def newest_version(
    aws: VendorAws, layer_arn: str, account: str, name: str, pinned: int, policy: VendorPolicy
) -> Newest:
    """The newest version of ``layer_arn`` (no version) at or above ``pinned`` that the policy allows."""
    region = aws.region
    cap = policy.max_version

    def allowed(version: int) -> bool:
        return cap is None or version <= cap

    if policy.lookup in ("auto", "list"):
        items = aws.list_layer_versions_if_allowed(layer_arn)
        # An empty listing proves nothing (every version deleted, or an emulator that lists by name only):
        # the other sources still get their say.
        if items:
            versions = [int(item["Version"]) for item in items if allowed(int(item["Version"]))]
            return Newest(region, max([pinned, *versions]), "ListLayerVersions")
        if policy.lookup == "list" and items is None:
            raise UsageError(
                f"{layer_arn} in {region}: its owner does not allow lambda:ListLayerVersions; "
                "set lookup: auto (or probe) for this layer in vendor_layers"
            )
        if policy.lookup == "list":
            return Newest(region, pinned, "ListLayerVersions (no versions listed)")
    start, found_by = pinned, "GetLayerVersion probing"
    if policy.lookup in ("auto", "ssm") and policy.ssm_path:
        parameters = aws.ssm_parameters_by_path(policy.ssm_path)
        if parameters is None and policy.lookup == "ssm":
            raise UsageError(
                f"SSM parameters under {policy.ssm_path} in {region} cannot be read: grant "
                "ssm:GetParametersByPath on them (docs/iam.md), or set lookup: auto"
            )
        published = [
            version for version in _versions_in(parameters or (), account, name, region) if allowed(version)
        ]
        if published:
            start = max(start, *published)
            found_by = f"SSM {policy.ssm_path}"
    # Past the last known version: the next numbers exist until one does not (SSM parameters can lag).
    version = start
    for _ in range(MAX_PROBE_STEPS):
        candidate = version + 1
        if not allowed(candidate) or aws.get_layer_version(layer_arn, candidate) is None:
            break
        version = candidate
    if version > start:
        found_by = "GetLayerVersion probing" if start == pinned else f"{found_by}, then probing"
    return Newest(region, version, found_by)


def _versions_in(parameters: Any, account: str, name: str, region: str) -> list[int]:
    """Versions of this layer among parameter values (each value a layer version ARN, or not)."""
    versions = []
    for _name, value in parameters:
        match = LAYER_VERSION_ARN_RE.fullmatch(value.strip())
        if match is None:
            continue
        arn = arn_from_match(match)
        if (arn.account, arn.layer, arn.region) == (account, name, region):
            versions.append(arn.version)
    return versions
