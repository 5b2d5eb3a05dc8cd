"""The shipped JSON Schema: valid draft 2020-12, closed, documented, in step with the runtime table."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

from jsonschema import Draft202012Validator

from layer_ci.config.schema_errors import schema
from layer_ci.lambda_spec.limits import LAMBDA_RUNTIMES


def objects(node: Any, where: str = "#") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        if node.get("type") == "object" or "properties" in node:
            yield where, node
        for key, value in node.items():
            yield from objects(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from objects(value, f"{where}/{index}")


def test_schema_is_valid_draft_2020_12() -> None:
    loaded = schema()
    assert loaded["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(loaded)


def test_every_object_is_closed_and_every_property_described() -> None:
    loaded = schema()
    for where, node in objects(loaded):
        assert "additionalProperties" in node, where
        assert node["additionalProperties"] is not True, where
        for name, prop in node.get("properties", {}).items():
            assert prop.get("description"), f"{where}/properties/{name}"


def test_runtime_enum_matches_the_runtime_table() -> None:
    assert schema()["$defs"]["runtime"]["enum"] == list(LAMBDA_RUNTIMES)


def test_schema_command_prints_the_schema() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "layer_ci", "schema"], capture_output=True, text=True, check=True
    )
    assert json.loads(completed.stdout) == schema()
