"""Every named query of the stack, run unchanged in DuckDB over a small fixed lake, against
results worked out by hand (tests/analytics/fixed_lake.py says what the lake holds)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from analytics import fixed_lake
from pipeline.analytics.athena import LocalAthena, named_queries, query_files
from pipeline.analytics.lake import Lake

D = Decimal


@pytest.fixture(scope="module")
def athena(tmp_path_factory):
    root = tmp_path_factory.mktemp("lake")
    fixed_lake.write(root)
    with LocalAthena(Lake.open(str(root))) as local:
        yield local


def rows(frame) -> list[tuple]:
    return [tuple(row) for row in frame.itertuples(index=False)]


def test_every_query_file_is_a_named_query_of_the_stack():
    assert {f.stem for f in query_files()} == set(named_queries())


def test_orders_per_status_per_hour(athena):
    frame = athena.query("orders_by_status_per_hour")
    ten, eleven = (datetime(2026, 3, 10, h, tzinfo=UTC) for h in (10, 11))
    got = {(row.hour.to_pydatetime(), row.status): row.orders for row in frame.itertuples()}
    assert got == {
        (ten, "PLACED"): 2,  # A and B
        (ten, "PAYMENT_AUTHORIZED"): 2,
        (ten, "PAYMENT_CAPTURED"): 2,  # A's capture twice in the lake: still one order
        (ten, "INVENTORY_RESERVED"): 1,
        (ten, "LABEL_CREATED"): 1,
        (ten, "CONFIRMED"): 1,
        (ten, "CANCELLED"): 1,  # B
        (eleven, "PLACED"): 2,  # C and D
        (eleven, "PAYMENT_AUTHORIZED"): 1,
        (eleven, "PAYMENT_CAPTURED"): 1,
        (eleven, "INVENTORY_RESERVED"): 1,
        (eleven, "COMPENSATION_FAILED"): 1,  # C
        (eleven, "CANCELLED"): 1,  # D
    }


def test_funnel_and_drop_off(athena):
    assert rows(athena.query("funnel_dropoff")) == [
        (1, "placed", 4, 0),
        (2, "payment_authorized", 3, 1),  # D declined
        (3, "payment_captured", 3, 0),
        (4, "inventory_reserved", 2, 1),  # B out of stock
        (5, "label_created", 1, 1),  # C's label failed
        (6, "confirmed", 1, 0),
    ]


def test_compensation_and_refund_totals(athena):
    assert rows(athena.query("compensation_totals")) == [
        ("InventoryReservationFailed", 1, D("50.00"), 0),  # B refunded in full
        ("LabelFailed", 1, D("0.00"), 1),  # C: the refund failed
    ]


def test_stage_latency_percentiles(athena):
    got = {row[0]: row[1:] for row in rows(athena.query("stage_latency_percentiles"))}
    assert got == {
        "payment": (3, 3000, 5000, 5000),  # placed -> captured: A 5 s, B 3 s, C 2 s
        "inventory": (2, 1000, 1000, 1000),  # A and C, 1 s each
        "shipping": (1, 4000, 4000, 4000),  # A: reserved +6 s -> labelled +10 s
        "confirmation": (1, 1000, 1000, 1000),
        "end_to_end": (1, 11000, 11000, 11000),
    }


def test_dlq_and_remediation_outcomes(athena):
    day = datetime(2026, 3, 10, tzinfo=UTC)
    got = [(r[0].to_pydatetime(), *r[1:]) for r in rows(athena.query("dlq_remediation_outcomes"))]
    assert got == [
        (day, "CompensationFailed", "gateway down", 1, 1),
        (day, "InventoryReservationFailed", "OutOfStock", 1, 1),
        (day, "LabelFailed", "carrier down", 1, 1),
    ]


def test_revenue_reconciliation_counts_a_duplicated_capture_once(athena):
    (row,) = rows(athena.query("revenue_reconciliation"))
    # captured 100 + 50 + 30, refunded B's 50, confirmed A's 100: C holds 30.
    assert row == (D("180.00"), D("50.00"), D("130.00"), D("100.00"), D("30.00"), 1)
    assert all(isinstance(v, Decimal) for v in row[:5])  # money is never a float


def test_duplicate_event_detection(athena):
    assert rows(athena.query("duplicate_events")) == [("order-A", 3, 2, 1)]


def test_an_intact_lake_has_no_chain_breaks(athena):
    assert athena.query("audit_chain_breaks").empty


def test_partition_pruning_opens_only_the_hours_asked_for(tmp_path):
    fixed_lake.write(tmp_path)
    lake = Lake.open(str(tmp_path))
    assert len(lake.files()) == 2
    eleven = datetime(2026, 3, 10, 11, 15, tzinfo=UTC)
    (only,) = lake.files(since=eleven)
    assert "hour=11" in only
    assert lake.files(until=datetime(2026, 3, 10, 10, 59, tzinfo=UTC))[0].count("hour=10") == 1
    with LocalAthena(lake, since=eleven) as late:
        assert rows(late.query("funnel_dropoff"))[0] == (1, "placed", 2, 0)  # C and D only
