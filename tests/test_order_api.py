"""Order API against moto: the outbox write, idempotent replays, every bad input a named 4xx."""

from __future__ import annotations

import json

import pytest
from conftest import scan_all
from factories import make_factory, put_stock

from pipeline.adapters.catalog import Catalog
from pipeline.adapters.event_store import EventStore
from pipeline.adapters.order_views import OrderViews, status_shard
from pipeline.domain import events as ev
from pipeline.domain.requests import MAX_BODY_BYTES
from pipeline.handlers import order_api
from pipeline.local.apigw import proxy_event

KEY = {"Idempotency-Key": "key-00000001"}
BODY = {
    "customer_id": "cust-1",
    "lines": [{"sku": "SKU-1", "quantity": 2}, {"sku": "SKU-2", "quantity": 1}],
}


@pytest.fixture
def deps(aws, stack):
    dynamodb = aws.client("dynamodb")
    deps = order_api.OrderApiDeps(
        store=EventStore(dynamodb, stack.ref("EventsTable")),
        views=OrderViews(dynamodb, stack.ref("OrdersTable"), shards=4),
        catalog=Catalog(dynamodb, stack.ref("InventoryTable")),
        factory=make_factory("api"),
    )
    put_stock(dynamodb, stack.ref("InventoryTable"), "SKU-1", 10, "12.50")
    put_stock(dynamodb, stack.ref("InventoryTable"), "SKU-2", 10, "0.99")
    order_api.wiring.configure(deps)
    yield deps
    order_api.wiring.configure(None)


def header(response: dict, name: str) -> str:
    """A response header, whichever of the two proxy formats the resolver used."""
    if name in (response.get("headers") or {}):
        return response["headers"][name]
    return response["multiValueHeaders"][name][0]


def request(lambda_context, method="POST", path="/orders", body=BODY, headers=KEY, **kw):
    response = order_api.lambda_handler(
        proxy_event(method, path, body, headers, **kw), lambda_context
    )
    return response["statusCode"], json.loads(response["body"]), response


def test_place_order_writes_the_row_and_its_event_in_one_go(deps, lambda_context):
    status, body, response = request(lambda_context)
    assert status == 201
    assert body["total"] == "25.99"
    assert body["lines"][0] == {"sku": "SKU-1", "quantity": 2, "unit_price": "12.50"}
    assert body["status"] == "PLACED" and body["version"] == 1
    assert header(response, "Location") == f"/orders/{body['order_id']}"
    events = deps.store.load(body["order_id"])
    assert [type(e) for e in events] == [ev.OrderPlaced]
    assert str(events[0].total) == "25.99"
    assert ev.verify_chain(events) == []
    status, fetched, _ = request(lambda_context, "GET", f"/orders/{body['order_id']}", None, {})
    assert status == 200 and fetched == body


def test_replay_with_the_same_key_returns_the_same_order_and_writes_nothing(
    deps, aws, stack, template, lambda_context
):
    _, first, _ = request(lambda_context)
    after_first = scan_all(aws, stack, template)
    for _ in range(3):
        status, again, _ = request(lambda_context)
        assert (status, again) == (200, first)
    assert scan_all(aws, stack, template) == after_first


def test_same_key_with_another_body_is_a_conflict(deps, aws, stack, template, lambda_context):
    request(lambda_context)
    before = scan_all(aws, stack, template)
    other = {**BODY, "lines": [{"sku": "SKU-1", "quantity": 3}]}
    status, body, _ = request(lambda_context, body=other)
    assert status == 409
    assert body["error"] == "IdempotencyKeyReused" and body["field"] == "Idempotency-Key"
    assert scan_all(aws, stack, template) == before


def test_idempotency_keys_are_scoped_per_customer(deps, aws, stack, template, lambda_context):
    """The spec's decision: a key identifies one customer's request. The same customer
    reusing it for another body is refused (409, naming Idempotency-Key); another customer
    sending the same key makes a different request: a second, distinct order (201) that
    neither reveals nor touches the first."""
    status, first, _ = request(lambda_context)
    assert status == 201
    other_body = {**BODY, "lines": [{"sku": "SKU-1", "quantity": 3}]}
    status, refused, _ = request(lambda_context, body=other_body)
    assert (status, refused["error"], refused["field"]) == (
        409,
        "IdempotencyKeyReused",
        "Idempotency-Key",
    )
    assert "Idempotency-Key" in refused["message"] and first["order_id"] not in json.dumps(refused)
    other_customer = {**BODY, "customer_id": "cust-other-1"}
    status, second, _ = request(lambda_context, body=other_customer)
    assert status == 201
    assert second["order_id"] != first["order_id"]
    assert second["customer_id"] == "cust-other-1" and second["version"] == 1
    status, again, _ = request(lambda_context, "GET", f"/orders/{first['order_id']}", None, {})
    assert (status, again) == (200, first)  # the first customer's order is untouched


def line(**changes):
    return {**BODY, "lines": [{"sku": "SKU-1", "quantity": 1, **changes}]}


