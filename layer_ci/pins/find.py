"""Find layer version pins in a repository's text files: ARNs, plus user patterns for lone versions."""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pathspec

from layer_ci.adapters.git import source_files as git_source_files
from layer_ci.config.pin_patterns import PinPattern, compile_pin_patterns, exclude_spec
from layer_ci.errors import Location
from layer_ci.lambda_spec.arn import LAYER_VERSION_ARN_RE, arn_from_match, is_region
from layer_ci.model import Config
from layer_ci.pins.joins import JOIN_REASON, joined_arns
from layer_ci.plan.lockfile import LOCK_FILE_NAME

if TYPE_CHECKING:
    import regex

# Folders that are never a repository's own source, even when committed: version control, virtualenvs and
# vendored packages (a vendored botocore's example JSON is full of layer ARNs), and the build output of
# SAM, CDK, Serverless and Terraform (copies of the templates that hold the real pins).
SKIP_DIRS = frozenset({
    ".git", ".hg", ".svn", ".venv", ".layer-ci", ".tox", ".nox", "__pycache__",
    "node_modules", "site-packages", "dist-packages",
    ".aws-sam", "cdk.out", ".serverless", ".terraform",
})  # fmt: skip
# The lock records what layer-ci published; it is layer-ci's own state, not a consumer's pin.
SKIP_ROOT_FILES = frozenset({LOCK_FILE_NAME})
MAX_FILE_BYTES = 5 * 1024 * 1024
BINARY_SNIFF_BYTES = 8 * 1024
ARN_MARKER = b":layer:"
JOIN_MARKER = b"Join"
TEMPLATE_SUFFIXES = (".yaml", ".yml", ".json", ".template")
BOM = "\ufeff"
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)

# Lists the files under a folder that its version control would commit, or None when it cannot tell.
FileLister = Callable[[Path], "list[str] | None"]

PinKind = Literal["arn", "pattern"]


