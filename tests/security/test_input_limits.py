"""Input size limits: every oversize input is a 4xx naming its field, and writes nothing.

The limits live in the request model (``pipeline.domain.requests``) and the contract
(``infra/openapi.yaml``); the first test holds the two to the same numbers.
"""

from __future__ import annotations

import json

import pytest
import yaml
from conftest import scan_all

from pipeline.domain.requests import (
    CUSTOMER_ID,
    IDEMPOTENCY_KEY,
    MAX_BODY_BYTES,
    MAX_JSON_DEPTH,
    MAX_LINES,
    SKU,
)
from pipeline.handlers import order_api
from pipeline.local.apigw import proxy_event
from pipeline.template import INFRA_DIR

KEY = {"Idempotency-Key": "limits-0001"}
LINE = {"sku": "SKU-1", "quantity": 1}
BODY = {"customer_id": "cust-1", "lines": [LINE]}


def test_the_model_and_the_contract_have_the_same_limits():
    spec = yaml.safe_load((INFRA_DIR / "openapi.yaml").read_text())
    schemas = spec["components"]["schemas"]
    lines = schemas["PlaceOrder"]["properties"]["lines"]
    line = lines["items"]["properties"]
    assert lines["maxItems"] == MAX_LINES and lines["minItems"] == 1
    model = order_api.PlaceOrder.model_json_schema()["$defs"]["LineRequest"]["properties"]
    assert line["quantity"]["maximum"] == model["quantity"]["maximum"] == 1000
    assert line["quantity"]["minimum"] == model["quantity"]["minimum"] == 1
    assert line["sku"]["pattern"] == SKU
    assert schemas["CustomerId"]["maxLength"] == 64 and "{1,64}" in CUSTOMER_ID
    key = spec["components"]["parameters"]["IdempotencyKey"]["schema"]
    assert (key["minLength"], key["maxLength"]) == (8, 64) and "{8,64}" in IDEMPOTENCY_KEY
    limit = spec["components"]["parameters"]["Limit"]["schema"]
    assert limit["maximum"] == order_api.MAX_LIMIT
    too_large = spec["components"]["responses"]["TooLarge"]["description"]
    assert f"{MAX_BODY_BYTES // 1024} KiB" in too_large


def raw(text: str) -> dict:
    return {"body": None, "raw_body": text}


OVERSIZE = [
    # (name, request, status, field)
    ("body over the limit", raw(json.dumps({**BODY, "pad": "x" * MAX_BODY_BYTES})), 413, "body"),
    ("body of many small lines", raw(json.dumps({**BODY, "lines": [LINE] * 2000})), 413, "body"),
    ("one line too many", {"body": {**BODY, "lines": [LINE] * (MAX_LINES + 1)}}, 400, "lines"),
    ("customer id too long", {"body": {**BODY, "customer_id": "c" * 65}}, 400, "customer_id"),
    ("sku too long", {"body": {**BODY, "lines": [{**LINE, "sku": "S" * 33}]}}, 400, "lines[0].sku"),
    (
        "quantity over the maximum",
        {"body": {**BODY, "lines": [{**LINE, "quantity": 1001}]}},
        400,
        "lines[0].quantity",
    ),
    (
        "quantity of 30 digits",
        {"body": {**BODY, "lines": [{**LINE, "quantity": 10**30}]}},
        400,
        "lines[0].quantity",
    ),
    (
        "quantity of 5,000 digits",
        raw('{"customer_id": "c", "lines": [{"sku": "SKU-1", "quantity": ' + "9" * 5000 + "}]}"),
        400,
        "body",
    ),
    (
        "quantity as a huge float",
        {"body": {**BODY, "lines": [{**LINE, "quantity": 1e308}]}},
        400,
        "lines[0].quantity",
    ),
    (
        "nesting 5,000 deep",
        raw('{"customer_id": "c", "lines": ' + "[" * 5000 + "]" * 5000 + "}"),
        400,
        "body",
    ),
    (  # the limit holds whatever the process's recursion limit (jsonata-python raises it)
        f"nesting {MAX_JSON_DEPTH + 1} deep",
        raw('{"customer_id": "c", "lines": ' + "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH + "}"),
        400,
        "body",
    ),
    (
        "idempotency key too long",
        {"headers": {"Idempotency-Key": "k" * 65}},
        400,
        "Idempotency-Key",
    ),
]


def call(lambda_context, method="POST", path="/orders", body=BODY, headers=KEY, **kw):
    response = order_api.lambda_handler(
        proxy_event(method, path, body, headers, **kw), lambda_context
    )
    return response["statusCode"], json.loads(response["body"])


@pytest.mark.parametrize(
    ("kwargs", "status", "field"), [pytest.param(k, s, f, id=n) for n, k, s, f in OVERSIZE]
)
def test_an_oversize_order_is_a_named_4xx_and_writes_nothing(
    api, aws, stack, template, lambda_context, kwargs, status, field
):
    before = scan_all(aws, stack, template)
    got, body = call(lambda_context, **kwargs)
    assert (got, body.get("field")) == (status, field), body
    assert scan_all(aws, stack, template) == before


@pytest.mark.parametrize(
    ("path", "query", "field"),
    [
        ("/orders/" + "o" * 129, None, "order_id"),
        ("/customers/" + "c" * 65 + "/orders", None, "customer_id"),
        ("/orders", {"status": "PLACED", "limit": "101"}, "limit"),
        ("/orders", {"status": "PLACED", "limit": "9" * 5000}, "limit"),
        ("/orders", {"status": "PLACED", "limit": "\u00b2"}, "limit"),  # a digit int() refuses
        ("/orders", {"status": "P" * 5000}, "status"),
    ],
)
def test_an_oversize_query_is_a_named_400(api, lambda_context, path, query, field):
    got, body = call(lambda_context, "GET", path, None, {}, query=query)
    assert (got, body.get("field")) == (400, field), body
