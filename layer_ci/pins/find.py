"""Find layer version pins in a repository's text files: ARNs, plus user patterns for lone versions."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from layer_ci.errors import Location
from layer_ci.model import Config
from layer_ci.pins.arn import LAYER_VERSION_ARN_RE, arn_from_match, is_region
from layer_ci.pins.patterns import PinPattern, compile_pin_patterns

SKIP_DIRS = frozenset({".git", "node_modules", ".venv", ".layer-ci"})
# The lock records what layer-ci published; it is layer-ci's own state, not a consumer's pin.
SKIP_ROOT_FILES = frozenset({"layer-ci.lock"})
MAX_FILE_BYTES = 5 * 1024 * 1024
BINARY_SNIFF_BYTES = 8 * 1024
ARN_MARKER = b":layer:"
BOM = "\ufeff"

PinKind = Literal["arn", "pattern"]


@dataclass(frozen=True)
class Pin:
    """One reference to a layer version in a file.

    Offsets index the file's text decoded as UTF-8 with surrogateescape (BOM kept as a character, line
    endings untouched), so encoding the rewritten text gives back every other byte unchanged.
    ``start``/``end`` span the version digits; ``text`` is the whole match, found at ``text_start``.
    ``region``/``account``/``partition`` are None where the file holds a placeholder (or, for a
    pattern pin, no region at all): such a pin applies to every region its stack is deployed in.
    """

    path: str
    line: int
    column: int
    layer: str
    region: str | None
    account: str | None
    partition: str | None
    version: int
    text: str
    start: int
    end: int
    text_start: int
    kind: PinKind = "arn"

    @property
    def location(self) -> str:
        return f"{self.path}:{self.line}:{self.column}"

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "layer": self.layer,
            "region": self.region,
            "account": self.account,
            "partition": self.partition,
            "version": self.version,
            "text": self.text,
            "start": self.start,
            "end": self.end,
            "text_start": self.text_start,
            "kind": self.kind,
        }


def find_pins(root: Path, config: Config | None = None) -> list[Pin]:
    """Every pin under ``root``, sorted by path then position; each reference appears exactly once."""
    patterns: tuple[PinPattern, ...] = ()
    layer_names: tuple[str, ...] = ()
    if config is not None:
        location = Location(_display_path(config.path, root))
        patterns = compile_pin_patterns(config.settings.pin_patterns, location)
        layer_names = tuple(layer.name for layer in config.layers)
    pins: list[Pin] = []
    for rel_path, data in iter_text_files(root):
        applicable = tuple(p for p in patterns if p.applies_to(rel_path))
        if not applicable and ARN_MARKER not in data:
            continue
        text = data.decode("utf-8", "surrogateescape")
        pins.extend(find_pins_in_text(text, rel_path, applicable, layer_names))
    pins.sort(key=lambda pin: (pin.path, pin.start))
    return pins


def find_pins_in_text(
    text: str,
    path: str,
    patterns: Sequence[PinPattern] = (),
    layer_names: Sequence[str] = (),
) -> list[Pin]:
    """The pins in one file's text, ordered by position (ARNs first claim their version digits)."""
    lines = _LineIndex(text)
    pins: list[Pin] = []
    claimed: list[tuple[int, int]] = []
    for match in LAYER_VERSION_ARN_RE.finditer(text):
        arn = arn_from_match(match)
        start, end = match.span("version")
        line, column = lines.position(start)
        pins.append(
            Pin(
                path,
                line,
                column,
                arn.layer,
                arn.region,
                arn.account,
                arn.partition,
                arn.version,
                match.group(),
                start,
                end,
                match.start(),
            )
        )
        claimed.append((start, end))
    for pattern in patterns:
        for match in pattern.regex.finditer(text):
            pin = _pattern_pin(match, pattern, path, lines, layer_names)
            if pin is None or any(pin.start < c_end and c_start < pin.end for c_start, c_end in claimed):
                continue
            pins.append(pin)
            claimed.append((pin.start, pin.end))
    pins.sort(key=lambda pin: pin.start)
    return pins


