"""The saga under any schedule: every order ends, stock and money are conserved, and every
side effect happens once however often a step is delivered, retried or raced.

Each example places a few orders on two SKUs with little stock, then hypothesis interleaves
deliveries (some twice), tasks of live executions and faults (see ``saga_world``); the world
then drains without new faults. The state machines are the ASL definitions of ``infra``,
run by ``pipeline.asl``; the tasks are the real handlers against in-process moto.
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

import boto3
import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from moto import mock_aws
from prop_support import examples
from saga_world import EXPECTED_FAILURES, SKUS, Cloud, OrderSpec, Scenario, World, scenarios

from pipeline.domain import events as ev
from pipeline.domain.order import Order, Status, fold
from pipeline.template import Template
from pipeline.variants import VARIANTS

pytestmark = pytest.mark.system  # long hypothesis runs of whole sagas

NUMBERS = itertools.count(1)
CHAOS_STEPS = 80


@pytest.fixture(scope="module", params=["default", "choreography"])
def cloud(request):
    """The saga as each coordination runs it: the orchestrated saga (the default) and the
    four choreographed pipelines."""
    with mock_aws():
        template = Template.load(parameters=VARIANTS[request.param])
        yield Cloud(boto3.Session(region_name="us-east-1"), template)


@dataclass
class Books:
    """What the orders' endings say the stock and the gateway should hold, summed."""

    shipped: Counter = field(default_factory=Counter)
    held: Counter = field(default_factory=Counter)
    confirmed_total: Decimal = Decimal(0)
    comp_failed_net: Decimal = Decimal(0)


def check(world: World) -> None:
    """Every invariant of the settled saga; a failure message carries the schedule."""
    problems: list[str] = [f"unexpected handler error {u}" for u in world.unexpected]
    for live, result in world.ended:
        if result.status != "SUCCEEDED" and result.error not in EXPECTED_FAILURES:
            problems.append(
                f"execution #{live.number} ({live.machine} on {live.event_type} of "
                f"{live.order_id}) {result.status}: {result.error} {result.cause}"
            )
    books = Books()
    for spec in world.scenario.orders:
        events = world.store.load(spec.order_id)
        order = fold(events)
        where = f"order {spec.order_id} ({order.status}, {[e.type for e in events]})"
        found = [
            *_record_problems(world, events, order),
            *_money_problems(world, spec, order, books),
            *_stock_problems(world, order, books),
            *_label_problems(world, order),
            *_notice_problems(world, order),
        ]
        problems += [f"{where}: {problem}" for problem in found]
    problems += _books_problems(world, books)
    if problems:
        schedule = "\n  ".join(world.trace)
        raise AssertionError("\n".join(problems) + f"\nschedule:\n  {schedule}")


def _record_problems(world: World, events: list[ev.Event], order: Order) -> list[str]:
    """The order's events: chained, each once, ending it; a compensation failure alerted."""
    oid, problems = order.order_id, []
    alerts = Counter(m["order_id"] for topic, m in world.published if topic == world.alerts_topic)
    if ev.verify_chain(events):
        problems.append(f"hash chain broken {ev.verify_chain(events)}")
    if any(n > 1 for n in Counter(e.type for e in events).values()):
        problems.append("an event recorded twice")
    if not order.is_terminal:
        problems.append("not terminal")
    if order.status == Status.COMPENSATION_FAILED:
        if oid not in world.compensation_outages:
            problems.append("compensation failed with no compensation outage")
        if not alerts[oid]:
            problems.append("compensation failed without an alert")
    elif alerts[oid]:
        problems.append(f"alerted although it ended {order.status}")
    return problems


def _money_problems(world: World, spec: OrderSpec, order: Order, books: Books) -> list[str]:
    """What the gateway holds for the order is what its ending says."""
    oid, problems = order.order_id, []
    net = world.gateway_net(oid)
    calls = Counter(op for op, key in world.gateway.calls if key.startswith(f"{oid}:"))
    if any(n > 1 for n in calls.values()):
        problems.append(f"gateway operations repeated {dict(calls)}")
    if order.status == Status.CONFIRMED:
        books.confirmed_total += order.total
        if net != order.total or calls["capture"] != 1 or calls["refund"] + calls["void"]:
            problems.append(f"gateway holds {net} of {order.total}, calls {calls}")
    elif order.status == Status.CANCELLED and net != 0:
        problems.append(f"cancelled but the gateway still holds {net}")
    elif order.status == Status.COMPENSATION_FAILED:
        books.comp_failed_net += net
    if spec.declined and calls["capture"]:
        problems.append("a declined order was captured")
    return problems


