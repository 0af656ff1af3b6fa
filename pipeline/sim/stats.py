"""What a simulated run counts, in constant memory: counters, and log-binned histograms for
the latencies (no per-order list is kept, so an hour at 10,000 orders/min fits like a minute),
and the main ones per window of simulated time (``pipeline.sim.timeline``: a few counters
and a coarse histogram per window, so its memory grows with the simulated span, not the load).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pipeline.domain.order import COMPENSATION_STARTING_EVENTS, Status
from pipeline.sim.histogram import LogHistogram
from pipeline.sim.timeline import Timeline

__all__ = ["INTERNAL_CAUSES", "UNATTRIBUTED", "LogHistogram", "PerOrder", "Settling", "Stats"]

INTERNAL_CAUSES = frozenset(
    {
        "Lambda.TooManyRequestsException",
        "States.Timeout",
        "ConcurrencyConflict",
        "StoreUnavailable",
        "InventoryUnavailable",
        "Lambda.ServiceException",
        "Lambda.AWSLambdaException",
        "Lambda.SdkClientException",
    }
)
"""Task errors that are the pipeline's own doing, not the business's: a throttle (Lambda
concurrency, a DynamoDB partition), a timeout, an optimistic-concurrency conflict, the store
or the Lambda service failing. An order CANCELLED because a Catch took one of these (its
retries exhausted) is a valid order lost to capacity or to our own faults
(``orders.throttle_cancelled`` in the summary); any other cause (PaymentDeclined, OutOfStock,
GatewayUnavailable, CarrierUnavailable, ...) is a business cancellation: the customer's card,
the stock, or a partner being down."""

UNATTRIBUTED = "unattributed"  # an order cancelled with no task error recorded before it


class Totals(dict[str, float]):
    """Sums by name, a missing name reading 0 (a ``Counter``'s behaviour, for float values)."""

    def __missing__(self, name: str) -> float:
        return 0.0


@dataclass
class PerOrder:
    """Per-order measures (retries of one state, dead-lettered deliveries, compensated 0/1)
    as sums and sums of squares over every finished order: a mean and its standard error for
    each, in constant memory. An order that never had a measure counts as 0 for it."""

    n: int = 0
    sums: Totals = field(default_factory=Totals)
    squares: Totals = field(default_factory=Totals)

    def add(self, values: Mapping[str, float]) -> None:
        self.n += 1
        for name, value in values.items():
            self.sums[name] += value
            self.squares[name] += value * value

    def mean(self, name: str) -> float:
        return self.sums[name] / self.n if self.n else 0.0

    def merge(self, other: PerOrder) -> None:
        self.n += other.n
        for name, value in other.sums.items():
            self.sums[name] += value
        for name, value in other.squares.items():
            self.squares[name] += value

    def stderr(self, name: str) -> float:
        """Standard error of the mean (sample variance with n - 1)."""
        if self.n < 2:
            return math.inf
        mean = self.mean(name)
        variance = max(0.0, (self.squares[name] - self.n * mean * mean) / (self.n - 1))
        return math.sqrt(variance / self.n)


@dataclass
class Settling:
    """When the orders placed in each window of ``window_s`` seconds had all ended: per
    window (by index, ``k`` starts at ``k * window_s``), [orders placed, orders of them
    that reached a terminal status, the latest time one did]. So "by when was every order
    placed before ``t`` terminal" has an answer (:meth:`settled_by`), e.g. after a burst."""

    window_s: float = 10.0
    windows: dict[int, list[float]] = field(default_factory=dict)

    def placed(self, at: float) -> None:
        self.windows.setdefault(int(at // self.window_s), [0, 0, 0.0])[0] += 1

    def ended(self, placed_at: float, now: float) -> None:
        window = self.windows.setdefault(int(placed_at // self.window_s), [0, 0, 0.0])
        window[1] += 1
        window[2] = max(window[2], now)

    def settled_by(self, before_s: float) -> float | None:
        """The time by which every order placed before ``before_s`` (to the window) had
        ended; None if one never did (stuck, or still in flight when the run stopped)."""
        last = 0.0
        for index, (placed, ended, latest) in self.windows.items():
            if index * self.window_s >= before_s - 1e-9:
                continue
            if ended < placed:
                return None
            last = max(last, latest)
        return last

    def merge(self, other: Settling) -> None:
        for index, (placed, ended, latest) in other.windows.items():
            mine = self.windows.setdefault(index, [0, 0, 0.0])
            mine[0] += placed
            mine[1] += ended
            mine[2] = max(mine[2], latest)


@dataclass
class Stats:
    arrived: int = 0
    accepted: int = 0
    rejected: int = 0  # 429s at the API
    units: Totals = field(default_factory=Totals)  # billable units (pipeline.sim.cost)
    throttles: Counter[str] = field(default_factory=Counter)  # per service and quota
    events: Counter[str] = field(default_factory=Counter)
    tasks: Counter[tuple[str, str]] = field(default_factory=Counter)  # (machine, state)
    retries: Counter[tuple[str, str]] = field(default_factory=Counter)  # (machine, state)
    executions: Counter[tuple[str, str, str | None]] = field(default_factory=Counter)
    deliveries: Counter[str] = field(default_factory=Counter)  # per rule
    delivery_retries: Counter[str] = field(default_factory=Counter)
    dead_lettered: Counter[str] = field(default_factory=Counter)
    dlq_ages: LogHistogram = field(default_factory=LogHistogram)
    redriven: int = 0
    parked: int = 0
    dlq_left: int = 0  # dead letters still in a DLQ when the run stopped (neither redriven
    # nor parked with an alert)
    alerts: int = 0
    duplicates: int = 0  # deliveries made twice
    duplicate_steps: int = 0  # steps that found their work done
    injected_timeouts: int = 0
    latency: LogHistogram = field(default_factory=LogHistogram)  # placed -> terminal event
    per_order: PerOrder = field(default_factory=PerOrder)
    by_status: Counter[str] = field(default_factory=Counter)  # of finished orders
    # CANCELLED finished orders by the task error that led there (SimOrder.cancel_cause)
    cancelled_by_cause: Counter[str] = field(default_factory=Counter)
    compensated: int = 0
    confirmed_cents: int = 0
    gateway_net_cents: int = 0  # captured - refunded at the gateway, finished orders
    money_mismatches: int = 0  # finished orders whose gateway balance disagrees, unalarmed
    alarmed_mismatches: int = 0  # the same, on orders with a failed execution (alarmed)
    side_effect_mismatches: int = 0  # stock not settled as the status says
    finished_orders: int = 0
    stuck: int = 0  # orders with nothing left in flight that never reached a terminal status
    unfinished: int = 0
    unfinished_by_status: Counter[str] = field(default_factory=Counter)
    sim_seconds: float = 0.0
    simpy_events: int = 0  # events SimPy scheduled (the benchmark's events per second)
    lake_rows: int = 0
    stock_conserved: bool = True
    stock_left_reserved: int = 0
    timeline: Timeline = field(default_factory=Timeline)  # per window; the engine closes them
    settling: Settling = field(default_factory=Settling)  # when each window's orders ended

    def ended(self, order: Any, now: float) -> None:
        """An order reached a terminal status."""
        latency = now - order.placed_at
        self.latency.add(latency)
        self.timeline.latency.add(latency)
        self.settling.ended(order.placed_at, now)

    def finished(self, order: Any) -> None:
        """Nothing more will happen to an order: check what it left behind."""
        self.finished_orders += 1
        status = order.status
        self.by_status[str(status)] += 1
        if status == Status.CANCELLED:
            self.cancelled_by_cause[order.cancel_cause or UNATTRIBUTED] += 1
        if not order.is_terminal:
            self.stuck += 1
        compensated = not order.applied.isdisjoint(COMPENSATION_STARTING_EVENTS)
        self.compensated += compensated
        self.per_order.add({"compensated": compensated, **(order.measures or {})})
        net = order.gateway_captured - order.gateway_refunded
        self.gateway_net_cents += net
        if status == Status.CONFIRMED:
            self.confirmed_cents += order.total
            money_ok, stock_ok = net == order.total, order.stock in ("reserved", "shipped")
        elif status == Status.CANCELLED:
            money_ok, stock_ok = net == 0, order.stock in ("none", "released")
        else:
            money_ok = stock_ok = True  # COMPENSATION_FAILED or stuck: operations' to settle
        if money_ok and stock_ok:
            return
        if order.failed_executions:
            self.alarmed_mismatches += 1  # visible: ExecutionsFailed alarmed for this order
        else:
            self.money_mismatches += not money_ok
            self.side_effect_mismatches += not stock_ok

    def merge(self, other: Stats) -> None:
        """Add another run's counts (a shard of the same run): counters and histograms add,
        the simulated span is the longest, conservation holds if it held in each."""
        for name in self.__dataclass_fields__:
            mine, theirs = getattr(self, name), getattr(other, name)
            if isinstance(mine, Counter):
                mine.update(theirs)
            elif isinstance(mine, Totals):
                for key, value in theirs.items():
                    mine[key] += value
            elif isinstance(mine, LogHistogram | PerOrder | Timeline | Settling):
                mine.merge(theirs)
            elif isinstance(mine, bool):
                setattr(self, name, mine and theirs)
            elif name == "sim_seconds":
                self.sim_seconds = max(mine, theirs)
            else:
                setattr(self, name, mine + theirs)

    @property
    def throttle_cancelled(self) -> int:
        """Finished orders CANCELLED for an internal cause (:data:`INTERNAL_CAUSES`)."""
        return sum(n for cause, n in self.cancelled_by_cause.items() if cause in INTERNAL_CAUSES)

    @property
    def compensation_rate(self) -> float:
        return self.compensated / self.finished_orders if self.finished_orders else 0.0
