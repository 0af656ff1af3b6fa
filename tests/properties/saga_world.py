"""A saga world for property tests: the real step handlers, run by the real state machines
(``pipeline.asl``, task by task), against in-process moto, with faults chosen by hypothesis.

What runs is what the cloud runs: every stored event is relayed (as the stream processor
does) to the state machines whose rule matches its type (``infra/template.yaml``), each
delivery starts an :class:`ExecutionRun` of the ASL definition, and every Task is the
handler's action called through ``dispatch`` exactly as its Lambda calls it. Retry and Catch
are the definitions' own. Hypothesis owns the schedule: which pending delivery starts next
(and whether it is delivered twice), which live execution runs its next task, and which fault
that task meets:

* ``throttle``  Lambda throttles the invocation (the handler never runs);
* ``timeout``   the handler finishes its work, then the task times out (States.Timeout);
* ``dep``       the step's dependency fails transiently: the fake gateway's error knob, the
                carrier's availability, a throttled DynamoDB inventory/event-store call, an
                SNS publish (notifications, alerts);
* ``lost``      the gateway performs the operation and the response is lost (its
                lost_response knob);
* ``append``    the handler's first event-store write is throttled, after its side effects;
* ``race``      just before the handler's first event-store write, another live execution's
                pending task runs to completion (two deliveries racing on one order).

A fault is injected only while the task's Retry policy still has an attempt left for it,
except for an *outage*: every attempt of one state in one execution fails the same way, so
the Catch path runs. Outages are drawn only for the states whose Catch compensates (the
forward steps, and Refund/Release, whose exhaustion is an injected compensation failure).
After the chaotic prefix the world drains without new faults, FIFO, until nothing is
pending, as the bus and the state machines eventually would.
"""

from __future__ import annotations

import importlib
import json
import random
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
from botocore.exceptions import ClientError
from factories import TickingClock, counter_ids, place_order, put_stock
from hypothesis import strategies as st

from pipeline.adapters.alerts import Alerts
from pipeline.adapters.carrier import S3Carrier
from pipeline.adapters.dynamo import from_item
from pipeline.adapters.event_store import EventStore
from pipeline.adapters.inventory import InventoryStore, reservation_key, stock_key
from pipeline.adapters.notifier import SnsNotifier
from pipeline.adapters.payment_gateway import FakeGatewayRates, FakePaymentGateway
from pipeline.asl import ExecutionRun, Invoke, TaskFailed, VirtualClock
from pipeline.asl import errors as asl_errors
from pipeline.asl.execution import lambda_style_error
from pipeline.domain import bus
from pipeline.domain import errors as domain_errors
from pipeline.domain.errors import PipelineError
from pipeline.domain.factory import EventFactory
from pipeline.handlers import inventory, notification, payment, shipping
from pipeline.handlers.step_request import dispatch
from pipeline.local.lambda_context import LambdaContext
from pipeline.local.provision import provision
from pipeline.template import STATE_MACHINE_TYPES, Template, task_functions

MODULES = {
    "pipeline.handlers.payment": payment,
    "pipeline.handlers.inventory": inventory,
    "pipeline.handlers.shipping": shipping,
    "pipeline.handlers.notification": notification,
}
# The states whose Catch leads to a compensation: an outage there is a business outcome.
OUTAGE_STATES = {
    "Authorize",
    "Capture",
    "Reserve",
    "CreateLabel",
    "ConfirmOrder",
    "Refund",
    "Release",
}
COMPENSATION_STATES = {"Refund", "Release"}
GATEWAY_ACTIONS = {"authorize", "capture", "refund", "record_payment_failure"}
# Executions may end in these Fail states: each follows a recorded business outcome.
EXPECTED_FAILURES = {"PaymentFailed", "ReservationFailed", "LabelFailed", "CompensationFailed"}
THROTTLE = "ProvisionedThroughputExceededException"
WRITES = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems"}


def canonical_error(kind: str, action: str) -> str:
    """The error a fault of ``kind`` makes the task fail with (when it bites)."""
    if kind == "throttle":
        return "Lambda.TooManyRequestsException"
    if kind == "timeout":
        return asl_errors.TIMEOUT
    if kind == "race":
        return "ConcurrencyConflict"
    if kind == "lost" or (kind == "dep" and action in GATEWAY_ACTIONS):
        return "GatewayUnavailable"
    if kind == "dep" and action in ("reserve", "release", "ship"):
        return "InventoryUnavailable"
    if kind == "dep" and action == "create_label":
        return "CarrierUnavailable"
    if kind == "dep" and action in ("notify", "record_compensation_failure"):
        return "NotifierUnavailable"
    return "StoreUnavailable"


