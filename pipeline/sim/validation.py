"""The statistics of the simulator against the local cloud: one fault scenario and seed, run
in both (:mod:`pipeline.sim_vs_local` runs them), compared measure by measure.

The local cloud runs the real handlers and the deployed state machines on moto; the simulator
runs its models of them. Both count, per order: whether its saga compensated, the retries of
each Task state, and the deliveries dead-lettered. Each measure's mean per order gets a 95%
confidence interval in each run; the two agree when their difference lies within the 95%
interval of a difference (a two-sample z-test with the pooled variance, which stays defined
when one run saw none of a rare thing). By default the intervals are simultaneous: with k
measures each is widened to 1 - 0.05/k (Bonferroni), so "all agree" is itself a 95%
statement; one at a time, about one measure in twenty would disagree by chance alone.

What the local cloud does not model is switched off in the simulator for the comparison, and
stated: it has no quotas or concurrency limits (the simulator runs without them), and it runs
one handler at a time, so two executions on one order never interleave between a handler's
load and its append (the simulator runs with ``atomic_steps``; in AWS they do interleave, and
the simulator's default shows the conflicts and retries that costs). Both runs use regular
SKUs only: contention for the hot SKU depends on how orders overlap in time, which the two
runtimes pace differently.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from statistics import NormalDist

from pipeline.sim.stats import PerOrder

Z95 = 1.959963985
UNLIMITED = 10**9  # a quota no run reaches


@dataclass(frozen=True)
class Estimate:
    """A per-order mean with its 95% confidence interval (normal approximation)."""

    mean: float
    stderr: float
    n: int

    @property
    def low(self) -> float:
        return max(0.0, self.mean - Z95 * self.stderr)

    @property
    def high(self) -> float:
        return self.mean + Z95 * self.stderr


@dataclass(frozen=True)
class Agreement:
    """One measure in both runs, and whether they agree."""

    measure: str
    local: Estimate
    sim: Estimate
    z: float  # (local - sim) / standard error of the difference, pooled
    p_value: float  # two-sided, of "both runs measure the same thing"
    alpha: float = 0.05  # agree when p_value >= alpha (0.05 / k for simultaneous intervals)
    test: str = "z"  # "z" (normal), or "exact" (conditional binomial, for rare counts)

    @property
    def agrees(self) -> bool:
        return self.p_value >= self.alpha

    def row(self) -> dict[str, object]:
        return {
            "measure": self.measure,
            "local": round(self.local.mean, 4),
            "local 95% CI": (round(self.local.low, 4), round(self.local.high, 4)),
            "sim": round(self.sim.mean, 4),
            "sim 95% CI": (round(self.sim.low, 4), round(self.sim.high, 4)),
            "z": round(self.z, 2),
            "p": round(self.p_value, 4),
            "test": self.test,
            "agrees": self.agrees,
        }


def per_order(values: Iterable[Mapping[str, float]]) -> PerOrder:
    """Moments of per-order measures (the local run's, one mapping per order)."""
    moments = PerOrder()
    for measures in values:
        moments.add(measures)
    return moments


def estimate(moments: PerOrder, measure: str) -> Estimate:
    return Estimate(moments.mean(measure), moments.stderr(measure), moments.n)


def compare(
    local: PerOrder,
    sim: PerOrder,
    measures: Iterable[str] | None = None,
    simultaneous: bool = True,
) -> list[Agreement]:
    """Every measure either run saw (or ``measures``), local against simulated, at 95% for
    all measures at once (``simultaneous``, Bonferroni) or one at a time."""
    names = sorted(measures or ({*local.sums, *sim.sums} | {"compensated", "dead_lettered"}))
    alpha = 0.05 / len(names) if simultaneous and names else 0.05
    return [_agreement(name, local, sim, alpha) for name in names]


RARE = 10  # below this many expected in the local run, the normal approximation is poor


def _agreement(name: str, local: PerOrder, sim: PerOrder, alpha: float) -> Agreement:
    n1, n2 = local.n, sim.n
    mean1, mean2 = local.mean(name), sim.mean(name)
    pooled_mean = (local.sums[name] + sim.sums[name]) / (n1 + n2)
    squares = local.squares[name] + sim.squares[name]
    pooled_var = max(0.0, (squares - (n1 + n2) * pooled_mean**2) / max(1, n1 + n2 - 1))
    spread = math.sqrt(pooled_var * (1 / n1 + 1 / n2)) if n1 and n2 else math.inf
    z = 0.0 if mean1 == mean2 else (mean1 - mean2) / spread if spread else math.inf
    estimates = estimate(local, name), estimate(sim, name)
    if pooled_mean * n1 < RARE:
        count1, count2 = round(local.sums[name]), round(sim.sums[name])
        p = _exact_p(count1, count1 + count2, n1 / (n1 + n2))
        return Agreement(name, *estimates, z, p, alpha, "exact")
    p = 2 * (1 - NormalDist().cdf(abs(z))) if math.isfinite(z) else 0.0
    return Agreement(name, *estimates, z, p, alpha, "z")


def _exact_p(count: int, total: int, share: float) -> float:
    """Two-sided p of ``count`` of ``total`` events falling in the local run, when each falls
    there with probability ``share`` (its share of the orders): rare events as Poisson counts,
    compared conditionally on their total."""
    if total == 0:
        return 1.0

    def pmf(k: int) -> float:
        log = (
            math.lgamma(total + 1)
            - math.lgamma(k + 1)
            - math.lgamma(total - k + 1)
            + k * math.log(share)
            + (total - k) * math.log1p(-share)
        )
        return math.exp(log)

    below = sum(pmf(k) for k in range(count + 1))
    above = 1 - sum(pmf(k) for k in range(count))
    return min(1.0, 2 * min(below, above))
