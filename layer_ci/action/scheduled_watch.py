"""The Action's scheduled vendor watch: `layer-ci watch` with the run's token, a summary, annotations."""

from __future__ import annotations

from typing import TYPE_CHECKING

from layer_ci.errors import EXIT_FAILURE, EXIT_OK

if TYPE_CHECKING:
    from layer_ci.action.context import ActionSettings
    from layer_ci.adapters.git import GitRepo
    from layer_ci.adapters.github import GitHubClient
    from layer_ci.model import Config
    from layer_ci.report.workflow_commands import Runner


def watch_job(
    settings: ActionSettings,
    config: Config,
    github: GitHubClient | None,
    git: GitRepo | None,
    runner: Runner,
) -> int:
    """Open or update the vendor layers' bump PRs; 1 when a lookup failed or a consumer's tests did."""
    from layer_ci.action.summary import lines_section
    from layer_ci.commands.watch_command import watch
    from layer_ci.engine.extract import default_cache_dir
    from layer_ci.engine.prepare import EngineOptions
    from layer_ci.gate.consumers import engine_runner

    if not settings.dry_run and (github is None or git is None):
        runner.warning(
            "vendor layers not watched: bump pull requests need input github-token (contents, "
            "pull-requests and statuses: write); see docs/vendor-layers.md",
            title="layer-ci watch",
        )
        return EXIT_OK
    cache_dir = default_cache_dir()
    with runner.group("watch vendor layers"):
        result = watch(
            config,
            git=git,
            github=github,
            test_runner=engine_runner(EngineOptions(cache_dir=cache_dir)),
            cache_dir=cache_dir,
            base=settings.default_branch,
            dry_run=settings.dry_run,
            target_url=settings.run_url or None,
            log=lambda message: print(message, flush=True),
        )
    for error in result.errors:
        runner.error(error, title="layer-ci watch")
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
    runner.add_summary(
        "\n".join(
            [
                "## layer-ci: vendor layers",
                "",
                lines_section("Vendor layers", layers, "None pinned: every layer ARN is this repository's."),
                lines_section("Pull requests", prs, "None: every watched pin is at its newest version."),
            ]
        )
    )
    return EXIT_FAILURE if result.errors or result.tests_failed else EXIT_OK
