"""Experiments: parameter sweeps over simulated runs, in parallel processes, with a progress
bar; the Standard vs Express comparison; which coordination styles the template offers.

Each run is a :class:`RunSpec` (picklable) run in a worker process (spawned, so it works the
same from a notebook, a script and on macOS); each finished run becomes one row of key
figures, so a sweep is a pandas DataFrame to plot or query.
"""

from __future__ import annotations

import dataclasses
import itertools
import multiprocessing
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any

from pipeline.sim.engine import EXPRESS, STANDARD
from pipeline.sim.run import RunSpec, simulate
from pipeline.sim.topology import Topology
from pipeline.template import Template


def grid(base: RunSpec, **axes: Sequence[Any]) -> list[RunSpec]:
    """Every combination of the axes' values (RunSpec field -> values), on top of ``base``."""
    fields = {f.name for f in dataclasses.fields(RunSpec)}
    unknown = set(axes) - fields
    if unknown:
        raise ValueError(f"not RunSpec fields: {sorted(unknown)}; choose from {sorted(fields)}")
    names = list(axes)
    return [
        dataclasses.replace(base, **dict(zip(names, values, strict=True)))
        for values in itertools.product(*(axes[n] for n in names))
    ]


def key_figures(summary: dict[str, Any]) -> dict[str, Any]:
    """One run's summary as a flat row: what a sweep compares."""
    spec, orders, latency = summary["spec"], summary["orders"], summary["latency_s"]
    accepted = max(orders["accepted"], 1)
    failed = sum(n for name, n in summary["executions"].items() if " SUCCEEDED" not in name)
    top = summary["quota_use"][0] if summary["quota_use"] else {}
    return {
        **{k: v for k, v in spec.items() if k not in ("catalogue", "quotas", "lake_dir")},
        "orders": orders["accepted"],
        "rejected_429": orders["rejected_429"],
        "confirmed_share": orders["by_status"].get("CONFIRMED", 0) / accepted,
        "unfinished": orders["unfinished"] + orders["stuck"],
        "throughput_per_min": summary["throughput_per_min"],
        "p50_s": latency["p50"],
        "p95_s": latency["p95"],
        "p99_s": latency["p99"],
        "compensation_rate": summary["compensation_rate"],
        "retries_per_order": summary["retries_per_order"],
        "throttles_per_order": sum(summary["throttles"].values()) / accepted,
        "failed_executions_per_order": failed / accepted,
        "dead_lettered": sum(summary["dlq"]["dead_lettered"].values()),
        "parked": summary["dlq"]["parked"],
        "silent_mismatches": summary["invariants"]["money_mismatches"]
        + summary["invariants"]["side_effect_mismatches"],
        "cost_per_1000_usd": float(summary["cost_per_1000_orders_usd"]),
        **{
            f"cost_per_1000_usd:{service}": float(dollars)
            for service, dollars in summary.get("cost_per_1000_by_service_usd", {}).items()
        },
        "binding_quota": summary["binding_quota"],
        "binding_quota_use": top.get("use"),
        "wall_s": summary.get("wall_s"),
    }


def sweep(
    specs: Iterable[RunSpec],
    workers: int | None = None,
    progress: bool = True,
    run: Callable[[RunSpec], dict[str, Any]] = simulate,
) -> Any:
    """Run every spec in ``workers`` processes (default: one per core) and return a pandas
    DataFrame of their key figures, in the order given. ``progress`` shows a bar (tqdm) on
    stderr as runs finish."""
    import pandas as pd
    from tqdm import tqdm

    specs = list(specs)
    workers = max(1, min(workers or os.cpu_count() or 1, len(specs) or 1))
    rows: list[dict[str, Any] | None] = [None] * len(specs)
    bar = tqdm(total=len(specs), desc="runs", disable=not progress, file=sys.stderr)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = {pool.submit(run, spec): n for n, spec in enumerate(specs)}
        for future in as_completed(futures):
            rows[futures[future]] = key_figures(future.result())
            bar.update()
    bar.close()
    return pd.DataFrame(rows)


def workflow_types(base: RunSpec, workers: int | None = None, progress: bool = True) -> Any:
    """The same runs with every state machine Standard, then Express: latency, cost, throttles
    and which quota binds, side by side (one row per workflow type)."""
    return sweep(grid(base, workflow_type=[STANDARD, EXPRESS]), workers, progress)


def coordination_styles(template: Template | None = None) -> dict[str, list[str]]:
    """Which coordination styles the template offers: ``choreography`` lists the rules that
    start a state machine from a domain event; ``orchestration`` lists state machines that
    start or call other state machines (a Task on ``states:startExecution``)."""
    template = template or Template.load()
    topology = Topology.from_template(template)
    orchestrating = [
        machine_id
        for machine_id, machine in topology.machines.items()
        if "states:startExecution" in str(machine.definition)
    ]
    return {
        "choreography": sorted({rule.rule_id for rule in topology.rules}),
        "orchestration": sorted(orchestrating),
    }
