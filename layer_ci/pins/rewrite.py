"""Rewrite pins: change only the recorded version digits, after checking the reference is still there."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import cast

from layer_ci import fsutil
from layer_ci.lambda_spec.arn import LAYER_VERSION_ARN_RE
from layer_ci.pins.find import Pin

log = logging.getLogger(__name__)

# (layer, region) -> the version published in that region; (layer, None) may name the version for
# pins whose region is a placeholder. Both spellings, because Mapping is invariant in its key type.
NewVersions = Mapping[tuple[str, str], int] | Mapping[tuple[str, str | None], int]


@dataclass(frozen=True)
class RewriteResult:
    """The rewritten text and what happened to each pin of a bumped layer.

    ``missing``: the recorded reference is not in the text any more (file edited since finding) and
    was skipped, never guessed. ``unresolved``: the layer is bumped but there is no version for the
    pin's region (a placeholder region without ``default_region``, or a region the layer was not
    published to). ``unmovable``: pins of a bumped layer that layer-ci cannot rewrite safely (see
    ``Pin.unmovable``); they are reported, never touched. Pins of layers that are not bumped, or of
    another account, appear in no list.
    """

    text: str
    changed: list[Pin] = field(default_factory=list)
    already_current: list[Pin] = field(default_factory=list)
    missing: list[Pin] = field(default_factory=list)
    unresolved: list[Pin] = field(default_factory=list)
    unmovable: list[Pin] = field(default_factory=list)


@dataclass(frozen=True)
class FileRewrite:
    """The outcome for one file: its bytes before and after (equal when nothing changed)."""

    path: Path
    before: bytes
    after: bytes
    result: RewriteResult

    @property
    def changed(self) -> bool:
        return self.before != self.after


def target_version(pin: Pin, new_versions: NewVersions, default_region: str | None = None) -> int | None:
    """The version ``pin`` should move to, or None when nothing says which (see RewriteResult)."""
    new_versions = cast(Mapping[tuple[str, str | None], int], new_versions)  # only read, so safe
    if pin.region is not None:
        return new_versions.get((pin.layer, pin.region))
    placeholder_version = new_versions.get((pin.layer, None))
    if placeholder_version is not None:
        return placeholder_version
    return new_versions.get((pin.layer, default_region)) if default_region is not None else None


def rewrite_text(
    text: str,
    pins: Sequence[Pin],
    new_versions: NewVersions,
    *,
    default_region: str | None = None,
    account: str | None = None,
) -> RewriteResult:
    """Move each pin of a bumped layer to its region's new version, changing only its version digits.

    ``pins`` must all come from this one file. ``account`` (when given) leaves pins that name another
    account alone: a vendor's layer may share a name with one of ours. Running again with the same
    pins on the result is a no-op: a reference already holding its target version is recognised (and
    the offsets after it shifted accordingly) and counted as current.
    """
    bumped_layers = {layer for layer, _ in new_versions}
    result = RewriteResult(text=text)
    targets: list[tuple[Pin, int]] = []
    seen_spans: set[tuple[int, int]] = set()
    for pin in sorted(pins, key=lambda p: (p.start, p.end)):
        if pin.layer not in bumped_layers or (pin.start, pin.end) in seen_spans:
            continue
        if account is not None and pin.account is not None and pin.account != account:
            continue
        seen_spans.add((pin.start, pin.end))
        if pin.unmovable is not None:
            if target_version(pin, new_versions, default_region) != pin.version:
                result.unmovable.append(pin)
            continue
        version = target_version(pin, new_versions, default_region)
        if version is None:
            result.unresolved.append(pin)
        else:
            targets.append((pin, version))

    pieces: list[str] = []
    cursor = 0
    # How far the text has moved relative to the recorded offsets, from references found already
    # rewritten to a version of another length (e.g. 9 -> 10) by an earlier run.
    shift = 0
    for pin, version in targets:
        new_digits = str(version)
        at = pin.text_start + shift
        if _still_there(text, pin, at, pin.text):
            if pin.version == version:
                result.already_current.append(pin)
                continue
            version_at = pin.start + shift
            if version_at < cursor:  # overlaps a reference already rewritten: never guess
                result.missing.append(pin)
                continue
            pieces.append(text[cursor:version_at])
            pieces.append(new_digits)
            cursor = pin.end + shift
            result.changed.append(pin)
            continue
        head, tail = pin.start - pin.text_start, pin.end - pin.text_start
        rewritten = pin.text[:head] + new_digits + pin.text[tail:]
        if _still_there(text, pin, at, rewritten):
            result.already_current.append(pin)
            shift += len(new_digits) - (pin.end - pin.start)
        else:
            result.missing.append(pin)
    pieces.append(text[cursor:])
    return RewriteResult(
        "".join(pieces),
        result.changed,
        result.already_current,
        result.missing,
        result.unresolved,
        result.unmovable,
    )


def rewrite_pins(
    text: str,
    pins: Sequence[Pin],
    new_versions: NewVersions,
    *,
    default_region: str | None = None,
    account: str | None = None,
) -> str:
    """Just the rewritten text (see rewrite_text for the full account of each pin)."""
    return rewrite_text(text, pins, new_versions, default_region=default_region, account=account).text


def _still_there(text: str, pin: Pin, at: int, expected: str) -> bool:
    if at < 0 or not text.startswith(expected, at):
        return False
    end = at + len(expected)
    if pin.kind == "arn":
        # Re-match with the finder's own boundaries: `...:x:3` followed by a new `1` is `...:x:31`.
        match = LAYER_VERSION_ARN_RE.match(text, at)
        return match is not None and match.end() == end
    # A pattern's version may sit at either edge of its match: the digits must still stand alone.
    digits_at_start = pin.start == pin.text_start
    digits_at_end = pin.end == pin.text_start + len(pin.text)
    if digits_at_start and at > 0 and text[at - 1].isdigit():
        return False
    return not (digits_at_end and end < len(text) and text[end].isdigit())


def plan_file_rewrites(
    root: Path,
    pins: Sequence[Pin],
    new_versions: NewVersions,
    *,
    default_region: str | None = None,
    account: str | None = None,
) -> list[FileRewrite]:
    """What rewriting would do to each file holding pins, without writing anything."""
    by_path: dict[str, list[Pin]] = {}
    for pin in pins:
        by_path.setdefault(pin.path, []).append(pin)
    rewrites: list[FileRewrite] = []
    for rel_path in sorted(by_path):
        path = _inside(root, rel_path)
        try:
            before = path.read_bytes()
        except FileNotFoundError:
            before = b""
        # surrogateescape round-trips any byte, so non-UTF-8 bytes elsewhere in the file survive.
        result = rewrite_text(
            before.decode("utf-8", "surrogateescape"),
            by_path[rel_path],
            new_versions,
            default_region=default_region,
            account=account,
        )
        after = result.text.encode("utf-8", "surrogateescape")
        for pin in result.missing:
            log.warning(
                "%s: the %s reference recorded here is gone (file changed?); left as is",
                pin.location,
                pin.layer,
            )
        for pin in result.unmovable:
            log.warning(
                "%s: %s v%d not moved: unmovable: %s; edit it by hand",
                pin.location,
                pin.layer,
                pin.version,
                pin.unmovable,
            )
        rewrites.append(FileRewrite(path, before, after, result))
    return rewrites


def rewrite_files(
    root: Path,
    pins: Sequence[Pin],
    new_versions: NewVersions,
    *,
    default_region: str | None = None,
    account: str | None = None,
) -> list[Path]:
    """Rewrite every file whose pins move, atomically; return the paths that changed."""
    changed: list[Path] = []
    for rewrite in plan_file_rewrites(
        root, pins, new_versions, default_region=default_region, account=account
    ):
        if rewrite.changed:
            write_atomically(rewrite.path, rewrite.after)
            changed.append(rewrite.path)
    return changed


def write_atomically(path: Path, data: bytes) -> None:
    """Replace a file whose pins were rewritten: all or nothing, mode kept, flushed to disk."""
    fsutil.write_atomically(path, data, fsync=True)


def _inside(root: Path, rel_path: str) -> Path:
    relative = PurePosixPath(rel_path)
    if relative.is_absolute() or ".." in relative.parts:
        raise ValueError(f"pin path {rel_path!r} is not a relative path inside the repository")
    return root.joinpath(*relative.parts)
