"""The simulator's building blocks against closed-form results (seeded, deterministic)."""

from __future__ import annotations

import math
import random

import pytest
import simpy
from simpy_driver import execution

from pipeline.asl import Invoke, TaskFailed
from pipeline.quotas import TokenBucket
from pipeline.sim.concurrency import ConcurrencyPool

pytestmark = pytest.mark.system  # long simulations checked against queueing theory


def erlang_c_wait(arrival: float, service: float, servers: int) -> float:
    """Mean time in queue of M/M/c (Erlang C): P(wait) / (c * mu - lambda)."""
    offered = arrival / service
    top = offered**servers / math.factorial(servers) * servers / (servers - offered)
    bottom = sum(offered**k / math.factorial(k) for k in range(servers)) + top
    return (top / bottom) / (servers * service - arrival)


def test_a_concurrency_pool_under_poisson_load_matches_erlang_c_within_3_percent():
    arrival, service, servers, customers, warmup = 8.0, 1.0, 10, 200_000, 10_000
    rng = random.Random(42)
    env = simpy.Environment()
    pool = ConcurrencyPool(env, servers)
    waits: list[float] = []

    def customer(n: int):
        arrived = env.now
        request = pool.slots.request()
        yield request
        if n >= warmup:
            waits.append(env.now - arrived)
        yield env.timeout(rng.expovariate(service))
        pool.slots.release(request)

    def arrivals():
        for n in range(customers):
            yield env.timeout(rng.expovariate(arrival))
            env.process(customer(n))

    env.process(arrivals())
    env.run()
    expected = erlang_c_wait(arrival, service, servers)
    measured = sum(waits) / len(waits)
    assert abs(measured - expected) / expected < 0.03, (measured, expected)


def test_a_synchronous_caller_is_throttled_when_every_slot_is_busy():
    env = simpy.Environment()
    pool = ConcurrencyPool(env, 2)
    outcomes = [env.process(pool.run(1.0, queue=False)) for _ in range(3)]
    env.run()
    assert [o.value for o in outcomes] == [True, True, False] and pool.throttled == 1


def test_retry_exhaustion_matches_p_to_the_number_of_attempts():
    """A task failing with probability p on every attempt, retried twice: the share of
    executions that fail for good is p**3, within the 95% confidence interval."""
    p, retries, executions = 0.5, 2, 4000
    machine = {
        "StartAt": "T",
        "States": {
            "T": {
                "Type": "Task",
                "Resource": "fn",
                "Retry": [{"ErrorEquals": ["Flaky"], "MaxAttempts": retries}],
                "End": True,
            }
        },
    }
    rng = random.Random(7)
    env = simpy.Environment()

    def task(effect: Invoke):
        yield env.timeout(0.1)
        if rng.random() < p:
            raise TaskFailed("Flaky", "injected")
        return effect.payload

    runs = [env.process(execution(env, machine, {}, task)) for _ in range(executions)]
    env.run()
    failed = sum(r.value.status == "FAILED" for r in runs) / executions
    expected = p ** (retries + 1)
    half_width = 1.96 * math.sqrt(expected * (1 - expected) / executions)
    assert abs(failed - expected) <= half_width, (failed, expected, half_width)


def test_a_token_bucket_never_admits_more_than_rate_times_t_plus_burst():
    rate, burst = 50.0, 20.0
    bucket = TokenBucket(rate, burst)
    rng = random.Random(3)
    now, admitted = 0.0, []
    for _ in range(1500):  # bursts and lulls, far above the rate on average
        now += rng.choice([0.0, 0.0, 0.001, 0.005, 0.2])
        if bucket.try_take(now):
            admitted.append(now)
    assert bucket.throttled > 0 and len(admitted) > 100
    for i in range(len(admitted)):
        for j in range(i, len(admitted)):
            assert j - i + 1 <= rate * (admitted[j] - admitted[i]) + burst + 1e-9


def test_a_token_bucket_says_how_long_until_it_admits_again():
    bucket = TokenBucket(rate=10, burst=1)
    assert bucket.try_take(0.0) and not bucket.try_take(0.0)
    assert math.isclose(bucket.wait_for(0.0), 0.1)
    assert bucket.try_take(0.1)


def test_burst_scaling_adds_a_step_of_concurrency_every_ten_seconds():
    env = simpy.Environment()
    pool = ConcurrencyPool(env, limit=3_000, scale_step=1_000, scale_every_s=10)
    assert [pool.allowed(t) for t in (0, 9.9, 10, 25, 100)] == [1000, 1000, 2000, 3000, 3000]
    running = []

    def watch():
        while env.now < 30:
            running.append((env.now, pool.slots.count))
            yield env.timeout(1)

    synchronous = [env.process(pool.run(60.0, queue=False)) for _ in range(2_500)]
    env.process(watch())
    env.run(until=1)
    assert pool.slots.count == 1_000 and pool.throttled == 1_500  # the rest refused at once
    assert all(p.value is False for p in synchronous if p.triggered)
    queued = [env.process(pool.run(60.0)) for _ in range(2_500)]
    env.run(until=35)
    peak = {t: n for t, n in running}
    assert peak[5] == 1_000 and peak[15] == 2_000 and peak[25] == 3_000
    assert pool.throttled == 1_500 and all(not q.triggered for q in queued)
