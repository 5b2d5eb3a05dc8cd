"""GitHub faults injected per request into a whole push run of the Action (entrypoint.py, the shop repo).

A timing FaultProxy sits between PyGithub and the GitHub stand-in (GITHUB_API_URL points at it) and
answers chosen requests with GitHub's secondary rate limit (403 + Retry-After), 429 + Retry-After, 502
(also after the request took effect), connection resets (before or after the effect), slow answers past
the client's timeout, and 404 for a PR that was just created. Each run either succeeds, having waited at
least Retry-After before the retried request (measured between the two requests' arrival at the proxy),
with the same end state as an undisturbed run, or fails with one ``::error`` naming GitHub and the
operation; the rerun then converges.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import pytest

from tests.reliability.reliability_support import Run, Shop
from tests.reliability.test_crash_consistency import TITLE, end_state, expected_state, title_for
from tests.support.fault_proxy import FaultProxy, FaultRule

REPO_PATH = "/repos/octo-org/linked"
PULLS = rf"^{REPO_PATH}/pulls(\?|$)"
PULL = rf"^{REPO_PATH}/pulls/\d+$"
STATUSES = rf"^{REPO_PATH}/statuses/[0-9a-f]{{40}}$"
LABELS = rf"^{REPO_PATH}/issues/\d+/labels$"
RATE_LIMIT_BODY = json.dumps(
    {
        "message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try "
        "again.",
        "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
    }
).encode()


class TimedProxy(FaultProxy):
    """A FaultProxy that also notes when each request arrived."""

    def __init__(self, upstream: str) -> None:
        super().__init__(upstream)
        self.arrivals: list[tuple[float, str, str, bool]] = []  # (time, method, path, faulted)

    def _claim(self, method: str, path: str, headers: Mapping[str, str] | None = None) -> FaultRule | None:
        rule = super()._claim(method, path, headers)
        self.arrivals.append((time.monotonic(), method, path, rule is not None))
        return rule

    def gap_after_fault(self, rule: FaultRule) -> float:
        """Seconds between the faulted request and the next one of the same method and path pattern."""
        faulted = [
            i
            for i, (_, m, p, hit) in enumerate(self.arrivals)
            if hit and m == rule.method and re.search(rule.path, p)
        ]
        assert faulted, "the fault never fired"
        first = faulted[0]
        _, method, _, _ = self.arrivals[first]
        for later in self.arrivals[first + 1 :]:
            if later[1] == method and re.search(rule.path, later[2]):
                return later[0] - self.arrivals[first][0]
        raise AssertionError("the faulted request was never retried")


@pytest.fixture
def github_proxy(shop: Shop) -> Iterator[TimedProxy]:
    with TimedProxy(shop.linked.standin.web_url) as proxy:
        shop.extra_env["GITHUB_API_URL"] = proxy.url
        yield proxy


def rate_limited(
    method: str, path: str, *, status: int = 403, retry_after: int = 2, times: int = 1
) -> FaultRule:
    return FaultRule(
        method,
        path,
        status=status,
        body=RATE_LIMIT_BODY,
        times=times,
        headers={"Retry-After": str(retry_after), "Content-Type": "application/json"},
    )


def bad_gateway(method: str, path: str, *, after_effect: bool = False, times: int = 1) -> FaultRule:
    return FaultRule(
        method,
        path,
        status=502,
        body=b'{"message": "Server Error"}',
        forward_first=after_effect,
        times=times,
        headers={"Content-Type": "application/json"},
    )


@dataclass(frozen=True)
class Case:
    """Faults for the push of tools v2 (every request a first run makes is a POST), or with
    ``update`` for the push of v3 after an undisturbed v2 run (it finds the PR, then updates it).

    ``waits`` pairs each rate-limit fault (by its index in ``rules``) with the Retry-After it carries.
    """

    rules: tuple[FaultRule, ...]
    waits: tuple[tuple[int, float], ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    update: bool = False

    @property
    def version(self) -> int:
        return 3 if self.update else 2


# Several faults per run, each on its own request, so one run exercises many of them.
SURVIVABLE: dict[str, Case] = {
    # create PR: 403 secondary limit, then a 502 before it took effect; statuses: 429, then a reset after
    # the second took effect; labels: a 502 after they were added.
    "first-push": Case(
        (
            rate_limited("POST", PULLS, retry_after=1),
            bad_gateway("POST", PULLS),
            rate_limited("POST", STATUSES, status=429, retry_after=1),
            FaultRule("POST", STATUSES, reset_connection=True, forward_first=True),
            bad_gateway("POST", LABELS, after_effect=True),
        ),
        waits=((0, 1.0), (2, 1.0)),
    ),
    "create-pr-answered-502-after-it-took-effect": Case((bad_gateway("POST", PULLS, after_effect=True),)),
    # The reset hides the created PR; the PR then answers 404 for a moment (eventual consistency).
    "create-pr-reset-after-it-took-effect": Case(
        (FaultRule("POST", PULLS, reset_connection=True, forward_first=True),)
    ),
    # find PR: 403 secondary limit, then an answer slower than the client's timeout; update PR: 502 after
    # it took effect; statuses: 429.
    "update-push": Case(
        (
            rate_limited("GET", PULLS, retry_after=1),
            bad_gateway("PATCH", PULL, after_effect=True),
            FaultRule("GET", PULLS, slow_answer=2.5),
            rate_limited("POST", STATUSES, status=429, retry_after=1),
        ),
        waits=((0, 1.0), (3, 1.0)),
        env=(("LAYER_CI_GITHUB_TIMEOUT", "1"),),
        update=True,
    ),
}


def run_once(shop: Shop, case: Case, proxy: TimedProxy | None = None) -> Run:
    """The push of ``case.version`` with the case's faults (after an undisturbed v2 run if needed)."""
    if case.update:
        shop.change_layer(2)
        shop.fresh_checkout()
        assert shop.run(label="v2").returncode == 0
    for rule in case.rules:
        assert proxy is not None
        proxy.add(rule)
    shop.change_layer(case.version)
    shop.fresh_checkout()
    return shop.run(env=dict(case.env), label="faulted")


