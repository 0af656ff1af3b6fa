"""The architecture diagram is the template's: every resource of a drawn type is in it, edges
follow the references and the roles' grants, and a rule or queue added to the template appears
by itself. Each test runs on the default (one orchestrated saga) and on the choreography (four
pipelines)."""

from __future__ import annotations

import copy
import html
import re
import shutil
from typing import NamedTuple

import pytest

from pipeline.diagrams.draw import (
    alarm_badge,
    alarm_summary,
    bundles,
    draw_all,
    label,
    picture,
    steps,
)
from pipeline.diagrams.graph import CLIENT, TIERS, from_template, pipeline_view
from pipeline.template import Template
from pipeline.variants import VARIANTS

ALARM = "AWS::CloudWatch::Alarm"


class Drawn(NamedTuple):
    """What a variant's diagram must show: the machine placed orders start, its rule and that
    rule's DLQ, how many alarms the template has, the diagrams ``draw_all`` writes besides the
    whole pipeline's, and how many rule DLQs the remediation function's edge bundles (0: none,
    each of its edges is drawn)."""

    machine: str
    rule: str
    dlq: str
    alarms: int
    diagrams: tuple[str, ...]
    bundled_dlqs: int


DRAWN = {
    "default": Drawn(
        "OrderSagaStateMachine", "OrderSagaRule", "OrderSagaTargetDLQ", 6, ("ordersaga",), 0
    ),
    "choreography": Drawn(
        "PaymentStateMachine",
        "PaymentRule",
        "PaymentTargetDLQ",
        11,
        ("payment", "inventory", "shipping", "notification"),
        4,
    ),
}


