"""Capacity planning: will this design hold N orders/min, where does it break, what does it
cost, what must change?

- :class:`Slo`: when an offered rate *holds*: no order stuck or left unfinished, none
  cancelled by an internal throttle or timeout (``orders.throttle_cancelled``), nothing left
  in a DLQ, p99 order latency within ``p99_factor`` of the unloaded p99, and no request shed
  with 429 (shedding means the intake is at capacity). Each failed check says why.
- :func:`probe`: one offered rate over several seeds; it holds when every seed holds.
- :func:`search`: the maximum sustainable rate: double from ``start_per_min`` until a rate
  fails, then bisect until ``(knee - max) / max <= tolerance``. The result names the knee
  (the lowest failing rate), the quota that binds there and why the SLOs failed, and keeps
  the curve (one row per offered rate and seed) with latency and cost per 1,000 CONFIRMED
  orders.
- :func:`quota_plan`: what must rise for a target rate: each quota's demand in a reference
  run, scaled linearly to the target over a headroom; as a RunSpec that applies it, checked
  and priced by a run at the target.
- :func:`overload`: a flash sale at a multiple of the capacity for a while, then back to
  normal: what is shed, lost, stuck, and how long until every order is terminal again.

Every run goes to an executor (``executor=None``: local processes; a Dask cluster's through
:func:`pipeline.sim.experiments.dask_executor`). Runs are seeded by their spec and collected
by position, so fixed seeds give the same result on any executor.

Probes are short: :data:`PROBE_ORDERS` orders of arrivals, at least :data:`PROBE_MIN_S` and
at most :data:`PROBE_S` (4 minutes) of them (:func:`probe_duration`), then up to
:data:`PROBE_DRAIN_S` for in-flight orders and dead letters to settle (the run stops as soon
as nothing is left). That keeps a whole search within a couple of minutes on two cores. The
risk: a quota's burst hides a small overload for a while. A rate ``r`` above a bucket's refill
``R`` holds in a probe of ``D`` seconds while ``(r - R) * D`` fits in the bucket's burst. For
Step Functions Standard StartExecution (burst 1,300, refill 300/s, about 5 starts per order
in the choreography) a 4-minute probe overstates that limit by about 65 orders/min (2%);
where probes are shorter the rate is higher, and the buckets that bind there drain faster:
a 5% overload empties the intake's (burst 1,000 at 500/s) in 40 s and Express StartExecution's
(6,000 at 6,000/s) in 20 s, both inside 90 s, and Standard StartExecution's in 87 s, inside the
150 s a probe at the orchestrated Standard saga's knee (18,000/min) lasts. Backlogs that grow
slower than that, or a limit reached only after many minutes (a slowly filling queue, a hot
SKU selling out), need longer probes: pass ``probe_s`` and a larger ``probe_orders``.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

from pipeline.sim.experiments import executor_or_pool, run_all
from pipeline.sim.regions import Bucket
from pipeline.sim.run import RunSpec, build, simulate
from pipeline.sim.stats import INTERNAL_CAUSES, Settling
from pipeline.sim.summary import API_QUOTA
from pipeline.sim.topology import api_throttle_setting

PROBE_S = 240.0  # at most this long of arrivals per probe (see the docstring for the risk)
PROBE_MIN_S = 90.0  # ... and at least this long
PROBE_ORDERS = 45_000  # ... or as long as this many orders take to arrive, between the two
PROBE_DRAIN_S = 1_800.0  # at most this long after arrivals stop for orders to settle
UNLOADED_SHARE = 0.05  # the unloaded p99 is measured at this share of the start rate
UNLOADED_ORDERS = 2_000  # ... over at least this many orders per seed (a longer run)
AWS_MIN_UNRESERVED = 100  # Lambda keeps at least this much concurrency unreserved

Run = Callable[[RunSpec], dict[str, Any]]


# ------------------------------------------------------------------------------ the SLOs


@dataclass(frozen=True)
class Slo:
    """When an offered rate holds. Each ``check_*`` returns None or why it fails."""

    p99_factor: float = 1.5  # p99 order latency at most this times the unloaded p99
    max_stuck: int = 0  # orders stuck or still in flight at the end
    max_throttle_cancelled: int = 0  # orders cancelled for an internal cause
    max_left_in_dlq: int = 0  # dead letters neither redriven nor parked with an alert
    max_rejected_429: int = 0  # requests shed at the intake

    def check_stuck(self, summary: dict[str, Any]) -> str | None:
        orders = summary["orders"]
        stuck, unfinished = orders["stuck"], orders["unfinished"]
        if stuck + unfinished <= self.max_stuck:
            return None
        return f"{stuck + unfinished:,} orders stuck or unfinished ({stuck:,} stuck)"

    def check_throttle_cancelled(self, summary: dict[str, Any]) -> str | None:
        orders = summary["orders"]
        if orders["throttle_cancelled"] <= self.max_throttle_cancelled:
            return None
        internal = {
            cause: n
            for cause, n in orders["cancelled_by_cause"].items()
            if cause in INTERNAL_CAUSES
        }
        causes = ", ".join(f"{cause} {n:,}" for cause, n in internal.items())
        return f"{orders['throttle_cancelled']:,} orders cancelled by throttles ({causes})"

    def check_dlq(self, summary: dict[str, Any]) -> str | None:
        left = summary["dlq"]["left"]
        if left <= self.max_left_in_dlq:
            return None
        return f"{left:,} dead letters left in the DLQs"

    def check_latency(self, summary: dict[str, Any], unloaded_p99: float | None) -> str | None:
        p99 = summary["latency_s"]["p99"]
        if unloaded_p99 is None or p99 is None:
            return None
        limit = self.p99_factor * unloaded_p99
        if p99 <= limit:
            return None
        return f"p99 {p99:,.1f} s > {self.p99_factor:g} x unloaded {unloaded_p99:,.1f} s"

    def check_intake(self, summary: dict[str, Any]) -> str | None:
        shed = summary["orders"]["rejected_429"]
        if shed <= self.max_rejected_429:
            return None
        return f"{shed:,} requests shed with 429 (intake at capacity)"

    def reasons(self, summary: dict[str, Any], unloaded_p99: float | None = None) -> list[str]:
        """Why a run fails the SLOs (empty: it holds)."""
        found = [
            self.check_stuck(summary),
            self.check_throttle_cancelled(summary),
            self.check_dlq(summary),
            self.check_latency(summary, unloaded_p99),
            self.check_intake(summary),
        ]
        return [reason for reason in found if reason]


# ----------------------------------------------------------------------- one offered rate


def probe_duration(
    rate_per_min: float, longest: float = PROBE_S, orders: int = PROBE_ORDERS
) -> float:
    """Seconds of arrivals in a probe at ``rate_per_min``: ``orders`` orders' worth, at least
    :data:`PROBE_MIN_S` and at most ``longest`` (which also caps the least)."""
    return min(longest, max(PROBE_MIN_S, orders / (rate_per_min / 60)))


def curve_row(
    summary: dict[str, Any], slo: Slo, unloaded_p99: float | None = None
) -> dict[str, Any]:
    """One run as a row of the capacity curve."""
    spec, orders, latency = summary["spec"], summary["orders"], summary["latency_s"]
    accepted = orders["accepted"]
    confirmed = orders["by_status"].get("CONFIRMED", 0)
    per_confirmed = accepted / confirmed if confirmed else math.nan  # per-accepted -> per-confirmed
    reasons = slo.reasons(summary, unloaded_p99)
    top = summary["quota_use"][0] if summary["quota_use"] else {}
    return {
        "offered_per_min": spec["rate_per_min"],
        "seed": spec["seed"],
        "confirmed_per_min": summary["confirmed_per_min"],
        "p50_s": latency["p50"],
        "p99_s": latency["p99"],
        "stuck": orders["stuck"] + orders["unfinished"],
        "throttle_cancelled": orders["throttle_cancelled"],
        "rejected_429": orders["rejected_429"],
        "dead_lettered": sum(summary["dlq"]["dead_lettered"].values()),
        "left_in_dlq": summary["dlq"]["left"],
        "cost_per_1000_confirmed_usd": float(summary["cost_per_1000_orders_usd"]) * per_confirmed,
        **{
            f"cost_per_1000_confirmed_usd:{service}": float(dollars) * per_confirmed
            for service, dollars in summary["cost_per_1000_by_service_usd"].items()
        },
        "binding_quota": summary["binding_quota"],
        "binding_use": top.get("use"),
        "holds": not reasons,
        "reasons": "; ".join(reasons),
    }


@dataclass
class Probe:
    """One offered rate over several seeds: a row per seed; it holds if every seed holds."""

    offered_per_min: float
    rows: list[dict[str, Any]]
    summaries: list[dict[str, Any]] = field(repr=False, default_factory=list)

    @property
    def holds(self) -> bool:
        return all(row["holds"] for row in self.rows)

    @property
    def reasons(self) -> list[str]:
        """Each failing seed's reasons, ``seed N: ...``."""
        return [f"seed {r['seed']}: {r['reasons']}" for r in self.rows if not r["holds"]]

    @property
    def binding_quota(self) -> str | None:
        """The quota most seeds name as binding (the first seed's on a tie)."""
        named = Counter(r["binding_quota"] for r in self.rows)
        return max(named, key=lambda q: (named[q], -_first(self.rows, q))) if named else None


