"""The committed ``layer-ci.lock``: per layer its input key, zip SHA-256 and published version per region."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from layer_ci.errors import ConfigError, Location
from layer_ci.fsutil import write_atomically

LOCK_FILE_NAME = "layer-ci.lock"
LOCK_VERSION = 1

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_INPUT_KEY = re.compile(r"sha256:[0-9a-f]{64}")
_CONFLICT_MARKER = re.compile(r"^(<{7}|={7}|>{7})(\s|$)", re.MULTILINE)

_FIX_DAMAGED = (
    f"restore it with `git checkout -- {LOCK_FILE_NAME}`, or delete it (every layer then rebuilds; "
    "publishing reuses identical versions)"
)


@dataclass(frozen=True)
class PublishedRef:
    """One published layer version in one region."""

    version: int
    arn: str


def _frozen_mapping(items: Mapping[str, Any]) -> Mapping[str, Any]:
    # Sorted so that iteration order, and therefore anything rendered from it, is stable.
    return MappingProxyType(dict(sorted(items.items())))


@dataclass(frozen=True)
class LockedLayer:
    """What the lock remembers of one layer: the inputs it was built from and where that zip lives.

    ``unzipped_bytes`` (the zip's content size, for the size limit of functions using the layer without
    rebuilding it) and ``input_parts`` (digest per input part, so a plan can say what changed) are absent
    from locks written before they existed: None and empty then.
    """

    input_key: str
    zip_sha256: str
    published: Mapping[str, PublishedRef] = field(default_factory=dict, hash=False)
    unzipped_bytes: int | None = None
    input_parts: Mapping[str, str] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "published", _frozen_mapping(self.published))
        object.__setattr__(self, "input_parts", _frozen_mapping(self.input_parts))

    def with_published(self, region: str, ref: PublishedRef) -> LockedLayer:
        return replace(self, published={**self.published, region: ref})

    def with_build(
        self,
        input_key: str,
        zip_sha256: str,
        *,
        unzipped_bytes: int | None = None,
        input_parts: Mapping[str, str] | None = None,
    ) -> LockedLayer:
        """A new build: versions published from a different zip no longer count as published."""
        published = self.published if zip_sha256 == self.zip_sha256 else {}
        return LockedLayer(input_key, zip_sha256, published, unzipped_bytes, input_parts or {})


@dataclass(frozen=True)
class Lock:
    """The whole lock file; every update returns a new Lock."""

    layers: Mapping[str, LockedLayer] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", _frozen_mapping(self.layers))

    def get(self, name: str) -> LockedLayer | None:
        return self.layers.get(name)

    def with_layer(self, name: str, locked: LockedLayer) -> Lock:
        return Lock({**self.layers, name: locked})

    def without_layer(self, name: str) -> Lock:
        return Lock({key: value for key, value in self.layers.items() if key != name})

    def to_json(self) -> dict[str, Any]:
        return {
            "version": LOCK_VERSION,
            "layers": {name: _layer_json(locked) for name, locked in self.layers.items()},
        }

    def render(self) -> str:
        """The file's exact text: sorted keys, two-space indent, trailing newline (minimal diffs)."""
        return json.dumps(self.to_json(), sort_keys=True, indent=2) + "\n"


def _layer_json(locked: LockedLayer) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "input_key": locked.input_key,
        "zip_sha256": locked.zip_sha256,
        "published": {
            region: {"version": ref.version, "arn": ref.arn} for region, ref in locked.published.items()
        },
    }
    # Written only when known, so locks of layers built before these fields existed read the same.
    if locked.unzipped_bytes is not None:
        entry["unzipped_bytes"] = locked.unzipped_bytes
    if locked.input_parts:
        entry["input_parts"] = dict(locked.input_parts)
    return entry


def lock_path(root: Path) -> Path:
    return root / LOCK_FILE_NAME


def load_lock(root: Path) -> Lock:
    """Read ``root/layer-ci.lock``; a missing file is an empty lock, a damaged one a one-line ConfigError."""
    path = lock_path(root)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Lock()
    except (OSError, UnicodeDecodeError) as exc:
        problem = f"cannot be read ({exc})"
        raise ConfigError(Location(LOCK_FILE_NAME), "layer-ci.lock", problem, _FIX_DAMAGED) from None
    return parse_lock(text)


def parse_lock(text: str) -> Lock:
    """Parse and validate the lock file's text."""
    conflict = _CONFLICT_MARKER.search(text)
    if conflict:
        raise ConfigError(
            Location(LOCK_FILE_NAME, text.count("\n", 0, conflict.start()) + 1),
            "layer-ci.lock",
            "unresolved merge conflict",
            "keep either side of each conflicting layer and remove the markers (a stale entry only makes "
            "layer-ci rebuild that layer)",
        )
    try:
        data = json.loads(text, object_pairs_hook=_reject_duplicate_keys)
    except _DuplicateKeyError as exc:
        raise ConfigError(
            Location(LOCK_FILE_NAME, _line_of_duplicate(text, exc.key)),
            "layer-ci.lock",
            f"key '{exc.key}' appears twice",
            f"keep one of them, or {_FIX_DAMAGED}",
        ) from None
    except json.JSONDecodeError as exc:
        raise ConfigError(
            Location(LOCK_FILE_NAME, exc.lineno), "layer-ci.lock", f"not valid JSON ({exc.msg})", _FIX_DAMAGED
        ) from None
    return _LockReader(text).read(data)


