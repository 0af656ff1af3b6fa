"""A local Firehose delivery stream: buffers JSON rows, writes Parquet with the Glue schema.

It stands in for the ``firehose`` client the audit forwarder calls (``put_record_batch``),
and does what the template's delivery stream does in AWS: buffer until ``SizeInMBs`` or
``IntervalInSeconds``, convert the JSON records to Parquet (SNAPPY) with the Glue table's
schema, and put one object per flush under the stream's prefix, with the ``!{timestamp:..}``
placeholders filled from the arrival time. Each object is written whole (one PutObject), so a
stopped run never leaves a partial Parquet file.
"""

from __future__ import annotations

import io
import json
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.analytics.schema import lake_schema, object_prefix
from pipeline.template import Template


def _convert(value: Any, kind: pa.DataType) -> Any:
    """A JSON value as the Python value Arrow expects for ``kind``."""
    if value is None:
        return None
    if pa.types.is_decimal(kind):
        return Decimal(str(value))
    if pa.types.is_timestamp(kind):
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if pa.types.is_list(kind):
        return [_convert(v, kind.value_type) for v in value]
    if pa.types.is_struct(kind):
        return {f.name: _convert(value.get(f.name), f.type) for f in kind}
    return value


class LocalFirehose:
    """One delivery stream writing Parquet to S3 (``s3`` is a boto3 S3 client)."""

    def __init__(
        self,
        s3: Any,
        bucket: str,
        template: Template,
        stream_id: str = "AuditDeliveryStream",
        clock: Callable[[], datetime] | None = None,
        redelivered: Callable[[], bool] | None = None,
    ) -> None:
        """``redelivered()`` true for a record: it is stored twice, as when Firehose retries
        a batch whose acknowledgement was lost (Firehose delivers at least once)."""
        config = template.properties(stream_id)["ExtendedS3DestinationConfiguration"]
        self.s3, self.bucket, self.name = s3, bucket, stream_id
        self.prefix = config["Prefix"]
        self.max_bytes = int(config["BufferingHints"]["SizeInMBs"]) * 1024 * 1024
        self.max_age_s = int(config["BufferingHints"]["IntervalInSeconds"])
        self.schema = lake_schema(template)
        self.clock = clock or (lambda: datetime.now(UTC))
        self._rows: list[dict[str, Any]] = []
        self._bytes = 0
        self._opened: datetime | None = None
        self._lock = threading.Lock()
        self.objects: list[str] = []
        self.rows_written = 0
        self.redelivered = redelivered or (lambda: False)

    def put_record_batch(self, DeliveryStreamName: str, Records: list[dict]) -> dict:
        """Accept newline-delimited JSON records, as Firehose's API does."""
        responses = []
        with self._lock:
            for record in Records:
                data = record["Data"]
                copies = 2 if self.redelivered() else 1
                for line in (data.decode() if isinstance(data, bytes) else data).splitlines():
                    if line.strip():
                        self._rows.extend([json.loads(line)] * copies)
                        self._bytes += len(line) * copies
                self._opened = self._opened or self.clock()
                responses.append({"RecordId": str(uuid.uuid4())})
            due = self._bytes >= self.max_bytes or (
                self._opened is not None  # None when no record came (an empty batch)
                and (self.clock() - self._opened).total_seconds() >= self.max_age_s
            )
        if due:
            self.flush()
        return {"FailedPutCount": 0, "Encrypted": False, "RequestResponses": responses}

    def flush(self) -> str | None:
        """Write what is buffered as one Parquet object; returns its key (None if empty)."""
        with self._lock:
            rows, self._rows, self._bytes, self._opened = self._rows, [], 0, None
        if not rows:
            return None
        columns = {
            field.name: [_convert(row.get(field.name), field.type) for row in rows]
            for field in self.schema
        }
        table = pa.table(columns, schema=self.schema)
        buffer = io.BytesIO()
        pq.write_table(table, buffer, compression="snappy")
        moment = self.clock()
        key = (
            object_prefix(self.prefix, moment)
            + f"{self.name}-1-{moment:%Y-%m-%d-%H-%M-%S}-{uuid.uuid4()}.parquet"
        )
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=buffer.getvalue())
        self.objects.append(key)
        self.rows_written += len(rows)
        return key