def _first(rows: list[dict[str, Any]], quota: str | None) -> int:
    return next(n for n, r in enumerate(rows) if r["binding_quota"] == quota)


def _seeded(spec: RunSpec, seeds: Iterable[int], **changes: Any) -> list[RunSpec]:
    return [dataclasses.replace(spec, seed=seed, **changes) for seed in seeds]


def probe(
    spec: RunSpec,
    slo: Slo = Slo(),  # frozen: one shared default is safe
    seeds: Sequence[int] = (1, 2),
    unloaded_p99: float | None = None,
    executor: Executor | None = None,
    run: Run = simulate,
) -> Probe:
    """Run ``spec`` at its offered rate once per seed (in parallel on ``executor``)."""
    summaries = run_all(_seeded(spec, seeds), executor, run=run)
    return _probe(spec.rate_per_min, summaries, slo, unloaded_p99)


def _probe(
    rate: float, summaries: list[dict[str, Any]], slo: Slo, unloaded_p99: float | None
) -> Probe:
    return Probe(rate, [curve_row(s, slo, unloaded_p99) for s in summaries], summaries)


# ------------------------------------------------------------------------------ the search


@dataclass
class CapacityResult:
    """A capacity search's answer; :meth:`lines` is the report."""

    max_per_min: float  # the highest offered rate that held (0: none did)
    knee_per_min: float | None  # the lowest rate that failed (None: none failed up to the max)
    binding_quota: str | None  # at the knee (or at the highest rate tried, if none failed)
    reasons: list[str]  # why the knee failed, per seed
    quota_use: list[dict[str, Any]]  # at the knee, first seed: the quotas nearest to binding
    unloaded_p99_s: float | None
    curve: Any  # pandas DataFrame: a row per (offered rate, seed), by rate
    slo: Slo
    seeds: tuple[int, ...]
    tolerance: float
    probe_s: float
    base: RunSpec
    wall_s: float = 0.0

    def lines(self) -> list[str]:
        """The report: the verdict, the binding quota, the curve per rate (seeds merged)."""
        base, knee = self.base, self.knee_per_min
        described = ", ".join(f"{k}={v}" for k, v in sorted(base.parameters.items()))
        out = [
            f"capacity search: region {base.region}, scenario {base.scenario}, "
            f"workload {base.workload}, seeds {', '.join(map(str, self.seeds))}; "
            f"probes of {PROBE_ORDERS:,} orders, {min(PROBE_MIN_S, self.probe_s) / 60:g} to "
            f"{self.probe_s / 60:g} min, + drain; tolerance {self.tolerance:.0%}",
            f"  design: {described or 'template defaults'}",
            f"  unloaded p99: {_num(self.unloaded_p99_s, 1)} s "
            f"(SLO: p99 <= {self.slo.p99_factor:g}x = "
            f"{_num(self.unloaded_p99_s and self.unloaded_p99_s * self.slo.p99_factor, 1)} s)",
            f"max sustainable rate: {self.max_per_min:,.0f} orders/min",
        ]
        if knee is None:
            out.append(f"knee: none up to {self.curve['offered_per_min'].max():,.0f} orders/min")
        else:
            out.append(f"knee (lowest failing rate): {knee:,.0f} orders/min")
        saturated = [r for r in self.quota_use if r["use"] >= 0.999]
        use = next((r["use"] for r in self.quota_use if r["quota"] == self.binding_quota), None)
        out.append(
            f"binding quota: {self.binding_quota} ({_num(use and use * 100, 0)}% used)"
            + (
                "; also at 100%: " + ", ".join(r["quota"] for r in saturated[1:])
                if len(saturated) > 1
                else ""
            )
        )
        if self.reasons:
            out.append("why the knee fails:")
            out += [f"  {reason}" for reason in self.reasons]
        out.append("")
        out += self.table()
        out.append("")
        out.append("verdict: " + self.verdict())
        return out

    def table(self) -> list[str]:
        """The curve, one line per offered rate: means over seeds (p99: the worst seed)."""
        by_rate = self.curve.groupby("offered_per_min", sort=True)
        out = [
            f"{'offered/min':>12} {'confirmed/min':>14} {'p50 s':>7} {'p99 s':>8} "
            f"{'$/1k confirmed':>15} {'throttle-cxl':>12} {'stuck':>7} {'429s':>8}  holds"
        ]
        for rate, group in by_rate:
            out.append(
                f"{rate:>12,.0f} {group['confirmed_per_min'].mean():>14,.0f} "
                f"{_num(group['p50_s'].mean(), 1):>7} {_num(group['p99_s'].max(), 1):>8} "
                f"{_num(group['cost_per_1000_confirmed_usd'].mean(), 4):>15} "
                f"{group['throttle_cancelled'].sum():>12,} {group['stuck'].sum():>7,} "
                f"{group['rejected_429'].sum():>8,}  {'yes' if group['holds'].all() else 'NO'}"
            )
        return out

    def verdict(self) -> str:
        if self.knee_per_min is None:
            return (
                f"holds every rate tried, up to {self.max_per_min:,.0f} orders/min "
                "(raise --max to look further)"
            )
        if self.max_per_min <= 0:
            return f"fails even at {self.knee_per_min:,.0f} orders/min: {self.binding_quota}"
        return (
            f"holds {self.max_per_min:,.0f} orders/min; at {self.knee_per_min:,.0f} it fails "
            f"first on {self.binding_quota}: raise that (a quota plan: --target N/min)"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "max_per_min": self.max_per_min,
            "knee_per_min": self.knee_per_min,
            "binding_quota": self.binding_quota,
            "reasons": self.reasons,
            "quota_use_at_knee": self.quota_use,
            "unloaded_p99_s": self.unloaded_p99_s,
            "slo": dataclasses.asdict(self.slo),
            "seeds": list(self.seeds),
            "tolerance": self.tolerance,
            "probe_s": self.probe_s,
            "base": dataclasses.asdict(self.base),
            "wall_s": self.wall_s,
            "verdict": self.verdict(),
            "curve": [
                {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()}
                for row in self.curve.to_dict(orient="records")
            ],
        }


