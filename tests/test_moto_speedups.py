"""moto with the local endpoint's patches answers exactly as moto without them."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError

from pipeline.local import moto_speedups
from pipeline.local.endpoint import LocalEndpoint

TABLE = "speedups"


@pytest.fixture
def dynamodb():
    with LocalEndpoint() as endpoint:
        session = boto3.Session(
            region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
        )
        client = session.client("dynamodb", endpoint_url=endpoint.url)
        client.create_table(
            TableName=TABLE,
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "N"},
                {"AttributeName": "colour", "AttributeType": "S"},
            ],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "ByColour",
                    "KeySchema": [{"AttributeName": "colour", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
        )
        for p in range(6):
            for s in range(5):
                client.put_item(
                    TableName=TABLE,
                    Item={
                        "pk": {"S": f"p{p}"},
                        "sk": {"N": str(s)},
                        "colour": {"S": ("red", "blue")[(p + s) % 2]},
                        "n": {"N": "0"},
                    },
                )
        yield client, session, endpoint


def _stream_length(session, endpoint) -> int:
    streams = session.client("dynamodbstreams", endpoint_url=endpoint.url)
    arn = streams.list_streams(TableName=TABLE)["Streams"][0]["StreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(
        StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    return len(streams.get_records(ShardIterator=iterator)["Records"])


def _queries(client) -> list:
    answers = []
    for kwargs in (
        {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "p3"}}},
        {
            "KeyConditionExpression": "pk = :p AND sk > :s",
            "ExpressionAttributeValues": {":p": {"S": "p2"}, ":s": {"N": "1"}},
            "ScanIndexForward": False,
        },
        {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "nope"}}},
        {
            "IndexName": "ByColour",
            "KeyConditionExpression": "colour = :c",
            "ExpressionAttributeValues": {":c": {"S": "red"}},
        },
        {
            "KeyConditionExpression": "pk = :p",
            "ExpressionAttributeValues": {":p": {"S": "p1"}},
            "Limit": 2,
        },
    ):
        answers.append(client.query(TableName=TABLE, **kwargs))
    for answer in answers:
        answer.pop("ResponseMetadata")
    return answers


def test_queries_answer_as_unpatched_moto(dynamodb):
    client, _, _ = dynamodb
    patched = _queries(client)
    moto_speedups.uninstall()
    try:
        original = _queries(client)
    finally:
        moto_speedups.install()
    assert patched == original
    assert [len(a["Items"]) for a in patched] == [5, 3, 0, 15, 2]


def test_cancelled_transaction_leaves_items_and_stream_as_they_were(dynamodb):
    client, session, endpoint = dynamodb
    before = client.scan(TableName=TABLE)["Items"]
    records = _stream_length(session, endpoint)
    with pytest.raises(ClientError) as raised:
        client.transact_write_items(
            TransactItems=[
                {  # applied by moto first, then undone
                    "Update": {
                        "TableName": TABLE,
                        "Key": {"pk": {"S": "p0"}, "sk": {"N": "0"}},
                        "UpdateExpression": "SET n = n + :one",
                        "ExpressionAttributeValues": {":one": {"N": "1"}},
                    }
                },
                {"Put": {"TableName": TABLE, "Item": {"pk": {"S": "new"}, "sk": {"N": "1"}}}},
                {
                    "Delete": {
                        "TableName": TABLE,
                        "Key": {"pk": {"S": "p1"}, "sk": {"N": "1"}},
                    }
                },
                {
                    "Put": {
                        "TableName": TABLE,
                        "Item": {"pk": {"S": "p5"}, "sk": {"N": "4"}},
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ]
        )
    reasons = [r["Code"] for r in raised.value.response["CancellationReasons"]]
    assert reasons == ["None", "None", "None", "ConditionalCheckFailed"]
    assert client.scan(TableName=TABLE)["Items"] == before
    assert _stream_length(session, endpoint) == records


def test_committed_transaction_writes_every_item(dynamodb):
    client, session, endpoint = dynamodb
    records = _stream_length(session, endpoint)
    client.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": TABLE, "Item": {"pk": {"S": "new"}, "sk": {"N": "1"}}}},
            {"Delete": {"TableName": TABLE, "Key": {"pk": {"S": "p1"}, "sk": {"N": "1"}}}},
        ]
    )
    assert client.get_item(TableName=TABLE, Key={"pk": {"S": "new"}, "sk": {"N": "1"}})["Item"]
    assert "Item" not in client.get_item(TableName=TABLE, Key={"pk": {"S": "p1"}, "sk": {"N": "1"}})
    assert _stream_length(session, endpoint) == records + 2


def test_event_input_templates_render_the_same_with_parsed_paths_cached():
    from moto.events.utils import EventTemplateParser

    event = {
        "id": "e-1",
        "detail-type": "OrderPlaced",
        "source": "order-pipeline",
        "account": "123456789012",
        "time": "2026-01-01T00:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {"order_id": "o-1", "lines": [{"sku": "A", "quantity": 2}]},
        "ingestion-time": 0,
    }
    paths = {"order": "$.detail.order_id", "qty": "$.detail.lines[0].quantity"}
    template = '{"o": "<order>", "q": <qty>, "whole": <aws.events.event.json>}'
    moto_speedups.uninstall()
    plain = EventTemplateParser.parse(template, paths, event)
    moto_speedups.install()
    try:
        first = EventTemplateParser.parse(template, paths, event)
        again = EventTemplateParser.parse(template, paths, {**event, "id": "e-2"})
    finally:
        moto_speedups.uninstall()
    assert first == plain and again["whole"]["id"] == "e-2" and first["q"] == 2
