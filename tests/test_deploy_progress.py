"""Following a stack operation: events printed once each, in order, and a rollback reported
with the resources that failed. moto creates stacks at once and never fails midway, so the
CloudFormation answers here are scripted with botocore's Stubber (the real client, its real
request validation)."""

from __future__ import annotations

from datetime import UTC, datetime

import boto3
import pytest
from botocore.stub import Stubber

from pipeline.deploy.progress import StackFailed, follow

STACK = "arn:aws:cloudformation:eu-west-1:111122223333:stack/shop/0a1b"


def event(n: int, status: str, logical: str, kind: str, reason: str | None = None) -> dict:
    return {
        "StackId": STACK,
        "EventId": f"e{n}",
        "StackName": "shop",
        "LogicalResourceId": logical,
        "ResourceType": kind,
        "Timestamp": datetime(2026, 11, 25, 12, 0, n, tzinfo=UTC),
        "ResourceStatus": status,
        **({"ResourceStatusReason": reason} if reason else {}),
    }


def stack(status: str) -> dict:
    return {
        "Stacks": [
            {
                "StackId": STACK,
                "StackName": "shop",
                "CreationTime": datetime(2026, 11, 25, tzinfo=UTC),
                "StackStatus": status,
            }
        ]
    }


@pytest.fixture
def cfn():
    return boto3.client(
        "cloudformation", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x"
    )


def test_a_rollback_names_the_failed_resource_and_prints_each_event_once(cfn):
    older = event(1, "UPDATE_COMPLETE", "shop", "AWS::CloudFormation::Stack")
    started = event(2, "CREATE_IN_PROGRESS", "EventsTable", "AWS::DynamoDB::Table")
    failed = event(
        3, "CREATE_FAILED", "EventsTable", "AWS::DynamoDB::Table", "Limit exceeded for tables"
    )
    rolled = event(4, "UPDATE_ROLLBACK_COMPLETE", "shop", "AWS::CloudFormation::Stack")
    stub = Stubber(cfn)
    stub.add_response("describe_stack_events", {"StackEvents": [started, older]})
    stub.add_response("describe_stacks", stack("UPDATE_IN_PROGRESS"))
    stub.add_response("describe_stack_events", {"StackEvents": [failed, started, older]})
    stub.add_response("describe_stacks", stack("UPDATE_ROLLBACK_IN_PROGRESS"))
    stub.add_response("describe_stack_events", {"StackEvents": [rolled, failed, started, older]})
    stub.add_response("describe_stacks", stack("UPDATE_ROLLBACK_COMPLETE"))
    lines, sleeps = [], []
    with stub, pytest.raises(StackFailed) as raised:
        follow(cfn, STACK, lines.append, after="e1", sleep=sleeps.append, poll_s=5)
    assert "UPDATE_ROLLBACK_COMPLETE" in str(raised.value)
    assert "EventsTable: Limit exceeded for tables" in str(raised.value)
    assert [line.split()[1] for line in lines] == [
        "CREATE_IN_PROGRESS",
        "CREATE_FAILED",
        "UPDATE_ROLLBACK_COMPLETE",
    ]
    assert sleeps == [5, 5]


def test_it_gives_up_after_its_timeout(cfn):
    stub = Stubber(cfn)
    for _ in range(3):
        stub.add_response("describe_stack_events", {"StackEvents": []})
        stub.add_response("describe_stacks", stack("CREATE_IN_PROGRESS"))
    with stub, pytest.raises(StackFailed, match="still CREATE_IN_PROGRESS after 10 s"):
        follow(cfn, STACK, lambda _: None, sleep=lambda _: None, poll_s=5, timeout_s=10)