def _num(value: float | None, digits: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:,.{digits}f}"


class _Prober:
    """Runs the probes of a search in batches on one executor and remembers them."""

    def __init__(
        self,
        base: RunSpec,
        slo: Slo,
        seeds: Sequence[int],
        executor: Executor,
        run: Run,
        progress: bool,
        duration: Callable[[float], float] | None = None,
    ) -> None:
        self.base, self.slo, self.seeds = base, slo, tuple(seeds)
        self.duration = duration or (lambda _rate: base.duration_s)  # of a probe at a rate
        self.executor, self.run, self.progress = executor, run, progress
        self.probes: dict[float, Probe] = {}
        self.unloaded_p99: float | None = None

    def rates(self, rates: Sequence[float], unloaded: RunSpec | None = None) -> list[Probe]:
        """Probe each new rate (every seed of every rate in one batch, with the unloaded
        runs if given) and return the probes of ``rates``."""
        new = [r for r in dict.fromkeys(rates) if r not in self.probes]
        specs = [
            s
            for r in new
            for s in _seeded(self.base, self.seeds, rate_per_min=r, duration_s=self.duration(r))
        ]
        extra = _seeded(unloaded, self.seeds) if unloaded else []
        summaries = run_all([*extra, *specs], self.executor, progress=self.progress, run=self.run)
        if extra:
            p99s = [s["latency_s"]["p99"] for s in summaries[: len(extra)]]
            known = [p for p in p99s if p is not None]
            self.unloaded_p99 = max(known) if known else None  # the most lenient seed's
            summaries = summaries[len(extra) :]
        per = len(self.seeds)
        for n, rate in enumerate(new):
            chunk = summaries[n * per : (n + 1) * per]
            self.probes[rate] = _probe(rate, chunk, self.slo, self.unloaded_p99)
        return [self.probes[r] for r in rates]

    def bracket(self) -> tuple[float, float | None]:
        """(the highest rate that held below the lowest that failed (0: none), the lowest
        rate that failed (None: none)), over every probe so far: with noisy seeds a rate
        above a failure may hold; the lowest failure wins."""
        failing = [rate for rate, p in self.probes.items() if not p.holds]
        failed = min(failing) if failing else None
        holding = [r for r, p in self.probes.items() if p.holds and (failed is None or r < failed)]
        return max(holding, default=0.0), failed


