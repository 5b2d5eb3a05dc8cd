"""A uid and gid no user or group of this machine has, named as the lasting wheel cache's user."""

from __future__ import annotations

import grp
import pwd

import pytest

from layer_ci.adapters import sandbox


def free_id() -> int:
    """The first number from 20000 that is neither a uid nor a gid here."""
    for number in range(20_000, 30_000):
        try:
            pwd.getpwuid(number)
            continue
        except KeyError:
            pass
        try:
            grp.getgrgid(number)
            continue
        except KeyError:
            return number
    raise AssertionError("no free uid between 20000 and 30000")


@pytest.fixture
def cache_user(monkeypatch: pytest.MonkeyPatch) -> int:
    """``LAYER_CI_CACHE_USER`` set to a free uid, for builds run by root."""
    uid = free_id()
    monkeypatch.setenv(sandbox.CACHE_USER_ENV, str(uid))
    return uid
