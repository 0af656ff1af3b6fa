"""What a run left in the local cloud, read back: the run's report.

After a :class:`~pipeline.local.runtime.LocalRuntime` run, :func:`observe` reads the read
model, the event store, the inventory, the lake (through pyarrow and DuckDB, as the analytics
read it), the queues and the runtime's own counts into a :class:`RunReport`, the facts the
invariants (:mod:`pipeline.invariants`) are checked on.
"""

from __future__ import annotations

import contextlib
import json
import math
import pathlib
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from pipeline.adapters.dynamo import from_item
from pipeline.analytics.athena import LocalAthena
from pipeline.analytics.lake import Lake
from pipeline.asl import Execution
from pipeline.domain import bus
from pipeline.domain import events as ev
from pipeline.domain.invariants import Facts
from pipeline.domain.order import COMPENSATION_STARTING_EVENTS, ENDING_EVENTS, TERMINAL
from pipeline.handlers.dlq_remediation import message_attribute
from pipeline.local.cloud import drain
from pipeline.local.runtime import LocalRuntime


@dataclass
class RunReport:
    """A run of the pipeline in the local cloud: what was posted, what happened, what holds."""

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
        return [(m, e) for m, e in self.runs if order_of(e) == order_id]

    def latency_percentile(self, q: float) -> float:
        """Nearest-rank percentile of order latency (0 when no order finished)."""
        return nearest_rank(self.latencies_s, q)

    @property
    def money_reconciled(self) -> bool:
        """Captured - refunded = confirmed orders, plus what failed compensations hold (each
        of those alerted to operations, the refund theirs to make)."""
        return (
            self.captured_minus_refunded == self.confirmed_total + self.held_by_failed_compensation
        )


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


def _routing_complete(runtime: LocalRuntime, events: list[dict[str, Any]]) -> bool:
    """Every stored event reached every rule whose pattern it matches (as the bus sees it),
    and every routed event ended delivered or dead-lettered."""
    rules = runtime.template.rule_targets()
    delivery = runtime.delivery
    expected = set()
    for item in events:
        seen = bus.received(bus.put_entry(ev.parse_event(item["payload"]), "bus"))
        expected |= {(rule.machine_id, item["event_id"]) for rule in bus.routes(rules, seen)}
    settled = delivery.routed == delivery.delivered + delivery.dead_lettered
    return settled and expected <= delivery.routed_events


def observe(runtime: LocalRuntime, report: RunReport) -> RunReport:
    """Read what ``runtime``'s run left into ``report`` (whose ``orders`` and
    ``initial_stock`` the workload filled): statuses, events, money, stock, executions,
    deliveries, queues, the lake, alerts and what was parked."""
    runtime.firehose.flush()
    _fill_report(report, runtime)
    _check_lake(report, runtime)
    sqs = runtime.client("sqs")
    report.alerts = [json.loads(m["Body"]) for m in drain(sqs, runtime.inbox)]
    report.parked = [
        {
            "reason": message_attribute(m, "PARKED_REASON"),
            "error": message_attribute(m, "ERROR_CODE"),
            "queue": message_attribute(m, "SOURCE_QUEUE"),
        }
        for m in drain(sqs, runtime.stack.ref("RemediationParkedQueue"))
    ]
    report.time_scale, report.simulated_s = runtime.clock.scale, runtime.clock.now()
    report.moto_requests, report.moto_s = runtime.calls
    report.dynamodb_throttled = runtime.endpoint.throttled
    return report


def _fill_report(report: RunReport, runtime: LocalRuntime) -> None:
    stack = runtime.stack
    dynamodb = runtime.client("dynamodb")
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
    for sku, initial in report.initial_stock.items():
        item = stock[sku]
        held = item["available"] + item["reserved"] + item.get("shipped", 0)
        report.stock[sku] = (initial, item["available"], item["reserved"], item.get("shipped", 0))
        report.stock_conserved &= held == initial and item["available"] >= 0
        report.stock_settled &= item["reserved"] == 0 and item.get("shipped", 0) == sold[sku]
    gateway = runtime.functions.deps("PaymentFunction").gateway
    report.one_side_effect_each = _one_side_effect_each(events, getattr(gateway, "calls", []))
    report.latencies_s = _latencies(events)
    report.failures = Counter(
        f"{m}: {w.error}" for m, w in runtime.walks if w.status != "SUCCEEDED"
    )
    report.executions = Counter(f"{m}:{w.status}" for m, w in runtime.walks)
    report.runs = list(runtime.walks)
    report.retries = sum(w.retries for _, w in runtime.walks)
    report.delivery_retries = runtime.delivery.retries
    report.duplicate_deliveries = runtime.duplicates
    report.delayed_deliveries = runtime.delayed
    report.routed = runtime.delivery.routed
    report.routing_complete = _routing_complete(runtime, events)
    report.remediation = dict(runtime.remediation)
    report.dead_lettered = runtime.delivery.dead_lettered
    report.per_order = _per_order(orders, events, runtime)
    queues = [queue_id for queue_id, _ in runtime.template.of_type("AWS::SQS::Queue")]
    depths = runtime.queue_depths([stack.ref(queue_id) for queue_id in queues])
    report.dlq_depth = {
        queue_id: depth for queue_id, (_, depth) in zip(queues, depths, strict=True)
    }