def search(
    base: RunSpec,
    slo: Slo = Slo(),  # frozen: one shared default is safe
    seeds: Sequence[int] = (1, 2),
    start_per_min: float = 1_000,
    tolerance: float = 0.05,
    executor: Executor | None = None,
    max_per_min: float = 256_000,
    min_per_min: float = 10,
    probe_s: float = PROBE_S,
    drain_s: float = PROBE_DRAIN_S,
    probe_orders: int = PROBE_ORDERS,
    rates_per_step: int = 1,
    workers: int | None = None,
    progress: bool = False,
    run: Run = simulate,
    unloaded_orders: int = UNLOADED_ORDERS,
) -> CapacityResult:
    """The highest offered rate at which ``base`` (its design, region, scenario, workload)
    holds ``slo`` on every seed, to within ``tolerance``.

    First the unloaded p99 (at :data:`UNLOADED_SHARE` of ``start_per_min``, over at least
    ``unloaded_orders`` per seed; the highest seed's p99, the most lenient). Then a
    bracket: ``start_per_min`` doubled until a rate fails (or halved until one holds),
    then bisection of [held, failed] until
    ``(failed - held) / held <= tolerance``. Each step runs its rates' seeds in parallel on
    ``executor``; ``rates_per_step`` > 1 tries that many rates per step (the next doublings,
    or evenly spaced points of the bracket), for executors with more workers than seeds.
    Rates are whole orders per minute.
    """
    if tolerance <= 0 or start_per_min <= 0 or rates_per_step < 1:
        raise ValueError("tolerance, start_per_min and rates_per_step must be positive")
    started = time.perf_counter()
    base = dataclasses.replace(base, duration_s=probe_s, drain_s=drain_s, lake_dir=None)
    unloaded_rate = max(start_per_min * UNLOADED_SHARE, 1.0)
    unloaded = dataclasses.replace(
        base,
        rate_per_min=unloaded_rate,
        duration_s=max(probe_s, unloaded_orders / unloaded_rate * 60),
    )
    with executor_or_pool(executor, workers) as pool:
        duration = functools.partial(probe_duration, longest=probe_s, orders=probe_orders)
        prober = _Prober(base, slo, seeds, pool, run, progress, duration)
        prober.rates([float(round(start_per_min))], unloaded)
        held, failed = prober.bracket()
        factor = 2.0 if failed is None else 0.5
        rate = float(round(start_per_min))
        # Bracket: double while every rate holds, halve while none does.
        while (failed is None or held == 0) and rate not in (min_per_min, max_per_min):
            rates = [float(round(rate * factor**k)) for k in range(1, rates_per_step + 1)]
            # Clamped to the bounds, so the last step probes the bound itself.
            rates = sorted({min(max(r, min_per_min), max_per_min) for r in rates} - {rate})
            if not rates:
                break
            prober.rates(rates)
            held, failed = prober.bracket()
            rate = rates[-1] if factor > 1 else rates[0]
        # Bisect (or split in rates_per_step + 1) until within the tolerance.
        while failed is not None and held > 0 and (failed - held) / held > tolerance:
            step = (failed - held) / (rates_per_step + 1)
            points = {float(round(held + step * k)) for k in range(1, rates_per_step + 1)}
            points = {p for p in points if held < p < failed}
            if not points:
                break
            prober.rates(sorted(points))
            held, failed = prober.bracket()
    return _result(prober, held, failed, tolerance, probe_s, time.perf_counter() - started)