def _pattern_pin(
    match: re.Match[str], pattern: PinPattern, path: str, lines: _LineIndex, layer_names: Sequence[str]
) -> Pin | None:
    version = match.group("version")
    if version is None or not version.isascii() or not version.isdigit():
        return None
    start, end = match.span("version")
    text = match.string
    # Same boundary rule as for ARNs: the version is all the digits there are, never a part of them.
    if (start > 0 and text[start - 1].isdigit()) or (end < len(text) and text[end].isdigit()):
        return None
    layer = pattern.layer
    if layer is None:
        captured = match.group("layer")
        if not captured:
            return None
        layer = _resolve_layer(captured, layer_names)
    region = pattern.region
    if region is None and "region" in pattern.regex.groupindex:
        captured_region = match.group("region")
        region = captured_region if captured_region and is_region(captured_region) else None
    line, column = lines.position(start)
    return Pin(
        path,
        line,
        column,
        layer,
        region,
        None,
        None,
        int(version),
        match.group(),
        start,
        end,
        match.start(),
        "pattern",
    )


def _resolve_layer(captured: str, layer_names: Sequence[str]) -> str:
    """Map a captured name to a configured layer; `common_deps` in a variable name means `common-deps`."""
    if captured in layer_names:
        return captured

    def normal(name: str) -> str:
        return name.lower().replace("_", "-")

    candidates = [name for name in layer_names if normal(name) == normal(captured)]
    return candidates[0] if len(candidates) == 1 else captured


class _LineIndex:
    """1-based line and column for offsets visited in increasing order (one pass over the text)."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._offset = 0
        self._line = 1
        self._line_start = 0

    def position(self, offset: int) -> tuple[int, int]:
        if offset < self._offset:
            self._offset, self._line, self._line_start = 0, 1, 0
        text = self._text
        newlines = text.count("\n", self._offset, offset)
        if newlines:
            self._line += newlines
            self._line_start = text.rindex("\n", self._offset, offset) + 1
        self._offset = offset
        column = offset - self._line_start + 1
        if self._line_start == 0 and text.startswith(BOM):
            column -= 1  # editors do not count the byte-order mark as a column
        return self._line, column


def iter_text_files(root: Path) -> Iterator[tuple[str, bytes]]:
    """(relative POSIX path, content) for every regular text file, skipping tool and vendor folders.

    Symlinks are skipped: their targets inside the repository are visited on their own, and a link
    pointing outside must never be rewritten. Each file is read once.
    """
    stack: list[tuple[str, str]] = [(os.fspath(root), "")]
    while stack:
        directory, prefix = stack.pop()
        try:
            with os.scandir(directory) as entries:
                listing = sorted(entries, key=lambda entry: entry.name)
        except OSError:
            continue
        subdirs: list[tuple[str, str]] = []
        for entry in listing:
            rel = prefix + entry.name
            try:
                if entry.is_symlink():
                    continue
                if entry.is_dir(follow_symlinks=False):
                    if entry.name not in SKIP_DIRS:
                        subdirs.append((entry.path, rel + "/"))
                    continue
                if not entry.is_file(follow_symlinks=False) or (not prefix and entry.name in SKIP_ROOT_FILES):
                    continue
                if entry.stat(follow_symlinks=False).st_size > MAX_FILE_BYTES:
                    continue
                # Unbuffered readall sizes its buffer from fstat; read(n) would allocate n bytes each time.
                with open(entry.path, "rb", buffering=0) as handle:
                    data = handle.readall()
            except OSError:
                continue  # unreadable or vanished while walking: not a file we could rewrite anyway
            if len(data) > MAX_FILE_BYTES or b"\0" in data[:BINARY_SNIFF_BYTES]:
                continue
            yield rel, data
        stack.extend(reversed(subdirs))


def _display_path(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)
