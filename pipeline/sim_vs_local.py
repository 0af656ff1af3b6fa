"""The simulator checked against the local cloud: the same fault scenario and seed run in
both, compared measure by measure with :func:`pipeline.sim.validation.compare` (whose
docstring says what is compared, and what is switched off in the simulator to compare it).

Not rejecting "both runs measure the same thing" is not the same as agreeing: with 100 local
orders a rare measure can differ several-fold and still not be rejected. So each comparison
also gets the **power** of its test at that sample size: the chance it would have rejected had
the local mean been ``RATIO`` times the simulator's (or 1/``RATIO`` times; the smaller of the
two), at the same alpha, by the same test (the conditional binomial test for rare counts, computed
exactly; the z-test, by its normal approximation). :func:`verdict` reads the two together:

- **differs**: the test rejected at alpha;
- **agrees (power X%)**: not rejected, and the test had at least ``ENOUGH_POWER`` to see a
  ``RATIO``-fold difference;
- **not rejected, underpowered (power X%)**: not rejected, but a ``RATIO``-fold difference
  could easily have gone unseen: run more local orders to decide;
- **neither run saw any**: nothing to compare.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist
from typing import Any

from pipeline.demo import run_demo
from pipeline.local.cloud import LocalCloud
from pipeline.sim.regions import QUOTA_NAMES
from pipeline.sim.run import RunSpec, build
from pipeline.sim.stats import PerOrder
from pipeline.sim.validation import UNLIMITED, Agreement, compare, per_order


def run_both(
    scenario: str,
    seed: int,
    local_orders: int,
    sim_orders: int,
    sim_rate_per_min: float = 120,
    cloud: LocalCloud | None = None,
) -> tuple[PerOrder, PerOrder]:
    """Run ``scenario`` with ``seed`` in the local cloud (``cloud`` when given, else one
    deployed for the run) and in the simulator, both on the cloud's template (its design
    variant; the default's when no cloud is given)."""
    report = run_demo(orders=local_orders, seed=seed, scenario=scenario, hot_share=0.0, cloud=cloud)
    local = per_order(report.per_order.values())
    spec = RunSpec(
        rate_per_min=sim_rate_per_min,
        duration_s=sim_orders / sim_rate_per_min * 60,
        seed=seed,
        scenario=scenario,
        hot_share=0.0,
        reserved_concurrency=0,
        account_concurrency=UNLIMITED,
        quotas={name: (UNLIMITED, UNLIMITED) for name in QUOTA_NAMES},
        atomic_steps=True,
    )
    return local, build(spec, cloud.template if cloud else None).run().per_order


def validate(
    scenario: str, seed: int, local_orders: int = 100, sim_orders: int = 10_000
) -> list[Agreement]:
    """Both runs of ``scenario``, compared measure by measure."""
    local, sim = run_both(scenario, seed, local_orders, sim_orders)
    return compare(local, sim)


RATIO = 2.0  # the difference the power is for: local mean RATIO or 1/RATIO times the sim's
ENOUGH_POWER = 0.8  # the conventional power below which "not rejected" is not "agrees"
TESTS = {
    "z": "two-sample z-test (pooled variance)",
    "exact": "exact conditional binomial test (rare counts)",
}


def power(row: Agreement, ratio: float = RATIO) -> float:
    """The chance ``row``'s test (its own, at its alpha and sample sizes) rejects when the local
    mean is ``ratio`` times the simulator's, or 1/``ratio`` times: the smaller of the two.
    The simulator's mean stands for the truth (its run is far larger); per-order variance is
    taken to scale with the mean, as it does for counts. 0 when the simulator saw none."""
    base = row.sim.mean
    if base <= 0:
        return 0.0
    return min(_power(row, base * factor) for factor in (ratio, 1 / ratio))


def _power(row: Agreement, local_mean: float) -> float:
    n1, n2, base = row.local.n, row.sim.n, row.sim.mean
    if row.test == "exact":
        return _exact_power(n1, n2, local_mean, base, row.alpha)
    sim_var = (row.sim.stderr**2) * n2
    local_var = sim_var * local_mean / base  # variance scales with the mean (counts)
    spread = math.sqrt(local_var / n1 + sim_var / n2)
    if spread == 0:
        return 1.0
    shift, z = abs(local_mean - base) / spread, NormalDist().inv_cdf(1 - row.alpha / 2)
    return NormalDist().cdf(shift - z) + NormalDist().cdf(-shift - z)