def _result(
    prober: _Prober,
    held: float,
    failed: float | None,
    tolerance: float,
    probe_s: float,
    wall_s: float,
) -> CapacityResult:
    import pandas as pd

    rows = [row for rate in sorted(prober.probes) for row in prober.probes[rate].rows]
    curve = pd.DataFrame(rows)
    at = prober.probes[failed] if failed is not None else prober.probes[max(prober.probes)]
    return CapacityResult(
        max_per_min=held,
        knee_per_min=failed,
        binding_quota=at.binding_quota,
        reasons=at.reasons,
        quota_use=at.summaries[0]["quota_use"][:6] if at.summaries else [],
        unloaded_p99_s=prober.unloaded_p99,
        curve=curve,
        slo=prober.slo,
        seeds=prober.seeds,
        tolerance=tolerance,
        probe_s=probe_s,
        base=prober.base,
        wall_s=wall_s,
    )


# --------------------------------------------------------------------------- quota plan

# quota_use's rows of token buckets -> the RegionProfile field (a RunSpec.quotas name).
BUCKET_QUOTAS = {
    "EventBridge PutEvents/s": "eventbridge_put_events",
    "EventBridge invocations/s": "eventbridge_invocations",
    "Step Functions StartExecution/s (Standard)": "sfn_start_execution",
    "Step Functions state transitions/s": "sfn_state_transitions",
    "Step Functions StartExecution/s (Express)": "sfn_express_start_execution",
}
LAMBDA_QUOTA = "Lambda concurrency "


@dataclass(frozen=True)
class PlanRow:
    """One thing to raise: a region ``quota`` (a ``RunSpec.quotas`` name or
    ``lambda_concurrency``), a ``template parameter``, a ``function setting`` (a reserved
    concurrency written in the template, no parameter) or a ``hard limit`` (no raising it:
    change the design)."""

    name: str
    kind: str
    default: float
    needed: float
    answers: str  # the quota_use row it is for
    note: str = ""


