"""GitHub-flavoured Markdown pieces that stay intact whatever text goes in them, and the 65,536-char cut."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

# GitHub refuses pull request bodies and comments longer than this (the adapter enforces it too, but
# cutting here keeps code fences closed and says what was left out).
MAX_BODY_CHARS = 65_536
TRUNCATION_NOTE = "*Truncated: GitHub allows 65,536 characters here; the job's log has the full report.*"
_FENCE_RE = re.compile(r"^(`{3,})", re.MULTILINE)
_BACKTICK_RUN = re.compile(r"`+")


# Markdown's active ASCII punctuation: links and images ([ ] ( ) !), emphasis, code and table cells, and
# the ":" of "://" so GFM does not turn a bare URL into a link. A backslash makes any of them plain text.
_MARKDOWN_PUNCTUATION = re.compile(r"([\\`*_\[\]()!|~]|:(?=//))")
_WWW = re.compile(r"(www)\.", re.IGNORECASE)


def escape_cell(text: str) -> str:
    """Text that renders as itself in Markdown (table cell, list item, paragraph), on one line.

    Links, images, emphasis, raw HTML and autolinks are defused by backslashes and entities; an ``@``
    gets a zero-width space after it, as GitHub turns ``@name`` into a notification even when escaped.
    """
    one_line = " ".join(text.split())
    escaped = html.escape(one_line, quote=False)  # & < > as entities: plain text in HTML blocks too
    escaped = _WWW.sub(r"\1\\.", _MARKDOWN_PUNCTUATION.sub(r"\\\1", escaped))
    return escaped.replace("@", "@\u200b")


def escape_html_text(text: str) -> str:
    """Text inside raw HTML (``<summary>``): entities only, as Markdown is not parsed there; one line."""
    return html.escape(" ".join(text.split())).replace("@", "@\u200b")


def code_span(text: str) -> str:
    """Inline code that survives backticks inside ``text`` (CommonMark: a longer backtick run)."""
    one_line = " ".join(text.split()).replace("|", "\\|")
    longest = max((len(run) for run in _BACKTICK_RUN.findall(one_line)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if one_line.startswith("`") or one_line.endswith("`") else ""
    return f"{ticks}{pad}{one_line}{pad}{ticks}"


def code_block(text: str, language: str = "text") -> str:
    """A fenced block longer than any backtick run in ``text``, so output cannot close it early."""
    longest = max((len(run) for run in _BACKTICK_RUN.findall(text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{language}\n{text.rstrip()}\n{fence}"


def table(header: Sequence[str], rows: Sequence[Sequence[str]], align: str = "") -> str:
    """A Markdown table; ``align`` holds one of l/r per column (default left)."""
    marks = [("---:" if (align[i : i + 1] == "r") else "---") for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(marks) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def details(summary: str, body: str) -> str:
    return f"<details><summary>{summary}</summary>\n\n{body}\n\n</details>"


def human_bytes(count: int) -> str:
    """``12.3 MB`` (decimal units, as Lambda's limits are quoted) with the exact count for small values."""
    size = abs(count)
    sign = "-" if count < 0 else ""
    if size < 1000:
        return f"{sign}{size} B"
    for unit, scale in (("kB", 1e3), ("MB", 1e6), ("GB", 1e9)):
        if size < scale * 1000 or unit == "GB":
            return f"{sign}{size / scale:.1f} {unit}"
    raise AssertionError("unreachable")  # pragma: no cover


def signed_bytes(delta: int) -> str:
    if delta == 0:
        return "±0 B"
    return ("+" if delta > 0 else "\u2212") + human_bytes(abs(delta))


def truncate_markdown(text: str, limit: int = MAX_BODY_CHARS, note: str = TRUNCATION_NOTE) -> str:
    """``text`` cut at a line boundary to at most ``limit`` characters, fences closed, then ``note``."""
    if len(text) <= limit:
        return text
    budget = limit - len(note) - 16  # room for a closing fence, blank lines and the note
    cut = text.rfind("\n", 0, max(budget, 0))
    head = text[: cut if cut > 0 else max(budget, 0)]
    open_fence = _open_fence(head)
    closing = f"\n{open_fence}" if open_fence else ""
    result = f"{head}{closing}\n\n{note}"
    return result[:limit]


def _open_fence(text: str) -> str | None:
    """The fence still open at the end of ``text`` (a fence closes with at least as many backticks)."""
    open_with: str | None = None
    for match in _FENCE_RE.finditer(text):
        fence = match.group(1)
        end = text.find("\n", match.end())
        info = text[match.end() : end if end >= 0 else len(text)]
        if open_with is None:
            open_with = fence
        elif len(fence) >= len(open_with) and not info.strip():
            open_with = None
    return open_with
