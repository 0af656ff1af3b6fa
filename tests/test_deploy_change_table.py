"""The change set as a table (notebook 04): one row per resource, its action, type,
replacement and maker; grouped by type for a large change set."""

from __future__ import annotations

from pipeline.deploy.changes import Change, Plan, by_type, frame, rows


def _plan() -> Plan:
    return Plan(
        "orders",
        "UPDATE",
        "cs-1",
        "stack-1",
        changes=[
            Change("Modify", "OrdersTable", "AWS::DynamoDB::Table", "True"),
            Change("Add", "NewQueue", "AWS::SQS::Queue"),
            Change("Add", "OtherQueue", "AWS::SQS::Queue"),
            Change("Remove", "OldAlarm", "AWS::CloudWatch::Alarm", origin="local"),
            Change("Modify", "Fn", "AWS::Lambda::Function", origin="inferred"),
        ],
    )


def test_rows_list_each_resource_with_its_action_and_replacement() -> None:
    listed = rows(_plan())
    assert [r["logical id"] for r in listed] == [
        "NewQueue",
        "OtherQueue",
        "OrdersTable",
        "Fn",
        "OldAlarm",
    ]
    table = frame(_plan()).set_index("logical id")
    assert table.loc["OrdersTable", "replacement"] == "True"
    assert table.loc["NewQueue", "replacement"] == ""
    assert table.loc["OldAlarm", "made by"] == "the local runtime"
    assert table.loc["Fn", "made by"] == "CloudFormation (inferred)"


def test_by_type_groups_the_resources_and_keeps_every_id() -> None:
    grouped = by_type(_plan()).set_index(["action", "type"])
    assert grouped.loc[("Add", "AWS::SQS::Queue"), "resources"] == 2
    assert grouped.loc[("Add", "AWS::SQS::Queue"), "logical ids"] == "NewQueue, OtherQueue"
    assert grouped["resources"].sum() == 5
    empty = Plan("orders", "UPDATE", None, None)
    assert frame(empty).empty and by_type(empty).empty