def fault_kinds(action: str) -> list[str]:
    kinds = ["throttle", "timeout", "dep"]
    if action in GATEWAY_ACTIONS:
        kinds.append("lost")
    if action != "cancel_label":
        kinds += ["append", "race"]
    return kinds


@dataclass
class Armed:
    """One-shot faults for the invocation in progress, read by the botocore hooks."""

    fail_tables: set[str] = field(default_factory=set)
    fail_topics: set[str] = field(default_factory=set)
    fail_append: bool = False
    race: Callable[[], None] | None = None


class Cloud:
    """One moto account for a whole test: clients with fault hooks, the template's machines."""

    def __init__(self, session: Any, template: Template) -> None:
        self.session, self.template = session, template
        self.dynamodb = session.client("dynamodb")
        self.sns = session.client("sns")
        self.s3 = session.client("s3")
        self.world: World | None = None
        self.dynamodb.meta.events.register("before-parameter-build.dynamodb", self._on_dynamodb)
        self.sns.meta.events.register("before-parameter-build.sns.Publish", self._on_publish)
        self.s3.meta.events.register("before-parameter-build.s3.PutObject", self._on_put_object)
        self.rules = template.rule_targets()
        machines = [m for m, _ in template.of_type(*STATE_MACHINE_TYPES)]  # the variant's
        self.definitions = {m: template.state_machine_definition(m) for m in machines}
        self.resources: dict[str, Any] = {}
        for machine in machines:
            for placeholder, function in task_functions(template, machine).items():
                handler = template.properties(function)["Handler"]
                module = importlib.import_module(handler.rpartition(".")[0])
                self.resources[placeholder] = MODULES[module.__name__]

    @staticmethod
    def _tables(operation: str, params: dict[str, Any]) -> set[str]:
        if operation == "TransactWriteItems":
            return {
                next(iter(item.values()))["TableName"] for item in params.get("TransactItems", [])
            }
        return {params.get("TableName", "")}

    def _on_dynamodb(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        world = self.world
        if world is None or world.armed is None:
            return
        armed, operation = world.armed, model.name
        tables = self._tables(operation, params)
        if operation in WRITES and world.events_table in tables:
            if armed.race is not None:
                race, armed.race = armed.race, None
                race()
            if armed.fail_append:
                armed.fail_append = False
                raise ClientError({"Error": {"Code": THROTTLE, "Message": "injected"}}, operation)
        hit = tables & armed.fail_tables
        if hit:
            armed.fail_tables -= hit
            raise ClientError({"Error": {"Code": THROTTLE, "Message": "injected"}}, operation)

    def _on_publish(self, params: dict[str, Any], **_: Any) -> None:
        world = self.world
        if world is None:
            return
        topic = params.get("TopicArn")
        if world.armed is not None and topic in world.armed.fail_topics:
            world.armed.fail_topics.discard(topic)
            raise ClientError({"Error": {"Code": "Throttling", "Message": "injected"}}, "Publish")
        world.published.append((topic, json.loads(params["Message"])))

    def _on_put_object(self, params: dict[str, Any], **_: Any) -> None:
        if self.world is not None:
            self.world.label_puts[params["Key"]] += 1


@dataclass
class Live:
    """A running execution and the task it waits to run (None once it ended)."""

    number: int
    machine: str
    order_id: str
    event_type: str
    run: ExecutionRun
    effect: Invoke | None = None
    failures: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    outages: dict[str, str] = field(default_factory=dict)


@dataclass
class Delivery:
    machine: str
    envelope: dict[str, Any]
    order_id: str
    event_type: str
    extra_copies: int = 0


@dataclass(frozen=True)
class OrderSpec:
    order_id: str
    lines: tuple[tuple[str, int, str], ...]  # (sku, quantity, unit price)
    declined: bool


@dataclass(frozen=True)
class Scenario:
    stock: dict[str, int]
    orders: tuple[OrderSpec, ...]


SKUS = ("SKU-A", "SKU-B")


@st.composite
def scenarios(draw: Any, max_orders: int = 3) -> Scenario:
    """A few orders on few SKUs with little stock, so reservations contend."""
    stock = {sku: draw(st.integers(0, 4), label=f"stock {sku}") for sku in SKUS}
    n = draw(st.integers(1, max_orders), label="orders")
    orders = []
    for i in range(1, n + 1):
        skus = draw(st.lists(st.sampled_from(SKUS), min_size=1, max_size=2, unique=True))
        lines = tuple(
            (sku, draw(st.integers(1, 3)), draw(st.sampled_from(["5.00", "12.50"]))) for sku in skus
        )
        declined = draw(st.integers(0, 5)) == 0
        orders.append(OrderSpec(f"o{i}", lines, declined))
    return Scenario(stock, tuple(orders))


class World:
    """One example: a fresh stack, the handlers' dependencies, and the schedule's state."""

    def __init__(self, cloud: Cloud, number: int, scenario: Scenario, data: Any) -> None:
        self.cloud, self.data, self.scenario = cloud, data, scenario
        stack = provision(cloud.template, cloud.session, stack_name=f"prop{number}")
        self.events_table = stack.ref("EventsTable")
        self.inventory_table = stack.ref("InventoryTable")
        self.bucket = stack.ref("LabelsBucket")
        self.alerts_topic = stack.ref("AlertsTopic")
        self.notify_topic = stack.ref("CustomerNotificationsTopic")
        dynamodb = cloud.dynamodb
        self.store = EventStore(dynamodb, self.events_table, clock=TickingClock())
        self.gateway = FakePaymentGateway(rates=FakeGatewayRates(), rng=random.Random(0))
        self.inventory = InventoryStore(dynamodb, self.inventory_table, clock=TickingClock())
        self.carrier_down = False
        alerts = Alerts(cloud.sns, self.alerts_topic)

        def factory(prefix: str) -> EventFactory:
            return EventFactory(clock=TickingClock(), ids=counter_ids(prefix))

        self.deps = {
            payment: payment.PaymentDeps(self.store, self.gateway, alerts, factory("pay")),
            inventory: inventory.InventoryDeps(self.store, self.inventory, alerts, factory("inv")),
            shipping: shipping.ShippingDeps(
                self.store,
                S3Carrier(cloud.s3, self.bucket, available=self._carrier_up, clock=TickingClock()),
                factory("shp"),
            ),
            notification: notification.NotificationDeps(
                self.store,
                SnsNotifier(cloud.sns, self.notify_topic),
                DynamoDBPersistenceLayer(
                    table_name=stack.ref("IdempotencyTable"), boto3_client=dynamodb
                ),
                factory("ntf"),
            ),
        }
        # As the Lambda handler does per invocation: in-progress records expire with it.
        self.deps[notification].config.register_lambda_context(
            LambdaContext(function_name="NotificationFunction")
        )
        self.armed: Armed | None = None
        self.published: list[tuple[str, dict[str, Any]]] = []
        self.label_puts: Counter[str] = Counter()
        self.pending: list[Delivery] = []
        self.lives: list[Live] = []
        self.ended: list[tuple[Live, Any]] = []
        self.relayed: dict[str, int] = {}
        self.unexpected: list[str] = []
        self.compensation_outages: set[str] = set()
        self.trace: list[str] = []
        self.executions = 0
        for sku, quantity in scenario.stock.items():
            put_stock(dynamodb, self.inventory_table, sku, quantity)
        for spec in scenario.orders:
            place_order(
                self.store, spec.order_id, f"cust-{spec.order_id}", spec.lines, factory("api")
            )
            self.relayed[spec.order_id] = 0
        self.touched = set(self.relayed)
        self.declined = {spec.order_id for spec in scenario.orders if spec.declined}
        cloud.world = self

    # -- the stream and the bus ------------------------------------------------------------

    def relay(self) -> None:
        """New stored events to the bus: one delivery per rule their type matches (only the
        orders a task touched since the last relay can have new events)."""
        for order_id in sorted(self.touched):
            events = self.store.load(order_id)
            for event in events[self.relayed[order_id] :]:
                delivered = bus.delivered(event)
                for rule in bus.routes(self.cloud.rules, delivered):
                    self.pending.append(Delivery(rule.machine_id, delivered, order_id, event.type))
            self.relayed[order_id] = len(events)
        self.touched.clear()

    def start(self, delivery: Delivery) -> None:
        self.executions += 1
        run = ExecutionRun(
            self.cloud.definitions[delivery.machine],
            delivery.envelope,
            None,
            clock=VirtualClock(),
            rng=random.Random(self.executions),
            name=f"exec-{self.executions}",
        )
        live = Live(self.executions, delivery.machine, delivery.order_id, delivery.event_type, run)
        self.lives.append(live)
        self.trace.append(f"start #{live.number} {delivery.machine} on {delivery.event_type}")
        self._advance(live)

    def _advance(self, live: Live) -> None:
        """Run the execution (virtual waits pass at once) to its next task, or its end."""
        while True:
            effect = live.run.step()
            if isinstance(effect, Invoke):
                live.effect = effect
                return
            if effect is None:
                live.effect = None
                self.lives.remove(live)
                self.ended.append((live, live.run.result))
                result = live.run.result
                self.trace.append(f"end #{live.number}: {result.status} {result.error or ''}")
                return
            live.run.clock.advance(effect)

    # -- tasks -------------------------------------------------------------------------------

    def remaining(self, live: Live, state: str, error: str) -> bool | None:
        """Whether the state's Retry has an attempt left for ``error`` (None: not retried)."""
        retriers = self.cloud.definitions[live.machine]["States"][state].get("Retry", [])
        for retrier in retriers:
            if asl_errors.matches(retrier["ErrorEquals"], error):
                used = sum(
                    1
                    for seen in live.failures[state]
                    if asl_errors.matches(retrier["ErrorEquals"], seen)
                )
                return used < retrier.get("MaxAttempts", 3)
        return None

    def choose_fault(self, live: Live) -> str:
        assert live.effect is not None
        state, action = live.effect.state, live.effect.payload["action"]
        if state in live.outages:
            return live.outages[state]
        if self.data.draw(st.integers(0, 9), label="fault?") >= 5:
            return "none"
        kinds = fault_kinds(action)
        kind = self.data.draw(st.sampled_from(kinds), label="fault")
        if state in OUTAGE_STATES and self.data.draw(st.integers(0, 2), label="outage?") == 0:
            live.outages[state] = kind
            if state in COMPENSATION_STATES:
                self.compensation_outages.add(live.order_id)
            return kind
        error = canonical_error(kind, action)
        left = self.remaining(live, state, error)
        if left is False:
            return "none"  # the last attempt: only an outage may exhaust the retries
        if left is None and not getattr(domain_errors, error, PipelineError).transient:
            return "none"  # not retried by design (and not transient): not a fault to inject
        return kind

    def invoke(self, live: Live, kind: str) -> None:
        """Run the execution's pending task through its handler, meeting fault ``kind``."""
        effect = live.effect
        assert effect is not None
        module = self.cloud.resources[effect.resource]
        order_id = effect.payload["order_id"]
        self.trace.append(f"#{live.number} {effect.state}({order_id}) fault={kind}")
        self.touched.add(order_id)
        self.armed = self._arm(live, effect.payload["action"], order_id, kind)
        result, failure = self._run(effect, module, kind)
        if failure is not None:
            live.failures[effect.state].append(failure.error)
            self.trace.append(f"  -> {failure.error}")
        live.run.resume(result, failure)
        self._advance(live)

    def _arm(self, live: Live, action: str, order_id: str, kind: str) -> Armed:
        """The hooks (and gateway knobs) that make the task meet fault ``kind``."""
        armed = Armed()
        rates = self.gateway.rates
        rates.decline = 1.0 if order_id in self.declined else 0.0
        if kind == "dep":
            self._arm_dependency(action, armed)
        elif kind == "lost":
            rates.lost_response = 1.0
        elif kind == "append":
            armed.fail_append = True
        elif kind == "race":
            armed.race = lambda: self.race(live)
        return armed

    def _arm_dependency(self, action: str, armed: Armed) -> None:
        """The step's dependency fails transiently."""
        if action in GATEWAY_ACTIONS:
            self.gateway.rates.error = 1.0
        elif action in ("reserve", "release", "ship"):
            armed.fail_tables.add(self.inventory_table)
        elif action == "create_label":
            self.carrier_down = True
        elif action == "notify":
            armed.fail_topics.add(self.notify_topic)
        elif action == "record_compensation_failure":
            armed.fail_topics.add(self.alerts_topic)
        else:
            armed.fail_tables.add(self.events_table)

    def _run(self, effect: Invoke, module: Any, kind: str) -> tuple[Any, TaskFailed | None]:
        """The task's result, or how it failed (as Lambda and Step Functions report it)."""
        rates = self.gateway.rates
        try:
            if kind == "throttle":
                raise TaskFailed("Lambda.TooManyRequestsException", "Rate exceeded (injected)")
            payload = effect.payload
            result = json.loads(json.dumps(dispatch(payload, self.deps[module], module.ACTIONS)))
            if kind == "timeout":
                raise TaskFailed(asl_errors.TIMEOUT, "timed out after its work (injected)")
            return result, None
        except TaskFailed as raised:
            return None, raised
        except PipelineError as raised:
            return None, lambda_style_error(raised)
        except Exception as raised:  # as Lambda would, but a handler bug: reported at the end
            state, order_id = effect.state, effect.payload["order_id"]
            self.unexpected.append(f"{state}({order_id}): {type(raised).__name__}: {raised}")
            return None, lambda_style_error(raised)
        finally:
            self.armed = None
            rates.error = rates.lost_response = 0.0
            self.carrier_down = False

    def race(self, live: Live) -> None:
        """Another execution's pending task runs now, inside this task's critical section."""
        others = [other for other in self.lives if other is not live and other.effect]
        if not others:
            return
        other = others[self.data.draw(st.integers(0, len(others) - 1), label="racer")]
        saved, self.armed = self.armed, None
        self.trace.append(f"  race: #{other.number} cuts in")
        self.invoke(other, "none")
        self.armed = saved

    def _carrier_up(self) -> bool:
        return not self.carrier_down

    # -- the schedule --------------------------------------------------------------------------

    def run(self, chaos_steps: int, max_steps: int = 3000) -> None:
        steps = 0
        while True:
            self.relay()
            runnable = [live for live in self.lives if live.effect is not None]
            options: list[Any] = [*self.pending, *runnable]
            if not options:
                return
            steps += 1
            assert steps < max_steps, "the saga did not settle"
            chaotic = steps <= chaos_steps
            pick = 0
            if chaotic:
                pick = self.data.draw(st.integers(0, len(options) - 1), label="next")
            chosen = options[pick]
            if isinstance(chosen, Delivery):
                twice = (
                    chaotic
                    and chosen.extra_copies < 2
                    and self.data.draw(st.integers(0, 4), label="duplicate?") == 0
                )
                if twice:
                    chosen.extra_copies += 1  # delivered again later: at-least-once
                else:
                    self.pending.remove(chosen)
                self.start(chosen)
            else:
                if chaotic:
                    kind = self.choose_fault(chosen)
                else:  # an outage lasts all the attempts of its state
                    kind = chosen.outages.get(chosen.effect.state, "none")
                self.invoke(chosen, kind)

    # -- what the world looks like at the end ------------------------------------------------

    def stock(self, sku: str) -> dict[str, int]:
        item = self.cloud.dynamodb.get_item(
            TableName=self.inventory_table, Key=stock_key(sku), ConsistentRead=True
        )["Item"]
        values = from_item(item)
        return {k: int(values.get(k, 0)) for k in ("available", "reserved", "shipped")}

    def reservation(self, order_id: str) -> dict[str, Any] | None:
        item = self.cloud.dynamodb.get_item(
            TableName=self.inventory_table, Key=reservation_key(order_id), ConsistentRead=True
        ).get("Item")
        return from_item(item) if item else None

    def label_state(self, order_id: str) -> tuple[bool, bool]:
        """(label exists, label voided) in the labels bucket."""
        keys = {
            o["Key"]
            for o in self.cloud.s3.list_objects_v2(Bucket=self.bucket, Prefix="labels/").get(
                "Contents", []
            )
        }
        return f"labels/{order_id}.json" in keys, f"labels/{order_id}.void.json" in keys

    def gateway_net(self, order_id: str) -> Decimal:
        """Money the gateway holds for this order (captured - refunded), whatever was recorded."""
        recorded = self.gateway.results.get(f"{order_id}:authorize")
        if recorded is None or not recorded[1].payment_id:
            return Decimal("0")
        payment_ = self.gateway.payments[recorded[1].payment_id]
        return payment_.captured - payment_.refunded
