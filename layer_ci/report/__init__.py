"""Markdown for people: bump PR titles and bodies, commit messages, the verify comment; small sections."""

from layer_ci.report.model import (
    BumpReport,
    FunctionSize,
    KeptPin,
    LayerBumpReport,
    PinChange,
    RegionVersion,
    VerifyReport,
)
from layer_ci.report.render import bump_body, bump_title, commit_message, verify_comment

__all__ = [
    "BumpReport",
    "FunctionSize",
    "KeptPin",
    "LayerBumpReport",
    "PinChange",
    "RegionVersion",
    "VerifyReport",
    "bump_body",
    "bump_title",
    "commit_message",
    "verify_comment",
]