@dataclass
class QuotaPlan:
    target_per_min: float
    reference_per_min: float
    headroom: float
    rows: list[PlanRow]
    spec: RunSpec  # the base with the plan applied, at the target rate: simulate it
    cost_per_1000_confirmed_usd: float | None  # at the target, with the plan (None: unchecked)
    check: list[str]  # SLO failures at the target with the plan (empty: it holds)
    checked: bool

    def frame(self) -> Any:
        import pandas as pd

        return pd.DataFrame([dataclasses.asdict(r) for r in self.rows])

    def lines(self) -> list[str]:
        out = [
            f"quota plan for {self.target_per_min:,.0f} orders/min (demand measured at "
            f"{self.reference_per_min:,.0f}/min, scaled linearly, at most "
            f"{self.headroom:.0%} of each limit):"
        ]
        if not self.rows:
            out.append("  nothing to raise")
        for row in self.rows:
            out.append(
                f"  {row.kind:<18} {row.name:<32} {row.default:>10,.0f} -> {row.needed:>10,.0f}"
                + (f"  ({row.note})" if row.note else "")
            )
        if self.checked:
            cost = _num(self.cost_per_1000_confirmed_usd, 4)
            verdict = (
                "holds the SLOs" if not self.check else "still fails: " + "; ".join(self.check)
            )
            out.append(
                f"  simulated at {self.target_per_min:,.0f}/min with the plan: {verdict}; "
                f"${cost} per 1,000 confirmed orders"
            )
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "target_per_min": self.target_per_min,
            "reference_per_min": self.reference_per_min,
            "headroom": self.headroom,
            "rows": [dataclasses.asdict(r) for r in self.rows],
            "spec": dataclasses.asdict(self.spec),
            "cost_per_1000_confirmed_usd": self.cost_per_1000_confirmed_usd,
            "check": self.check,
        }


def quota_plan(
    base: RunSpec,
    target_per_min: float,
    headroom: float = 0.8,
    reference_per_min: float | None = None,
    seeds: Sequence[int] = (1,),
    slo: Slo = Slo(),  # frozen: one shared default is safe
    executor: Executor | None = None,
    probe_s: float = PROBE_S,
    drain_s: float = PROBE_DRAIN_S,
    verify: bool = True,
    run: Run = simulate,
) -> QuotaPlan:
    """What must rise for ``base`` to take ``target_per_min``.

    One reference run at ``reference_per_min`` (default: the target, at most 1,000/min; it
    must hold, so its demand is not clipped by a limit) measures each quota's demand (mean
    per second over the arrivals) and each function's peak concurrency; both are scaled
    linearly to the target and divided by ``headroom``. A demand over its limit is a row:
    reserved concurrency through its template parameter (``PaymentConcurrency``, ...), the
    intake's stage throttle through ``ApiThrottleRate``, region quotas by name, the
    account's Lambda concurrency (every reservation + the unreserved functions' peaks + the
    100 AWS keeps unreserved). Linear scaling of a peak overstates it a little (peaks grow
    slower than means), the sum of unreserved peaks too (they need not coincide): both err
    towards more. With ``verify``, the planned spec runs at the target (``seeds``): its cost
    per 1,000 confirmed orders and whether it holds ``slo`` (p99 against the reference's).
    """
    from pipeline.template import Template

    if not 0 < headroom <= 1:
        raise ValueError("headroom is a share of each limit: 0 < headroom <= 1")
    reference_rate = reference_per_min or min(target_per_min, 1_000.0)
    probe_base = dataclasses.replace(base, duration_s=probe_s, drain_s=drain_s, lake_dir=None)
    reference = dataclasses.replace(probe_base, rate_per_min=reference_rate, seed=seeds[0])
    with executor_or_pool(executor, None, len(seeds)) as pool:
        (ref,) = run_all([reference], pool, run=run)
        scale = target_per_min / reference_rate / headroom
        template = Template.load().with_parameters(base.parameters)
        rows, spec = _plan(reference, ref, scale, template)
        spec = dataclasses.replace(spec, rate_per_min=target_per_min)
        check: list[str] = []
        cost = None
        if verify:
            summaries = run_all(_seeded(spec, seeds), pool, run=run)
            p99 = ref["latency_s"]["p99"]
            found = [curve_row(s, slo, p99) for s in summaries]
            check = [f"seed {r['seed']}: {r['reasons']}" for r in found if not r["holds"]]
            costs = [r["cost_per_1000_confirmed_usd"] for r in found]
            cost = sum(costs) / len(costs)
    return QuotaPlan(target_per_min, reference_rate, headroom, rows, spec, cost, check, verify)


