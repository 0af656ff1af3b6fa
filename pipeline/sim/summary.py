"""A simulated run in numbers: throughput, latency, compensation, retries, throttles, DLQs,
cost per 1,000 orders, how close each quota came to binding, and the same over time (one row
per window of simulated seconds in ``summary["timeline"]``)."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from pipeline.domain.invariants import Facts, check, verdict
from pipeline.sim.cost import PRICES_AS_OF, per_thousand_orders, per_thousand_orders_by_service

if TYPE_CHECKING:
    from pipeline.sim.engine import Simulation
    from pipeline.sim.stats import Stats

# Firehose bills each record rounded up to 5 KB; an audit row is well under that.
FIREHOSE_RECORD_KB = 5
# The quota row of the intake (POST /orders); "(account)" or "(stage POST /orders)" follows.
API_QUOTA = "API Gateway requests/s"


def quota_use(sim: Simulation) -> list[dict[str, Any]]:
    """Each quota's mean demand over the arrival window against its rate, highest first: the
    first to reach 100% is the one that binds as load grows."""
    stats, profile = sim.stats, sim.profile
    window = max(sim.config.duration_s, 1e-9)
    rows = [
        (f"{API_QUOTA} ({sim.api_limit_source})", stats.arrived, sim.api_limit.rate),
        (
            "EventBridge PutEvents/s",
            stats.units["eventbridge_events"],
            profile.eventbridge_put_events.rate,
        ),
        (
            "EventBridge invocations/s",
            sum(stats.deliveries.values()),
            profile.eventbridge_invocations.rate,
        ),
    ]
    if stats.units["sfn_standard_transitions"]:
        rows += [
            (
                "Step Functions StartExecution/s (Standard)",
                stats.units["sfn_executions"],
                profile.sfn_start_execution.rate,
            ),
            (
                "Step Functions state transitions/s",
                stats.units["sfn_standard_transitions"],
                profile.sfn_state_transitions.rate,
            ),
        ]
    if stats.units["sfn_express_requests"]:
        rows.append(
            (
                "Step Functions StartExecution/s (Express)",
                stats.units["sfn_express_requests"],
                profile.sfn_express_start_execution.rate,
            )
        )
    out = [
        {
            "quota": name,
            "demand_per_s": used / window,
            "limit_per_s": limit,
            "use": used / window / limit,
        }
        for name, used, limit in rows
    ]
    for function, peak in sim.fleet.peak.items():
        if not peak:
            continue
        limit = sim.fleet.reserved[function] or sim.fleet.unreserved
        out.append(
            {
                "quota": f"Lambda concurrency {function}",
                "demand_per_s": None,
                "peak": peak,
                "limit_per_s": limit,
                "use": peak / limit,
            }
        )
    hottest = max(
        ((key, bucket.admitted) for key, bucket in sim.partitions.buckets.items()),
        key=lambda kv: kv[1],
        default=None,
    )
    if hottest:
        key, admitted = hottest
        wru = 2 * (admitted + sim.partitions.throttled[key]) / window
        out.append(
            {
                "quota": f"DynamoDB partition WRU/s (hottest key {key})",
                "demand_per_s": wru,
                "limit_per_s": sim.partitions.wru_per_s,
                "use": wru / sim.partitions.wru_per_s,
            }
        )
    return sorted(out, key=lambda row: row["use"], reverse=True)


def combine_quota_use(shards: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """One run's quota use from its shards' (each with its share of every quota): demands,
    peaks and limits add up per quota. A summed peak is an upper bound (the shards' peaks
    need not coincide). A partition's use is its hottest shard's (keys differ by shard)."""
    totals: dict[str, dict[str, Any]] = {}
    hottest: dict[str, Any] | None = None
    for rows in shards:
        for row in rows:
            if row["quota"].startswith("DynamoDB partition"):
                if hottest is None or row["use"] > hottest["use"]:
                    hottest = dict(row)
                continue
            total = totals.get(row["quota"])
            if total is None:
                totals[row["quota"]] = dict(row)
                continue
            total["limit_per_s"] += row["limit_per_s"]
            if row.get("demand_per_s") is not None:
                total["demand_per_s"] += row["demand_per_s"]
            else:
                total["peak"] += row["peak"]
    for total in totals.values():
        demand = total.get("demand_per_s")
        total["use"] = (demand if demand is not None else total["peak"]) / total["limit_per_s"]
    out = [*totals.values(), *([hottest] if hottest else [])]
    return sorted(out, key=lambda row: row["use"], reverse=True)


def billable_units(stats: Stats) -> dict[str, float]:
    """The run's units in the price table's terms (Firehose and S3 derived from the rows)."""
    units: dict[str, float] = {
        k: v for k, v in stats.units.items() if k not in ("firehose_records", "sfn_executions")
    }
    records = stats.units["firehose_records"]
    units["firehose_gb"] = records * FIREHOSE_RECORD_KB / 1024 / 1024
    units["firehose_conversion_gb"] = records * FIREHOSE_RECORD_KB / 1024 / 1024
    # One object per buffer interval (the delivery stream flushes at least every 900 s here).
    units["s3_puts"] = max(1, int(stats.sim_seconds // 900) + 1)
    return units


def summarize(sim: Simulation, wall_s: float | None = None) -> dict[str, Any]:
    return summarize_stats(sim.stats, sim.config.duration_s, quota_use(sim), wall_s)


def summarize_stats(
    stats: Stats, window: float, quotas: list[dict[str, Any]], wall_s: float | None = None
) -> dict[str, Any]:
    """The summary of a run's counts over an arrival ``window`` of seconds."""
    accepted = max(stats.accepted, 1)
    latency = {f"p{int(q * 100)}": stats.latency.quantile(q) for q in (0.5, 0.95, 0.99)}
    units = billable_units(stats)
    per_k = per_thousand_orders(units, accepted) if stats.accepted else Decimal(0)
    by_service = per_thousand_orders_by_service(units, accepted) if stats.accepted else {}
    summary: dict[str, Any] = {
        "orders": {
            "arrived": stats.arrived,
            "accepted": stats.accepted,
            "rejected_429": stats.rejected,
            "finished": stats.finished_orders,
            "by_status": dict(stats.by_status),
            "stuck": stats.stuck,
            "unfinished": stats.unfinished,
            "cancelled_by_cause": dict(
                sorted(stats.cancelled_by_cause.items(), key=lambda kv: (-kv[1], kv[0]))
            ),
            "throttle_cancelled": stats.throttle_cancelled,
        },
        "intake": intake(stats, quotas),
        "throughput_per_min": stats.accepted / window * 60 if window else 0.0,
        "confirmed_per_min": stats.by_status.get("CONFIRMED", 0) / window * 60 if window else 0.0,
        "latency_s": latency,
        "compensation_rate": stats.compensation_rate,
        "retries": {f"{m}.{s}": n for (m, s), n in sorted(stats.retries.items())},
        "retries_per_order": sum(stats.retries.values()) / accepted,
        "executions": {
            f"{m} {st}{' ' + e if e else ''}": n
            for (m, st, e), n in sorted(stats.executions.items(), key=str)
        },
        "throttles": dict(stats.throttles.most_common()),
        "dlq": {
            "dead_lettered": dict(stats.dead_lettered),
            "redriven": stats.redriven,
            "parked": stats.parked,
            "left": stats.dlq_left,
            "age_p50_s": stats.dlq_ages.quantile(0.5),
            "age_max_s": stats.dlq_ages.largest or None,
        },
        "duplicates_delivered": stats.duplicates,
        "duplicate_steps": stats.duplicate_steps,
        "invariants": {
            "verdict": verdict(check(facts(stats))),
            "money_mismatches": stats.money_mismatches,
            "alarmed_mismatches": stats.alarmed_mismatches,
            "side_effect_mismatches": stats.side_effect_mismatches,
            "stock_conserved": stats.stock_conserved,
            "confirmed_total": f"{stats.confirmed_cents / 100:.2f}",
            "gateway_net": f"{stats.gateway_net_cents / 100:.2f}",
        },
        "cost_per_1000_orders_usd": f"{per_k:.4f}",
        "cost_per_1000_by_service_usd": {k: f"{v:.4f}" for k, v in by_service.items()},
        "prices_as_of": PRICES_AS_OF,
        "units": {k: round(float(v), 3) for k, v in sorted(units.items())},
        "quota_use": quotas,
        "binding_quota": quotas[0]["quota"] if quotas else None,
        "sim_seconds": stats.sim_seconds,
        "simpy_events": stats.simpy_events,
        "lake_rows": stats.lake_rows,
        "events": dict(stats.events),
        "timeline": stats.timeline.rows(),  # per window: pandas.DataFrame(summary["timeline"])
        # per window of placement: [placed, ended, the latest end] (Stats.settling)
        "settling": {
            "window_s": stats.settling.window_s,
            "windows": {k: v for k, v in sorted(stats.settling.windows.items())},
        },
    }
    if wall_s is not None:
        summary["wall_s"] = wall_s
        summary["orders_per_wall_s"] = stats.accepted / wall_s if wall_s else None
    return summary