BAD_REQUESTS = [
    # (name, kwargs for request(), status, field)
    ("malformed JSON", {"body": None, "raw_body": '{"customer_id": "c", "lines": ['}, 400, "body"),
    ("empty body", {"body": None, "raw_body": ""}, 400, "body"),
    ("JSON array", {"body": [1, 2]}, 400, "body"),
    ("missing customer", {"body": {"lines": BODY["lines"]}}, 400, "customer_id"),
    ("missing lines", {"body": {"customer_id": "c-1"}}, 400, "lines"),
    ("no lines", {"body": {**BODY, "lines": []}}, 400, "lines"),
    (
        "too many lines",
        {"body": {**BODY, "lines": [{"sku": "SKU-1", "quantity": 1}] * 51}},
        400,
        "lines",
    ),
    ("quantity as string", {"body": line(quantity="2")}, 400, "lines[0].quantity"),
    ("quantity as float", {"body": line(quantity=1.5)}, 400, "lines[0].quantity"),
    ("quantity as bool", {"body": line(quantity=True)}, 400, "lines[0].quantity"),
    ("zero quantity", {"body": line(quantity=0)}, 400, "lines[0].quantity"),
    ("negative quantity", {"body": line(quantity=-3)}, 400, "lines[0].quantity"),
    ("huge quantity", {"body": line(quantity=10**12)}, 400, "lines[0].quantity"),
    ("sku wrong type", {"body": line(sku=42)}, 400, "lines[0].sku"),
    ("sku lowercase", {"body": line(sku="sku-1")}, 400, "lines[0].sku"),
    (
        "unknown sku",
        {"body": {**BODY, "lines": [BODY["lines"][0], {"sku": "NOPE-1", "quantity": 1}]}},
        422,
        "lines[1].sku",
    ),
    ("extra field", {"body": {**BODY, "coupon": "FREE"}}, 400, "coupon"),
    ("extra line field", {"body": line(price="0.01")}, 400, "lines[0].price"),
    ("bad currency", {"body": {**BODY, "currency": "BTC"}}, 400, "currency"),
    ("unicode customer", {"body": {**BODY, "customer_id": "客户-\u0661"}}, 400, "customer_id"),
    ("unicode garbage body", {"body": None, "raw_body": "\udcff\udcfe{"}, 400, "body"),
    ("invalid utf-8 bytes", {"body": None, "raw_body": b"\xff\xfe{}"}, 400, "body"),
    (
        "oversize body",
        {"body": None, "raw_body": json.dumps({**BODY, "pad": "x" * MAX_BODY_BYTES})},
        413,
        "body",
    ),
    ("missing idempotency key", {"headers": {}}, 400, "Idempotency-Key"),
    ("short idempotency key", {"headers": {"Idempotency-Key": "abc"}}, 400, "Idempotency-Key"),
    (
        "form content type",
        {"headers": {**KEY, "Content-Type": "application/x-www-form-urlencoded"}},
        415,
        "Content-Type",
    ),
]


@pytest.mark.parametrize(
    ("kwargs", "status", "field"),
    [pytest.param(k, s, f, id=name) for name, k, s, f in BAD_REQUESTS],
)
def test_bad_input_is_a_named_4xx_and_writes_nothing(
    deps, aws, stack, template, lambda_context, kwargs, status, field
):
    before = scan_all(aws, stack, template)
    got, body, response = request(lambda_context, **kwargs)
    assert (got, body["field"]) == (status, field), body
    assert set(body) == {"error", "message", "field"}
    assert header(response, "Content-Type") == "application/json"
    assert scan_all(aws, stack, template) == before


def test_unknown_order_is_404(deps, lambda_context):
    status, body, _ = request(lambda_context, "GET", "/orders/no-such-order", None, {})
    assert (status, body["error"]) == (404, "OrderNotFound")


def place(lambda_context, customer, n):
    body = {"customer_id": customer, "lines": [{"sku": "SKU-1", "quantity": 1}]}
    return request(
        lambda_context, body=body, headers={"Idempotency-Key": f"key-{customer}-{n:04d}"}
    )[1]


def test_customer_orders_come_from_the_customer_index_newest_first(deps, lambda_context):
    mine = [place(lambda_context, "alice", n)["order_id"] for n in range(3)]
    place(lambda_context, "bob", 0)
    status, body, _ = request(lambda_context, "GET", "/customers/alice/orders", None, {})
    assert status == 200
    assert [o["order_id"] for o in body["orders"]] == list(reversed(mine))
    status, body, _ = request(
        lambda_context, "GET", "/customers/alice/orders", None, {}, query={"status": "CONFIRMED"}
    )
    assert body["orders"] == []


def test_status_query_merges_every_shard(deps, lambda_context):
    placed = [place(lambda_context, f"c{n}", n)["order_id"] for n in range(12)]
    shards = {status_shard("PLACED", order_id, 4) for order_id in placed}
    assert len(shards) > 1  # the orders really are spread over several shards
    status, body, _ = request(
        lambda_context, "GET", "/orders", None, {}, query={"status": "PLACED"}
    )
    assert status == 200
    assert sorted(o["order_id"] for o in body["orders"]) == sorted(placed)
    _, limited, _ = request(
        lambda_context, "GET", "/orders", None, {}, query={"status": "PLACED", "limit": "5"}
    )
    assert len(limited["orders"]) == 5


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({}, "status"),
        ({"status": "SHIPPED"}, "status"),
        ({"status": "PLACED", "limit": "0"}, "limit"),
        ({"status": "PLACED", "limit": "abc"}, "limit"),
    ],
)
def test_bad_queries_name_the_parameter(deps, lambda_context, query, field):
    status, body, _ = request(lambda_context, "GET", "/orders", None, {}, query=query or None)
    assert (status, body["field"]) == (400, field)