def _exact_power(n1: int, n2: int, local_mean: float, sim_mean: float, alpha: float) -> float:
    """Power of the conditional binomial test (``validation._exact_p``): counts in each run
    as Poisson with these means, the total taken at its expectation, the local share of it
    binomial. Rejects where the two-sided p (twice the smaller tail under the orders' share)
    is below ``alpha``."""
    total = round(n1 * local_mean + n2 * sim_mean)
    if total == 0:
        return 0.0
    null, alt = n1 / (n1 + n2), n1 * local_mean / (n1 * local_mean + n2 * sim_mean)
    under_null, under_alt = _binomial(total, null), _binomial(total, alt)
    below = 0.0
    above = 1.0
    rejected = 0.0
    for k in range(total + 1):
        below += under_null[k]
        if min(1.0, 2 * min(below, above)) < alpha:
            rejected += under_alt[k]
        above -= under_null[k]
    return min(1.0, rejected)


def _binomial(total: int, share: float) -> list[float]:
    logs = [
        math.lgamma(total + 1)
        - math.lgamma(k + 1)
        - math.lgamma(total - k + 1)
        + k * math.log(share)
        + (total - k) * math.log1p(-share)
        for k in range(total + 1)
    ]
    return [math.exp(value) for value in logs]


RATIOS = (1.5, 2.0, 3.0, 5.0, 10.0, 20.0)  # the differences :func:`detectable` tries


def detectable(row: Agreement, ratios: Sequence[float] = RATIOS) -> float | None:
    """The smallest of ``ratios`` that ``row``'s test sees with ``ENOUGH_POWER`` both ways
    (local mean that many times the simulator's, or that many times smaller); None when even
    the largest could go unseen."""
    return next((r for r in ratios if power(row, r) >= ENOUGH_POWER), None)


def verdict(row: Agreement, ratio: float = RATIO) -> str:
    """What ``row`` says, read with its power (the module docstring)."""
    if row.local.mean == 0 and row.sim.mean == 0:
        return "neither run saw any"
    if not row.agrees:
        return "differs"
    chance = power(row, ratio)
    if chance >= ENOUGH_POWER:
        return f"agrees (power {chance:.0%})"
    return f"not rejected, underpowered (power {chance:.0%})"


def table(rows: Sequence[Agreement], ratio: float = RATIO) -> Any:
    """The comparison as a DataFrame: per measure, both means with their 95% intervals, the
    ratio of the means, the test used, its p against alpha, its power to see a ``ratio``-fold
    difference, the smallest difference it sees with 80% power, and the verdict."""
    import pandas as pd

    records = []
    for row in rows:
        records.append(
            {
                "measure": row.measure.removeprefix("retries:"),
                "kind": "retries per order" if row.measure.startswith("retries:") else "per order",
                "local": round(row.local.mean, 4),
                "local 95% CI": (round(row.local.low, 4), round(row.local.high, 4)),
                "sim": round(row.sim.mean, 4),
                "sim 95% CI": (round(row.sim.low, 4), round(row.sim.high, 4)),
                "local / sim": round(row.local.mean / row.sim.mean, 2) if row.sim.mean else None,
                "test": row.test,
                "p": round(row.p_value, 4),
                "alpha": round(row.alpha, 4),
                f"power ({ratio:g}x)": round(power(row, ratio), 2),
                "detects (80%)": _fold(detectable(row)),
                "verdict": verdict(row, ratio),
            }
        )
    return pd.DataFrame(records)


def _fold(ratio: float | None) -> str:
    return f"{ratio:g}x" if ratio else f"not even {RATIOS[-1]:g}x"


def plot(rows: Sequence[Agreement], ratio: float = RATIO, ax: Any | None = None) -> Any:
    """Each measure's mean per order with its 95% interval in both runs
    (:func:`pipeline.sim.plots.agreement`), its verdict written beside it."""
    from matplotlib.transforms import blended_transform_factory

    from pipeline.sim import plots

    ax = plots.agreement(rows, ax)
    ax.figure.set_size_inches(10, 0.45 * len(rows) + 1.6)
    colors = {"differs": "#c0392b", "agrees": "#1e8449", "not rejected": "#b9770e"}
    at = blended_transform_factory(ax.transAxes, ax.transData)
    for n, row in enumerate(rows):
        said = verdict(row, ratio)
        color = next((c for key, c in colors.items() if said.startswith(key)), "#555555")
        ax.text(1.02, n, said, transform=at, va="center", fontsize="small", color=color)
    ax.set_yticks(range(len(rows)), [row.measure.removeprefix("retries:") for row in rows])
    ax.set_xlabel("events per order (mean, 95% interval): compensations, retries, dead letters")
    ax.set_title(
        f"Local cloud vs simulator, per measure; verdict at the right (power for a {ratio:g}x "
        "difference)",
        fontsize="medium",
    )
    ax.legend(fontsize="small", loc="lower right")
    return ax
