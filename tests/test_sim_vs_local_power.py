"""Reading the simulator-vs-local comparison: "not rejected" is "agrees" only with the power
to see a difference (pipeline.sim_vs_local.verdict)."""

from __future__ import annotations

import random

from pipeline.sim.stats import PerOrder
from pipeline.sim.validation import compare
from pipeline.sim_vs_local import detectable, power, table, verdict


def _run(n: int, rates: dict[str, float], seed: int) -> PerOrder:
    rng, moments = random.Random(seed), PerOrder()
    for _ in range(n):
        moments.add({name: int(rng.random() < rate) for name, rate in rates.items()})
    return moments


def _row(local_n: int, local_rate: float, sim_rate: float, seed: int = 1):
    local = _run(local_n, {"m": local_rate}, seed)
    sim = _run(20_000, {"m": sim_rate}, seed + 1)
    return compare(local, sim, ["m"])[0]


def test_a_fivefold_difference_in_a_rare_count_is_underpowered_not_agreed() -> None:
    row = _row(120, 0.008, 0.04)
    assert row.test == "exact" and row.agrees  # not rejected...
    assert power(row) < 0.8
    assert verdict(row).startswith("not rejected, underpowered")


def test_enough_orders_make_a_non_rejection_an_agreement() -> None:
    row = _row(5_000, 0.1, 0.1)
    assert row.test == "z" and row.agrees
    assert power(row) >= 0.8
    assert verdict(row).startswith("agrees (power ")
    found = detectable(row)
    assert found is not None and found <= 2


def test_a_rejection_differs_and_power_grows_with_the_ratio() -> None:
    row = _row(2_000, 0.2, 0.1)
    assert verdict(row) == "differs"
    small = _row(300, 0.1, 0.1)
    assert power(small, 1.5) <= power(small, 2) <= power(small, 5)


def test_the_table_names_each_rows_test_and_verdict() -> None:
    local = _run(120, {"retries:M.Task": 0.1, "compensated": 0.0}, 3)
    sim = _run(20_000, {"retries:M.Task": 0.1, "compensated": 0.0}, 4)
    frame = table(compare(local, sim)).set_index("measure")
    assert {"test", "p", "alpha", "power (2x)", "detects (80%)", "verdict"} <= set(frame.columns)
    assert frame.loc["M.Task", "test"] == "z"
    assert frame.loc["dead_lettered", "verdict"] == "neither run saw any"
