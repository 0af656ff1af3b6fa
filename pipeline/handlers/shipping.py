"""Shipping step handler: create the label, confirm the order, or record why it failed."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from pipeline.adapters.carrier import Carrier, S3Carrier
from pipeline.adapters.event_store import EventStore
from pipeline.domain import events as ev
from pipeline.domain.factory import EventFactory
from pipeline.domain.order import Order, Status
from pipeline.faults import Faults
from pipeline.handlers.step_request import (
    StepRequest,
    applies,
    dispatch,
    load_order,
    outcome,
    skipped,
)
from pipeline.handlers.wiring import Wiring, require

logger = Logger(service="shipping")
tracer = Tracer(service="shipping")
metrics = Metrics(service="shipping")


@dataclass
class ShippingDeps:
    store: EventStore
    carrier: Carrier
    factory: EventFactory

    @classmethod
    def from_env(
        cls, env: Mapping[str, str], now: Callable[[], float] = time.monotonic
    ) -> ShippingDeps:
        return cls(
            store=EventStore(boto3.client("dynamodb"), require(env, "EVENTS_TABLE")),
            carrier=S3Carrier(
                boto3.client("s3"), require(env, "LABELS_BUCKET"), carrier_availability(env, now)
            ),
            factory=EventFactory(),
        )


def carrier_availability(
    env: Mapping[str, str], now: Callable[[], float] = time.monotonic
) -> Callable[[], bool] | None:
    """Injected carrier outages for local runs, else None: the environment's
    :class:`~pipeline.faults.Faults` ``carrier_failure_rate`` (each call fails with that
    probability, seeded) and ``carrier_outage_s`` (the carrier is down for that many seconds
    from the first label request, on the ``now`` clock)."""
    faults = Faults.from_environment(env)
    rate, outage_s = faults.carrier_failure_rate, faults.carrier_outage_s
    if not rate and not outage_s:
        return None
    rng = random.Random(faults.carrier_seed)
    began: list[float] = []

    def available() -> bool:
        if not began:
            began.append(now())
        if now() - began[0] < outage_s:
            return False
        return rng.random() >= rate

    return available


wiring = Wiring(ShippingDeps.from_env)


def _load(request: StepRequest, deps: ShippingDeps) -> Order:
    return load_order(deps.store, request, logger)


def create_label(request: StepRequest, deps: ShippingDeps) -> dict[str, Any]:
    order = _load(request, deps)
    if order.has("LabelCreated"):
        return outcome(order, tracking_number=order.tracking_number, duplicate=True)
    if not applies(order, Status.INVENTORY_RESERVED):
        return skipped(order)
    label = deps.carrier.create_label(
        order.order_id, [(line.sku, line.quantity) for line in order.lines]
    )
    event = (
        ev.LabelCreated,
        {"tracking_number": label.tracking_number, "label_uri": label.label_uri},
    )
    appended = deps.store.append(order, deps.factory.next(order, [event], request.cause))
    metrics.add_metric(name="LabelCreated", unit=MetricUnit.Count, value=1)
    return outcome(order, appended, tracking_number=label.tracking_number)


def confirm(request: StepRequest, deps: ShippingDeps) -> dict[str, Any]:
    order = _load(request, deps)
    if order.has("OrderConfirmed"):
        return outcome(order, duplicate=True)
    if not applies(order, Status.LABEL_CREATED):
        return skipped(order)
    if deps.carrier.voided(order.order_id):
        # Another execution gave up on this order's confirmation and voided its label; its
        # LabelFailed follows. A confirmation now would ship with a void label.
        return outcome(order, duplicate=True, skipped="label voided")
    appended = deps.store.append(
        order, deps.factory.next(order, [(ev.OrderConfirmed, {})], request.cause)
    )
    metrics.add_metric(name="OrderConfirmed", unit=MetricUnit.Count, value=1)
    return outcome(order, appended, confirmed=True)


def cancel_label(request: StepRequest, deps: ShippingDeps) -> dict[str, Any]:
    """Void the carrier label before the order is compensated (idempotent, no event).

    Never for a confirmed order: a confirmation whose task timed out after it was stored (or
    a duplicate execution's) comes here through the Catch, and that order ships."""
    order = _load(request, deps)
    if order.has("OrderConfirmed"):
        return outcome(order, voided=False, skipped="order is confirmed")
    existed = deps.carrier.cancel_label(order.order_id)
    return outcome(order, voided=existed)


def record_label_failure(request: StepRequest, deps: ShippingDeps) -> dict[str, Any]:
    """No label: record it, which starts the compensation (release stock, then refund)."""
    order = _load(request, deps)
    if order.has("LabelFailed"):
        deps.carrier.cancel_label(order.order_id)  # finish a void cut short
        return outcome(order, duplicate=True)
    if not applies(order, Status.INVENTORY_RESERVED, Status.LABEL_CREATED):
        return skipped(order)
    reason = request.error.reason() if request.error else "label failed"
    event = (ev.LabelFailed, {"reason": reason})
    appended = deps.store.append(order, deps.factory.next(order, [event], request.cause))
    # Recorded first (conditional on the version, so a racing confirmation wins or loses
    # cleanly), then void any label the carrier made: one whose event was never stored too.
    deps.carrier.cancel_label(order.order_id)
    metrics.add_metric(name="LabelFailed", unit=MetricUnit.Count, value=1)
    return outcome(order, appended, failed=True)


ACTIONS = {
    "create_label": create_label,
    "confirm": confirm,
    "cancel_label": cancel_label,
    "record_label_failure": record_label_failure,
}


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return dispatch(event, wiring.get(), ACTIONS)
