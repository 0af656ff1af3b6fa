"""The pipeline's architecture as a graph read from the template: no resource is named here.

Nodes are the template's resources of the types a reader of the architecture looks for (API,
functions, bus, rules, state machines, tables, queues, topics, the delivery stream, buckets,
the Glue table, Athena). Edges come from the references between them (``Ref``,
``Fn::GetAtt``, ``${...}`` in ``Fn::Sub``), read in the direction data flows: a function
points at the table it writes, a bus at its rules, a table's stream at the function it feeds,
a rule at its target and at the DLQ of that target. An alarm is an edge from the resource it
watches to the topic it notifies, and is also kept by name (``Graph.alarms``) so a drawing can
show it as a badge on the watched resource instead. A rule, queue or alarm added to the
template shows up without touching this module.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pipeline.template import Template

# Resource type -> the tier it is drawn in (left to right, the way an order travels).
TIERS: dict[str, str] = {
    "AWS::Serverless::Api": "ingress",
    "AWS::Serverless::Function": "compute",
    "AWS::Events::EventBus": "events",
    "AWS::Events::Rule": "events",
    "AWS::Serverless::StateMachine": "orchestration",
    "AWS::DynamoDB::Table": "data",
    "AWS::SQS::Queue": "failures",
    "AWS::SNS::Topic": "failures",
    "AWS::KinesisFirehose::DeliveryStream": "audit",
    "AWS::S3::Bucket": "audit",
    "AWS::Glue::Table": "audit",
    "AWS::Athena::WorkGroup": "audit",
}
# Properties whose reference points *into* the resource that holds them (the referenced
# resource is the source of what flows): a rule's bus, an alarm's watched resource.
INBOUND = ("EventBusName", "Dimensions", "SourceArn", "RestApiId")
# A metric dimension that names a resource (its ``Name`` property) -> that resource's type.
_NAMED_BY = {"ApiName": "AWS::Serverless::Api", "EventBusName": "AWS::Events::EventBus"}
_SUB = re.compile(r"\$\{([A-Za-z0-9]+)(?:\.[A-Za-z]+)?\}")


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    label: str = ""


@dataclass(frozen=True)
class Alarm:
    """One CloudWatch alarm of the template: what it watches, the topic it notifies."""

    name: str
    watched: str
    topic: str


@dataclass
class Graph:
    nodes: dict[str, str] = field(default_factory=dict)  # logical id -> resource type
    edges: set[Edge] = field(default_factory=set)
    alarms: set[Alarm] = field(default_factory=set)  # one per (alarm, watched, topic)

    def tier(self, node: str) -> str:
        """Where a node is drawn. A function goes with what invokes it: the API, a table's
        stream, a state machine's task; one started by none of them (a schedule) works on
        failures. A bucket a function writes is a data store; the others are the lake's. A
        dead-letter queue sits with what dead-letters into it; a topic alarms notify is on the
        failures side, any other topic is an output beside the data stores."""
        kind = self.nodes[node]
        incoming = [e for e in self.edges if e.target == node]
        if kind == "AWS::SQS::Queue":  # a dead-letter queue goes with what dead-letters into it
            tiers = {self.tier(e.source) for e in incoming if e.label == "DLQ"}
            return tiers.pop() if len(tiers) == 1 else "failures"
        if kind == "AWS::SNS::Topic":  # alarms notify a failures topic; others are outputs
            return "failures" if any(e.label == "alarm" for e in incoming) else "data"
        if kind == "AWS::S3::Bucket":  # a function's store, or part of the audit lake
            writers = {self.nodes[e.source] for e in self.edges if e.target == node}
            return "data" if "AWS::Serverless::Function" in writers else "audit"
        if kind != "AWS::Serverless::Function":
            return TIERS[kind]
        sources = {(self.nodes[e.source], e.label) for e in self.edges if e.target == node}
        if any(kind == "AWS::Serverless::Api" for kind, _ in sources):
            return "ingress"
        if any(label == "stream" for _, label in sources):
            return "streams"
        if any(label == "task" for _, label in sources):
            return "orchestration"
        return "failures"


def from_template(template: Template) -> Graph:
    graph = Graph({lid: r["Type"] for lid, r in template.resources.items() if r["Type"] in TIERS})
    for logical_id, resource in template.resources.items():
        for referenced, path in _references(resource.get("Properties", {})):
            _connect(graph, logical_id, referenced, path)
    _connect_queries(graph, template)
    _connect_alarms(graph, template)
    # One edge per pair, keeping the label when one of its references says what it is.
    best: dict[tuple[str, str], Edge] = {}
    for edge in sorted(graph.edges, key=lambda e: (e.source, e.target, e.label == "")):
        if edge.source != edge.target:
            best.setdefault((edge.source, edge.target), edge)
    graph.edges = set(best.values())
    return graph


def _connect(graph: Graph, holder: str, referenced: str, path: tuple) -> None:
    if referenced not in graph.nodes or holder not in graph.nodes:
        return
    label = ""
    if "DeadLetterConfig" in path or "OnFailure" in path:
        label = "DLQ"
    elif "Events" in path and "Stream" in path:
        label = "stream"
    elif "DefinitionSubstitutions" in path:
        label = "task"
    elif "AlarmActions" in path:
        label = "alarm"
    inbound = any(key in path for key in INBOUND) or label == "stream"
    source, target = (referenced, holder) if inbound else (holder, referenced)
    graph.edges.add(Edge(source, target, label))


def _connect_queries(graph: Graph, template: Template) -> None:
    """Athena reads the Glue table its workgroup's named queries name the database of."""
    for _, query in template.of_type("AWS::Athena::NamedQuery"):
        refs = {r for r, _ in _references(query.get("Properties", {}))}
        for table_id, table in template.of_type("AWS::Glue::Table"):
            table_refs = {r for r, _ in _references(table.get("Properties", {}))}
            for workgroup in refs & {w for w, _ in template.of_type("AWS::Athena::WorkGroup")}:
                if refs & table_refs:  # the same Glue database
                    graph.edges.add(Edge(table_id, workgroup, "queries"))


