"""The fast schema pre-check never accepts a document that jsonschema rejects."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from layer_ci.config.schema_errors import quick_accepts, schema
from layer_ci.config.yamldoc import parse_text
from tests.config.config_error_cases import CASES

VALIDATOR = Draft202012Validator(schema())
GOOD: dict[str, Any] = {
    "version": 1,
    "settings": {
        "account": "000000000000",
        "labels": ["a", "b"],
        "prune": {"keep": 3, "grace_days": 1},
        "pin_patterns": [
            r"layer/(?P<layer>[a-z]+)@(?P<version>\d+)",
            {"regex": r"v(?P<version>\d+)", "layer": "common", "files": "deploy/*.yml"},
            {"regex": r"w(?P<version>\d+)", "layer": "common", "files": ["a.yml", "b.yml"]},
        ],
    },
    "templates": ["template.yaml"],
    "layers": {
        "common": {
            "source": "layers/common",
            "build": {"method": "python", "requirements": "r.txt", "binary_only": True},
            "compatible_runtimes": ["python3.12"],
            "compatible_architectures": ["x86_64", "arm64"],
            "regions": ["us-east-1"],
            "share_with": {"accounts": ["123456789012"], "organization": "o-a1b2c3d4e5", "public": False},
            "description": "x",
        }
    },
    "functions": {
        "orders": {
            "source": "f",
            "runtime": "python3.12",
            "layers": ["common"],
            "test": "pytest -q",
            "memory": 256,
            "timeout": 3,
            "environment": {"A": "1", "B": 2, "C": True},
            "pins": ["template.yaml", {"regex": r"x(?P<version>\d+)", "layer": "common", "files": "x"}],
        }
    },
}
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-5, max_value=20_000),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["", "x", "python3.12", "arm64", "us-east-1", "123456789012", "files", "a b", "o-1"]),
    st.lists(st.sampled_from(["x86_64", "arm64", "python3.12", "x", ""]), max_size=17),
    st.dictionaries(
        st.sampled_from(["method", "source", "x", "A"]), st.sampled_from(["files", "x", 1]), max_size=3
    ),
)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += paths(item, (*prefix, index))
    return found


ALL_PATHS = paths(GOOD)[1:]


def test_good_document_is_accepted_by_both() -> None:
    assert VALIDATOR.is_valid(GOOD)
    assert quick_accepts(schema(), GOOD)


def test_every_bad_case_that_jsonschema_rejects_is_rejected_quickly() -> None:
    rejected = 0
    for case_id, text, *_ in CASES:
        try:
            data = parse_text(text, "layer-ci.yml").data
        except Exception:  # noqa: S112 - YAML-level cases never reach the schema
            continue
        if not VALIDATOR.is_valid(data):
            rejected += 1
            assert not quick_accepts(schema(), data), case_id
    assert rejected >= 20


@settings(max_examples=300, deadline=None)
@given(
    target=st.sampled_from(ALL_PATHS),
    replacement=VALUES,
    extra_key=st.sampled_from([None, "bogus", "source", "build", "layers", "1BAD", "x" * 141]),
)
def test_quick_check_never_accepts_what_jsonschema_rejects(
    target: tuple[Any, ...], replacement: Any, extra_key: str | None
) -> None:
    document = copy.deepcopy(GOOD)
    parent: Any = document
    for part in target[:-1]:
        parent = parent[part]
    parent[target[-1]] = replacement
    if extra_key is not None and isinstance(parent, dict):
        parent[extra_key] = replacement
    if quick_accepts(schema(), document):
        assert VALIDATOR.is_valid(document), (target, replacement, extra_key)


def test_one_of_is_decided_by_type_without_jsonschema() -> None:
    union = {"oneOf": [{"type": "string", "minLength": 1}, {"type": "array", "items": {"type": "string"}}]}
    assert quick_accepts(union, "x")
    assert quick_accepts(union, ["x"])
    assert not quick_accepts(union, "")
    assert not quick_accepts(union, [1])
    assert not quick_accepts(union, 3)
    # A branch's type may sit behind its $ref.
    root = {"$defs": {"line": {"type": "string", "pattern": "^[a-z]*$"}}}
    referenced = {"oneOf": [{"$ref": "#/$defs/line"}, {"type": "array", "items": {"$ref": "#/$defs/line"}}]}
    assert quick_accepts(referenced, "abc", root)
    assert quick_accepts(referenced, ["abc"], root)
    assert not quick_accepts(referenced, "ABC", root)
    # Two branches of one type cannot be told apart by type: jsonschema decides.
    assert not quick_accepts({"oneOf": [{"type": "string"}, {"type": "string", "minLength": 2}]}, "x")


def test_unknown_keywords_defer_to_jsonschema() -> None:
    assert not quick_accepts({"type": "string", "format": "email"}, "a@b.c")
    assert quick_accepts({"type": "string", "maxLength": 3}, "abc")
    assert not quick_accepts({"type": "integer"}, True)
    assert not quick_accepts({"const": 1}, True)
