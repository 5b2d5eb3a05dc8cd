"""Parse and format Lambda layer version ARNs, including CloudFormation/Terraform/CDK placeholders."""

from __future__ import annotations

import re
from dataclasses import dataclass

PARTITIONS: tuple[str, ...] = ("aws", "aws-cn", "aws-us-gov")

# A placeholder stands where the value is only known per stack, workspace or CI job: `${AWS::Region}`
# inside `!Sub`/`Fn::Sub`, `${var.region}` in Terraform, `${aws:region}` and nested
# `${opt:region, ${self:provider.region}}` in serverless.yml, `${Stack.of(this).region}` in a CDK template
# literal (which may span lines), `{self.region}` in a Python f-string, `${{ matrix.region }}` in a
# workflow, `{{ region }}` in a Jinja/Helm template, `$AWS_REGION` in a shell script, `<AWS_REGION>`,
# `<<ACCOUNT>>`, `ACCOUNT_ID` or `xxxxxxxxxxxx` in a README, or `" + region + "` / `", region, "` where
# code concatenates strings (`+`, Pulumi's `Output.concat(...)`, Terraform's `join("", [...])`).
# Braces nest one level; lengths are bounded so a stray `{` costs at most a few hundred characters.
_BRACED = r"\{(?:[^{}]|\{[^{}]{0,100}\}){1,200}\}"
PLACEHOLDER = (
    rf"(?:\$?{_BRACED}"
    r"|\$[A-Za-z_][A-Za-z0-9_]{0,100}"
    r"|<<?[A-Za-z_][A-Za-z0-9_.-]{0,100}>>?"
    r"|[A-Z][A-Z0-9_]{1,60}(?![a-z0-9-])|[Xx]{12}"
    r"|[\"'`]\s*[+,]\s*[A-Za-z_][\w.()\[\]]{0,100}\s*[+,]\s*[\"'`])"
)
REGION = r"[a-z]{2}(?:-[a-z]+)+-[0-9]{1,2}"
LAYER_NAME = r"[A-Za-z0-9_-]{1,140}"
ACCOUNT = r"[0-9]{12}"
# The version may stand in a string of its own that code joins on: `"...:layer:name:" + "42"`,
# `'...:layer:name:' + 42`, Python's implicit `"...:layer:name:" "42"` (possibly over lines), or the next
# argument of a concat/join call: `join("", ["arn:...:layer:name:", "42"])`.
_VERSION_JOIN = r"(?:[\"'`](?:\s{0,40}\+\s{0,40}[\"'`]?|\s{0,40},?\s{0,40}[\"'`]))"

# Strict boundaries on both ends so `xarn:...`, `...:layer:x:3a` and `...:layer:x:31` (when the pin
# says 3) never count: the version is every digit up to a non-word character, never a prefix of it.
LAYER_VERSION_ARN_RE = re.compile(
    r"(?<!\w)arn:"
    rf"(?P<partition>aws-us-gov|aws-cn|aws|{PLACEHOLDER}):lambda:"
    rf"(?P<region>{REGION}|{PLACEHOLDER}):"
    rf"(?P<account>{ACCOUNT}|{PLACEHOLDER}):layer:"
    rf"(?P<layer>{LAYER_NAME}):"
    rf"{_VERSION_JOIN}?"
    r"(?P<version>[0-9]{1,10})(?!\w)"
)

_REGION_RE = re.compile(rf"{REGION}\Z")
_LAYER_NAME_RE = re.compile(rf"{LAYER_NAME}\Z")
_ACCOUNT_RE = re.compile(rf"{ACCOUNT}\Z")
_PLACEHOLDER_RE = re.compile(PLACEHOLDER)


