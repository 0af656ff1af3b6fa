"""moto with the local endpoint's patches answers exactly as moto without them, over both
transports (the patches are of moto's backends, which serve both)."""

from __future__ import annotations

import functools
import pickle
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from pipeline.domain import bus
from pipeline.local import moto_speedups
from pipeline.local.endpoint import local_endpoint

TABLE = "speedups"


# Over HTTP a server starts: the system tier (tests/conftest.py).
@pytest.fixture(params=["inprocess", pytest.param("http", marks=pytest.mark.system)])
def dynamodb(request):
    with local_endpoint(request.param) as endpoint:
        session = boto3.Session(
            region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
        )
        client = endpoint.client(session, "dynamodb")
        _create_table(client, TABLE)
        yield client, session, endpoint


def _create_table(client, name: str) -> None:
    """A table with a range key, an index and a stream, and 30 items."""
    client.create_table(
        TableName=name,
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
                TableName=name,
                Item={
                    "pk": {"S": f"p{p}"},
                    "sk": {"N": str(s)},
                    "colour": {"S": ("red", "blue")[(p + s) % 2]},
                    "n": {"N": "0"},
                },
            )


def _trim_horizon(streams, table: str) -> str:
    """A shard iterator at the start of the table's stream (its one shard)."""
    arn = streams.list_streams(TableName=table)["Streams"][0]["StreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    return streams.get_shard_iterator(
        StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]


def _stream(session, endpoint, table: str) -> dict:
    """GetRecords of the table's stream from its start."""
    streams = endpoint.client(session, "dynamodbstreams")
    return streams.get_records(ShardIterator=_trim_horizon(streams, table))


def _stream_length(session, endpoint) -> int:
    return len(_stream(session, endpoint, TABLE)["Records"])


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
        "source": bus.SOURCE,
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


# --------------------------------------------------------------- CloudFormation template bodies
def _moto_reads(text: str):
    """A body as moto's CloudFormation reads it unpatched: PyYAML, json.loads if that fails."""
    import json

    import yaml
    from moto.cloudformation.utils import yaml_tag_constructor
    from yaml.parser import ParserError
    from yaml.scanner import ScannerError

    yaml.add_multi_constructor("", yaml_tag_constructor)
    try:
        try:
            return ("read", _typed(yaml.load(text, Loader=yaml.Loader)))
        except (ParserError, ScannerError):
            return ("read", _typed(json.loads(text)))
    except Exception as error:  # moto fails the request
        return ("failed", type(error).__name__)


def _patched_reads(text: str):
    """A body as moto's CloudFormation reads it with the speedups installed."""
    from moto.cloudformation.models import Stack

    try:
        return ("read", _typed(Stack.parse_template(text)))
    except Exception as error:
        return ("failed", type(error).__name__)


def _typed(value):
    """``value`` with every scalar's type, so that 1, 1.0 and True differ."""
    if isinstance(value, dict):
        return {"dict": [(_typed(k), _typed(v)) for k, v in value.items()]}
    if isinstance(value, list):
        return {"list": [_typed(v) for v in value]}
    return (type(value).__name__, value)


@pytest.fixture
def speedups():
    moto_speedups.install()
    try:
        yield
    finally:
        moto_speedups.uninstall()


def _translated_body() -> dict:
    from pipeline.deploy.sam import translate
    from pipeline.template import Template

    return translate(Template.load(), "s3://bucket/handlers.zip", "us-east-1")


def test_the_deployed_template_reads_as_moto_reads_it_without_yaml(speedups, monkeypatch):
    import json

    import yaml

    body = _translated_body()
    texts = [
        json.dumps(body, separators=(",", ":")),  # as the flow uploads it
        json.dumps(body, default=str),  # as a change set's TemplateBody
        json.dumps(body, indent=2, ensure_ascii=False),
    ]
    expected = [_moto_reads(text) for text in texts]
    monkeypatch.setattr(yaml, "load", lambda *a, **k: pytest.fail("parsed with PyYAML"))
    assert [_patched_reads(text) for text in texts] == expected
    assert expected[0] == ("read", _typed(body))


