"""PR title, body and commit message, and the verify comment, rendered from plain values."""

from __future__ import annotations

import re

from layer_ci.engine.runner import JUnitSummary, TestResult
from layer_ci.model import MAX_UNZIPPED_BYTES, Manifest, PackageInfo
from layer_ci.report.facts import (
    BumpReport,
    FunctionSize,
    KeptPin,
    LayerBumpReport,
    PinChange,
    RegionVersion,
    VerifyReport,
)
from layer_ci.report.markdown import MAX_BODY_CHARS, TRUNCATION_NOTE
from layer_ci.report.render import bump_body, bump_title, commit_message, verify_comment


def manifest(packages: dict[str, str], zipped: int, unzipped: int) -> Manifest:
    return Manifest(
        layer="common",
        input_key="sha256:" + "0" * 64,
        zip_sha256="1" * 64,
        zipped_bytes=zipped,
        unzipped_bytes=unzipped,
        files=(("python/x.py", unzipped),),
        packages=tuple(PackageInfo(name, version) for name, version in packages.items()),
    )


BEFORE = manifest(
    {"requests": "2.31.0", "urllib3": "2.2.1", "idna": "3.6", "six": "1.16.0", "certifi": "2024.2.2"},
    5_000_000,
    20_000_000,
)
AFTER = manifest(
    {
        "requests": "3.0.0",
        "urllib3": "2.3.0",
        "idna": "3.6.1",
        "certifi": "2024.7.4",
        "charset-normalizer": "3.3.2",
    },
    5_500_000,
    21_250_000,
)
LAYER = LayerBumpReport(
    "common",
    (
        RegionVersion("us-east-1", 6, 7, "arn:aws:lambda:us-east-1:000000000000:layer:common:7"),
        RegionVersion("eu-west-1", 6, 7, "arn:aws:lambda:eu-west-1:000000000000:layer:common:7"),
    ),
    BEFORE,
    AFTER,
)


def outcome(function: str, status: str = "passed", headline: str | None = None, tail: str = "") -> TestResult:
    return TestResult(
        function=function,
        status=status,  # type: ignore[arg-type]
        duration_s=2.5,
        exit_code=0 if status == "passed" else 1,
        headline=headline,
        output_tail=tail,
        command=("python", "-m", "pytest", "-q", "--junitxml=/tmp/layer-ci-run-abc123/junit.xml"),
        junit=JUnitSummary(4, 0 if status == "passed" else 1, 0, 0, () if status == "passed" else ("t::x",)),
    )


def test_title_names_each_layer_and_its_version_or_versions() -> None:
    assert bump_title(BumpReport((LAYER,))) == "Bump layer common to v7"
    split = LayerBumpReport(
        "tools", (RegionVersion("us-east-1", 2, 3, "a"), RegionVersion("eu-west-1", 4, 5, "b"))
    )
    assert bump_title(BumpReport((LAYER, split))) == (
        "Bump layers common to v7, tools (us-east-1 v3, eu-west-1 v5)"
    )
    failing = BumpReport((LAYER,), results=(outcome("orders", "failed", "ImportError: x"),))
    assert bump_title(failing) == "Bump layer common to v7 (tests failed)"


def test_the_body_classes_every_package_change_with_packaging() -> None:
    body = bump_body(BumpReport((LAYER,), results=(outcome("orders"),)))
    assert "4 changed (1 major, 2 minor, 1 patch) · 1 added · 1 removed" in body
    rows = [line for line in body.splitlines() if line.startswith("| ") and "|" in line[2:]]
    assert "| requests | 2.31.0 | 3.0.0 | **major** |" in rows
    assert "| urllib3 | 2.2.1 | 2.3.0 | minor |" in rows
    assert "| idna | 3.6 | 3.6.1 | patch |" in rows
    assert "| certifi | 2024.2.2 | 2024.7.4 | minor |" in rows  # calendar versions: 2 -> 7 is the minor part
    assert "| charset-normalizer | — | 3.3.2 | added |" in rows
    assert "| six | 1.16.0 | — | removed |" in rows
    # Majors first, then minors, then patches.
    assert body.index("| requests |") < body.index("| urllib3 |") < body.index("| idna |")


def test_sizes_show_deltas_and_each_functions_total_against_the_limit() -> None:
    sizes = (
        FunctionSize("orders", 21_400_000),
        FunctionSize("huge", MAX_UNZIPPED_BYTES + 5_000, ("vendor",)),
    )
    body = bump_body(BumpReport((LAYER,), sizes=sizes))
    assert "| `common` | 5.0 MB → 5.5 MB (+500.0 kB) | 20.0 MB → 21.2 MB (+1.2 MB) |" in body
    assert "| `orders` | 21,400,000 B | 8.2% | 240.7 MB |" in body
    assert "| `huge` | 262,149,000 B + unmeasured vendor | 100.0% | ❌ over by 5.0 kB |" in body
    shrunk = LayerBumpReport("common", LAYER.regions, AFTER, BEFORE)
    assert "(\u22121.2 MB)" in bump_body(BumpReport((shrunk,)))


