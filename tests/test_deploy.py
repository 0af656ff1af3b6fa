"""Deployment end to end against the local endpoint: create, update with a change, delete.

Each step goes through a change set that is shown before it is executed; the live stack's
resources are compared with the template after each step.
"""

from __future__ import annotations

import copy

import boto3
import pytest

from pipeline.deploy import flow
from pipeline.deploy import target as targets
from pipeline.deploy.changes import Plan
from pipeline.deploy.sam import translate
from pipeline.local.deploy import LOCAL_KEY, local_target
from pipeline.local.endpoint import LocalEndpoint
from pipeline.template import Template

pytestmark = pytest.mark.system  # deploys to a local endpoint

# Shaped like real credentials (AWS's documented example pair), so a leak would show.
ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
NO_WAIT = lambda _seconds: None  # noqa: E731 - moto finishes every operation at once


@pytest.fixture(scope="module")
def endpoint():
    with LocalEndpoint() as running:
        yield running


@pytest.fixture(scope="module")
def target(endpoint):
    session = boto3.Session(
        region_name="us-east-1", aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY
    )
    return local_target(endpoint.url, session=session)


def changed_template(template: Template) -> Template:
    """The template with one queue added and one alarm's threshold changed."""
    body = copy.deepcopy(dict(template.body))
    body["Resources"]["ReplayQueue"] = {
        "Type": "AWS::SQS::Queue",
        "Properties": {"KmsMasterKeyId": {"Ref": "DataKey"}},
    }
    body["Resources"]["OrderSagaTargetDLQAlarm"]["Properties"]["Threshold"] = 5
    return Template(body, template.path)


def live_resources(target: targets.Target, stack_name: str) -> dict[str, str]:
    cfn = target.client("cloudformation")
    described = cfn.describe_stack_resources(StackName=stack_name)["StackResources"]
    return {r["LogicalResourceId"]: r["ResourceType"] for r in described}


def assert_matches_template(target, stack_name, template: Template, result) -> None:
    """Every translated resource is in the live stack or made locally, with its type."""
    translated = translate(template, "s3://bucket/key.zip", target.region)["Resources"]
    live = live_resources(target, stack_name)
    local = result.sent["Metadata"][LOCAL_KEY]
    assert set(live) | set(local) == set(translated)
    assert not set(live) & set(local)
    for logical, kind in live.items():
        assert translated[logical]["Type"] == kind, logical
    assert set(result.equivalents) == set(local)


def test_create_update_delete(target, template):
    lines: list[str] = []
    shown: list[Plan] = []

    def approve(plan: Plan) -> bool:
        shown.append(plan)
        return True

    def up(body: Template, **parameters: str):
        return flow.deploy(
            target, body, "shop", parameters, approve=approve, say=lines.append, sleep=NO_WAIT
        )

    # Create: the change set adds every resource, and is shown before anything exists.
    created = up(template)
    assert created.status == "CREATE_COMPLETE" and created.executed
    plan = shown[-1]
    assert plan.kind == "CREATE" and {c.action for c in plan.changes} == {"Add"}
    translated = translate(template, "s3://b/k.zip", target.region)["Resources"]
    assert {c.logical_id for c in plan.changes} == set(translated)
    assert any(line.startswith("Change set for stack shop (CREATE)") for line in lines)
    assert_matches_template(target, "shop", template, created)
    assert set(created.outputs) == set(template.body["Outputs"])
    for value in created.outputs.values():
        assert value and "Fn::" not in value and "${" not in value
    cloudwatch = target.client("cloudwatch")
    assert len(cloudwatch.describe_alarms()["MetricAlarms"]) == len(
        list(template.of_type("AWS::CloudWatch::Alarm"))
    )
    assert target.client("glue").get_tables(DatabaseName=created.outputs["AuditDatabaseName"])[
        "TableList"
    ]

    # The same template again: an empty change set, nothing uploaded, nothing executed.
    again = up(template)
    assert again.status == "UNCHANGED" and not again.executed
    assert not again.artifact.uploaded and again.plan.empty

    # Update: a queue added, an alarm changed, a parameter changed; the rest untouched.
    changed = changed_template(template)
    updated = up(changed, MaxRedriveAttempts="5")
    assert updated.status == "UPDATE_COMPLETE"
    plan = shown[-1]
    assert plan.kind == "UPDATE"
    actions = {(c.action, c.logical_id, c.origin) for c in plan.changes}
    assert ("Add", "ReplayQueue", "cloudformation") in actions
    assert ("Modify", "OrderSagaTargetDLQAlarm", "local") in actions
    assert plan.changed_parameters() == {"MaxRedriveAttempts": ("3", "5")}
    assert "DlqRemediationFunction" in {c.logical_id for c in plan.changes if c.action == "Modify"}
    assert "  parameter MaxRedriveAttempts: 3 -> 5" in lines
    assert_matches_template(target, "shop", changed, updated)
    alarms = {a["AlarmName"]: a for a in cloudwatch.describe_alarms()["MetricAlarms"]}
    assert [a["Threshold"] for n, a in alarms.items() if "OrderSagaTargetDLQAlarm" in n] == [5.0]
    assert len(alarms) == len(list(template.of_type("AWS::CloudWatch::Alarm")))
    remediation = live_physical(target, "shop", "DlqRemediationFunction")
    environment = target.client("lambda").get_function_configuration(FunctionName=remediation)
    assert str(environment["Environment"]["Variables"]["MAX_REDRIVE_ATTEMPTS"]) == "5"
    assert target.client("sqs").get_queue_url(
        QueueName=live_physical(target, "shop", "ReplayQueue").rsplit("/", 1)[-1]
    )

    # A parameter alone: the function reading it is listed, though moto's diff omits it.
    up(changed, MaxRedriveAttempts="4")
    listed = {(c.action, c.logical_id) for c in shown[-1].changes}
    assert ("Modify", "DlqRemediationFunction") in listed
    assert not {c.logical_id for c in shown[-1].changes} & {"ReplayQueue", "EventsTable"}

    # Delete: the stack and everything made locally go; what DeletionPolicy keeps is named.
    tables = (
        live_physical(target, "shop", "EventsTable"),
        live_physical(target, "shop", "OrdersTable"),
    )
    deleted = flow.delete(target, "shop", say=lines.append, sleep=NO_WAIT)
    assert deleted.status == "DELETE_COMPLETE"
    assert {"EventsTable", "InventoryTable", "DataKey"} <= set(deleted.retained)
    assert "OrdersTable" not in deleted.retained
    remaining = target.client("dynamodb").list_tables()["TableNames"]
    assert tables[0] in remaining and tables[1] not in remaining  # Retain vs Delete
    assert not [f for f in target.client("lambda").list_functions()["Functions"]]
    assert not cloudwatch.describe_alarms()["MetricAlarms"]
    assert not target.client("glue").get_databases()["DatabaseList"]
    assert not target.client("firehose").list_delivery_streams()["DeliveryStreamNames"]
    assert not [
        b for b in target.client("s3").list_buckets()["Buckets"] if "artifacts" in b["Name"]
    ]
    assert any("kept by its DeletionPolicy: EventsTable" in line for line in lines)

    # Nothing printed along the way carries the credentials.
    printed = "\n".join(lines)
    assert ACCESS_KEY not in printed and SECRET_KEY not in printed


