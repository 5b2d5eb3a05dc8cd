"""Markdown injection: package names, versions, commands, reasons and problems in PR bodies, comments,
release notes and the step summary cannot make links, images, HTML or @mentions.

The documents are rendered by cmark-gfm (GitHub's own renderer, through cmarkgfm) with raw HTML let
through, so a tag that would reach GitHub's sanitiser shows up here. Mentions are a GitHub filter on the
rendered text: an ``@`` directly followed by a name character would notify that user or team.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import cmarkgfm
import pytest
from cmarkgfm.cmark import Options

from layer_ci.action.summary import md
from layer_ci.engine.runner import JUnitSummary, TestResult
from layer_ci.model import Manifest, PackageInfo
from layer_ci.report.facts import BumpReport, KeptPin, LayerBumpReport, RegionVersion, VerifyReport
from layer_ci.report.markdown import escape_cell
from layer_ci.report.render import bump_body, verify_comment

HOSTILE = [
    "![pixel](https://evil.example/track.png)",
    "[click me](https://evil.example/phish)",
    "<img src=x onerror=alert(1)>",
    "<a href='https://evil.example'>docs</a>",
    "<https://evil.example/autolink>",
    "@octo-org/security-team please merge",
    "cc @octocat",
    "**bold** _em_ ~~gone~~ `code`",
    "x | y",
    "[ref]: https://evil.example/defined",
    "&#64;octocat &lt;b&gt;",
]
# Tags our own documents are made of; anything else came from the input.
OWN_TAGS = frozenset(
    {"p", "h2", "h3", "table", "thead", "tbody", "tr", "th", "td", "ul", "li", "code", "pre", "strong",
     "details", "summary", "hr", "em", "br", "blockquote"}
)  # fmt: skip
MENTION = re.compile(r"(?<![\w`])@[A-Za-z0-9]")


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.text: list[str] = []
        self._in_code = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))
        self._in_code += tag in ("code", "pre")

    def handle_endtag(self, tag: str) -> None:
        self._in_code -= tag in ("code", "pre")

    def handle_data(self, data: str) -> None:
        if not self._in_code:  # GitHub makes no mentions inside code
            self.text.append(data)


def assert_inert(markdown: str) -> None:
    html = cmarkgfm.github_flavored_markdown_to_html(markdown, options=Options.CMARK_OPT_UNSAFE)
    parser = _Tags()
    parser.feed(html)
    foreign = [(tag, attrs) for tag, attrs in parser.tags if tag not in OWN_TAGS]
    assert foreign == [], (foreign, markdown)
    text = "".join(parser.text)
    assert not MENTION.search(text), (MENTION.search(text), text)
    assert "evil.example" not in " ".join(str(attrs) for _tag, attrs in parser.tags)


def _manifest(names: list[str]) -> Manifest:
    return Manifest(
        layer="common",
        input_key="sha256:" + "0" * 64,
        zip_sha256="1" * 64,
        zipped_bytes=1000,
        unzipped_bytes=5000,
        files=(("python/x.py", 5000),),
        packages=tuple(PackageInfo(name, f"1.0 {name}") for name in names),
    )


def _failed(function: str, text: str) -> TestResult:
    return TestResult(
        function=function,
        status="failed",
        duration_s=1.0,
        exit_code=1,
        headline=text,
        output_tail=text,
        command=("python", "-c", text),
        junit=JUnitSummary(1, 1, 0, 0, (text,)),
        preflight_errors=(text,),
    )


def test_a_bump_body_with_hostile_packages_commands_and_reasons_is_inert() -> None:
    before = _manifest(["requests", *HOSTILE[:5]])
    after = _manifest(["requests", *HOSTILE[5:]])
    region = RegionVersion("us-east-1", 1, 2, "arn:aws:lambda:us-east-1:0:layer:common:2")
    layer = LayerBumpReport("common", (region,), before, after)
    report = BumpReport(
        (layer,),
        results=tuple(_failed(f"f{index}", text) for index, text in enumerate(HOSTILE)),
        kept_pins=tuple(KeptPin(f"pins.yaml:{i}", "common", 1, text) for i, text in enumerate(HOSTILE)),
        changed_files=tuple(HOSTILE),
    )
    assert_inert(bump_body(report))


def test_a_verify_comment_with_hostile_problems_and_warnings_is_inert() -> None:
    report = VerifyReport(
        base="a" * 40,
        head="b" * 40,
        problems=tuple(HOSTILE),
        results=tuple(_failed(f"f{index}", text) for index, text in enumerate(HOSTILE)),
        warnings=tuple(HOSTILE),
    )
    assert_inert(verify_comment(report))


@pytest.mark.parametrize("text", HOSTILE)
def test_escaped_text_is_inert_in_cells_lists_and_paragraphs(text: str) -> None:
    for escape in (escape_cell, md):
        cell = escape(text)
        assert_inert(f"| a | b |\n|---|---|\n| {cell} | x |\n")
        assert_inert(f"- {cell}\n")
        assert_inert(f"Packages: {cell} and more.\n")


def test_escaping_keeps_the_text_readable() -> None:
    """What the reader sees is the original text (GitHub shows the zero-width space after @ as nothing)."""
    for escape in (escape_cell, md):
        for text in HOSTILE:
            html = cmarkgfm.github_flavored_markdown_to_html(escape(text))
            parser = _Tags()
            parser.feed(html)
            assert "".join(parser.text).strip().replace("\u200b", "") == " ".join(text.split()), escape
