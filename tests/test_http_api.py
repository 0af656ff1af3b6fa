"""The order API over real HTTP on loopback: routes from the template, proxy events both ways."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from factories import put_stock, wire_order_api

from pipeline.handlers import order_api
from pipeline.local.http_api import LocalApi, routes

pytestmark = pytest.mark.system  # the order API served over HTTP


@pytest.fixture
def api(aws, stack, template):
    dynamodb = aws.client("dynamodb")
    put_stock(dynamodb, stack.ref("InventoryTable"), "SKU-1", 5, "3.00")
    wire_order_api(dynamodb, stack)
    with LocalApi(template, lambda _function_id: order_api.lambda_handler) as running:
        yield running
    order_api.wiring.configure(None)


def call(url: str, method: str = "GET", body: bytes | None = None, headers: dict | None = None):
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read() or b"null")


ORDER = json.dumps({"customer_id": "c-1", "lines": [{"sku": "SKU-1", "quantity": 2}]}).encode()
HEADERS = {"Content-Type": "application/json", "Idempotency-Key": "http-key-0001"}


def test_routes_come_from_the_template(template):
    assert {(m, r) for m, _, r, _ in routes(template)} == {
        ("POST", "/orders"),
        ("GET", "/orders"),
        ("GET", "/orders/{order_id}"),
        ("GET", "/customers/{customer_id}/orders"),
    }


def test_place_and_read_an_order_over_http(api):
    status, headers, body = call(f"{api.url}/orders", "POST", ORDER, HEADERS)
    assert (status, body["total"], body["status"]) == (201, "6.00", "PLACED")
    assert headers["Location"] == f"/orders/{body['order_id']}"
    again = call(f"{api.url}/orders", "POST", ORDER, HEADERS)
    assert (again[0], again[2]) == (200, body)
    status, _, fetched = call(f"{api.url}/orders/{body['order_id']}")
    assert (status, fetched) == (200, body)
    status, _, listed = call(f"{api.url}/customers/c-1/orders?status=PLACED")
    assert [o["order_id"] for o in listed["orders"]] == [body["order_id"]]


def test_errors_keep_their_status_and_named_field(api):
    status, _, body = call(f"{api.url}/orders", "POST", b"{not json", HEADERS)
    assert (status, body["field"]) == (400, "body")
    status, _, body = call(f"{api.url}/orders", "POST", b"\xff\xfe", HEADERS)
    assert (status, body["field"]) == (400, "body")
    status, _, body = call(f"{api.url}/orders?status=NOPE")
    assert (status, body["field"]) == (400, "status")


def test_unknown_routes_and_methods(api):
    assert call(f"{api.url}/nothing")[0] == 404
    assert call(f"{api.url}/orders/abc", "POST", b"{}", HEADERS)[0] == 405
