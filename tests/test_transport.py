"""The local cloud answers the same in process (mock_aws) and over HTTP (moto's server)."""

from __future__ import annotations

import os
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.core.models import botocore_stubber

from pipeline.local.endpoint import (
    DEFAULT_TRANSPORT,
    Endpoint,
    InProcessEndpoint,
    LocalEndpoint,
    local_endpoint,
)

TRANSPORTS = ("inprocess", "http")
ONCE = Config(retries={"total_max_attempts": 1})  # no retry
TABLE = "orders"
MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:m"


def _session() -> boto3.Session:
    return boto3.Session(region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")


# Over HTTP a server starts: the system tier (tests/conftest.py).
@pytest.fixture(params=["inprocess", pytest.param("http", marks=pytest.mark.system)])
def endpoint(request: pytest.FixtureRequest) -> Any:
    with local_endpoint(request.param) as endpoint:
        yield endpoint


def _table(dynamodb: Any) -> None:
    dynamodb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"},
    )


def _stream(endpoint: Endpoint, session: boto3.Session) -> list[tuple[str, Any]]:
    """(event name, keys) of every record of the table's stream."""
    streams = endpoint.client(session, "dynamodbstreams", config=ONCE)
    arn = streams.list_streams(TableName=TABLE)["Streams"][0]["StreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]
    iterator = streams.get_shard_iterator(
        StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    records = streams.get_records(ShardIterator=iterator)["Records"]
    return [(r["eventName"], r["dynamodb"]["Keys"]) for r in records]


def _scenario(endpoint: Endpoint) -> list[Any]:
    """Put, get, a committed and a cancelled transaction, a scan, the stream: every answer,
    less metadata."""
    session = _session()
    dynamodb = endpoint.client(session, "dynamodb", config=ONCE)
    _table(dynamodb)
    answers: list[Any] = [
        dynamodb.put_item(TableName=TABLE, Item={"pk": {"S": "a"}, "n": {"N": "1"}}),
        dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": "a"}}),
        dynamodb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": TABLE, "Item": {"pk": {"S": "b"}}}},
                {
                    "Update": {
                        "TableName": TABLE,
                        "Key": {"pk": {"S": "a"}},
                        "UpdateExpression": "SET n = n + :one",
                        "ExpressionAttributeValues": {":one": {"N": "1"}},
                    }
                },
            ]
        ),
    ]
    with pytest.raises(ClientError) as cancelled:
        dynamodb.transact_write_items(
            TransactItems=[
                {"Delete": {"TableName": TABLE, "Key": {"pk": {"S": "b"}}}},
                {
                    "Put": {
                        "TableName": TABLE,
                        "Item": {"pk": {"S": "a"}},
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ]
        )
    error = cancelled.value.response
    answers.append((error["Error"]["Code"], error["CancellationReasons"]))
    answers.append(sorted(dynamodb.scan(TableName=TABLE)["Items"], key=repr))
    answers.append(_stream(endpoint, session))
    for answer in answers:
        if isinstance(answer, dict):
            answer.pop("ResponseMetadata")
    return answers


def test_the_same_scenario_answers_the_same_over_both_transports():
    results = []
    for transport in TRANSPORTS:
        with local_endpoint(transport) as endpoint:
            assert endpoint.transport == transport
            results.append(_scenario(endpoint))
    inprocess, http = results
    assert inprocess == http
    assert inprocess[4] == [{"n": {"N": "2"}, "pk": {"S": "a"}}, {"pk": {"S": "b"}}]
    assert [name for name, _ in inprocess[5]] == ["INSERT", "INSERT", "MODIFY"]
    assert inprocess[3] == (
        "TransactionCanceledException",
        [
            {"Code": "None"},
            {"Code": "ConditionalCheckFailed", "Message": "The conditional request failed"},
        ],
    )


def test_a_throttled_call_is_a_provisioned_throughput_error(endpoint):
    dynamodb = endpoint.client(_session(), "dynamodb", config=ONCE)
    _table(dynamodb)
    endpoint.throttle_dynamodb(1.0)
    with pytest.raises(ClientError) as raised:
        dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": "a"}})
    assert raised.value.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    dynamodb.describe_table(TableName=TABLE)  # control plane untouched
    assert endpoint.throttled == 1


def test_a_seeded_throttle_hits_the_same_calls_over_both_transports():
    patterns = []
    for transport in TRANSPORTS:
        with local_endpoint(transport) as endpoint:
            dynamodb = endpoint.client(_session(), "dynamodb", config=ONCE)
            _table(dynamodb)
            endpoint.throttle_dynamodb(0.5, seed=7)
            pattern = []
            for n in range(20):
                try:
                    dynamodb.put_item(TableName=TABLE, Item={"pk": {"S": str(n)}})
                    pattern.append(False)
                except ClientError:
                    pattern.append(True)
            patterns.append(pattern)
            assert endpoint.throttled == sum(pattern)
    assert patterns[0] == patterns[1] and 0 < sum(patterns[0]) < 20


def test_start_execution_is_handed_to_the_runtime(endpoint):
    started: list[dict[str, Any]] = []

    def start(request: dict[str, Any]) -> dict[str, Any]:
        if request["stateMachineArn"] != MACHINE:
            raise LookupError(f"State Machine Does Not Exist: '{request['stateMachineArn']}'")
        if started and request["name"] == started[-1]["name"]:
            raise ValueError("Execution Already Exists")
        started.append(request)
        return {"executionArn": f"{MACHINE}:{request['name']}", "startDate": 0}

    endpoint.take_start_execution(start)
    sfn = endpoint.client(_session(), "stepfunctions", config=ONCE)
    answer = sfn.start_execution(stateMachineArn=MACHINE, name="e1", input='{"a": 1}')
    assert answer["executionArn"] == f"{MACHINE}:e1"
    assert started == [{"stateMachineArn": MACHINE, "name": "e1", "input": '{"a": 1}'}]
    for arn, code in (
        (MACHINE + "x", "StateMachineDoesNotExist"),
        (MACHINE, "ExecutionAlreadyExists"),
    ):
        with pytest.raises(ClientError) as raised:
            sfn.start_execution(stateMachineArn=arn, name="e1")
        assert raised.value.response["Error"]["Code"] == code


def test_stats_count_the_calls_moto_served(endpoint):
    dynamodb = endpoint.client(_session(), "dynamodb", config=ONCE)
    _table(dynamodb)
    for n in range(3):
        dynamodb.put_item(TableName=TABLE, Item={"pk": {"S": str(n)}})
    endpoint.throttle_dynamodb(1.0)
    with pytest.raises(ClientError):
        dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": "0"}})  # answered by the gate
    requests, seconds = endpoint.stats
    assert requests == 4 and seconds > 0
    assert endpoint.operations["DynamoDB_20120810.PutItem"][0] == 3
    assert "DynamoDB_20120810.GetItem" not in endpoint.operations


def test_in_process_reaches_clients_made_anywhere_and_leaves_nothing_behind(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://elsewhere.invalid")
    made_before = _session()  # a session from before the endpoint started
    with InProcessEndpoint() as endpoint:
        assert endpoint.url is None and endpoint.environment == {}
        assert "AWS_ENDPOINT_URL" not in os.environ
        _table(made_before.client("dynamodb"))
        endpoint.throttle_dynamodb(1.0)
        endpoint.take_start_execution(lambda request: {"executionArn": "a", "startDate": 0})
        # Clients as a Lambda handler makes them, from boto3's default session.
        handler_dynamodb = boto3.client("dynamodb", region_name="us-east-1", config=ONCE)
        with pytest.raises(ClientError, match="ProvisionedThroughputExceeded"):
            handler_dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": "a"}})
        handler_sfn = boto3.client("stepfunctions", region_name="us-east-1")
        assert handler_sfn.start_execution(stateMachineArn=MACHINE)["executionArn"] == "a"
        with pytest.raises(RuntimeError, match="not an AWS endpoint"):
            made_before.client("sqs", endpoint_url="http://127.0.0.1:9").list_queues()
        assert endpoint.throttled == 1
    assert os.environ["AWS_ENDPOINT_URL"] == "http://elsewhere.invalid"
    assert "process_request" not in vars(botocore_stubber)
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    with mock_aws():  # a later mock: a fresh account, neither throttled nor handed off
        dynamodb = _session().client("dynamodb", config=ONCE)
        assert dynamodb.list_tables()["TableNames"] == []
        _table(dynamodb)
        dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": "a"}})
        with pytest.raises(ClientError) as raised:
            _session().client("stepfunctions").start_execution(stateMachineArn=MACHINE)
        assert raised.value.response["Error"]["Code"] == "StateMachineDoesNotExist"


def test_each_endpoint_is_a_new_empty_cloud():
    for transport in (*TRANSPORTS, *TRANSPORTS):
        with local_endpoint(transport) as endpoint:
            dynamodb = endpoint.client(_session(), "dynamodb")
            assert dynamodb.list_tables()["TableNames"] == []
            _table(dynamodb)


def test_one_switch():
    assert DEFAULT_TRANSPORT == "inprocess"
    assert isinstance(local_endpoint(), InProcessEndpoint)
    assert isinstance(local_endpoint("http"), LocalEndpoint)
    with pytest.raises(ValueError, match="transport"):
        local_endpoint("carrier-pigeon")  # type: ignore[arg-type]
    with InProcessEndpoint(), pytest.raises(RuntimeError, match="already running"):
        InProcessEndpoint().start()


def test_a_suspended_in_process_cloud_keeps_its_data_while_another_mock_runs_empty():
    with InProcessEndpoint() as endpoint:
        dynamodb = endpoint.client(_session(), "dynamodb")
        _table(dynamodb)
        dynamodb.put_item(TableName=TABLE, Item={"pk": {"S": "kept"}})
        endpoint.suspend()
        endpoint.resume()  # nothing ran in between: all there
        assert dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": "kept"}})["Item"]
        endpoint.suspend()
        with InProcessEndpoint() as other:  # another cloud starts empty...
            assert other.client(_session(), "dynamodb").list_tables()["TableNames"] == []
        endpoint.resume()  # ... and resetting moto, took the suspended one's data
        assert dynamodb.list_tables()["TableNames"] == []


@pytest.mark.system  # deploys the template
def test_a_resumed_local_cloud_says_whether_its_deployment_survived():
    from pipeline.local.cloud import LocalCloud

    with LocalCloud() as cloud:
        cloud.suspend()
        assert cloud.resume()
        cloud.suspend()
        with mock_aws():  # a unit test's account, empty, in between
            assert (
                boto3.client("dynamodb", region_name="us-east-1").list_tables()["TableNames"] == []
            )
        assert not cloud.resume()
