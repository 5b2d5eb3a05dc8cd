"""Orders: accepts an order and works out when it is billed and when its subscription renews.

Uses python-dateutil from the common-deps layer: ISO 8601 parsing with offsets, and calendar-aware
month arithmetic (31 January + 1 month is the last day of February, not 3 March).
"""

import json
from datetime import UTC

from dateutil import parser as date_parser
from dateutil.relativedelta import relativedelta

BILLING_DELAY = relativedelta(days=+3)
PLANS = {"monthly": relativedelta(months=+1), "quarterly": relativedelta(months=+3), "yearly": relativedelta(years=+1)}


class BadOrder(ValueError):
    """The event does not describe an order we can accept."""


def parse_placed_at(text):
    try:
        placed = date_parser.isoparse(text)
    except (ValueError, OverflowError) as exc:
        raise BadOrder(f"placed_at {text!r} is not an ISO 8601 timestamp") from exc
    if placed.tzinfo is None:
        raise BadOrder(f"placed_at {text!r} has no UTC offset; add one, e.g. +00:00")
    return placed.astimezone(UTC)


def schedule(order):
    placed = parse_placed_at(order["placed_at"])
    plan = order.get("plan", "monthly")
    if plan not in PLANS:
        raise BadOrder(f"plan {plan!r} is not one of {', '.join(sorted(PLANS))}")
    return {
        "order_id": order["order_id"],
        "placed_at": placed.isoformat(),
        "bill_on": (placed + BILLING_DELAY).date().isoformat(),
        "renews_on": (placed + PLANS[plan]).date().isoformat(),
    }


def handler(event, context):
    try:
        result = schedule(event["order"])
    except KeyError as exc:
        return {"statusCode": 400, "body": json.dumps({"error": f"missing field {exc}"})}
    except BadOrder as exc:
        return {"statusCode": 400, "body": json.dumps({"error": str(exc)})}
    return {"statusCode": 201, "body": json.dumps(result)}
