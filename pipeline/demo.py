"""`python -m pipeline demo`: orders through the real handlers and state machines, on loopback.

What runs: moto's AWS endpoint on 127.0.0.1, with ``infra/template.yaml`` deployed through
its CloudFormation API (``pipeline.local.deploy``, which names what it makes locally
instead); orders posted over HTTP to the local API (``pipeline.local.http_api``); the event
store's DynamoDB stream read by event-source mappings with Lambda's retry semantics; the
stream processor (projection and outbox relay to EventBridge); the deployed rules, matched by
moto's EventBridge and delivered to their state machines with each target's retry policy and
DLQ (``pipeline.local.event_delivery``); the deployed ASL definitions run by ``pipeline.asl``,
calling the real step handlers; the audit forwarder feeding a local Firehose that writes
Parquet into the lake bucket; the DLQ remediation function on its schedule. Every wait runs
on one clock, virtual or sped-up wall time (``pipeline.local.clock``). Faults come from
named, seeded scenarios (``pipeline.local.faults``).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import math
import os
import random
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
import warnings
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, TextIO

import boto3

from pipeline.adapters.dynamo import from_item, to_item
from pipeline.analytics.athena import LocalAthena
from pipeline.analytics.lake import Lake
from pipeline.asl import Execution, ExecutionRun, TaskFailed
from pipeline.domain import events as ev
from pipeline.domain.order import COMPENSATION_STARTING_EVENTS, ENDING_EVENTS, TERMINAL
from pipeline.faults import Faults
from pipeline.handlers import audit_forwarder, payment, shipping
from pipeline.handlers.dlq_remediation import message_attribute
from pipeline.handlers.stream_processor import bus_entry
from pipeline.local.clock import RuntimeClock, Scheduler, schedule_period, sdk_backoff_on
from pipeline.local.deploy import Deployment, deploy
from pipeline.local.endpoint import LocalEndpoint
from pipeline.local.event_delivery import Delivery, DeliveryFailed, Route, deployed_routes
from pipeline.local.faults import scenario as fault_scenario
from pipeline.local.firehose import LocalFirehose
from pipeline.local.functions import handler_of, invoke
from pipeline.local.http_api import LocalApi
from pipeline.local.provision import Stack
from pipeline.local.stream_mapping import MappingConfig, StreamMapping
from pipeline.seeds import stream_seed
from pipeline.sim.topology import matches
from pipeline.template import Template

HOT_SKU_SHARE = 0.1  # of orders that ask for the limited SKU: they contend for its stock
CATALOGUE = [  # (sku, name, unit price, stock): one hot SKU with little stock
    ("KB-001", "Mechanical keyboard", "89.00", 500),
    ("MS-002", "Wireless mouse", "25.50", 500),
    ("HP-003", "Headphones (limited)", "149.99", 6),
    ("CB-004", "USB-C cable", "9.99", 1000),
]


@dataclass
class DemoReport:
    orders: int = 0
    rejected: int = 0
    by_status: Counter[str] = field(default_factory=Counter)
    executions: Counter[str] = field(default_factory=Counter)
    retries: int = 0
    events: int = 0
    captured_minus_refunded: Decimal = Decimal("0")
    confirmed_total: Decimal = Decimal("0")
    stock_conserved: bool = True  # available + reserved + shipped = initial, per SKU
    stock_settled: bool = True  # nothing left reserved; shipped = what confirmed orders bought
    stock: dict[str, tuple[int, int, int, int]] = field(default_factory=dict)
    lake_rows: int = 0
    lake_files: int = 0
    lake_matches_store: bool = False  # every stored event in the lake, nothing else
    lake_duplicates: int = 0  # extra copies of events (Firehose delivers at least once)
    one_side_effect_each: bool = False
    dynamodb_throttled: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    notifications: int = 0
    delivery_retries: int = 0
    duplicate_deliveries: int = 0
    remediation: dict[str, int] = field(default_factory=dict)
    interrupted: bool = False
    wall_s: float = 0.0
    moto_s: float = 0.0
    moto_requests: int = 0
    in_flight: list[str] = field(default_factory=list)
    dead_lettered: int = 0
    dlq_depth: dict[str, int] = field(default_factory=dict)
    time_scale: float | None = None
    simulated_s: float = 0.0  # time on the runtime's clock when the run ended
    # per order, seconds from OrderPlaced to its terminal event (the events' occurred_at)
    latencies_s: list[float] = field(default_factory=list)
    initial_stock: dict[str, int] = field(default_factory=dict)
    money_in_flight: Decimal = Decimal("0")  # captured - refunded of unfinished orders
    unfinished: list[str] = field(default_factory=list)  # "order_id STATUS"
    # per order: "compensated" (0/1), "retries:Machine.State", "dead_lettered" (validation)
    per_order: dict[str, Counter[str]] = field(default_factory=dict)
    # money captured and not refunded on orders whose compensation failed (alerted, for a person)
    held_by_failed_compensation: Decimal = Decimal("0")
    unreadable_events: int = 0  # store items no consumer can parse (poison), left to the DLQ
    delayed_deliveries: int = 0  # deliveries held back, arriving after later events
    routing_complete: bool = False  # every stored event reached every rule it matches
    routed: int = 0  # events the rules matched, each delivered or dead-lettered
    alerts: list[dict[str, Any]] = field(default_factory=list)  # what operations were sent
    parked: list[dict[str, Any]] = field(default_factory=list)  # in the parked queue, with why
    # every state machine execution, in the order they ended, with its history
    runs: list[tuple[str, Execution]] = field(default_factory=list, repr=False)
    # each state machine's definition as deployed (substituted), the one its executions ran
    definitions: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)

    def executions_of(self, order_id: str) -> list[tuple[str, Execution]]:
        """The executions (machine, execution) an order's events started, in order."""
        return [(m, e) for m, e in self.runs if _order_of(e) == order_id]

    def latency_percentile(self, q: float) -> float:
        """Nearest-rank percentile of order latency (0 when no order finished)."""
        if not self.latencies_s:
            return 0.0
        ordered = sorted(self.latencies_s)
        return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]

    @property
    def money_reconciled(self) -> bool:
        """Captured - refunded = confirmed orders, plus what failed compensations hold (each
        of those alerted to operations, the refund theirs to make)."""
        return (
            self.captured_minus_refunded == self.confirmed_total + self.held_by_failed_compensation
        )


