"""The pipeline's invariants, checked one way on every kind of run.

The demo, the chaos suite and the load test (runs in the local cloud, read back by
:mod:`pipeline.local.observed`) and the simulator's summary each reduce what they saw to
:class:`Facts`; :func:`check` says, per invariant, "" when it holds or what broke. A fact a
kind of run cannot observe is None and its invariant is not checked (the simulator keeps no
lake, for one); :func:`verdict` says how many were checked.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pipeline.domain.order import TERMINAL

EVERY_ORDER_TERMINAL = "every order terminal"
COMPENSATION_FAILURES_ALERTED = "compensation failures expected and alerted"
STOCK = "stock conserved and settled"
MONEY = "money reconciled"
ONE_SIDE_EFFECT = "one side effect per order"
NOTHING_LOST = "nothing lost"
DEAD_LETTERS = "failed items redriven or parked, with an alert"


@dataclass(frozen=True)
class Facts:
    """What a run shows about the invariants (None: this kind of run cannot see it)."""

    orders: int  # accepted
    by_status: Mapping[str, int]  # each accepted order's final status, counted
    stock_conserved: bool  # available + reserved + shipped = initial, per SKU
    stock_settled: bool | None = None  # nothing reserved; shipped = what confirmed orders bought
    stock_detail: str = ""
    money_reconciled: bool = True  # captured - refunded = confirmed (+ what failures hold)
    money_detail: str = ""
    side_effect_repeats: int | None = None  # charges, refunds, reservations, labels twice
    compensation_failures_alerted: int | None = None  # orders alerted to operations
    compensation_may_fail: bool = True  # COMPENSATION_FAILED is an expected end here
    nothing_lost: bool | None = None  # every event in the lake and routed to every rule
    nothing_lost_detail: str = ""
    dead_letters_unaccounted: str | None = None  # "" when every failed item was handled


def check(facts: Facts) -> dict[str, str]:
    """Each invariant this run can show: "" when it holds, else what broke."""
    checks = {
        EVERY_ORDER_TERMINAL: _every_order_terminal(facts),
        STOCK: ""
        if facts.stock_conserved and facts.stock_settled is not False
        else facts.stock_detail or "stock not conserved",
        MONEY: "" if facts.money_reconciled else facts.money_detail or "money mismatch",
    }
    if facts.side_effect_repeats is not None:
        repeats = facts.side_effect_repeats
        checks[ONE_SIDE_EFFECT] = f"{repeats} repeated" if repeats else ""
    if facts.compensation_failures_alerted is not None:
        checks[COMPENSATION_FAILURES_ALERTED] = _compensation_failures(facts)
    if facts.nothing_lost is not None:
        checks[NOTHING_LOST] = "" if facts.nothing_lost else facts.nothing_lost_detail
    if facts.dead_letters_unaccounted is not None:
        checks[DEAD_LETTERS] = facts.dead_letters_unaccounted
    return checks


def verdict(checks: Mapping[str, str]) -> str:
    """One line: every checked invariant holds, or which did not and why."""
    failed = [f"{name} ({why})" for name, why in checks.items() if why]
    if failed:
        return "INVARIANTS FAILED: " + "; ".join(failed)
    return f"all {len(checks)} invariants hold"


def _every_order_terminal(facts: Facts) -> str:
    stuck = sorted(status for status, n in facts.by_status.items() if n and status not in TERMINAL)
    if stuck:
        return f"{sum(facts.by_status[s] for s in stuck)} orders in {stuck}"
    if sum(facts.by_status.values()) != facts.orders:
        return f"{facts.orders} accepted, {sum(facts.by_status.values())} with a status"
    return ""


def _compensation_failures(facts: Facts) -> str:
    failed = facts.by_status.get("COMPENSATION_FAILED", 0)
    alerted = facts.compensation_failures_alerted or 0
    if not failed or (facts.compensation_may_fail and alerted >= failed):
        return ""
    expected = "" if facts.compensation_may_fail else " (not expected here)"
    return f"{failed} COMPENSATION_FAILED{expected}, {alerted} alerted"