@pytest.mark.parametrize(
    "text",
    [
        '{"a": [1e5, 1.5e10, 1.5e+10, 1E+5, 1.25, -0.0, -0, 12345678901234567890]}',  # YAML 1.1
        '{"a": NaN, "b": Infinity, "c": -Infinity}',  # strings to YAML
        '{"s": "\\ud83d\\ude00", "t": "\\/\\"\\\\\\b\\f\\n\\r\\t\\u00e9"}',  # escapes
        '{"s": "\x85 \u2028 \u2029 \u00e9 \U0001f600"}',  # YAML line breaks, unescaped
        '{"s": "\x7f"}',  # not printable: PyYAML refuses it
        '\ufeff{"a": 1}',
        '{"a":\t1}',
        '{"a"\n: 1}',  # PyYAML fails, json.loads reads it
        '{"%s": 1}' % ("k" * 1100),
        '{"a": 1, "a": 2}',
        '["x", {"y": [true, false, null, {}]}]',
        '{"a": "b"} trailing',
        "AWSTemplateFormatVersion: '2010-09-09'\nResources:\n  Q: {Type: AWS::SQS::Queue}\n"
        "Outputs:\n  U: {Value: !Ref Q}\n  A: {Value: !GetAtt Q.Arn}\n",  # YAML: moto's path
        "",
    ],
)
def test_a_body_reads_as_moto_reads_it(speedups, text):
    assert _patched_reads(text) == _moto_reads(text)


def test_every_cloudformation_parse_of_a_body_reads_json_as_moto_does(speedups):
    from moto.cloudformation import models, responses

    text = '{"Description": "d", "Parameters": {"P": {"Type": "Number", "Default": 1.5e10}}, ' + (
        '"Resources": {"Q": {"Type": "AWS::SQS::Queue", "Metadata": {"n": 1e+5}}}}'
    )
    # The one name every yaml.load of theirs (change sets, stacks, summaries, validation) uses:
    assert isinstance(models.yaml, moto_speedups._JsonFirstYaml) and responses.yaml is models.yaml
    patched = responses.get_template_summary_response_from_template(text)
    moto_speedups.uninstall()
    try:
        assert not isinstance(models.yaml, moto_speedups._JsonFirstYaml)
        plain = responses.get_template_summary_response_from_template(text)
    finally:
        moto_speedups.install()
    assert _typed(patched) == _typed(plain)
    assert patched["Parameters"][0]["DefaultValue"] == "1.5e10"  # PyYAML's reading, kept


def test_json_bodies_read_as_moto_reads_them():
    """Any JSON text json.dumps writes (and mutations of it): moto's answer, with the patch."""
    import json

    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    text = st.text(max_size=8) | st.sampled_from(["<<", "=", "~", "yes", "1e5", "\x85", "\t"])
    values = st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | text,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
        max_leaves=12,
    )
    layouts = st.sampled_from([(None, None), (2, None), (None, (",", ":")), (0, (" ,", " : "))])

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
    @given(values, st.booleans(), layouts)
    def check(value, ascii_only, layout):
        indent, separators = layout
        dumped = json.dumps(value, ensure_ascii=ascii_only, indent=indent, separators=separators)
        assert _patched_reads(dumped) == _moto_reads(dumped)

    moto_speedups.install()
    try:
        check()
    finally:
        moto_speedups.uninstall()


# ------------------------------------- the serialiser, expression parsing and dispatch, memoised
TWIN = f"{TABLE}-twin"  # a second table, written by moto without the patches


@pytest.fixture
def shadowed():
    """Each response moto serialises meanwhile is serialised again by moto's own picking of
    members: yields (operations serialised, those whose two serialisations differ)."""
    from moto.core import serialize

    moto_speedups.install()
    serializer = serialize.ResponseSerializer
    names = ("get_value", "_serialize_type_structure")
    theirs = {name: moto_speedups._unpatched(serializer, name) for name in names}
    assert serializer.get_value is moto_speedups._get_value
    serialize_once = serializer.serialize
    seen: list[str] = []
    differ: list[tuple[str, object, object]] = []

    def serialize_twice(self, result):
        answer = serialize_once(self, result)  # patched, unless the test uninstalled them
        current = {name: vars(serializer)[name] for name in names}
        for name in names:
            setattr(serializer, name, theirs[name])
        try:
            self.path = [self.operation_name]
            again = serialize_once(self, result)
        finally:
            for name in names:
                setattr(serializer, name, current[name])
        seen.append(self.operation_name)
        if answer != again:
            differ.append((self.operation_name, answer, again))
        return answer

    serializer.serialize = serialize_twice
    try:
        yield seen, differ
    finally:
        serializer.serialize = serialize_once