class ScriptedChoreography:
    """Pumps the event store's stream and the rule queues until the pipeline is quiet."""

    def __init__(
        self,
        template: Template,
        deployment: Deployment,
        session: boto3.Session,
        url: str,
        clock: RuntimeClock | None = None,
    ):
        stack = deployment.stack
        self.template, self.stack, self.url = template, stack, url
        self.deployment = deployment
        self.client = lambda name: session.client(name, endpoint_url=url)
        self.walks: list[tuple[str, Execution]] = []
        self.audit: StreamMapping | None = None
        self.duplicates = 0
        self.delayed = 0  # deliveries held back (out of order with later events)
        self.lambda_throttle = 0.0
        self.task_timeout = 0.0
        self.faults = random.Random(0)
        self.machines = {  # deployed ARN -> logical id
            stack.ref(machine_id): machine_id for machine_id in deployment.definitions
        }
        self.functions = {  # deployed function ARN -> logical id (a Task's Resource)
            stack.resources[logical].attributes["Arn"]: logical
            for logical, kind in deployment.deployed.items()
            if kind == "AWS::Lambda::Function"
        }
        # (state machine ARN, execution name) -> input: names are unique per state machine
        self.started: dict[tuple[str, str], str] = {}
        self.pending: list[tuple[str, dict[str, Any]]] = []
        self.clock = clock or RuntimeClock()
        self.scheduler = Scheduler(self.clock)
        self.waiting: dict[int, tuple[str, ExecutionRun]] = {}  # executions in a wait
        self.remediation_period = schedule_period(template, "DlqRemediationFunction")
        self.next_remediation = self.remediation_period
        self.remediation: Counter[str] = Counter()
        self._fed = True  # the stream had records the rule queues and audit may not have had
        self.stop_requested = False  # Ctrl-C pressed: stop at the next step boundary
        config = MappingConfig.from_template(template, "StreamProcessorFunction")
        self.stream = StreamMapping(
            config,
            lambda event: invoke(template, "StreamProcessorFunction", event),
            self.client("dynamodbstreams"),
            stack.resources["EventsTable"].attributes["StreamArn"],
            self.client("sqs"),
            stack.ref(config.on_failure["Fn::GetAtt"][0]),
        )

    def connect_rules(self, injected: Faults | None = None, seed: int = 0) -> None:
        """Route the template's rules to their state machines (delivery with retry and DLQ),
        with the ``injected`` faults of delivery and invocation."""
        injected = injected or Faults()
        faults = random.Random(stream_seed(seed, "faults"))
        start_throttle = injected.start_throttle_rate
        duplicate = injected.duplicate_delivery_rate
        self.lambda_throttle = injected.lambda_throttle_rate
        self.task_timeout = injected.task_timeout_rate
        self.faults = faults

        delay_rate = injected.delivery_delay_rate
        most_delay_s = injected.delivery_delay_s

        def execute(machine_id: str, event: dict[str, Any]) -> None:
            """Now, or (a delayed delivery) later, after events that came after it."""
            if delay_rate and faults.random() < delay_rate:
                self.delayed += 1
                delay = faults.uniform(1.0, most_delay_s)
                self.scheduler.after(delay, lambda: self._execute(machine_id, event))
            else:
                self._execute(machine_id, event)

        def start(route: Route, event: dict[str, Any]) -> None:
            if faults.random() < start_throttle:
                raise DeliveryFailed("THROTTLING", "StartExecution was throttled (injected)")
            execute(route.machine_id, event)
            if faults.random() < duplicate:  # at-least-once: the same event, delivered again
                self.duplicates += 1
                execute(route.machine_id, event)

        self.delivery = Delivery(
            self.client("events"),
            self.client("sqs"),
            self.stack.ref("OrderEventBus"),
            deployed_routes(
                self.client("events"),
                self.client("sqs"),
                self.stack.ref("OrderEventBus"),
                self.machines,
            ),
            start,
            later=self.scheduler.after,
        )
        self.delivery.connect()

    def connect_audit_lake(
        self, session: boto3.Session, faults: Faults | None = None, seed: int = 0
    ) -> LocalFirehose:
        """The second stream consumer: audit rows through a local Firehose into Parquet
        (storing some records twice when ``faults.firehose_duplicate_rate`` is set)."""
        rate = (faults or Faults()).firehose_duplicate_rate
        rng = random.Random(stream_seed(seed, "firehose"))
        firehose = LocalFirehose(
            session.client("s3", endpoint_url=self.url),
            self.stack.ref("AuditLakeBucket"),
            self.template,
            redelivered=(lambda: rng.random() < rate) if rate else None,
        )
        audit_forwarder.wiring.configure(
            audit_forwarder.ForwarderDeps(firehose, "AuditDeliveryStream", "local")
        )
        config = MappingConfig.from_template(self.template, "AuditForwarderFunction")
        self.audit = StreamMapping(
            config,
            lambda event: invoke(self.template, "AuditForwarderFunction", event),
            self.client("dynamodbstreams"),
            self.stack.resources["EventsTable"].attributes["StreamArn"],
            self.client("sqs"),
            self.stack.ref(config.on_failure["Fn::GetAtt"][0]),
        )
        return firehose

    def start_execution(self, request: dict[str, Any]) -> dict[str, Any]:
        """Step Functions StartExecution, as the local runtime serves it (queued, then run)."""
        arn = request["stateMachineArn"]
        machine_id = self.machines.get(arn)
        if machine_id is None:
            raise LookupError(f"State Machine Does Not Exist: '{arn}'")
        name = request.get("name") or f"exec-{len(self.started) + 1}"
        text = request.get("input", "{}")
        execution_arn = arn.replace(":stateMachine:", ":execution:") + f":{name}"
        if (arn, name) in self.started:
            if self.started[arn, name] != text:
                raise ValueError(f"Execution Already Exists: '{execution_arn}'")
        else:
            self.started[arn, name] = text
            self.pending.append((machine_id, json.loads(text)))
        return {"executionArn": execution_arn, "startDate": 0}

    def remediate(self) -> dict[str, int]:
        """One tick of the DLQ remediation schedule (the template's rate), on the clock."""
        self.next_remediation = self.clock.now() + self.remediation_period
        summary = invoke(self.template, "DlqRemediationFunction", {"source": "aws.events"})
        self.remediation.update(summary)
        return summary

    def pump(self) -> int:
        """One round: the schedule if due, the stream mappings feed their functions, routed
        and redriven events start executions, waits that are over resume."""
        self.check_stop()
        moved = 0
        if self.clock.now() >= self.next_remediation:
            moved += self.remediate()["received"]
        relayed = self.stream.poll()
        # Only the stream processor puts events on the bus, and it relays what the stream
        # had: when it read nothing, the rule queues and the audit stream have nothing new
        # (each is drained whenever it was fed), so this round skips their polls.
        self._fed = self._fed or relayed > 0
        if self._fed:
            moved += relayed + self.delivery.pump()
        while self.pending:
            machine_id, event = self.pending.pop(0)
            self._execute(machine_id, event)
            moved += 1
        moved += self.scheduler.run_due()  # executions and deliveries whose wait is over
        if self._fed and self.audit is not None:
            self.audit.poll()
        self._fed = False
        return moved

    def check_stop(self) -> None:
        """Stop here if Ctrl-C was pressed (see :func:`ctrl_c_between_steps`)."""
        if self.stop_requested:
            raise KeyboardInterrupt

    def run_until_quiet(self, max_rounds: int = 100_000) -> None:
        """Pump until nothing moves and nothing waits; waits pass on the clock."""
        for _ in range(max_rounds):
            if self.pump():
                continue
            due = self.scheduler.next_due()
            if due is None:
                return
            self.clock.wait_until(due)
        raise RuntimeError("the pipeline did not settle")

    def settle(self) -> None:
        """Between batches of orders: on virtual time, run everything (waits cost nothing);
        on the scaled wall clock, run what is due and let the rest wait."""
        if self.clock.virtual:
            self.run_until_quiet()
        else:
            self.pump()

    def in_flight(self) -> list[str]:
        """Executions started or queued but not finished, for an interrupted run."""
        queued = [f"{m} {e['detail'].get('order_id')} (not started)" for m, e in self.pending]
        waiting = [
            f"{m} {run.name} (waiting, {len(run.history.events)} history events)"
            for m, run in self.waiting.values()
        ]
        sqs = self.client("sqs")
        undelivered = []
        for route in self.delivery.routes:
            depth = sqs.get_queue_attributes(
                QueueUrl=route.queue_url, AttributeNames=["ApproximateNumberOfMessages"]
            )["Attributes"]["ApproximateNumberOfMessages"]
            if int(depth):
                undelivered.append(f"{route.rule_id}: {depth} events not yet delivered")
        retries = len(self.scheduler) - len(self.waiting)
        later = [f"{retries} delivery retries scheduled"] if retries > 0 else []
        return queued + waiting + undelivered + later

    def _invoke(self, function_id: str, payload: Any) -> Any:
        """Lambda.Invoke for a task: throttled before the handler runs, or timed out after its
        side effects but before its response, when those faults are injected."""
        if self.faults.random() < self.lambda_throttle:
            raise TaskFailed("Lambda.TooManyRequestsException", "Rate exceeded (injected)")
        result = invoke(self.template, function_id, payload)
        if self.faults.random() < self.task_timeout:
            raise TaskFailed("States.Timeout", "Task timed out after its work was done (injected)")
        return result

    def _execute(self, machine: str, envelope: dict[str, Any]) -> None:
        definition = self.deployment.definitions[machine]  # as deployed, ARNs substituted
        resources = {
            arn: (lambda payload, f=function_id: self._invoke(f, payload))
            for arn, function_id in self.functions.items()
        }
        run = ExecutionRun(definition, envelope, resources, clock=self.clock, rng=self.faults)
        self._advance(machine, run)

    def _advance(self, machine: str, run: ExecutionRun) -> None:
        """Run an execution to its next wait (then resume it when the clock says) or end."""
        self.waiting.pop(id(run), None)
        seconds = run.step()
        if seconds is None:
            assert run.result is not None
            self.walks.append((machine, run.result))
            return
        self.waiting[id(run)] = (machine, run)
        self.scheduler.after(seconds, lambda: self._advance(machine, run))


