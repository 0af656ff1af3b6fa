"""The simulator against the local cloud: the same scenario and seed, run in both, agree on
compensation rate, retries per state and dead letters within their 95% intervals."""

from __future__ import annotations

import random

import pytest

from pipeline.local.cloud import LocalCloud
from pipeline.sim.run import RunSpec, build
from pipeline.sim.stats import PerOrder
from pipeline.sim.validation import Z95, compare, per_order
from pipeline.sim_vs_local import run_both
from pipeline.variants import VARIANTS

pytestmark = pytest.mark.system  # runs the demo on the session's deployed local stack

LOCAL_ORDERS = 100  # the local cloud runs about 6 orders a second under these faults
SIM_ORDERS = 10_000

# The tasks each design runs on the way to CONFIRMED (all reached by the default faults).
TO_CONFIRMED = {
    "default": {
        f"OrderSagaStateMachine.{state}"
        for state in (
            "Authorize",
            "Capture",
            "Reserve",
            "CreateLabel",
            "ConfirmOrder",
            "NotifyConfirmed",
            "Ship",
        )
    },
    "choreography": {
        "PaymentStateMachine.Authorize",
        "PaymentStateMachine.Capture",
        "InventoryStateMachine.Reserve",
        "InventoryStateMachine.Ship",
        "ShippingStateMachine.CreateLabel",
        "ShippingStateMachine.ConfirmOrder",
        "NotificationStateMachine.Notify",
    },
}


@pytest.fixture(scope="module", params=list(TO_CONFIRMED))
def variant(request: pytest.FixtureRequest) -> str:
    """The design variant both runs use (the local stack deployed, the simulated template)."""
    return str(request.param)


def run_on(cloud: LocalCloud, scenario: str, local_orders: int) -> tuple[PerOrder, PerOrder]:
    """:func:`run_both` on ``cloud``: the simulator runs the template the cloud deployed."""
    return run_both(scenario, 11, local_orders, SIM_ORDERS, cloud=cloud)


@pytest.fixture(scope="module")
def default_scenario(shared_cloud, variant):
    with shared_cloud.lend(VARIANTS[variant]) as cloud:
        local, sim = run_on(cloud, "default", LOCAL_ORDERS)
    return compare(local, sim), local


def test_every_measure_agrees_under_the_default_faults(default_scenario):
    agreements, local = default_scenario
    assert local.n == LOCAL_ORDERS
    disagreeing = [a.row() for a in agreements if not a.agrees]
    assert disagreeing == []


def test_the_comparison_covers_every_retried_state_and_compensations(default_scenario, variant):
    agreements, _ = default_scenario
    seen = {a.measure for a in agreements if a.local.mean > 0 and a.sim.mean > 0}
    states = {m.split(":", 1)[1] for m in seen if m.startswith("retries:")}
    # the default scenario's faults reach every task the sagas run on the way to CONFIRMED
    assert TO_CONFIRMED[variant] <= states
    assert "compensated" in seen


# Deliveries dead-lettered per order when nine in ten starts fail: a delivery that starts a
# state machine runs out of its rule's nine attempts with probability 0.9**9 = 0.39. The saga
# has one per order (OrderPlaced); the choreography five on an order's way to CONFIRMED
# (OrderConfirmed starts two pipelines), so there every order loses more than one.
DEAD_LETTERS_ABOVE = {"default": 0.25, "choreography": 1.0}


def test_dead_letters_agree_when_targets_cannot_be_started(variant_cloud, variant):
    local, sim = run_on(variant_cloud, "target-outage", 30)
    (dead,) = compare(local, sim, ["dead_lettered"])
    least = DEAD_LETTERS_ABOVE[variant]
    assert dead.local.mean > least and dead.sim.mean > least  # orders lose deliveries
    assert dead.agrees, dead.row()


def test_two_different_processes_are_told_apart():
    rng = random.Random(3)
    a = per_order({"retries:X": rng.random() < 0.10} for _ in range(300))
    b = per_order({"retries:X": rng.random() < 0.20} for _ in range(10_000))
    same = per_order({"retries:X": rng.random() < 0.20} for _ in range(300))
    (differ,) = compare(a, b, ["retries:X"])
    (agree,) = compare(same, b, ["retries:X"])
    assert differ.test == "z" and abs(differ.z) > Z95 and not differ.agrees
    assert agree.agrees


def test_rare_counts_are_compared_exactly():
    rare = per_order({"x": int(n < 2)} for n in range(100))  # 2 in 100 orders
    common = per_order({"x": int(n % 1000 == 0)} for n in range(10_000))  # 10 in 10,000
    (row,) = compare(rare, common, ["x"], simultaneous=False)
    assert row.test == "exact"
    # 12 events, each in the small run with probability 100/10100: P(X >= 2) doubled
    share = 100 / 10_100
    tail = 1 - (1 - share) ** 12 - 12 * share * (1 - share) ** 11
    assert row.p_value == pytest.approx(2 * tail, rel=1e-9)
    assert not row.agrees  # p = 0.012: they disagree at 95% on their own...
    assert row.p_value > 0.05 / 10  # ...but agree among ten simultaneous intervals
    much_rarer = per_order({"x": int(n == 0)} for n in range(100_000))
    assert not compare(rare, much_rarer, ["x"], simultaneous=False)[0].agrees


def test_simultaneous_intervals_widen_with_the_number_of_measures():
    a = per_order({"x": 1, "y": 0} for _ in range(10))
    assert compare(a, a, ["x"])[0].alpha == pytest.approx(0.05)
    assert all(row.alpha == pytest.approx(0.025) for row in compare(a, a, ["x", "y"]))
    assert compare(a, a, ["x", "y"], simultaneous=False)[0].alpha == pytest.approx(0.05)


def test_in_aws_concurrent_executions_on_one_order_conflict_and_retry():
    """What the local cloud cannot show: it runs one handler at a time. With handlers that
    load at their start and append at their end, an order's Ship and Notify (both started by
    OrderConfirmed, in the choreography: the saga runs one execution per order) and duplicate
    deliveries collide, and the loser retries."""

    def notify_retries(atomic: bool) -> float:
        spec = RunSpec(
            rate_per_min=600,
            duration_s=120,
            seed=5,
            scenario="none",
            atomic_steps=atomic,
            parameters=dict(VARIANTS["choreography"]),
        )
        return build(spec).run().per_order.mean("retries:NotificationStateMachine.Notify")

    assert notify_retries(atomic=True) == 0
    assert notify_retries(atomic=False) > 0.05
