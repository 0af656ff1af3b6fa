"""Inventory step handler: reserve every line of a paid order, release stock as compensation."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from pipeline.adapters.alerts import Alerts
from pipeline.adapters.event_store import EventStore
from pipeline.adapters.inventory import RESERVED, InventoryStore
from pipeline.domain import events as ev
from pipeline.domain.errors import StepNotApplicable
from pipeline.domain.factory import EventFactory
from pipeline.domain.order import Order, Status
from pipeline.handlers import compensation
from pipeline.handlers.step_request import (
    StepRequest,
    applies,
    dispatch,
    load_order,
    outcome,
    skipped,
)
from pipeline.handlers.wiring import Wiring, require

logger = Logger(service="inventory")
tracer = Tracer(service="inventory")
metrics = Metrics(service="inventory")

# OutOfStock / UnknownSku messages name the SKU: "out of stock: SKU-1 ...", "unknown SKU 'SKU-1'".
_SKU_IN_MESSAGE = re.compile(r"(?:out of stock: |unknown SKU ')([A-Z0-9-]{3,32})")


@dataclass
class InventoryDeps:
    store: EventStore
    inventory: InventoryStore
    alerts: Alerts
    factory: EventFactory

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> InventoryDeps:
        dynamodb = boto3.client("dynamodb")
        return cls(
            store=EventStore(dynamodb, require(env, "EVENTS_TABLE")),
            inventory=InventoryStore(dynamodb, require(env, "INVENTORY_TABLE")),
            alerts=Alerts(boto3.client("sns"), require(env, "ALERTS_TOPIC_ARN")),
            factory=EventFactory(),
        )


wiring = Wiring(InventoryDeps.from_env)


def _load(request: StepRequest, deps: InventoryDeps) -> Order:
    return load_order(deps.store, request, logger)


def reserve(request: StepRequest, deps: InventoryDeps) -> dict[str, Any]:
    """Reserve all lines in one transaction; OutOfStock/UnknownSku go to the state machine."""
    order = _load(request, deps)
    if order.has("InventoryReserved"):
        return outcome(order, reservation_id=order.reservation_id, duplicate=True)
    if not applies(order, Status.PAYMENT_CAPTURED):
        _release_orphan(order, deps)
        return skipped(order)
    reservation = deps.inventory.reserve(
        order.order_id, [(line.sku, line.quantity) for line in order.lines]
    )
    event = (ev.InventoryReserved, {"reservation_id": order.order_id})
    appended = deps.store.append(order, deps.factory.next(order, [event], request.cause))
    metrics.add_metric(name="InventoryReserved", unit=MetricUnit.Count, value=1)
    return outcome(order, appended, reservation_id=order.order_id, created=reservation.created)


def record_reservation_failure(request: StepRequest, deps: InventoryDeps) -> dict[str, Any]:
    """Record why stock could not be reserved; the payment pipeline then refunds."""
    order = _load(request, deps)
    if order.has("InventoryReservationFailed") or order.status != Status.PAYMENT_CAPTURED:
        return outcome(order, duplicate=True)
    if _holds_reservation(order, deps):
        # The stock was reserved but its event never got stored (every append after the
        # transaction failed, or a racing delivery reserved it): record what happened, so
        # the order goes on holding it instead of being refunded with its stock leaked.
        event = (ev.InventoryReserved, {"reservation_id": order.order_id})
        appended = deps.store.append(order, deps.factory.next(order, [event], request.cause))
        return outcome(order, appended, reservation_id=order.order_id, recovered=True)
    reason = request.error.reason() if request.error else "reservation failed"
    match = _SKU_IN_MESSAGE.search(reason)
    event = (ev.InventoryReservationFailed, {"reason": reason, "sku": match and match.group(1)})
    appended = deps.store.append(order, deps.factory.next(order, [event], request.cause))
    metrics.add_metric(name="InventoryReservationFailed", unit=MetricUnit.Count, value=1)
    return outcome(order, appended, sku=match and match.group(1))


def _holds_reservation(order: Order, deps: InventoryDeps) -> bool:
    """Whether the inventory table holds a live reservation for the order."""
    held = deps.inventory.reservation(order.order_id)
    return held is not None and held.status == RESERVED


def _release_orphan(order: Order, deps: InventoryDeps) -> None:
    """A reservation the order never recorded (it moved on while this delivery's append
    lost the race) would hold its stock forever: give it back."""
    if not order.has("InventoryReserved") and _holds_reservation(order, deps):
        deps.inventory.release(order.order_id)


def release(request: StepRequest, deps: InventoryDeps) -> dict[str, Any]:
    """Compensation for a failed label: give the order's stock back exactly once."""
    order = _load(request, deps)
    if order.has("InventoryReleased"):
        return outcome(order, duplicate=True)
    if order.status != Status.COMPENSATING or not order.holds_stock:
        raise StepNotApplicable(f"order {order.order_id} holds no stock to release")
    return _settle(request, deps, order, deps.inventory.release, ev.InventoryReleased, "released")


def ship(request: StepRequest, deps: InventoryDeps) -> dict[str, Any]:
    """A confirmed order's reserved stock leaves the warehouse: reserved -> shipped, once."""
    order = _load(request, deps)
    if order.has("InventoryShipped"):
        return outcome(order, duplicate=True)
    if order.status != Status.CONFIRMED or order.reservation_id is None:
        raise StepNotApplicable(f"order {order.order_id} is {order.status}, not shippable")
    return _settle(request, deps, order, deps.inventory.ship, ev.InventoryShipped, "shipped")


def _settle(
    request: StepRequest,
    deps: InventoryDeps,
    order: Order,
    settle: Callable[[str], Any],
    kind: type[ev.Event],
    flag: str,
) -> dict[str, Any]:
    """Settle the order's reservation (released or shipped), then record that it was."""
    settle(order.order_id)
    event = (kind, {"reservation_id": order.reservation_id})
    appended = deps.store.append(order, deps.factory.next(order, [event], request.cause))
    metrics.add_metric(name=kind.__name__, unit=MetricUnit.Count, value=1)
    return outcome(order, appended, **{flag: True})


def record_compensation_failure(request: StepRequest, deps: InventoryDeps) -> dict[str, Any]:
    """Releasing stock failed for good: operations must act."""
    result = compensation.record_compensation_failure(
        request,
        step="release",
        store=deps.store,
        alerts=deps.alerts,
        factory=deps.factory,
        logger=logger,
    )
    metrics.add_metric(name="CompensationFailed", unit=MetricUnit.Count, value=1)
    return result


ACTIONS = {
    "reserve": reserve,
    "record_reservation_failure": record_reservation_failure,
    "release": release,
    "ship": ship,
    "record_compensation_failure": record_compensation_failure,
}


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return dispatch(event, wiring.get(), ACTIONS)
