"""docs/config-reference.md is generated from the JSON schema and must be up to date."""

from __future__ import annotations

from layer_ci.config.reference import REFERENCE_PATH, load_schema, render_reference
from tests.support.repos import PROJECT_ROOT


def test_committed_reference_is_up_to_date() -> None:
    committed = (PROJECT_ROOT / REFERENCE_PATH).read_text(encoding="utf-8")
    assert committed == render_reference(), (
        "docs/config-reference.md is stale: run `python -m layer_ci.config.reference --write`"
    )


def test_every_schema_field_appears_with_its_description() -> None:
    text = render_reference()
    schema = load_schema()
    for name in schema["$defs"]["layer"]["properties"]:
        assert f"| `layers.<name>.{name}` |" in text
    for name in schema["$defs"]["settings"]["properties"]:
        assert f"| `settings.{name}` |" in text
    assert "| `functions.<name>.runtime` | string |" in text  # a long enum's choices go to constraints
    assert "| `layers.<name>.build.method` | `python` \\| `nodejs` \\| `files` \\| `command` | yes |" in text


def test_rendering_is_deterministic() -> None:
    assert render_reference() == render_reference()