def _stock_problems(world: World, order: Order, books: Books) -> list[str]:
    """A confirmed order's reservation shipped, a cancelled one's released or absent."""
    problems = []
    reservation = world.reservation(order.order_id)
    status = reservation and reservation["status"]
    lines: Counter = Counter()
    for line in (reservation or {}).get("lines", []):
        lines[line["sku"]] += int(line["quantity"])
    if order.status == Status.CONFIRMED and status != "SHIPPED":
        problems.append(f"confirmed but its reservation is {status}")
    if order.status == Status.CANCELLED and status not in (None, "RELEASED"):
        problems.append(f"cancelled but its reservation is {status}")
    if status == "SHIPPED":
        books.shipped.update(lines)
    elif status == "RESERVED":
        books.held.update(lines)
    return problems


def _label_problems(world: World, order: Order) -> list[str]:
    """At most one label bought; a confirmed order's label stands, a cancelled one's is void."""
    oid, problems = order.order_id, []
    exists, voided = world.label_state(oid)
    if world.label_puts[f"labels/{oid}.json"] > 1:
        problems.append(f"label created {world.label_puts[oid]} times")
    if order.status == Status.CONFIRMED and (not exists or voided):
        problems.append(f"confirmed with label exists={exists} voided={voided}")
    if order.status == Status.CANCELLED and exists and not voided:
        problems.append("cancelled but its carrier label is still live")
    return problems


def _notice_problems(world: World, order: Order) -> list[str]:
    """One notification per ending, of the ending's kind."""
    oid, problems = order.order_id, []
    notices = Counter(
        (m["order_id"], m["kind"]) for topic, m in world.published if topic == world.notify_topic
    )
    kind = {Status.CONFIRMED: "OrderConfirmed", Status.CANCELLED: "OrderCancelled"}.get(
        order.status
    )
    for k in ("OrderConfirmed", "OrderCancelled"):
        want = 1 if k == kind else 0
        if notices[oid, k] != want or (k in order.notified) != bool(want):
            problems.append(
                f"{notices[oid, k]} {k} notifications sent, recorded={k in order.notified}"
            )
    return problems


def _books_problems(world: World, books: Books) -> list[str]:
    """Stock conserved and matching the reservations; the gateway holds what confirmed."""
    problems = []
    for sku in SKUS:
        stock = world.stock(sku)
        initial = world.scenario.stock[sku]
        if sum(stock.values()) != initial or min(stock.values()) < 0:
            problems.append(f"{sku}: {stock} from {initial}: stock not conserved")
        if stock["shipped"] != books.shipped[sku] or stock["reserved"] != books.held[sku]:
            problems.append(
                f"{sku}: {stock}, reservations say shipped {books.shipped[sku]} "
                f"held {books.held[sku]}"
            )
    if world.gateway.net_captured() != books.confirmed_total + books.comp_failed_net:
        problems.append(
            f"gateway holds {world.gateway.net_captured()}, confirmed orders total "
            f"{books.confirmed_total} (+{books.comp_failed_net} held by failed compensations)"
        )
    return problems


@examples(50)
@given(scenario=scenarios(), data=st.data())
def test_any_schedule_settles_every_order_with_stock_and_money_conserved(cloud, scenario, data):
    world = World(cloud, next(NUMBERS), scenario, data)
    chaos = data.draw(st.integers(0, CHAOS_STEPS), label="chaotic steps")
    world.run(chaos)
    check(world)
    for line in world.trace:  # what the schedule covered (--hypothesis-show-statistics)
        for tag in ("race:", "fault=timeout", "fault=append", "fault=lost", "fault=dep"):
            if tag in line:
                event(tag)
    for spec in scenario.orders:
        event(f"ended {world.store.load_order(spec.order_id).status}")
    for live in world.ended:
        if live[0].outages:
            event(f"outage in {sorted(live[0].outages)[0]}")


def test_a_calm_run_confirms_what_stock_allows(cloud):
    """Without faults or interleaving, orders confirm in turn until stock runs out."""

    class Calm:
        def draw(self, strategy, label=None):
            raise AssertionError("a calm run draws nothing")

    scenario = Scenario(
        {"SKU-A": 3, "SKU-B": 0},
        (
            OrderSpec("o1", (("SKU-A", 2, "5.00"),), False),
            OrderSpec("o2", (("SKU-A", 2, "5.00"),), False),
            OrderSpec("o3", (("SKU-A", 1, "12.50"),), True),
        ),
    )
    world = World(cloud, next(NUMBERS), scenario, Calm())
    world.run(0)
    check(world)
    ends = {o.order_id: world.store.load_order(o.order_id).status for o in scenario.orders}
    assert ends == {"o1": Status.CONFIRMED, "o2": Status.CANCELLED, "o3": Status.CANCELLED}
    assert world.stock("SKU-A") == {"available": 1, "reserved": 0, "shipped": 2}
    assert world.gateway.net_captured() == Decimal("10.00")
