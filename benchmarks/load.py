"""`python -m benchmarks.load [ORDERS] [SCENARIO]`: a bounded load test of the local cloud on
loopback: ORDERS orders (default 20,000) end to end, as fast as the local cloud takes them,
with duplicate deliveries on and a share of orders contending for the hot SKU's few units,
then the oversell and duplicate checks. Prints the sustained rate and the error counts and
writes them to .bench/load.json. Never points anywhere but 127.0.0.1."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from pipeline.demo import run_demo
from pipeline.domain.invariants import check
from pipeline.faults import scenario as fault_scenario
from pipeline.local.observed import facts

OUT = Path(__file__).resolve().parent.parent / ".bench" / "load.json"
HOT_SHARE = 0.2  # a fifth of the orders also want the hot SKU's 6 units


def main(orders: int = 20_000, scenario: str = "duplicates", seed: int = 17) -> dict:
    knobs = fault_scenario(scenario, seed)
    started = time.perf_counter()
    report = run_demo(orders, seed, faults=knobs, hot_share=HOT_SHARE)
    wall = time.perf_counter() - started
    failed = {k: n for k, n in report.executions.items() if not k.endswith(":SUCCEEDED")}
    result = {
        "orders": orders,
        "scenario": scenario,
        "accepted": report.orders,
        "rejected": report.rejected,
        "wall_s": round(wall, 1),
        "pipeline_s": round(report.wall_s, 1),
        "sustained_orders_per_min": round(60 * report.orders / report.wall_s, 1),
        "latency_p50_s": round(report.latency_percentile(50), 3),
        "latency_p99_s": round(report.latency_percentile(99), 3),
        "by_status": dict(report.by_status),
        "errors": {
            "rejected_by_api": report.rejected,
            "failed_executions": failed,
            "task_retries": report.retries,
            "delivery_retries": report.delivery_retries,
            "dead_lettered": report.dead_lettered,
            "parked": len(report.parked),
            "alerts": len(report.alerts),
            "dynamodb_throttled": report.dynamodb_throttled,
        },
        "duplicate_deliveries": report.duplicate_deliveries,
        "lake_duplicates": report.lake_duplicates,
        # every invariant (pipeline.domain.invariants), "" when it holds; and no oversell
        "checks": {
            "no oversell": ""
            if all(available >= 0 for _, available, _, _ in report.stock.values())
            else "negative stock",
            **check(facts(report)),
        },
        "hot_sku": report.stock.get("HP-003"),
        "aws_api_calls": report.moto_requests,
        "moto_s": round(report.moto_s, 1),
    }
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2, default=str))
    print(json.dumps(result, indent=2, default=str))
    return result


if __name__ == "__main__":
    args = sys.argv[1:]
    outcome = main(int(args[0]) if args else 20_000, args[1] if len(args) > 1 else "duplicates")
    sys.exit(1 if any(outcome["checks"].values()) else 0)
