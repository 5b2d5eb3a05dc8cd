"""Fixtures for the Action's tests: a workspace on a linked remote, moto, and a shared engine cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.action.action_support import ActionRepo, prepare_workspace
from tests.support.aws import AwsEnv
from tests.support.github_standin import LinkedRepo


@pytest.fixture(scope="session")
def action_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One layer-ci cache for every action run (extracted layers, the test runner's pytest)."""
    return tmp_path_factory.mktemp("action-cache")


@pytest.fixture
def action_repo(linked_github: LinkedRepo, aws: AwsEnv, action_cache: Path) -> ActionRepo:
    return ActionRepo(prepare_workspace(linked_github, aws), linked_github, aws, action_cache)