def _connect_alarms(graph: Graph, template: Template) -> None:
    """An alarm as an edge: the resource it watches -> the topic its actions notify."""
    for name, alarm in template.of_type("AWS::CloudWatch::Alarm"):
        props = alarm.get("Properties", {})
        watched = _watched(props, graph, template)
        notified = {r for r, _ in _references(props.get("AlarmActions", []))} & set(graph.nodes)
        for source in watched:
            for topic in notified:
                graph.edges.add(Edge(source, topic, "alarm"))
                graph.alarms.add(Alarm(name, source, topic))


def _watched(props: dict[str, Any], graph: Graph, template: Template) -> set[str]:
    """The drawn resources an alarm watches: those its metric's dimensions refer to (its own
    metric's, or each of a metric-math alarm's ``Metrics``), or name (a dimension such as
    ``ApiName`` whose value is the resource's ``Name``: an API's metrics carry its name, not
    a reference)."""
    dimensions = list(props.get("Dimensions", []))
    for metric in props.get("Metrics", []):
        dimensions += metric.get("MetricStat", {}).get("Metric", {}).get("Dimensions", [])
    watched = {r for r, _ in _references(dimensions)} & set(graph.nodes)
    for dimension in dimensions:
        kind = _NAMED_BY.get(dimension.get("Name"))
        for node, node_kind in graph.nodes.items():
            name = template.properties(node).get("Name")
            if node_kind == kind and name is not None and name == dimension.get("Value"):
                watched.add(node)
    return watched


def pipeline_view(graph: Graph, machine: str) -> Graph:
    """One saga step's pipeline: the rules that start ``machine`` (their bus and DLQs), the
    functions it invokes and what they use, who redrives it, and where its alarms go."""
    incoming = {e.source for e in graph.edges if e.target == machine}
    rules = {n for n in incoming if graph.nodes[n] == "AWS::Events::Rule"}
    keep = {machine} | incoming
    keep |= {e.source for e in graph.edges if e.target in rules}  # the bus
    keep |= {e.target for e in graph.edges if e.source in rules}  # the DLQs
    functions = {e.target for e in graph.edges if e.source == machine}
    keep |= functions | {e.target for e in graph.edges if e.source in functions}
    keep |= {e.target for e in graph.edges if e.source in keep and e.label == "alarm"}
    edges = {e for e in graph.edges if e.source in keep and e.target in keep}
    alarms = {a for a in graph.alarms if a.watched in keep and a.topic in keep}
    return Graph({n: t for n, t in graph.nodes.items() if n in keep}, edges, alarms)


def _references(value: Any, path: tuple = ()) -> Iterator[tuple[str, tuple]]:
    """Every logical id ``value`` refers to, with the property path that holds it."""
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref" and isinstance(inner, str):
                yield inner, path
            elif key == "Fn::GetAtt":
                target = inner[0] if isinstance(inner, list) else str(inner).split(".")[0]
                yield target, path
            elif key == "Fn::Sub":
                text = inner[0] if isinstance(inner, list) else inner
                for name in _SUB.findall(str(text)):
                    yield name, path
                if isinstance(inner, list) and len(inner) > 1:
                    yield from _references(inner[1], (*path, key))
            else:
                yield from _references(inner, (*path, key))
    elif isinstance(value, list):
        for inner in value:
            yield from _references(inner, path)
