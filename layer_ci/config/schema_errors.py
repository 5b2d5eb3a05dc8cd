"""Validates a loaded document against the shipped JSON Schema and words the first error as one line."""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable
from functools import cache
from importlib import resources
from typing import Any

from layer_ci.config.yamldoc import Document, FieldPath
from layer_ci.errors import ConfigError

MAX_LISTED_CHOICES = 8


@cache
def schema() -> dict[str, Any]:
    """The JSON Schema shipped as layer_ci/config/schema.json."""
    loaded: dict[str, Any] = json.loads(
        resources.files("layer_ci.config").joinpath("schema.json").read_text()
    )
    return loaded


@cache
def _validator() -> Any:
    from jsonschema import Draft202012Validator  # deferred: importing jsonschema costs ~0.1 s
    from jsonschema.exceptions import ValidationError
    from jsonschema.validators import extend

    def pattern(validator: Any, regex: str, instance: Any, _schema: Any) -> Iterable[Any]:
        if validator.is_type(instance, "string") and _pattern(regex).search(instance) is None:
            yield ValidationError(f"{instance!r} does not match {regex!r}")

    return extend(Draft202012Validator, {"pattern": pattern})(schema())


def validate(document: Document) -> None:
    """Raise a ConfigError for the schema violation that comes first in the file, if there is one."""
    if quick_accepts(schema(), document.data):
        return
    errors = list(_validator().iter_errors(document.data))
    if errors:
        raise _pick(errors, document)


# jsonschema spends ~0.3 s on a 200-layer, 1,000-function config, too slow for a no-op `plan`. This
# walker understands exactly the keywords schema.json uses and only ever answers "valid" when jsonschema
# would; on anything it is unsure of it answers False, and jsonschema decides and words the error.
_ANNOTATIONS = frozenset({"$schema", "$id", "$defs", "title", "description", "x-what", "x-fix"})
_UNDERSTOOD = _ANNOTATIONS | {
    "$ref", "type", "enum", "const", "pattern", "minLength", "maxLength", "minimum", "maximum", "items",
    "minItems", "maxItems", "uniqueItems", "properties", "required", "additionalProperties",
    "propertyNames", "minProperties", "oneOf",
}  # fmt: skip
_TYPES: dict[str, Any] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


@cache
def _pattern(regex: str) -> re.Pattern[str]:
    """``regex`` with the JSON Schema (ECMA-262) meaning of a final ``$``: the very end of the string.

    Python's ``$`` also matches before a trailing newline, so "tools\\n" would pass ``^[a-z]+$``: a name
    that prints as two lines (and can start a workflow command on the second).
    """
    if regex.endswith("$") and not regex.endswith("\\$"):
        regex = regex[:-1] + "\\Z"
    return re.compile(regex)


def _same(a: Any, b: Any) -> bool:
    return bool(a == b) and isinstance(a, bool) == isinstance(b, bool)


def quick_accepts(node: dict[str, Any], value: Any, root: dict[str, Any] | None = None) -> bool:
    """True only if ``value`` is valid against ``node`` (False may also mean "ask jsonschema")."""
    root = node if root is None else root
    if not _UNDERSTOOD.issuperset(node):
        return False
    if "$ref" in node:
        ref = node["$ref"]
        if not ref.startswith("#/$defs/") or not quick_accepts(root["$defs"][ref[8:]], value, root):
            return False
    if not _type_matches(node, value):
        return False
    if "oneOf" in node and not _quick_one_of(node["oneOf"], value, root):
        return False
    if "enum" in node and not any(_same(value, option) for option in node["enum"]):
        return False
    if "const" in node and not _same(value, node["const"]):
        return False
    if isinstance(value, str):
        if "pattern" in node and _pattern(node["pattern"]).search(value) is None:
            return False
        if not node.get("minLength", 0) <= len(value) <= node.get("maxLength", len(value)):
            return False
    elif isinstance(value, int | float) and not isinstance(value, bool):
        if not node.get("minimum", value) <= value <= node.get("maximum", value):
            return False
    elif isinstance(value, list):
        return _quick_list(node, value, root)
    elif isinstance(value, dict):
        return _quick_object(node, value, root)
    return True


def _type_matches(node: dict[str, Any], value: Any) -> bool:
    kind = node.get("type")
    if kind is None:
        return True
    kinds = [kind] if isinstance(kind, str) else kind
    return any(_TYPES[name](value) for name in kinds)