@pytest.mark.parametrize("name", list(SURVIVABLE))
def test_transient_github_faults_are_survived(shop: Shop, github_proxy: TimedProxy, name: str) -> None:
    case = SURVIVABLE[name]
    if name == "create-pr-reset-after-it-took-effect":
        shop.linked.standin.fresh_pr_not_found(times=2)
    run = run_once(shop, case, github_proxy)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Traceback" not in run.stdout + run.stderr
    assert [rule.hits for rule in case.rules] == [1] * len(case.rules), [(r.path, r.hits) for r in case.rules]
    for index, retry_after in case.waits:
        waited = github_proxy.gap_after_fault(case.rules[index])
        assert waited >= retry_after, f"{case.rules[index].path}: retried after {waited:.2f} s"
        if (report := os.environ.get("LAYER_CI_FAULT_REPORT")) is not None:
            with open(report, "a", encoding="utf-8") as handle:
                handle.write(f"{name}\t{case.rules[index].method} {case.rules[index].path}\t{waited:.2f}\n")
    assert end_state(shop) == expected_state(title_for(case.version), case.version)
    outcome = "updated" if case.update else "created"
    assert [entry["outcome"] for entry in json.loads(run.outputs["pull-requests"])] == [outcome]


PERSISTENT: dict[str, tuple[Case, str]] = {
    "502-on-every-create-pr": (
        Case((bad_gateway("POST", PULLS, times=99),)),
        "GitHub create pull request failed: 502",
    ),
    "403-permission-on-statuses": (
        Case(
            (
                FaultRule(
                    "POST",
                    STATUSES,
                    status=403,
                    times=99,
                    body=b'{"message": "Resource not accessible by integration"}',
                    headers={"Content-Type": "application/json"},
                ),
            )
        ),
        "GitHub set commit status failed: 403 Resource not accessible by integration",
    ),
    "rate-limited-past-the-wait-budget": (
        Case(
            (rate_limited("POST", PULLS, retry_after=1, times=99),), env=(("LAYER_CI_GITHUB_MAX_WAIT", "1"),)
        ),
        "GitHub create pull request failed: 403 You have exceeded a secondary rate limit",
    ),
}


@pytest.mark.parametrize("name", sorted(PERSISTENT))
def test_persistent_github_faults_fail_with_one_annotation(
    shop: Shop, github_proxy: TimedProxy, name: str
) -> None:
    case, words = PERSISTENT[name]
    started = time.monotonic()
    run = run_once(shop, case, github_proxy)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "Traceback" not in run.stdout + run.stderr
    errors = [line for line in run.stdout.splitlines() if line.startswith("::error")]
    assert len(errors) == 1, errors
    assert words in errors[0], errors[0]
    # Not silent about what did happen: the line and the outputs say what was published and recorded.
    assert "after publishing tools v2 in us-east-1, tools v2 in eu-west-1" in errors[0]
    assert set(json.loads(run.outputs["published"])) == {"tools"}
    assert time.monotonic() - started < 30  # bounded: the wait budget, not GitHub's patience
    if (report := os.environ.get("LAYER_CI_FAULT_REPORT")) is not None:
        with open(report, "a", encoding="utf-8") as handle:
            handle.write(f"{name}\t{errors[0]}\n")
    if name == "502-on-every-create-pr":  # once GitHub is healthy, the rerun converges
        github_proxy.clear()
        shop.fresh_checkout()
        rerun = shop.run(label="rerun")
        assert rerun.returncode == 0, rerun.stdout + rerun.stderr
        assert end_state(shop) == expected_state(TITLE)
