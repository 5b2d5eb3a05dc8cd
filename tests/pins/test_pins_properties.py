"""Property tests: in random texts of digits and near-miss ARNs, a rewrite changes only version digits."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import event, given, settings
from hypothesis import strategies as st

from layer_ci.lambda_spec.arn import partition_for_region
from layer_ci.pins.find import Pin, find_pins_in_text
from layer_ci.pins.rewrite import rewrite_text
from tests.pins.pin_checks import assert_only_version_digits_changed

REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-4", "cn-north-1", "us-gov-west-1")
PLACEHOLDERS = ("${AWS::Region}", "${var.region}", "{self.region}", "${Stack.of(this).region}")
EXAMPLES = 200  # per test; five tests -> 1,000 examples


@dataclass(frozen=True)
class Embedded:
    text: str
    layer: str
    region: str | None
    version: int


layers = st.sampled_from(("x", "common-deps", "x2", "Tools_9"))
accounts = st.sampled_from(("111111111111", "123456789012", "000000000001"))
versions = st.integers(min_value=1, max_value=10**6)


@st.composite
def arns(draw: st.DrawFn) -> Embedded:
    layer, version = draw(layers), draw(versions)
    if draw(st.booleans()):
        region: str | None = draw(st.sampled_from(REGIONS))
        region_text = str(region)
        partition = partition_for_region(region_text)
    else:
        region = None
        region_text = draw(st.sampled_from(PLACEHOLDERS))
        partition = draw(st.sampled_from(("aws", "${AWS::Partition}")))
    account = draw(st.one_of(accounts, st.just("${AWS::AccountId}")))
    return Embedded(
        f"arn:{partition}:lambda:{region_text}:{account}:layer:{layer}:{version}", layer, region, version
    )


@st.composite
def near_misses(draw: st.DrawFn) -> str:
    """ARN-like text that must never count as a pin, whatever surrounds it."""
    good = draw(arns()).text
    head, version = good.rsplit(":", 1)
    return draw(
        st.sampled_from(
            (
                "x" + good,  # preceded by a word character
                "1" + good,
                good + draw(st.sampled_from(("a", "_", "Z"))),  # version followed by a word character
                head + ":",  # no version
                head + ":${Version}",
                good.replace(":layer:", ":function:"),
                good.replace("arn:", "arn:aws-iso:", 1)
                if good.startswith("arn:${")
                else good.replace(":lambda:", ":lambda-x:"),
                good.replace(":layer:", ":layer::"),
                head.replace("lambda", "LAMBDA") + ":" + version,
            )
        )
    )


noise = st.text(alphabet="0123456789:-_ ax{}$\"'[]#=\n\r,.", max_size=12)
separators = st.sampled_from((" ", "\n", "\r\n", ", ", '"', "'", "[", "] ", "# ", " = ", "\t"))


@st.composite
def separated_documents(draw: st.DrawFn) -> tuple[str, list[Embedded]]:
    """Fragments with clean separators between them, so the embedded ARNs are exactly the pins."""
    parts: list[str] = []
    embedded: list[Embedded] = []
    for _ in range(draw(st.integers(min_value=0, max_value=12))):
        kind = draw(st.sampled_from(("arn", "near", "digits", "words")))
        if kind == "arn":
            arn = draw(arns())
            embedded.append(arn)
            parts.append(arn.text)
        elif kind == "near":
            parts.append(draw(near_misses()))
        elif kind == "digits":
            parts.append(str(draw(st.integers(min_value=0, max_value=10**13))))
        else:
            parts.append(draw(st.sampled_from(("layer", "Layers:", "version 1", ":layer:", "arn", "lambda"))))
        parts.append(draw(separators))
    return "".join(parts), embedded


@st.composite
def raw_documents(draw: st.DrawFn) -> str:
    """ARNs, near misses and noise glued together with no care for boundaries."""
    arn_texts = arns().map(lambda arn: arn.text)
    fragments = st.one_of(arn_texts, arn_texts, near_misses(), noise)
    glue = st.sampled_from(("", "", " ", "\n", "\r\n", ", ", '"', "'", "[", "] ", "# ", " = ", "\t"))
    return "".join(a + b for a, b in draw(st.lists(st.tuples(fragments, glue), min_size=2, max_size=12)))


def draw_bumps(data: st.DataObject, pins: list[Pin]) -> dict[tuple[str, str | None], int]:
    """New versions for some of the pins' own (layer, region) keys, some unrelated keys, some no-ops."""
    keys = st.tuples(layers, st.sampled_from((*REGIONS, None)))
    new_versions: dict[tuple[str, str | None], int] = data.draw(st.dictionaries(keys, versions, max_size=3))
    for pin in pins:
        if data.draw(st.integers(min_value=0, max_value=3)):  # three in four pins' layers are bumped
            choices = (pin.version + 1, pin.version + 9_999, pin.version)
            new_versions[(pin.layer, pin.region)] = data.draw(st.sampled_from(choices))
    return new_versions


