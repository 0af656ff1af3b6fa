"""ASL interpreter benchmark: executions per second of the same 10-state payment machine in
JSONPath and in JSONata (``benchmarks/asl_machines.py``), and what JSONata costs per execution.

The simulator runs the template's machines for every order: through the interpreter once per
distinct path (``pipeline/sim/replay.py`` replays the rest), and every time for a definition
that reads the clock, the context or randomness (``$states.context``, ``$now``, ...), so what an
execution costs here bounds what JSONata can add to a simulated hour. Each pass runs the
machines' mix of cases once (captures, retries, declines, refunds, caught failures compensated,
an unhandled event) through the public ``execute`` on its virtual clock; the repeats alternate
the two languages so drift on the machine hits both alike. Medians and spreads are reported,
never asserted.

Then the question that matters to a user: what does a JSONata machine do to a simulated run?
:func:`simulated` runs the same seeded simulation with the template's payment machine and with
its JSONata translation (``tests/fixtures/statemachines/payment.jsonata.asl.json``), which
ends in the same summary, and reports the wall time of each and their ratio.

``python -m benchmarks.asl [seconds]`` runs it alone (default: about 3 s of timed work, then
two simulations of 10 simulated minutes at 3,000 orders/min, about 6 s each).
"""

from __future__ import annotations

import statistics
import sys
import time
from typing import Any

from benchmarks.asl_machines import CASES, MACHINES, Case, Gateway
from pipeline.asl import execute

JSONATA_PAYMENT = "tests/fixtures/statemachines/payment.jsonata.asl.json"

REPEATS = 7


def run_case(definition: dict[str, Any], case: Case) -> Any:
    """One execution of ``case`` on ``definition`` with fresh in-process resources."""
    return execute(definition, case.fresh_input(), Gateway(case.faults).resources)


def batch(passes: int) -> list[tuple[Case, dict[str, Any]]]:
    """The mix of cases ``passes`` times, each with its own copy of its input (made here, not
    in the timed loop: copying an event costs as much as a few states)."""
    return [(case, case.fresh_input()) for _ in range(passes) for case in CASES]


def run_batch(definition: dict[str, Any], executions: list[tuple[Case, dict[str, Any]]]) -> int:
    """Execute each case of the batch; returns how many executions ran."""
    for case, data in executions:
        execute(definition, data, Gateway(case.faults).resources)
    return len(executions)


def _passes_for(seconds: float) -> int:
    """Passes per timed repeat so the whole benchmark takes about ``seconds`` of timed work."""
    for definition in MACHINES.values():  # warm-up: expressions parsed and cached
        run_batch(definition, batch(1))
    started = time.perf_counter()
    for definition in MACHINES.values():
        run_batch(definition, batch(1))
    per_pass = (time.perf_counter() - started) / len(MACHINES)
    budget = seconds / (len(MACHINES) * REPEATS)
    return max(1, round(budget / per_pass))


def measure(seconds: float = 3.0) -> dict[str, list[float]]:
    """Executions per second of each language, ``REPEATS`` timed repeats each, interleaved."""
    passes = _passes_for(seconds)
    rates: dict[str, list[float]] = {name: [] for name in MACHINES}
    for repeat in range(REPEATS):
        order = list(MACHINES) if repeat % 2 == 0 else list(reversed(MACHINES))
        for name in order:
            executions = batch(passes)
            started = time.perf_counter()
            count = run_batch(MACHINES[name], executions)
            rates[name].append(count / (time.perf_counter() - started))
    return rates


def report(seconds: float = 3.0) -> dict[str, Any]:
    """Print the benchmark's lines; returns the figures."""
    rates = measure(seconds)
    path, ata = rates["JSONPath"], rates["JSONata"]
    for name, values in rates.items():
        median = statistics.median(values)
        print(
            f"{f'ASL 10-state machine, {name}':<48} median {median:>10,.1f} exec/s"
            f" = {1e6 / median:,.0f} µs each"
            f"   (min {min(values):,.1f}, max {max(values):,.1f}, n={len(values)})"
        )
    ratio = statistics.median(path) / statistics.median(ata)  # time per execution, ata / path
    paired = [p / a for p, a in zip(path, ata, strict=True)]  # each repeat's pair
    print(
        f"    JSONata costs {ratio:.2f}x JSONPath per execution (repeat by repeat: "
        f"{min(paired):.2f} to {max(paired):.2f}x; {len(CASES)} cases per pass: captures, "
        "retries, declines, refunds, compensations, an unhandled event)"
    )
    return {"rates": rates, "ratio": ratio, "simulated": simulated()}


def simulated(rate_per_min: float = 3_000, duration_s: float = 600) -> dict[str, float]:
    """Wall seconds of one seeded simulation with each payment machine, and their ratio."""
    from pathlib import Path

    from pipeline.sim.run import RunSpec, simulate

    fixture = str(Path(__file__).resolve().parents[1] / JSONATA_PAYMENT)
    seconds, outcomes = {}, {}
    for name, definitions in (("JSONPath", {}), ("JSONata", {"PaymentStateMachine": fixture})):
        spec = RunSpec(rate_per_min=rate_per_min, duration_s=duration_s, seed=3)
        spec.definitions = definitions
        started = time.perf_counter()
        summary = simulate(spec)
        seconds[name] = time.perf_counter() - started
        outcomes[name] = summary["orders"]["by_status"]
    same = (
        "the same outcomes" if outcomes["JSONata"] == outcomes["JSONPath"] else "DIFFERENT outcomes"
    )
    ratio = seconds["JSONata"] / seconds["JSONPath"]
    print(
        f"{'simulated run, payment machine in JSONata':<48} {seconds['JSONata']:>8.1f} s against "
        f"{seconds['JSONPath']:.1f} s in JSONPath = {ratio:.2f}x ({duration_s / 60:.0f} simulated "
        f"min at {rate_per_min:,.0f} orders/min, seed 3; {same})"
    )
    return {**seconds, "ratio": ratio}


if __name__ == "__main__":
    report(float(sys.argv[1]) if len(sys.argv) > 1 else 3.0)
