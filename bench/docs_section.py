"""Writes one benchmark's section of docs/benchmarks.md, leaving the other benchmarks' sections alone."""

from __future__ import annotations

from pathlib import Path

from layer_ci.fsutil import write_atomically

DOCS = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"


def update_docs_section(heading: str, section: str, docs: Path = DOCS) -> None:
    """Replace the section that starts with ``heading`` (a ``## `` line) by ``section``, or append it."""
    text = docs.read_text(encoding="utf-8") if docs.exists() else "# Benchmarks\n"
    start = text.find(heading + "\n")
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = text.find("\n## ", start + len(heading))
        text = text[:start] + section + ("" if end < 0 else text[end:])
    write_atomically(docs, text.encode("utf-8"))
