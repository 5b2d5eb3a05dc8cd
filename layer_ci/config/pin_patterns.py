"""User pin patterns (`settings.pin_patterns`): regexes for versions that stand apart from the ARN."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pathspec

from layer_ci.errors import ConfigError, Location
from layer_ci.lambda_spec.arn import is_layer_name, is_region

if TYPE_CHECKING:
    import regex  # imported where a pattern is compiled: most configs have none, and it costs 7 ms

PinPatternEntry = str | Mapping[str, object]

_ENTRY_KEYS = frozenset({"regex", "layer", "region", "files"})
# A user's regex may backtrack catastrophically ((a+)+ on a long run of a's): Python's re cannot be
# stopped, the regex module can. Far above what a sane pattern needs on the largest pin file (the limit
# holds per file, so a merely slow pattern over many files can still take long).
MATCH_TIMEOUT_S = 2.0
if TYPE_CHECKING:
    PatternMatch = regex.Match  # the field named regex below hides the module inside the class


@dataclass(frozen=True)
class PinPattern:
    """One compiled pattern; ``layer``/``region`` fix the value when the regex has no such group."""

    regex: regex.Pattern[str]
    layer: str | None = None
    region: str | None = None
    files: tuple[str, ...] = ()
    field: str = "settings.pin_patterns"
    location: Location | None = None

    def applies_to(self, path: str) -> bool:
        return not self.files or any(fnmatch.fnmatchcase(path, glob) for glob in self.files)

    def matches(self, text: str, path: str) -> list[PatternMatch[str]]:
        """Every match in ``text`` (the file at ``path``), or ConfigError when the regex runs away."""
        try:
            return list(self.regex.finditer(text, timeout=MATCH_TIMEOUT_S))
        except TimeoutError:
            raise ConfigError(
                self.location or Location("layer-ci.yml"),
                self.field,
                f"regex {self.regex.pattern!r} ran for over {MATCH_TIMEOUT_S:g} s on {path} "
                "(catastrophic backtracking)",
                "remove nested repetition such as (a+)+ or (a|aa)+, anchor it, or limit it to the files "
                "that hold such pins with {regex: ..., files: [...]} (or settings.pins.exclude)",
            ) from None


def compile_pin_patterns(entries: Iterable[PinPatternEntry], location: Location) -> tuple[PinPattern, ...]:
    """Compile every entry or raise ConfigError naming `settings.pin_patterns[i]` and the fix.

    An entry is either a regex string with named groups ``layer`` and ``version`` (and optionally
    ``region``), or a mapping ``{regex, layer?, region?, files?}`` where ``layer``/``region`` fix the
    value for a regex that lacks that group. Patterns are compiled with re.MULTILINE so ``^`` means
    the start of a line, which is how these one-line declarations are usually written.
    """
    return tuple(
        _compile_entry(entry, f"settings.pin_patterns[{index}]", location)
        for index, entry in enumerate(entries)
    )


def _compile_entry(entry: PinPatternEntry, field: str, location: Location) -> PinPattern:
    layer: str | None = None
    region: str | None = None
    files: tuple[str, ...] = ()
    if isinstance(entry, str):
        source = entry
    elif isinstance(entry, Mapping):
        unknown = sorted(str(key) for key in entry if key not in _ENTRY_KEYS)
        if unknown:
            raise ConfigError(
                location,
                field,
                f"unknown key(s) {', '.join(unknown)}",
                "use only regex, layer, region and files",
            )
        raw_source = entry.get("regex")
        if not isinstance(raw_source, str):
            raise ConfigError(
                location,
                f"{field}.regex",
                "missing or not a string",
                "give the regex as a string with a (?P<version>...) group",
            )
        source = raw_source
        layer = _optional_str(entry, "layer", field, location)
        region = _optional_str(entry, "region", field, location)
        files = _files(entry.get("files"), f"{field}.files", location)
        if layer is not None and not is_layer_name(layer):
            raise ConfigError(
                location, f"{field}.layer", f"{layer!r} is not a layer name", "use 1-140 of [a-zA-Z0-9-_]"
            )
        if region is not None and not is_region(region):
            raise ConfigError(
                location,
                f"{field}.region",
                f"{region!r} is not a region",
                "use a region code such as us-east-1",
            )
    else:
        kind = type(entry).__name__
        raise ConfigError(
            location,
            field,
            f"expected a regex string or a mapping, got {kind}",
            "write a string such as '(?P<layer>[a-z_-]+)_layer_version = (?P<version>[0-9]+)'",
        )
    import regex

    try:
        # VERSION0: the re module's syntax and behaviour, which the docs promise.
        compiled = regex.compile(source, regex.MULTILINE | regex.VERSION0)
    except regex.error as exc:
        raise ConfigError(
            location,
            field,
            f"invalid regex {source!r}: {exc}",
            "fix the regular expression (Python re syntax)",
        ) from None
    groups = compiled.groupindex
    if "version" not in groups:
        raise ConfigError(
            location,
            field,
            f"regex {source!r} has no (?P<version>...) group",
            "capture the version digits as (?P<version>[0-9]+)",
        )
    if "layer" not in groups and layer is None:
        raise ConfigError(
            location,
            field,
            f"regex {source!r} has no (?P<layer>...) group",
            "add a (?P<layer>...) group, or use {regex: ..., layer: NAME} to fix the layer",
        )
    if "layer" in groups and layer is not None:
        raise ConfigError(
            location, f"{field}.layer", "set both here and as a (?P<layer>...) group", "keep only one of them"
        )
    if "region" in groups and region is not None:
        raise ConfigError(
            location,
            f"{field}.region",
            "set both here and as a (?P<region>...) group",
            "keep only one of them",
        )
    if compiled.match("") is not None:
        raise ConfigError(
            location,
            field,
            f"regex {source!r} matches the empty string",
            "make the version group require digits, e.g. (?P<version>[0-9]+)",
        )
    return PinPattern(regex=compiled, layer=layer, region=region, files=files, field=field, location=location)


def _optional_str(entry: Mapping[str, object], key: str, field: str, location: Location) -> str | None:
    value = entry.get(key)
    if value is None or isinstance(value, str):
        return value
    raise ConfigError(
        location, f"{field}.{key}", f"expected a string, got {type(value).__name__}", f"quote the {key}"
    )


def _files(value: object, field: str, location: Location) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple) and all(isinstance(item, str) for item in value):
        return tuple(str(item) for item in value)
    raise ConfigError(
        location, field, "expected a glob or a list of globs", "write e.g. files: ['*.tfvars', 'infra/**']"
    )


def exclude_spec(globs: Sequence[str]) -> pathspec.GitIgnoreSpec | None:
    """The ``settings.pins.exclude`` globs, with .gitignore's rules (``docs/``, ``**/fixtures/*.json``)."""
    return pathspec.GitIgnoreSpec.from_lines(globs) if globs else None
