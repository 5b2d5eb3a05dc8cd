"""Fault rules and the request log of the GitHub stand-in: what to break, when, and what was answered."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ANY = "*"

SECONDARY_RATE_LIMIT_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. "
    "If you reach out to GitHub Support for help, please include the request ID {request_id}."
)
SECONDARY_RATE_LIMIT_DOCS = (
    "https://docs.github.com/free-pro-team@latest/rest/overview/rate-limits-for-the-rest-api"
    "#about-secondary-rate-limits"
)
PRIMARY_RATE_LIMIT_MESSAGE = (
    "API rate limit exceeded for user ID {user_id}. If you reach out to GitHub Support for help, "
    "please include the request ID {request_id}."
)
PRIMARY_RATE_LIMIT_DOCS = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"


@dataclass
class Fault:
    """Break the ``nth`` request matching ``method`` and ``template`` (``*`` matches any), ``times`` times.

    ``kind`` is ``status`` (answer ``status`` with ``body`` and ``headers``), ``reset`` (close the connection
    without answering), ``slow`` (wait ``delay_s`` then answer normally) or ``primary`` (exhaust the
    token's primary rate limit, which then resets after ``reset_in_s``). ``after_effect`` lets the request
    take effect before the fault replaces its answer, as a 502 from a proxy after GitHub acted does.
    ``times=None`` keeps failing every matching request from the nth on.
    """

    method: str
    template: str
    kind: str = "status"
    status: int = 500
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    nth: int = 1
    times: int | None = 1
    after_effect: bool = False
    delay_s: float = 0.0
    reset_in_s: float = 60.0
    seen: int = 0
    fired: int = 0

    def matches(self, method: str, template: str) -> bool:
        return self.method in (ANY, method) and self.template in (ANY, template)

    def fire(self) -> bool:
        """Count one matching request; True when this one is to be broken."""
        self.seen += 1
        if self.seen < self.nth or (self.times is not None and self.fired >= self.times):
            return False
        self.fired += 1
        return True


@dataclass(frozen=True)
class RecordedRequest:
    """One request the stand-in answered (tokens are never recorded, only the login they map to)."""

    method: str
    path: str
    template: str
    query: dict[str, list[str]]
    status: int
    login: str | None
    body: Any
    faulted: bool

    @property
    def key(self) -> str:
        return f"{self.method} {self.template}"
