"""Assertions shared by the pin tests: a rewrite may change version digits of found pins and nothing else."""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence

from layer_ci.pins.find import Pin


def assert_only_version_digits_changed(before: str, after: str, pins: Sequence[Pin]) -> None:
    """Every byte outside the pins' version spans is identical, and each span holds digits only."""
    spans = sorted({(pin.start, pin.end) for pin in pins})
    pattern_parts: list[str] = []
    cursor = 0
    for start, end in spans:
        assert start >= cursor, f"overlapping version spans at {start}"
        pattern_parts.append(re.escape(before[cursor:start]))
        pattern_parts.append("[0-9]+")
        cursor = end
    pattern_parts.append(re.escape(before[cursor:]))
    assert re.fullmatch("".join(pattern_parts), after, re.DOTALL), "a byte outside a version span changed"


def assert_char_diff_is_version_digits(before: str, after: str, pins: Sequence[Pin]) -> None:
    """The character-level diff: every differing run is digits inside (or at the edge of) a version span."""
    spans = [(pin.start, pin.end) for pin in pins]
    matcher = difflib.SequenceMatcher(None, before, after, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        old, new = before[i1:i2], after[j1:j2]
        assert old == "" or old.isdigit(), f"non-digit text {old!r} changed at {i1}"
        assert new == "" or new.isdigit(), f"non-digit text {new!r} inserted at {i1}"
        assert any(start <= i1 and i2 <= end for start, end in spans), (
            f"change {old!r} -> {new!r} at offset {i1} lies outside every version span"
        )
