"""Latency distributions and workloads: they produce the numbers they are given."""

from __future__ import annotations

import math
import random

import pytest

from pipeline.sim.latency import HOPS, LogNormal
from pipeline.sim.workloads import constant, diurnal, flash_sale, ramp


def test_a_log_normal_fitted_to_p50_and_p99_reproduces_them():
    hop = LogNormal.from_p50_p99(0.150, 0.390)
    rng = random.Random(1)
    samples = sorted(hop.sample(rng) for _ in range(100_000))
    assert samples[50_000] == pytest.approx(0.150, rel=0.02)
    assert samples[99_000] == pytest.approx(0.390, rel=0.03)
    assert hop.quantile(0.99) == pytest.approx(0.390)
    assert all(h.quantile(0.5) <= h.quantile(0.99) for h in HOPS.values())


@pytest.mark.parametrize(
    "workload",
    [
        constant(50),
        ramp(10, 90, 600),
        flash_sale(20, 200, start_s=200, length_s=60, hot_share=0.8),
        diurnal(40, 0.8, period_s=600),
    ],
    ids=lambda w: w.name,
)
def test_arrivals_follow_the_rate_within_their_confidence_interval(workload):
    duration = 600.0
    times = list(workload.arrivals(duration, random.Random(11)))
    expected = workload.expected(duration)
    assert times == sorted(times) and all(0 <= t < duration for t in times)
    assert abs(len(times) - expected) <= 1.96 * math.sqrt(expected)  # Poisson: var = mean


def test_a_flash_sale_concentrates_arrivals_and_hot_skus_in_its_window():
    sale = flash_sale(10, 100, start_s=100, length_s=50, hot_share=0.9)
    times = list(sale.arrivals(300, random.Random(5)))
    inside = sum(100 <= t < 150 for t in times)
    assert inside > len(times) / 2  # 5,000 of ~7,500 expected
    assert sale.hot_share(120) == 0.9 and sale.hot_share(10) == 0.0


def test_the_same_seed_gives_the_same_arrivals():
    first = list(ramp(1, 30, 100).arrivals(100, random.Random(9)))
    again = list(ramp(1, 30, 100).arrivals(100, random.Random(9)))
    assert first == again
