"""A run over time: fixed windows of simulated seconds, each with its orders, latencies,
compensations, dead letters, quota demand and throttles.

The simulation closes a window at each multiple of ``window_s`` by taking the difference of
its running totals since the last close (nothing per event but the latency of an order that
ends), so the windows add up to the run's totals. Shards' windows line up on the same
multiples and merge by adding.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pipeline.sim.histogram import LogHistogram

WINDOW_S = 10.0  # default: a 2-minute run is a dozen points, an hour 360
BINS_PER_DECADE = 50  # a window's latency quantiles within about 5%: enough for a plot
# Each quota's throttles, by their name in ``Stats.throttles`` (the engine's).
QUOTA_THROTTLES = {
    "api_gateway": "api_gateway",
    "put_events": "eventbridge:PutEvents",
    "invocations": "eventbridge:invocations (delayed)",
    "state_transitions": "stepfunctions:StateTransition",
    "start_execution_standard": "stepfunctions:StartExecution:STANDARD",
    "start_execution_express": "stepfunctions:StartExecution:EXPRESS",
}


def _histogram() -> LogHistogram:
    return LogHistogram(bins_per_decade=BINS_PER_DECADE)


@dataclass
class Window:
    """What happened in one window. ``counts`` holds every additive figure: orders
    (``arrived``, ``accepted``, ``rejected_429``, ``finished``, ``compensated``),
    ``dead_lettered`` deliveries, ``demand:<quota>`` requests and ``throttled:<name>``."""

    seconds: float = 0.0
    counts: Counter[str] = field(default_factory=Counter)
    latency: LogHistogram = field(default_factory=_histogram)  # of orders that ended in it
    concurrency: dict[str, tuple[int, int]] = field(default_factory=dict)  # fn: peak, limit

    def merge(self, other: Window) -> None:
        """Add a shard's window: counts add, so do peaks (an upper bound) and limits."""
        self.seconds = max(self.seconds, other.seconds)
        self.counts.update(other.counts)
        self.latency.merge(other.latency)
        for function, (peak, limit) in other.concurrency.items():
            mine = self.concurrency.get(function, (0, 0))
            self.concurrency[function] = (mine[0] + peak, mine[1] + limit)


@dataclass
class Timeline:
    """A run's windows by index (window ``k`` starts at ``k * window_s``) and its quotas'
    limits per second (``demand:<quota>`` is measured against ``limits[<quota>]``)."""

    window_s: float = WINDOW_S
    windows: dict[int, Window] = field(default_factory=dict)
    limits: dict[str, float] = field(default_factory=dict)
    latency: LogHistogram = field(default_factory=_histogram)  # the open window's
    _closed_at: float = 0.0
    _totals: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        if not self.window_s > 0:
            raise ValueError("a timeline's window must be positive")

    def close(
        self,
        now: float,
        totals: Mapping[str, int],
        concurrency: Mapping[str, tuple[int, int]],
    ) -> None:
        """Close the window under way at ``now``: the running ``totals`` since the last close,
        the latencies added since, the peak concurrency per function with its limit."""
        index = int(self._closed_at / self.window_s + 1e-9)
        if now <= index * self.window_s and index:  # again at the boundary just closed
            index -= 1
        window = self.windows.setdefault(index, Window())
        elapsed = min(now - index * self.window_s, self.window_s)
        window.seconds = max(window.seconds, elapsed)
        totals = Counter(totals)
        window.counts.update(totals - self._totals)
        self._totals, self._closed_at = totals, now
        window.latency.merge(self.latency)
        self.latency = _histogram()
        for function, (peak, limit) in concurrency.items():
            old = window.concurrency.get(function, (0, 0))
            window.concurrency[function] = (max(old[0], peak), max(old[1], limit))

    def merge(self, other: Timeline) -> None:
        """Add a shard's timeline (the same ``window_s``): windows and limits add."""
        if other.window_s != self.window_s:
            raise ValueError(f"windows differ: {self.window_s} s and {other.window_s} s")
        for index, theirs in other.windows.items():
            self.windows.setdefault(index, Window()).merge(theirs)
        for quota, limit in other.limits.items():
            self.limits[quota] = self.limits.get(quota, 0.0) + limit

    def busiest_function(self) -> str | None:
        """The Lambda function that came closest to its concurrency limit in any window."""
        use: dict[str, float] = {}
        for window in self.windows.values():
            for function, (peak, limit) in window.concurrency.items():
                use[function] = max(use.get(function, 0.0), peak / limit if limit else math.inf)
        return max(use, key=use.__getitem__) if use else None

    def rows(self) -> list[dict[str, Any]]:
        """One flat row per window, in time order, the same keys in each (a DataFrame's):
        ``start_s``, ``seconds``, order counts, ``orders_per_s``, ``p50_s``/``p95_s``/
        ``p99_s``, ``compensation_rate`` (of the orders finished in it), ``dead_lettered``,
        ``<quota>_per_s``, ``<quota>_limit_per_s`` and ``<quota>_throttled_per_s`` for each
        quota with demand (``QUOTA_THROTTLES``),
        ``throttles`` and ``throttled:<name>``, and the busiest function's ``lambda_peak``
        against ``lambda_limit`` (``lambda_function``)."""
        if not self.windows:
            return []
        every: Counter[str] = Counter()
        for window in self.windows.values():
            every.update(window.counts)
        quotas = sorted(q for q in self.limits if every[f"demand:{q}"])
        throttled = sorted(k for k in every if k.startswith("throttled:"))
        function = self.busiest_function()
        rows = []
        for index in range(min(self.windows), max(self.windows) + 1):
            window = self.windows.get(index) or Window(seconds=self.window_s)
            counts, seconds = window.counts, window.seconds or self.window_s
            finished = counts["finished"]
            row: dict[str, Any] = {
                "start_s": index * self.window_s,
                "seconds": seconds,
                **{
                    name: counts[name]
                    for name in ("arrived", "accepted", "rejected_429", "finished")
                },
                "ended": window.latency.n,
                "orders_per_s": counts["accepted"] / seconds,
                **{f"p{int(q * 100)}_s": window.latency.quantile(q) for q in (0.5, 0.95, 0.99)},
                "compensated": counts["compensated"],
                "compensation_rate": counts["compensated"] / finished if finished else None,
                "dead_lettered": counts["dead_lettered"],
            }
            for quota in quotas:
                row[f"{quota}_per_s"] = counts[f"demand:{quota}"] / seconds
                row[f"{quota}_limit_per_s"] = self.limits[quota]
                throttled_name = f"throttled:{QUOTA_THROTTLES.get(quota, quota)}"
                row[f"{quota}_throttled_per_s"] = counts[throttled_name] / seconds
            row["throttles"] = sum(counts[name] for name in throttled)
            row.update({name: counts[name] for name in throttled})
            if function:
                peak, limit = window.concurrency.get(function, (0, None))
                row.update(lambda_function=function, lambda_peak=peak, lambda_limit=limit)
            rows.append(row)
        return rows
