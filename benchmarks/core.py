"""Core-path benchmarks: folding events, and placing orders through the API on loopback."""

from __future__ import annotations

import contextlib
import io
import statistics
import threading
import time
from datetime import timedelta
from decimal import Decimal
from typing import Any

import boto3
from botocore.client import BaseClient

from pipeline.adapters.catalog import Catalog
from pipeline.adapters.event_store import EventStore
from pipeline.adapters.inventory import InventoryStore
from pipeline.adapters.order_views import OrderViews
from pipeline.demo import run_demo
from pipeline.domain import events as ev
from pipeline.domain.factory import Cause, EventFactory
from pipeline.domain.invariants import check
from pipeline.domain.order import Order, fold
from pipeline.handlers import order_api
from pipeline.local.apigw import proxy_event
from pipeline.local.cloud import LocalCloud
from pipeline.local.endpoint import LocalEndpoint, Transport
from pipeline.local.lambda_context import LambdaContext
from pipeline.local.observed import facts
from pipeline.local.provision import provision
from pipeline.seeds import EPOCH
from pipeline.template import Template

T0 = EPOCH


def _history(orders: int) -> list[ev.Event]:
    """A confirmed order's seven events, ``orders`` times, sealed like the store seals them."""
    out: list[ev.Event] = []
    tick = iter(range(10**9))
    factory = EventFactory(clock=lambda: T0 + timedelta(seconds=next(tick)), ids=lambda: "e")
    amount = Decimal("10.00")
    steps: list[tuple[type[ev.Event], dict[str, Any]]] = [
        (
            ev.OrderPlaced,
            {
                "lines": (ev.OrderLine(sku="A-1", quantity=1, unit_price=amount),),
                "currency": "USD",
                "total": amount,
            },
        ),
        (ev.PaymentAuthorized, {"payment_id": "p", "amount": amount}),
        (ev.PaymentCaptured, {"payment_id": "p", "amount": amount}),
        (ev.InventoryReserved, {"reservation_id": "r"}),
        (ev.LabelCreated, {"tracking_number": "t", "label_uri": "s3://b/k"}),
        (ev.OrderConfirmed, {}),
        (ev.CustomerNotified, {"kind": "OrderConfirmed", "message_id": "m"}),
    ]
    for n in range(orders):
        order = Order(f"o-{n}", customer_id="c")
        for spec in steps:
            (event,) = factory.next(order, [spec], Cause("c"))
            event = event.sealed(order.last_hash)
            order = order.apply(event)
            out.append(event)
    return out


HISTORY = _history(1_000)


def fold_events() -> int:
    """Rebuild 1,000 orders (7,000 events) from their events."""
    by_order: dict[str, list[ev.Event]] = {}
    for event in HISTORY:
        by_order.setdefault(event.order_id, []).append(event)
    for events in by_order.values():
        fold(events)
    return len(HISTORY)


def place_orders(count: int = 200) -> int:
    """POST ``count`` orders through the order API handler against moto on loopback."""
    with LocalEndpoint() as endpoint:
        session = boto3.Session(
            region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
        )
        stack = provision(Template.load(), session, endpoint_url=endpoint.url)
        dynamodb = session.client("dynamodb", endpoint_url=endpoint.url)
        InventoryStore(dynamodb, stack.ref("InventoryTable")).put_stock(
            "A-1", "bench", Decimal("1.00"), 10**6
        )
        order_api.wiring.configure(
            order_api.OrderApiDeps(
                store=EventStore(dynamodb, stack.ref("EventsTable")),
                views=OrderViews(dynamodb, stack.ref("OrdersTable")),
                catalog=Catalog(dynamodb, stack.ref("InventoryTable")),
                factory=EventFactory(),
            )
        )
        try:
            body = {"customer_id": "bench", "lines": [{"sku": "A-1", "quantity": 1}]}
            with contextlib.redirect_stdout(io.StringIO()):  # the handler's EMF metrics
                _post_orders(body, count)
        finally:
            order_api.wiring.configure(None)
    return count


def _post_orders(body: dict[str, Any], count: int) -> None:
    for n in range(count):
        event = proxy_event("POST", "/orders", body, {"Idempotency-Key": f"bench-{n:08d}"})
        assert order_api.lambda_handler(event, LambdaContext())["statusCode"] == 201


END_TO_END_ORDERS = 200


