"""DynamoDB stream records built from the event store's real items (what Lambda receives)."""

from __future__ import annotations

from typing import Any


def stream_records(
    dynamodb: Any,
    table: str,
    arn: str = "arn:aws:dynamodb:us-east-1:123456789012:table/events/stream/x",
) -> list[dict[str, Any]]:
    """One INSERT record per stored event, in (order, sequence) order."""
    items = dynamodb.scan(TableName=table)["Items"]
    items.sort(key=lambda i: (i["order_id"]["S"], int(i["sequence"]["N"])))
    return [
        {
            "eventID": f"id-{n}",
            "eventName": "INSERT",
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1",
            "dynamodb": {
                "Keys": {"order_id": item["order_id"], "sequence": item["sequence"]},
                "NewImage": item,
                "SequenceNumber": f"{n:021d}",
                "SizeBytes": 100,
                "StreamViewType": "NEW_AND_OLD_IMAGES",
            },
            "eventSourceARN": arn,
        }
        for n, item in enumerate(items, start=1)
    ]
