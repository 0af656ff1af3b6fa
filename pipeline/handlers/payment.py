"""Payment step handler: authorize, capture, refund, and record their failures.

Each action loads the order, returns the recorded result if its event is already there
(duplicate delivery), calls the gateway with a per-order idempotency key, and appends the
event. A crash between the gateway call and the append is safe: the retry replays the
gateway's recorded result instead of charging again.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from pipeline.adapters.alerts import Alerts
from pipeline.adapters.event_store import EventStore
from pipeline.adapters.payment_gateway import FakeGatewayRates, FakePaymentGateway, PaymentGateway
from pipeline.domain import events as ev
from pipeline.domain.factory import EventFactory
from pipeline.domain.order import Order, Status
from pipeline.faults import Faults
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

logger = Logger(service="payment")
tracer = Tracer(service="payment")
metrics = Metrics(service="payment")


@dataclass
class PaymentDeps:
    store: EventStore
    gateway: PaymentGateway
    alerts: Alerts
    factory: EventFactory

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> PaymentDeps:
        return cls(
            store=EventStore(boto3.client("dynamodb"), require(env, "EVENTS_TABLE")),
            gateway=gateway_from_env(env),
            alerts=Alerts(boto3.client("sns"), require(env, "ALERTS_TOPIC_ARN")),
            factory=EventFactory(),
        )


def gateway_from_env(env: Mapping[str, str]) -> PaymentGateway:
    """The gateway the template selects; only the fake is built in (plug a real one here)."""
    kind = env.get("PAYMENT_GATEWAY", "fake")
    if kind != "fake":
        raise RuntimeError(f"PAYMENT_GATEWAY={kind!r}: only 'fake' is built in")
    faults = Faults.from_environment(env)  # injected by the local runtime; none in AWS
    rates = FakeGatewayRates(
        decline=faults.gateway_decline_rate,
        error=faults.gateway_error_rate,
        lost_response=faults.gateway_timeout_rate,
        refund_error=faults.gateway_refund_error_rate,
    )
    return FakePaymentGateway(rates=rates, rng=random.Random(faults.gateway_seed))


wiring = Wiring(PaymentDeps.from_env)


def _load(request: StepRequest, deps: PaymentDeps) -> Order:
    return load_order(deps.store, request, logger)


def authorize(request: StepRequest, deps: PaymentDeps) -> dict[str, Any]:
    order = _load(request, deps)
    if order.has("PaymentAuthorized"):
        return outcome(order, payment_id=order.payment_id, duplicate=True)
    if not applies(order, Status.PLACED):
        return skipped(order)
    result = deps.gateway.authorize(f"{order.order_id}:authorize", order.total, order.currency)
    event = (ev.PaymentAuthorized, {"payment_id": result.payment_id, "amount": order.total})
    appended = deps.store.append(order, deps.factory.next(order, [event], request.cause))
    metrics.add_metric(name="PaymentAuthorized", unit=MetricUnit.Count, value=1)
    return outcome(order, appended, payment_id=result.payment_id, amount=str(order.total))


def capture(request: StepRequest, deps: PaymentDeps) -> dict[str, Any]:
    order = _load(request, deps)
    if order.has("PaymentCaptured"):
        return outcome(order, payment_id=order.payment_id, duplicate=True)
    if not applies(order, Status.PAYMENT_AUTHORIZED):
        return skipped(order)
    assert order.payment_id is not None
    amount = order.authorized
    deps.gateway.capture(f"{order.order_id}:capture", order.payment_id, amount)
    event = (ev.PaymentCaptured, {"payment_id": order.payment_id, "amount": amount})
    appended = deps.store.append(order, deps.factory.next(order, [event], request.cause))
    metrics.add_metric(name="PaymentCaptured", unit=MetricUnit.Count, value=1)
    return outcome(order, appended, payment_id=order.payment_id, amount=str(amount))


def _cancel(
    order: Order, request: StepRequest, deps: PaymentDeps, failure: type[ev.Event], what: str
) -> dict[str, Any]:
    """Record why payment ended and cancel the order, in one append."""
    reason = request.error.reason() if request.error else what
    specs = [(failure, {"reason": reason}), (ev.OrderCancelled, {"reason": what})]
    appended = deps.store.append(order, deps.factory.next(order, specs, request.cause))
    metrics.add_metric(name=failure.__name__, unit=MetricUnit.Count, value=1)
    return outcome(order, appended, cancelled=True)


def record_decline(request: StepRequest, deps: PaymentDeps) -> dict[str, Any]:
    """The gateway declined: cancel the order (nothing was charged)."""
    order = _load(request, deps)
    if order.has("PaymentDeclined") or order.is_terminal:
        return outcome(order, duplicate=True)
    return _cancel(order, request, deps, ev.PaymentDeclined, "payment declined")


def record_payment_failure(request: StepRequest, deps: PaymentDeps) -> dict[str, Any]:
    """Authorize or capture failed for good: cancel the order, then reverse whatever the
    gateway did. The cancellation comes first because its append is conditional on the
    order's version: a duplicate execution whose capture succeeded meanwhile makes it fail
    (ConcurrencyConflict, then a no-op), where voiding first would have reversed the money
    of an order that goes on to be confirmed. A void interrupted after the append is
    finished by the retry (the void is idempotent by its key)."""
    order = _load(request, deps)
    if order.has("PaymentFailed"):
        _void(order, deps)
        return outcome(order, duplicate=True)
    if order.is_terminal:
        return outcome(order, duplicate=True)
    if not applies(order, Status.PLACED, Status.PAYMENT_AUTHORIZED):
        return skipped(order)
    result = _cancel(order, request, deps, ev.PaymentFailed, "payment failed")
    _void(order, deps)
    return result


def _void(order: Order, deps: PaymentDeps) -> None:
    """Release the authorization; a capture whose response was lost is reversed too."""
    if order.payment_id:
        deps.gateway.void(f"{order.order_id}:void", order.payment_id)


def refund(request: StepRequest, deps: PaymentDeps) -> dict[str, Any]:
    """Compensation: return the captured money and, once nothing is held, cancel the order."""
    order = _load(request, deps)
    if order.has("PaymentRefunded") or order.status == Status.CANCELLED:
        return outcome(order, duplicate=True)
    if not applies(order, Status.COMPENSATING):
        return skipped(order)
    specs: list[tuple[type[ev.Event], dict[str, Any]]] = []
    amount = order.refundable
    if amount > 0:
        assert order.payment_id is not None
        deps.gateway.refund(f"{order.order_id}:refund", order.payment_id, amount)
        specs.append(
            (ev.PaymentRefunded, {"refund_id": f"{order.payment_id}:refund", "amount": amount})
        )
    if not order.holds_stock:
        specs.append((ev.OrderCancelled, {"reason": order.failure_reason or "compensated"}))
    appended = deps.store.append(order, deps.factory.next(order, specs, request.cause))
    metrics.add_metric(name="PaymentRefunded", unit=MetricUnit.Count, value=1)
    return outcome(order, appended, refunded=str(amount))


def record_compensation_failure(request: StepRequest, deps: PaymentDeps) -> dict[str, Any]:
    """The refund failed for good: operations must act."""
    result = compensation.record_compensation_failure(
        request,
        step="refund",
        store=deps.store,
        alerts=deps.alerts,
        factory=deps.factory,
        logger=logger,
    )
    metrics.add_metric(name="CompensationFailed", unit=MetricUnit.Count, value=1)
    return result


ACTIONS = {
    "authorize": authorize,
    "capture": capture,
    "record_decline": record_decline,
    "record_payment_failure": record_payment_failure,
    "refund": refund,
    "record_compensation_failure": record_compensation_failure,
}


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return dispatch(event, wiring.get(), ACTIONS)
