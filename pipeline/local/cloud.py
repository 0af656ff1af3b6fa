"""The local cloud with the template deployed: moto's AWS (in-process or on loopback), the
stack created through its CloudFormation, and a queue standing in for the operations
mailbox. One :class:`LocalCloud` can serve many runs of the local runtime, one after another:
:meth:`LocalCloud.reset` empties what a run leaves (tables, queues, the lake and the labels)
and keeps what the deployment made; in process, :meth:`LocalCloud.suspend` lets other mocks
run in between (the test suite's one deployment per session).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import boto3
import botocore.loaders
import botocore.session
from botocore.exceptions import ClientError

from pipeline.local.deploy import deploy
from pipeline.local.endpoint import DEFAULT_TRANSPORT, Transport, local_endpoint
from pipeline.local.event_delivery import Route, deployed_routes
from pipeline.local.functions import RUNTIME_VARIABLES
from pipeline.template import Template

OPERATIONS_INBOX = "local-operations-inbox"  # a queue subscribed to the alerts topic
# Buckets whose objects a run writes (the deployment's artifact bucket is kept).
RUN_BUCKETS = ("AuditLakeBucket", "LabelsBucket")


class LocalCloud:
    """The template deployed on the local cloud; a context manager (the endpoint stops on
    exit, and with it everything in it)."""

    def __init__(
        self,
        template: Template | None = None,
        transport: Transport = DEFAULT_TRANSPORT,
        say: Callable[[str], None] | None = None,
    ) -> None:
        self.template = template or Template.load()
        self.transport = transport
        self.say = say or (lambda _text: None)
        self._routes: list[Route] | None = None

    def __enter__(self) -> LocalCloud:
        self.endpoint = local_endpoint(self.transport).__enter__()
        try:
            self.url: str | None = self.endpoint.url
            self.session = _session(RUNTIME_VARIABLES)
            where = f"on {self.url}" if self.url else "in-process"
            self.say(f"Local AWS (moto) {where}.")
            self.deployment = deploy(self.template, self.session, self.url, say=self.say)
            for line in self.deployment.summary():
                self.say(line)
            self.stack = self.deployment.stack
            self._stack_id = self._deployed_stack_id()
            self.inbox = self._operations_inbox()
        except BaseException:
            self.endpoint.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.endpoint.__exit__(*exc)

    def suspend(self) -> None:
        """Step aside for other local clouds and mocks of this process (in-process, only
        one serves at a time), keeping the deployment: :meth:`resume` serves it again."""
        self.endpoint.suspend()

    def resume(self) -> bool:
        """Serve again after :meth:`suspend`; False when the deployment is gone meanwhile
        (another mock or endpoint that started reset moto): deploy a new cloud then."""
        self.endpoint.resume()
        try:
            return self._deployed_stack_id() == self._stack_id
        except ClientError:  # no such stack
            return False

    def _deployed_stack_id(self) -> str | None:
        stacks = self.client("cloudformation").describe_stacks(StackName=self.stack.name)
        return next((s["StackId"] for s in stacks["Stacks"]), None)

    def client(self, service: str) -> Any:
        """A boto3 client of the local cloud."""
        return self.session.client(service, endpoint_url=self.url)

    def routes(self, machines: Mapping[str, str]) -> list[Route]:
        """The deployed rules' routes to their state machines (``machines``: ARN -> logical
        id), read once: a run's delivery then points each rule's target at its own queue,
        and later runs reuse the same routes and queues."""
        if self._routes is None:
            bus = self.stack.ref("OrderEventBus")
            self._routes = deployed_routes(
                self.client("events"), self.client("sqs"), bus, dict(machines)
            )
        return self._routes

    def reset(self) -> None:
        """Empty what a run leaves behind: every item of every table, every message of every
        queue, the objects of the lake and labels buckets. The stack, its streams (a new run
        reads them from their end), rules, topics and subscriptions stay."""
        dynamodb, sqs, s3 = self.client("dynamodb"), self.client("sqs"), self.client("s3")
        for table_id, _ in self.template.of_type("AWS::DynamoDB::Table"):
            _empty_table(dynamodb, self.stack.ref(table_id))
        for url in sqs.list_queues().get("QueueUrls", []):
            _empty_queue(sqs, url)
        for bucket_id in RUN_BUCKETS:
            _empty_bucket(s3, self.stack.ref(bucket_id))

    def _operations_inbox(self) -> str:
        """A queue subscribed to the alerts topic, standing in for the operations mailbox."""
        sqs = self.client("sqs")
        queue: str = sqs.create_queue(QueueName=OPERATIONS_INBOX)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
        self.client("sns").subscribe(
            TopicArn=self.stack.ref("AlertsTopic"),
            Protocol="sqs",
            Endpoint=arn["Attributes"]["QueueArn"],
            Attributes={"RawMessageDelivery": "true"},
        )
        return queue


def _empty_table(dynamodb: Any, table: str) -> None:
    keys = [
        k["AttributeName"] for k in dynamodb.describe_table(TableName=table)["Table"]["KeySchema"]
    ]
    for page in dynamodb.get_paginator("scan").paginate(TableName=table):
        items = page["Items"]
        for start in range(0, len(items), 25):
            batch = items[start : start + 25]
            dynamodb.batch_write_item(
                RequestItems={
                    table: [
                        {"DeleteRequest": {"Key": {k: item[k] for k in keys}}} for item in batch
                    ]
                }
            )


def drain(sqs: Any, url: str) -> list[dict[str, Any]]:
    """Every visible message of a queue, read and deleted, attributes included."""
    out: list[dict[str, Any]] = []
    while batch := sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    ).get("Messages", []):
        out += batch
        entries = [{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(batch)]
        sqs.delete_message_batch(QueueUrl=url, Entries=entries)
    return out


def _empty_queue(sqs: Any, url: str) -> None:
    """Drain the visible messages; what is delayed or in flight (a requeue with a delay) goes
    by PurgeQueue, which SQS allows once a minute per queue."""
    drain(sqs, url)
    counts = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=[
            "ApproximateNumberOfMessagesDelayed",
            "ApproximateNumberOfMessagesNotVisible",
        ],
    )["Attributes"]
    if any(int(n) for n in counts.values()):
        sqs.purge_queue(QueueUrl=url)


def _empty_bucket(s3: Any, bucket: str) -> None:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        objects = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if objects:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": objects})


@functools.cache
def _service_models() -> botocore.loaders.Loader:
    """One loader of botocore's service models for every session (a new session reads
    endpoints.json and each model again: about 0.7 s)."""
    return botocore.loaders.create_loader()


def _session(variables: Mapping[str, str]) -> boto3.Session:
    core = botocore.session.get_session()
    core.register_component("data_loader", _service_models())
    return boto3.Session(
        botocore_session=core,
        region_name=variables["AWS_DEFAULT_REGION"],
        aws_access_key_id=variables["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=variables["AWS_SECRET_ACCESS_KEY"],
    )
