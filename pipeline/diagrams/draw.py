"""Draw the architecture graph with the ``diagrams`` package (AWS icons, Graphviz layout):
the whole pipeline, and one diagram per state machine with what it touches."""

from __future__ import annotations

import re
from pathlib import Path

from pipeline.diagrams.graph import Graph, from_template, pipeline_view
from pipeline.template import Template

TIER_TITLES = {
    "ingress": "Order API",
    "streams": "DynamoDB Streams consumers",
    "events": "EventBridge",
    "orchestration": "Step Functions (saga steps)",
    "data": "Data stores",
    "failures": "Failures: DLQs, remediation, alerts",
    "audit": "Audit lake: Firehose, S3, Glue, Athena",
}
GRAPH_ATTRS = {
    "rankdir": "LR",
    "splines": "spline",
    "nodesep": "0.35",
    "ranksep": "1.1",
    "fontsize": "20",
    "pad": "0.4",
    "newrank": "true",
}


def _icon(kind: str):
    from diagrams.aws import analytics, compute, database, integration, network, storage

    return {
        "AWS::Serverless::Api": network.APIGateway,
        "AWS::Serverless::Function": compute.Lambda,
        "AWS::Events::EventBus": integration.EventbridgeCustomEventBusResource,
        "AWS::Events::Rule": integration.EventbridgeRule,
        "AWS::Serverless::StateMachine": integration.StepFunctions,
        "AWS::DynamoDB::Table": database.Dynamodb,
        "AWS::SQS::Queue": integration.SQS,
        "AWS::SNS::Topic": integration.SNS,
        "AWS::KinesisFirehose::DeliveryStream": analytics.KinesisDataFirehose,
        "AWS::S3::Bucket": storage.S3,
        "AWS::Glue::Table": analytics.GlueDataCatalog,
        "AWS::Athena::WorkGroup": analytics.Athena,
    }[kind]


def label(logical_id: str) -> str:
    """``PaymentTargetDLQAlarm`` -> ``Payment Target\\nDLQ Alarm``: words, two lines at most."""
    words = re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+", logical_id)
    if len(words) <= 2:
        return " ".join(words)
    half = (len(words) + 1) // 2
    return " ".join(words[:half]) + "\n" + " ".join(words[half:])


def draw(graph: Graph, title: str, path: Path, formats: tuple[str, ...] = ("png", "svg")) -> None:
    """Render ``graph`` to ``path`` + each format's suffix."""
    from diagrams import Cluster, Diagram, Edge

    path.parent.mkdir(parents=True, exist_ok=True)
    with Diagram(
        title, filename=str(path), outformat=list(formats), show=False, graph_attr=GRAPH_ATTRS
    ):
        nodes = {}
        for tier, tier_title in TIER_TITLES.items():
            members = sorted(n for n in graph.nodes if graph.tier(n) == tier)
            if not members:
                continue
            with Cluster(tier_title):
                for logical_id in members:
                    nodes[logical_id] = _icon(graph.nodes[logical_id])(label(logical_id))
        for edge in sorted(graph.edges, key=lambda e: (e.source, e.target)):
            style = "dashed" if edge.label in ("DLQ", "alarm") else "solid"
            nodes[edge.source] >> Edge(label=edge.label, style=style) >> nodes[edge.target]


def draw_all(out: Path, template: Template | None = None) -> list[Path]:
    """The whole pipeline, then one diagram per state machine; returns the files written."""
    template = template or Template.load()
    graph = from_template(template)
    written = []
    draw(graph, "Order pipeline", out / "pipeline")
    written += [out / "pipeline.png", out / "pipeline.svg"]
    for machine in sorted(n for n, k in graph.nodes.items() if k.endswith("StateMachine")):
        name = machine.removesuffix("StateMachine").lower()
        title = f"{name.title()} pipeline"
        draw(pipeline_view(graph, machine), title, out / name)
        written += [out / f"{name}.png", out / f"{name}.svg"]
    return written
