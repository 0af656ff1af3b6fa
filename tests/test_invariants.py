"""The invariants, checked one way for every kind of run (pipeline.domain.invariants)."""

from __future__ import annotations

from pipeline.domain import invariants as inv
from pipeline.domain.invariants import Facts, check, verdict

HEALTHY = Facts(
    orders=10,
    by_status={"CONFIRMED": 8, "CANCELLED": 2},
    stock_conserved=True,
    stock_settled=True,
    side_effect_repeats=0,
    compensation_failures_alerted=0,
    nothing_lost=True,
    dead_letters_unaccounted="",
)


def replaced(**changes) -> Facts:
    return Facts(**{**HEALTHY.__dict__, **changes})


def test_a_healthy_run_holds_every_invariant_it_can_show():
    checks = check(HEALTHY)
    assert set(checks) == {
        inv.EVERY_ORDER_TERMINAL,
        inv.STOCK,
        inv.MONEY,
        inv.ONE_SIDE_EFFECT,
        inv.COMPENSATION_FAILURES_ALERTED,
        inv.NOTHING_LOST,
        inv.DEAD_LETTERS,
    }
    assert not any(checks.values())
    assert verdict(checks) == "all 7 invariants hold"


def test_what_a_run_cannot_see_is_not_checked():
    checks = check(Facts(orders=1, by_status={"CONFIRMED": 1}, stock_conserved=True))
    assert set(checks) == {inv.EVERY_ORDER_TERMINAL, inv.STOCK, inv.MONEY}


def test_each_broken_invariant_says_what_broke():
    assert check(replaced(by_status={"CONFIRMED": 8, "PAID": 2}))[inv.EVERY_ORDER_TERMINAL] == (
        "2 orders in ['PAID']"
    )
    assert "accepted" in check(replaced(orders=11))[inv.EVERY_ORDER_TERMINAL]
    assert check(replaced(stock_settled=False, stock_detail="KB: 3 reserved"))[inv.STOCK] == (
        "KB: 3 reserved"
    )
    assert check(replaced(money_reconciled=False, money_detail="10 != 9"))[inv.MONEY] == "10 != 9"
    assert check(replaced(side_effect_repeats=2))[inv.ONE_SIDE_EFFECT] == "2 repeated"
    assert check(replaced(nothing_lost=False, nothing_lost_detail="lake short"))[
        inv.NOTHING_LOST
    ] == ("lake short")
    broken = check(replaced(dead_letters_unaccounted="left in DLQs"))
    assert verdict(broken) == (
        "INVARIANTS FAILED: failed items redriven or parked, with an alert (left in DLQs)"
    )


def test_a_compensation_failure_must_be_expected_and_alerted():
    failed = {"CONFIRMED": 8, "COMPENSATION_FAILED": 2}
    alerted = replaced(by_status=failed, compensation_failures_alerted=2)
    assert not check(alerted)[inv.COMPENSATION_FAILURES_ALERTED]
    silent = replaced(by_status=failed, compensation_failures_alerted=1)
    assert check(silent)[inv.COMPENSATION_FAILURES_ALERTED] == "2 COMPENSATION_FAILED, 1 alerted"
    unexpected = replaced(
        by_status=failed, compensation_failures_alerted=2, compensation_may_fail=False
    )
    assert "not expected" in check(unexpected)[inv.COMPENSATION_FAILURES_ALERTED]


def test_a_simulated_run_is_checked_the_same_way():
    from collections import Counter

    from pipeline.sim.stats import Stats
    from pipeline.sim.summary import facts

    stats = Stats(by_status=Counter({"CONFIRMED": 2, "PLACED": 1}), finished_orders=3, stuck=1)
    checks = check(facts(stats))
    assert checks[inv.EVERY_ORDER_TERMINAL] == "1 orders in ['PLACED']"
    assert not checks[inv.MONEY] and not checks[inv.STOCK]
    stats.money_mismatches = 2
    assert "2 orders' money" in check(facts(stats))[inv.MONEY]