def _plain(answer) -> dict:
    """A response (or a ClientError's) as data, without its request metadata, the twin's
    name read as the table's."""
    import json

    text = json.dumps(answer, default=str, sort_keys=True).replace(TWIN, TABLE)
    data = json.loads(text)
    data.pop("ResponseMetadata", None)
    if "error" in data:
        data["error"].pop("ResponseMetadata", None)
    return data


def _answer(call) -> dict:
    try:
        return _plain(call())
    except ClientError as error:
        return _plain({"error": error.response})


def _unpatched(call):
    moto_speedups.uninstall()
    try:
        return call()
    finally:
        moto_speedups.install()


def _key(pk: str, sk: int) -> dict:
    return {"pk": {"S": pk}, "sk": {"N": str(sk)}}


def _writes(table: str) -> list[tuple[str, dict]]:
    """Writes with conditions, return values and the update expression's every kind of
    action, some failing: the same expressions on several keys (the second and later parse
    nothing when patched)."""
    calls: list[tuple[str, dict]] = []
    for pk in ("p0", "p1", "p9"):  # p9 is no item: updates create it, conditions fail
        key = _key(pk, 1)
        calls += [
            (
                "update_item",
                {
                    "Key": key,
                    "UpdateExpression": "SET n = n + :one, #c = :c",
                    "ConditionExpression": "attribute_exists(pk) AND n < :cap",
                    "ExpressionAttributeNames": {"#c": "colour"},
                    "ExpressionAttributeValues": {
                        ":one": {"N": "1"},
                        ":c": {"S": f"green-{pk}"},
                        ":cap": {"N": "5"},
                    },
                    "ReturnValues": "ALL_NEW",
                },
            ),
            (
                "update_item",
                {
                    "Key": key,
                    "UpdateExpression": "SET n = n + :one",
                    "ConditionExpression": "n >= :cap",
                    "ExpressionAttributeValues": {":one": {"N": "1"}, ":cap": {"N": "5"}},
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                },
            ),
            (
                "update_item",
                {
                    "Key": key,
                    "UpdateExpression": "SET tags = if_not_exists(tags, :tags), "
                    "l = list_append(if_not_exists(l, :empty), :l) ADD counter :one REMOVE n",
                    "ConditionExpression": "NOT contains(tags, :t) AND (attribute_not_exists(pk) "
                    "OR #c IN (:a, :b) OR size(pk) BETWEEN :lo AND :hi) AND begins_with(pk, :p)",
                    "ExpressionAttributeNames": {"#c": "colour"},
                    "ExpressionAttributeValues": {
                        ":tags": {"SS": ["x", "y"]},
                        ":empty": {"L": []},
                        ":l": {"L": [{"M": {"k": {"BOOL": True}, "z": {"NULL": True}}}]},
                        ":one": {"N": "1"},
                        ":t": {"S": "zz"},
                        ":a": {"S": "red"},
                        ":b": {"S": f"green-{pk}"},
                        ":lo": {"N": "1"},
                        ":hi": {"N": "3"},
                        ":p": {"S": "p"},
                    },
                    "ReturnValues": "UPDATED_OLD",
                },
            ),
            (
                "update_item",
                {
                    "Key": key,
                    "UpdateExpression": "SET m = :m",
                    "ExpressionAttributeValues": {":m": {"M": {"x": {"N": "1"}}}},
                    "ReturnValues": "UPDATED_NEW",
                },
            ),
            ("update_item", {"Key": key, "UpdateExpression": "SET = :v"}),  # not an expression
            (
                "update_item",
                {  # a value the update names but is not given
                    "Key": key,
                    "UpdateExpression": "SET n = :nope",
                    "ConditionExpression": "n = :v",
                    "ExpressionAttributeValues": {":v": {"N": "0"}},
                },
            ),
            (
                "put_item",
                {
                    "Item": {**_key(pk, 7), "colour": {"S": "red"}},
                    "ConditionExpression": "attribute_not_exists(pk)",
                },
            ),
            (
                "delete_item",
                {
                    "Key": _key(pk, 2),
                    "ConditionExpression": "#c = :c",
                    "ExpressionAttributeNames": {"#c": "colour"},
                    "ExpressionAttributeValues": {":c": {"S": "blue"}},
                    "ReturnValues": "ALL_OLD",
                },
            ),
            (
                "transact_write_items",
                {
                    "TransactItems": [
                        {
                            "Update": {
                                "Key": _key(pk, 3),
                                "UpdateExpression": "SET n = n + :one",
                                "ConditionExpression": "attribute_exists(pk)",
                                "ExpressionAttributeValues": {":one": {"N": "1"}},
                            }
                        },
                        {"Put": {"Item": _key(pk, 8)}},
                        {
                            "ConditionCheck": {
                                "Key": _key("p5", 0),
                                "ConditionExpression": "n = :zero",
                                "ExpressionAttributeValues": {":zero": {"N": "0"}},
                            }
                        },
                    ]
                },
            ),
            (
                "transact_write_items",
                {
                    "TransactItems": [
                        {
                            "Update": {
                                "Key": _key(pk, 4),
                                "UpdateExpression": "SET n = n + :one",
                                "ExpressionAttributeValues": {":one": {"N": "1"}},
                            }
                        },
                        {
                            "Put": {
                                "Item": _key(pk, 8),
                                "ConditionExpression": "attribute_not_exists(pk)",
                            }
                        },
                    ]
                },
            ),
        ]
    for _, kwargs in calls:
        for entry in kwargs.get("TransactItems", [kwargs]):
            for op in entry.values() if "TransactItems" in kwargs else [entry]:
                op["TableName"] = table
    return calls


