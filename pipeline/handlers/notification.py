"""Notification step handler: tell the customer once, even if told to twice.

Publishing to SNS is not idempotent, so the send runs under aws-lambda-powertools
Idempotency keyed by (order, kind): a redelivery, or a retry after the event append failed,
gets the first send's message id back instead of a second message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.idempotency import (
    BasePersistenceLayer,
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyPersistenceLayerError,
)

from pipeline.adapters.event_store import EventStore
from pipeline.adapters.notifier import Notifier, SnsNotifier
from pipeline.domain.errors import NotifierUnavailable
from pipeline.domain.factory import EventFactory
from pipeline.domain.order import Order
from pipeline.domain.saga import Call, decide, notice_status
from pipeline.handlers.step_request import StepRequest, carry_out, dispatch
from pipeline.handlers.wiring import Wiring, aws_client, require

logger = Logger(service="notification")
tracer = Tracer(service="notification")
metrics = Metrics(service="notification")

# Long enough to cover every retry of the notification state machine (about 2 minutes).
IDEMPOTENCY_WINDOW_S = 24 * 3600


@dataclass
class NotificationDeps:
    store: EventStore
    notifier: Notifier
    persistence: BasePersistenceLayer
    factory: EventFactory
    config: IdempotencyConfig = field(
        default_factory=lambda: IdempotencyConfig(expires_after_seconds=IDEMPOTENCY_WINDOW_S)
    )

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> NotificationDeps:
        dynamodb = aws_client(env, "dynamodb")
        return cls(
            store=EventStore(dynamodb, require(env, "EVENTS_TABLE")),
            notifier=SnsNotifier(aws_client(env, "sns"), require(env, "NOTIFICATIONS_TOPIC_ARN")),
            persistence=DynamoDBPersistenceLayer(
                table_name=require(env, "IDEMPOTENCY_TABLE"), boto3_client=dynamodb
            ),
            factory=EventFactory(),
        )


wiring = Wiring(NotificationDeps.from_env)


def _send_once(deps: NotificationDeps, order: Order, kind: str) -> str:
    """Send under the idempotency record for (order, kind); returns the message id."""

    @idempotent_function(
        data_keyword_argument="notice",
        persistence_store=deps.persistence,
        config=deps.config,
        key_prefix="notification",
    )
    def send(notice: dict[str, Any]) -> dict[str, Any]:
        message = {"status": notice["status"], "total": notice["total"]}
        message_id = deps.notifier.send(
            notice["order_id"], notice["customer_id"], notice["kind"], message
        )
        return {"message_id": message_id}

    notice = {
        "order_id": order.order_id,
        "customer_id": order.customer_id,
        "kind": kind,
        "status": str(order.status),
        "total": str(order.total),
    }
    try:
        return send(notice=notice)["message_id"]
    except IdempotencyAlreadyInProgressError as error:
        # Another delivery is sending right now: retry later, it will find the result.
        raise NotifierUnavailable("notification already in progress") from error
    except IdempotencyPersistenceLayerError as error:
        # The idempotency table was throttled or failed: nothing was sent; retry later.
        raise NotifierUnavailable("idempotency store unavailable") from error


def notify(request: StepRequest, deps: NotificationDeps) -> dict[str, Any]:
    kind = request.kind
    notice_status(kind)  # a kind the pipeline does not send is refused before any read
    assert kind is not None
    order = deps.store.load_order(request.order_id)
    logger.append_keys(order_id=order.order_id, correlation_id=request.correlation_id)
    step = decide(order, "notify", kind)
    _, message_id = carry_out(
        step,
        order,
        request,
        store=deps.store,
        factory=deps.factory,
        calls={Call.NOTIFY: lambda: _send_once(deps, order, kind)},
        fields=lambda message_id: {"CustomerNotified": {"kind": kind, "message_id": message_id}},
    )
    if not step.goes_ahead:
        return {"order_id": order.order_id, "kind": kind, "duplicate": True}
    metrics.add_metric(name="CustomerNotified", unit=MetricUnit.Count, value=1)
    return {"order_id": order.order_id, "kind": kind, "message_id": message_id}


ACTIONS = {"notify": notify}


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    deps = wiring.get()
    deps.config.register_lambda_context(context)  # in-progress records expire with the timeout
    return dispatch(event, deps, ACTIONS)
