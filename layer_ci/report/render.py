"""Whole documents from the sections: bump PR title and body, the bump commit message, the verify comment."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from layer_ci.report.facts import BumpReport, LayerBumpReport, VerifyReport
from layer_ci.report.markdown import MAX_BODY_CHARS, truncate_markdown
from layer_ci.report.sections import (
    DEFAULT_TAIL_LINES,
    packages_section,
    pin_changes_section,
    pins_section,
    problems_section,
    sizes_section,
    tests_section,
    versions_section,
    warnings_section,
)

BUMP_FOOTER = (
    "---\n*Opened by layer-ci after a layer release. Each release updates this pull request in place "
    "(same branch, new commit); the statuses `layer-ci/test/<function>` and `layer-ci/test-before-upgrade` "
    "come from running each affected function's tests against the new version.*"
)
# When the whole body is too long, output tails shrink first: they are the bulkiest and the least unique.
_TAIL_STEPS = (DEFAULT_TAIL_LINES, 10, 0)


def _layer_phrase(layer: LayerBumpReport) -> str:
    versions = layer.new_versions
    if len(versions) == 1:
        return f"{layer.layer} to v{versions[0]}"
    per_region = ", ".join(f"{r.region} v{r.new}" for r in layer.regions)
    return f"{layer.layer} ({per_region})"


def bump_title(report: BumpReport) -> str:
    """``Bump layer common-deps to v7`` / ``Bump layers common-deps to v7, tools to v3``."""
    phrases = [_layer_phrase(layer) for layer in report.layers]
    noun = "layer" if len(phrases) == 1 else "layers"
    title = f"Bump {noun} {', '.join(phrases)}"
    if not report.passed:
        title += " (tests failed)"
    return title


def bump_body(report: BumpReport, *, limit: int = MAX_BODY_CHARS) -> str:
    """The pull request body: summary, versions, packages, sizes, tests, pins; cut to ``limit``."""
    return _fit(lambda tail: _bump_body(report, tail), limit)


def _bump_body(report: BumpReport, tail_lines: int) -> str:
    failed = report.failed
    if failed:
        names = ", ".join(f"`{result.function}`" for result in failed)
        summary = (
            f"❌ **{len(failed)} of {len(report.results)} affected functions failed** against the new "
            f"version: {names}. Their pins stay at the old version; this pull request cannot be "
            "auto-merged until they pass."
        )
    elif report.results:
        summary = (
            f"✅ All {len(report.results)} affected functions passed their tests against the new version."
        )
    else:
        summary = "No function uses the released layers, so no tests ran."
    parts = [summary, versions_section(report.layers)]
    parts += [packages_section(layer) for layer in report.layers]
    parts.append(sizes_section(report.layers, report.sizes))
    parts.append(tests_section(report.results, run_url=report.run_url, tail_lines=tail_lines))
    parts.append(pins_section(report.changed_pins, report.changed_files, report.kept_pins))
    parts.append(BUMP_FOOTER)
    return "\n\n".join(part for part in parts if part) + "\n"


def commit_message(report: BumpReport) -> str:
    """A deterministic message: the title, the version moves, the pins kept back (no timestamps)."""
    lines = [bump_title(report), ""]
    for layer in report.layers:
        for region in layer.regions:
            if region.changed:
                old = "new region" if region.old is None else f"v{region.old}"
                lines.append(f"{layer.layer} {region.region}: {old} -> v{region.new}")
    if report.kept_pins:
        lines.append("")
        lines += [f"kept {pin.location} at v{pin.version}: {pin.reason}" for pin in report.kept_pins]
    return "\n".join(lines) + "\n"


def verify_comment(report: VerifyReport, *, limit: int = MAX_BODY_CHARS) -> str:
    """The sticky comment `layer-ci verify` keeps on a pull request (the marker is added by the adapter)."""
    return _fit(lambda tail: _verify_comment(report, tail), limit)


def _verify_comment(report: VerifyReport, tail_lines: int) -> str:
    if not report.relevant:
        verdict = "✅ nothing to verify: no layer pins or layer sources changed"
    elif report.ok:
        verdict = "✅ passed"
    else:
        verdict = "❌ failed"
    parts = [
        f"## layer-ci verify: {verdict}",
        f"Compared `{report.base[:12]}` (base) with `{report.head[:12]}` (head).",
    ]
    parts.append(pin_changes_section(report.pin_changes))
    if report.rebuilt_layers:
        names = ", ".join(f"`{name}`" for name in report.rebuilt_layers)
        parts.append(f"### Layer sources changed\n\n{names}: the consumers' tests ran against a local build.")
    parts.append(problems_section(report.problems))
    if report.relevant:
        parts.append(
            tests_section(report.results, heading="### Tests", run_url=report.run_url, tail_lines=tail_lines)
        )
    parts.append(warnings_section(report.warnings))
    return "\n\n".join(part for part in parts if part) + "\n"


def _fit(render: Callable[[int], str], limit: int, steps: Sequence[int] = _TAIL_STEPS) -> str:
    text = ""
    for tail in steps:
        text = render(tail)
        if len(text) <= limit:
            return text
    return truncate_markdown(text, limit)