def _records(session, endpoint, table: str) -> list:
    """The table's stream records, without what differs between two tables' streams."""
    records = _plain(_stream(session, endpoint, table))["Records"]
    for record in records:
        for varying in ("eventID", "eventSourceARN"):
            record.pop(varying, None)
        for varying in ("ApproximateCreationDateTime", "SequenceNumber", "SizeBytes"):
            record["dynamodb"].pop(varying, None)
    return records


def test_writes_answer_as_unpatched_moto(dynamodb, shadowed):
    client, session, endpoint = dynamodb
    _create_table(client, TWIN)
    moto_speedups._forget()
    for (operation, patched_call), (_, plain_call) in zip(
        _writes(TABLE), _writes(TWIN), strict=True
    ):
        call = getattr(client, operation)
        patched = _answer(functools.partial(call, **patched_call))
        plain = _unpatched(functools.partial(_answer, functools.partial(call, **plain_call)))
        assert patched == plain, (operation, patched_call)
    assert _answer(lambda: client.scan(TableName=TABLE)) == _answer(
        lambda: client.scan(TableName=TWIN)
    )
    assert _records(session, endpoint, TABLE) == _records(session, endpoint, TWIN)
    seen, differ = shadowed
    assert not differ and {"UpdateItem", "TransactWriteItems", "GetRecords"} <= set(seen)
    # moto read every memoised tree and changed none
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser

    parse = moto_speedups._unpatched(UpdateExpressionParser, "make").__func__
    assert len(moto_speedups._update_trees) == 5
    for text, tree in moto_speedups._update_trees.items():
        assert pickle.dumps(tree) == pickle.dumps(parse(UpdateExpressionParser, text)), text


def _reads(client, session, endpoint) -> list:
    streams = endpoint.client(session, "dynamodbstreams")
    iterator = _trim_horizon(streams, TABLE)
    records = _answer(lambda: streams.get_records(ShardIterator=iterator))
    records.pop("NextShardIterator")  # a new one each time
    return [
        *_queries(client),
        records,
        _answer(lambda: client.describe_table(TableName=TABLE)),
        _answer(
            lambda: client.scan(
                TableName=TABLE,
                FilterExpression="colour = :c AND sk BETWEEN :lo AND :hi",
                ExpressionAttributeValues={
                    ":c": {"S": "red"},
                    ":lo": {"N": "1"},
                    ":hi": {"N": "3"},
                },
            )
        ),
        _answer(lambda: client.list_tables()),
    ]


def test_reads_answer_alike_cold_warm_and_unpatched(dynamodb, shadowed):
    """The determinism check: the same reads, with every memo empty, then full, then none."""
    client, session, endpoint = dynamodb
    moto_speedups._forget()
    cold = _reads(client, session, endpoint)
    warm = _reads(client, session, endpoint)
    plain = _unpatched(lambda: _reads(client, session, endpoint))
    assert cold == warm == plain
    assert len(cold[5]["Records"]) == 30 and len(cold[7]["Items"]) == 9
    seen, differ = shadowed
    assert not differ and {"Query", "GetRecords", "DescribeTable", "Scan"} <= set(seen)