def expected_target(
    pin: Pin, new_versions: dict[tuple[str, str | None], int], default_region: str | None
) -> int | None:
    """A placeholder region takes an explicit (layer, None) version first, then the default region's."""
    if pin.region is not None:
        return new_versions.get((pin.layer, pin.region))
    if (pin.layer, None) in new_versions:
        return new_versions[(pin.layer, None)]
    return new_versions.get((pin.layer, default_region)) if default_region else None


@settings(max_examples=EXAMPLES, deadline=None)
@given(separated_documents())
def test_exactly_the_embedded_arns_are_found(document: tuple[str, list[Embedded]]) -> None:
    text, embedded = document
    pins = find_pins_in_text(text, "doc")
    assert [(p.text, p.layer, p.region, p.version) for p in pins] == [
        (e.text, e.layer, e.region, e.version) for e in embedded
    ]
    for pin in pins:
        assert text[pin.start : pin.end] == str(pin.version)
        assert pin.line == text.count("\n", 0, pin.start) + 1


@settings(max_examples=EXAMPLES, deadline=None)
@given(raw_documents(), st.data(), st.sampled_from((None, *REGIONS)))
def test_only_version_digits_of_found_arns_change(
    text: str, data: st.DataObject, default_region: str | None
) -> None:
    pins = find_pins_in_text(text, "doc")
    new_versions = draw_bumps(data, pins)
    event(f"pins found: {min(len(pins), 4)}{'+' if len(pins) >= 4 else ''}")
    result = rewrite_text(text, pins, new_versions, default_region=default_region)
    event(f"pins changed: {min(len(result.changed), 2)}{'+' if len(result.changed) >= 2 else ''}")
    assert_only_version_digits_changed(text, result.text, pins)
    assert not result.missing
    for pin in result.changed:
        assert pin.version != expected_target(pin, new_versions, default_region)
    assert len(result.changed) + len(result.already_current) + len(result.unresolved) == len(
        [p for p in pins if p.layer in {layer for layer, _ in new_versions}]
    )


@settings(max_examples=EXAMPLES, deadline=None)
@given(raw_documents(), st.data(), st.sampled_from((None, *REGIONS)))
def test_rewriting_is_idempotent_and_refinding_gives_the_new_versions_on_the_same_lines(
    text: str, data: st.DataObject, default_region: str | None
) -> None:
    pins = find_pins_in_text(text, "doc")
    new_versions = draw_bumps(data, pins)
    once = rewrite_text(text, pins, new_versions, default_region=default_region)
    # Twice with the old pins (offsets shift when a version changes length) and with fresh ones.
    twice_old = rewrite_text(once.text, pins, new_versions, default_region=default_region)
    refound = find_pins_in_text(once.text, "doc")
    twice_new = rewrite_text(once.text, refound, new_versions, default_region=default_region)
    assert twice_old.text == twice_new.text == once.text
    assert twice_old.changed == twice_new.changed == [] and twice_old.missing == []

    changed = {pin.start for pin in once.changed}
    assert [(p.line, p.layer, p.region) for p in refound] == [(p.line, p.layer, p.region) for p in pins]
    for old, new in zip(pins, refound, strict=True):
        if old.start in changed:
            assert new.version == expected_target(old, new_versions, default_region)
        else:
            assert new.version == old.version


@settings(max_examples=EXAMPLES, deadline=None)
@given(raw_documents(), st.data())
def test_a_text_edited_after_finding_is_never_guessed_at(text: str, data: st.DataObject) -> None:
    pins = find_pins_in_text(text, "doc")
    position = data.draw(st.integers(min_value=0, max_value=len(text)))
    inserted = data.draw(st.sampled_from(("1", "a", " ", "\n", ":")))
    edited = text[:position] + inserted + text[position:]
    new_versions = {(pin.layer, pin.region): pin.version + 1 for pin in pins if pin.region is not None}
    result = rewrite_text(edited, pins, new_versions)
    # Whatever was rewritten was the recorded reference, byte for byte, at its recorded place.
    for pin in result.changed:
        assert edited[pin.text_start : pin.text_start + len(pin.text)] == pin.text
    assert_only_version_digits_changed(edited, result.text, result.changed)
    # A reference the edit moved, broke or extended (`:x:1` + `1`) is reported, not rewritten.
    for pin in pins:
        end = pin.text_start + len(pin.text)
        if pin.region is not None and (
            pin.text_start <= position < end or (position == end and (inserted.isalnum() or inserted == "_"))
        ):
            assert pin in result.missing


@settings(max_examples=EXAMPLES, deadline=None)
@given(raw_documents())
def test_bumping_every_pin_by_one_changes_nothing_else(text: str) -> None:
    pins = find_pins_in_text(text, "doc")
    latest = {(pin.layer, pin.region): pin.version + 1 for pin in pins}
    consistent = [pin for pin in pins if latest[(pin.layer, pin.region)] == pin.version + 1]
    result = rewrite_text(text, consistent, latest)
    assert_only_version_digits_changed(text, result.text, consistent)
    assert [p.version for p in find_pins_in_text(result.text, "doc")] == [
        p.version + 1 if p in consistent else p.version for p in pins
    ]
