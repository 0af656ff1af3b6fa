"""No personal data in logs: every line the handlers print, searched.

An order carries a customer id (an opaque id), a currency and lines of SKUs and quantities
(``infra/openapi.yaml`` PlaceOrder, ``additionalProperties: false``): no email, no address,
no card. So two searches:

* the shared seeded runs (``conftest.pipeline_runs``: the demo's orders through every path,
  handlers at the template's LOG_LEVEL, metrics on): no line holds anything shaped like an
  email address, a card number (13-19 digits passing Luhn), or a field named like personal
  data;
* clients that send personal data anyway (extra fields, or personal data as a field's name)
  are refused, and neither the values nor the names reach the logs or the tables.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from conftest import scan_all

from pipeline.handlers import order_api
from pipeline.local.apigw import proxy_event
from security.conftest import handler_output, log_level

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
# A card number: 13-19 digits (spaces or dashes between), starting as card networks' numbers
# do (2-6), standing alone: not a stretch of a longer id (a UUID's digit groups, a request id
# or a sequence number), which made random ids look like cards one run in a few.
DIGITS = re.compile(r"(?<![0-9A-Za-z_-])[2-6](?:[ -]?[0-9]){12,18}(?![0-9A-Za-z_-])")
PII_KEYS = re.compile(
    r"e-?mail|address|street|post_?code|zip|phone|card|\bpan\b|cvv|cvc|expiry|birth|iban",
    re.IGNORECASE,
)

# What a careless client might send: none of it may be logged or stored.
EMAIL_ADDRESS = "jane.doe+orders@example.com"
STREET = "221B Baker Street"
POSTCODE = "NW1 6XE"
CARD = "4111 1111 1111 1111"
PHONE = "+44 20 7946 0958"
PLANTED = [EMAIL_ADDRESS, STREET, POSTCODE, CARD, CARD.replace(" ", ""), PHONE]


def luhn(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        n = int(char) * (2 if position % 2 else 1)
        total += n - 9 if n > 9 else n
    return total % 10 == 0


def card_numbers(line: str) -> list[str]:
    found = (m.group().replace(" ", "").replace("-", "") for m in DIGITS.finditer(line))
    return [d for d in found if luhn(d)]


def keys(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [k for k in value] + [k for v in value.values() for k in keys(v)]
    if isinstance(value, list):
        return [k for v in value for k in keys(v)]
    return []


def problems(lines: list[str]) -> list[str]:
    """Every line holding personal data, with what was found."""
    found = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        text = line
        if isinstance(record, dict) and "_aws" in record:  # EMF: its epoch-ms timestamp
            record["_aws"].pop("Timestamp", None)  # is 13 digits, sometimes Luhn-valid
            text = json.dumps(record)
        hits = [m.group() for m in EMAIL.finditer(text)] + card_numbers(text)
        hits += [p for p in PLANTED if p in text]
        hits += [k for k in keys(record) if PII_KEYS.search(k)]
        if hits:
            found.append(f"{hits}: {line[:300]}")
    return found


def test_the_detectors_find_what_they_look_for():
    assert problems(['{"message": "mail jane@example.org"}'])
    assert problems(['{"message": "paid with 4111-1111-1111-1111"}'])
    assert not problems(['{"request_id": "8f0e2a4c-9309-7883-3920-80b1c2d3e4f5"}'])
    assert problems(['{"shipping_address": "x"}'])
    assert not problems(['{"_aws": {"Timestamp": 1795630033771}, "OrderPlaced": [1.0]}'])
    assert not problems(
        ['{"order_id": "8d1c1e0a-5f6c-4f5e-9a57-6f1b2b1d7a01", "total": "1234567890123"}']
    )


@pytest.mark.system  # reads the seeded demo runs (conftest.pipeline_runs)
def test_no_personal_data_in_the_logs_and_metrics_of_a_run(pipeline_runs):
    lines = pipeline_runs.lines
    records = [json.loads(line) for line in lines if line.startswith("{")]
    assert any("_aws" in r for r in records), "no metric line was captured"
    assert any("level" in r for r in records), "no log record was captured"
    assert not problems(lines), "\n".join(problems(lines))


LINES = [{"sku": "SKU-1", "quantity": 1}]
CARELESS = [
    {"customer_id": "cust-1", "lines": LINES, "email": EMAIL_ADDRESS},
    {"customer_id": "cust-1", "lines": LINES, "shipping_address": {"street": STREET}},
    {"customer_id": "cust-1", "lines": LINES, "card_number": CARD, "phone": PHONE},
    {"customer_id": "cust-1", "lines": [{"sku": "SKU-1", "quantity": 1, "postcode": POSTCODE}]},
    {"customer_id": EMAIL_ADDRESS, "lines": LINES},  # an email where the id goes
    {"customer_id": "cust-1", "lines": LINES, EMAIL_ADDRESS: True},  # personal data as a name
    {"customer_id": "cust-1", "lines": LINES, STREET: POSTCODE},
]


def test_personal_data_sent_by_a_client_is_refused_and_never_logged(
    api, aws, stack, template, lambda_context
):
    before = scan_all(aws, stack, template)
    with handler_output(log_level(template)) as out:
        for n, body in enumerate(CARELESS):
            event = proxy_event("POST", "/orders", body, {"Idempotency-Key": f"careless-{n:04d}"})
            response = order_api.lambda_handler(event, lambda_context)
            assert response["statusCode"] == 400, (body, response["body"])
    lines = out.getvalue().splitlines()
    assert len(lines) >= len(CARELESS), "the rejections were not logged at all"
    assert not problems(lines), "\n".join(problems(lines))
    assert scan_all(aws, stack, template) == before
