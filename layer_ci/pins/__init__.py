"""Layer version pins in a repository: find them (ARNs and user patterns) and rewrite their versions."""

from layer_ci.pins.arn import LayerVersionArn, format_layer_version_arn, parse_layer_version_arn
from layer_ci.pins.find import Pin, find_pins, find_pins_in_text
from layer_ci.pins.rewrite import RewriteResult, rewrite_files, rewrite_pins, rewrite_text

__all__ = [
    "LayerVersionArn",
    "Pin",
    "RewriteResult",
    "find_pins",
    "find_pins_in_text",
    "format_layer_version_arn",
    "parse_layer_version_arn",
    "rewrite_files",
    "rewrite_pins",
    "rewrite_text",
]
