"""The step summary: tables and a Mermaid graph that hostile names can break out of neither."""

from __future__ import annotations

from pathlib import Path

from layer_ci.action.summary import layer_graph, md, mermaid_label, plan_summary, push_summary
from layer_ci.bump.working_tree import PinMove
from layer_ci.flows.outcome import BuiltSummary, PullRequestRef, PushOutcome
from layer_ci.gate.local_gate import ConsumerCheck
from layer_ci.model import PublishedVersion
from layer_ci.plan.changes import make_plan
from layer_ci.plan.lockfile import Lock
from tests.support.repos import config_of, function_spec, layer_spec


def _config(tmp_path: Path, layer: str = "tools", function: str = "api"):  # type: ignore[no-untyped-def]
    source = tmp_path / "layers" / layer
    source.mkdir(parents=True)
    (source / "f.txt").write_text("x")
    spec = layer_spec(source, layer)
    return config_of(tmp_path, (spec,), (function_spec(tmp_path, function, (layer,)),))


def test_md_neutralises_table_cells_links_html_and_newlines() -> None:
    hostile = "a|b\n## h <script>`x`[link](http://e)*_~"
    cell = md(hostile)
    assert "\n" not in cell
    assert "|" not in cell.replace("\\|", "")
    assert "<script>" not in cell and "&lt;script&gt;" in cell
    assert "\\[link\\]" in cell and "\\`x\\`" in cell


def test_mermaid_labels_cannot_close_the_node_or_the_block() -> None:
    label = mermaid_label('x"] --> evil\n```\n<b>#1</b>')
    assert '"' not in label and "`" not in label and "<" not in label and "\n" not in label
    assert "#quot;" in label and "#96;" in label and "#35;1" in label


def test_graph_links_layers_to_functions_with_synthetic_ids(tmp_path: Path) -> None:
    config = _config(tmp_path)
    lines = layer_graph(config, {"tools": "v3"}, {"api": "✅"}, ["tools"])
    assert lines[0] == "```mermaid" and lines[-1] == "```"
    assert '  L0[["tools v3"]]' in lines and '  F0("api ✅")' in lines
    assert "  L0 --> F0" in lines and "  class L0 changed" in lines


def test_push_summary_has_layer_pin_pr_and_function_tables(tmp_path: Path) -> None:
    config = _config(tmp_path)
    plan = make_plan(config, Lock())
    arn = "arn:aws:lambda:us-east-1:000000000000:layer:tools:3"
    outcome = PushOutcome(
        plan=plan,
        mode="pull-requests",
        dry_run=False,
        targets={"tools": ("us-east-1",)},
        built=(BuiltSummary("tools", tmp_path / "tools.zip", "0" * 64, 2_000, 5_000),),
        published=(PublishedVersion("tools", "us-east-1", 3, arn, "0" * 64, True),),
        pin_changes=(PinMove("template.yaml", 9, "tools", "us-east-1", 2, 3),),
        pull_requests=(
            PullRequestRef(5, "https://github.com/o/r/pull/5", "layer-ci/tools", ("tools",), "created"),
        ),
        checks=(ConsumerCheck("api", "failed", ("tools v3",), "AssertionError: | broke"),),
    )
    text = push_summary("layer-ci push: push to main", config, outcome)
    why = "new layer \\(not in layer-ci.lock\\)"  # brackets escaped: text, never a link
    assert f"| tools | us-east-1 | v3 | {arn} | 2.0 kB | 5.0 kB | {why} |" in text
    assert "| template.yaml:9 | tools | v2 → v3 |" in text
    assert "| [#5](https://github.com/o/r/pull/5) | layer-ci/tools | tools | created |" in text
    assert "| api | tools v3 | ❌ failed |" in text and "AssertionError: \\| broke" in text
    assert 'F0("api ❌")' in text


def test_plan_summary_lists_changes_and_notes(tmp_path: Path) -> None:
    config = _config(tmp_path)
    text = plan_summary("layer-ci plan", config, make_plan(config, Lock()), ["read-only <b>run</b>"])
    assert "> read-only &lt;b&gt;run&lt;/b&gt;" in text
    assert "| tools | new | new layer \\(not in layer-ci.lock\\) | api |" in text
    assert "Functions to test: api" in text
