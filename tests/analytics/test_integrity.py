"""Tampering with the lake is detected and named: an event altered (with or without its hash
recomputed), deleted, or reordered."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from analytics import fixed_lake
from pipeline.analytics.athena import LocalAthena
from pipeline.analytics.integrity import verify
from pipeline.analytics.lake import Lake
from pipeline.domain.events import parse_event


@pytest.fixture
def lake(tmp_path):
    fixed_lake.write(tmp_path)
    return Lake.open(str(tmp_path))


def problems(lake: Lake) -> set[tuple[str, int, str]]:
    with LocalAthena(lake) as athena:
        return {(p["order_id"], p["sequence"], p["problem"]) for p in verify(athena)}


def rewrite(lake: Lake, change) -> None:
    """Apply ``change(rows) -> rows`` to every file of the lake, in place."""
    for path in lake.files():
        table = pq.read_table(path)
        rows = change(table.to_pylist())
        pq.write_table(table.from_pylist(rows, schema=table.schema), path)


def is_event(row: dict, order_id: str, sequence: int) -> bool:
    return row["order_id"] == order_id and row["sequence"] == sequence


def test_an_intact_lake_verifies(lake):
    assert problems(lake) == set()


def test_an_edited_amount_is_named_even_with_the_hash_left_as_it_was(lake):
    def halve_the_refund(rows):
        for row in rows:
            if is_event(row, "order-B", 5):  # PaymentRefunded 50.00
                payload = json.loads(row["payload"])
                payload["amount"] = "5.00"
                row["payload"], row["amount"] = json.dumps(payload), row["amount"] / 10
        return rows

    rewrite(lake, halve_the_refund)
    assert problems(lake) == {("order-B", 5, "altered")}


def test_an_edit_with_its_hash_recomputed_breaks_the_next_link(lake):
    def forge(rows):
        for row in rows:
            if is_event(row, "order-A", 2):  # PaymentAuthorized
                event = parse_event(row["payload"])
                forged = event.model_copy(update={"payment_id": "pay-X"}).sealed(event.prev_hash)
                row["payload"], row["hash"] = forged.to_json(), forged.hash
        return rows

    rewrite(lake, forge)
    assert problems(lake) == {("order-A", 2, "altered")}  # found where sequence 3 links to it


def test_a_deleted_event_is_named_by_its_sequence(lake):
    rewrite(lake, lambda rows: [r for r in rows if not is_event(r, "order-C", 4)])
    assert problems(lake) == {("order-C", 4, "removed")}


def test_two_events_swapped_are_named_as_reordered(lake):
    def swap(rows):
        for row in rows:
            if row["order_id"] == "order-A" and row["sequence"] in (4, 5):
                row["sequence"] = 9 - row["sequence"]
        return rows

    rewrite(lake, swap)
    found = problems(lake)
    assert {("order-A", 4, "reordered"), ("order-A", 5, "reordered")} <= found
    assert {problem for *_, problem in found} == {"reordered"}


def test_a_duplicate_delivery_is_not_tampering(lake):
    with LocalAthena(lake) as athena:
        assert athena.query("duplicate_events").shape[0] == 1  # A's capture, twice
        assert lake.dataset().count_rows() == 26  # 25 events, one stored twice
    assert problems(lake) == set()
