"""Order API: place orders (outbox transaction, Idempotency-Key) and query their status.

POST /orders writes the order row and its OrderPlaced event in one DynamoDB transaction; the
table's stream publishes the event, so nothing is published that was not stored. The order
id is derived from (customer, Idempotency-Key): a retried request finds its own order.
Idempotency keys are scoped per customer (infra/openapi.yaml): the same customer reusing a
key for another body is refused (409); another customer's identical key is another request,
a different order, and the answer says nothing of the first.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.metrics import MetricUnit

from pipeline.adapters.catalog import Catalog
from pipeline.adapters.event_store import EventStore
from pipeline.adapters.order_views import OrderViews, public
from pipeline.domain import events as ev
from pipeline.domain.errors import (
    ConcurrencyConflict,
    IdempotencyKeyReused,
    OrderNotFound,
    PayloadTooLarge,
    PipelineError,
    UnknownSku,
    UnsupportedMediaType,
    ValidationFailed,
)
from pipeline.domain.factory import Cause, EventFactory
from pipeline.domain.order import Order, Status
from pipeline.domain.requests import (
    CUSTOMER_ID,
    IDEMPOTENCY_KEY,
    MAX_BODY_BYTES,
    MAX_JSON_DEPTH,
    PlaceOrder,
    parse_place_order,
)
from pipeline.handlers.http import error_response, json_response
from pipeline.handlers.wiring import Wiring, aws_client, require

logger = Logger(service="order-api")
tracer = Tracer(service="order-api")
metrics = Metrics(service="order-api")
app = APIGatewayRestResolver()

ORDER_NAMESPACE = uuid.UUID("5f6c1c1e-0d3a-4f5e-9a57-6f1b2b1d7a01")
ORDER_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
DEFAULT_LIMIT, MAX_LIMIT = 50, 100
# The fields the API defines: a rejected field is logged by name only if it is one of them.
LOGGED_FIELD = re.compile(
    r"body|customer_id|currency|lines(\[\d+\](\.(sku|quantity))?)?|order_id|status|limit"
    r"|path|Idempotency-Key|Content-Type"
)


@dataclass
class OrderApiDeps:
    store: EventStore
    views: OrderViews
    catalog: Catalog
    factory: EventFactory

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> OrderApiDeps:
        dynamodb = aws_client(env, "dynamodb")
        return cls(
            store=EventStore(dynamodb, require(env, "EVENTS_TABLE")),
            views=OrderViews(
                dynamodb, require(env, "ORDERS_TABLE"), int(env.get("STATUS_SHARDS", "8"))
            ),
            catalog=Catalog(dynamodb, require(env, "INVENTORY_TABLE")),
            factory=EventFactory(),
        )


wiring = Wiring(OrderApiDeps.from_env)


def order_id_for(customer_id: str, idempotency_key: str) -> str:
    """The order a customer's request with this key places: keys are scoped per customer."""
    return str(uuid.uuid5(ORDER_NAMESPACE, f"{customer_id}/{idempotency_key}"))


def _header(name: str) -> str | None:
    headers = app.current_event.headers or {}
    return next((v for k, v in headers.items() if k.lower() == name.lower()), None)


def _body_bytes() -> bytes:
    """The raw request body, size-checked before anything parses it."""
    body = app.current_event.body
    if body is None or body == "":
        raise ValidationFailed("a JSON body is required", field="body")
    if app.current_event.is_base64_encoded:
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise ValidationFailed("the body is not valid base64", field="body") from None
    else:
        raw = body.encode("utf-8", errors="surrogatepass")
    if len(raw) > MAX_BODY_BYTES:
        raise PayloadTooLarge(
            f"the body is {len(raw)} bytes; the limit is {MAX_BODY_BYTES}", field="body"
        )
    return raw