class ApiCallTimer:
    """Wall time spent inside botocore API calls (outermost call per thread), installed
    around ``BaseClient._make_api_call`` for the benchmark only."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._depth = threading.local()
        self._original = BaseClient._make_api_call

    def __enter__(self) -> ApiCallTimer:
        timer, original = self, self._original

        def timed(client: Any, operation: str, params: Any) -> Any:
            depth = getattr(timer._depth, "n", 0)
            timer._depth.n = depth + 1
            started = time.perf_counter()
            try:
                return original(client, operation, params)
            finally:
                timer._depth.n = depth
                if depth == 0:
                    timer.seconds += time.perf_counter() - started

        BaseClient._make_api_call = timed
        return self

    def __exit__(self, *exc: object) -> None:
        BaseClient._make_api_call = self._original


def end_to_end(orders: int = END_TO_END_ORDERS, scenario: str = "default") -> int:
    """Orders from HTTP POST to terminal state through the whole local pipeline (deployed
    through CloudFormation on moto), faults on; prints latency and where the time went:
    inside moto, in the SDK client around it (building, signing, sending, parsing), and the
    rest (our runtime: interpreter, delivery, stream mappings, and the handlers). The split
    is taken over the run and its report; the deployment is made first and left out."""
    with LocalCloud() as cloud:
        started = time.perf_counter()
        with ApiCallTimer() as sdk:
            report = run_demo(orders=orders, seed=1, scenario=scenario, cloud=cloud)
        total = time.perf_counter() - started
    assert report.lake_matches_store and report.stock_conserved and report.money_reconciled
    inside_moto = report.moto_s / total
    client = max(0.0, sdk.seconds - report.moto_s) / total
    print(
        f"    {orders} orders ({scenario}): {60 * orders / report.wall_s:,.0f} orders/min "
        f"once deployed; order latency p50 {report.latency_percentile(50):.2f} s, "
        f"p99 {report.latency_percentile(99):.2f} s; {report.moto_requests / orders:.0f} "
        f"AWS calls per order; time: {inside_moto:.0%} inside moto, {client:.0%} in the SDK "
        f"client, {1 - inside_moto - client:.0%} in our runtime and handlers"
    )
    return orders


def demo_by_transport(orders: int = END_TO_END_ORDERS, repeats: int = 3, seed: int = 1) -> dict:
    """The demo's orders per minute (once deployed) on each transport of the local cloud,
    in-process and HTTP, alternating, same seed; medians and their ratio. Every invariant
    must hold on both.

    Then where an AWS call's time goes, per call (medians): inside moto, in the SDK client
    around it (in-process: building, signing, parsing; over HTTP also the socket and the
    server), and in our runtime and handlers. The HTTP transport adds its extra per call to
    the same work, so the ratio cannot reach 2 unless the in-process cost of a call (moto,
    client and our share) is no more than that extra."""
    rates: dict[Transport, list[float]] = {"inprocess": [], "http": []}
    per_call: dict[Transport, list[tuple[float, float, float]]] = {"inprocess": [], "http": []}
    for _ in range(repeats):
        for transport in rates:
            with ApiCallTimer() as sdk:
                report = run_demo(orders=orders, seed=seed, transport=transport)
            failed = [name for name, why in check(facts(report)).items() if why]
            assert not failed, f"{transport}: {failed}"
            rates[transport].append(60 * report.orders / report.wall_s)
            calls = report.moto_requests
            moto, client = report.moto_s, sdk.seconds - report.moto_s
            ours = report.wall_s - sdk.seconds
            per_call[transport].append(
                (1e3 * moto / calls, 1e3 * client / calls, 1e3 * ours / calls)
            )
    medians = {transport: statistics.median(values) for transport, values in rates.items()}
    ratio = medians["inprocess"] / medians["http"]
    split = {
        transport: tuple(statistics.median(run[n] for run in runs) for n in range(3))
        for transport, runs in per_call.items()
    }
    print(
        f"    demo, {orders} orders, seed {seed} (median of {repeats}, alternating): "
        f"in-process {medians['inprocess']:,.0f} orders/min, HTTP {medians['http']:,.0f} "
        f"orders/min: {ratio:.2f}x; every invariant held on both"
    )
    for transport, (moto, client, ours) in split.items():
        print(
            f"      per AWS call, {transport}: {moto:.2f} ms in moto, {client:.2f} ms in the SDK "
            f"client{' and transport' if transport == 'http' else ''}, {ours:.2f} ms ours: "
            f"{moto + client + ours:.2f} ms"
        )
    extra = sum(split["http"]) - sum(split["inprocess"])
    print(
        f"      HTTP adds {extra:.2f} ms per call; 2x needs an in-process call of at most that "
        f"(it is {sum(split['inprocess']):.2f} ms, {split['inprocess'][0]:.2f} of it in moto)"
    )
    return {"orders_per_min": medians, "ratio": ratio, "runs": rates, "per_call_ms": split}


BENCHMARKS = [
    ("fold: events folded into orders", fold_events, 5),
    ("order API: orders placed (moto on loopback)", place_orders, 3),
    ("local pipeline: orders completed end to end", end_to_end, 3),
]