def live_physical(target, stack_name: str, logical: str) -> str:
    cfn = target.client("cloudformation")
    resource = cfn.describe_stack_resource(StackName=stack_name, LogicalResourceId=logical)
    return resource["StackResourceDetail"]["PhysicalResourceId"]


def test_a_declined_change_set_deploys_nothing(target, template):
    lines: list[str] = []
    result = flow.deploy(
        target, template, "declined", approve=lambda plan: False, say=lines.append, sleep=NO_WAIT
    )
    assert result.status == "NOT_EXECUTED" and not result.executed
    assert "Not approved: change set discarded, nothing deployed." in lines
    cfn = target.client("cloudformation")
    assert not [
        s
        for s in cfn.list_stacks()["StackSummaries"]
        if s["StackName"] == "declined" and s["StackStatus"] != "DELETE_COMPLETE"
    ]
    functions = target.client("lambda").list_functions()["Functions"]
    assert not [f for f in functions if f["FunctionName"].startswith("declined")]


def test_an_unknown_parameter_is_refused_before_anything_changes(target, template):
    from pipeline.deploy.changes import ChangeSetFailed

    with pytest.raises(ChangeSetFailed, match="MaxRedrives"):
        flow.deploy(
            target,
            template,
            "typo",
            parameters={"MaxRedrives": "4"},
            say=lambda _: None,
            sleep=NO_WAIT,
        )


def test_aws_needs_the_explicit_flag():
    with pytest.raises(targets.Refused, match="--aws"):
        targets.aws("prod", "eu-west-1", allowed=False)


def test_redact_masks_credentials_and_keeps_the_rest():
    line = f"key {ACCESS_KEY} secret {SECRET_KEY} stack shop-EventsTable-1A2B3C4D"
    masked = targets.redact(line, (SECRET_KEY,))
    assert ACCESS_KEY not in masked and SECRET_KEY not in masked
    assert "stack shop-EventsTable-1A2B3C4D" in masked
    assert targets.redact("local endpoint", ("local",)) == "local endpoint"


def test_cli_deploys_to_an_ephemeral_endpoint_and_refuses_aws_without_the_flag(capsys):
    from pipeline.cli import main

    assert main(["deploy", "up", "--ephemeral", "--yes", "--stack-name", "cli"]) == 0
    printed = capsys.readouterr().out
    assert "Change set for stack cli (CREATE)" in printed
    assert "Stack cli: CREATE_COMPLETE. Outputs:" in printed and "EventsTableName" in printed

    assert main(["deploy", "up", "--profile", "prod", "--region", "eu-west-1"]) == 2
    assert "without --aws" in capsys.readouterr().err
    assert main(["deploy", "up", "--parameter", "oops"]) == 2
    assert "KEY=VALUE" in capsys.readouterr().err
