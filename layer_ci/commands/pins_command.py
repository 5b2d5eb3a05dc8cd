"""`layer-ci pins`: list every layer version pin with its place and whether it matches the lock."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from layer_ci.lambda_spec.arn import parse_layer_version_arn
from layer_ci.pins.find import Pin, find_pins

HELP = (
    "list every layer version pin (file:line:col, layer, region, version) and compare it with the lock; "
    "works without layer-ci.yml too"
)

PinStatus = Literal[
    "current",  # the pin names the version the lock says is published in its region
    "behind",  # a newer version is published: `layer-ci bump` would move it
    "ahead",  # newer than anything the lock knows: published elsewhere, or a typo
    "not-in-lock",  # a layer layer-ci has not published (a vendor's layer, or never released)
    "other-account",  # same name as one of ours, but another account's layer
    "region-not-published",  # ours, but never published in the pin's region
    "per-region",  # a placeholder region and the regions' published versions differ
    "no-config",  # no layer-ci.yml: nothing to compare with
]

# layer -> region -> (published version, its ARN)
Published = Mapping[str, Mapping[str, tuple[int, str]]]


@dataclass(frozen=True)
class PinReport:
    """One pin with its standing against the lock."""

    pin: Pin
    status: PinStatus
    published_version: int | None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the pins as JSON")
    parser.add_argument(
        "folder",
        nargs="?",
        default=".",
        help="the repository to search (default: the current folder); with a layer-ci.yml in it, or "
        "--config, pins are also compared with layer-ci.lock",
    )


def run(args: argparse.Namespace) -> int:
    from layer_ci.errors import UsageError
    from layer_ci.plan.config_cache import load_config_cached
    from layer_ci.plan.lockfile import load_lock

    folder = Path(args.folder)
    if not folder.is_dir():
        raise UsageError(f"pins: {args.folder} is not a folder; pass the repository to search")
    config_path = Path(args.config) if args.config else folder / "layer-ci.yml"
    if args.config is None and not config_path.is_file():
        # Any repository: every layer version ARN (vendor layers included), with nothing to compare.
        reports = [PinReport(pin, "no-config", None) for pin in find_pins(folder)]
        print(render_json(reports) if args.json else render_text(reports, with_lock=False))
        return 0
    config = load_config_cached(config_path)
    lock = load_lock(config.root)
    published: dict[str, dict[str, tuple[int, str]]] = {
        name: {region: (ref.version, ref.arn) for region, ref in locked.published.items()}
        for name, locked in lock.layers.items()
    }
    reports = compare_with_lock(find_pins(config.root, config), published)
    print(render_json(reports) if args.json else render_text(reports))
    return 0


def compare_with_lock(pins: Sequence[Pin], published: Published) -> list[PinReport]:
    return [PinReport(pin, *pin_status(pin, published)) for pin in pins]


def pin_status(pin: Pin, published: Published) -> tuple[PinStatus, int | None]:
    regions = published.get(pin.layer)
    if not regions:
        return "not-in-lock", None
    if pin.account is not None and pin.account not in {_account(arn) for _, arn in regions.values()}:
        return "other-account", None
    if pin.region is None:
        versions = {version for version, _ in regions.values()}
        if len(versions) != 1:
            return "per-region", None
        (version,) = versions
    elif pin.region in regions:
        version = regions[pin.region][0]
    else:
        return "region-not-published", None
    if pin.version == version:
        return "current", version
    return ("behind" if pin.version < version else "ahead"), version


def _account(arn: str) -> str | None:
    try:
        return parse_layer_version_arn(arn).account
    except ValueError:
        return None


def render_json(reports: Sequence[PinReport]) -> str:
    rows = []
    for report in reports:
        row = report.pin.to_json()
        row["status"] = report.status
        row["published_version"] = report.published_version
        rows.append(row)
    return json.dumps({"pins": rows}, indent=2)


def render_text(reports: Sequence[PinReport], *, with_lock: bool = True) -> str:
    if not reports:
        return "no layer version pins found"
    header = ("PLACE", "LAYER", "REGION", "VERSION", "STATUS" if with_lock else "ACCOUNT")
    rows = [header] + [
        (
            report.pin.location,
            report.pin.layer,
            report.pin.region or "*",  # a placeholder: whichever region the stack is deployed in
            str(report.pin.version),
            _status_cell(report) if with_lock else _account_cell(report.pin),
        )
        for report in reports
    ]
    widths = [max(len(row[index]) for row in rows) for index in range(len(header) - 1)]
    lines = [
        "  ".join([*(cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)), row[-1]])
        for row in rows
    ]
    files = len({report.pin.path for report in reports})
    where = f"{len(reports)} pin{'s' if len(reports) != 1 else ''} in {files} file{'s' if files != 1 else ''}"
    unmovable = sum(1 for report in reports if report.pin.unmovable)
    if with_lock:
        counts = Counter(report.status for report in reports)
        summary = ", ".join(f"{count} {status}" for status, count in sorted(counts.items()))
        if unmovable:
            summary += f"; {unmovable} unmovable (bump reports them, never rewrites them)"
        lines.append(f"{where}: {summary}")
    else:
        note = f"; {unmovable} unmovable" if unmovable else ""
        lines.append(f"{where}{note} (no layer-ci.yml here, so nothing is compared with a lock)")
    return "\n".join(lines)


def _status_cell(report: PinReport) -> str:
    cell: str = report.status
    if report.published_version not in (None, report.pin.version):
        cell += f" (lock: {report.published_version})"
    if report.pin.unmovable:
        cell += f"; unmovable: {report.pin.unmovable}"
    return cell


def _account_cell(pin: Pin) -> str:
    cell = pin.account or "*"
    if pin.unmovable:
        cell += f"  unmovable: {pin.unmovable}"
    return cell