@dataclass(frozen=True)
class Pin:
    """One reference to a layer version in a file.

    Offsets index the file's text decoded as UTF-8 with surrogateescape (BOM kept as a character, line
    endings untouched), so encoding the rewritten text gives back every other byte unchanged.
    ``start``/``end`` span the version digits; ``text`` is the whole match, found at ``text_start``.
    ``region``/``account``/``partition`` are None where the file holds a placeholder (or, for a
    pattern pin, no region at all): such a pin applies to every region its stack is deployed in.
    ``unmovable`` says why layer-ci cannot rewrite the pin safely (e.g. "built by Fn::Join"); such a
    pin is listed and reported but never rewritten, and its ``start``/``end`` span the whole expression.
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
    unmovable: str | None = None

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
            "unmovable": self.unmovable,
        }


def find_pins(root: Path, config: Config | None = None, *, list_files: FileLister | None = None) -> list[Pin]:
    """Every pin under ``root``, sorted by path then position; each reference appears exactly once.

    Only source files are read: what git would commit (see iter_text_files), never build output or
    vendored packages, and nothing matching the config's ``settings.pins.exclude``.
    """
    patterns: tuple[PinPattern, ...] = ()
    layer_names: tuple[str, ...] = ()
    excludes: tuple[str, ...] = ()
    if config is not None:
        location = Location(_display_path(config.path, root))
        patterns = compile_pin_patterns(config.settings.pin_patterns, location)
        layer_names = tuple(layer.name for layer in config.layers)
        excludes = config.settings.pins_exclude
    pins: list[Pin] = []
    for rel_path, data in iter_text_files(root, excludes, list_files=list_files):
        applicable = tuple(p for p in patterns if p.applies_to(rel_path))
        if not applicable and not may_hold_pins(rel_path, data):
            continue
        text = data.decode("utf-8", "surrogateescape")
        pins.extend(find_pins_in_text(text, rel_path, applicable, layer_names))
    pins.sort(key=lambda pin: (pin.path, pin.start))
    return pins


def may_hold_pins(path: str, data: bytes | str) -> bool:
    """A quick look: could this file hold an ARN pin (literal, or built by a template's Fn::Join)?"""
    if isinstance(data, bytes):
        return ARN_MARKER in data or (path.endswith(TEMPLATE_SUFFIXES) and JOIN_MARKER in data)
    return ":layer:" in data or (path.endswith(TEMPLATE_SUFFIXES) and "Join" in data)


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
    arn_spans: list[tuple[int, int]] = []
    for match in arn_matches(text):
        arn_spans.append(match.span())
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
        for found in pattern.matches(text, path):
            pin = _pattern_pin(found, pattern, path, lines, layer_names)
            if pin is None or any(pin.start < c_end and c_start < pin.end for c_start, c_end in claimed):
                continue
            pins.append(pin)
            claimed.append((pin.start, pin.end))
    if path.endswith(TEMPLATE_SUFFIXES) and _join_near_layer(text, arn_spans):
        pins.extend(_join_pins(text, path, claimed))
    pins.sort(key=lambda pin: pin.start)
    return pins


# How far before its `:layer:` an ARN may start (placeholders spanning lines included).
ARN_LOOKBACK = 2048


def arn_matches(text: str) -> Iterator[re.Match[str]]:
    """LAYER_VERSION_ARN_RE's matches, left to right and not overlapping, as ``finditer`` gives them.

    The regex runs only from the `arn:` starts within ARN_LOOKBACK characters before each `:layer:`:
    a large file with a few ARNs is scanned by str.find, not character by character by the regex.
    """
    done = 0  # nothing before this offset can start a new match
    marker = text.find(":layer:")
    while marker != -1:
        candidate = text.find("arn:", max(done, marker - ARN_LOOKBACK), marker)
        found = None
        while candidate != -1:
            found = LAYER_VERSION_ARN_RE.match(text, candidate)
            if found is not None:
                break
            candidate = text.find("arn:", candidate + 1, marker)
        if found is not None:
            yield found
            done = found.end()
            marker = text.find(":layer:", max(done, marker + 1))
        else:
            marker = text.find(":layer:", marker + 1)


_LAYER_WORD = re.compile(r"(?<![A-Za-z])layer(?![A-Za-z])")
# How far after `Join` the word `layer` may stand in a Join that builds a layer ARN.
JOIN_REACH = 1500


def _join_near_layer(text: str, arn_spans: Sequence[tuple[int, int]]) -> bool:
    """Whether some `Join` has the word `layer` right after it, outside any literal ARN: only then is the
    template parsed. Templates join strings for many ARNs (IAM, S3, log groups); parsing each such
    template would cost far more than reading it.
    """
    at = text.find("Join")
    while at != -1:
        reach = at + JOIN_REACH
        word = _LAYER_WORD.search(text, at, reach)
        while word is not None:
            inside = next((end for start, end in arn_spans if start <= word.start() < end), None)
            if inside is None:
                return True
            word = _LAYER_WORD.search(text, inside, reach)
        at = text.find("Join", at + 4)
    return False


def _join_pins(text: str, path: str, claimed: Sequence[tuple[int, int]]) -> list[Pin]:
    """Pins a Fn::Join assembles: listed, never rewritten (the digits may be anywhere in its parts)."""
    pins = []
    for joined in joined_arns(text):
        # An ARN written whole inside one part of the Join was found literally and can be moved.
        if any(joined.start <= c_start and c_end <= joined.end for c_start, c_end in claimed):
            continue
        arn = joined.arn
        pins.append(
            Pin(
                path,
                joined.line,
                joined.column,
                arn.layer,
                arn.region,
                arn.account,
                arn.partition,
                arn.version,
                text[joined.start : joined.end],
                joined.start,
                joined.end,
                joined.start,
                "arn",
                JOIN_REASON,
            )
        )
    return pins


def _pattern_pin(
    match: regex.Match[str], pattern: PinPattern, path: str, lines: _LineIndex, layer_names: Sequence[str]
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


def is_source_path(rel_path: str, excludes: pathspec.GitIgnoreSpec | None = None) -> bool:
    """False for layer-ci's lock, files under SKIP_DIRS folders and files the exclude globs match."""
    parts = rel_path.split("/")
    if len(parts) == 1 and rel_path in SKIP_ROOT_FILES:
        return False
    if any(part in SKIP_DIRS for part in parts[:-1]):
        return False
    return excludes is None or not excludes.match_file(rel_path)


def is_binary(data: bytes) -> bool:
    """Whether ``data`` looks like a binary file (a NUL byte near the start), never searched for pins."""
    return b"\0" in data[:BINARY_SNIFF_BYTES]


def iter_text_files(
    root: Path, excludes: Sequence[str] = (), *, list_files: FileLister | None = None
) -> Iterator[tuple[str, bytes]]:
    """(relative POSIX path, content) for every source text file under ``root``.

    In a git checkout the files are the ones git would commit (tracked, plus untracked files that no
    .gitignore rule ignores), as ``list_files`` (git ls-files by default) names them; elsewhere a walk of
    the folder. Either way SKIP_DIRS folders, the lock and ``excludes`` globs are left out. Symlinks are
    skipped: their targets inside the repository are visited on their own, and a link pointing outside
    must never be rewritten. Each file is read once.
    """
    spec = exclude_spec(excludes)
    listed = (list_files or git_source_files)(root)
    if listed is None:
        yield from _walk(root, spec)
        return
    base = os.fspath(root)
    vendored = _vendored_in_listing(base, listed)
    for rel in listed:
        if not is_source_path(rel, spec) or (vendored and _under(rel, vendored)):
            continue
        data = _read_regular(os.path.join(base, rel))
        if data is not None:
            yield rel, data


_METADATA_DIRS = (".dist-info", ".egg-info")


def _vendored_names(directory: str, metadata_dirs: Sequence[str]) -> set[str]:
    """Entries of ``directory`` that pip installed there (`pip install -t`): each package's metadata
    folder and the top-level modules its RECORD lists (else the distribution's own name)."""
    names: set[str] = set()
    for metadata in metadata_dirs:
        names.add(metadata)
        tops: set[str] = set()
        try:
            record_path = os.path.join(directory, metadata, "RECORD")
            with open(record_path, encoding="utf-8", errors="replace") as record:
                for line in record:
                    top = line.split(",", 1)[0].split("/", 1)[0]
                    if top and top != ".." and not top.endswith(_METADATA_DIRS):
                        tops.add(top)
        except OSError:
            pass
        if not tops:
            dist = metadata.rsplit(".", 1)[0].split("-", 1)[0]
            tops = {dist, dist.replace("-", "_").lower(), f"{dist}.py"}
        names.update(tops)
    return names


def _vendored_in_listing(base: str, listed: Sequence[str]) -> set[str]:
    """Folder-relative paths (``dir/name``) of packages pip installed into a committed folder."""
    folders: dict[str, set[str]] = {}
    for rel in listed:
        if ".dist-info/" not in rel and ".egg-info/" not in rel:
            continue
        parts = rel.split("/")
        for index, part in enumerate(parts[:-1]):
            if part.endswith(_METADATA_DIRS):
                folders.setdefault("/".join(parts[:index]), set()).add(part)
                break
    vendored: set[str] = set()
    for folder, metadata in folders.items():
        directory = os.path.join(base, folder) if folder else base
        for name in _vendored_names(directory, sorted(metadata)):
            vendored.add(f"{folder}/{name}" if folder else name)
    return vendored


def _under(rel: str, prefixes: set[str]) -> bool:
    index = rel.find("/")
    while index != -1:
        if rel[:index] in prefixes:
            return True
        index = rel.find("/", index + 1)
    return rel in prefixes


def _read_regular(path: str) -> bytes | None:
    """A regular text file's bytes (up to MAX_FILE_BYTES); None for links, folders, FIFOs, binaries."""
    try:
        # O_NOFOLLOW refuses a symlink, O_NONBLOCK keeps a FIFO from blocking; fstat then needs no 2nd lookup.
        fd = os.open(path, _OPEN_FLAGS)
    except OSError:
        return None
    with open(fd, "rb", buffering=0) as handle:
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_FILE_BYTES:
                return None
            # Unbuffered readall sizes its buffer from fstat; read(n) would allocate n bytes each time.
            data = handle.readall()
        except OSError:
            return None
    if len(data) > MAX_FILE_BYTES or is_binary(data):
        return None
    return data


def _walk(root: Path, excludes: pathspec.GitIgnoreSpec | None) -> Iterator[tuple[str, bytes]]:
    stack: list[tuple[str, str]] = [(os.fspath(root), "")]
    while stack:
        directory, prefix = stack.pop()
        try:
            with os.scandir(directory) as entries:
                listing = sorted(entries, key=lambda entry: entry.name)
        except OSError:
            continue
        subdirs: list[tuple[str, str]] = []
        vendored = _vendored_names(directory, [e.name for e in listing if e.name.endswith(_METADATA_DIRS)])
        for entry in listing:
            rel = prefix + entry.name
            if entry.name in vendored:
                continue
            try:
                if entry.is_symlink():
                    continue
                if entry.is_dir(follow_symlinks=False):
                    excluded = excludes is not None and excludes.match_file(rel + "/")
                    if entry.name not in SKIP_DIRS and not excluded:
                        subdirs.append((entry.path, rel + "/"))
                    continue
                if not entry.is_file(follow_symlinks=False) or (not prefix and entry.name in SKIP_ROOT_FILES):
                    continue
            except OSError:
                continue  # vanished while walking: not a file we could rewrite anyway
            if excludes is not None and excludes.match_file(rel):
                continue
            data = _read_regular(entry.path)
            if data is not None:
                yield rel, data
        stack.extend(reversed(subdirs))


def _display_path(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)