def _plan(
    reference: RunSpec, summary: dict[str, Any], scale: float, template: Any
) -> tuple[list[PlanRow], RunSpec]:
    """The rows of a plan and the spec that applies them (at the reference's rate)."""
    sim = build(reference, template=template)  # its limits; not run
    profile, reserved = sim.profile, dict(sim.fleet.reserved)
    rows: list[PlanRow] = []
    unreserved_peaks = 0.0
    for use in summary["quota_use"]:
        quota = use["quota"]
        demand = use.get("demand_per_s")
        needed = math.ceil((demand if demand is not None else use["peak"]) * scale)
        if quota in BUCKET_QUOTAS:
            limit = getattr(profile, BUCKET_QUOTAS[quota]).rate
            if needed > limit:
                rows.append(PlanRow(BUCKET_QUOTAS[quota], "quota", limit, needed, quota))
        elif quota.startswith(API_QUOTA):
            rows += _intake_rows(template, profile.api_gateway, needed, quota)
        elif quota.startswith(LAMBDA_QUOTA):
            function = quota[len(LAMBDA_QUOTA) :]
            own = reserved.get(function)
            if not own:
                unreserved_peaks += use["peak"] * scale
            elif needed > own:
                overridden = (
                    function in reference.function_concurrency
                    or reference.reserved_concurrency is not None
                )
                rows.append(_concurrency_row(template, function, own, needed, quota, overridden))
                reserved[function] = needed
        elif needed > use["limit_per_s"]:  # a DynamoDB partition
            rows.append(
                PlanRow(
                    "dynamodb_partition_wcu",
                    "hard limit",
                    use["limit_per_s"],
                    needed,
                    quota,
                    "a partition's throughput is fixed: spread the hot key",
                )
            )
    account = math.ceil(
        sum(r for r in reserved.values() if r) + unreserved_peaks + AWS_MIN_UNRESERVED
    )
    if account > profile.lambda_concurrency:
        rows.append(
            PlanRow(
                "lambda_concurrency",
                "quota",
                profile.lambda_concurrency,
                account,
                "Lambda concurrent executions (account)",
                "reservations + unreserved peaks + 100 kept unreserved",
            )
        )
    return rows, _applied(reference, rows, profile)


def _intake_rows(template: Any, account: Bucket, needed: int, quota: str) -> list[PlanRow]:
    """The intake's rows: the stage throttle (its parameter) and the account's quota."""
    rows = []
    setting = api_throttle_setting(template)
    if setting is not None:
        rate = float(template.value(setting["ThrottlingRateLimit"]))
        if needed > rate:
            name = _parameter(template, setting["ThrottlingRateLimit"])
            rows.append(
                _bounded(
                    template,
                    PlanRow(
                        name or "OrderApi.MethodSettings.ThrottlingRateLimit",
                        "template parameter" if name else "template setting",
                        rate,
                        needed,
                        quota,
                    ),
                )
            )
            burst = setting.get("ThrottlingBurstLimit")
            burst_name = _parameter(template, burst)
            if burst_name:
                current = float(template.value(burst))
                wanted = math.ceil(current * needed / rate)
                rows.append(
                    _bounded(
                        template,
                        PlanRow(burst_name, "template parameter", current, wanted, quota),
                    )
                )
    if needed > account.rate:
        rows.append(PlanRow("api_gateway", "quota", account.rate, needed, quota))
    return rows


def _concurrency_row(
    template: Any, function: str, own: int, needed: int, quota: str, overridden: bool
) -> PlanRow:
    """A function's reserved concurrency: through its template parameter, or (written in
    the template, or set by the spec's overrides) as a ``function setting``."""
    written = template.properties(function).get(
        "ReservedConcurrentExecutions",
        template.globals.get("Function", {}).get("ReservedConcurrentExecutions"),
    )
    name = None if overridden else _parameter(template, written)
    if name:
        return _bounded(template, PlanRow(name, "template parameter", own, needed, quota))
    return PlanRow(
        f"{function}.ReservedConcurrentExecutions", "function setting", own, needed, quota
    )


def _parameter(template: Any, value: Any) -> str | None:
    """The parameter a ``Ref`` names, or None."""
    if isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] in template.parameters:
        return str(value["Ref"])
    return None


def _bounded(template: Any, row: PlanRow) -> PlanRow:
    """``row`` with its need cut to the parameter's MaxValue (and a note saying so)."""
    highest = template.source.get("Parameters", {}).get(row.name, {}).get("MaxValue")
    if highest is None or row.needed <= highest:
        return row
    note = f"needs {row.needed:,.0f}; the template allows at most {highest:,}"
    return dataclasses.replace(row, needed=float(highest), note=note)


