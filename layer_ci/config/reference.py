"""Render docs/config-reference.md from the JSON schema, so the reference can never drift from the checks.

Regenerate with ``python -m layer_ci.config.reference --write`` (a test fails when the committed file is
stale); without ``--write`` the markdown goes to stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from layer_ci.fsutil import write_atomically

REFERENCE_PATH = Path("docs") / "config-reference.md"
MAX_INLINE_CHOICES = 4  # longer enums are listed under constraints, not in the type column

HEADER = """\
# `layer-ci.yml` field reference

<!-- Generated from layer_ci/config/schema.json by `python -m layer_ci.config.reference --write`;
     do not edit by hand. The guide to the format is docs/config.md. -->

Every field layer-ci.yml accepts, as the JSON Schema that `layer-ci schema` prints and every command
checks defines it. `<name>` stands for a key you choose (a layer or function name).
"""


@dataclass(frozen=True)
class Field:
    """One row of the reference: the field's dotted path and what the schema says about it."""

    path: str
    kind: str
    required: bool
    description: str
    constraints: str


def load_schema() -> dict[str, Any]:
    text = resources.files("layer_ci.config").joinpath("schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def _resolve(node: Mapping[str, Any], schema: Mapping[str, Any]) -> dict[str, Any]:
    """A node with its ``$ref`` followed; the referring node's own keys (description) win."""
    ref = node.get("$ref")
    if not isinstance(ref, str) or not ref.startswith("#/$defs/"):
        return dict(node)
    target = schema["$defs"][ref.removeprefix("#/$defs/")]
    return {**_resolve(target, schema), **{k: v for k, v in node.items() if k != "$ref"}}


def _kind(node: Mapping[str, Any], schema: Mapping[str, Any]) -> str:
    if "const" in node:
        return f"`{json.dumps(node['const'])}`"
    if "enum" in node:
        if len(node["enum"]) > MAX_INLINE_CHOICES:
            return "string"  # the choices are listed under constraints
        return " \\| ".join(f"`{value}`" for value in node["enum"])
    alternatives = node.get("oneOf") or node.get("anyOf")
    if isinstance(alternatives, list) and "type" not in node:
        return " or ".join(dict.fromkeys(_kind(_resolve(option, schema), schema) for option in alternatives))
    kind = node.get("type")
    kinds = kind if isinstance(kind, list) else [kind] if kind else []
    shown = []
    for name in kinds:
        if name == "array" and isinstance(node.get("items"), Mapping):
            item = _resolve(node["items"], schema)
            inner = _kind(item, schema)
            shown.append(f"list of {inner}")
        elif name == "object" and isinstance(node.get("additionalProperties"), Mapping):
            shown.append("mapping")
        else:
            shown.append(str(name))
    return " or ".join(shown) or "any"


def _constraints(node: Mapping[str, Any], schema: Mapping[str, Any]) -> str:
    parts = []
    item = _resolve(node["items"], schema) if isinstance(node.get("items"), Mapping) else {}
    for source in (node, item):
        if "enum" in source and len(source["enum"]) > MAX_INLINE_CHOICES:
            parts.append("one of " + ", ".join(f"`{value}`" for value in source["enum"]))
        if "pattern" in source:
            what = source.get("x-what")
            parts.append(f"{what}: `{source['pattern']}`" if what else f"pattern `{source['pattern']}`")
    for key, label in (
        ("minimum", "at least"),
        ("maximum", "at most"),
        ("minItems", "at least {} item(s)"),
        ("maxItems", "at most {} item(s)"),
        ("maxLength", "at most {} characters"),
    ):
        if key in node:
            parts.append(label.format(node[key]) if "{}" in label else f"{label} {node[key]}")
    if node.get("uniqueItems"):
        parts.append("no duplicates")
    return "; ".join(parts)


def _fields(node: Mapping[str, Any], schema: Mapping[str, Any], prefix: str) -> list[Field]:
    rows: list[Field] = []
    properties = node.get("properties", {})
    required = set(node.get("required", ()))
    for name, raw in properties.items():
        child = _resolve(raw, schema)
        path = f"{prefix}.{name}" if prefix else name
        rows.append(
            Field(
                path,
                _kind(child, schema),
                name in required,
                child.get("description", ""),
                _constraints(child, schema),
            )
        )
        if child.get("type") == "object" and "properties" in child:
            rows.extend(_fields(child, schema, path))
        additional = child.get("additionalProperties")
        if isinstance(additional, Mapping):
            entry = _resolve(additional, schema)
            if "properties" in entry:
                rows.extend(_fields(entry, schema, f"{path}.<name>"))
    return rows


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _section(title: str, rows: Sequence[Field]) -> list[str]:
    lines = [
        f"## {title}",
        "",
        "| Field | Type | Required | Description | Constraints |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| `{row.path}` | {row.kind} | {'yes' if row.required else ''} | {_cell(row.description)} | "
            f"{_cell(row.constraints)} |"
        )
    lines.append("")
    return lines


def render_reference(schema: Mapping[str, Any] | None = None) -> str:
    """The whole reference as markdown (deterministic: schema order, no timestamps)."""
    schema = schema or load_schema()
    rows = _fields(schema, schema, "")
    groups: dict[str, list[Field]] = {}
    for row in rows:
        top = row.path.split(".", 1)[0]
        groups.setdefault(top, []).append(row)
    lines = [HEADER]
    top_rows = [row for row in rows if "." not in row.path]
    lines += _section("Top level", top_rows)
    for top, members in groups.items():
        nested = [row for row in members if "." in row.path]
        if nested:
            lines += _section(f"`{top}`", nested)
    return "\n".join(lines).rstrip("\n") + "\n"


def write_reference(root: Path) -> bool:
    """Write ``root/docs/config-reference.md`` atomically; False when it was already up to date."""
    path = root / REFERENCE_PATH
    text = render_reference()
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    write_atomically(path, text.encode("utf-8"))
    return True


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m layer_ci.config.reference", description=__doc__)
    parser.add_argument("--write", action="store_true", help=f"write {REFERENCE_PATH} under --root")
    parser.add_argument("--root", default=".", help="repository root (default: the working folder)")
    args = parser.parse_args(argv)
    if args.write:
        changed = write_reference(Path(args.root))
        print(f"{REFERENCE_PATH}: {'written' if changed else 'already up to date'}", file=sys.stderr)
    else:
        sys.stdout.write(render_reference())
    return 0


if __name__ == "__main__":
    sys.exit(main())
