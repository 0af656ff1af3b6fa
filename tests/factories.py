"""Test helpers: deterministic clocks and ids, seeded orders and stock."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from pipeline.adapters.dynamo import to_item
from pipeline.adapters.event_store import EventStore
from pipeline.domain import events as ev
from pipeline.domain.factory import Cause, EventFactory
from pipeline.domain.order import Order

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


class TickingClock:
    """A clock that advances one second per reading, from ``start``."""

    def __init__(self, start: datetime = T0, step: timedelta = timedelta(seconds=1)) -> None:
        self.now = start
        self.step = step

    def __call__(self) -> datetime:
        current = self.now
        self.now += self.step
        return current


def counter_ids(prefix: str = "id") -> Any:
    """An id source yielding ``prefix-000001``, ``prefix-000002``, ..."""
    numbers = itertools.count(1)
    return lambda: f"{prefix}-{next(numbers):06d}"


def make_factory(prefix: str = "evt") -> EventFactory:
    return EventFactory(clock=TickingClock(), ids=counter_ids(prefix))


def wire_order_api(dynamodb: Any, stack: Any, shards: int | None = None, prefix: str = "evt"):
    """The order API handler's dependencies on a stack's tables, configured; returns them."""
    from pipeline.adapters.catalog import Catalog
    from pipeline.adapters.order_views import OrderViews
    from pipeline.handlers import order_api

    views = {} if shards is None else {"shards": shards}
    deps = order_api.OrderApiDeps(
        store=EventStore(dynamodb, stack.ref("EventsTable")),
        views=OrderViews(dynamodb, stack.ref("OrdersTable"), **views),
        catalog=Catalog(dynamodb, stack.ref("InventoryTable")),
        factory=make_factory(prefix),
    )
    order_api.wiring.configure(deps)
    return deps


CAUSE = Cause(correlation_id="corr-1", causation_id=None)


def place_order(
    store: EventStore,
    order_id: str = "order-1",
    customer_id: str = "cust-1",
    lines: tuple[tuple[str, int, str], ...] = (("SKU-1", 2, "10.00"),),
    factory: EventFactory | None = None,
) -> Order:
    """Append an OrderPlaced for the given ``(sku, quantity, unit_price)`` lines."""
    factory = factory or make_factory()
    order_lines = tuple(ev.OrderLine(sku=s, quantity=q, unit_price=Decimal(p)) for s, q, p in lines)
    total = sum((line.unit_price * line.quantity for line in order_lines), Decimal("0.00"))
    empty = Order(order_id, customer_id=customer_id)
    placed = factory.next(
        empty,
        [(ev.OrderPlaced, {"lines": order_lines, "currency": "USD", "total": total})],
        CAUSE,
    )
    store.append(empty, placed)
    return store.load_order(order_id)


def advance(
    store: EventStore,
    order_id: str,
    specs: list[tuple[type[ev.Event], dict[str, Any]]],
    factory: EventFactory | None = None,
) -> Order:
    """Append events of the given types/fields to an order, in order."""
    factory = factory or make_factory("adv")
    order = store.load_order(order_id)
    store.append(order, factory.next(order, specs, CAUSE))
    return store.load_order(order_id)


def put_stock(
    dynamodb: Any,
    table: str,
    sku: str,
    available: int,
    unit_price: str = "10.00",
    name: str | None = None,
) -> None:
    """Seed one stock item in the inventory table's layout."""
    dynamodb.put_item(
        TableName=table,
        Item=to_item(
            {
                "pk": f"sku#{sku}",
                "sku": sku,
                "name": name or f"Item {sku}",
                "unit_price": Decimal(unit_price),
                "available": available,
                "reserved": 0,
                "shipped": 0,
            }
        ),
    )


def step(action: str, order_id: str = "order-1", **extra: Any) -> dict[str, Any]:
    """A Step Functions task input for a step handler."""
    return {
        "action": action,
        "order_id": order_id,
        "causation_id": "evt-000001",
        "correlation_id": "corr-1",
        **extra,
    }
