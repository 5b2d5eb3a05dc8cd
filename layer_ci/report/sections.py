"""One function per report section: plain values in, Markdown out (empty when there is nothing to say)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from layer_ci.build.manifest import ManifestDiff
from layer_ci.model import MAX_UNZIPPED_BYTES
from layer_ci.report.facts import FunctionSize, KeptPin, LayerBumpReport, PinChange
from layer_ci.report.markdown import (
    code_block,
    code_span,
    details,
    escape_cell,
    escape_html_text,
    human_bytes,
    signed_bytes,
    table,
)

if TYPE_CHECKING:
    from layer_ci.engine.runner import TestResult

_KIND_ORDER = {"major": 0, "minor": 1, "patch": 2, "other": 3}
_STATUS_MARK = {"passed": "✅ passed", "failed": "❌ failed", "error": "⚠️ error", "timeout": "⏱️ timeout"}
DEFAULT_TAIL_LINES = 40
_SCRATCH = re.compile(r"\S*layer-ci-run-[A-Za-z0-9_]+")
_TIMING = re.compile(r"(\bin )\d+(?:\.\d+)?s\b(?: \(\d+:\d+:\d+\))?")


def _version(value: int | None) -> str:
    return "—" if value is None else f"v{value}"


def versions_section(layers: Sequence[LayerBumpReport]) -> str:
    """Old → new version of each released layer in each region."""
    rows = []
    for layer in layers:
        for region in layer.regions:
            new = f"**v{region.new}**" if region.changed else f"v{region.new}"
            rows.append([code_span(layer.layer), region.region, _version(region.old), new])
    return "### Versions\n\n" + table(["layer", "region", "from", "to"], rows)


def packages_section(layer: LayerBumpReport) -> str:
    """Packages added, removed and changed between the two versions, each change classed by `packaging`."""
    title = f"### Packages in {code_span(layer.layer)} {', '.join(f'v{v}' for v in layer.new_versions)}"
    diff = layer.diff
    if diff is None:
        missing = "the previous version" if layer.before is None else "the new version"
        return f"{title}\n\nPackage diff unavailable: the contents of {missing} could not be read."
    if diff.packages_unchanged:
        return (
            f"{title}\n\nNo package changed ({diff.files_added} files added, {diff.files_removed} removed)."
        )
    rows = [
        [
            escape_cell(change.name),
            escape_cell(change.old_version),
            escape_cell(change.new_version),
            f"**{change.kind}**" if change.kind == "major" else change.kind,
        ]
        for change in sorted(diff.changed, key=lambda c: (_KIND_ORDER[c.kind], c.name.lower()))
    ]
    rows += [[escape_cell(p.name), "—", escape_cell(p.version), "added"] for p in diff.added]
    rows += [[escape_cell(p.name), escape_cell(p.version), "—", "removed"] for p in diff.removed]
    return f"{title}\n\n{package_summary(diff)}\n\n" + table(["package", "from", "to", "change"], rows)


def package_summary(diff: ManifestDiff) -> str:
    kinds = {kind: sum(1 for c in diff.changed if c.kind == kind) for kind in _KIND_ORDER}
    classed = ", ".join(f"{count} {kind}" for kind, count in kinds.items() if count)
    changed = f"{len(diff.changed)} changed" + (f" ({classed})" if classed else "")
    return f"{changed} · {len(diff.added)} added · {len(diff.removed)} removed"


def sizes_section(layers: Sequence[LayerBumpReport], sizes: Sequence[FunctionSize]) -> str:
    """Zipped and unzipped size of each layer with the delta, and each affected function's total."""
    rows = []
    for layer in layers:
        before, after = layer.before, layer.after
        if after is None:
            rows.append([code_span(layer.layer), "unknown", "unknown"])
            continue
        if before is None:
            rows.append(
                [code_span(layer.layer), human_bytes(after.zipped_bytes), human_bytes(after.unzipped_bytes)]
            )
            continue
        rows.append(
            [
                code_span(layer.layer),
                f"{human_bytes(before.zipped_bytes)} → {human_bytes(after.zipped_bytes)} "
                f"({signed_bytes(after.zipped_bytes - before.zipped_bytes)})",
                f"{human_bytes(before.unzipped_bytes)} → {human_bytes(after.unzipped_bytes)} "
                f"({signed_bytes(after.unzipped_bytes - before.unzipped_bytes)})",
            ]
        )
    parts = ["### Size", table(["layer", "zipped", "unzipped"], rows)]
    if sizes:
        budget_rows = []
        for size in sizes:
            share = 100 * size.total_bytes / size.budget_bytes
            headroom = size.budget_bytes - size.total_bytes
            mark = "❌ over by " + human_bytes(-headroom) if size.over_budget else human_bytes(headroom)
            total = f"{size.total_bytes:,} B"
            if size.unmeasured:
                total += f" + unmeasured {', '.join(size.unmeasured)}"
            budget_rows.append([code_span(size.function), total, f"{share:.1f}%", mark])
        parts.append(
            f"Each affected function with the new version: its code and all its layers, unzipped, against "
            f"Lambda's {MAX_UNZIPPED_BYTES:,}-byte limit."
        )
        parts.append(table(["function", "unzipped total", "of the limit", "headroom"], budget_rows, "lrrr"))
    return "\n\n".join(parts)


