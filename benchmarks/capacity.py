"""Capacity benchmarks: the wall time of a capacity search (target: at most 2 minutes on two
cores) and orders simulated per wall second at 10,000 orders/min, default variant against the
previous one.

Two searches, default SLOs, seeds 1 and 2, tolerance 5%, probes as ``search`` makes them
(45,000 orders, 90 s to 4 minutes: ``pipeline.sim.capacity.probe_duration``), the local pool
of one process per core: the ``default`` variant's (the design we ship, what a designer
searches first; its knee is at its intake throttle, 30,000 orders/min) and the ``previous``
variant's (its knee between 3,000 and 4,000 orders/min, on Standard StartExecution).

``python -m benchmarks.capacity [seed sets]`` runs the default's search once per seed set
(``1,2 3,4``: two searches) and prints each one's knee, to see how far the knee moves with
the seeds.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from pipeline.sim.capacity import search
from pipeline.sim.run import RunSpec, simulate
from pipeline.variants import VARIANTS

SEARCHED = ("default", "previous")
SEEDS = (1, 2)
TARGET_S = 120.0


def capacity_search(variant: str = "default", seeds: tuple[int, ...] = SEEDS) -> dict[str, Any]:
    started = time.perf_counter()
    result = search(RunSpec(parameters=dict(VARIANTS[variant])), seeds=seeds)
    return {
        "variant": variant,
        "seeds": seeds,
        "wall_s": time.perf_counter() - started,
        "max_per_min": result.max_per_min,
        "knee_per_min": result.knee_per_min,
        "binding_quota": result.binding_quota,
        "runs": len(result.curve) + len(seeds),  # the probes and the unloaded runs
    }


def orders_per_wall_second(variant: str, minutes: float = 2.0, seed: int = 0) -> dict[str, Any]:
    """One run at 10,000 orders/min (default faults) of ``variant``, in this process."""
    spec = RunSpec(
        rate_per_min=10_000,
        duration_s=minutes * 60,
        seed=seed,
        parameters=dict(VARIANTS[variant]),
    )
    started = time.perf_counter()
    summary = simulate(spec)
    wall = time.perf_counter() - started
    orders = summary["orders"]
    return {
        "variant": variant,
        "orders": orders["accepted"],
        "wall_s": wall,
        "orders_per_wall_s": orders["accepted"] / wall,
        "simpy_events_per_s": summary["simpy_events"] / wall,
        "stuck": orders["stuck"] + orders["unfinished"],
        "throttle_cancelled": orders["throttle_cancelled"],
    }


def report() -> None:
    for variant in SEARCHED:
        found = capacity_search(variant)
        print(
            f"capacity search, variant {found['variant']!r}, seeds {found['seeds']}: "
            f"knee {found['knee_per_min']:,.0f}/min, max {found['max_per_min']:,.0f}/min, "
            f"binding {found['binding_quota']}; {found['runs']} runs in "
            f"{found['wall_s']:.1f} s of wall time (target: {TARGET_S:.0f} s)"
        )
    for variant in ("default", "previous"):
        run = orders_per_wall_second(variant)
        print(
            f"simulator, 10,000/min x 2 min, variant {variant!r}: {run['orders']:,} orders in "
            f"{run['wall_s']:.1f} s = {run['orders_per_wall_s']:,.0f} orders per wall second "
            f"({run['simpy_events_per_s']:,.0f} SimPy events/s; {run['stuck']:,} stuck, "
            f"{run['throttle_cancelled']:,} throttle-cancelled)"
        )


if __name__ == "__main__":
    if len(sys.argv) > 1:
        for seeds in sys.argv[1:]:
            print(capacity_search(seeds=tuple(int(s) for s in seeds.split(","))))
    else:
        report()
