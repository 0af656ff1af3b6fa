"""Every chaos scenario, small (a dozen orders, seeded): the fault shows in the run and every
invariant holds afterwards. ``make chaos`` runs the same scenarios bigger, with the report."""

from __future__ import annotations

import pytest

from pipeline import chaos
from pipeline.variants import VARIANTS

pytestmark = pytest.mark.system  # every chaos scenario on the session's deployed local stacks


ORDERS, SEED = 12, 3


@pytest.mark.parametrize("scenario", chaos.SCENARIOS, ids=lambda c: c.name)
@pytest.mark.parametrize("variant", VARIANTS)
def test_invariants_hold(variant, scenario, variant_cloud):
    """Every design variant (``pipeline.variants``: coordination, workflow types, sized
    concurrency) under every fault."""
    outcome = chaos.run(scenario, ORDERS, SEED, cloud=variant_cloud)
    assert outcome.report.orders == ORDERS
    assert outcome.ok, outcome.failed()


def test_a_broken_invariant_is_reported(cloud):
    """The checks can fail: a report with an order left mid-saga and money astray."""
    outcome = chaos.run(chaos.BY_NAME["declines"], 4, SEED, cloud=cloud)
    report = outcome.report
    report.by_status["PAYMENT_CAPTURED"] = 1
    report.captured_minus_refunded += 1
    failed = chaos.check(chaos.BY_NAME["declines"], report)
    assert failed["every order terminal"] and failed["money reconciled"]
    line = chaos.render([chaos.Outcome(outcome.chaos, report, failed)])[-1]
    assert "FAILED: every order terminal" in line


def test_the_report_has_a_row_per_scenario_with_the_issue_columns(cloud):
    outcome = chaos.run(chaos.BY_NAME["poison"], 3, SEED, cloud=cloud)
    row = outcome.row()
    assert set(row) == {
        "scenario",
        "orders",
        "terminal",
        "compensated",
        "dlq_items",
        "remediated",
        "parked",
        "alerted",
        "invariants",
    }
    assert row["parked"] >= 1 and row["alerted"] >= 1 and row["invariants"] == "all hold"
