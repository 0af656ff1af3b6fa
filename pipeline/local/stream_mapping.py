"""DynamoDB stream -> Lambda event-source mappings, with Lambda's retry semantics.

As the Lambda service does for stream sources: records go to the function in batches of
``BatchSize`` in shard order; a batch response's ``batchItemFailures`` checkpoints at the
first failed record, and the batch is retried from there; a function error retries the whole
batch, split in halves when ``BisectBatchOnFunctionError`` is on; once
``MaximumRetryAttempts`` is spent, a record of the batch goes to the on-failure destination
and the mapping moves on (AWS Lambda developer guide, "Using Lambda with DynamoDB"). Here each
bisected half counts as one more attempt, so a poison record's neighbours can share its fate:
with the template's 5 attempts, a poison record in a full batch of 100 takes about 100 / 2^5,
three records, to the on-failure queue (where remediation parks and reports them).
"""

from __future__ import annotations

import json
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pipeline.asl import TaskFailed
from pipeline.template import Template

Invoke = Callable[[dict[str, Any]], Any]


@dataclass
class MappingConfig:
    """The event source's properties, as the template's DynamoDB event declares them."""

    function_id: str
    batch_size: int = 100
    max_retries: int = -1  # -1: until the record expires, as in AWS
    bisect: bool = False
    report_item_failures: bool = False
    on_failure: Any = None  # the destination's ARN (unresolved template value)

    @classmethod
    def from_template(cls, template: Template, function_id: str) -> MappingConfig:
        events = template.properties(function_id).get("Events", {})
        (props,) = [e["Properties"] for e in events.values() if e["Type"] == "DynamoDB"]
        return cls(
            function_id=function_id,
            batch_size=int(props.get("BatchSize", 100)),
            max_retries=int(props.get("MaximumRetryAttempts", -1)),
            bisect=bool(props.get("BisectBatchOnFunctionError", False)),
            report_item_failures="ReportBatchItemFailures"
            in props.get("FunctionResponseTypes", []),
            on_failure=props.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination"),
        )


DESCRIBE_EVERY = 50  # polls between two DescribeStream calls


@dataclass
class StreamMapping:
    """Polls a stream and delivers its records to ``invoke`` until they succeed or are sent on."""

    config: MappingConfig
    invoke: Invoke
    streams: Any  # boto3 dynamodbstreams client
    stream_arn: str
    sqs: Any = None
    on_failure_url: str | None = None
    iterators: dict[str, str] = field(default_factory=dict)
    _shard_list: list[dict[str, Any]] | None = field(default=None, repr=False)
    _polls: int = field(default=0, repr=False)
    delivered: int = 0
    failed_batches: int = 0
    invocations: int = 0

    def poll(self) -> int:
        """Read what the stream has, deliver it; returns how many records were read. The
        shard positions move only after their records were handled (as Lambda checkpoints),
        so a poll cut short (Ctrl-C) reads the same records again next time."""
        records, positions = self._read()
        for start in range(0, len(records), self.config.batch_size):
            self._deliver(records[start : start + self.config.batch_size])
        self.iterators.update(positions)
        return len(records)

    def skip_to_latest(self) -> None:
        """Start after every record the stream holds now (a mapping created with
        ``StartingPosition: LATEST``), for a run on a stack an earlier run used."""
        for shard in self._shards():
            self.iterators[shard["ShardId"]] = self.streams.get_shard_iterator(
                StreamArn=self.stream_arn, ShardId=shard["ShardId"], ShardIteratorType="LATEST"
            )["ShardIterator"]

    def _shards(self) -> list[dict[str, Any]]:
        """The stream's shards, described again every ``DESCRIBE_EVERY`` polls or when a
        shard has closed (Lambda's pollers also re-list shards periodically, not per read)."""
        if self._shard_list is None or self._polls % DESCRIBE_EVERY == 0:
            description = self.streams.describe_stream(StreamArn=self.stream_arn)
            self._shard_list = description["StreamDescription"]["Shards"]
        self._polls += 1
        return self._shard_list

    def _read(self) -> tuple[list[dict[str, Any]], dict[str, str]]:
        records: list[dict[str, Any]] = []
        positions: dict[str, str] = {}
        for shard in self._shards():
            shard_id = shard["ShardId"]
            iterator = (
                self.iterators.get(shard_id)
                or self.streams.get_shard_iterator(
                    StreamArn=self.stream_arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]
            )
            while iterator:
                page = self.streams.get_records(ShardIterator=iterator, Limit=1000)
                iterator = page.get("NextShardIterator")
                if iterator:
                    positions[shard_id] = iterator
                else:  # the shard closed: its children appear on the next description
                    self._shard_list = None
                records.extend({**r, "eventSourceARN": self.stream_arn} for r in page["Records"])
                if not page["Records"]:
                    break
        return records, positions

    def _deliver(self, records: list[dict[str, Any]]) -> None:
        pending: deque[tuple[list[dict[str, Any]], int]] = deque([(records, 0)])
        while pending:
            batch, attempts = pending.popleft()
            remaining, function_error = self._invoke(batch)
            if not remaining:
                self.delivered += len(batch)
                continue
            self.delivered += len(batch) - len(remaining)
            if 0 <= self.config.max_retries <= attempts:
                self._give_up(remaining, attempts + 1)
                continue
            if function_error and self.config.bisect and len(remaining) > 1:
                half = len(remaining) // 2
                pending.appendleft((remaining[half:], attempts + 1))
                pending.appendleft((remaining[:half], attempts + 1))
            else:
                pending.appendleft((remaining, attempts + 1))

    def _invoke(self, batch: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], bool]:
        """(records still to deliver, whether the function itself failed)."""
        self.invocations += 1
        try:
            response = self.invoke({"Records": batch})
        except TaskFailed:
            return batch, True
        if not self.config.report_item_failures or not isinstance(response, Mapping):
            return [], False
        failed = {f.get("itemIdentifier") for f in response.get("batchItemFailures") or []}
        if not failed:
            return [], False
        for index, record in enumerate(batch):  # checkpoint at the first failed record
            if record["dynamodb"]["SequenceNumber"] in failed:
                return batch[index:], False
        return batch, False  # an identifier we did not send: retry everything, as Lambda does

    def _give_up(self, batch: list[dict[str, Any]], attempts: int) -> None:
        self.failed_batches += 1
        if self.sqs is None or not self.on_failure_url:
            raise RuntimeError(f"{self.config.function_id}: batch failed with no destination")
        first, last = batch[0], batch[-1]
        now = datetime.now(UTC).isoformat()
        self.sqs.send_message(
            QueueUrl=self.on_failure_url,
            MessageBody=json.dumps(
                {
                    "requestContext": {
                        "requestId": str(uuid.uuid4()),
                        "functionArn": self.config.function_id,
                        "condition": "RetryAttemptsExhausted",
                        "approximateInvokeCount": attempts,
                    },
                    "version": "1.0",
                    "timestamp": now,
                    "DDBStreamBatchInfo": {
                        "shardId": first.get("shardId", "local"),
                        "startSequenceNumber": first["dynamodb"]["SequenceNumber"],
                        "endSequenceNumber": last["dynamodb"]["SequenceNumber"],
                        "batchSize": len(batch),
                        "streamArn": self.stream_arn,
                    },
                }
            ),
        )
