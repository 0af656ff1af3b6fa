"""The architecture diagram is the template's: every resource of a drawn type is in it, edges
follow the references, and a rule or queue added to the template appears by itself."""

from __future__ import annotations

import copy
import shutil

import pytest

from pipeline.diagrams.draw import draw_all, label
from pipeline.diagrams.graph import TIERS, from_template, pipeline_view
from pipeline.template import Template


@pytest.fixture(scope="module")
def template() -> Template:
    return Template.load()


def test_every_resource_of_a_drawn_type_is_a_node(template):
    graph = from_template(template)
    drawn = {lid for lid, r in template.resources.items() if r["Type"] in TIERS}
    assert set(graph.nodes) == drawn
    touched = {e.source for e in graph.edges} | {e.target for e in graph.edges}
    assert drawn <= touched  # nothing floats unconnected


def test_edges_follow_the_flow_of_an_order(template):
    graph = from_template(template)
    edges = {(e.source, e.target, e.label) for e in graph.edges}
    for rule in template.rule_targets():
        assert (rule.rule_id, rule.machine_id, "") in edges
    assert ("EventsTable", "StreamProcessorFunction", "stream") in edges
    assert ("StreamProcessorFunction", "OrderEventBus", "") in edges
    assert ("OrderApi", "OrderApiFunction", "") in edges
    assert ("PaymentStateMachine", "PaymentFunction", "task") in edges
    assert ("PaymentRule", "PaymentTargetDLQ", "DLQ") in edges
    assert ("AuditDeliveryStream", "AuditLakeBucket", "") in edges
    assert ("AuditGlueTable", "AthenaWorkGroup", "queries") in edges
    # an alarm is drawn as an edge from what it watches to the topic it notifies
    alarmed = {e.source for e in graph.edges if e.label == "alarm" and e.target == "AlertsTopic"}
    assert len(alarmed) == len(list(template.of_type("AWS::CloudWatch::Alarm"))) == 10
    assert {"PaymentTargetDLQ", "PaymentStateMachine", "RemediationParkedQueue"} <= alarmed


def test_a_rule_and_a_queue_added_to_the_template_appear(template):
    body = copy.deepcopy(dict(template.body))
    body["Resources"]["FraudRuleDLQ"] = {"Type": "AWS::SQS::Queue", "Properties": {}}
    body["Resources"]["FraudRule"] = {
        "Type": "AWS::Events::Rule",
        "Properties": {
            "EventBusName": {"Ref": "OrderEventBus"},
            "Targets": [
                {
                    "Id": "Fraud",
                    "Arn": {"Ref": "PaymentStateMachine"},
                    "DeadLetterConfig": {"Arn": {"Fn::GetAtt": ["FraudRuleDLQ", "Arn"]}},
                }
            ],
        },
    }
    graph = from_template(Template(body, template.path))
    edges = {(e.source, e.target, e.label) for e in graph.edges}
    assert {("OrderEventBus", "FraudRule", ""), ("FraudRule", "PaymentStateMachine", "")} <= edges
    assert ("FraudRule", "FraudRuleDLQ", "DLQ") in edges
    assert "FraudRule" in pipeline_view(graph, "PaymentStateMachine").nodes


def test_a_pipeline_view_holds_its_rule_dlq_function_and_stores(template):
    view = pipeline_view(from_template(template), "ShippingStateMachine")
    assert {"ShippingRule", "OrderEventBus", "ShippingTargetDLQ", "ShippingFunction"} <= set(
        view.nodes
    )
    assert {"LabelsBucket", "EventsTable", "AlertsTopic"} <= set(view.nodes)
    assert "PaymentFunction" not in view.nodes


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
def test_the_diagrams_are_written_as_png_and_svg_with_every_node(template, tmp_path):
    written = draw_all(tmp_path, template)
    assert {p.name for p in written} == {
        f"{name}.{ext}"
        for name in ("pipeline", "payment", "inventory", "shipping", "notification")
        for ext in ("png", "svg")
    }
    assert all(p.stat().st_size > 1_000 for p in written)
    svg = (tmp_path / "pipeline.svg").read_text()
    for node in from_template(template).nodes:
        for line in label(node).split("\n"):
            assert line in svg, node
