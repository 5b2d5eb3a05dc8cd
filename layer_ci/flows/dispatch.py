"""The manual release flow (workflow_dispatch): the push flow, then a tag and a GitHub release per layer.

Tags are ``layers/<name>/v<N>``; each release carries notes (ARNs per region, zip digest and sizes, the
packages inside) and the zip. Both steps find what an earlier run created, so rerunning is harmless.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from layer_ci.errors import LayerCiError, UsageError
from layer_ci.flows.outcome import PushOutcome, StageFailed
from layer_ci.flows.push import PushOptions, run_push
from layer_ci.flows.services import Services
from layer_ci.model import Config
from layer_ci.report.markdown import escape_cell

if TYPE_CHECKING:
    from layer_ci.adapters.github import GitHubClient


@dataclass(frozen=True)
class ReleaseOutcome:
    """The push flow's outcome and one line per layer released (tag and release, created or found)."""

    push: PushOutcome
    releases: tuple[str, ...] = ()


def run_release(
    config: Config, services: Services, options: PushOptions, *, releases: bool
) -> ReleaseOutcome:
    """Publish and bump as a push does; with ``releases``, tag and release every layer it published.

    A release that fails after publishing is a ``StageFailed`` carrying the push's outcome.
    """
    outcome = run_push(config, services, options)
    if not releases or options.dry_run or not outcome.published:
        return ReleaseOutcome(outcome)
    try:
        if services.github is None:
            raise UsageError("input release: true needs a GitHub token (input github-token)")
        with services.phase("tags and releases"):
            made = create_releases(outcome, services.github, options.commit, services)
    except LayerCiError as exc:
        raise StageFailed("tags and releases", exc, outcome) from exc
    return ReleaseOutcome(outcome, tuple(made))


def create_releases(outcome: PushOutcome, github: GitHubClient, commit: str, services: Services) -> list[str]:
    """A lightweight tag ``layers/<name>/v<N>`` and a release with notes and the zip, per published layer.

    N is the version in the layer's first region (the one its pins usually name).
    """
    made = []
    built = {b.layer: b for b in outcome.built}
    for layer, regions in outcome.targets.items():
        first = next(
            (p for region in regions for p in outcome.published if p.layer == layer and p.region == region),
            None,
        )
        if first is None:
            continue
        tag = f"layers/{layer}/v{first.version}"
        tag_outcome = github.create_tag_ref(tag, commit)
        notes = release_notes(layer, first.version, outcome, commit)
        assets: list[Path] = []
        with tempfile.TemporaryDirectory(prefix="layer-ci-release-") as tmp:
            source = built.get(layer)
            if source is not None and source.zip_path.is_file():
                asset = Path(tmp) / f"{layer}-v{first.version}.zip"
                shutil.copyfile(source.zip_path, asset)
                assets.append(asset)
            info = github.create_release(
                tag, f"{layer} v{first.version}", notes, asset_paths=assets, target_commitish=commit
            )
        verb = "created" if info.created else "found"
        services.log(f"{tag}: tag {tag_outcome}, release {verb} ({info.html_url})")
        made.append(f"{tag}: release {verb}, assets: {', '.join(info.assets) or 'none'}")
    return made


def release_notes(layer: str, version: int, outcome: PushOutcome, commit: str) -> str:
    """The body of a layer's GitHub release: its ARNs per region, the zip and the packages it holds."""
    md = escape_cell
    lines = [f"Layer `{layer}` version {version}, published by layer-ci from {commit[:12] or 'unknown'}.", ""]
    lines += ["| Region | Version | ARN |", "|---|---|---|"]
    for published in outcome.published:
        if published.layer == layer:
            lines.append(f"| {md(published.region)} | v{published.version} | {md(published.arn)} |")
    built = next((b for b in outcome.built if b.layer == layer), None)
    if built is not None:
        lines += [
            "",
            f"Zip SHA-256 `{built.zip_sha256}`, {built.zipped_bytes:,} bytes zipped, "
            f"{built.unzipped_bytes:,} bytes unzipped.",
        ]
        packages = _manifest_packages(built.zip_path.parent, layer)
        if packages:
            lines += ["", "Packages:", ""] + [f"- {md(name)} {md(ver)}" for name, ver in packages]
    return "\n".join(lines) + "\n"


def _manifest_packages(build_dir: Path, layer: str) -> list[tuple[str, str]]:
    from layer_ci.build.manifest import manifest_path, read_manifest

    try:
        manifest = read_manifest(manifest_path(build_dir, layer))
    except (OSError, ValueError, LayerCiError):
        return []
    return [(package.name, package.version) for package in manifest.packages]
