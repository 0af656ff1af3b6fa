"""Create the template's stateful resources in an AWS-compatible endpoint, for tests and demos.

Tables, buckets, queues, topics and event buses are created from the template's own
properties (keys, indexes, streams, TTL), so handlers under test see exactly the shapes the
stack would deploy. Physical names follow CloudFormation's ``<stack>-<LogicalId>-<suffix>``
pattern; nothing here names a resource the template does not declare.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pipeline.template import Template

TABLE = "AWS::DynamoDB::Table"
BUCKET = "AWS::S3::Bucket"
QUEUE = "AWS::SQS::Queue"
TOPIC = "AWS::SNS::Topic"
BUS = "AWS::Events::EventBus"
PROVISIONED_TYPES = (TABLE, BUCKET, QUEUE, TOPIC, BUS)


@dataclass
class PhysicalResource:
    """What ``Ref`` and ``GetAtt`` resolve to for one created resource."""

    ref: str
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass
class Stack:
    """The created resources by logical id, with the intrinsic-function resolver."""

    name: str
    region: str
    account: str
    resources: dict[str, PhysicalResource] = field(default_factory=dict)
    parameters: dict[str, str] = field(default_factory=dict)

    def resolve(self, value: Any) -> Any:
        """Resolve Ref/GetAtt/Join/Sub against the created resources (pseudo parameters too)."""
        if isinstance(value, Mapping) and len(value) == 1:
            ((fn, arg),) = value.items()
            if fn == "Ref":
                return self._ref(arg)
            if fn == "Fn::GetAtt":
                logical, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
                return self.resources[logical].attributes[attribute]
            if fn == "Fn::Join":
                sep, parts = arg
                return sep.join(str(self.resolve(p)) for p in parts)
            if fn == "Fn::Sub":
                return self._sub(arg)
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        return value

    def _sub(self, arg: Any) -> str:
        """An ``Fn::Sub``: its own variables, then resources, parameters, pseudo parameters."""
        text, extra = (arg, {}) if isinstance(arg, str) else arg
        for key, val in extra.items():
            text = text.replace("${" + key + "}", str(self.resolve(val)))
        for logical, physical in self.resources.items():
            text = text.replace("${" + logical + "}", physical.ref)
            for attribute, attribute_value in physical.attributes.items():
                text = text.replace("${" + f"{logical}.{attribute}" + "}", attribute_value)
        for name in self.parameters:
            text = text.replace("${" + name + "}", self.parameters[name])
        for pseudo in (
            "AWS::Region",
            "AWS::AccountId",
            "AWS::StackName",
            "AWS::Partition",
            "AWS::URLSuffix",
        ):
            text = text.replace("${" + pseudo + "}", self._ref(pseudo))
        return text

    def resolve_deep(self, value: Any) -> Any:
        """``resolve`` applied everywhere inside a structure (a resource's properties)."""
        if isinstance(value, Mapping):
            if len(value) == 1 and next(iter(value)) in (
                "Ref",
                "Fn::GetAtt",
                "Fn::Join",
                "Fn::Sub",
            ):
                return self.resolve(value)
            return {key: self.resolve_deep(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.resolve_deep(item) for item in value]
        return value

    def _ref(self, name: str) -> str:
        pseudo = {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account,
            "AWS::StackName": self.name,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name not in self.resources:
            raise KeyError(f"{name} is not provisioned locally")
        return self.resources[name].ref

    def environment(self, template: Template, function_id: str) -> dict[str, str]:
        """A function's environment variables with every reference resolved to a physical name."""
        env: dict[str, str] = {}
        for key, value in template.function_environment(function_id).items():
            try:
                env[key] = str(self.resolve(value))
            except KeyError:
                continue  # refers to a resource this provisioner does not create
        return env

    def ref(self, logical_id: str) -> str:
        return self._ref(logical_id)


def physical_name(stack: str, logical_id: str, max_len: int = 64) -> str:
    suffix = hashlib.sha1(f"{stack}/{logical_id}".encode()).hexdigest()[:8].upper()
    return f"{stack}-{logical_id}-{suffix}"[:max_len]


def provision(
    template: Template, session: Any, stack_name: str = "orders", endpoint_url: str | None = None
) -> Stack:
    """Create every table, bucket, queue, topic and bus of ``template`` through ``session``."""

    def client(name: str) -> Any:
        return session.client(name, endpoint_url=endpoint_url)

    region = session.region_name or "us-east-1"
    stack = Stack(stack_name, region, "123456789012")
    stack.parameters = {
        name: str(spec["Default"])
        for name, spec in template.body.get("Parameters", {}).items()
        if "Default" in spec
    }
    for logical_id, resource in template.of_type(*PROVISIONED_TYPES):
        props = resource.get("Properties", {})
        kind = resource["Type"]
        if kind == TABLE:
            stack.resources[logical_id] = _table(client("dynamodb"), stack_name, logical_id, props)
        elif kind == BUCKET:
            name = physical_name(stack_name, logical_id, 63).lower()
            client("s3").create_bucket(Bucket=name)
            stack.resources[logical_id] = PhysicalResource(
                name, {"Arn": f"arn:aws:s3:::{name}", "DomainName": f"{name}.s3.amazonaws.com"}
            )
        elif kind == QUEUE:
            name = physical_name(stack_name, logical_id, 80)
            sqs = client("sqs")
            url = sqs.create_queue(QueueName=name)["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
            stack.resources[logical_id] = PhysicalResource(
                url, {"Arn": arn["Attributes"]["QueueArn"], "QueueName": name, "QueueUrl": url}
            )
        elif kind == TOPIC:
            name = physical_name(stack_name, logical_id, 256)
            arn = client("sns").create_topic(Name=name)["TopicArn"]
            stack.resources[logical_id] = PhysicalResource(
                arn, {"TopicArn": arn, "TopicName": name}
            )
        elif kind == BUS:
            name = physical_name(stack_name, logical_id, 256)
            arn = client("events").create_event_bus(Name=name)["EventBusArn"]
            stack.resources[logical_id] = PhysicalResource(name, {"Arn": arn, "Name": name})
    return stack


def _table(dynamodb: Any, stack_name: str, logical_id: str, props: Mapping[str, Any]):
    name = physical_name(stack_name, logical_id, 255)
    kwargs: dict[str, Any] = {
        "TableName": name,
        "KeySchema": props["KeySchema"],
        "AttributeDefinitions": props["AttributeDefinitions"],
        "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
    }
    if props.get("GlobalSecondaryIndexes"):
        kwargs["GlobalSecondaryIndexes"] = [
            {k: v for k, v in gsi.items() if k != "ContributorInsightsSpecification"}
            for gsi in props["GlobalSecondaryIndexes"]
        ]
    stream = props.get("StreamSpecification")
    if stream:
        kwargs["StreamSpecification"] = {
            "StreamEnabled": True,
            "StreamViewType": stream["StreamViewType"],
        }
    description = dynamodb.create_table(**kwargs)["TableDescription"]
    ttl = props.get("TimeToLiveSpecification")
    if ttl and ttl.get("Enabled"):
        dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
    attributes = {"Arn": description["TableArn"]}
    if "LatestStreamArn" in description:
        attributes["StreamArn"] = description["LatestStreamArn"]
    return PhysicalResource(name, attributes)
