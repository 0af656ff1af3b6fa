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
from pipeline.domain.errors import StepNotApplicable
from pipeline.domain.factory import EventFactory
from pipeline.domain.order import Order, Status
from pipeline.handlers.step_request import StepRequest, dispatch
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
    rates = FakeGatewayRates(
        decline=float(env.get("FAKE_GATEWAY_DECLINE_RATE", "0")),
        error=float(env.get("FAKE_GATEWAY_ERROR_RATE", "0")),
    )
    return FakePaymentGateway(
        rates=rates, rng=random.Random(int(env.get("FAKE_GATEWAY_SEED", "0")))
    )


wiring = Wiring(PaymentDeps.from_env)


def _load(request: StepRequest, deps: PaymentDeps) -> Order:
    order = deps.store.load_order(request.order_id)
    if order.status is None:
        raise StepNotApplicable(f"order {request.order_id} does not exist")
    logger.append_keys(order_id=order.order_id, correlation_id=request.correlation_id)
    return order


def _require(order: Order, *allowed: Status) -> None:
    if order.status not in allowed:
        raise StepNotApplicable(f"order {order.order_id} is {order.status}, expected {allowed}")


def _outcome(order: Order, **extra: Any) -> dict[str, Any]:
    return {"order_id": order.order_id, "status": str(order.status), **extra}


def authorize(request: StepRequest, deps: PaymentDeps) -> dict[str, Any]:
    order = _load(request, deps)
    if order.has("PaymentAuthorized"):
        return _outcome(order, payment_id=order.payment_id, duplicate=True)
    _require(order, Status.PLACED)
    result = deps.gateway.authorize(f"{order.order_id}:authorize", order.total, order.currency)
    event = (ev.PaymentAuthorized, {"payment_id": result.payment_id, "amount": order.total})
    deps.store.append(order, deps.factory.next(order, [event], request.cause))
    metrics.add_metric(name="PaymentAuthorized", unit=MetricUnit.Count, value=1)
    return _outcome(order, payment_id=result.payment_id, amount=str(order.total))


def capture(request: StepRequest, deps: PaymentDeps) -> dict[str, Any]:
    order = _load(request, deps)
    if order.has("PaymentCaptured"):
        return _outcome(order, payment_id=order.payment_id, duplicate=True)
    _require(order, Status.PAYMENT_AUTHORIZED)
    assert order.payment_id is not None
    amount = order.authorized
    deps.gateway.capture(f"{order.order_id}:capture", order.payment_id, amount)
    event = (ev.PaymentCaptured, {"payment_id": order.payment_id, "amount": amount})
    deps.store.append(order, deps.factory.next(order, [event], request.cause))
    metrics.add_metric(name="PaymentCaptured", unit=MetricUnit.Count, value=1)
    return _outcome(order, payment_id=order.payment_id, amount=str(amount))


def record_decline(request: StepRequest, deps: PaymentDeps) -> dict[str, Any]:
    """The gateway declined: cancel the order (nothing was charged)."""
    order = _load(request, deps)
    if order.has("PaymentDeclined") or order.is_terminal:
        return _outcome(order, duplicate=True)
    reason = request.error.reason() if request.error else "payment declined"
    specs = [
        (ev.PaymentDeclined, {"reason": reason}),
        (ev.OrderCancelled, {"reason": "payment declined"}),
    ]
    deps.store.append(order, deps.factory.next(order, specs, request.cause))
    metrics.add_metric(name="PaymentDeclined", unit=MetricUnit.Count, value=1)
    return _outcome(order, cancelled=True)


def record_payment_failure(request: StepRequest, deps: PaymentDeps) -> dict[str, Any]:
    """Authorize or capture failed for good: reverse whatever the gateway did, then cancel."""
    order = _load(request, deps)
    if order.has("PaymentFailed") or order.is_terminal:
        return _outcome(order, duplicate=True)
    _require(order, Status.PLACED, Status.PAYMENT_AUTHORIZED)
    if order.payment_id:
        # A capture may have gone through with its response lost: void reverses it too.
        deps.gateway.void(f"{order.order_id}:void", order.payment_id)
    reason = request.error.reason() if request.error else "payment failed"
    specs = [
        (ev.PaymentFailed, {"reason": reason}),
        (ev.OrderCancelled, {"reason": "payment failed"}),
    ]
    deps.store.append(order, deps.factory.next(order, specs, request.cause))
    metrics.add_metric(name="PaymentFailed", unit=MetricUnit.Count, value=1)
    return _outcome(order, cancelled=True)


def refund(request: StepRequest, deps: PaymentDeps) -> dict[str, Any]:
    """Compensation: return the captured money and, once nothing is held, cancel the order."""
    order = _load(request, deps)
    if order.has("PaymentRefunded") or order.status == Status.CANCELLED:
        return _outcome(order, duplicate=True)
    _require(order, Status.COMPENSATING)
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
    deps.store.append(order, deps.factory.next(order, specs, request.cause))
    metrics.add_metric(name="PaymentRefunded", unit=MetricUnit.Count, value=1)
    return _outcome(order, refunded=str(amount))


def record_compensation_failure(request: StepRequest, deps: PaymentDeps) -> dict[str, Any]:
    """The refund failed for good: alert operations (at least once), then record it."""
    order = _load(request, deps)
    if order.has("CompensationFailed"):
        return _outcome(order, duplicate=True)
    _require(order, Status.COMPENSATING)
    reason = request.error.reason() if request.error else "refund failed"
    # Alert before appending: a crash in between re-alerts on retry rather than never alerting.
    deps.alerts.publish(
        f"Refund failed for order {order.order_id}",
        {
            "order_id": order.order_id,
            "step": "refund",
            "reason": reason,
            "amount": str(order.refundable),
        },
    )
    event = (ev.CompensationFailed, {"step": "refund", "reason": reason})
    deps.store.append(order, deps.factory.next(order, [event], request.cause))
    metrics.add_metric(name="CompensationFailed", unit=MetricUnit.Count, value=1)
    return _outcome(order, alerted=True)


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
