"""Simulator benchmarks: orders simulated per wall second at 10,000 orders/min with the
default faults, SimPy events per second next to SimPy's raw event rate on this machine, and
peak memory against simulated duration (it should stay flat: nothing per order is kept).

``python -m benchmarks.simulator [minutes]`` runs one sized run of that many simulated
minutes (60: the issue's hour, 600,000 orders) and prints the figures.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time

import simpy

from pipeline.sim.run import RunSpec, build

# The template's pipeline cannot sustain 10,000 orders/min (its reserved concurrency of 50 and
# the Standard StartExecution refill of 300/s bind first: see the quota report). The sized run
# raises them as an architect would request, so the benchmark simulates full sagas.
SIZED = dict(
    reserved_concurrency=0,
    account_concurrency=5_000,
    quotas={"sfn_start_execution": (1_500.0, 5_000.0)},
)


def simpy_raw_rate(events: int = 1_000_000) -> float:
    """Timeouts per second SimPy processes with nothing else to do (one process)."""
    env = simpy.Environment()

    def ticker():
        for _ in range(events):
            yield env.timeout(1)

    env.process(ticker())
    started = time.perf_counter()
    env.run()
    return events / (time.perf_counter() - started)


def sized_run(minutes: float, seed: int = 0) -> dict[str, float]:
    sim = build(RunSpec(rate_per_min=10_000, duration_s=minutes * 60, seed=seed, **SIZED))
    started = time.perf_counter()
    stats = sim.run()
    wall = time.perf_counter() - started
    events = next(sim.env._eid)  # SimPy's count of scheduled events (private, read-only use)
    return {
        "simulated_minutes": minutes,
        "orders": stats.accepted,
        "wall_s": wall,
        "orders_per_wall_s": stats.accepted / wall,
        "simpy_events_per_s": events / wall,
        "finished": stats.finished_orders,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _in_subprocess(minutes: float) -> dict[str, float]:
    """A run in a fresh interpreter, so its peak memory is its own."""
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.simulator", str(minutes), "--json"],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout)


def report(minutes: float = 5.0) -> None:
    raw = simpy_raw_rate()
    short, longer = _in_subprocess(minutes), _in_subprocess(minutes * 2)
    print(f"SimPy raw rate (timeouts, one process): {raw:,.0f} events/s")
    for run in (short, longer):
        print(
            f"simulator, 10,000/min x {run['simulated_minutes']:g} min, default faults: "
            f"{run['orders']:,} orders in {run['wall_s']:.1f} s = {run['orders_per_wall_s']:,.0f} "
            f"orders/s, {run['simpy_events_per_s']:,.0f} SimPy events/s "
            f"({run['simpy_events_per_s'] / raw:.0%} of raw), peak RSS {run['peak_rss_mb']:,.0f} MB"
        )
    print(
        f"memory, {longer['simulated_minutes']:g} vs {short['simulated_minutes']:g} simulated "
        f"minutes: peak RSS x{longer['peak_rss_mb'] / short['peak_rss_mb']:.2f}; "
        f"one hour at this rate: about {600_000 / short['orders_per_wall_s']:,.0f} s of wall time"
    )


if __name__ == "__main__":
    if "--json" in sys.argv:
        print(json.dumps(sized_run(float(sys.argv[1]))))
    elif len(sys.argv) > 1:
        print(json.dumps(sized_run(float(sys.argv[1])), indent=2))
    else:
        report()
