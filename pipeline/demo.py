"""`python -m pipeline demo`: random orders through the real handlers and state machines.

The demo is a workload and a report. The pipeline runs in the local runtime
(:class:`pipeline.local.runtime.LocalRuntime`: the template deployed on moto, every function,
rule, stream mapping and state machine running on one clock); orders are posted over HTTP to
its order API as a careful client posts them; what the run left is read back
(:mod:`pipeline.local.observed`) and every invariant checked (:mod:`pipeline.domain.invariants`).
"""

from __future__ import annotations

import json
import random
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, TextIO

from pipeline.adapters.dynamo import to_item
from pipeline.domain.invariants import check, verdict
from pipeline.domain.order import TERMINAL
from pipeline.faults import Faults
from pipeline.faults import scenario as fault_scenario
from pipeline.local.cloud import LocalCloud
from pipeline.local.endpoint import DEFAULT_TRANSPORT, Transport
from pipeline.local.observed import RunReport, facts, observe
from pipeline.local.runtime import LocalRuntime
from pipeline.template import Template

DemoReport = RunReport  # the name the notebooks and tests know
HOT_SKU_SHARE = 0.1  # of orders that ask for the limited SKU: they contend for its stock
CATALOGUE = [  # (sku, name, unit price, stock): one hot SKU with little stock
    ("KB-001", "Mechanical keyboard", "89.00", 500),
    ("MS-002", "Wireless mouse", "25.50", 500),
    ("HP-003", "Headphones (limited)", "149.99", 6),
    ("CB-004", "USB-C cable", "9.99", 1000),
]
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
    transport: Transport = DEFAULT_TRANSPORT,
    cloud: LocalCloud | None = None,
) -> RunReport:
    """Place ``orders`` random orders and let the pipeline finish them; return the report.

    ``faults`` are injected (:class:`pipeline.faults.Faults`, or its knobs by name); unless
    given, the named ``scenario``'s, seeded from ``seed``. ``environment`` adds variables to
    every function's. ``time_scale`` None runs waits on virtual time (a seed reproduces a
    run), a number on the wall clock sped up that many times. ``hot_share`` of orders also
    want the hot SKU. ``template`` is ``infra/template.yaml`` unless given; ``transport``,
    how boto3 reaches the local cloud (:mod:`pipeline.local.endpoint`); ``cloud``, a deployed
    :class:`~pipeline.local.cloud.LocalCloud` to run on (emptied first). ``verbose`` shows
    the functions' JSON logs.
    """
    faults = fault_scenario(scenario, seed) if faults is None else faults
    injected = faults if isinstance(faults, Faults) else Faults.from_knobs(faults)
    say: Callable[[str], None] = (lambda text: print(text, file=out)) if out else (lambda _: None)
    report = RunReport(initial_stock=initial_stock(orders))
    with LocalRuntime(
        template,
        faults=injected,
        seed=seed,
        time_scale=time_scale,
        transport=transport,
        environment=environment,
        say=say,
        quiet=not verbose,
        cloud=cloud,
    ) as runtime:
        report.definitions = dict(runtime.deployment.definitions)
        _stock_the_shelves(runtime, report.initial_stock)
        started = time.perf_counter()
        try:
            _place_orders(runtime, report, orders, random.Random(seed), seed, hot_share)
            runtime.finish()
        except KeyboardInterrupt:
            report.interrupted = True
            report.in_flight = runtime.interrupted()
        report.wall_s = time.perf_counter() - started
        observe(runtime, report)
    _print_report(report, say)
    return report


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


def _stock_the_shelves(runtime: LocalRuntime, stock: Mapping[str, int]) -> None:
    table, dynamodb = runtime.stack.ref("InventoryTable"), runtime.client("dynamodb")
    for sku, name, price, _ in CATALOGUE:
        item = {"pk": f"sku#{sku}", "sku": sku, "name": name, "unit_price": Decimal(price)}
        item |= {"available": stock[sku], "reserved": 0, "shipped": 0}
        dynamodb.put_item(TableName=table, Item=to_item(item))


def _place_orders(
    runtime: LocalRuntime, report: RunReport, orders: int, rng: random.Random, seed: int, hot: float
) -> None:
    """Post ``orders`` orders, letting the pipeline catch up every ``PUMP_EVERY``."""
    for n in range(orders):
        runtime.check_stop()
        body = {
            "customer_id": f"cust-{rng.randint(1, 12):03d}",
            "lines": order_lines(rng, hot),
        }
        key = f"demo-key-{seed}-{n:05d}"
        if _post(f"{runtime.api.url}/orders", body, key) in (200, 201):
            report.orders += 1
        else:
            report.rejected += 1
        if n % PUMP_EVERY == PUMP_EVERY - 1:
            runtime.settle()


