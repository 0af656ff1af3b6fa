"""No oversell under contention: many threads, one SKU, a real HTTP endpoint on loopback."""

from __future__ import annotations

import threading
from collections import Counter
from decimal import Decimal

import boto3
import pytest
from factories import advance, make_factory, place_order, put_stock, step

from pipeline.adapters.alerts import Alerts
from pipeline.adapters.event_store import EventStore
from pipeline.adapters.inventory import InventoryStore
from pipeline.domain import events as ev
from pipeline.domain.errors import OutOfStock
from pipeline.handlers import inventory
from pipeline.local.endpoint import LocalEndpoint
from pipeline.local.lambda_context import LambdaContext
from pipeline.local.provision import provision

pytestmark = pytest.mark.system  # many threads against a local endpoint


@pytest.fixture(scope="module")
def endpoint():
    with LocalEndpoint() as running:
        yield running


@pytest.fixture
def local(endpoint, template):
    session = boto3.Session(region_name="us-east-1")
    stack = provision(template, session, stack_name=f"c{id(object())}", endpoint_url=endpoint.url)
    return session, stack


def run_together(count: int, work) -> list[str]:
    """Start ``count`` threads at one barrier; collect each one's outcome."""
    barrier, outcomes, lock = threading.Barrier(count), [], threading.Lock()

    def body(i: int) -> None:
        barrier.wait()
        try:
            outcome = work(i)
        except OutOfStock:
            outcome = "out-of-stock"
        except Exception as error:  # anything else is a failure the test must show
            outcome = f"error:{type(error).__name__}:{error}"
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return outcomes


def test_200_threads_ordering_one_sku_with_stock_37_reserve_exactly_37(endpoint, local):
    session, stack = local
    table = stack.ref("InventoryTable")
    put_stock(session.client("dynamodb", endpoint_url=endpoint.url), table, "HOT-1", 37)

    def reserve(i: int) -> str:
        client = session.client("dynamodb", endpoint_url=endpoint.url)
        InventoryStore(client, table).reserve(f"order-{i:03d}", [("HOT-1", 1)])
        return "reserved"

    outcomes = Counter(run_together(200, reserve))
    assert outcomes == {"reserved": 37, "out-of-stock": 163}
    check = InventoryStore(session.client("dynamodb", endpoint_url=endpoint.url), table)
    item = check.get_stock("HOT-1")
    assert (item["available"], item["reserved"]) == (0, 37)
    reservations = [i for i in range(200) if check.reservation(f"order-{i:03d}") is not None]
    assert len(reservations) == 37


def test_concurrent_multi_line_orders_never_oversell_any_sku(endpoint, local):
    session, stack = local
    table = stack.ref("InventoryTable")
    client = session.client("dynamodb", endpoint_url=endpoint.url)
    put_stock(client, table, "A-1", 20)
    put_stock(client, table, "B-2", 15)

    def reserve(i: int) -> str:
        mine = InventoryStore(session.client("dynamodb", endpoint_url=endpoint.url), table)
        mine.reserve(f"order-{i:03d}", [("A-1", 1 + i % 3), ("B-2", 1 + (i + 1) % 2)])
        return "reserved"

    outcomes = run_together(60, reserve)
    assert not [o for o in outcomes if o.startswith("error")]
    store = InventoryStore(client, table)
    taken = Counter()
    for i in range(60):
        reservation = store.reservation(f"order-{i:03d}")
        for sku, quantity in reservation.lines if reservation else ():
            taken[sku] += quantity
    for sku, initial in [("A-1", 20), ("B-2", 15)]:
        item = store.get_stock(sku)
        assert item["available"] >= 0
        assert item["available"] + item["reserved"] == initial
        assert item["reserved"] == taken[sku]  # every unit reserved belongs to one whole order


def test_handler_under_contention_reserves_exactly_the_stock(endpoint, local):
    session, stack = local
    dynamodb = session.client("dynamodb", endpoint_url=endpoint.url)
    put_stock(dynamodb, stack.ref("InventoryTable"), "HOT-2", 13)
    store = EventStore(dynamodb, stack.ref("EventsTable"))
    factory = make_factory()
    for i in range(40):
        place_order(store, order_id=f"o-{i:02d}", lines=(("HOT-2", 1, "5.00"),), factory=factory)
        advance(
            store,
            f"o-{i:02d}",
            [
                (ev.PaymentAuthorized, {"payment_id": f"p{i}", "amount": Decimal("5.00")}),
                (ev.PaymentCaptured, {"payment_id": f"p{i}", "amount": Decimal("5.00")}),
            ],
            factory=factory,
        )
    inventory.wiring.configure(
        inventory.InventoryDeps(
            store=store,
            inventory=InventoryStore(dynamodb, stack.ref("InventoryTable")),
            alerts=Alerts(
                session.client("sns", endpoint_url=endpoint.url), stack.ref("AlertsTopic")
            ),
            factory=make_factory("inv"),
        )
    )
    try:
        outcomes = Counter(
            run_together(
                40,
                lambda i: inventory.lambda_handler(
                    step("reserve", order_id=f"o-{i:02d}"), LambdaContext()
                )["status"],
            )
        )
    finally:
        inventory.wiring.configure(None)
    assert outcomes == {"INVENTORY_RESERVED": 13, "out-of-stock": 27}
    reserved = [i for i in range(40) if store.load_order(f"o-{i:02d}").has("InventoryReserved")]
    assert len(reserved) == 13
    item = InventoryStore(dynamodb, stack.ref("InventoryTable")).get_stock("HOT-2")
    assert (item["available"], item["reserved"]) == (0, 13)