@pytest.fixture(scope="module", params=list(DRAWN))
def variant(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def template(variant) -> Template:
    return Template.load(parameters=VARIANTS[variant])


@pytest.fixture(scope="module")
def expected(variant) -> Drawn:
    return DRAWN[variant]


def test_every_resource_of_a_drawn_type_is_a_node(template):
    graph = from_template(template)
    drawn = {lid for lid, r in template.resources.items() if r["Type"] in TIERS}
    assert set(graph.nodes) == drawn | {CLIENT}  # and who calls the API
    touched = {e.source for e in graph.edges} | {e.target for e in graph.edges}
    assert drawn <= touched  # nothing floats unconnected


def test_edges_follow_the_flow_of_an_order(template, expected):
    graph = from_template(template)
    edges = {(e.source, e.target, e.label) for e in graph.edges}
    assert template.rule_targets()
    for rule in template.rule_targets():
        assert (rule.rule_id, rule.machine_id, "start") in edges
    assert (CLIENT, "OrderApi", "POST /orders") in edges
    assert ("EventsTable", "StreamProcessorFunction", "stream") in edges
    assert ("StreamProcessorFunction", "OrderEventBus", "publish") in edges  # the outbox relay
    assert ("OrderApi", "OrderApiFunction", "") in edges
    assert ("OrderApiFunction", "EventsTable", "write") in edges
    assert ("InventoryTable", "OrderApiFunction", "read") in edges  # catalogue prices only
    assert (expected.machine, "PaymentFunction", "task") in edges
    assert (expected.rule, expected.dlq, "DLQ") in edges
    assert ("AuditDeliveryStream", "AuditLakeBucket", "write") in edges
    assert ("AuditGlueTable", "AthenaWorkGroup", "queries") in edges
    # an alarm is drawn as an edge from what it watches to the topic it notifies
    alarmed = {e.source for e in graph.edges if e.label == "alarm" and e.target == "AlertsTopic"}
    assert len(list(template.of_type(ALARM))) == expected.alarms
    assert {expected.dlq, expected.machine, "RemediationParkedQueue", "OrderApi"} <= alarmed
    # and each alarm is kept by name, for the badge a drawing shows instead of the edge: one
    # watched resource and one topic each (the saga's two alarms watch the one machine)
    assert {a.name for a in graph.alarms} == {a for a, _ in template.of_type(ALARM)}
    assert len(graph.alarms) == expected.alarms
    assert {a.watched for a in graph.alarms} == alarmed


def test_a_rule_and_a_queue_added_to_the_template_appear(template, expected):
    body = copy.deepcopy(dict(template.body))
    body["Resources"]["FraudRuleDLQ"] = {"Type": "AWS::SQS::Queue", "Properties": {}}
    body["Resources"]["FraudRule"] = {
        "Type": "AWS::Events::Rule",
        "Properties": {
            "EventBusName": {"Ref": "OrderEventBus"},
            "Targets": [
                {
                    "Id": "Fraud",
                    "Arn": {"Ref": expected.machine},
                    "DeadLetterConfig": {"Arn": {"Fn::GetAtt": ["FraudRuleDLQ", "Arn"]}},
                }
            ],
        },
    }
    body["Resources"]["FraudRuleDLQAlarm"] = {
        "Type": ALARM,
        "Properties": {
            "Dimensions": [
                {"Name": "QueueName", "Value": {"Fn::GetAtt": ["FraudRuleDLQ", "QueueName"]}}
            ],
            "AlarmActions": [{"Ref": "AlertsTopic"}],
        },
    }
    graph = from_template(Template(body, template.path))
    edges = {(e.source, e.target, e.label) for e in graph.edges}
    assert {("OrderEventBus", "FraudRule", ""), ("FraudRule", expected.machine, "")} <= edges
    # no role grants this rule anything: its target is a bare reference
    assert ("FraudRule", "FraudRuleDLQ", "DLQ") in edges
    assert ("FraudRuleDLQ", "AlertsTopic", "alarm") in edges
    assert "FraudRuleDLQAlarm" in {a.name for a in graph.alarms}
    assert "FraudRule" in pipeline_view(graph, expected.machine).nodes


def test_the_remediation_function_is_followed_through_its_role(template):
    """Its role's policy, not its properties, names the state machines it restarts: each rule
    DLQ it drains is one ``drain`` edge (its requeue there folded in), each machine one
    ``redrive`` edge, and nothing is doubled by the queue URLs in its environment."""
    graph = from_template(template)
    edges = {(e.source, e.target, e.label) for e in graph.edges}
    for target in template.rule_targets():
        assert (target.dlq_id, "DlqRemediationFunction", "drain") in edges
        assert ("DlqRemediationFunction", target.machine_id, "redrive") in edges
    assert ("StreamProcessorDLQ", "DlqRemediationFunction", "drain") in edges
    assert ("DlqRemediationFunction", "RemediationParkedQueue", "DLQ") in edges
    pairs = [frozenset((e.source, e.target)) for e in graph.edges]
    assert len(pairs) == len(set(pairs))  # one edge per pair


def test_a_grant_that_moves_nothing_draws_nothing(template):
    body = copy.deepcopy(dict(template.body))
    role = body["Resources"]["ShippingFunctionRole"]["Properties"]["Policies"][0]
    role["PolicyDocument"]["Statement"].append(
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": {"Ref": "AuditLakeBucket"}}
    )
    role["PolicyDocument"]["Statement"].append(
        {"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": {"Ref": "OrdersTable"}}
    )
    graph = from_template(Template(body, template.path))
    edges = {(e.source, e.target, e.label) for e in graph.edges}
    assert not {e for e in edges if "AuditLakeBucket" in e[:2] and "ShippingFunction" in e[:2]}
    assert ("OrdersTable", "ShippingFunction", "read") in edges


def test_the_order_path_is_numbered_along_the_graph(template):
    texts = sorted(set(steps(from_template(template)).values()))
    assert texts[:4] == [
        "1 POST /orders",
        "2 write order + event (outbox)",
        "3 stream",
        "4 PutEvents to the bus",
    ]
    assert {"5 start execution", "6 task"} <= set(texts)


def test_names_are_in_aws_spelling():
    assert label("DlqRemediationFunction").split("\n")[0] == "DLQ"
    assert label("OrderApi") == "Order API"
    assert "DLQ" in label("PaymentTargetDLQ")


VIEWS = {  # variant -> (machine, what its view holds besides the stores, what it leaves out)
    "choreography": (
        "ShippingStateMachine",
        {"ShippingRule", "OrderEventBus", "ShippingTargetDLQ", "ShippingFunction"},
        "PaymentFunction",
    ),
    "default": (
        "OrderSagaStateMachine",
        {"OrderSagaRule", "OrderEventBus", "OrderSagaTargetDLQ"}
        | {f"{step}Function" for step in ("Payment", "Inventory", "Shipping", "Notification")},
        "StreamProcessorFunction",  # the relay publishes to the bus; it is no step of the saga
    ),
}


def test_a_pipeline_view_holds_its_rule_dlq_function_and_stores(template, variant):
    machine, holds, left_out = VIEWS[variant]
    view = pipeline_view(from_template(template), machine)
    assert holds <= set(view.nodes)
    assert {"LabelsBucket", "EventsTable", "AlertsTopic"} <= set(view.nodes)
    assert left_out not in view.nodes
    # who redrives the machine, from the DLQ of the rule that starts it
    edges = {(e.source, e.target, e.label) for e in view.edges}
    assert ("DlqRemediationFunction", machine, "redrive") in edges
    assert any(e.target == "DlqRemediationFunction" and e.label == "drain" for e in view.edges)


@pytest.mark.system  # runs Graphviz
@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
def test_the_diagrams_are_written_as_png_and_svg_with_every_node(template, expected, tmp_path):
    written = draw_all(tmp_path, template)
    assert {p.name for p in written} == {
        f"{name}.{ext}" for name in ("pipeline", *expected.diagrams) for ext in ("png", "svg")
    }
    assert all(p.stat().st_size > 1_000 for p in written)
    svg = (tmp_path / "pipeline.svg").read_text()
    graph = from_template(template)
    for node in graph.nodes:
        for line in label(node).split("\n"):
            assert line in svg, node
    # alarms: a badge on each watched resource, one summary edge into the topic they notify
    texts = _node_texts(svg)
    for node in {a.watched for a in graph.alarms}:
        count = len({a.name for a in graph.alarms if a.watched == node})
        assert alarm_badge(count) in texts[node], node
    assert alarm_summary(len(list(template.of_type(ALARM)))) in svg
    # every planned line is drawn (a backward one as its reverse with dir=back); every other
    # edge is one of them, alone or in a bundle labelled with how many it stands for
    drawn = set(re.findall(r"<title>([^<]*)&#45;&gt;([^<]*)</title>", svg))
    plan = picture(graph, "Order pipeline")
    assert {(line.tail, line.head) for line in plan.lines if line.visible} == drawn
    drawn |= {(t, s) for s, t in drawn}
    bundled = {frozenset((h, n)) for (h, _, _), ns in bundles(graph).items() for n in ns}
    for edge in graph.edges:
        if edge.label != "alarm" and frozenset((edge.source, edge.target)) not in bundled:
            assert (edge.source, edge.target) in drawn, edge
    if expected.bundled_dlqs:
        assert f"drain {expected.bundled_dlqs} DLQs" in svg
        assert f"redrive {expected.bundled_dlqs} state machines" in svg
    else:
        assert not bundles(graph)


def _node_texts(svg: str) -> dict[str, str]:
    """Each node's title -> the text drawn in it."""
    groups = re.findall(r'class="node">\s*<title>([^<]*)</title>(.*?)</g>', svg, re.S)
    return {t: html.unescape(" ".join(re.findall(r">([^<]+)</text>", b))) for t, b in groups}
