"""Inventory step handler: reserve every line of a paid order, release stock as compensation."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from pipeline.adapters.alerts import Alerts
from pipeline.adapters.event_store import EventStore
from pipeline.adapters.inventory import RESERVED, InventoryStore
from pipeline.domain.factory import EventFactory
from pipeline.domain.order import Order
from pipeline.domain.saga import Call, NoFacts, Step, decide
from pipeline.handlers import compensation
from pipeline.handlers.step_request import (
    Fields,
    StepRequest,
    carry_out,
    dispatch,
    finished,
    load_order,
    outcome,
)
from pipeline.handlers.wiring import Wiring, aws_client, require

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
        dynamodb = aws_client(env, "dynamodb")
        return cls(
            store=EventStore(dynamodb, require(env, "EVENTS_TABLE")),
            inventory=InventoryStore(dynamodb, require(env, "INVENTORY_TABLE")),
            alerts=Alerts(aws_client(env, "sns"), require(env, "ALERTS_TOPIC_ARN")),
            factory=EventFactory(),
        )


wiring = Wiring(InventoryDeps.from_env)


@dataclass
class _Reservations(NoFacts):
    """What the inventory table knows of the order's reservation, asked when a rule needs it."""

    inventory: InventoryStore
    order_id: str

    def reservation_held(self) -> bool:
        held = self.inventory.reservation(self.order_id)
        return held is not None and held.status == RESERVED


def _decide(order: Order, action: str, deps: InventoryDeps) -> Step:
    return decide(order, action, facts=_Reservations(deps.inventory, order.order_id))


def _carry_out(
    step: Step, order: Order, request: StepRequest, deps: InventoryDeps, fields: Fields
) -> tuple[list[Any], Any]:
    """Carry out an inventory step; its stock moves in one transaction per order."""
    key, inventory = order.order_id, deps.inventory
    calls: dict[Call, Callable[[], Any]] = {
        Call.RESERVE: lambda: inventory.reserve(
            key, [(line.sku, line.quantity) for line in order.lines]
        ),
        Call.RELEASE: lambda: inventory.release(key),
        Call.SHIP: lambda: inventory.ship(key),
    }
    return carry_out(
        step, order, request, store=deps.store, factory=deps.factory, calls=calls, fields=fields
    )


def reserve(request: StepRequest, deps: InventoryDeps) -> dict[str, Any]:
    """Reserve all lines in one transaction; OutOfStock/UnknownSku go to the state machine.
    A late delivery gives back a reservation the order never recorded."""
    order = load_order(deps.store, request, logger)
    step = _decide(order, "reserve", deps)
    reserved = {"InventoryReserved": {"reservation_id": order.order_id}}
    appended, reservation = _carry_out(step, order, request, deps, reserved)
    if not step.goes_ahead:
        return finished(order, step, reservation_id=order.reservation_id)
    metrics.add_metric(name="InventoryReserved", unit=MetricUnit.Count, value=1)
    return outcome(order, appended, reservation_id=order.order_id, created=reservation.created)


def record_reservation_failure(request: StepRequest, deps: InventoryDeps) -> dict[str, Any]:
    """Record why stock could not be reserved; the payment pipeline then refunds."""
    order = load_order(deps.store, request, logger)
    step = _decide(order, "record_reservation_failure", deps)
    reason = request.error.reason() if request.error else "reservation failed"
    match = _SKU_IN_MESSAGE.search(reason)
    sku = match and match.group(1)
    fields: dict[str, dict[str, Any]] = {
        "InventoryReserved": {"reservation_id": order.order_id},
        "InventoryReservationFailed": {"reason": reason, "sku": sku},
    }
    appended, _ = _carry_out(step, order, request, deps, fields)
    if not step.goes_ahead:
        return finished(order, step)
    if "InventoryReserved" in step.events:
        # The stock was reserved but its event never got stored (every append after the
        # transaction failed, or a racing delivery reserved it): recorded now, so the order
        # goes on holding it instead of being refunded with its stock leaked.
        return outcome(order, appended, reservation_id=order.order_id, recovered=True)
    metrics.add_metric(name="InventoryReservationFailed", unit=MetricUnit.Count, value=1)
    return outcome(order, appended, sku=sku)


def release(request: StepRequest, deps: InventoryDeps) -> dict[str, Any]:
    """Compensation for a failed label: give the order's stock back exactly once."""
    return _settle(request, deps, "release", "released")


def ship(request: StepRequest, deps: InventoryDeps) -> dict[str, Any]:
    """A confirmed order's reserved stock leaves the warehouse: reserved -> shipped, once."""
    return _settle(request, deps, "ship", "shipped")


def _settle(request: StepRequest, deps: InventoryDeps, action: str, flag: str) -> dict[str, Any]:
    """Settle the order's reservation (released or shipped), then record that it was."""
    order = load_order(deps.store, request, logger)
    step = _decide(order, action, deps)
    settled = {
        kind: {"reservation_id": order.reservation_id}
        for kind in ("InventoryReleased", "InventoryShipped")
    }
    appended, _ = _carry_out(step, order, request, deps, settled)
    if not step.goes_ahead:
        return finished(order, step)
    metrics.add_metric(name=step.events[0], unit=MetricUnit.Count, value=1)
    return outcome(order, appended, **{flag: True})


# Releasing stock failed for good: alert operations, record it.
record_compensation_failure = compensation.failure_recorder("release", logger, metrics)


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