def _applied(reference: RunSpec, rows: list[PlanRow], profile: Any) -> RunSpec:
    parameters = dict(reference.parameters)
    quotas = dict(reference.quotas)
    functions = dict(reference.function_concurrency)
    account = reference.account_concurrency
    for row in rows:
        if row.kind == "template parameter":
            parameters[row.name] = str(int(row.needed))
        elif row.kind == "function setting":
            functions[row.name.split(".")[0]] = int(row.needed)
        elif row.name == "lambda_concurrency":
            account = int(row.needed)
        elif row.kind == "quota":
            bucket = getattr(profile, row.name)
            quotas[row.name] = (
                row.needed,
                max(bucket.burst, bucket.burst * row.needed / bucket.rate),
            )
    return dataclasses.replace(
        reference,
        parameters=parameters,
        quotas=quotas,
        function_concurrency=functions,
        account_concurrency=account,
    )


# ----------------------------------------------------------------------------- overload


@dataclass
class OverloadResult:
    """A flash sale at ``burst_per_min`` for ``burst_s`` between stretches of
    ``normal_per_min``; a row per seed."""

    normal_per_min: float
    burst_per_min: float
    burst_s: float
    burst_end_s: float
    rows: list[dict[str, Any]]

    @property
    def holds(self) -> bool:
        """No valid order lost to the overload: none throttle-cancelled, none stuck."""
        return all(r["throttle_cancelled"] == 0 and r["stuck"] == 0 for r in self.rows)

    def lines(self) -> list[str]:
        out = [
            f"overload: {self.burst_per_min:,.0f} orders/min for {self.burst_s:,.0f} s between "
            f"stretches of {self.normal_per_min:,.0f}/min"
        ]
        for r in self.rows:
            settled = r["settled_after_s"]
            out.append(
                f"  seed {r['seed']}: {r['rejected_429']:,} shed with 429 "
                f"(alarm {'fires' if r['intake_alarm'] else 'quiet'}), "
                f"{r['throttle_cancelled']:,} throttle-cancelled, {r['stuck']:,} stuck; every "
                "order accepted by the end of the burst terminal "
                + ("never" if settled is None else f"{settled:,.0f} s after it")
            )
        out.append(
            "  verdict: "
            + (
                "no valid order lost: the excess was shed at the door or absorbed"
                if self.holds
                else "valid orders lost or stuck under the burst"
            )
        )
        return out

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "holds": self.holds}


def settled_by(summary: dict[str, Any], before_s: float) -> float | None:
    """When every order placed before ``before_s`` had ended (``summary["settling"]``)."""
    settling = summary["settling"]
    windows = {int(k): list(v) for k, v in settling["windows"].items()}
    return Settling(settling["window_s"], windows).settled_by(before_s)


def overload(
    base: RunSpec,
    capacity_per_min: float,
    factor: float = 3.0,
    burst_s: float = 300.0,
    normal_per_min: float | None = None,
    lead_s: float = 120.0,
    after_s: float = 300.0,
    seeds: Sequence[int] = (1, 2),
    executor: Executor | None = None,
    drain_s: float = PROBE_DRAIN_S,
    run: Run = simulate,
) -> OverloadResult:
    """``normal_per_min`` (default ``base.rate_per_min``) for ``lead_s``, then ``factor`` x
    ``capacity_per_min`` for ``burst_s``, then normal again for ``after_s`` (the ``step``
    workload), on every seed: the 429s shed, whether the intake alarm fired, orders
    cancelled by throttles, stuck ones, and how long after the burst until every order
    accepted by its end was terminal (to the timeline's window: keep ``lead_s`` and
    ``burst_s`` multiples of ``base.window_s``)."""
    normal = normal_per_min or base.rate_per_min
    burst = factor * capacity_per_min
    spec = dataclasses.replace(
        base,
        workload="step",
        rate_per_min=normal,
        duration_s=lead_s + burst_s + after_s,
        drain_s=drain_s,
        surge=(burst / normal, lead_s, burst_s),
        lake_dir=None,
    )
    end = lead_s + burst_s
    rows = []
    for summary in run_all(_seeded(spec, seeds), executor, run=run):
        orders, intake = summary["orders"], summary["intake"]
        settled = settled_by(summary, end)
        rows.append(
            {
                "seed": summary["spec"]["seed"],
                "accepted": orders["accepted"],
                "rejected_429": orders["rejected_429"],
                "intake_alarm": intake["alarm"],
                "throttle_cancelled": orders["throttle_cancelled"],
                "cancelled_by_cause": orders["cancelled_by_cause"],
                "stuck": orders["stuck"] + orders["unfinished"],
                "settled_after_s": None if settled is None else max(0.0, settled - end),
                "p99_s": summary["latency_s"]["p99"],
            }
        )
    return OverloadResult(normal, burst, burst_s, end, rows)
