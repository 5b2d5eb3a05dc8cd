"""Fixtures for the vendor layer tests: moto behind a fault proxy, a zip server, the consumer repository."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.aws import AwsEnv
from tests.support.fault_proxy import FaultProxy
from tests.support.github_standin import LinkedRepo
from tests.vendor.vendor_support import Vendor, ZipServer, make_vendor_repo


@pytest.fixture
def vendor(aws: AwsEnv, fault_proxy: FaultProxy) -> Iterator[Vendor]:
    server = ZipServer()
    try:
        yield Vendor(aws, fault_proxy, server)
    finally:
        server.stop()


@pytest.fixture
def consumer(linked_github: LinkedRepo, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The consumer repository, with the environment a workflow step gives `layer-ci watch`."""
    for key in ("GITHUB_RUN_ID", "GITHUB_EVENT_PATH", "GITHUB_EVENT_NAME", "GITHUB_SHA"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("GITHUB_TOKEN", linked_github.standin.token)
    monkeypatch.setenv("GITHUB_REPOSITORY", linked_github.full_name)
    monkeypatch.setenv("LAYER_CI_CACHE", str(tmp_path / "cache"))
    return make_vendor_repo(linked_github.remote)