def tests_section(
    results: Sequence[TestResult],
    *,
    heading: str = "### Tests against the new version",
    run_url: str | None = None,
    tail_lines: int = DEFAULT_TAIL_LINES,
) -> str:
    """Each function's result; for each failure its headline and its last lines of output."""
    if not results:
        return f"{heading}\n\nNo function uses the changed layers, so there was nothing to test."
    rows = []
    for result in results:
        if result.passed:
            count = result.junit.tests if result.junit is not None else None
            detail = "" if count is None else f"{count} test{'' if count == 1 else 's'}"
        else:
            detail = code_span(result.headline) if result.headline else f"exit code {result.exit_code}"
        # No durations: they differ on every run, and a rerun that changes nothing must edit nothing.
        rows.append([code_span(result.function), _STATUS_MARK.get(result.status, result.status), detail])
    parts = [heading, table(["function", "result", "details"], rows)]
    for result in results:
        if not result.passed:
            parts.append(failure_details(result, tail_lines))
    if run_url:
        parts.append(f"Full logs: [the workflow run]({run_url}).")
    return "\n\n".join(parts)


def failure_details(result: TestResult, tail_lines: int = DEFAULT_TAIL_LINES) -> str:
    """The failing lines of one function: headline, preflight refusals, failing tests, output tail."""
    lines = [f"**{escape_cell(result.function)}** {result.status}"]
    if result.headline:
        lines[0] += f": {code_span(result.headline)}"
    for problem in result.preflight_errors:
        lines.append(f"- {escape_cell(problem)}")
    if result.junit is not None and result.junit.failed_tests:
        lines.append(
            "Failing tests: " + ", ".join(code_span(name) for name in result.junit.failed_tests[:10])
        )
    body = "\n\n".join(lines)
    tail = stable_output(result.output_tail).splitlines()[-tail_lines:] if tail_lines > 0 else []
    if tail:
        shown = [arg for arg in result.command if not arg.startswith(("--junitxml=", "--junit-xml="))]
        command = " ".join(shown) if shown else "the test command"
        body += "\n\n" + details(
            f"last {len(tail)} lines of {escape_html_text(command)}", code_block("\n".join(tail))
        )
    return body


def stable_output(text: str) -> str:
    """Output with what differs between identical runs masked (timings, the run's scratch folder).

    The PR body is compared with the one GitHub holds to decide whether to edit it; without this every
    rerun would rewrite it for a "0.31s" that used to say "0.30s".
    """
    text = _SCRATCH.sub("<scratch>", text)
    return _TIMING.sub(r"\1<time>", text)


def pins_section(changed_pins: int, changed_files: Sequence[str], kept: Sequence[KeptPin]) -> str:
    """Which files the commit touches and which pins stayed at their old version."""
    files = ", ".join(code_span(path) for path in changed_files) or "none"
    plural = "" if changed_pins == 1 else "s"
    parts = [f"### Pins\n\nMoved {changed_pins} pin{plural} in: {files} (and `layer-ci.lock`)."]
    if kept:
        items = "\n".join(
            f"- {code_span(pin.location)} {code_span(pin.layer)} stays at v{pin.version}: "
            f"{escape_cell(pin.reason)}"
            for pin in kept
        )
        parts.append(f"Left at the old version:\n\n{items}")
    return "\n\n".join(parts)


def pin_changes_section(changes: Sequence[PinChange]) -> str:
    """The pins a pull request moves, with where they are."""
    if not changes:
        return ""
    rows = [
        [
            code_span(change.location),
            code_span(change.layer),
            change.region or "every region",
            _version(change.old),
            _version(change.new),
        ]
        for change in changes
    ]
    return "### Pinned versions\n\n" + table(["where", "layer", "region", "from", "to"], rows)


def problems_section(problems: Sequence[str]) -> str:
    if not problems:
        return ""
    return "### Problems\n\n" + "\n".join(f"- {escape_cell(problem)}" for problem in problems)


def warnings_section(warnings: Sequence[str]) -> str:
    if not warnings:
        return ""
    return "### Not checked\n\n" + "\n".join(f"- {escape_cell(warning)}" for warning in warnings)
