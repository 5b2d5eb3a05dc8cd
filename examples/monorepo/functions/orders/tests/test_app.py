"""Orders tests: need python-dateutil from the common-deps layer."""

import json
from pathlib import Path

import app
import pytest

EVENTS = Path(__file__).resolve().parent.parent / "events"


def body(response):
    return json.loads(response["body"])


def test_dateutil_is_loaded_from_the_layer_not_the_function():
    import dateutil

    function_folder = Path(app.__file__).resolve().parent
    assert function_folder not in Path(dateutil.__file__).resolve().parents


def test_sample_event_is_normalised_to_utc_and_scheduled():
    event = json.loads((EVENTS / "new-order.json").read_text(encoding="utf-8"))
    response = app.handler(event, None)
    assert response["statusCode"] == 201
    # 23:30 at -02:00 on 31 January is 01:30 UTC on 1 February.
    assert body(response) == {
        "order_id": "ORD-1001",
        "placed_at": "2024-02-01T01:30:00+00:00",
        "bill_on": "2024-02-04",
        "renews_on": "2024-03-01",
    }


@pytest.mark.parametrize(
    ("placed_at", "plan", "renews_on"),
    [
        ("2024-01-31T10:00:00+00:00", "monthly", "2024-02-29"),  # leap year: clamps to the month's end
        ("2023-01-31T10:00:00+00:00", "monthly", "2023-02-28"),
        ("2024-11-30T10:00:00+00:00", "quarterly", "2025-02-28"),
        ("2024-02-29T10:00:00+00:00", "yearly", "2025-02-28"),
    ],
)
def test_renewals_follow_the_calendar(placed_at, plan, renews_on):
    result = app.schedule({"order_id": "x", "placed_at": placed_at, "plan": plan})
    assert result["renews_on"] == renews_on


def test_timestamp_without_offset_is_refused():
    response = app.handler({"order": {"order_id": "x", "placed_at": "2024-01-31T10:00:00"}}, None)
    assert response["statusCode"] == 400
    assert "no UTC offset" in body(response)["error"]


def test_unknown_plan_is_refused():
    response = app.handler({"order": {"order_id": "x", "placed_at": "2024-01-31T10:00:00Z", "plan": "weekly"}}, None)
    assert response["statusCode"] == 400
    assert "monthly, quarterly, yearly" in body(response)["error"]


def test_garbage_timestamp_is_refused():
    response = app.handler({"order": {"order_id": "x", "placed_at": "yesterday-ish"}}, None)
    assert response["statusCode"] == 400
    assert "ISO 8601" in body(response)["error"]
