"""Switching a deployed stack between design variants is a parameter change that the change
set carries out: the variant's own resources appear, the other's go."""

from __future__ import annotations

import boto3
import pytest

from pipeline.deploy import flow
from pipeline.local.deploy import local_target
from pipeline.local.endpoint import LocalEndpoint

pytestmark = pytest.mark.system  # deploys to a local endpoint


def _resources(target, stack_name: str) -> set[str]:
    cfn = target.client("cloudformation")
    listed = cfn.describe_stack_resources(StackName=stack_name)["StackResources"]
    return {r["LogicalResourceId"] for r in listed}


def test_a_coordination_change_replaces_the_saga_with_the_four_pipelines_and_back(template):
    session = boto3.Session(
        region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    with LocalEndpoint() as endpoint:
        target = local_target(endpoint.url, session=session)
        quiet = {"say": lambda _line: None, "sleep": lambda _s: None}
        created = flow.deploy(target, template, "shop", **quiet)
        assert created.status == "CREATE_COMPLETE"
        live = _resources(target, "shop")
        assert {"OrderSagaStateMachine", "OrderSagaRule"} <= live
        assert "PaymentRule" not in live
        switched = flow.deploy(
            target, template, "shop", parameters={"Coordination": "choreography"}, **quiet
        )
        assert switched.status == "UPDATE_COMPLETE"
        assert switched.plan is not None
        assert switched.plan.changed_parameters() == {
            "Coordination": ("orchestration", "choreography")
        }
        live = _resources(target, "shop")
        assert {"PaymentRule", "PaymentStateMachine", "NotificationTargetDLQ"} <= live
        assert not {"OrderSagaStateMachine", "OrderSagaRule", "OrderSagaTargetDLQ"} & live
        again = flow.deploy(target, template, "shop", **quiet)  # no parameters: kept
        assert again.status == "UNCHANGED"
        alarms = target.client("cloudwatch").describe_alarms()["MetricAlarms"]
        names = " ".join(alarm["AlarmName"] for alarm in alarms)
        assert "OrderSaga" not in names and "PaymentExecutionsFailedAlarm" in names
