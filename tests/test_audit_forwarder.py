"""Audit forwarder: one exact row per event to Firehose, rejected rows retried then reported."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from factories import advance, make_factory, place_order
from stream_records import stream_records

from pipeline.adapters.event_store import EventStore
from pipeline.domain import events as ev
from pipeline.handlers import audit_forwarder
from pipeline.template import Template


class RecordingFirehose:
    """A Firehose client that records rows and rejects the first ``reject`` entries once."""

    def __init__(self, reject_times: dict[int, int] | None = None) -> None:
        self.rows: list[dict] = []
        self.calls = 0
        self.reject_times = reject_times or {}  # index in the first call -> times to reject

    def put_record_batch(self, DeliveryStreamName, Records):
        self.calls += 1
        results = []
        for index, record in enumerate(Records):
            row = json.loads(record["Data"])
            key = row["sequence"]
            if self.reject_times.get(key, 0) > 0:
                self.reject_times[key] -= 1
                results.append({"ErrorCode": "ServiceUnavailableException", "ErrorMessage": "busy"})
            else:
                self.rows.append(row)
                results.append({"RecordId": f"r{index}"})
        failed = sum(1 for r in results if "ErrorCode" in r)
        return {"FailedPutCount": failed, "RequestResponses": results}


@pytest.fixture
def records(aws, stack):
    store = EventStore(aws.client("dynamodb"), stack.ref("EventsTable"))
    factory = make_factory()
    place_order(store, lines=(("SKU-1", 2, "10.10"), ("SKU-2", 1, "0.05")), factory=factory)
    advance(
        store,
        "order-1",
        [
            (ev.PaymentAuthorized, {"payment_id": "p", "amount": Decimal("20.25")}),
            (ev.PaymentDeclined, {"reason": "card_declined"}),
            (ev.OrderCancelled, {"reason": "declined"}),
        ],
        factory=factory,
    )
    return stream_records(aws.client("dynamodb"), stack.ref("EventsTable"))


def forward(firehose, records, lambda_context):
    audit_forwarder.wiring.configure(audit_forwarder.ForwarderDeps(firehose, "audit", "local"))
    try:
        return audit_forwarder.lambda_handler({"Records": records}, lambda_context)
    finally:
        audit_forwarder.wiring.configure(None)


def test_rows_follow_the_glue_schema_with_exact_decimals(records, lambda_context):
    firehose = RecordingFirehose()
    assert forward(firehose, records, lambda_context) == {"batchItemFailures": []}
    columns = [
        c["Name"]
        for c in Template.load().properties("AuditGlueTable")["TableInput"]["StorageDescriptor"][
            "Columns"
        ]
    ]
    assert [list(row) for row in firehose.rows] == [columns] * 4
    placed, authorized, declined, _ = firehose.rows
    assert placed["amount"] == "20.25" and placed["lines"][1] == {
        "sku": "SKU-2",
        "quantity": 1,
        "unit_price": "0.05",
    }
    assert authorized["amount"] == "20.25"
    assert declined["reason"] == "card_declined" and declined["amount"] is None
    assert all(row["source"] == "local" for row in firehose.rows)
    assert [row["sequence"] for row in firehose.rows] == [1, 2, 3, 4]
    assert ev.parse_event(placed["payload"]).hash == placed["hash"]


def test_rejected_rows_are_retried_and_delivered_once(records, lambda_context):
    firehose = RecordingFirehose(reject_times={2: 2})
    assert forward(firehose, records, lambda_context) == {"batchItemFailures": []}
    assert sorted(row["sequence"] for row in firehose.rows) == [1, 2, 3, 4]
    assert firehose.calls == 3


def test_rows_still_rejected_after_retries_fail_their_records(records, lambda_context):
    firehose = RecordingFirehose(reject_times={3: 99})
    response = forward(firehose, records, lambda_context)
    assert response == {
        "batchItemFailures": [{"itemIdentifier": records[2]["dynamodb"]["SequenceNumber"]}]
    }
    assert sorted(row["sequence"] for row in firehose.rows) == [1, 2, 4]


def test_an_unreadable_record_fails_alone_and_the_rest_are_delivered(records, lambda_context):
    broken = json.loads(json.dumps(records[1]))
    broken["dynamodb"]["NewImage"]["payload"] = {"S": '{"type": "Nonsense"}'}
    firehose = RecordingFirehose()
    response = forward(firehose, [records[0], broken, *records[2:]], lambda_context)
    assert response == {
        "batchItemFailures": [{"itemIdentifier": broken["dynamodb"]["SequenceNumber"]}]
    }
    assert [row["sequence"] for row in firehose.rows] == [1, 3, 4]