def test_events_and_queues_answer_as_unpatched_moto(dynamodb, shadowed):
    import json

    _, session, endpoint = dynamodb
    sqs = endpoint.client(session, "sqs")
    events = endpoint.client(session, "events")

    def round_trip(name: str) -> list:
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        events.put_rule(Name=name, EventPattern=json.dumps({"source": [name]}))
        events.put_targets(Rule=name, Targets=[{"Id": "q", "Arn": arn["Attributes"]["QueueArn"]}])
        put = _answer(
            lambda: events.put_events(
                Entries=[
                    {
                        "Source": name,
                        "DetailType": "OrderPlaced",
                        "Detail": json.dumps({"order_id": f"o-{i}", "lines": [{"q": i}]}),
                    }
                    for i in range(3)
                ]
                + [{"Source": name, "DetailType": "Broken", "Detail": "not json"}]
            )
        )
        for entry in put["Entries"]:
            entry.pop("EventId", None)
        received = _answer(
            lambda: sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=10,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
                VisibilityTimeout=0,
            )
        )
        for message in received["Messages"]:
            for varying in ("MessageId", "ReceiptHandle", "MD5OfBody"):
                message.pop(varying)
            for varying in ("SentTimestamp", "ApproximateFirstReceiveTimestamp"):
                message["Attributes"].pop(varying)
            body = json.loads(message["Body"])
            body.pop("id"), body.pop("time")
            message["Body"] = body
        received["Messages"].sort(key=lambda message: message["Body"]["detail"]["order_id"])
        attributes = _answer(lambda: sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"]))
        for varying in ("CreatedTimestamp", "LastModifiedTimestamp"):
            attributes["Attributes"].pop(varying)
        return [put, received, attributes, _answer(lambda: sqs.list_queues())]

    patched = round_trip(TABLE)
    plain = _unpatched(lambda: round_trip(TWIN))
    plain[3]["QueueUrls"].remove(plain[3]["QueueUrls"][0])  # the queue the patched run made
    assert patched == plain
    assert len(patched[1]["Messages"]) == 3 and patched[0]["FailedEntryCount"] == 1
    seen, differ = shadowed
    assert not differ and {"ReceiveMessage", "GetQueueAttributes"} <= set(seen)


_CONDITIONS = [
    ("attribute_exists(pk) AND available >= :q", None, {":q": {"N": "2"}}),
    ("#s = :s", {"#s": "status"}, {":s": {"S": "PAID"}}),
    ("#s = :s", {"#s": "state"}, {":s": {"S": "PAID"}}),
    ("#s = :s", {"#s": "status"}, {":s": {"S": "PAID"}, ":unused": {"N": "1"}}),
    (
        "#s IN (:a, :b) OR size(tags) > :n",
        {"#s": "status"},
        {":a": {"S": "PAID"}, ":b": {"S": "NEW"}, ":n": {"N": "1"}},
    ),
    (
        "NOT contains(tags, :t) AND n BETWEEN :lo AND :hi",
        None,
        {":t": {"S": "x"}, ":lo": {"N": "1"}, ":hi": {"N": "3"}},
    ),
    ("begins_with(#p.#q[0], :x)", {"#p": "m", "#q": "l"}, {":x": {"S": "a"}}),
    ("a = :v AND b <> :v", None, {":v": {"S": "1"}}),
    ("a = :v AND b <> :v", None, {":v": {"N": "1"}}),
    ("a = :v", None, {":v": {"BOOL": True}}),
    ("a = :v", None, {":v": {"S": "True"}}),
    ("a = :v", None, {":v": {"NULL": True}}),
    ("a = :v", None, {":v": {"L": [{"S": "x"}, {"N": "2"}]}}),
    ("a = :v", None, {":v": {"M": {"x": {"N": "1"}, "y": {"S": "z"}}}}),
    ("a = :v", None, {":v": {"M": {"y": {"S": "z"}, "x": {"N": "1"}}}}),
    ("a = :v", None, {":v": {"SS": ["x", "y"]}}),
    ("a = :v", None, {":v": {"S": "x", "N": "1"}}),  # two types: moto takes the first
    ("a = :v", None, {":v": {"N": "1", "S": "x"}}),
    ("a = :v", None, {}),  # a missing value
    ("a = :v", None, None),
    ("#missing = :v", {}, {":v": {"S": "x"}}),
    ("a = = :v", None, {":v": {"S": "x"}}),  # not a condition
    ("((a = :v))", None, {":v": {"S": "x"}}),  # redundant parentheses
    ("", None, None),
    (None, None, None),
]


def _items() -> list:
    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    attributes: list[dict[str, Any]] = [
        {},
        {"status": {"S": "PAID"}, "available": {"N": "3"}, "a": {"S": "1"}, "b": {"S": "2"}},
        {"status": {"S": "NEW"}, "tags": {"SS": ["x", "y"]}, "n": {"N": "2"}, "a": {"N": "1"}},
        {"m": {"M": {"l": {"L": [{"S": "abc"}]}}}, "a": {"BOOL": True}, "state": {"S": "PAID"}},
        {"a": {"SS": ["y", "x"]}, "b": {"N": "1"}},
        {"a": {"M": {"x": {"N": "1"}, "y": {"S": "z"}}}},
        {"a": {"L": [{"S": "x"}, {"N": "2"}]}, "n": {"N": "5"}, "tags": {"SS": ["z"]}},
    ]
    items = [Item(DynamoType({"S": "k"}), None, attrs) for attrs in attributes]
    return [None, *items]


def _parsed(expression, names, values) -> tuple:
    """What moto's parser makes of a condition: the op, its verdict on items, what it found."""
    import copy

    from moto.dynamodb.comparisons import create_condition_expression_parser

    parser = create_condition_expression_parser(
        expression, copy.deepcopy(names), copy.deepcopy(values)
    )
    try:
        op = parser.parse()
    except Exception as error:
        return ("raises", type(error).__name__, str(error))
    verdicts: list[Any] = []
    for item in _items():
        try:
            verdicts.append(op.expr(item))
        except Exception as error:
            verdicts.append(("raises", type(error).__name__))
    return (_tree(op), verdicts, parser.expr_attr_names_found, parser.expr_attr_values_found)


def _tree(value):
    """An op (or any part of it) as plain data: its class and its attributes, recursively."""
    if isinstance(value, (list, tuple)):
        return [type(value).__name__, *map(_tree, value)]
    if isinstance(value, dict):
        return {key: _tree(item) for key, item in value.items()}
    if hasattr(value, "__dict__"):
        return [type(value).__name__, _tree(vars(value))]
    return (type(value).__name__, value)


def test_conditions_parse_as_moto_parses_them(speedups):
    moto_speedups._forget()
    expected = _unpatched(lambda: [_parsed(*case) for case in _CONDITIONS])
    cold = [_parsed(*case) for case in _CONDITIONS]
    warm = [_parsed(*case) for case in reversed(_CONDITIONS)][::-1]
    assert cold == expected and warm == expected
    assert sum(answer[0] == "raises" for answer in expected) == 5
    assert len(moto_speedups._conditions) == 17  # the unused value is no part of the key


def test_a_memoised_condition_keeps_its_own_values(speedups):
    from moto.dynamodb.comparisons import create_condition_expression_parser

    moto_speedups._forget()
    first = {":v": {"SS": ["x"]}}
    op = create_condition_expression_parser("a = :v", None, first).parse()
    first[":v"]["SS"].append("y")  # the request's values (or an item given them) change
    again = create_condition_expression_parser("a = :v", None, {":v": {"SS": ["x"]}}).parse()
    assert again is not op  # the first request's op is moto's own, on its values
    assert _tree(again.rhs) == [
        "AttributeValue",
        {"type": ("str", "SS"), "value": ["list", ("str", "x")]},
    ]
    assert (
        create_condition_expression_parser("a = :v", None, {":v": {"SS": ["x"]}}).parse() is again
    )


def test_dispatch_memos_answer_as_moto():
    from moto.core import utils
    from moto.dynamodb.responses import DynamoHandler
    from moto.events.responses import EventsHandler
    from moto.sqs.responses import SQSResponse

    for handler in (DynamoHandler, SQSResponse, EventsHandler):
        expected = utils.method_names_from_class(handler)
        assert moto_speedups._method_names_from_class(handler) == expected
        assert moto_speedups._method_names_from_class(handler) == expected

    class Grown(DynamoHandler):
        pass

    assert "brand_new" not in moto_speedups._method_names_from_class(Grown)
    Grown.brand_new = lambda self: None
    assert "brand_new" in moto_speedups._method_names_from_class(Grown)
    words = ["VisibilityTimeout", "KmsMasterKeyId", "DBInstanceIdentifier", "theNew", "ABC", ""]
    moto_speedups.install()
    camel = moto_speedups._unpatched_camelcase
    for word in [*words, *words]:
        assert moto_speedups._camelcase_to_underscores(word) == camel(word)
    assert utils.camelcase_to_underscores is moto_speedups._camelcase_to_underscores


def test_retention_is_checked_as_moto_checks_it(speedups, monkeypatch):
    """A message within its queue's retention period is received, one past it is not, as
    moto's own check decides; receiving no longer computes the queue's attributes."""
    from moto.sqs import models

    original = moto_speedups._unpatched(
        models.SQSBackend, "is_message_valid_based_on_retention_period"
    )
    with local_endpoint("inprocess") as endpoint:
        session = boto3.Session(
            region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
        )
        sqs = endpoint.client(session, "sqs")
        url = sqs.create_queue(QueueName="q", Attributes={"MessageRetentionPeriod": "60"})[
            "QueueUrl"
        ]
        sqs.send_message(QueueUrl=url, MessageBody="fresh")
        backend = models.sqs_backends["123456789012"]["us-east-1"]
        message = backend.get_queue("q")._messages[0]
        for now in (message.sent_timestamp / 1000 + 59, message.sent_timestamp / 1000 + 61):
            monkeypatch.setattr(models, "unix_time", lambda *_, now=now: now)
            assert moto_speedups._retained(backend, "q", message) == original(backend, "q", message)
        monkeypatch.undo()
        received = sqs.receive_message(QueueUrl=url)["Messages"]
        assert [m["Body"] for m in received] == ["fresh"]


def test_objects_serialise_as_moto_serialises_them(speedups):
    """Which attribute answers a member depends on the object's class (its name, its Meta
    aliases, dotted ones too) as well as the member: every kind, in turn, on warm memos."""
    from collections import OrderedDict

    from moto.core.serialize import JSONSerializer, XFormedAttributePicker
    from moto.core.utils import get_service_model

    class TableDescription:
        table_name, item_count, table_status = "described", 3, "ACTIVE"

    class Table:  # moto's ClassPrefixAlias: TableName is read as `name`
        name, item_count = "short", 4

    class Other:  # ... and not here
        name, item_count = "nope", 5

    class Labelled:
        class Meta:
            serialization_aliases = {"TableName": "label", "ItemCount": "stats.count"}

        label, stats = "meta", {"count": 9}

    tables = [
        TableDescription(),
        Table(),
        Other(),
        Labelled(),
        {"TableName": "plain", "ItemCount": 1, "table_status": "CREATING"},
        OrderedDict(TableName="ordered", item_count=2),
        {"Name": "not-the-name"},
    ]
    operation = get_service_model("dynamodb").operation_model("DescribeTable")

    def serialised() -> list:
        answers = []
        for table in [*tables, *reversed(tables)]:
            serializer = JSONSerializer(operation, value_picker=XFormedAttributePicker())
            answers.append(serializer.serialize({"Table": table})["body"])
        return answers

    moto_speedups._forget()
    patched = serialised()
    assert patched == serialised() == _unpatched(serialised)
    assert '"TableName": "short"' in patched[1] and '"TableName"' not in patched[2]
    assert '{"TableName": "meta", "ItemCount": 9}' in patched[3]


@pytest.mark.system
def test_a_demo_run_serialises_and_parses_as_moto(cloud, shadowed, monkeypatch):
    """The demo's own calls: each response, and each condition parsed, as moto's own."""
    from moto.dynamodb.comparisons import ConditionExpressionParser

    from pipeline.demo import run_demo

    parse = vars(ConditionExpressionParser)["parse"]
    assert parse is moto_speedups._parse_condition
    parsed, differ = [], []

    def parse_twice(parser):
        import copy

        twin = ConditionExpressionParser(
            parser.condition_expression,
            copy.deepcopy(parser.expression_attribute_names),
            copy.deepcopy(parser.expression_attribute_values),
        )
        theirs = moto_speedups._unpatched(ConditionExpressionParser, "parse")(twin)
        ours = parse(parser)
        parsed.append(parser.condition_expression)
        found = (parser.expr_attr_names_found, parser.expr_attr_values_found)
        if _tree(ours) != _tree(theirs) or found != (
            twin.expr_attr_names_found,
            twin.expr_attr_values_found,
        ):
            differ.append(parser.condition_expression)
        return ours

    monkeypatch.setattr(ConditionExpressionParser, "parse", parse_twice)
    moto_speedups._forget()
    report = run_demo(orders=4, cloud=cloud)
    assert report.orders == 4
    seen, serialised_differently = shadowed
    assert not serialised_differently and len(seen) > 100
    assert not differ and len(parsed) > 20 and len(set(parsed)) < len(parsed)


def test_a_memoised_tree_copies_as_deepcopy_copies_it(speedups):
    import copy

    from moto.dynamodb.parsing import validators
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser

    moto_speedups._forget()
    assert validators.deepcopy is moto_speedups._copy_tree
    for text in (
        "SET a = :v, #b.c[2] = if_not_exists(#b.c[2], :w) + :x",
        "SET l = list_append(:l, l) REMOVE a[1], b ADD c :one DELETE s :ss",
    ):
        tree = UpdateExpressionParser.make(text)
        assert id(tree) in moto_speedups._pickled_trees
        copied, expected = validators.deepcopy(tree), copy.deepcopy(tree)
        assert copied is not tree and _same_graph(copied, expected)
        assert _same_graph(tree, expected)
        copied.children.clear()  # the validator changes its copy, never the memoised tree
        assert _same_graph(UpdateExpressionParser.make(text), expected)


def _same_graph(one, other) -> bool:
    """Equal atoms, and objects and lists of the same classes shared and nested alike."""
    pairs: dict[int, int] = {}
    pending = [(one, other)]
    while pending:
        a, b = pending.pop()
        if type(a) is not type(b):
            return False
        if not isinstance(a, list) and not hasattr(a, "__dict__"):
            if a != b:
                return False
            continue
        if id(a) in pairs:
            if pairs[id(a)] != id(b):
                return False
            continue
        pairs[id(a)] = id(b)
        if isinstance(a, list):
            if len(a) != len(b):
                return False
            pending.extend(zip(a, b, strict=True))
        else:
            if vars(a).keys() != vars(b).keys():
                return False
            pending.extend((vars(a)[key], vars(b)[key]) for key in vars(a))
    return len(set(pairs.values())) == len(pairs)


_UPDATES = [
    "SET n = n + :one, #c = :c",
    "SET l = list_append(if_not_exists(l, :empty), :l) ADD tally :one REMOVE n",
    "SET m.x = :one, l[0] = :c REMOVE l[1]",
    "ADD s :ss DELETE t :ss",
    "SET n = :one - absent",  # a path the item does not have
    "SET n = :c + :one",  # a type mismatch
    "SET pk = :c",  # a key attribute
    "SET #c = if_not_exists(#c, :c), m = :m",
]


def _validated() -> list:
    """moto's validation of each update (the tree it executes, or its error) on two items."""
    import copy

    from moto.dynamodb.models.dynamo_type import DynamoType, Item
    from moto.dynamodb.models.table import Table
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser  # type: ignore[attr-defined]
    from moto.dynamodb.parsing.validators import UpdateExpressionValidator

    table = Table(  # type: ignore[abstract]
        "t",
        account_id="123456789012",
        region="us-east-1",
        schema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        attr=[{"AttributeName": "pk", "AttributeType": "S"}],
    )
    values: dict[str, Any] = {
        ":one": {"N": "1"},
        ":c": {"S": "red"},
        ":empty": {"L": []},
        ":l": {"L": [{"S": "x"}]},
        ":ss": {"SS": ["a"]},
        ":m": {"M": {"x": {"N": "2"}}},
    }
    items: list[dict[str, Any]] = [
        {"pk": {"S": "k"}},
        {
            "pk": {"S": "k"},
            "n": {"N": "3"},
            "l": {"L": [{"S": "a"}, {"S": "b"}]},
            "m": {"M": {"x": {"N": "1"}}},
            "s": {"SS": ["b"]},
            "t": {"SS": ["a", "c"]},
        },
    ]
    answers = []
    for text in _UPDATES:
        for attrs in items:
            item = Item(DynamoType({"S": "k"}), None, copy.deepcopy(attrs))
            try:
                tree = UpdateExpressionValidator(
                    UpdateExpressionParser.make(text),
                    expression_attribute_names={"#c": "colour"},
                    expression_attribute_values=copy.deepcopy(values),
                    item=item,
                    table=table,
                ).validate()
            except Exception as error:
                answers.append(("raises", type(error).__name__, str(error)))
            else:
                answers.append(tree)
    return answers


def test_update_validation_as_moto_validates(speedups):
    moto_speedups._forget()
    expected = _unpatched(_validated)
    for answers in (_validated(), _validated()):  # the trees parsed, then memoised
        for answer, moto_answer in zip(answers, expected, strict=True):
            if isinstance(moto_answer, tuple):
                assert answer == moto_answer
            else:
                assert _same_graph(answer, moto_answer)
    assert sum(isinstance(answer, tuple) for answer in expected) == 8