def nearest_rank(values: Iterable[float], q: float) -> float:
    """The nearest-rank percentile ``q`` of ``values`` (0 when there are none)."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


def order_of(execution: Execution) -> str | None:
    """The order an execution ran for, from the event it started with."""
    detail = (execution.input or {}).get("detail") or {}
    return detail.get("order_id")


def _per_order(
    orders: list[dict[str, Any]], events: list[dict[str, Any]], runtime: LocalRuntime
) -> dict[str, Counter[str]]:
    """What each order went through, by the names the simulator counts (``PerOrder``)."""
    per_order: dict[str, Counter[str]] = {o["order_id"]: Counter() for o in orders}
    for e in events:
        if e["event_type"] in COMPENSATION_STARTING_EVENTS and e["order_id"] in per_order:
            per_order[e["order_id"]]["compensated"] = 1
    for machine, walk in runtime.walks:
        order_id = walk.input["detail"]["order_id"]
        for state, count in walk.retries_by_state().items():
            per_order[order_id][f"retries:{machine}.{state}"] += count
    for order_id, count in runtime.delivery.dead_lettered_orders.items():
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


def _one_side_effect_each(
    events: list[dict[str, Any]], gateway_calls: list[tuple[str, str]]
) -> bool:
    """At most one charge, refund, reservation, label and notification (per kind) per order,
    at the gateway and in the event store, whatever was delivered twice or retried."""
    recorded = Counter(
        (e["order_id"], e["event_type"], json.loads(e["payload"]).get("kind")) for e in events
    )
    if any(n > 1 for n in recorded.values()):
        return False
    per_order = Counter((key.split(":", 1)[0], operation) for operation, key in gateway_calls)
    return all(n == 1 for n in per_order.values())


def _check_lake(report: RunReport, runtime: LocalRuntime) -> None:
    """Events in the store = events in the Parquet lake, read as the analytics read it (the
    lake on S3 through pyarrow, queried by DuckDB): each stored event there, nothing else;
    copies of one event (Firehose delivers at least once) are counted, not matched."""
    stack, dynamodb = runtime.stack, runtime.client("dynamodb")
    with lake_of(runtime) as lake, LocalAthena(lake) as athena:
        rows = athena.records("SELECT order_id, sequence, event_id FROM audit_events")
        files = len(lake.files())
    in_lake = {(r["order_id"], r["sequence"], r["event_id"]) for r in rows}
    stored = {
        (e["order_id"], int(e["sequence"]), e["event_id"])
        for e in _readable(_scan(dynamodb, stack.ref("EventsTable")))
    }
    report.lake_rows, report.lake_files = len(rows), files
    report.lake_duplicates = len(rows) - len(in_lake)
    report.lake_matches_store = in_lake == stored


@contextlib.contextmanager
def lake_of(runtime: LocalRuntime) -> Iterator[Lake]:
    """The audit lake as the analytics open it: on S3 through pyarrow's S3 filesystem when
    the local cloud has an HTTP endpoint; in-process, pyarrow's native S3 client cannot reach
    moto, so the bucket's objects are copied (through boto3) into a directory first."""
    bucket = runtime.stack.ref("AuditLakeBucket")
    if runtime.url is not None:
        yield Lake.open(f"s3://{bucket}", session=runtime.session, endpoint_url=runtime.url)
        return
    s3 = runtime.client("s3")
    with tempfile.TemporaryDirectory(prefix="lake-") as root:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for item in page.get("Contents", []):
                path = pathlib.Path(root, item["Key"])
                path.parent.mkdir(parents=True, exist_ok=True)
                s3.download_file(bucket, item["Key"], str(path))
        yield Lake.open(root, template=runtime.template)


def _scan(dynamodb: Any, table: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": table}
    while True:
        page = dynamodb.scan(**kwargs)
        items += [from_item(i) for i in page["Items"]]
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def facts(report: RunReport, compensation_may_fail: bool = True) -> Facts:
    """What ``report`` shows about the invariants (:mod:`pipeline.domain.invariants`)."""
    alerted = {str(alert.get("order_id")) for alert in report.alerts if alert.get("order_id")}
    return Facts(
        orders=report.orders,
        by_status=dict(report.by_status),
        stock_conserved=report.stock_conserved,
        stock_settled=report.stock_settled,
        stock_detail=str(report.stock),
        money_reconciled=report.money_reconciled,
        money_detail=f"{report.captured_minus_refunded} != {report.confirmed_total}"
        f" + {report.held_by_failed_compensation}",
        side_effect_repeats=0 if report.one_side_effect_each else 1,
        compensation_failures_alerted=len(alerted),
        compensation_may_fail=compensation_may_fail,
        nothing_lost=report.lake_matches_store and report.routing_complete,
        nothing_lost_detail=f"lake matches store: {report.lake_matches_store}, "
        f"routing complete: {report.routing_complete}",
        dead_letters_unaccounted=_unaccounted(report),
    )


def _unaccounted(report: RunReport) -> str:
    """ "" when every DLQ item was redriven, requeued or parked with a reason, the DLQs are
    empty after remediation, and anything parked was alerted; else what is not."""
    leftover = {q: n for q, n in report.dlq_depth.items() if n and q != "RemediationParkedQueue"}
    if leftover:
        return f"left in DLQs: {leftover}"
    received = report.remediation.get("received", 0)
    handled = sum(report.remediation.get(k, 0) for k in ("redriven", "parked", "requeued"))
    if received != handled:
        return f"{received} received, {handled} redriven, parked or requeued"
    if any(not parked["reason"] for parked in report.parked):
        return "parked without a reason"
    if report.parked and not report.alerts:
        return "parked but no alert"
    return ""
