"""Who called which AWS API on what: calls recorded per function while the pipeline runs.

Every function's handler is wrapped so that, while it runs, the thread knows which function it
is; every botocore call made meanwhile (``BaseClient._make_api_call``, the one place every
client call passes, retries included once) is recorded as (function, IAM actions, resource).
Resources are turned into logical ids through the deployed stack, then into the synthetic ARNs
the IAM test also resolves the template's policies to, so the two compare directly.
"""

from __future__ import annotations

import contextlib
import functools
import sys
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import botocore.client

from pipeline.local.firehose import LocalFirehose
from pipeline.local.functions import handler_of
from pipeline.template import Template

REGION, ACCOUNT = "us-east-1", "123456789012"


def arn_of(kind: str, logical_id: str, suffix: str = "") -> str:
    """The synthetic ARN of a template resource (logical id in place of the physical name)."""
    base = {
        "AWS::DynamoDB::Table": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{logical_id}",
        "AWS::SQS::Queue": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{logical_id}",
        "AWS::SNS::Topic": f"arn:aws:sns:{REGION}:{ACCOUNT}:{logical_id}",
        "AWS::S3::Bucket": f"arn:aws:s3:::{logical_id}",
        "AWS::Serverless::StateMachine": (
            f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{logical_id}"
        ),
        "AWS::Events::EventBus": f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/{logical_id}",
        "AWS::KinesisFirehose::DeliveryStream": (
            f"arn:aws:firehose:{REGION}:{ACCOUNT}:deliverystream/{logical_id}"
        ),
        "AWS::KMS::Key": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{logical_id}",
        "AWS::Logs::LogGroup": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{logical_id}:*",
        "AWS::Serverless::Function": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{logical_id}",
    }.get(kind, f"arn:aws:unknown:{REGION}:{ACCOUNT}:{kind}/{logical_id}")
    return base + suffix


@dataclass(frozen=True)
class Call:
    """One IAM action a function needed, on one resource (a synthetic ARN)."""

    function: str
    action: str
    resource: str
    operation: str  # the SDK operation that needed it (for messages)


