"""A simulated run's audit events, in the event store's schema, streamed to a Parquet lake.

Every event the simulator appends becomes one lake row with the columns of the Glue table
(``pipeline.analytics.schema.lake_schema``): the same layout the local Firehose writes, Hive
partitions from the delivery stream's prefix, SNAPPY compression, ``source = "sim"``. The
``payload`` is the event's JSON and ``prev_hash``/``hash`` chain each order's events with the
domain's :func:`pipeline.domain.events.chain_digest`, so ``parse_event`` and ``verify_chain``
accept a simulated order as they accept a stored one.

Rows are buffered and written in row groups of ``batch_rows``; memory does not grow with the
length of the run.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.analytics.schema import lake_schema, object_prefix
from pipeline.domain.events import SCHEMA_VERSION, chain_digest
from pipeline.seeds import EPOCH
from pipeline.template import Template

CENT = Decimal("0.01")


def money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def iso(moment: datetime) -> str:
    """A UTC time as the domain's JSON writes it (``...Z``)."""
    return moment.isoformat().replace("+00:00", "Z")


class SimLake:
    """Parquet files under ``root``, one writer per hour partition, flushed in row groups."""

    def __init__(
        self,
        root: Path,
        template: Template,
        run_id: str,
        epoch: datetime = EPOCH,
        batch_rows: int = 100_000,
        stream_id: str = "AuditDeliveryStream",
    ) -> None:
        config = template.properties(stream_id)["ExtendedS3DestinationConfiguration"]
        self.root, self.prefix, self.run_id = Path(root), config["Prefix"], run_id
        self.schema = lake_schema(template)
        self.epoch, self.batch_rows = epoch, batch_rows
        self._rows: list[tuple[Any, ...]] = []
        self._writers: dict[str, pq.ParquetWriter] = {}
        self.rows_written = 0
        self.files: list[Path] = []

    def add(
        self,
        order_id: str,
        customer_id: str,
        sequence: int,
        event_type: str,
        at_s: float,
        correlation_id: str,
        causation_id: str | None,
        prev_hash: str | None,
        fields: dict[str, Any],
        copies: int = 1,
    ) -> str:
        """Record one event (``copies`` times: Firehose delivers at least once); returns its
        hash (the next event's ``prev_hash``)."""
        moment = self.epoch + timedelta(seconds=at_s)
        body = {
            "type": event_type,
            "event_id": f"{order_id}-{sequence:03d}",
            "order_id": order_id,
            "sequence": sequence,
            "customer_id": customer_id,
            "occurred_at": iso(moment),
            "correlation_id": correlation_id,
            "causation_id": causation_id,
            "schema_version": SCHEMA_VERSION,
            **fields,
        }
        digest = chain_digest(prev_hash, body)
        self._rows.extend([(body, moment, prev_hash, digest)] * copies)
        if len(self._rows) >= self.batch_rows:
            self.flush()
        return digest

    def flush(self) -> None:
        """Write what is buffered, one row group per hour partition."""
        rows, self._rows = self._rows, []
        by_partition: dict[str, list[tuple[Any, ...]]] = {}
        for row in rows:
            by_partition.setdefault(object_prefix(self.prefix, row[1]), []).append(row)
        for partition, part in by_partition.items():
            self._writer(partition).write_table(self._table(part))
            self.rows_written += len(part)

    def close(self) -> list[Path]:
        self.flush()
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()
        return self.files

    def _writer(self, partition: str) -> pq.ParquetWriter:
        writer = self._writers.get(partition)
        if writer is None:
            path = self.root / partition / f"sim-{self.run_id}.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            writer = pq.ParquetWriter(path, self.schema, compression="snappy")
            self._writers[partition] = writer
            self.files.append(path)
        return writer

    def _table(self, rows: list[tuple[Any, ...]]) -> pa.Table:
        columns: dict[str, list[Any]] = {field.name: [] for field in self.schema}
        for body, moment, prev_hash, digest in rows:
            amount = body.get("amount", body.get("total"))
            lines = body.get("lines")
            columns["event_id"].append(body["event_id"])
            columns["order_id"].append(body["order_id"])
            columns["sequence"].append(body["sequence"])
            columns["event_type"].append(body["type"])
            columns["schema_version"].append(SCHEMA_VERSION)
            columns["occurred_at"].append(moment)
            columns["recorded_at"].append(moment)
            columns["customer_id"].append(body["customer_id"])
            columns["amount"].append(Decimal(amount) if amount is not None else None)
            columns["currency"].append(body.get("currency"))
            columns["lines"].append(
                [
                    {
                        "sku": ln["sku"],
                        "quantity": ln["quantity"],
                        "unit_price": Decimal(ln["unit_price"]),
                    }
                    for ln in lines
                ]
                if lines
                else None
            )
            columns["reason"].append(body.get("reason"))
            columns["correlation_id"].append(body["correlation_id"])
            columns["causation_id"].append(body["causation_id"])
            columns["source"].append("sim")
            columns["payload"].append(
                json.dumps({**body, "prev_hash": prev_hash, "hash": digest}, separators=(",", ":"))
            )
            columns["prev_hash"].append(prev_hash)
            columns["hash"].append(digest)
        return pa.table(columns, schema=self.schema)
