"""Fixtures for the reliability suite: the shop repository on a linked remote, moto and a shared cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability.reliability_support import Shop, make_shop
from tests.support.aws import AwsEnv
from tests.support.github_standin import LinkedRepo


@pytest.fixture(scope="session")
def reliability_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One layer-ci cache (extracted layers) for every run of the session."""
    return tmp_path_factory.mktemp("reliability-cache")


@pytest.fixture
def shop(linked_github: LinkedRepo, aws: AwsEnv, reliability_cache: Path, tmp_path: Path) -> Shop:
    return make_shop(linked_github, aws, reliability_cache, tmp_path / "runs")
