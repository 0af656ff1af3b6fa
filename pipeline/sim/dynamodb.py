"""DynamoDB capacity as the simulator sees it: per-partition write units, transactions at
double cost, and conditional writes that fail on contention.

A partition serves at most 1,000 write request units per second (DynamoDB developer guide,
"Partitions and data distribution"); a write of up to 1 KB costs 1 WRU, a transactional write
2 WRU per item ("Managing complex workflows with DynamoDB transactions", capacity). A hot
key (one SKU in a flash sale) lives on one partition, so it throttles while the table as a
whole is far from any limit. Burst capacity and adaptive capacity are left out: this is the
steady-state bound.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

from pipeline.quotas import TokenBucket

PARTITION_WRU_PER_S = 1_000.0
TRANSACTION_FACTOR = 2


@dataclass
class PartitionedTable:
    """Write capacity per partition key (the simulator treats each key as its own partition,
    the worst case for a hot key and exact for keys spread over many partitions)."""

    wru_per_s: float = PARTITION_WRU_PER_S
    buckets: dict[str, TokenBucket] = field(default_factory=dict)
    throttled: Counter[str] = field(default_factory=Counter)
    consumed_wru: float = 0.0

    def write(
        self, now: float, key: str, size_bytes: int = 1024, transactional: bool = False
    ) -> bool:
        """Whether a write of ``size_bytes`` to ``key`` at ``now`` is admitted; a refused one
        is a ProvisionedThroughputExceededException (or a transaction cancelled for it)."""
        units = max(1, math.ceil(size_bytes / 1024)) * (TRANSACTION_FACTOR if transactional else 1)
        bucket = self.buckets.get(key)
        if bucket is None:
            bucket = self.buckets[key] = TokenBucket(self.wru_per_s, self.wru_per_s)
        if bucket.try_take(now, units):
            self.consumed_wru += units
            return True
        self.throttled[key] += 1
        return False


@dataclass
class Stock:
    """Inventory counters with conditional reservation (``available >= :qty``): a reservation
    either takes every line or none, so stock is conserved whatever the interleaving."""

    available: dict[str, int]
    reserved: Counter[str] = field(default_factory=Counter)
    shipped: Counter[str] = field(default_factory=Counter)
    conditional_failures: int = 0

    def reserve(self, lines: dict[str, int]) -> bool:
        if any(self.available.get(sku, 0) < quantity for sku, quantity in lines.items()):
            self.conditional_failures += 1
            return False
        for sku, quantity in lines.items():
            self.available[sku] -= quantity
            self.reserved[sku] += quantity
        return True

    def release(self, lines: dict[str, int]) -> None:
        """Give reserved stock back (compensation)."""
        self._settle(lines, self.available)

    def ship(self, lines: dict[str, int]) -> None:
        """Reserved stock leaves the warehouse (a confirmed order)."""
        self._settle(lines, self.shipped)

    def _settle(self, lines: dict[str, int], into: dict[str, int]) -> None:
        for sku, quantity in lines.items():
            if self.reserved[sku] < quantity:
                raise ValueError(f"settling {quantity} of {sku} but {self.reserved[sku]} held")
        for sku, quantity in lines.items():
            self.reserved[sku] -= quantity
            into[sku] = into.get(sku, 0) + quantity
