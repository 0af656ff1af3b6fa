"""Order arrival processes, seeded: constant, ramp, flash sale, step, diurnal.

Each is a rate function lambda(t) in orders per second; arrivals are a non-homogeneous Poisson
process drawn by thinning (Lewis and Shedler, 1979): candidates at the peak rate, each kept
with probability lambda(t) / peak.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

Rate = Callable[[float], float]


@dataclass(frozen=True)
class Workload:
    name: str
    rate: Rate  # orders per second at time t
    peak: float  # an upper bound of rate over the run
    hot_share: Rate = lambda t: 0.0  # share of orders that want the hot SKUs at time t

    def arrivals(self, duration_s: float, rng: random.Random) -> Iterator[float]:
        """Arrival times in [0, duration_s)."""
        t = 0.0
        while True:
            t += rng.expovariate(self.peak)
            if t >= duration_s:
                return
            if rng.random() * self.peak < self.rate(t):
                yield t

    def expected(self, duration_s: float, steps: int = 10_000) -> float:
        """Expected number of arrivals (the rate's integral, midpoint rule)."""
        width = duration_s / steps
        return sum(self.rate((i + 0.5) * width) for i in range(steps)) * width


def constant(per_s: float) -> Workload:
    return Workload("constant", lambda t: per_s, per_s)


def ramp(start_per_s: float, end_per_s: float, duration_s: float) -> Workload:
    slope = (end_per_s - start_per_s) / duration_s
    return Workload(
        "ramp", lambda t: start_per_s + slope * min(t, duration_s), max(start_per_s, end_per_s)
    )


def flash_sale(
    base_per_s: float, spike_per_s: float, start_s: float, length_s: float, hot_share: float
) -> Workload:
    """A base rate, and a spike in which ``hot_share`` of orders want a few hot SKUs."""

    def within(t: float) -> bool:
        return start_s <= t < start_s + length_s

    return Workload(
        "flash-sale",
        lambda t: spike_per_s if within(t) else base_per_s,
        max(base_per_s, spike_per_s),
        lambda t: hot_share if within(t) else 0.0,
    )


def step(
    base_per_s: float, factor: float, start_s: float, length_s: float, hot_share: float = 0.0
) -> Workload:
    """``base_per_s``, then ``factor`` times it for ``length_s`` from ``start_s``, then
    ``base_per_s`` again: a flash sale at a multiple of the normal load (every order on the
    regular catalogue unless ``hot_share``)."""
    if factor <= 0 or length_s < 0:
        raise ValueError("a step needs factor > 0 and length_s >= 0")

    def within(t: float) -> bool:
        return start_s <= t < start_s + length_s

    return Workload(
        "step",
        lambda t: base_per_s * factor if within(t) else base_per_s,
        base_per_s * max(1.0, factor),
        lambda t: hot_share,
    )


def diurnal(mean_per_s: float, swing: float, period_s: float = 86_400.0) -> Workload:
    """A day's cycle: the rate swings by ``swing`` (0..1) around its mean, lowest at t = 0."""
    if not 0 <= swing <= 1:
        raise ValueError("swing must be between 0 and 1")
    return Workload(
        "diurnal",
        lambda t: mean_per_s * (1 - swing * math.cos(2 * math.pi * t / period_s)),
        mean_per_s * (1 + swing),
    )
