"""The step handlers carry out the saga's decisions (``pipeline.domain.saga``): on every status
an order can be in, each action appends the event types its rule decides, or raises its error.

Each order is walked to its status by the real handlers against moto, then one more action
runs through the real handler, and its rule decides on the same state, the dependencies'
answers read from them (the reservation record, the label).
"""

from __future__ import annotations

import random

import pytest
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
from factories import make_factory, place_order, put_stock

from pipeline.adapters.alerts import Alerts
from pipeline.adapters.carrier import S3Carrier
from pipeline.adapters.event_store import EventStore
from pipeline.adapters.inventory import RESERVED, InventoryStore
from pipeline.adapters.notifier import SnsNotifier
from pipeline.adapters.payment_gateway import FakePaymentGateway
from pipeline.domain.errors import PipelineError
from pipeline.domain.order import TRANSITIONS
from pipeline.domain.saga import NoFacts, decide
from pipeline.handlers import inventory, notification, payment, shipping
from pipeline.handlers.step_request import StepRequest
from pipeline.local.lambda_context import LambdaContext

pytestmark = pytest.mark.system  # every action on every status through moto-backed handlers: long

ERROR = {"Error": "States.TaskFailed", "Cause": "simulated"}
# How an order reaches each status, as the state machines would drive it.
PATHS = {
    "placed": [],
    "authorized": [("payment", "authorize")],
    "captured": [("payment", "authorize"), ("payment", "capture")],
    "reserved": [("payment", "authorize"), ("payment", "capture"), ("inventory", "reserve")],
    "labelled": [
        ("payment", "authorize"),
        ("payment", "capture"),
        ("inventory", "reserve"),
        ("shipping", "create_label"),
    ],
    "confirmed": [
        ("payment", "authorize"),
        ("payment", "capture"),
        ("inventory", "reserve"),
        ("shipping", "create_label"),
        ("shipping", "confirm"),
    ],
    "reservation-failed": [
        ("payment", "authorize"),
        ("payment", "capture"),
        ("inventory", "record_reservation_failure"),
    ],
    "refunded-cancelled": [
        ("payment", "authorize"),
        ("payment", "capture"),
        ("inventory", "record_reservation_failure"),
        ("payment", "refund"),
    ],
    "label-failed": [
        ("payment", "authorize"),
        ("payment", "capture"),
        ("inventory", "reserve"),
        ("shipping", "record_label_failure"),
    ],
    "declined": [("payment", "record_decline")],
}
ACTIONS = [
    ("payment", "authorize", None),
    ("payment", "capture", None),
    ("payment", "record_decline", None),
    ("payment", "record_payment_failure", None),
    ("payment", "refund", None),
    ("payment", "record_compensation_failure", None),
    ("inventory", "reserve", None),
    ("inventory", "record_reservation_failure", None),
    ("inventory", "release", None),
    ("inventory", "ship", None),
    ("inventory", "record_compensation_failure", None),
    ("shipping", "create_label", None),
    ("shipping", "confirm", None),
    ("shipping", "record_label_failure", None),
    ("notification", "notify", "OrderConfirmed"),
    ("notification", "notify", "OrderCancelled"),
]
MODULES = {
    "payment": payment,
    "inventory": inventory,
    "shipping": shipping,
    "notification": notification,
}


@pytest.fixture
def handlers(aws, stack):
    dynamodb = aws.client("dynamodb")
    store = EventStore(dynamodb, stack.ref("EventsTable"))
    alerts = Alerts(aws.client("sns"), stack.ref("AlertsTopic"))
    put_stock(dynamodb, stack.ref("InventoryTable"), "SKU-1", 1_000)
    deps = {
        "payment": payment.PaymentDeps(
            store, FakePaymentGateway(rng=random.Random(1)), alerts, make_factory("pay")
        ),
        "inventory": inventory.InventoryDeps(
            store,
            InventoryStore(dynamodb, stack.ref("InventoryTable")),
            alerts,
            make_factory("inv"),
        ),
        "shipping": shipping.ShippingDeps(
            store, S3Carrier(aws.client("s3"), stack.ref("LabelsBucket")), make_factory("shp")
        ),
        "notification": notification.NotificationDeps(
            store,
            SnsNotifier(aws.client("sns"), stack.ref("CustomerNotificationsTopic")),
            DynamoDBPersistenceLayer(
                table_name=stack.ref("IdempotencyTable"), boto3_client=dynamodb
            ),
            make_factory("ntf"),
        ),
    }
    # The actions are called without their lambda_handler, which registers the invocation's
    # context: in-progress idempotency records expire with the function's timeout.
    deps["notification"].config.register_lambda_context(LambdaContext("NotificationFunction"))
    yield store, deps


def run(deps, module: str, action: str, order_id: str, kind: str | None) -> str | None:
    """The real handler's action; the error's name if it raised one."""
    request = StepRequest(
        action=action,
        order_id=order_id,
        causation_id="evt-1",
        correlation_id="corr-1",
        error=ERROR if action.startswith("record_") else None,
        kind=kind,
    )
    try:
        MODULES[module].ACTIONS[action](request, deps[module])
    except PipelineError as error:
        return error.name
    return None


class Answers(NoFacts):
    """What the dependencies say of the order, read from them."""

    def __init__(self, deps, order_id: str) -> None:
        self.deps, self.order_id = deps, order_id

    def reservation_held(self) -> bool:
        held = self.deps["inventory"].inventory.reservation(self.order_id)
        return held is not None and held.status == RESERVED

    def label_voided(self) -> bool:
        return self.deps["shipping"].carrier.voided(self.order_id)


def forbidden(status, events: tuple[str, ...]) -> bool:
    """Whether the lifecycle refuses ``events`` after ``status``."""
    for event in events:
        status = TRANSITIONS.get((status, event))
        if status is None:
            return True
    return False


def decided(store, deps, action: str, order_id: str, kind: str | None):
    """(error name or None, event types) the rule decides on the stored order."""
    order = store.load_order(order_id)
    try:
        step = decide(order, action, kind, Answers(deps, order_id))
    except PipelineError as error:
        return error.name, ()
    return None, step.events


def test_every_action_on_every_status_carries_out_its_rule(handlers):
    store, deps = handlers
    disagreements, checked = [], 0
    for path_name, path in PATHS.items():
        for module, action, kind in ACTIONS:
            order_id = f"{path_name}-{module}-{action}-{kind or 'x'}"
            place_order(store, order_id=order_id, lines=(("SKU-1", 2, "10.00"),))
            for step_module, step_action in path:
                assert run(deps, step_module, step_action, order_id, None) is None, (
                    path_name,
                    step_action,
                )
            before = store.load_order(order_id)
            rule = decided(store, deps, action, order_id, kind)
            error = run(deps, module, action, order_id, kind)
            appended = tuple(e.type for e in store.load(order_id)[before.version :])
            real = (error, appended if error is None else ())
            if error == "InvalidTransition" and forbidden(before.status, rule[1]):
                real = (None, rule[1])  # the store refused what the rule decided, as it must
            checked += 1
            if rule != real:
                disagreements.append(f"{path_name} + {action}({kind}): rule {rule}, handler {real}")
    assert checked == len(PATHS) * len(ACTIONS)
    assert not disagreements, "\n".join(disagreements)