def intake(stats: Stats, quotas: list[dict[str, Any]]) -> dict[str, Any]:
    """Load shed at the door: requests refused with 429 (the API's throttle, or the order
    API's Lambda concurrency), their share of arrivals, the throttle that applied, and
    whether an "intake at capacity" alarm (429s in a period) would have fired: in how many
    of the timeline's windows 429s happened."""
    row = next((r for r in quotas if r["quota"].startswith(API_QUOTA)), None)
    windows = sum(1 for w in stats.timeline.rows() if w["rejected_429"])
    return {
        "limit": row["quota"] if row else None,
        "limit_per_s": row["limit_per_s"] if row else None,
        "rejected_429": stats.rejected,
        "throttled_by_api": stats.throttles["api_gateway"],
        "throttled_by_lambda": stats.throttles["lambda:OrderApiFunction"],
        "shed_share": stats.rejected / stats.arrived if stats.arrived else 0.0,
        "windows_with_429": windows,
        "alarm": windows > 0,
    }


def facts(stats: Stats) -> Facts:
    """What a simulated run shows about the invariants (:mod:`pipeline.domain.invariants`):
    every order with nothing left in flight, by its last status (a stuck one by a status that
    is not terminal); orders still in flight when the run stopped are left out."""
    return Facts(
        orders=stats.finished_orders,
        by_status=dict(stats.by_status),
        stock_conserved=stats.stock_conserved,
        stock_settled=stats.side_effect_mismatches == 0,
        stock_detail=f"{stats.side_effect_mismatches} orders' stock not settled as their "
        "status says",
        money_reconciled=stats.money_mismatches == 0,
        money_detail=f"{stats.money_mismatches} orders' money differs from their status",
    )


