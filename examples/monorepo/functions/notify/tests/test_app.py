"""Notify tests: need tenacity and idna from the common-deps layer."""

import json
from pathlib import Path

import app
import pytest

EVENTS = Path(__file__).resolve().parent.parent / "events"


class FlakyTransport:
    """Fails the first `failures` deliveries to each address, then records the message."""

    def __init__(self, failures):
        self.failures = failures
        self.calls = {}
        self.sent = []

    def __call__(self, address, message):
        self.calls[address] = self.calls.get(address, 0) + 1
        if self.calls[address] <= self.failures:
            raise app.TemporaryFailure("mail relay busy")
        self.sent.append((address, message))


def body(response):
    return json.loads(response["body"])


def test_sample_event_is_delivered_to_punycode_addresses(capsys):
    event = json.loads((EVENTS / "order-shipped.json").read_text(encoding="utf-8"))
    response = app.handler(event, None)
    assert response["statusCode"] == 200
    assert body(response)["delivered"] == [
        {"recipient": "jürgen@xn--mller-kva.example", "attempts": 1},
        {"recipient": "ops@shop.example", "attempts": 1},
    ]
    logged = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert logged[0] == {"to": "jürgen@xn--mller-kva.example", "message": "Order ORD-1001 is shipped."}


def test_temporary_failures_are_retried(monkeypatch):
    flaky = FlakyTransport(failures=2)
    monkeypatch.setattr(app, "transport", flaky)
    response = app.handler({"order_id": "A1", "recipients": ["a@shop.example"]}, None)
    assert response["statusCode"] == 200
    assert body(response)["delivered"] == [{"recipient": "a@shop.example", "attempts": 3}]
    assert flaky.sent == [("a@shop.example", "Order A1 is confirmed.")]


def test_retries_are_bounded(monkeypatch):
    flaky = FlakyTransport(failures=10)
    monkeypatch.setattr(app, "transport", flaky)
    response = app.handler({"order_id": "A2", "recipients": ["a@shop.example"]}, None)
    assert response["statusCode"] == 207
    assert body(response)["failed"] == [
        {"recipient": "a@shop.example", "error": "gave up after 3 attempts", "retryable": True}
    ]
    assert flaky.calls == {"a@shop.example": app.MAX_ATTEMPTS}


@pytest.mark.parametrize("address", ["not-an-address", "@shop.example", "a@bad..domain"])
def test_bad_addresses_are_not_retried(monkeypatch, address):
    flaky = FlakyTransport(failures=0)
    monkeypatch.setattr(app, "transport", flaky)
    response = app.handler({"order_id": "A3", "recipients": [address]}, None)
    assert response["statusCode"] == 207
    [failure] = body(response)["failed"]
    assert failure["retryable"] is False
    assert flaky.calls == {}
