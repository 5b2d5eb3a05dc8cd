"""One module per layer-ci subcommand; each exposes HELP, add_arguments() and run()."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from layer_ci.adapters.github import GitHubClient


def github_client(repo_slug: str | None) -> GitHubClient:
    """The GitHub client from the environment, for ``--repo-slug`` (default: ``$GITHUB_REPOSITORY``)."""
    from layer_ci.adapters.github import GitHubClient  # PyGithub: only for commands that talk to GitHub

    env = dict(os.environ)
    if repo_slug:
        env["GITHUB_REPOSITORY"] = repo_slug
    return GitHubClient.from_env(env)