def render(summary: dict[str, Any]) -> str:
    """The summary as a short report."""
    o, lat, dlq, inv = (
        summary["orders"],
        summary["latency_s"],
        summary["dlq"],
        summary["invariants"],
    )

    def fmt(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}"

    def listed(counts: dict[str, int]) -> str:
        return ", ".join(f"{k} {v:,}" for k, v in counts.items()) or "none"

    lines = [
        f"orders: {o['accepted']:,} accepted of {o['arrived']:,} "
        f"({o['rejected_429']:,} rejected with 429), {summary['throughput_per_min']:,.0f}/min",
        f"  finished by status: {listed(dict(sorted(o['by_status'].items())))}",
        f"  stuck (no terminal status, nothing in flight): {o['stuck']:,}; "
        f"in flight at the end: {o['unfinished']:,}",
        f"  cancelled by cause: {listed(o['cancelled_by_cause'])}; of them internal "
        f"(throttle, timeout, conflict, store): {o['throttle_cancelled']:,}",
        f"intake: {summary['intake']['rejected_429']:,} shed with 429 "
        f"({summary['intake']['shed_share']:.1%}); intake-at-capacity alarm "
        f"{'FIRES' if summary['intake']['alarm'] else 'quiet'} "
        f"({summary['intake']['windows_with_429']:,} windows with 429s)",
        f"order latency (placed -> terminal): p50 {fmt(lat['p50'])} s, "
        f"p95 {fmt(lat['p95'])} s, p99 {fmt(lat['p99'])} s",
        f"compensation rate: {summary['compensation_rate']:.2%}; "
        f"retries per order: {summary['retries_per_order']:.2f}",
        f"retries by state: {listed(summary['retries'])}",
        f"throttles: {listed(summary['throttles'])}",
        f"DLQ: {sum(dlq['dead_lettered'].values()):,} dead-lettered, {dlq['redriven']:,} "
        f"redriven, {dlq['parked']:,} parked, {dlq.get('left', 0):,} left in a DLQ; "
        f"age p50 {fmt(dlq['age_p50_s'])} s",
        f"duplicates delivered: {summary['duplicates_delivered']:,} "
        f"(steps that found their work done: {summary['duplicate_steps']:,})",
        f"invariants: {inv['verdict']}",
        f"  silent money mismatches {inv['money_mismatches']}, silent side-effect "
        f"mismatches {inv['side_effect_mismatches']}, stock conserved {inv['stock_conserved']}; "
        f"orders left unsettled with a failed (alarmed) execution: {inv['alarmed_mismatches']}; "
        f"confirmed {inv['confirmed_total']} "
        f"{'=' if inv['confirmed_total'] == inv['gateway_net'] else '!='} gateway net "
        f"{inv['gateway_net']} (finished orders; a difference is held by unsettled ones)",
        f"cost per 1,000 orders: ${summary['cost_per_1000_orders_usd']} "
        f"(prices {summary['prices_as_of']})",
        "quota use (mean demand / limit; the first to reach 100% binds):",
    ]
    for row in summary["quota_use"][:6]:
        demand = row.get("demand_per_s")
        shown = f"{demand:,.0f}/s" if demand is not None else f"peak {row['peak']:,}"
        limit = row["limit_per_s"]
        lines.append(f"  {row['use']:7.1%}  {row['quota']}: {shown} of {limit:,.0f}")
    if "wall_s" in summary:
        lines.append(
            f"simulated {summary['sim_seconds']:,.0f} s in {summary['wall_s']:.1f} s of wall time "
            f"({summary['orders_per_wall_s']:,.0f} orders per wall second)"
        )
    return "\n".join(lines)
