"""Notify: sends an order notification to each recipient, retrying temporary delivery failures.

Uses tenacity (bounded retries with backoff) and idna (internationalised e-mail domains), both from
the common-deps layer. Delivery goes through `transport`, which logs the message as one JSON line
(CloudWatch picks it up); a real deployment would swap in SES or SNS.
"""

import json
import sys

import idna
from tenacity import RetryError, Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

MAX_ATTEMPTS = 3


class TemporaryFailure(Exception):
    """The transport could not deliver right now; trying again may work."""


class BadRecipient(ValueError):
    """An address we cannot deliver to, whatever we retry."""


def log_transport(address, message):
    print(json.dumps({"to": address, "message": message}, ensure_ascii=False), file=sys.stdout)


transport = log_transport


def normalise_address(address):
    local, at, domain = address.strip().rpartition("@")
    if not at or not local or not domain:
        raise BadRecipient(f"{address!r} is not an e-mail address")
    try:
        ascii_domain = idna.encode(domain.rstrip("."), uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise BadRecipient(f"{address!r} has an invalid domain: {exc}") from exc
    return f"{local}@{ascii_domain}"


def deliver(address, message):
    """Deliver one message; returns the number of attempts it took."""
    retrying = Retrying(
        stop=stop_after_attempt(MAX_ATTEMPTS),
        wait=wait_exponential(multiplier=0.01, max=0.1),
        retry=retry_if_exception_type(TemporaryFailure),
    )
    for attempt in retrying:
        with attempt:
            transport(address, message)
    return retrying.statistics["attempt_number"]


def handler(event, context):
    order_id = event.get("order_id", "?")
    message = f"Order {order_id} is {event.get('status', 'confirmed')}."
    delivered, failed = [], []
    for raw in event.get("recipients", []):
        try:
            address = normalise_address(raw)
            attempts = deliver(address, message)
        except BadRecipient as exc:
            failed.append({"recipient": raw, "error": str(exc), "retryable": False})
        except RetryError:
            failed.append({"recipient": raw, "error": f"gave up after {MAX_ATTEMPTS} attempts", "retryable": True})
        else:
            delivered.append({"recipient": address, "attempts": attempts})
    status = 200 if not failed else 207
    return {"statusCode": status, "body": json.dumps({"delivered": delivered, "failed": failed})}
