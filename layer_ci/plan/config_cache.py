"""A memo of ``load_config`` for every command: the validated Config, reused until its inputs change."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import stat
import sys
import types
import typing
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import layer_ci
from layer_ci.fsutil import (
    UnsafePathError,
    containment_problem,
    machine_key,
    memo_digest,
    state_dir,
    write_atomically,
)
from layer_ci.model import Config

CONFIG_CACHE_PATH = Path(".layer-ci") / "cache" / "config.json"
CACHE_FORMAT = 3
# Same default as layer_ci.config.loader; repeated here because importing the loader is the cost
# (YAML parser, JSON Schema validator) a cache hit exists to avoid.
DEFAULT_CONFIG = Path("layer-ci.yml")

# Parsing and validating a large layer-ci.yml (1,000+ entries) takes a second or more, most of a
# no-op plan. A hit needs: the same layer-ci code and Python, the same config path, byte-identical
# config file and templates, and every folder/file the Config names still of the same kind (the
# loader's existence checks). Anything else, or any doubt, falls back to load_config.
# The memo lives in the repository's .layer-ci/, which a commit (a fork's pull request) can fill: a
# planted memo could hand over a Config the loader would have refused (paths outside the checkout).
# So every fingerprint includes a random key kept in this user's cache folder, never in the repository.


def load_config_cached(path: Path | None = None) -> Config:
    """``load_config(path)``, answered from ``.layer-ci/cache/config.json`` when that is provably the same."""
    config_path = Path(path) if path is not None else DEFAULT_CONFIG
    try:
        raw = config_path.read_bytes()
        resolved = config_path.resolve()
    except OSError:
        return _load_fresh(path)  # the loader owns the "missing config" message
    try:
        # A committed .layer-ci that is a symlink would have the cache read from, and written to, elsewhere.
        cache_file = state_dir(resolved.parent, CONFIG_CACHE_PATH.parent) / CONFIG_CACHE_PATH.name
    except UnsafePathError:
        return _load_fresh(path)
    key = machine_key()
    if key is None:
        return _load_fresh(path)
    fingerprint = _fingerprint(key, config_path, resolved, raw)
    hit = _lookup(cache_file, fingerprint, resolved.parent)
    if hit is not None:
        return hit
    config = _load_fresh(path)
    _store(cache_file, fingerprint, config, raw)
    return config


def _load_fresh(path: Path | None) -> Config:
    from layer_ci.config.loader import load_config

    return load_config(path)


@cache
def _code_signature() -> str:
    """Size and mtime of every module and data file of the installed layer_ci package."""
    package = Path(layer_ci.__file__).parent
    pending = [package]
    entries: list[str] = []
    while pending:
        with os.scandir(pending.pop()) as scan:
            for entry in scan:
                if entry.is_dir(follow_symlinks=False):
                    if entry.name != "__pycache__":
                        pending.append(Path(entry.path))
                elif entry.name.endswith((".py", ".json")):
                    st = entry.stat()
                    entries.append(f"{entry.path}|{st.st_size}|{st.st_mtime_ns}")
    return memo_digest(layer_ci.__version__, sys.version, *sorted(entries))


def _fingerprint(key: str, config_path: Path, resolved: Path, raw: bytes) -> str:
    return memo_digest(str(CACHE_FORMAT), key, _code_signature(), str(config_path), str(resolved), raw)


def _referenced_paths(config: Config) -> dict[str, str]:
    """Every path the loader checked, with the kind it had to be ("dir" or "file")."""
    paths: dict[str, str] = {}
    for layer in config.layers:
        paths[str(layer.source)] = "dir"
        if layer.build.requirements:
            paths[str(layer.source / layer.build.requirements)] = "file"
        if layer.build.method == "nodejs":  # the loader requires the lock file and package.json beside it
            from layer_ci.config.build_rules import node_lock_file

            lock = node_lock_file(layer)
            if lock is not None:
                paths[str(lock)] = "file"
                paths[str(lock.parent / "package.json")] = "file"
    for function in config.functions:
        paths[str(function.source)] = "dir"
        for pin in function.pin_files:
            paths[str(config.root / pin)] = "file"
    return paths


def _templates(config: Config) -> dict[str, str]:
    return {name: memo_digest((config.root / name).read_bytes()) for name in config.templates}


def _store(cache_file: Path, fingerprint: str, config: Config, raw: bytes) -> None:
    try:
        encoded = _encode(config)
        if _decode(Config, encoded) != config:
            return  # a model field this encoder cannot round-trip: never cache what would come back different
        document = {
            "format": CACHE_FORMAT,
            "fingerprint": fingerprint,
            "templates": _templates(config),
            "config": encoded,
        }
        payload = json.dumps(document, separators=(",", ":")).encode()
        write_atomically(cache_file, payload)
    except (OSError, TypeError, ValueError):
        return  # a cache that cannot be written only costs the next run a full load


def _lookup(cache_file: Path, fingerprint: str, root: Path) -> Config | None:
    try:
        document = json.loads(cache_file.read_bytes())
        if not isinstance(document, dict) or document.get("fingerprint") != fingerprint:
            return None
        for name, digest in document["templates"].items():
            if memo_digest((root / name).read_bytes()) != digest:
                return None
        config = _decode(Config, document["config"])
        if not isinstance(config, Config) or config.root != root:
            return None
        # The paths the returned Config names, not a list stored beside it: the loader's containment check
        # and existence checks again (a memo is data, and the key is only as safe as the user's files).
        for name, kind in _referenced_paths(config).items():
            if containment_problem(name, root) is not None:
                return None
            mode = os.stat(name).st_mode
            still_there = stat.S_ISDIR(mode) if kind == "dir" else stat.S_ISREG(mode)
            if not still_there:
                return None
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None
    return config


def _encode(value: Any) -> Any:
    # Plain values first: they are most of a large config, and a cache miss (every fresh clone) pays this.
    if value is None or value.__class__ in (str, int, float, bool):
        return value
    names = _dataclass_fields(value.__class__)
    if names is not None:
        return {name: _encode(getattr(value, name)) for name in names}
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple | list):
        return [_encode(item) for item in value]
    if isinstance(value, dict):  # user pin patterns given as mappings: plain JSON data
        return {str(key): _encode(item) for key, item in value.items()}
    if value is None or isinstance(value, str | int | float):
        return value
    raise TypeError(f"cannot cache a {type(value).__name__}")


@cache
def _dataclass_fields(cls: type) -> tuple[str, ...] | None:
    return tuple(field.name for field in dataclasses.fields(cls)) if dataclasses.is_dataclass(cls) else None


def _decode(kind: Any, data: Any) -> Any:
    return _decoder(kind)(data)


@cache
def _decoder(kind: Any) -> Callable[[Any], Any]:
    """A function turning cached JSON back into ``kind``, checking every value's type on the way."""
    origin = typing.get_origin(kind)
    if dataclasses.is_dataclass(kind) and isinstance(kind, type):
        hints = typing.get_type_hints(kind)
        fields = [
            (field.name, _decoder(hints[field.name])) for field in dataclasses.fields(kind) if field.init
        ]
        cls = kind

        def decode_dataclass(data: Any) -> Any:
            if not isinstance(data, dict) or len(data) != len(fields):
                raise TypeError(f"{cls.__name__}: wrong shape")
            return cls(**{name: decode(data[name]) for name, decode in fields})

        return decode_dataclass
    if kind is Path:
        return lambda data: Path(_expect(data, str))
    if kind in (str, bool, float):
        return lambda data: _expect(data, kind)
    if kind is int:

        def decode_int(data: Any) -> Any:
            if isinstance(data, bool):  # JSON true is no count of anything
                raise TypeError("expected int, found bool")
            return _expect(data, int)

        return decode_int
    if kind is type(None):
        return lambda data: _expect(data, type(None))
    if origin is typing.Literal:
        allowed = typing.get_args(kind)

        def decode_literal(data: Any) -> Any:
            if data not in allowed:
                raise ValueError(f"{data!r} not in {allowed!r}")
            return data

        return decode_literal
    if origin in (typing.Union, types.UnionType):
        members = typing.get_args(kind)
        options = [_decoder(option) for option in members if option is not type(None)]
        if len(options) == 1 and len(members) == 2:  # X | None, the only union the model uses
            only = options[0]
            return lambda data: None if data is None else only(data)
        options = [_decoder(option) for option in members]

        def decode_union(data: Any) -> Any:
            for option in options:
                with contextlib.suppress(TypeError, ValueError):
                    return option(data)
            raise TypeError(f"{data!r} fits no member of {kind!r}")

        return decode_union
    if origin is Mapping:  # Mapping[str, object]: JSON data kept as it was written
        return lambda data: _expect(data, dict)
    if origin is tuple:
        args = typing.get_args(kind)
        if len(args) == 2 and args[1] is Ellipsis:
            item = _decoder(args[0])
            return lambda data: tuple(item(value) for value in _expect(data, list))
        items = [_decoder(arg) for arg in args]

        def decode_fixed_tuple(data: Any) -> Any:
            values = _expect(data, list)
            if len(values) != len(items):
                raise TypeError("wrong tuple length")
            return tuple(decode(value) for decode, value in zip(items, values, strict=True))

        return decode_fixed_tuple
    raise TypeError(f"cannot decode {kind!r}")


def _expect(data: Any, kind: type) -> Any:
    if not isinstance(data, kind):
        raise TypeError(f"expected {kind.__name__}, found {type(data).__name__}")
    return data
