"""Audit lake feed: every stored event becomes one row in Firehose (Parquet in S3).

Rows go out with ``PutRecordBatch`` (at most 500 records a call); entries Firehose rejects
are retried a bounded number of times, and records still undelivered are reported as batch
item failures so the stream retries them. Redelivery can duplicate a row in the lake; the
duplicate-events query finds such rows by event id.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import ClientError

from pipeline.adapters.dynamo import error_code
from pipeline.adapters.event_store import event_from_item
from pipeline.domain.audit import audit_row
from pipeline.handlers.wiring import Wiring, aws_client, require

logger = Logger(service="audit-forwarder")
tracer = Tracer(service="audit-forwarder")
metrics = Metrics(service="audit-forwarder")

# PutRecordBatch accepts at most 500 records per call (Firehose API reference).
MAX_BATCH = 500
ATTEMPTS = 3


@dataclass
class ForwarderDeps:
    firehose: Any
    stream: str
    source: str = "aws"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ForwarderDeps:
        return cls(
            firehose=aws_client(env, "firehose"),
            stream=require(env, "DELIVERY_STREAM_NAME"),
            source=env.get("AUDIT_SOURCE", "aws"),
        )


wiring = Wiring(ForwarderDeps.from_env)


def _rows(records: list[dict[str, Any]], source: str) -> tuple[list[tuple[str, bytes]], list[str]]:
    """(sequence number, JSON line) of every INSERT record, and the records that are unreadable."""
    rows, unreadable = [], []
    for record in records:
        if record.get("eventName") != "INSERT":
            continue
        sequence = record["dynamodb"]["SequenceNumber"]
        try:
            image = record["dynamodb"]["NewImage"]
            event = event_from_item(image)
            recorded_at = datetime.fromisoformat(image["recorded_at"]["S"])
        except (KeyError, TypeError, ValueError) as error:
            logger.error(
                "unreadable stream record", extra={"sequence": sequence, "error": str(error)}
            )
            unreadable.append(sequence)
            continue
        row = audit_row(event, recorded_at, source)
        rows.append((sequence, (json.dumps(row) + "\n").encode()))
    return rows, unreadable


def deliver(deps: ForwarderDeps, rows: list[tuple[str, bytes]]) -> list[str]:
    """Send rows; returns the sequence numbers of those still undelivered after retries."""
    failed: list[str] = []
    for start in range(0, len(rows), MAX_BATCH):
        pending = rows[start : start + MAX_BATCH]
        for _ in range(ATTEMPTS):
            try:
                response = deps.firehose.put_record_batch(
                    DeliveryStreamName=deps.stream, Records=[{"Data": data} for _, data in pending]
                )
            except ClientError as error:
                logger.warning("PutRecordBatch failed", extra={"code": error_code(error)})
                continue
            pending = [
                row
                for row, result in zip(pending, response["RequestResponses"], strict=True)
                if result.get("ErrorCode")
            ]
            if not pending:
                break
        failed.extend(sequence for sequence, _ in pending)
    return failed


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    deps = wiring.get()
    rows, unreadable = _rows(event.get("Records", []), deps.source)
    failed = unreadable + deliver(deps, rows)
    metrics.add_metric(
        name="AuditRowsDelivered", unit=MetricUnit.Count, value=len(rows) - len(failed)
    )
    if failed:
        logger.error("audit rows not delivered", extra={"count": len(failed)})
    return {"batchItemFailures": [{"itemIdentifier": sequence} for sequence in failed]}
