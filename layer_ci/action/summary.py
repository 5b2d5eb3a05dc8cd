"""The job summary (GITHUB_STEP_SUMMARY): tables of layers, versions, functions and results, and a graph.

Every name is escaped for the place it lands in, so a layer, function or file name can close neither a
table cell, a code span, an HTML tag nor the Mermaid block.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from layer_ci.action.context import ActionSettings
from layer_ci.flows.outcome import PushOutcome
from layer_ci.model import Config
from layer_ci.plan.changes import Plan
from layer_ci.report.markdown import escape_cell

if TYPE_CHECKING:
    from layer_ci.flows.schedule import ScheduleOutcome
    from layer_ci.vendor.watch import WatchResult

STATUS_ICONS: Mapping[str, str] = {
    "passed": "✅ passed",
    "failed": "❌ failed",
    "error": "⚠️ error",
    "timeout": "⏱️ timeout",
    "skipped": "⏭️ skipped",
}


def title(settings: ActionSettings, job: str) -> str:
    """``layer-ci push: push to main (abc1234)``: the job and what started it."""
    where = {
        "push": f"push to {settings.branch or settings.ref}",
        "pull_request": f"pull request #{settings.pr_number}",
        "pull_request_target": f"pull request #{settings.pr_number}",
        "pull_request_review": f"review of pull request #{settings.pr_number}",
        "pull_request_review_comment": f"review comment on pull request #{settings.pr_number}",
        "issue_comment": f"comment on #{settings.pr_number}",
        "workflow_dispatch": "manual release",
        "schedule": "scheduled check",
    }.get(settings.event_name, settings.event_name)
    sha = f" ({settings.sha[:7]})" if settings.sha else ""
    return f"layer-ci {job}: {where}{sha}"


def md(text: object) -> str:
    """Text safe inside a markdown table cell: one line, HTML and markdown punctuation neutralised."""
    return escape_cell(str(text))


def mermaid_label(text: object) -> str:
    """Text safe inside a quoted Mermaid node label (entity codes for quotes, brackets and backticks)."""
    one_line = " ".join(str(text).split())
    replacements = {"#": "#35;", '"': "#quot;", "<": "#lt;", ">": "#gt;", "&": "#amp;", "`": "#96;"}
    return "".join(replacements.get(char, char) for char in one_line)


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _pr_link(number: int | None, url: str | None) -> str:
    """``[#N](url)`` for a web URL (quoted so it cannot end the link early), else ``#N`` or ``-``."""
    if number is None:
        return "-"
    if url and url.startswith(("https://", "http://")):
        return f"[#{number}]({urllib.parse.quote(url, safe=':/?#=&%~.-_')})"
    return f"#{number}"


def layer_graph(
    config: Config,
    layer_labels: Mapping[str, str] | None = None,
    results: Mapping[str, str] | None = None,
    highlight: Iterable[str] = (),
) -> list[str]:
    """A Mermaid flowchart, layers -> the functions that use them; changed layers are highlighted."""
    layer_labels = layer_labels or {}
    results = results or {}
    marked = set(highlight)
    lines = ["```mermaid", "flowchart LR"]
    layer_ids = {layer.name: f"L{index}" for index, layer in enumerate(config.layers)}
    function_ids = {function.name: f"F{index}" for index, function in enumerate(config.functions)}
    for name, node in layer_ids.items():
        label = mermaid_label(f"{name} {layer_labels[name]}" if name in layer_labels else name)
        lines.append(f'  {node}[["{label}"]]')
    for name, node in function_ids.items():
        label = mermaid_label(f"{name} {results[name]}" if name in results else name)
        lines.append(f'  {node}("{label}")')
    for function in config.functions:
        for layer in function.layers:
            if layer in layer_ids:
                lines.append(f"  {layer_ids[layer]} --> {function_ids[function.name]}")
    changed = [layer_ids[name] for name in layer_ids if name in marked]
    if changed:
        lines.append("  classDef changed stroke-width:3px")
        lines.append(f"  class {','.join(changed)} changed")
    lines.append("```")
    return lines


def plan_section(plan: Plan) -> list[str]:
    rows = [
        (
            md(change.layer),
            md(change.status),
            md(change.reason),
            md(", ".join(change.consumers) or "-"),
        )
        for change in plan.changes
    ]
    if not rows:
        return ["No layers are configured."]
    return _table(("Layer", "Status", "Why", "Used by"), rows)


def checks_section(outcome: PushOutcome) -> list[str]:
    rows = []
    for check in outcome.checks:
        result = STATUS_ICONS.get(check.status, md(check.status))
        detail = md(check.headline) if check.headline and not check.passed else ""
        time = f"{check.duration_s:.1f} s" if check.status != "skipped" else "-"
        rows.append((md(check.function), md(", ".join(check.layers) or "-"), result, time, detail))
    return _table(("Function", "Layers under test", "Result", "Time", "Detail"), rows)


def push_summary(title: str, config: Config, outcome: PushOutcome) -> str:
    """The whole summary of a push or release run."""
    lines = [f"## {md(title)}", ""]
    if outcome.nothing_to_do:
        lines.append(
            f"Nothing to do: {len(outcome.plan.changes)} layer(s) unchanged since `layer-ci.lock`, "
            f"{outcome.pins_current} pin(s) current."
        )
        lines.append("")
    for note in outcome.notes:
        lines += [f"> {md(note)}", ""]
    if outcome.targets:
        lines += ["### Layers", ""]
        rows = [
            (
                md(row.layer),
                md(row.region),
                row.version_label,
                md(row.published.arn) if row.published else "-",
                row.built.zipped_label if row.built else "-",
                row.built.unzipped_label if row.built else "-",
                md(row.reason),
            )
            for row in outcome.layer_rows()
        ]
        lines += _table(("Layer", "Region", "Version", "ARN", "Zip", "Unzipped", "Why"), rows)
        lines.append("")
    if outcome.pin_changes:
        lines += ["### Pins moved", ""]
        lines += _table(
            ("File", "Layer", "Change"),
            [
                (md(f"{c.path}:{c.line}"), md(c.layer), f"v{c.old_version} → v{c.new_version}")
                for c in outcome.pin_changes
            ],
        )
        lines.append("")
    if outcome.pull_requests:
        lines += ["### Bump pull requests", ""]
        lines += _table(
            ("Pull request", "Branch", "Layers", "Outcome"),
            [
                (
                    _pr_link(pr.number, pr.url),
                    md(pr.branch),
                    md(", ".join(pr.layers)),
                    md(pr.outcome),
                )
                for pr in outcome.pull_requests
            ],
        )
        lines.append("")
    if outcome.checks:
        lines += ["### Functions", ""]
        lines += checks_section(outcome)
        lines.append("")
    for layer in outcome.held_back:
        lines += [
            f"Held back: the pins of {md(layer)} stay at their old version until its consumers pass.",
            "",
        ]
    labels = {version.layer: f"v{version.version}" for version in outcome.published}
    results = {
        check.function: STATUS_ICONS.get(check.status, check.status).split()[0] for check in outcome.checks
    }
    lines += ["### Layers and the functions that use them", ""]
    lines += layer_graph(config, labels, results, outcome.targets)
    return "\n".join(lines) + "\n"


def plan_summary(title: str, config: Config, plan: Plan, notes: Sequence[str] = ()) -> str:
    """The summary of a run that only planned (a branch push, a fork's pull request)."""
    lines = [f"## {md(title)}", ""]
    for note in notes:
        lines += [f"> {md(note)}", ""]
    lines += plan_section(plan)
    lines.append("")
    affected = plan.affected_functions
    lines.append(f"Functions to test: {md(', '.join(affected)) if affected else 'none'}")
    lines.append("")
    lines += ["### Layers and the functions that use them", ""]
    lines += layer_graph(config, highlight=[change.layer for change in plan.changed])
    return "\n".join(lines) + "\n"


def lines_section(title: str, items: Sequence[str], empty: str) -> str:
    """A heading and a bullet list of messages (audit findings, prune decisions)."""
    lines = [f"### {md(title)}", ""]
    lines += [f"- {md(item)}" for item in items] if items else [empty]
    return "\n".join(lines) + "\n"


def schedule_summary(heading: str, outcome: ScheduleOutcome) -> str:
    """The audit's counts, errors and warnings, then what was pruned."""
    summary = [f"## {md(heading)}", ""]
    report = outcome.audit
    if report is not None:
        summary.append(
            f"Checked {report.pins_checked} pin(s) and {report.functions_compared} deployed function(s)."
        )
        summary.append("")
        summary.append(lines_section("Errors", report.errors, "None: every pinned version exists."))
        summary.append(lines_section("Warnings", report.warnings, "None."))
    pruned = outcome.prune
    if pruned is not None:
        items = [f"{d.layer} v{d.version} in {d.region}: {d.reason}" for d in pruned.deleted]
        summary.append(
            lines_section(
                f"Pruned (keep {pruned.keep}, grace {pruned.grace_days} days)",
                items,
                "Nothing was old enough to go.",
            )
        )
    return "\n".join(summary)


def watch_summary(result: WatchResult) -> str:
    """The vendor layers found and the bump pull requests opened for them."""
    layers = [
        f"{layer.layer} ({layer.account}): {layer.status}"
        + "".join(
            f"; {r.region} v{r.old} → v{r.new}" if r.changed else f"; {r.region} v{r.new}"
            for r in layer.regions
        )
        for layer in result.layers
    ]
    prs = []
    if result.outcome is not None:
        for pr in result.outcome.prs:
            link = f"#{pr.number} {pr.url}" if pr.number and pr.url else pr.branch
            failed = f", tests failed: {', '.join(pr.failed_functions)}" if pr.failed_functions else ""
            prs.append(f"{link} {pr.title}: {pr.action}{failed}")
    return "\n".join(
        [
            "## layer-ci: vendor layers",
            "",
            lines_section("Vendor layers", layers, "None pinned: every layer ARN is this repository's."),
            lines_section("Pull requests", prs, "None: every watched pin is at its newest version."),
        ]
    )