def _json_depth(text: str) -> int:
    """How deep brackets nest in JSON text, outside strings (the parser's own limit is the
    process's recursion limit, which other code in the process may have raised)."""
    if text.count("[") + text.count("{") <= MAX_JSON_DEPTH:
        return 0  # cannot nest deeper than the limit: no need to look
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _parse_request() -> tuple[PlaceOrder, str]:
    content_type = (_header("Content-Type") or "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise UnsupportedMediaType("send the order as application/json", field="Content-Type")
    raw = _body_bytes()
    try:
        text = raw.decode("utf-8")
    except ValueError as error:
        raise ValidationFailed(f"the body is not valid JSON: {error}", field="body") from None
    if _json_depth(text) > MAX_JSON_DEPTH:
        raise ValidationFailed(f"the body nests deeper than {MAX_JSON_DEPTH} levels", field="body")
    try:
        data = json.loads(text)
    except RecursionError:  # not reached below the depth limit; kept as the last guard
        raise ValidationFailed("the body is nested too deeply", field="body") from None
    except ValueError as error:  # not UTF-8, not JSON, or a number of over 4,300 digits
        raise ValidationFailed(f"the body is not valid JSON: {error}", field="body") from None
    key = _header("Idempotency-Key")
    if key is None or not re.fullmatch(IDEMPOTENCY_KEY, key):
        raise ValidationFailed(
            "Idempotency-Key header: 8-64 characters of A-Z, a-z, 0-9, _ or -",
            field="Idempotency-Key",
        )
    return parse_place_order(data), key


def _replay(deps: OrderApiDeps, order_id: str, request: PlaceOrder) -> Response | None:
    """The earlier response for a retried request, or 409 if the key meant another order."""
    row = deps.views.get(order_id)
    if row is None:
        return None
    if row.get("request_hash") != request.digest():
        raise IdempotencyKeyReused(
            "this customer used this Idempotency-Key for a different order",
            field="Idempotency-Key",
        )
    return json_response(200, public(row), {"Location": f"/orders/{order_id}"})


@app.post("/orders")
def place_order() -> Response:
    deps = wiring.get()
    request, key = _parse_request()
    order_id = order_id_for(request.customer_id, key)
    logger.append_keys(order_id=order_id)
    if (earlier := _replay(deps, order_id, request)) is not None:
        return earlier
    prices = deps.catalog.prices(line.sku for line in request.lines)
    for index, line in enumerate(request.lines):
        if line.sku not in prices:
            raise UnknownSku(line.sku, field=f"lines[{index}].sku")
    lines = tuple(
        ev.OrderLine(sku=line.sku, quantity=line.quantity, unit_price=prices[line.sku])
        for line in request.lines
    )
    total = sum((line.unit_price * line.quantity for line in lines), Decimal("0.00"))
    new = Order(order_id, customer_id=request.customer_id)
    placed = deps.factory.next(
        new,
        [(ev.OrderPlaced, {"lines": lines, "currency": request.currency, "total": total})],
        Cause(correlation_id=order_id),
    )[0]
    assert isinstance(placed, ev.OrderPlaced)  # the factory makes the kind it is given
    row = deps.views.row(placed, idempotency_key=key, request_hash=request.digest())
    try:
        deps.store.append(new, [placed], also=[deps.views.put_action(row)])
    except ConcurrencyConflict:
        # The same request raced us and won: answer as its replay.
        if (earlier := _replay(deps, order_id, request)) is not None:
            return earlier
        raise
    metrics.add_metric(name="OrderPlaced", unit=MetricUnit.Count, value=1)
    return json_response(201, public(row), {"Location": f"/orders/{order_id}"})


@app.get("/orders/<order_id>")
def get_order(order_id: str) -> Response:
    if not ORDER_ID.fullmatch(order_id):
        raise ValidationFailed("order_id is not a valid order id", field="order_id")
    row = wiring.get().views.get(order_id)
    if row is None:
        raise OrderNotFound(f"no order {order_id}", field="order_id")
    return json_response(200, public(row))


def _status(required: bool) -> str | None:
    status = app.current_event.get_query_string_value("status")
    if status is None and not required:
        return None
    if status not in Status.__members__:
        raise ValidationFailed(
            f"status must be one of {sorted(Status.__members__)}", field="status"
        )
    return status


def _limit() -> int:
    raw = app.current_event.get_query_string_value("limit")
    if raw is None:
        return DEFAULT_LIMIT
    if not re.fullmatch(r"[0-9]{1,3}", raw) or not 1 <= int(raw) <= MAX_LIMIT:
        raise ValidationFailed(f"limit must be an integer from 1 to {MAX_LIMIT}", field="limit")
    return int(raw)


@app.get("/orders")
def list_orders_by_status() -> Response:
    status = _status(required=True)
    assert status is not None
    return json_response(200, {"orders": wiring.get().views.by_status(status, _limit())})


@app.get("/customers/<customer_id>/orders")
def list_customer_orders(customer_id: str) -> Response:
    if not re.fullmatch(CUSTOMER_ID, customer_id):
        raise ValidationFailed("customer_id is not a valid customer id", field="customer_id")
    orders = wiring.get().views.by_customer(customer_id, _status(required=False), _limit())
    return json_response(200, {"orders": orders})


@app.not_found
def handle_unmatched_path(_error: NotFoundError) -> Response:
    """API Gateway routed the request here, but a path parameter, decoded, holds characters no
    route pattern takes (a "/", a control character): that parameter is malformed (400), not a
    missing route, and not an unexpected error (500)."""
    names = sorted((app.current_event.path_parameters or {}).keys())
    field = names[0] if names else "path"
    return handle_pipeline_error(
        ValidationFailed(f"{field} is not a valid {field.replace('_', ' ')}", field=field)
    )


@app.exception_handler(PipelineError)
def handle_pipeline_error(error: PipelineError) -> Response:
    field = getattr(error, "field", None)
    if field is not None and not LOGGED_FIELD.fullmatch(field):
        field = "(a field the API does not define)"  # its name is the client's: maybe PII
    logger.info("request rejected", extra={"error": error.name, "field": field})
    return error_response(error)


@app.exception_handler(Exception)
def handle_unexpected(error: Exception) -> Response:
    logger.exception("unexpected error")
    return error_response(error)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