@contextlib.contextmanager
def ctrl_c_between_steps(choreography: ScriptedChoreography) -> Iterator[None]:
    """Ctrl-C stops the run between two steps (an order posted, a pump round), never inside
    one: Python raises KeyboardInterrupt wherever the main thread is, and one raised inside a
    finaliser or a garbage-collection callback is printed and lost. A second Ctrl-C stops at
    once. Outside the main thread (no signal handlers there) Ctrl-C behaves as usual."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_sigint(signum: int, frame: Any) -> None:
        if choreography.stop_requested:
            raise KeyboardInterrupt
        choreography.stop_requested = True

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


MAX_REMEDIATION_TICKS = 5
PUMP_EVERY = 10  # orders posted between two rounds of stream and queue polling


def run_demo(
    orders: int = 40,
    seed: int = 7,
    out: TextIO | None = None,
    verbose: bool = False,
    faults: Faults | Mapping[str, str] | None = None,
    scenario: str = "default",
    time_scale: float | None = None,
    hot_share: float = HOT_SKU_SHARE,
    template: Template | None = None,
    environment: Mapping[str, str] | None = None,
) -> DemoReport:
    """Place ``orders`` random orders and let the pipeline finish them; return the report.

    ``faults`` are the faults injected (:class:`pipeline.faults.Faults`, or its knobs by
    name, ``{"FAKE_GATEWAY_ERROR_RATE": "0.5"}``); unless given, the named ``scenario``'s,
    seeded from ``seed``. ``environment`` adds variables to every function's environment
    (after the template's and the faults'), e.g. ``{"POWERTOOLS_METRICS_DISABLED": "false"}``.

    ``time_scale`` None runs every wait on virtual time (reproducible for a seed); a number
    runs them on the wall clock sped up that many times (see :mod:`pipeline.local.clock`).
    ``hot_share`` of orders also want the hot SKU, whose few units they contend for.
    ``template`` is ``infra/template.yaml`` unless given (e.g. with a machine's definition
    replaced, :meth:`Template.with_definitions`).

    Handlers log structured JSON and EMF metrics to stdout as they would in Lambda; unless
    ``verbose``, that output is swallowed so the report stays readable.
    """
    rng = random.Random(seed)
    if faults is None:
        injected = fault_scenario(scenario, seed)
    elif isinstance(faults, Faults):
        injected = faults
    else:
        injected = Faults.from_knobs(faults)
    say = (lambda text: print(text, file=out)) if out else (lambda text: None)
    template = template or Template.load()
    report = DemoReport()
    saved_env = dict(os.environ)
    handler_output = contextlib.nullcontext() if verbose else _swallowed_output()
    with LocalEndpoint() as endpoint, handler_output, warnings.catch_warnings():
        # Functions that emit no metric on an invocation (a quiet remediation pass) make
        # powertools warn on every call; in Lambda that goes to the log, here it would
        # interleave with the report.
        warnings.filterwarnings("ignore", message="No application metrics to publish")
        try:
            session = boto3.Session(
                region_name="us-east-1", aws_access_key_id="local", aws_secret_access_key="local"
            )
            say(f"Local AWS endpoint (moto) on {endpoint.url}.")
            deployment = deploy(template, session, endpoint.url, say=say)
            for line in deployment.summary():
                say(line)
            report.definitions = dict(deployment.definitions)
            stack = deployment.stack
            _point_handlers_at(endpoint.url, template, deployment, injected, environment)
            dynamodb = session.client("dynamodb", endpoint_url=endpoint.url)
            inventory = stack.ref("InventoryTable")
            initial = initial_stock(orders)
            report.initial_stock = initial
            for sku, name, price, _ in CATALOGUE:
                stock = initial[sku]
                dynamodb.put_item(
                    TableName=inventory,
                    Item=to_item(
                        {
                            "pk": f"sku#{sku}",
                            "sku": sku,
                            "name": name,
                            "unit_price": Decimal(price),
                            "available": stock,
                            "reserved": 0,
                            "shipped": 0,
                        }
                    ),
                )
            inbox = _alerts_inbox(session, endpoint.url, stack)
            _inject_poison(dynamodb, stack, injected.poison_records)
            endpoint.throttle_dynamodb(
                injected.dynamodb_throttle_rate,
                stream_seed(seed, "dynamodb-throttle"),
            )
            clock = RuntimeClock(time_scale)
            # The carrier's outage window runs on the pipeline's clock, not the wall clock.
            shipping.wiring.configure(shipping.ShippingDeps.from_env(os.environ, now=clock.now))
            choreography = ScriptedChoreography(template, deployment, session, endpoint.url, clock)
            choreography.connect_rules(injected, seed)
            endpoint.take_start_execution(choreography.start_execution)
            firehose = choreography.connect_audit_lake(session, injected, seed)
            started = time.perf_counter()
            try:
                with (
                    ctrl_c_between_steps(choreography),
                    sdk_backoff_on(clock, random.Random(stream_seed(seed, "sdk-backoff"))),
                    LocalApi(template, lambda f: handler_of(template, f)) as api,
                ):
                    say(f"Order API on {api.url} (HTTP, API Gateway proxy events).")
                    for n in range(orders):
                        choreography.check_stop()
                        lines = order_lines(rng, hot_share)
                        body = {"customer_id": f"cust-{rng.randint(1, 12):03d}", "lines": lines}
                        status = _post(f"{api.url}/orders", body, f"demo-key-{seed}-{n:05d}")
                        if status in (200, 201):
                            report.orders += 1
                        else:
                            report.rejected += 1
                        if n % PUMP_EVERY == PUMP_EVERY - 1:  # let the pipeline catch up
                            choreography.settle()
                    choreography.run_until_quiet()
                    for _tick in range(MAX_REMEDIATION_TICKS):  # the schedule, until DLQs empty
                        clock.wait_until(choreography.next_remediation)
                        if not choreography.remediate()["received"]:
                            break
                        choreography.run_until_quiet()
            except KeyboardInterrupt:
                # Every write is one request (transaction, PutObject), so nothing is half-written;
                # what was still to run is listed, and the lake gets what the stream delivered.
                report.interrupted = True
                report.in_flight = choreography.in_flight()
                if choreography.audit is not None:  # the audit trail gets every stored event
                    choreography.audit.poll()
            report.wall_s = time.perf_counter() - started
            report.time_scale, report.simulated_s = time_scale, clock.now()
            report.moto_requests, report.moto_s = endpoint.stats
            report.dynamodb_throttled = endpoint.throttled
            firehose.flush()
            _fill_report(report, choreography, dynamodb, stack, session, endpoint.url)
            _check_lake(report, session, endpoint.url, stack, dynamodb)
            sqs = session.client("sqs", endpoint_url=endpoint.url)
            report.alerts = [json.loads(m["Body"]) for m in _drain(sqs, inbox)]
            report.parked = [
                {
                    "reason": message_attribute(m, "PARKED_REASON"),
                    "error": message_attribute(m, "ERROR_CODE"),
                    "queue": message_attribute(m, "SOURCE_QUEUE"),
                }
                for m in _drain(sqs, stack.ref("RemediationParkedQueue"))
            ]
        finally:
            os.environ.clear()
            os.environ.update(saved_env)
            _reset_wiring(template)
    _print_report(report, say)
    return report


@contextlib.contextmanager
def _swallowed_output() -> Iterator[None]:
    """Handlers' stdout (their JSON logs and EMF metrics) kept out of the report: stdout is
    redirected, and log handlers made earlier with a reference to the real stdout (a
    module-level powertools Logger) write to the same sink meanwhile."""
    sink = io.StringIO()
    streams = (sys.stdout, sys.__stdout__)
    moved = []
    for logger in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]:
        for handler in getattr(logger, "handlers", []):
            if isinstance(handler, logging.StreamHandler) and handler.stream in streams:
                moved.append((handler, handler.setStream(sink)))
    try:
        with contextlib.redirect_stdout(sink):
            yield
    finally:
        for handler, stream in moved:
            handler.setStream(stream)


def initial_stock(orders: int) -> dict[str, int]:
    """Stock per SKU for a run: the regular SKUs never run out (an order asks for at most
    3 units of each); the hot one keeps its handful, so the orders asking for it contend."""
    hot = CATALOGUE[2][0]
    return {sku: stock if sku == hot else stock + 3 * orders for sku, _, _, stock in CATALOGUE}


def order_lines(rng: random.Random, hot_share: float = HOT_SKU_SHARE) -> list[dict[str, Any]]:
    """One to three regular SKUs, 1-3 units each; ``hot_share`` of orders also want the hot
    SKU."""
    hot = CATALOGUE[2]
    regular = [item for item in CATALOGUE if item is not hot]
    picked = rng.sample(regular, rng.randint(1, 3))
    if rng.random() < hot_share:
        picked.append(hot)
    return [{"sku": sku, "quantity": rng.randint(1, 3)} for sku, *_ in picked]


def _post(url: str, body: Any, key: str, attempts: int = 5) -> int:
    """POST JSON over HTTP as a careful client does: a 503 is retried with the same
    Idempotency-Key, so a retry can never place the order twice. Returns the last status."""
    status = 0
    for _ in range(attempts):
        request = urllib.request.Request(
            url,
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Content-Type": "application/json", "Idempotency-Key": key},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status
        except urllib.error.HTTPError as error:
            status = error.code
            if status != 503:
                return status
    return status


def _point_handlers_at(
    url: str,
    template: Template,
    deployment: Deployment,
    faults: Faults,
    environment: Mapping[str, str] | None = None,
) -> None:
    """Give in-process handlers what Lambda would: the environment CloudFormation deployed
    for each function, with the injected faults and then ``environment`` over it, and boto3
    pointed at the endpoint."""
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": url,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_NAMESPACE": "OrderPipelineDemo",
            "POWERTOOLS_LOG_LEVEL": "WARNING",
            "POWERTOOLS_METRICS_DISABLED": "true",
        }
    )
    for variables in deployment.environments.values():
        os.environ.update({name: str(value) for name, value in variables.items()})
    os.environ.update(faults.to_environment())  # injected faults win over the template's
    os.environ.update(environment or {})
    _reset_wiring(template)


def _reset_wiring(template: Template) -> None:
    """Drop dependencies handlers built earlier, so they rebuild from the current environment.

    A handler module imported before its environment was set (here, not in Lambda, where the
    environment comes first) also made its powertools ``Metrics`` without a namespace: every
    hundredth value of one metric then flushes and fails the invocation with "Must contain a
    metric namespace" (an Authorize in every few hundred). It gets the namespace now."""
    namespace = os.environ.get("POWERTOOLS_METRICS_NAMESPACE")
    for function_id, _ in template.of_type("AWS::Serverless::Function"):
        module = sys.modules.get(handler_of(template, function_id).__module__)
        metrics = getattr(module, "metrics", None)
        if namespace and metrics is not None and hasattr(metrics, "namespace"):
            metrics.namespace = namespace
        if module is not None and hasattr(module, "wiring"):
            module.wiring.configure(None)