@dataclass(frozen=True)
class LayerVersionArn:
    """The parts of one layer version ARN; ``None`` marks a placeholder resolved per stack."""

    partition: str | None
    region: str | None
    account: str | None
    layer: str
    version: int

    def __str__(self) -> str:
        return format_layer_version_arn(self.layer, self.version, self.region, self.account, self.partition)

    @property
    def layer_arn(self) -> str:
        """The layer's ARN without the version (what GetLayerVersion takes as LayerName)."""
        return str(self).rsplit(":", 1)[0]


def is_placeholder(value: str) -> bool:
    """True for a stand-in such as `${AWS::Region}`, `$AWS_REGION` or `<AWS_REGION>`."""
    return _PLACEHOLDER_RE.fullmatch(value) is not None


def is_region(value: str) -> bool:
    return _REGION_RE.match(value) is not None


def is_layer_name(value: str) -> bool:
    return _LAYER_NAME_RE.match(value) is not None


def partition_for_region(region: str) -> str:
    """The partition a region belongs to (cn-* -> aws-cn, us-gov-* -> aws-us-gov, else aws)."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def parse_layer_version_arn(value: str) -> LayerVersionArn:
    """Parse exactly one layer version ARN (nothing before or after it); raise ValueError otherwise."""
    match = LAYER_VERSION_ARN_RE.fullmatch(value)
    if match is None:
        raise ValueError(
            f"not a layer version ARN: {value!r} "
            "(expected arn:PARTITION:lambda:REGION:ACCOUNT:layer:NAME:VERSION)"
        )
    return arn_from_match(match)


def layer_name_of(entry: str) -> str:
    """The layer a function's layer entry names: a declared layer as is, or an ARN's layer name.

    Read with the ARN parser, so placeholders count as one field each: a plain split on ":" takes
    ``arn:${AWS::Partition}:lambda:${AWS::Region}:017000801446:layer:NAME:3`` apart inside ``${...}``.
    An entry that is no readable ARN names itself.
    """
    if ":" not in entry:
        return entry
    try:
        return parse_layer_version_arn(entry).layer
    except ValueError:
        return entry


def arn_account(value: str) -> str | None:
    """The account of a layer version ARN; None for a placeholder account or a value that is no such ARN.

    Read with the parser for the same reason as :func:`layer_name_of`: split on ":", an ARN whose
    partition is ``${AWS::Partition}`` has "lambda" where the account stands.
    """
    try:
        return parse_layer_version_arn(value).account
    except ValueError:
        return None


def arn_from_match(match: re.Match[str]) -> LayerVersionArn:
    partition, region, account = match["partition"], match["region"], match["account"]
    return LayerVersionArn(
        partition=None if is_placeholder(partition) else partition,
        region=None if is_placeholder(region) else region,
        account=None if is_placeholder(account) else account,
        layer=match["layer"],
        version=int(match["version"]),
    )


def format_layer_version_arn(
    layer: str,
    version: int,
    region: str | None,
    account: str | None,
    partition: str | None = None,
) -> str:
    """Format an ARN; a ``None`` part becomes its CloudFormation pseudo-parameter placeholder."""
    if not is_layer_name(layer):
        raise ValueError(f"invalid layer name {layer!r}: use 1-140 of [a-zA-Z0-9-_]")
    if version < 1:
        raise ValueError(f"invalid layer version {version}: versions start at 1")
    if region is not None and not is_region(region):
        raise ValueError(f"invalid region {region!r}")
    if account is not None and _ACCOUNT_RE.match(account) is None:
        raise ValueError(f"invalid account {account!r}: use the 12-digit account id")
    if partition is None:
        partition = partition_for_region(region) if region is not None else "${AWS::Partition}"
    elif partition not in PARTITIONS:
        raise ValueError(f"invalid partition {partition!r}: use one of {', '.join(PARTITIONS)}")
    region_part = region if region is not None else "${AWS::Region}"
    account_part = account if account is not None else "${AWS::AccountId}"
    return f"arn:{partition}:lambda:{region_part}:{account_part}:layer:{layer}:{version}"
