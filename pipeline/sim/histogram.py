"""Log-binned histograms: quantiles of many values in constant memory."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class LogHistogram:
    """Values from ``low`` to ``high`` in log-spaced bins: quantiles within ``1/bins_per_decade``
    of a decade (about 0.5% at 200 per decade), memory independent of the count."""

    low: float = 1e-3
    high: float = 1e5
    bins_per_decade: int = 200
    counts: Counter[int] = field(default_factory=Counter)
    n: int = 0
    total: float = 0.0
    largest: float = 0.0

    def add(self, value: float) -> None:
        self.n += 1
        self.total += value
        self.largest = max(self.largest, value)
        clamped = min(max(value, self.low), self.high)
        self.counts[int(math.log10(clamped / self.low) * self.bins_per_decade)] += 1

    def quantile(self, q: float) -> float | None:
        if not self.n:
            return None
        rank, seen = q * self.n, 0
        for index in sorted(self.counts):
            seen += self.counts[index]
            if seen >= rank:
                return self.low * 10 ** ((index + 0.5) / self.bins_per_decade)
        return self.largest

    @property
    def mean(self) -> float | None:
        return self.total / self.n if self.n else None

    def merge(self, other: LogHistogram) -> None:
        self.counts.update(other.counts)
        self.n += other.n
        self.total += other.total
        self.largest = max(self.largest, other.largest)