def _alerts_inbox(session: boto3.Session, url: str, stack: Stack) -> str:
    """A queue subscribed to the alerts topic, standing in for the operations mailbox."""
    sqs = session.client("sqs", endpoint_url=url)
    queue = sqs.create_queue(QueueName="local-operations-inbox")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
    session.client("sns", endpoint_url=url).subscribe(
        TopicArn=stack.ref("AlertsTopic"),
        Protocol="sqs",
        Endpoint=arn["Attributes"]["QueueArn"],
        Attributes={"RawMessageDelivery": "true"},
    )
    return queue


def _inject_poison(dynamodb: Any, stack: Stack, count: int) -> None:
    """Store ``count`` items no consumer can parse (a writer's bug, a hand edit): the stream's
    consumers fail on them, retry, bisect, and hand them to the on-failure queue."""
    for n in range(count):
        dynamodb.put_item(
            TableName=stack.ref("EventsTable"),
            Item=to_item(
                {
                    "order_id": f"poison-{n:03d}",
                    "sequence": 1,
                    "event_id": f"poison-{n:03d}-1",
                    "event_type": "OrderPlaced",
                    "payload": "{not json",
                }
            ),
        )


def _drain(sqs: Any, queue: str) -> list[dict[str, Any]]:
    """Every message in a queue (read and deleted), attributes included."""
    out: list[dict[str, Any]] = []
    while batch := sqs.receive_message(
        QueueUrl=queue, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    ).get("Messages", []):
        out += batch
        sqs.delete_message_batch(
            QueueUrl=queue,
            Entries=[
                {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(batch)
            ],
        )
    return out


def _readable(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The stored items that are events (their payload parses)."""
    readable = []
    for item in events:
        try:
            json.loads(item.get("payload", ""))
        except json.JSONDecodeError:
            continue
        readable.append(item)
    return readable


def _routing_complete(template: Template, events: list[dict[str, Any]], delivery) -> bool:
    """Every stored event reached every rule whose pattern it matches (as the bus sees it),
    and every routed event ended delivered or dead-lettered."""
    rules = [(t.machine_id, t.pattern) for t in template.rule_targets()]
    expected = set()
    for item in events:
        entry = bus_entry(ev.parse_event(item["payload"]), "bus")
        seen = {
            "source": entry["Source"],
            "detail-type": entry["DetailType"],
            "detail": json.loads(entry["Detail"]),
        }
        expected |= {(target, item["event_id"]) for target, p in rules if matches(p, seen)}
    settled = delivery.routed == delivery.delivered + delivery.dead_lettered
    return settled and expected <= delivery.routed_events


def _fill_report(report, choreography, dynamodb, stack, session, url) -> None:
    stored = _scan(dynamodb, stack.ref("EventsTable"))
    events = _readable(stored)
    report.unreadable_events = len(stored) - len(events)
    report.events = len(events)
    orders = _scan(dynamodb, stack.ref("OrdersTable"))
    report.by_status = Counter(o["status"] for o in orders)
    finished = {o["order_id"] for o in orders if o["status"] in TERMINAL}
    stranded = {o["order_id"] for o in orders if o["status"] == "COMPENSATION_FAILED"}
    for e in events:
        payload = json.loads(e["payload"])
        amount = Decimal(payload.get("amount", "0"))
        sign = {"PaymentCaptured": 1, "PaymentRefunded": -1}.get(e["event_type"], 0)
        if e["order_id"] in stranded:
            report.held_by_failed_compensation += sign * amount
        if e["order_id"] in finished:
            report.captured_minus_refunded += sign * amount
        else:  # money of an order still under way (only after an interrupted run)
            report.money_in_flight += sign * amount
        if e["event_type"] == "CustomerNotified":
            report.notifications += 1
    confirmed = {o["order_id"] for o in orders if o["status"] == "CONFIRMED"}
    report.confirmed_total = sum(
        (Decimal(str(o["total"])) for o in orders if o["order_id"] in confirmed), Decimal("0")
    )
    report.unfinished = sorted(
        f"{o['order_id']} {o['status']}" for o in orders if o["order_id"] not in finished
    )
    stock = {i["sku"]: i for i in _scan(dynamodb, stack.ref("InventoryTable")) if "sku" in i}
    sold: Counter[str] = Counter()  # quantities of confirmed orders, which must have shipped
    for e in events:
        if e["event_type"] == "OrderPlaced" and e["order_id"] in confirmed:
            for line in json.loads(e["payload"])["lines"]:
                sold[line["sku"]] += int(line["quantity"])
    for sku, _name, _price, _ in CATALOGUE:
        initial = report.initial_stock[sku]
        item = stock[sku]
        held = item["available"] + item["reserved"] + item.get("shipped", 0)
        report.stock[sku] = (initial, item["available"], item["reserved"], item.get("shipped", 0))
        report.stock_conserved &= held == initial and item["available"] >= 0
        report.stock_settled &= item["reserved"] == 0 and item.get("shipped", 0) == sold[sku]
    report.one_side_effect_each = _one_side_effect_each(events)
    report.latencies_s = _latencies(events)
    report.failures = Counter(
        f"{m}: {w.error}" for m, w in choreography.walks if w.status != "SUCCEEDED"
    )
    report.executions = Counter(f"{m}:{w.status}" for m, w in choreography.walks)
    report.runs = list(choreography.walks)
    report.retries = sum(w.retries for _, w in choreography.walks)
    report.delivery_retries = choreography.delivery.retries
    report.duplicate_deliveries = choreography.duplicates
    report.delayed_deliveries = choreography.delayed
    report.routed = choreography.delivery.routed
    report.routing_complete = _routing_complete(
        choreography.template, events, choreography.delivery
    )
    report.remediation = dict(choreography.remediation)
    report.dead_lettered = choreography.delivery.dead_lettered
    report.per_order = _per_order(orders, events, choreography)
    sqs = session.client("sqs", endpoint_url=url)
    for queue_id, _ in choreography.template.of_type("AWS::SQS::Queue"):
        attributes = sqs.get_queue_attributes(
            QueueUrl=stack.ref(queue_id), AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        report.dlq_depth[queue_id] = int(attributes["ApproximateNumberOfMessages"])


def _order_of(execution: Execution) -> str | None:
    """The order an execution ran for, from the event it started with."""
    started = (
        execution.history[0].get("executionStartedEventDetails", {}) if execution.history else {}
    )
    detail = (started.get("input") or {}).get("detail") or {}
    return detail.get("order_id")


def _per_order(orders, events, choreography) -> dict[str, Counter[str]]:
    """What each order went through, by the names the simulator counts (``PerOrder``)."""
    per_order = {o["order_id"]: Counter() for o in orders}
    for e in events:
        if e["event_type"] in COMPENSATION_STARTING_EVENTS and e["order_id"] in per_order:
            per_order[e["order_id"]]["compensated"] = 1
    for machine, walk in choreography.walks:
        order_id = walk.history[0]["executionStartedEventDetails"]["input"]["detail"]["order_id"]
        for state, count in walk.retries_by_state().items():
            per_order[order_id][f"retries:{machine}.{state}"] += count
    for order_id, count in choreography.delivery.dead_lettered_orders.items():
        per_order[order_id]["dead_lettered"] += count
    return per_order


def _latencies(events: list[dict[str, Any]]) -> list[float]:
    """Seconds from each order's OrderPlaced to its terminal event, on the handlers' clock."""
    placed: dict[str, datetime] = {}
    ended: dict[str, datetime] = {}
    for e in events:
        moment = datetime.fromisoformat(e["occurred_at"])
        if e["event_type"] == "OrderPlaced":
            placed[e["order_id"]] = moment
        elif e["event_type"] in ENDING_EVENTS:
            ended[e["order_id"]] = min(moment, ended.get(e["order_id"], moment))
    return [(ended[o] - placed[o]).total_seconds() for o in ended if o in placed]


def _one_side_effect_each(events: list[dict[str, Any]]) -> bool:
    """At most one charge, refund, reservation, label and notification (per kind) per order,
    at the gateway and in the event store, whatever was delivered twice or retried."""
    recorded = Counter(
        (e["order_id"], e["event_type"], json.loads(e["payload"]).get("kind")) for e in events
    )
    if any(n > 1 for n in recorded.values()):
        return False
    gateway = payment.wiring.get().gateway
    per_order = Counter(
        (key.split(":", 1)[0], operation) for operation, key in getattr(gateway, "calls", [])
    )
    return all(n == 1 for n in per_order.values())


def _check_lake(
    report: DemoReport, session: boto3.Session, url: str, stack: Stack, dynamodb: Any
) -> None:
    """Events in the store = events in the Parquet lake, read as the analytics read it (the
    lake on S3 through pyarrow, queried by DuckDB): each stored event there, nothing else;
    copies of one event (Firehose delivers at least once) are counted, not matched."""
    lake = Lake.open(f"s3://{stack.ref('AuditLakeBucket')}", session=session, endpoint_url=url)
    with LocalAthena(lake) as athena:
        rows = athena.records("SELECT order_id, sequence, event_id FROM audit_events")
    in_lake = {(r["order_id"], r["sequence"], r["event_id"]) for r in rows}
    stored = {
        (e["order_id"], int(e["sequence"]), e["event_id"])
        for e in _readable(_scan(dynamodb, stack.ref("EventsTable")))
    }
    report.lake_rows, report.lake_files = len(rows), len(lake.files())
    report.lake_duplicates = len(rows) - len(in_lake)
    report.lake_matches_store = in_lake == stored


def _scan(dynamodb, table: str) -> list[dict[str, Any]]:
    items, kwargs = [], {"TableName": table}
    while True:
        page = dynamodb.scan(**kwargs)
        items += [from_item(i) for i in page["Items"]]
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _print_report(report: DemoReport, say) -> None:
    if report.interrupted:
        say("\nInterrupted (Ctrl-C): the report below is the state when the run stopped.")
        say(f"In flight (queued, waiting or not yet delivered): {len(report.in_flight)}")
        for item in report.in_flight[:20]:
            say(f"  {item}")
        say(f"Orders not finished: {len(report.unfinished)}")
        for item in report.unfinished[:20]:
            say(f"  {item}")
    say(f"\nOrders accepted: {report.orders}, rejected by the API: {report.rejected}")
    say("Final status of every order (read model):")
    for status, count in sorted(report.by_status.items()):
        terminal = "terminal" if status in TERMINAL else "NOT TERMINAL"
        say(f"  {status:<22} {count:>4}  ({terminal})")
    say("State machine executions:")
    for key, count in sorted(report.executions.items()):
        say(f"  {key:<40} {count:>4}")
    for failure, count in sorted(report.failures.items()):
        say(f"  failed: {failure} x{count}")
    say(f"Task retries: {report.retries}   Events stored: {report.events}")
    say(
        f"EventBridge delivery retries: {report.delivery_retries}, "
        f"dead-lettered: {report.dead_lettered}, duplicated: {report.duplicate_deliveries}; "
        "queue depths: " + ", ".join(f"{q}={n}" for q, n in sorted(report.dlq_depth.items()))
    )
    say(
        "DLQ remediation: "
        + (", ".join(f"{k} {v}" for k, v in sorted(report.remediation.items())) or "nothing to do")
    )
    say(
        f"Routing: {report.routed} events matched rules, each delivered or dead-lettered; "
        f"every stored event reached every rule it matches: {report.routing_complete}"
        + (
            f"; {report.delayed_deliveries} deliveries arrived late"
            if report.delayed_deliveries
            else ""
        )
    )
    if report.unreadable_events:
        say(f"Unreadable items in the event store (poison): {report.unreadable_events}")
    if report.parked or report.alerts:
        say(f"Parked for operations: {len(report.parked)}; alerts sent: {len(report.alerts)}")
        for reason, count in Counter(str(p["reason"]) for p in report.parked).most_common(5):
            say(f"  parked x{count}: {reason}")
    say(f"Customer notifications: {report.notifications}")
    say(
        f"Money (finished orders): captured - refunded = {report.captured_minus_refunded}; "
        f"confirmed orders total = {report.confirmed_total}"
        + (
            f" + {report.held_by_failed_compensation} held by failed compensations (alerted)"
            if report.held_by_failed_compensation
            else ""
        )
        + f" ({'reconciled' if report.money_reconciled else 'MISMATCH'})"
        + (
            f"; {report.money_in_flight} held by {len(report.unfinished)} unfinished orders"
            if report.unfinished
            else ""
        )
    )
    say(
        f"Stock conserved (initial = available + reserved + shipped, per SKU): "
        f"{report.stock_conserved}; settled (nothing left reserved, shipped = confirmed "
        f"orders' quantities): {report.stock_settled}"
    )
    for sku, (initial, available, reserved, shipped) in sorted(report.stock.items()):
        say(f"  {sku}: {initial} = {available} + {reserved} + {shipped}")
    say(
        f"One side effect per order (gateway calls, events per type): {report.one_side_effect_each}"
    )
    say(
        f"Time: {report.wall_s:.1f} s for {report.orders} orders "
        f"({60 * report.orders / max(report.wall_s, 1e-9):.0f} orders/min); "
        f"{report.moto_requests} AWS API calls took {report.moto_s:.1f} s inside moto "
        f"({report.dynamodb_throttled} DynamoDB calls throttled by injection)"
    )
    say(
        f"Order latency (OrderPlaced to its terminal event, wall clock): "
        f"p50 {report.latency_percentile(50):.2f} s, p99 {report.latency_percentile(99):.2f} s"
    )
    say(
        f"Audit lake: {report.lake_rows} Parquet rows in {report.lake_files} files "
        f"({report.lake_duplicates} duplicate deliveries); "
        f"every stored event, once each after de-duplication: {report.lake_matches_store}"
    )
    clock = (
        "virtual (waits jump; reproducible)"
        if report.time_scale is None
        else (f"wall clock x{report.time_scale:g}")
    )
    say(f"Clock: {clock}; {report.simulated_s / 60:.1f} min of pipeline time elapsed.")
