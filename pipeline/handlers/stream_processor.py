"""Outbox relay and projection: each event appended to the store is projected and published.

Triggered by the event store's DynamoDB stream. A record is done only when the read model
has it and EventBridge accepted it (``FailedEntryCount`` checked, never ignored); a failed
record is reported as a batch item failure, so Lambda retries from it (and bisects, then
sends the batch to the on-failure queue). A retried record may publish an event twice: every
consumer is idempotent, so a duplicate on the bus changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from botocore.exceptions import ClientError

from pipeline.adapters.dynamo import error_code
from pipeline.adapters.event_store import event_from_item
from pipeline.adapters.order_views import OrderViews
from pipeline.domain import events as ev
from pipeline.domain.bus import put_entry
from pipeline.handlers.wiring import Wiring, aws_client, require

logger = Logger(service="stream-processor")
tracer = Tracer(service="stream-processor")
metrics = Metrics(service="stream-processor")
processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


class PublishFailed(Exception):
    """EventBridge did not accept an event; the record is retried."""


@dataclass
class StreamDeps:
    events: Any  # boto3 EventBridge client
    bus: str
    views: OrderViews

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> StreamDeps:
        return cls(
            events=aws_client(env, "events"),
            bus=require(env, "EVENT_BUS_NAME"),
            views=OrderViews(
                aws_client(env, "dynamodb"),
                require(env, "ORDERS_TABLE"),
                int(env.get("STATUS_SHARDS", "8")),
            ),
        )


wiring = Wiring(StreamDeps.from_env)


def publish(deps: StreamDeps, event: ev.Event) -> None:
    try:
        response = deps.events.put_events(Entries=[put_entry(event, deps.bus)])
    except ClientError as error:
        raise PublishFailed(f"PutEvents failed: {error_code(error)}") from error
    if response.get("FailedEntryCount", 0):
        entry = response["Entries"][0]
        raise PublishFailed(f"PutEvents rejected {event.event_id}: {entry.get('ErrorCode')}")


def handle_record(record: DynamoDBRecord) -> None:
    name = record.raw_event.get("eventName")
    if name != "INSERT":
        # The store is append-only; a MODIFY or REMOVE is someone else's doing. Visible, not fatal.
        logger.warning("ignoring non-INSERT stream record", extra={"event_name": name})
        return
    image = record.raw_event["dynamodb"]["NewImage"]
    event = event_from_item(image)
    logger.append_keys(order_id=event.order_id, sequence=event.sequence)
    deps = wiring.get()
    deps.views.project(event)
    publish(deps, event)
    metrics.add_metric(name="EventPublished", unit=MetricUnit.Count, value=1)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=handle_record, processor=processor, context=context
    )
