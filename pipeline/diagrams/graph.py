"""The pipeline's architecture as a graph read from the template: no resource is named here.

Nodes are the template's resources of the types a reader of the architecture looks for (API,
functions, bus, rules, state machines, tables, queues, topics, the delivery stream, buckets,
the Glue table, Athena), and one node the template does not hold: the ``Client`` that calls
each API (its edge is labelled with the API's write routes, e.g. ``POST /orders``, read from
the functions' ``Api`` events). The graph reads ``template.body``, the template resolved for
one variant: every ``Fn::If`` already replaced by the branch its ``Condition`` picks and
``AWS::NoValue`` dropped (``pipeline.template``), so the choreography's four rules and the
orchestrated saga's one are each drawn only under their own variant.

Edges come from three kinds of indirection, read in the direction data flows:

1. **References** (``Ref``, ``Fn::GetAtt``, ``${...}`` in ``Fn::Sub``) in a resource's
   properties, environment variables included: a bus feeds its rules, a rule starts its
   target and dead-letters into its DLQ (``DLQ``), a table's stream feeds a function
   (``stream``), a state machine's task calls a function (``task``). A reference says *that*
   two resources are linked, not how; it is the edge only when nothing below says more.
2. **Roles**: a resource that names an ``AWS::IAM::Role`` (a function's ``Role: !GetAtt
   XRole.Arn``, a rule target's ``RoleArn``, a delivery stream's ``RoleARN``) acts with that
   role's policy statements (its inline ``Policies`` and any ``AWS::IAM::Policy`` attached to
   it). Each allowed action on a drawn resource is judged by what it moves (:data:`ACTIONS`):
   a write (``dynamodb:PutItem``, ``s3:PutObject``, ``firehose:PutRecordBatch``) points at the
   store, a read-only grant (``dynamodb:BatchGetItem``) from the store to the reader (``read``),
   ``events:PutEvents`` is ``publish``, ``sns:Publish`` ``notify``, ``sqs:ReceiveMessage`` on
   another resource's DLQ is ``drain`` (from the queue to the function),
   ``states:StartExecution`` is ``start``, or ``redrive`` when the same principal drains the
   DLQ of a rule that starts that machine (the DLQ remediation function). Permissions that move
   nothing get no edge: metadata and plumbing (``s3:ListBucket``, ``dynamodb:DescribeStream``,
   ``dynamodb:ListStreams``, ``glue:GetTable``), keys, logs and traces (not drawn types anyway).
3. **Alarms**: an edge from the resource an alarm watches to the topic it notifies
   (``alarm``), also kept by name (``Graph.alarms``) so a drawing can show a badge instead.

One edge per pair of resources, whichever way round: what the structure says (``DLQ``,
``stream``, ``task``, ``queries``) first, then the role's grants, then a bare reference. So an
environment variable naming a table and the role's write on it are one ``write`` edge; the
remediation function's ``ReceiveMessage`` and its ``SendMessage`` (a delayed requeue) on one
DLQ are one ``drain`` edge; a stream's reads and the event source mapping are one ``stream``.
A rule, queue, role grant or alarm added to the template shows up without touching this module.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from pipeline.template import Template

# Resource type -> the tier it is drawn in (left to right, the way an order travels).
TIERS: dict[str, str] = {
    "Client": "ingress",
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
CLIENT = "Client"  # who calls the APIs: the one node that is not a resource of the template
ROLE = "AWS::IAM::Role"
# An allowed action -> which way what it moves goes ("out": from the principal to the
# resource, "in": from the resource to the principal) and the edge's label. Actions not
# listed move nothing worth an edge (metadata, listings, keys, logs, traces).
ACTIONS: dict[str, tuple[str, str]] = {
    **{f"dynamodb:{verb}": ("out", "write") for verb in ("PutItem", "UpdateItem", "DeleteItem")},
    "dynamodb:BatchWriteItem": ("out", "write"),
    **{f"dynamodb:{verb}": ("in", "read") for verb in ("GetItem", "BatchGetItem", "Query", "Scan")},
    "dynamodb:GetRecords": ("in", "stream"),
    "s3:PutObject": ("out", "write"),
    "s3:GetObject": ("in", "read"),
    "firehose:PutRecord": ("out", "write"),
    "firehose:PutRecordBatch": ("out", "write"),
    "events:PutEvents": ("out", "publish"),
    "sns:Publish": ("out", "notify"),
    "sqs:SendMessage": ("out", "send"),
    "sqs:ReceiveMessage": ("in", "drain"),
    "states:StartExecution": ("out", "start"),
}
# Which label wins when a role grants several actions on one resource: starting, publishing
# and draining say what the principal is for; a write wins over a read of the same table;
# a send to a queue the principal also drains is its requeue, part of the drain.
_GRANT_ORDER = ("redrive", "start", "publish", "notify", "drain", "stream", "write", "send", "read")
# Labels the template's structure gives; they win over a grant on the same pair.
_STRUCTURAL = ("DLQ", "stream", "task", "queries")
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
    references = graph.edges
    graph.edges = set()
    grants = _grants(graph, template, references)
    _connect_clients(graph, template)
    # One edge per pair, whichever way round: the structure's label, else a grant's, else
    # the reference's (a labelled reference before a bare one).
    rank = {label: i for i, label in enumerate(_STRUCTURAL)}
    candidates = [(rank.get(e.label, len(rank)) if e.label else 99, e) for e in references]
    candidates += [(len(rank) + 1 + _GRANT_ORDER.index(e.label), e) for e in grants]
    candidates += [(0, e) for e in graph.edges]  # the clients
    best: dict[frozenset[str], tuple[int, Edge]] = {}
    for order, edge in sorted(candidates, key=lambda c: (c[0], c[1].source, c[1].target)):
        if edge.source != edge.target:
            best.setdefault(frozenset((edge.source, edge.target)), (order, edge))
    graph.edges = {edge for _, edge in best.values()}
    _connect_alarms(graph, template)
    return graph


def _grants(graph: Graph, template: Template, references: set[Edge]) -> set[Edge]:
    """The edges the roles' policies give: each drawn principal's allowed actions on drawn
    resources, one edge per (principal, resource), labelled by :data:`ACTIONS` (a start on a
    machine whose rule's DLQ the principal drains is a ``redrive``)."""
    granted = _granted(graph, template)
    dlqs = {e.target for e in references if e.label == "DLQ"}
    drains = {(p, t) for (p, t), moves in granted.items() if ("in", "drain") in moves}
    edges = set()
    for (principal, target), moves in granted.items():
        labels = {label for _, label in moves}
        if "drain" in labels and target not in dlqs:
            labels = (labels - {"drain"}) | {"receive"}
        if "start" in labels and _redrives(principal, target, drains, references):
            labels = (labels - {"start"}) | {"redrive"}
        label = min(labels, key=lambda x: _GRANT_ORDER.index(x) if x in _GRANT_ORDER else 99)
        if label == "receive":
            continue  # reading a queue that is nobody's DLQ: not drawn (none in the template)
        inbound = ("in", label) in moves
        source, target_ = (target, principal) if inbound else (principal, target)
        edges.add(Edge(source, target_, label))
    return edges


def _granted(graph: Graph, template: Template) -> dict[tuple[str, str], set[tuple[str, str]]]:
    """(principal, resource) -> the (direction, label) of each action its roles allow on it."""
    statements = _role_statements(template)
    granted: dict[tuple[str, str], set[tuple[str, str]]] = {}
    for principal, resource in template.resources.items():
        if principal not in graph.nodes:
            continue
        roles = {r for r, _ in _references(resource.get("Properties", {})) if r in statements}
        for statement in [s for role in sorted(roles) for s in statements[role]]:
            actions = statement.get("Action", [])
            listed = [actions] if isinstance(actions, str) else actions
            moves = {ACTIONS[a] for a in listed if a in ACTIONS}
            targets = {r for r, _ in _references(statement.get("Resource", []))}
            for target in targets & set(graph.nodes):
                if moves:
                    granted.setdefault((principal, target), set()).update(moves)
    return granted


def _redrives(
    principal: str, machine: str, drains: set[tuple[str, str]], references: set[Edge]
) -> bool:
    """Whether ``principal`` drains the DLQ of a rule that starts ``machine``."""
    rules = {e.source for e in references if e.target == machine}
    rule_dlqs = {e.target for e in references if e.source in rules and e.label == "DLQ"}
    return any((principal, dlq) in drains for dlq in rule_dlqs)


def _role_statements(template: Template) -> dict[str, list[Mapping[str, Any]]]:
    """Each role's allowed statements: its inline policies' and those of the
    ``AWS::IAM::Policy`` resources attached to it."""
    out: dict[str, list[Mapping[str, Any]]] = {}
    documents: list[tuple[str, Any]] = []
    for role, resource in template.of_type(ROLE):
        out[role] = []
        for policy in resource.get("Properties", {}).get("Policies", []):
            documents.append((role, policy.get("PolicyDocument", {})))
    for _, policy in template.of_type("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        props = policy.get("Properties", {})
        for role, _ in _references(props.get("Roles", [])):
            documents.append((role, props.get("PolicyDocument", {})))
    for role, document in documents:
        statement = document.get("Statement", [])
        for item in [statement] if isinstance(statement, Mapping) else statement:
            if role in out and item.get("Effect") == "Allow":
                out[role].append(item)
    return out


def _connect_clients(graph: Graph, template: Template) -> None:
    """The client calling each API, the edge labelled with the API's write routes (the
    methods that change something; its reads when it has none), as its functions declare
    them."""
    for api in [n for n, kind in graph.nodes.items() if kind == "AWS::Serverless::Api"]:
        routes = {(r.method, r.path) for r in template.api_routes() if r.api == api}
        writes = {r for r in routes if r[0] in ("POST", "PUT", "PATCH", "DELETE")} or routes
        graph.nodes.setdefault(CLIENT, "Client")
        graph.edges.add(Edge(CLIENT, api, ", ".join(f"{m} {p}" for m, p in sorted(writes))))


def _connect(graph: Graph, holder: str, referenced: str, path: tuple) -> None:
    if referenced not in graph.nodes or holder not in graph.nodes:
        return
    label = ""
    if "DeadLetterConfig" in path or "OnFailure" in path or "DeadLetterQueue" in path:
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
            name = template.resources.get(node, {}).get("Properties", {}).get("Name")
            if node_kind == kind and name is not None and name == dimension.get("Value"):
                watched.add(node)
    return watched


def pipeline_view(graph: Graph, machine: str) -> Graph:
    """One saga step's pipeline: the rules that start ``machine`` (their bus and DLQs), the
    functions it invokes and what they use (the stores they write and read), who redrives it
    (the function draining the rules' DLQs), and where its alarms go."""
    incoming = {e.source for e in graph.edges if e.target == machine}  # rules, redrivers
    rules = {n for n in incoming if graph.nodes[n] == "AWS::Events::Rule"}
    keep = {machine} | incoming
    keep |= {e.source for e in graph.edges if e.target in rules}  # the bus
    keep |= {e.target for e in graph.edges if e.source in rules}  # the DLQs
    functions = {e.target for e in graph.edges if e.source == machine}
    keep |= functions | {e.target for e in graph.edges if e.source in functions}
    keep |= {e.source for e in graph.edges if e.target in functions and e.label == "read"}
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
