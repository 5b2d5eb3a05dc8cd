"""The layer-ci cache shared by the tests that run functions (engine, sandbox, gate)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One layer-ci cache for the session, as on a developer's machine: content-keyed, so tests that
    use different layers never see each other's trees, and bytecode compiled once is reused."""
    return tmp_path_factory.mktemp("engine-cache")
