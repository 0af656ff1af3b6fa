"""Shipping step handler: create the label, confirm the order, or record why it failed."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from pipeline.adapters.carrier import Carrier, S3Carrier
from pipeline.adapters.event_store import EventStore
from pipeline.domain.factory import EventFactory
from pipeline.domain.order import Order
from pipeline.domain.saga import Call, NoFacts, Step, decide
from pipeline.faults import Faults
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
            store=EventStore(aws_client(env, "dynamodb"), require(env, "EVENTS_TABLE")),
            carrier=S3Carrier(
                aws_client(env, "s3"), require(env, "LABELS_BUCKET"), carrier_availability(env, now)
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


@dataclass
class _Labels(NoFacts):
    """What the carrier knows of the order's label, asked when a rule needs it."""

    carrier: Carrier
    order_id: str

    def label_voided(self) -> bool:
        return self.carrier.voided(self.order_id)


def _step(request: StepRequest, deps: ShippingDeps, action: str) -> tuple[Order, Step]:
    order = load_order(deps.store, request, logger)
    return order, decide(order, action, facts=_Labels(deps.carrier, order.order_id))


def _carry_out(
    step: Step, order: Order, request: StepRequest, deps: ShippingDeps, fields: Fields
) -> tuple[list[Any], Any]:
    key, carrier = order.order_id, deps.carrier
    calls: dict[Call, Callable[[], Any]] = {
        Call.CREATE_LABEL: lambda: carrier.create_label(
            key, [(line.sku, line.quantity) for line in order.lines]
        ),
        Call.CANCEL_LABEL: lambda: carrier.cancel_label(key),  # idempotent
    }
    return carry_out(
        step, order, request, store=deps.store, factory=deps.factory, calls=calls, fields=fields
    )


def create_label(request: StepRequest, deps: ShippingDeps) -> dict[str, Any]:
    order, step = _step(request, deps, "create_label")
    appended, label = _carry_out(
        step,
        order,
        request,
        deps,
        lambda label: {
            "LabelCreated": {"tracking_number": label.tracking_number, "label_uri": label.label_uri}
        },
    )
    if not step.goes_ahead:
        return finished(order, step, tracking_number=order.tracking_number)
    metrics.add_metric(name="LabelCreated", unit=MetricUnit.Count, value=1)
    return outcome(order, appended, tracking_number=label.tracking_number)


def confirm(request: StepRequest, deps: ShippingDeps) -> dict[str, Any]:
    order, step = _step(request, deps, "confirm")
    appended, _ = _carry_out(step, order, request, deps, {"OrderConfirmed": {}})
    if not step.goes_ahead:
        return finished(order, step)
    metrics.add_metric(name="OrderConfirmed", unit=MetricUnit.Count, value=1)
    return outcome(order, appended, confirmed=True)


def cancel_label(request: StepRequest, deps: ShippingDeps) -> dict[str, Any]:
    """Void the carrier label before the order is compensated (idempotent, no event); never
    for a confirmed order."""
    order, step = _step(request, deps, "cancel_label")
    _, existed = _carry_out(step, order, request, deps, {})
    if step.skipped is not None:
        return outcome(order, voided=False, skipped=step.skipped)
    return outcome(order, voided=existed)


def record_label_failure(request: StepRequest, deps: ShippingDeps) -> dict[str, Any]:
    """No label: record it, which starts the compensation (release stock, then refund), then
    void any label the carrier made: one whose event was never stored too."""
    order, step = _step(request, deps, "record_label_failure")
    reason = request.error.reason() if request.error else "label failed"
    appended, _ = _carry_out(step, order, request, deps, {"LabelFailed": {"reason": reason}})
    if not step.goes_ahead:
        return finished(order, step)
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
