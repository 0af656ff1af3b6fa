"""The local Firehose: Parquet with the Glue schema, under the template's Hive-style prefix."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pyarrow.parquet as pq
from factories import TickingClock

from pipeline.analytics.schema import arrow_type, lake_schema
from pipeline.local.firehose import LocalFirehose

ROW = {
    "event_id": "e-1",
    "order_id": "o-1",
    "sequence": 1,
    "event_type": "OrderPlaced",
    "schema_version": 1,
    "occurred_at": "2026-03-04T05:06:07+00:00",
    "recorded_at": "2026-03-04T05:06:08+00:00",
    "customer_id": "c-1",
    "amount": "20.10",
    "currency": "USD",
    "lines": [{"sku": "A-1", "quantity": 2, "unit_price": "10.05"}],
    "reason": None,
    "correlation_id": "c",
    "causation_id": None,
    "source": "local",
    "payload": "{}",
    "prev_hash": None,
    "hash": "h",
}


def test_glue_types_become_arrow_types():
    nested = arrow_type("array<struct<sku:string,quantity:int,unit_price:decimal(12,2)>>")
    assert (
        str(nested.value_type)
        == "struct<sku: string, quantity: int32, unit_price: decimal128(12, 2)>"
    )
    assert str(arrow_type("decimal(12,2)")) == "decimal128(12, 2)"


def test_rows_land_as_snappy_parquet_under_the_hive_prefix(aws, stack, template):
    s3 = aws.client("s3")
    clock = TickingClock(datetime(2026, 3, 4, 5, 6, tzinfo=UTC))
    firehose = LocalFirehose(s3, stack.ref("AuditLakeBucket"), template, clock=clock)
    data = "".join(json.dumps({**ROW, "sequence": n}) + "\n" for n in (1, 2)).encode()
    firehose.put_record_batch(DeliveryStreamName="audit", Records=[{"Data": data}])
    key = firehose.flush()
    assert key.startswith("events/year=2026/month=03/day=04/hour=05/AuditDeliveryStream-1-")
    raw = s3.get_object(Bucket=stack.ref("AuditLakeBucket"), Key=key)["Body"].read()
    parquet = pq.ParquetFile(io.BytesIO(raw))
    assert parquet.schema_arrow == lake_schema(template)
    assert parquet.metadata.row_group(0).column(0).compression == "SNAPPY"
    table = parquet.read()
    assert table.column("sequence").to_pylist() == [1, 2]
    assert table.column("amount").to_pylist() == [Decimal("20.10")] * 2
    assert table.column("lines").to_pylist()[0] == [
        {"sku": "A-1", "quantity": 2, "unit_price": Decimal("10.05")}
    ]


def test_the_buffer_flushes_itself_after_the_interval(aws, stack, template):
    clock = TickingClock(datetime(2026, 3, 4, tzinfo=UTC), step=timedelta(seconds=31))
    firehose = LocalFirehose(aws.client("s3"), stack.ref("AuditLakeBucket"), template, clock=clock)
    record = [{"Data": (json.dumps(ROW) + "\n").encode()}]
    firehose.put_record_batch(DeliveryStreamName="audit", Records=record)
    assert firehose.objects == []
    firehose.put_record_batch(DeliveryStreamName="audit", Records=record)  # 62 s later
    assert len(firehose.objects) == 1 and firehose.rows_written == 2
    assert firehose.flush() is None
