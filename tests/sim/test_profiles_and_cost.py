"""Region quota profiles and the dated price table."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pipeline.sim.cost import PriceTable, cost, per_thousand_orders
from pipeline.sim.regions import PROFILES, Bucket


def test_profiles_differ_where_aws_limits_differ():
    large, other = PROFILES["large"], PROFILES["other"]
    assert large.sfn_state_transitions.rate == 5_000 and other.sfn_state_transitions.rate == 800
    assert large.api_gateway == Bucket(10_000, 5_000)  # most regions
    assert other.api_gateway == Bucket(2_500, 1_250)  # the thirteen newer regions
    bucket = other.sfn_state_transitions.make()
    admitted = sum(bucket.try_take(0.0) for _ in range(1_000))
    assert admitted == 800  # the burst, at one instant
    raised = other.with_overrides(lambda_concurrency=5_000)
    assert raised.lambda_concurrency == 5_000 and other.lambda_concurrency == 1_000


def test_standard_costs_per_transition_and_express_per_request_and_duration():
    standard = cost({"sfn_standard_transitions": 20})
    express = cost({"sfn_express_requests": 1, "sfn_express_gb_s": 0.064 * 2})
    assert standard == Decimal("0.000500")
    assert express == Decimal("0.000001") + Decimal("0.128") * PriceTable().sfn_express_per_gb_s


def test_cost_per_thousand_orders_scales_from_the_run():
    units = {"lambda_requests": 12_000, "dynamodb_wru": 40_000, "eventbridge_events": 8_000}
    assert per_thousand_orders(units, 1_000) == cost(units)
    assert per_thousand_orders(units, 2_000) == cost(units) / 2


def test_an_unpriced_unit_is_an_error():
    with pytest.raises(KeyError, match="no price"):
        cost({"sqs_requests": 10})


def test_a_share_of_a_profile_splits_every_quota():
    large = PROFILES["large"]
    half = large.share(2)
    assert half.sfn_start_execution == Bucket(150, 650)
    assert half.eventbridge_put_events == Bucket(5_000, 5_000)
    assert half.lambda_concurrency == 500 and half.dynamodb_partition_wcu == 500