def test_failures_show_their_lines_and_kept_pins_say_why() -> None:
    tail = (
        "collected 0 items / 1 error\nE   ModuleNotFoundError: No module named 'dateutil'\n1 error in 0.31s"
    )
    report = BumpReport(
        (LAYER,),
        results=(
            outcome("orders"),
            outcome("billing", "failed", "ModuleNotFoundError: No module named 'dateutil'", tail),
        ),
        changed_pins=3,
        changed_files=("template.yaml",),
        kept_pins=(KeptPin("template.yaml:40", "common", 6, "billing failed its tests against common v7"),),
    )
    body = bump_body(report)
    assert body.startswith("❌ **1 of 2 affected functions failed** against the new version: `billing`.")
    assert "| `billing` | ❌ failed | `ModuleNotFoundError: No module named 'dateutil'` |" in body
    assert "E   ModuleNotFoundError: No module named 'dateutil'" in body
    assert "1 error in <time>" in body  # timings masked: a rerun renders the same body
    assert "junitxml" not in body and "layer-ci-run-" not in body
    assert "Failing tests: `t::x`" in body
    assert "- `template.yaml:40` `common` stays at v6: billing failed its tests against common v7" in body
    assert body == bump_body(report)


def test_output_cannot_break_out_of_its_code_block() -> None:
    tail = "```\n# injected heading\n@someone look\n````"
    body = bump_body(BumpReport((LAYER,), results=(outcome("orders", "failed", "x | y `z`", tail),)))
    fence = re.search(r"^(`{5,})text$", body, re.MULTILINE)
    assert fence is not None and body.count(fence.group(1)) == 2
    assert "| `` x \\| y `z` `` |" in body


def test_a_huge_body_is_cut_below_githubs_limit_with_fences_closed() -> None:
    noisy = "\n".join(f"line {n} " + "x" * 200 for n in range(60))
    results = tuple(outcome(f"fn{n:03d}", "failed", f"AssertionError: {n}", noisy) for n in range(80))
    body = bump_body(BumpReport((LAYER,), results=results))
    assert len(body) <= MAX_BODY_CHARS
    assert body.count("```") % 2 == 0
    # Dropping every output line was enough: nothing was cut, and each function keeps its headline.
    assert not body.endswith(TRUNCATION_NOTE) and "x" * 200 not in body
    assert all(f"**fn{n:03d}** failed: `AssertionError: {n}`" in body for n in range(80))
    small = bump_body(BumpReport((LAYER,), results=results[:2]))
    assert "line 59" in small and len(small) < MAX_BODY_CHARS
    # So many failures that even their headlines overflow: cut at a line boundary, with the note.
    many = tuple(outcome(f"fn{n:04d}", "failed", "AssertionError: " + "y" * 300, "") for n in range(400))
    cut = bump_body(BumpReport((LAYER,), results=many))
    assert len(cut) <= MAX_BODY_CHARS and cut.endswith(TRUNCATION_NOTE)
    assert cut.count("```") % 2 == 0 and 0 < cut.count("AssertionError: ") < len(many)


def test_commit_message_is_deterministic() -> None:
    report = BumpReport(
        (LAYER,),
        kept_pins=(KeptPin("template.yaml:40", "common", 6, "billing failed its tests against common v7"),),
    )
    assert commit_message(report) == (
        "Bump layer common to v7\n\n"
        "common us-east-1: v6 -> v7\n"
        "common eu-west-1: v6 -> v7\n\n"
        "kept template.yaml:40 at v6: billing failed its tests against common v7\n"
    )


def test_verify_comment_lists_moves_problems_and_results() -> None:
    report = VerifyReport(
        base="a" * 40,
        head="b" * 40,
        pin_changes=(PinChange("template.yaml", 12, "common", "us-east-1", 3, 9),),
        rebuilt_layers=("tools",),
        problems=("template.yaml:12: common v9 does not exist in us-east-1 (deleted, or never published)",),
        results=(outcome("orders"),),
        warnings=("infra/x.tf:3: vendor v2: not checked (not a layer of this repository)",),
    )
    comment = verify_comment(report)
    assert comment.startswith(
        "## layer-ci verify: ❌ failed\n\nCompared `aaaaaaaaaaaa` (base) with `bbbbbbbbbbbb`"
    )
    assert "| `template.yaml:12` | `common` | us-east-1 | v3 | v9 |" in comment
    assert "`tools`: the consumers' tests ran against a local build." in comment
    assert "- template.yaml:12: common v9 does not exist" in comment
    assert "### Not checked" in comment and "| `orders` | ✅ passed | 4 tests |" in comment
    passing = VerifyReport("a" * 40, "b" * 40, pin_changes=report.pin_changes, results=(outcome("orders"),))
    assert verify_comment(passing).startswith("## layer-ci verify: ✅ passed")
