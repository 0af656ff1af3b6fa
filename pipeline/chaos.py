"""Chaos runs of the local cloud: each fault on its own and in combination, every invariant
checked after each run.

A scenario is a set of faults (a :class:`pipeline.faults.Faults`, whose fields document
every knob, including a few only chaos uses: gateway timeouts after the charge, refunds that
keep failing, deliveries held back behind later events, unreadable items in the event store)
and a check that the fault really happened, so a scenario that stopped injecting anything
fails instead of passing quietly. After each run (:func:`check`):

* every order is terminal, and an order whose compensation failed was alerted;
* stock is conserved and settled; money reconciles (what failed compensations hold is
  counted and alerted, never silently lost); one side effect per order;
* nothing is lost: every stored event is in the lake and reached every rule it matches, and
  every routed event ended delivered or dead-lettered;
* every failed item is accounted for: the DLQs are empty after remediation, each item was
  redriven or parked with its reason, and anything parked was alerted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pipeline.demo import HOT_SKU_SHARE, DemoReport, run_demo
from pipeline.domain import invariants
from pipeline.faults import Faults
from pipeline.local.cloud import LocalCloud
from pipeline.local.observed import facts

STORE_DLQ = "StreamProcessorDLQ"


@dataclass(frozen=True)
class Chaos:
    name: str
    what: str
    faults: Faults
    exercised: Callable[[DemoReport], bool]  # the fault visibly happened in the run
    hot_share: float = HOT_SKU_SHARE
    compensation_may_fail: bool = False  # COMPENSATION_FAILED is the expected end


def _cancelled(report: DemoReport) -> int:
    return report.by_status.get("CANCELLED", 0)


SCENARIOS: tuple[Chaos, ...] = (
    Chaos(
        "gateway-5xx",
        "the payment gateway answers 503 to half the calls",
        Faults(gateway_error_rate=0.5),
        lambda r: r.retries > 0,
    ),
    Chaos(
        "gateway-timeouts",
        "the gateway charges, then times out: the retry must not charge again",
        Faults(gateway_timeout_rate=0.3),
        lambda r: r.retries > 0,
    ),
    Chaos(
        "declines",
        "a third of the cards are declined",
        Faults(gateway_decline_rate=0.3),
        lambda r: _cancelled(r) > 0,
    ),
    Chaos(
        "lambda-timeouts",
        "tasks time out after their handler did the work, before the response",
        Faults(task_timeout_rate=0.25),
        lambda r: r.retries > 0,
    ),
    Chaos(
        "throttles",
        "StartExecution and Lambda invocations throttled",
        Faults(start_throttle_rate=0.3, lambda_throttle_rate=0.2),
        lambda r: r.delivery_retries > 0 and r.retries > 0,
    ),
    Chaos(
        "dynamodb-errors",
        "DynamoDB throttles a fifth of data calls; the SDK gives up after 2 attempts",
        Faults(dynamodb_throttle_rate=0.2, aws_max_attempts=2),
        lambda r: r.dynamodb_throttled > 0,
    ),
    Chaos(
        "contention",
        "most orders want the hot SKU's few units: conditional writes fail, orders compensate",
        Faults(),
        lambda r: _cancelled(r) > 0,
        hot_share=0.7,
    ),
    Chaos(
        "duplicates",
        "EventBridge delivers half the events twice; Firehose stores records twice",
        Faults(duplicate_delivery_rate=0.5, firehose_duplicate_rate=0.2),
        lambda r: r.duplicate_deliveries > 0 and r.lake_duplicates > 0,
    ),
    Chaos(
        "out-of-order",
        "deliveries held back up to a minute, some twice: events arrive after later ones",
        Faults(delivery_delay_rate=0.3, duplicate_delivery_rate=0.3),
        lambda r: r.delayed_deliveries > 0,
    ),
    Chaos(
        "carrier-outage",
        "the carrier is down for longer than the label retries last",
        Faults(carrier_failure_rate=1.0),
        lambda r: set(r.by_status) == {"CANCELLED"},
    ),
    Chaos(
        "poison",
        "unreadable items in the event store: consumers fail on them for good",
        Faults(poison_records=2),
        lambda r: r.unreadable_events == 2 and any(p["queue"] for p in r.parked),
    ),
    Chaos(
        "failing-compensation",
        "the carrier is down and every refund fails: the saga cannot undo the charge",
        Faults(carrier_failure_rate=1.0, gateway_refund_error_rate=1.0),
        lambda r: r.by_status.get("COMPENSATION_FAILED", 0) > 0,
        compensation_may_fail=True,
    ),
    Chaos(
        "target-outage",
        "EventBridge mostly cannot start the state machines: DLQs, then remediation",
        Faults(start_throttle_rate=0.9),
        lambda r: r.dead_lettered > 0 and r.remediation.get("redriven", 0) > 0,
    ),
    Chaos(
        "storm",
        "all of it at once, at lower rates",
        Faults(
            gateway_error_rate=0.1,
            gateway_timeout_rate=0.1,
            gateway_decline_rate=0.1,
            task_timeout_rate=0.05,
            start_throttle_rate=0.2,
            lambda_throttle_rate=0.05,
            dynamodb_throttle_rate=0.05,
            duplicate_delivery_rate=0.2,
            delivery_delay_rate=0.1,
            carrier_failure_rate=0.2,
            firehose_duplicate_rate=0.1,
            poison_records=1,
        ),
        lambda r: r.retries > 0 and r.duplicate_deliveries > 0 and r.unreadable_events == 1,
        hot_share=0.3,
    ),
)
BY_NAME = {chaos.name: chaos for chaos in SCENARIOS}


@dataclass
class Outcome:
    """One scenario's run: the report row and each check's verdict."""

    chaos: Chaos
    report: DemoReport
    checks: dict[str, str] = field(default_factory=dict)  # name -> "" (holds) or why not

    @property
    def ok(self) -> bool:
        return not any(self.checks.values())

    def row(self) -> dict[str, Any]:
        report = self.report
        return {
            "scenario": self.chaos.name,
            "orders": report.orders,
            "terminal": dict(sorted(report.by_status.items())),
            "compensated": sum(1 for m in report.per_order.values() if m["compensated"]),
            "dlq_items": report.remediation.get("received", 0),
            "remediated": report.remediation.get("redriven", 0),
            "parked": len(report.parked),
            "alerted": len(report.alerts),
            "invariants": "all hold" if self.ok else "FAILED: " + ", ".join(self.failed()),
        }

    def failed(self) -> list[str]:
        return [f"{name} ({why})" for name, why in self.checks.items() if why]


def run(
    chaos: Chaos, orders: int, seed: int, out: Any = None, cloud: LocalCloud | None = None
) -> Outcome:
    """Run ``orders`` orders under ``chaos`` (seeded) and check the invariants; on ``cloud``
    when given (emptied first), else on a stack of the run's own."""
    faults = chaos.faults.seeded(seed)
    report = run_demo(orders, seed, out=out, faults=faults, hot_share=chaos.hot_share, cloud=cloud)
    return Outcome(chaos, report, check(chaos, report))


def check(chaos: Chaos, report: DemoReport) -> dict[str, str]:
    """Each invariant (:mod:`pipeline.domain.invariants`): "" when it holds, else what broke;
    and whether the fault visibly happened."""
    exercised = "" if chaos.exercised(report) else "the fault did not show in the run"
    return {"exercised": exercised, **invariants.check(facts(report, chaos.compensation_may_fail))}


def render(outcomes: Sequence[Outcome]) -> list[str]:
    """The report: one line per scenario, then what failed."""
    header = (
        f"{'scenario':<22}{'orders':>7}  {'terminal states':<44}{'comp':>5}{'DLQ':>5}"
        f"{'redrv':>6}{'park':>5}{'alert':>6}  invariants"
    )
    lines = [header, "-" * len(header)]
    for outcome in outcomes:
        row = outcome.row()
        terminal = ", ".join(f"{k} {v}" for k, v in row["terminal"].items())
        lines.append(
            f"{row['scenario']:<22}{row['orders']:>7}  {terminal:<44}{row['compensated']:>5}"
            f"{row['dlq_items']:>5}{row['remediated']:>6}{row['parked']:>5}{row['alerted']:>6}"
            f"  {row['invariants']}"
        )
    return lines
