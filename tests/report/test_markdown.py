"""Markdown pieces: cells, code spans and blocks that hold any text, byte counts, the 65,536-char cut."""

from __future__ import annotations

from layer_ci.report.markdown import (
    code_block,
    code_span,
    escape_cell,
    human_bytes,
    signed_bytes,
    table,
    truncate_markdown,
)


def test_cells_stay_one_cell() -> None:
    assert escape_cell("a | b\nc <img src=x> @team") == "a \\| b c &lt;img src=x&gt; @\u200bteam"
    assert table(["a", "b"], [["1", "2"]], "lr") == "| a | b |\n| --- | ---: |\n| 1 | 2 |"


def test_code_spans_and_blocks_outlast_backticks_in_the_text() -> None:
    assert code_span("plain") == "`plain`"
    assert code_span("a `b` c") == "``a `b` c``"
    assert code_span("`edge") == "`` `edge ``"
    block = code_block("```\ninside\n````")
    assert block.startswith("`````text\n") and block.endswith("\n`````")


def test_byte_counts() -> None:
    assert [human_bytes(n) for n in (999, 1_000, 262_144_000, 3_000_000_000)] == [
        "999 B",
        "1.0 kB",
        "262.1 MB",
        "3.0 GB",
    ]
    assert (signed_bytes(0), signed_bytes(1_500), signed_bytes(-2_000_000)) == (
        "±0 B",
        "+1.5 kB",
        "\u22122.0 MB",
    )


def test_truncation_cuts_at_a_line_and_closes_the_open_fence() -> None:
    text = "intro\n\n```text\n" + "\n".join("y" * 50 for _ in range(100)) + "\n```\n\nafter\n"
    cut = truncate_markdown(text, 1_000, "NOTE")
    assert len(cut) <= 1_000 and cut.endswith("\n```\n\nNOTE")
    assert all(line in ("intro", "", "```text", "y" * 50, "```", "NOTE") for line in cut.splitlines())
    assert truncate_markdown("short", 1_000, "NOTE") == "short"
    closed = "```\na\n```\n" + "b\n" * 600
    assert truncate_markdown(closed, 300, "NOTE").count("```") == 2