def _post(url: str, body: Any, key: str, attempts: int = 5) -> int:
    """POST JSON over HTTP as a careful client does: a 503, or a 429 after its Retry-After,
    is retried with the same Idempotency-Key, so a retry can never place the order twice.
    Returns the last status."""
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
                return int(response.status)
        except urllib.error.HTTPError as error:
            status = error.code
            if status == 429:  # over the stage's throttle: come back when it says
                time.sleep(float(error.headers.get("Retry-After") or 1))
            elif status != 503:
                return status
    return status


def _print_report(report: RunReport, say: Callable[[str], None]) -> None:
    if report.interrupted:
        say("\nInterrupted (Ctrl-C): the report below is the state when the run stopped.")
        for title, items in (
            ("In flight (queued, waiting or not yet delivered)", report.in_flight),
            ("Orders not finished", report.unfinished),
        ):
            say(f"{title}: {len(items)}" + "".join(f"\n  {item}" for item in items[:20]))
    say(f"\nOrders accepted: {report.orders}, rejected by the API: {report.rejected}")
    say("Final status of every order (read model):")
    for status, count in sorted(report.by_status.items()):
        say(f"  {status:<22} {count:>4}  ({'terminal' if status in TERMINAL else 'NOT TERMINAL'})")
    say("State machine executions:")
    for key, count in sorted(report.executions.items()):
        say(f"  {key:<40} {count:>4}")
    for failure, count in sorted(report.failures.items()):
        say(f"  failed: {failure} x{count}")
    depths = ", ".join(f"{q}={n}" for q, n in sorted(report.dlq_depth.items()))
    remediation = ", ".join(f"{k} {v}" for k, v in sorted(report.remediation.items()))
    late = f"; {report.delayed_deliveries} arrived late" if report.delayed_deliveries else ""
    say(f"Task retries: {report.retries}   Events stored: {report.events}")
    say(
        f"EventBridge delivery retries: {report.delivery_retries}, dead-lettered: "
        f"{report.dead_lettered}, duplicated: {report.duplicate_deliveries}; queue depths: {depths}"
    )
    say(f"DLQ remediation: {remediation or 'nothing to do'}")
    say(
        f"Routing: {report.routed} events matched rules, each delivered or dead-lettered; every "
        f"stored event reached every rule it matches: {report.routing_complete}{late}"
    )
    if report.unreadable_events:
        say(f"Unreadable items in the event store (poison): {report.unreadable_events}")
    if report.parked or report.alerts:
        say(f"Parked for operations: {len(report.parked)}; alerts sent: {len(report.alerts)}")
        for reason, count in Counter(str(p["reason"]) for p in report.parked).most_common(5):
            say(f"  parked x{count}: {reason}")
    say(f"Customer notifications: {report.notifications}")
    _print_invariants(report, say)


def _print_invariants(report: RunReport, say: Callable[[str], None]) -> None:
    held = report.held_by_failed_compensation
    say(
        f"Money (finished orders): captured - refunded = {report.captured_minus_refunded}; "
        f"confirmed orders total = {report.confirmed_total}"
        + (f" + {held} held by failed compensations (alerted)" if held else "")
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
        f"{report.moto_requests} AWS calls after the deploy took {report.moto_s:.1f} s in moto "
        f"({report.dynamodb_throttled} DynamoDB calls throttled by injection)"
    )
    say(
        f"Order latency (OrderPlaced to its terminal event, pipeline clock): "
        f"p50 {report.latency_percentile(50):.2f} s, p99 {report.latency_percentile(99):.2f} s"
    )
    say(
        f"Audit lake: {report.lake_rows} Parquet rows in {report.lake_files} files "
        f"({report.lake_duplicates} duplicate deliveries); "
        f"every stored event, once each after de-duplication: {report.lake_matches_store}"
    )
    scale = report.time_scale
    clock = "virtual (waits jump; reproducible)" if scale is None else f"wall clock x{scale:g}"
    say(f"Clock: {clock}; {report.simulated_s / 60:.1f} min of pipeline time elapsed.")
    if not report.interrupted:
        say(f"Verdict: {verdict(check(facts(report)))}.")