@dataclass
class CallRecorder:
    template: Template
    names: dict[str, str] = field(default_factory=dict)  # physical name/ARN/URL -> logical id
    calls: dict[str, set[Call]] = field(default_factory=lambda: defaultdict(set))
    unknown: list[str] = field(default_factory=list)  # operations the recorder cannot map
    _local: threading.local = field(default_factory=threading.local)

    # ------------------------------------------------------------------ attribution
    def current(self) -> str | None:
        stack = getattr(self._local, "stack", [])
        return stack[-1] if stack else None

    @contextlib.contextmanager
    def acting_as(self, function_id: str | None) -> Iterator[None]:
        """Calls in this block are ``function_id``'s (None: nobody's, e.g. the runtime's)."""
        stack = self._local.__dict__.setdefault("stack", [])
        stack.append(function_id)
        try:
            yield
        finally:
            stack.pop()

    def learn(self, resources: Mapping[str, Any]) -> None:
        """Physical names of a deployed stack: ``{logical id: PhysicalResource}``."""
        for logical_id, physical in resources.items():
            self.names[physical.ref] = logical_id
            for value in physical.attributes.values():
                self.names[value] = logical_id

    # ------------------------------------------------------------------ resources
    def logical(self, value: str) -> str:
        if value in self.template.resources:
            return value  # the local Firehose is addressed by its logical id
        for candidate in (value, value.rstrip("/")):
            if candidate in self.names:
                return self.names[candidate]
        # a bus may be named by its name or its ARN; a queue URL by its last segment
        tail = value.rsplit("/", 1)[-1].rsplit(":", 1)[-1]
        for physical, logical_id in self.names.items():
            if physical.rsplit("/", 1)[-1].rsplit(":", 1)[-1] == tail:
                return logical_id
        raise LookupError(f"no template resource is named {value!r}")

    def arn(self, value: str, suffix: str = "") -> str:
        logical_id = self.logical(value)
        return arn_of(self.template.resources[logical_id]["Type"], logical_id, suffix)

    def record(self, function: str, service: str, operation: str, params: Mapping) -> None:
        for action, resource in self.needs(service, operation, params):
            self.calls[function].add(Call(function, action, resource, operation))

    def needs(self, service: str, operation: str, p: Mapping) -> list[tuple[str, str]]:
        """The IAM actions (and resources) an SDK call is authorised by (IAM service
        authorization reference). Unknown operations fail the test rather than pass it."""
        key = f"{service}:{operation}"
        if service == "dynamodb":
            needed = self._dynamodb_needs(key, operation, p)
        elif service == "sqs":
            needed = self._sqs_needs(key, operation, p)
        elif service == "s3":
            needed = self._s3_needs(key, operation, p)
        else:
            needed = self._other_needs(key, p)
        if needed is None:
            self.unknown.append(f"{key} {sorted(p)}")
            return []
        return needed

    def _dynamodb_needs(self, key: str, operation: str, p: Mapping) -> list[tuple[str, str]] | None:
        if operation == "TransactWriteItems":  # no action of its own: each item's
            per_item = {
                "Put": "PutItem",
                "Update": "UpdateItem",
                "Delete": "DeleteItem",
                "ConditionCheck": "ConditionCheckItem",
            }
            return [
                (f"dynamodb:{per_item[kind]}", self.arn(body["TableName"]))
                for item in p["TransactItems"]
                for kind, body in item.items()
            ]
        if operation == "TransactGetItems":
            return [
                ("dynamodb:GetItem", self.arn(i["Get"]["TableName"])) for i in p["TransactItems"]
            ]
        if operation in ("BatchGetItem", "BatchWriteItem"):  # actions of their own
            return [(key, self.arn(table)) for table in p["RequestItems"]]
        if "TableName" in p:
            index = f"/index/{p['IndexName']}" if p.get("IndexName") else ""
            return [(key, self.arn(p["TableName"], index))]
        return None

    def _sqs_needs(self, key: str, operation: str, p: Mapping) -> list[tuple[str, str]] | None:
        if operation == "GetQueueUrl":
            return [(key, self.arn(p["QueueName"]))]
        if "QueueUrl" in p:
            return [(key, self.arn(p["QueueUrl"]))]
        return None

    def _s3_needs(self, key: str, operation: str, p: Mapping) -> list[tuple[str, str]] | None:
        objects = {"HeadObject": "s3:GetObject", "GetObject": "s3:GetObject"}
        if operation in objects or operation in ("PutObject", "DeleteObject"):
            action = objects.get(operation, key)
            needed = [(action, self.arn(p["Bucket"], f"/{p['Key']}"))]
            if operation == "HeadObject":
                # A missing key reads as 404 only with s3:ListBucket, else as 403 (which
                # the carrier adapter would take for an outage): HeadObject needs both.
                needed.append(("s3:ListBucket", self.arn(p["Bucket"])))
            return needed
        if operation in ("ListObjects", "ListObjectsV2"):
            return [("s3:ListBucket", self.arn(p["Bucket"]))]
        return None

    def _other_needs(self, key: str, p: Mapping) -> list[tuple[str, str]] | None:
        if key == "sns:Publish":
            return [(key, self.arn(p.get("TopicArn") or p["TargetArn"]))]
        if key == "states:StartExecution":
            return [(key, self.arn(p["stateMachineArn"]))]
        if key == "events:PutEvents":
            return [(key, self.arn(e.get("EventBusName", "default"))) for e in p["Entries"]]
        if key in ("firehose:PutRecord", "firehose:PutRecordBatch"):
            return [(key, self.arn(p["DeliveryStreamName"]))]
        return None

    # ------------------------------------------------------------------ hooks
    @contextlib.contextmanager
    def installed(self, patch: Callable[[Any, str, Any], None]) -> Iterator[CallRecorder]:
        """Wrap every function's handler and the SDK's call path (``patch`` is
        ``monkeypatch.setattr``, so everything is undone when the test ends)."""
        recorder = self
        for function_id, _ in self.template.of_type("AWS::Serverless::Function"):
            handler = handler_of(self.template, function_id)
            module = sys.modules[handler.__module__]
            patch(module, handler.__name__, self._wrap(function_id, handler))

        original_call = botocore.client.BaseClient._make_api_call

        def make_api_call(client: Any, operation: str, params: Mapping) -> Any:
            function = recorder.current()
            if function is not None:
                service = client.meta.service_model.signing_name
                recorder.record(function, service, operation, params)
            return original_call(client, operation, params)

        patch(botocore.client.BaseClient, "_make_api_call", make_api_call)

        # The local Firehose stands in for the firehose client the audit forwarder calls; what
        # it writes to S3 is the delivery stream's doing (its own role), not the function's.
        original_put = LocalFirehose.put_record_batch

        def put_record_batch(firehose: Any, DeliveryStreamName: str, Records: list) -> dict:
            function = recorder.current()
            if function is not None:
                recorder.record(
                    function,
                    "firehose",
                    "PutRecordBatch",
                    {"DeliveryStreamName": DeliveryStreamName},
                )
            with recorder.acting_as(None):
                return original_put(
                    firehose, DeliveryStreamName=DeliveryStreamName, Records=Records
                )

        patch(LocalFirehose, "put_record_batch", put_record_batch)
        yield self

    def _wrap(self, function_id: str, handler: Callable[[Any, Any], Any]) -> Callable:
        @functools.wraps(handler)
        def acting(event: Any, context: Any) -> Any:
            with self.acting_as(function_id):
                return handler(event, context)

        return acting