def _quick_one_of(branches: list[dict[str, Any]], value: Any, root: dict[str, Any]) -> bool:
    # A False from quick_accepts may only mean "unsure", which cannot prove the other branches fail;
    # a type mismatch can. The schema's unions (a string or an object, a string or a list) are all
    # told apart by type, so this decides them without jsonschema.
    candidates = [branch for branch in branches if _type_matches(_typed(branch, root), value)]
    return len(candidates) == 1 and quick_accepts(candidates[0], value, root)


def _typed(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    """The node whose ``type`` applies to ``node``: itself, or what its ``$ref`` chain leads to."""
    seen = 0
    while "type" not in node and "$ref" in node and node["$ref"].startswith("#/$defs/") and seen < 32:
        node, seen = root["$defs"][node["$ref"][8:]], seen + 1
    return node


def _quick_list(node: dict[str, Any], value: list[Any], root: dict[str, Any]) -> bool:
    if not node.get("minItems", 0) <= len(value) <= node.get("maxItems", len(value)):
        return False
    if node.get("uniqueItems"):
        keys = [_text_only_key(item) for item in value]
        if None in keys or len(set(keys)) != len(keys):
            return False
    items = node.get("items")
    return items is None or all(quick_accepts(items, item, root) for item in value)


def _text_only_key(value: Any) -> str | None:
    """A key equal for equal values, for values made of strings, lists and mappings only.

    Numbers and booleans are left to jsonschema, whose equality (1 == 1.0, True != 1) this does not copy.
    """
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        items = [_text_only_key(item) for item in value]
        if any(item is None for item in items):
            return None
        return "[" + ",".join(str(item) for item in items) + "]"
    if isinstance(value, dict) and all(isinstance(key, str) for key in value):
        fields = [(json.dumps(key), _text_only_key(item)) for key, item in sorted(value.items())]
        if any(item is None for _, item in fields):
            return None
        return "{" + ",".join(f"{key}:{item}" for key, item in fields) + "}"
    return None


def _quick_object(node: dict[str, Any], value: dict[str, Any], root: dict[str, Any]) -> bool:
    if len(value) < node.get("minProperties", 0):
        return False
    if any(key not in value for key in node.get("required", ())):
        return False
    names = node.get("propertyNames")
    if names is not None and not all(quick_accepts(names, key, root) for key in value):
        return False
    properties = node.get("properties", {})
    extra = node.get("additionalProperties", True)
    for key, item in value.items():
        sub = properties.get(key)
        if sub is not None:
            if not quick_accepts(sub, item, root):
                return False
        elif extra is False or (isinstance(extra, dict) and not quick_accepts(extra, item, root)):
            return False
    return True


def _show(value: Any) -> str:
    try:
        text = repr(value) if isinstance(value, str) else json.dumps(value, default=str)
    except ValueError:  # an integer past Python's digit limit for str(), or nan/inf in a structure
        text = f"a {type(value).__name__}"
    return text if len(text) <= 60 else text[:57] + "..."


def _clip(value: Any) -> str:
    """``str(value)`` cut to 60 characters (a 4,000-digit number must not make a 4,000-character line)."""
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _kind(value: Any) -> str:
    if value is None:
        return "nothing (an empty value)"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {_clip(value)}"
    if isinstance(value, str):
        return f"the text {_show(value)}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__} ({value})"


_TYPE_NAMES = {
    "object": "a mapping",
    "array": "a list",
    "string": "text",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "null": "null",
}


def _choices(options: Iterable[Any]) -> str:
    return ", ".join(str(option) for option in options)


def _suggest(value: Any, options: list[str]) -> list[str]:
    return difflib.get_close_matches(str(value), options, n=3, cutoff=0.6)


def _pick(errors: list[Any], document: Document) -> ConfigError:
    from jsonschema.exceptions import best_match, relevance

    # A misspelt key shows up twice: as an unknown key and as a missing required one. The unknown
    # key (with its "did you mean") names the cause, so it silences "missing" on the same mapping.
    misspelt = {tuple(error.absolute_path) for error in errors if error.validator == "additionalProperties"}
    errors = [
        error
        for error in errors
        if not (error.validator == "required" and tuple(error.absolute_path) in misspelt)
    ]
    worded = []
    for error in errors:
        if error.context:  # anyOf/oneOf: the branch that came closest says the most
            error = best_match(error.context)
        path, problem, fix = _explain(error)
        worded.append((document.line_of(path), relevance(error), path, problem, fix))
    # The first problem in the file is the one a reader meets first; among problems on one line the
    # most relevant by jsonschema's measure (shallower, stronger keywords) wins. min() keeps the first.
    worded.sort(key=lambda item: item[1], reverse=True)
    _, _, path, problem, fix = min(worded, key=lambda item: item[0])
    return document.error(path, problem, fix)


def _explain(error: Any) -> tuple[FieldPath, str, str]:
    """(field path, problem, fix) for one jsonschema ValidationError."""
    path: FieldPath = tuple(error.absolute_path)
    keyword = error.validator
    value = error.validator_value
    instance = error.instance
    sub = error.schema if isinstance(error.schema, dict) else {}
    what = sub.get("x-what")

    if "propertyNames" in error.absolute_schema_path:  # instance is the offending key itself
        key_path: FieldPath = (*path, str(instance))
        if keyword == "maxLength":
            return (
                key_path,
                f"the {what or 'name'} is {len(instance)} characters, at most {value} are allowed",
                ("shorten it"),
            )
        return key_path, f"{_show(instance)} is not a valid {what or 'name'}", sub.get("x-fix", "rename it")

    if keyword == "additionalProperties":
        allowed = list(sub.get("properties", {}))
        extras = [key for key in instance if key not in allowed]
        key = extras[0]
        close = _suggest(key, allowed)
        fix = f"did you mean '{close[0]}'?" if close else f"remove it; allowed here: {_choices(allowed)}"
        return (*path, key), "unknown key", fix

    if keyword == "required":
        missing = next(key for key in value if key not in instance)
        about = sub.get("properties", {}).get(missing, {}).get("description", "")
        first_sentence = about.split(". ")[0].rstrip(".")
        hint = f" ({first_sentence[:1].lower()}{first_sentence[1:]})" if about else ""
        return (*path, missing), "required key is missing", f"add '{missing}:'{hint}"

    if keyword == "type":
        wanted = [value] if isinstance(value, str) else list(value)
        expected = " or ".join(_TYPE_NAMES.get(name, name) for name in wanted)
        problem = f"expected {expected}, got {_kind(instance)}"
        if "string" in wanted and isinstance(instance, int | float) and not isinstance(instance, bool):
            fix = f'put it in quotes, e.g. "{_clip(instance)}"'
        elif "array" in wanted and isinstance(instance, str | int | float):
            fix = f"write it as a list, e.g. [{_clip(instance)}]"
        elif instance is None:
            fix = f"fill in {expected}"
        else:
            fix = f"write {expected}"
        return path, problem, fix

    if keyword == "enum":
        options = [str(option) for option in value]
        noun = f"a supported {what}" if what else "an allowed value"
        if len(options) <= MAX_LISTED_CHOICES:
            return path, f"{_show(instance)} is not one of {_choices(options)}", "use one of them"
        close = _suggest(instance, options)
        fix = f"did you mean {' or '.join(close)}?" if close else f"use one of {_choices(options)}"
        return path, f"{_show(instance)} is not {noun}", fix

    if keyword == "const":
        return path, f"{_show(instance)} is not supported, only {value} is", f"set it to {value}"

    if keyword == "pattern":
        noun = what or "value"
        return path, f"{_show(instance)} is not a valid {noun}", sub.get("x-fix", f"match {value}")

    if keyword == "maxLength":
        return (
            path,
            f"is {len(instance)} characters, at most {value} are allowed",
            f"shorten it by {len(instance) - value}",
        )

    if keyword == "minLength":
        return path, "is empty", "give a value or remove the key"

    if keyword == "maxItems":
        return (
            path,
            f"lists {len(instance)} entries, at most {value} are allowed",
            (f"remove {len(instance) - value} of them"),
        )

    if keyword == "minItems":
        return (
            path,
            "is an empty list",
            f"list at least {value} entr{'y' if value == 1 else 'ies'} or remove the key",
        )

    if keyword == "minProperties":
        return path, "is empty", "add at least one entry"

    if keyword == "uniqueItems":
        seen: list[Any] = []
        for index, item in enumerate(instance):
            if item in seen:
                first = seen.index(item)
                where: FieldPath = (*path, index)
                return where, f"{_show(item)} is listed twice (also at index {first})", "remove the repeat"
            seen.append(item)

    if keyword in ("minimum", "maximum"):
        low, high = sub.get("minimum"), sub.get("maximum")
        bounds = (
            f"from {low} to {high}"
            if low is not None and high is not None
            else (f"at least {low}" if low is not None else f"at most {high}")
        )
        return path, f"{_clip(instance)} is out of range", f"use a value {bounds}"

    return path, " ".join(str(error.message).split()), "see docs/config.md"
