"""The DynamoDB event store: optimistic concurrency, atomic multi-event appends, faithful folds."""

from __future__ import annotations

import threading
from decimal import Decimal

import boto3
import pytest
from factories import CAUSE, advance, make_factory, place_order

from pipeline.adapters.event_store import EventStore
from pipeline.domain import events as ev
from pipeline.domain.errors import ConcurrencyConflict, InvalidTransition
from pipeline.domain.order import Order, Status, fold
from pipeline.local.endpoint import LocalEndpoint
from pipeline.local.provision import provision

AUTH = (ev.PaymentAuthorized, {"payment_id": "p-1", "amount": Decimal("20.00")})
DECLINE = (ev.PaymentDeclined, {"reason": "card_declined"})


@pytest.fixture
def store(aws, stack) -> EventStore:
    return EventStore(aws.client("dynamodb"), stack.ref("EventsTable"))


def test_two_writers_at_the_same_sequence_exactly_one_wins(store):
    place_order(store)
    seen_by_a = store.load_order("order-1")
    seen_by_b = store.load_order("order-1")
    store.append(seen_by_a, make_factory("a").next(seen_by_a, [AUTH], CAUSE))
    with pytest.raises(ConcurrencyConflict) as conflict:
        store.append(seen_by_b, make_factory("b").next(seen_by_b, [DECLINE], CAUSE))
    assert conflict.value.sequence == 2
    assert [e.type for e in store.load("order-1")] == ["OrderPlaced", "PaymentAuthorized"]


def test_a_multi_event_append_is_all_or_nothing(store):
    place_order(store)
    stale = store.load_order("order-1")
    advance(store, "order-1", [AUTH])
    specs = [DECLINE, (ev.OrderCancelled, {"reason": "declined"})]
    with pytest.raises(ConcurrencyConflict):
        store.append(stale, make_factory("late").next(stale, specs, CAUSE))
    assert [e.sequence for e in store.load("order-1")] == [1, 2]


def test_an_invalid_event_is_refused_before_anything_is_written(store):
    place_order(store)
    order = store.load_order("order-1")
    confirm = make_factory().next(order, [(ev.OrderConfirmed, {})], CAUSE)
    with pytest.raises(InvalidTransition):
        store.append(order, confirm)
    assert len(store.load("order-1")) == 1


def test_stored_events_fold_to_the_state_at_each_sequence(store):
    factory = make_factory()  # one ticking clock: every event has its own instant
    place_order(store, factory=factory)
    snapshots = [store.load_order("order-1")]
    for spec in [
        AUTH,
        (ev.PaymentCaptured, {"payment_id": "p-1", "amount": Decimal("20.00")}),
        (ev.InventoryReserved, {"reservation_id": "order-1"}),
        (ev.LabelCreated, {"tracking_number": "T", "label_uri": "s3://labels/order-1"}),
        (ev.OrderConfirmed, {}),
    ]:
        snapshots.append(advance(store, "order-1", [spec], factory=factory))
    stored = store.load("order-1")
    assert ev.verify_chain(stored) == []
    for n, expected in enumerate(snapshots, start=1):
        assert fold(stored, upto=n) == expected
        assert fold(stored, as_of=stored[n - 1].occurred_at) == expected
    assert snapshots[-1].status == Status.CONFIRMED


def test_stream_is_enabled_with_both_images(aws, stack):
    table = aws.client("dynamodb").describe_table(TableName=stack.ref("EventsTable"))["Table"]
    assert table["StreamSpecification"] == {
        "StreamEnabled": True,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }


def _race(store_factory, order: Order, writers: int, tag: str) -> list[str]:
    """``writers`` threads append one event each after ``order.version``, all at once."""
    barrier = threading.Barrier(writers)
    outcomes: list[str] = []

    def write(i: int) -> None:
        spec = (ev.CustomerNotified, {"kind": f"w{i}", "message_id": tag})
        events = make_factory(f"w{i}").next(order, [spec], CAUSE)
        store = store_factory()
        barrier.wait()
        try:
            store.append(order, events)
            outcomes.append("won")
        except ConcurrencyConflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes


@pytest.mark.system  # threads against a local endpoint
def test_concurrent_appends_over_http_exactly_one_wins_each_round(template):
    """Real threads over real HTTP: each round, 8 writers race for the same next sequence."""
    writers, rounds = 8, 10
    with LocalEndpoint() as endpoint:
        session = boto3.Session(region_name="us-east-1")
        table = provision(template, session, endpoint_url=endpoint.url).ref("EventsTable")

        def new_store() -> EventStore:
            return EventStore(session.client("dynamodb", endpoint_url=endpoint.url), table)

        store = new_store()
        place_order(store)
        # A cancelled order accepts CustomerNotified repeatedly: a simple event to race on.
        advance(store, "order-1", [(ev.OrderCancelled, {"reason": "test"})])
        for round_no in range(rounds):
            order = store.load_order("order-1")
            outcomes = _race(new_store, order, writers, f"round-{round_no}")
            assert sorted(outcomes) == ["conflict"] * (writers - 1) + ["won"]
        stored = store.load("order-1")
        assert [e.sequence for e in stored] == list(range(1, rounds + 3))
        assert ev.verify_chain(stored) == []
