"""Injected failures: rates per error name, outage windows, duplicates, seeded."""

from __future__ import annotations

import itertools
import math
import random
from collections import Counter

import pytest

from pipeline.sim.failures import Bernoulli, FailureModel, Outage, TaskErrors


def test_error_rates_come_out_by_name_within_their_intervals():
    model = FailureModel(
        tasks={"Payment:authorize": TaskErrors({"PaymentDeclined": 0.05, "GatewayError": 0.10})},
        seed=1,
    )
    calls = 20_000
    seen = Counter(model.error_for("Payment:authorize", 0.0) for _ in range(calls))
    for name, rate in (("PaymentDeclined", 0.05), ("GatewayError", 0.10)):
        half_width = 1.96 * math.sqrt(rate * (1 - rate) / calls)
        assert abs(seen[name] / calls - rate) <= half_width
    assert model.error_for("Shipping:create_label", 0.0) is None  # no errors configured


def test_an_outage_fails_every_call_inside_its_window_only():
    model = FailureModel(
        outages={"Shipping:create_label": [Outage(60, 30, "CarrierUnavailable")]}, seed=2
    )
    assert model.error_for("Shipping:create_label", 59.9) is None
    assert model.error_for("Shipping:create_label", 60.0) == "CarrierUnavailable"
    assert model.error_for("Shipping:create_label", 89.9) == "CarrierUnavailable"
    assert model.error_for("Shipping:create_label", 90.0) is None


def test_the_same_seed_draws_the_same_failures():
    def run(seed: int) -> list:
        model = FailureModel(
            tasks={"t": TaskErrors({"E": 0.3})},
            duplicate_delivery=0.1,
            poison_share=0.01,
            seed=seed,
        )
        return [
            (model.error_for("t", 0), model.delivered_twice(), model.is_poison())
            for _ in range(200)
        ]

    assert run(5) == run(5) and run(5) != run(6)


def test_rates_that_cannot_be_probabilities_are_refused():
    with pytest.raises(ValueError):
        TaskErrors({"A": 0.7, "B": 0.5})


@pytest.mark.parametrize("p", [0.0, 0.003, 0.05, 0.5, 1.0])
def test_geometric_gaps_give_independent_trials_at_the_rate(p):
    trials = 200_000
    draw = Bernoulli(p, random.Random(9))
    outcomes = [draw() for _ in range(trials)]
    hits = sum(outcomes)
    spread = 4 * math.sqrt(trials * p * (1 - p))  # 4 standard deviations
    assert abs(hits - trials * p) <= spread
    if 0 < p < 1:  # successes do not cluster: a hit is followed by a hit at rate p too
        after_hit = [b for a, b in itertools.pairwise(outcomes) if a]
        assert abs(sum(after_hit) - len(after_hit) * p) <= 4 * math.sqrt(len(after_hit) * p) + 1


def test_the_scenario_s_carrier_outage_counts_from_the_first_label_request():
    model = FailureModel.from_scenario("carrier-outage-window", seed=1)  # down for 40 s
    assert model.error_for("carrier.create_label", 5.0) == "CarrierUnavailable"  # first call
    assert model.error_for("carrier.create_label", 44.9) == "CarrierUnavailable"
    assert model.error_for("carrier.create_label", 45.0) is None