class _DuplicateKeyError(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKeyError(key)
        result[key] = value
    return result


def _line_of_duplicate(text: str, key: str) -> int:
    # The second occurrence is where a duplicated layer entry (the usual case) starts.
    quoted = json.dumps(key) + ":"
    first = text.find(quoted)
    second = text.find(quoted, first + 1) if first >= 0 else -1
    index = second if second >= 0 else first
    return text.count("\n", 0, index) + 1 if index >= 0 else 0


class _LockReader:
    """Validates the parsed JSON, pointing each complaint at the line of the offending field."""

    def __init__(self, text: str) -> None:
        self.text = text

    def _line(self, keys: tuple[str, ...]) -> int:
        # The file is machine-written with two-space indents, one key per line, so a key at depth d is
        # found as a line starting with 2*(d+1) spaces and the quoted key, after its parent's position.
        # Hand-indented files fall back to the first occurrence after the parent.
        position, line = 0, 1
        for depth, key in enumerate(keys):
            quoted = json.dumps(key) + ":"
            index = self.text.find("\n" + "  " * (depth + 1) + quoted, position)
            index = index + 1 if index >= 0 else self.text.find(quoted, position)
            if index < 0:
                break
            position = index + 1
            line = self.text.count("\n", 0, index) + 1
        return line

    def _fail(self, keys: tuple[str, ...], problem: str, fix: str = _FIX_DAMAGED) -> ConfigError:
        return ConfigError(
            Location(LOCK_FILE_NAME, self._line(keys)), ".".join(keys) or "(top)", problem, fix
        )

    def _object(
        self, value: Any, keys: tuple[str, ...], allowed: set[str], required: set[str]
    ) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self._fail(keys, f"must be an object, found {_describe(value)}")
        for key in value:
            if key not in allowed:
                raise self._fail((*keys, key), "unknown key", f"remove it, or {_FIX_DAMAGED}")
        for key in sorted(required - value.keys()):
            raise self._fail(keys, f"missing '{key}'")
        return value

    def read(self, data: Any) -> Lock:
        top = self._object(data, (), {"version", "layers"}, {"version", "layers"})
        version = top["version"]
        if version != LOCK_VERSION:
            if isinstance(version, int) and not isinstance(version, bool) and version > LOCK_VERSION:
                raise self._fail(
                    ("version",), f"version {version} was written by a newer layer-ci", "upgrade layer-ci"
                )
            raise self._fail(("version",), f"must be {LOCK_VERSION}, found {json.dumps(version)}")
        layers_json = top["layers"]
        if not isinstance(layers_json, dict):
            raise self._fail(("layers",), f"must be an object, found {_describe(layers_json)}")
        layers = {name: self._layer(value, ("layers", name)) for name, value in layers_json.items()}
        return Lock(layers)

    def _layer(self, value: Any, keys: tuple[str, ...]) -> LockedLayer:
        entry = self._object(
            value,
            keys,
            {"input_key", "zip_sha256", "published", "unzipped_bytes", "input_parts"},
            {"input_key", "zip_sha256"},
        )
        input_key = entry["input_key"]
        if not isinstance(input_key, str) or not _INPUT_KEY.fullmatch(input_key):
            raise self._fail(
                (*keys, "input_key"), f"must be 'sha256:' and 64 hex digits, found {json.dumps(input_key)}"
            )
        zip_sha256 = entry["zip_sha256"]
        if not isinstance(zip_sha256, str) or not _SHA256_HEX.fullmatch(zip_sha256):
            raise self._fail((*keys, "zip_sha256"), f"must be 64 hex digits, found {json.dumps(zip_sha256)}")
        published_json = entry.get("published", {})
        if not isinstance(published_json, dict):
            raise self._fail((*keys, "published"), f"must be an object, found {_describe(published_json)}")
        published = {
            region: self._published(ref, (*keys, "published", region))
            for region, ref in published_json.items()
        }
        unzipped = entry.get("unzipped_bytes")
        if unzipped is not None and (
            not isinstance(unzipped, int) or isinstance(unzipped, bool) or unzipped < 0
        ):
            raise self._fail(
                (*keys, "unzipped_bytes"), f"must be a whole number >= 0, found {json.dumps(unzipped)}"
            )
        parts = entry.get("input_parts", {})
        if not isinstance(parts, dict):
            raise self._fail((*keys, "input_parts"), f"must be an object, found {_describe(parts)}")
        for part, digest in parts.items():
            if not isinstance(digest, str) or not _INPUT_KEY.fullmatch(digest):
                raise self._fail(
                    (*keys, "input_parts", part),
                    f"must be 'sha256:' and 64 hex digits, found {json.dumps(digest)}",
                )
        return LockedLayer(input_key, zip_sha256, published, unzipped, parts)

    def _published(self, value: Any, keys: tuple[str, ...]) -> PublishedRef:
        ref = self._object(value, keys, {"version", "arn"}, {"version", "arn"})
        version = ref["version"]
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise self._fail((*keys, "version"), f"must be a whole number >= 1, found {json.dumps(version)}")
        arn = ref["arn"]
        if not isinstance(arn, str) or not arn.startswith("arn:"):
            raise self._fail((*keys, "arn"), f"must be a layer version ARN, found {json.dumps(arn)}")
        return PublishedRef(version, arn)


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return {dict: "an object", list: "a list", str: "a string", int: "a number", float: "a number"}.get(
        type(value), type(value).__name__
    )


def save_lock(root: Path, lock: Lock) -> bool:
    """Write the lock atomically (tmp file + rename); returns False when the file already said the same."""
    path = lock_path(root)
    text = lock.render()
    try:
        if path.read_text(encoding="utf-8") == text:
            return False  # leave the file (and its mtime) alone
    except (FileNotFoundError, UnicodeDecodeError):
        pass
    # A new lock is committed and read by everyone: 0o644 whatever the umask; a replaced one keeps its mode.
    mode = None if path.exists() else 0o644
    write_atomically(path, text.encode("utf-8"), mode, fsync=True)
    return True
