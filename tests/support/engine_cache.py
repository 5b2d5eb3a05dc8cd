"""The layer-ci cache shared by the tests that run functions (engine, sandbox, gate), and a folder their
code may write to."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One layer-ci cache for the session, as on a developer's machine: content-keyed, so tests that
    use different layers never see each other's trees."""
    return tmp_path_factory.mktemp("engine-cache")


@pytest.fixture
def code_writable() -> Iterator[Path]:
    """A folder the function's code may write its traces to. Run by root, the code runs as an unprivileged
    user, which may enter neither pytest's tmp_path (under a folder of root's, mode 0700) nor write it."""
    folder = Path(tempfile.mkdtemp(prefix="layer-ci-code-writable-"))
    os.chmod(folder, 0o777)  # noqa: S103 - a throwaway folder for the test's own code
    yield folder
    shutil.rmtree(folder, ignore_errors=True)
