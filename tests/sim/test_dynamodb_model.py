"""Partition capacity: a hot key throttles where spread keys do not; stock is conserved."""

from __future__ import annotations

import random

import pytest

from pipeline.sim.dynamodb import PartitionedTable, Stock


def offered(table: PartitionedTable, keys: list[str], per_s: float, seconds: float, tx: bool):
    """``per_s`` writes a second for ``seconds``, evenly spaced, round-robin over ``keys``."""
    n = int(per_s * seconds)
    admitted = sum(table.write(i / per_s, keys[i % len(keys)], transactional=tx) for i in range(n))
    return admitted, n


def test_one_hot_key_throttles_at_a_thousand_write_units_a_second():
    table = PartitionedTable()
    admitted, offered_n = offered(table, ["sku#HOT"], 600, 60, tx=True)  # 1,200 WRU/s wanted
    # one partition refills 1,000 WRU/s: 500 transactional writes/s, plus the initial burst
    assert admitted == pytest.approx(500 * 60 + 500, abs=2)
    assert table.throttled["sku#HOT"] == offered_n - admitted


def test_the_same_load_spread_over_keys_is_not_throttled():
    table = PartitionedTable()
    admitted, offered_n = offered(table, [f"sku#{i}" for i in range(10)], 600, 60, tx=True)
    assert admitted == offered_n and not table.throttled
    assert table.consumed_wru == 2 * offered_n


def test_items_over_a_kilobyte_cost_a_unit_per_kilobyte():
    table = PartitionedTable(wru_per_s=10)
    assert table.write(0.0, "k", size_bytes=4096)  # 4 WRU
    assert table.write(0.0, "k", size_bytes=6 * 1024)  # 6 WRU: the bucket is empty now
    assert not table.write(0.0, "k", size_bytes=100)


def test_concurrent_reservations_never_oversell_and_stock_is_conserved():
    stock = Stock({"HOT": 37, "A": 1_000})
    rng = random.Random(4)
    held = []
    for _ in range(500):
        lines = {"HOT": rng.randint(1, 3), "A": rng.randint(1, 3)}
        if stock.reserve(lines):
            held.append(lines)
        if held and rng.random() < 0.2:  # some orders compensate
            stock.release(held.pop(rng.randrange(len(held))))
    for sku, initial in (("HOT", 37), ("A", 1_000)):
        assert stock.available[sku] + stock.reserved[sku] == initial
        assert stock.available[sku] >= 0
    assert stock.conditional_failures > 0
    with pytest.raises(ValueError):
        stock.release({"HOT": 10_000})
