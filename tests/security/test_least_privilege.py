"""Least privilege, measured: each function's role grants what its handler calls, and no more.

The calls come from seeded local runs (``conftest.pipeline_runs``): every AWS API call a
handler made, turned into the IAM actions that authorise it, on the resource it named. The
grants come from the template as SAM translates it (``pipeline.deploy.sam.translate``): the
role SAM makes for each function and its inline policies. Both sides are written as synthetic
ARNs (logical ids in place of physical names), so they compare directly:

* every action a function needed is granted on that resource (the policy is sufficient);
* every action granted is needed, or listed in ``RARE_PATHS`` with the reason the runs do not
  reach it (so a grant nobody uses fails);
* a policy names only resources its function uses, never ``*`` (except actions AWS defines
  without resource-level permissions), never a wildcard action;
* each function has an explicit role, so SAM attaches no AWS managed policy (those grant logs,
  X-Ray and stream reading on ``*``); what the Lambda service itself needs from the role is
  derived from the template (``LAMBDA_SERVICE``) and held to the same rules.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from fnmatch import fnmatchcase
from typing import Any

import pytest
from test_infra_rules import NO_RESOURCE_ARN

from pipeline.deploy.sam import translate
from pipeline.template import Template
from security.recording import ACCOUNT, REGION, Call, arn_of

pytestmark = pytest.mark.system  # reads the seeded demo runs (conftest.pipeline_runs)

FUNCTION = "AWS::Serverless::Function"

# Grants the runs do not exercise, each on a path the handler has (function, action,
# resource logical id) -> why it is kept. Anything granted, unused and not here fails.
RARE_PATHS: dict[tuple[str, str, str], str] = {
    ("PaymentFunction", "sns:Publish", "AlertsTopic"): (
        "compensation.record_failure alerts operations when a refund fails for good "
        "(after the payment machine's retries); no scenario makes a refund fail"
    ),
    ("InventoryFunction", "sns:Publish", "AlertsTopic"): (
        "compensation.record_failure alerts operations when releasing stock fails for good; "
        "no scenario makes a release fail"
    ),
    ("DlqRemediationFunction", "sns:Publish", "AlertsTopic"): (
        "remediate() alerts once per pass about parked messages; the runs' dead letters are "
        "all transient and redriven, none parked"
    ),
    **{
        ("DlqRemediationFunction", "sqs:SendMessage", queue): (
            "_remediate requeues a message to its own DLQ (with a delay) when StartExecution "
            "is throttled during a redrive; the local StartExecution is never throttled there"
        )
        for queue in ("OrderSagaTargetDLQ", "StreamProcessorDLQ")  # the default's DLQs
    },
    ("DlqRemediationFunction", "sqs:DeleteMessage", "StreamProcessorDLQ"): (
        "a stream batch the mapping gave up on lands in StreamProcessorDLQ; remediation parks "
        "it, then deletes it there; no scenario poisons a stream batch (the queue is polled, "
        "ReceiveMessage is used)"
    ),
    ("NotificationFunction", "dynamodb:GetItem", "IdempotencyTable"): (
        "Powertools idempotency reads the record back when its conditional put finds one "
        "(a notification sent earlier whose CustomerNotified append failed); the runs' "
        "redeliveries stop earlier, at the order's own notified marker"
    ),
    ("NotificationFunction", "dynamodb:DeleteItem", "IdempotencyTable"): (
        "Powertools idempotency deletes its in-progress record when the SNS publish raises, "
        "so a retry can send; no scenario fails the publish"
    ),
}

# Granted for the Lambda service, not the handler: calls Lambda itself makes with the
# function's role, which no handler run records. Each is derived (``service_needs``) from the
# template setting that makes Lambda need it, so a grant without that setting is unused and
# fails like any other. These replace the AWS managed policies SAM attached to generated roles
# (AWSLambdaBasicExecutionRole, AWSXrayWriteOnlyAccess, AWSLambdaDynamoDBExecutionRole), which
# granted the same actions on every resource.
LAMBDA_SERVICE: dict[str, str] = {
    "logs:CreateLogStream": (
        "LoggingConfig.LogGroup: the runtime opens a log stream per execution environment in "
        "the function's own (pre-created) log group"
    ),
    "logs:PutLogEvents": (
        "LoggingConfig.LogGroup: the runtime ships the function's output to that log group"
    ),
    "xray:PutTraceSegments": (
        "Tracing: Active: Lambda sends the function's trace segments (no resource-level "
        "permissions, so on *)"
    ),
    "xray:PutTelemetryRecords": (
        "Tracing: Active: Lambda reports X-Ray telemetry (no resource-level permissions, so on *)"
    ),
    "dynamodb:DescribeStream": (
        "a DynamoDB event: the event source mapping reads the stream's shards"
    ),
    "dynamodb:GetShardIterator": (
        "a DynamoDB event: the event source mapping positions itself in each shard"
    ),
    "dynamodb:GetRecords": "a DynamoDB event: the event source mapping reads the batches",
    "dynamodb:ListStreams": (
        "a DynamoDB event: the event source mapping lists the table's streams"
    ),
}

WRITES = {
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
    "sns:Publish",
    "sqs:SendMessage",
    "s3:PutObject",
    "firehose:PutRecord",
    "firehose:PutRecordBatch",
}


# ---------------------------------------------------------------------- the template's side
def resolve(template: Template, value: Any) -> str:
    """A policy's Resource as a synthetic ARN pattern."""
    if value == "*":
        return "*"
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        logical_id, attribute = value["Fn::GetAtt"]
        kind = template.resources[logical_id]["Type"]
        return arn_of(kind, logical_id, "/stream/*" if attribute == "StreamArn" else "")
    if isinstance(value, dict) and "Ref" in value:
        logical_id = value["Ref"]
        kind = template.resources[logical_id]["Type"]
        if kind in ("AWS::SNS::Topic", "AWS::Serverless::StateMachine"):
            return arn_of(kind, logical_id)  # their Ref is their ARN
        return f"not-an-arn:Ref:{logical_id}"  # a name or URL: matches nothing
    if isinstance(value, dict) and "Fn::Sub" in value:
        text, variables = value["Fn::Sub"], {}
        if isinstance(text, list):
            text, variables = text[0], {k: resolve(template, v) for k, v in text[1].items()}
        for name, resolved in variables.items():
            text = text.replace("${" + name + "}", resolved)
        pseudo = {"AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": ACCOUNT}
        for name, resolved in pseudo.items():
            text = text.replace("${" + name + "}", resolved)
        for logical_id, resource in template.resources.items():
            text = text.replace("${" + logical_id + ".Arn}", arn_of(resource["Type"], logical_id))
        return text
    raise AssertionError(f"unexpected Resource {value!r}")


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def role_of(translated: dict[str, Any], function_id: str) -> dict[str, Any]:
    role_id = translated["Resources"][function_id]["Properties"]["Role"]["Fn::GetAtt"][0]
    return translated["Resources"][role_id]["Properties"]


def grants(template: Template, role: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(action, resource pattern, policy name, logical id or '') of every inline Allow."""
    found = []
    for policy in role.get("Policies", []):
        for statement in as_list(policy["PolicyDocument"]["Statement"]):
            assert statement["Effect"] == "Allow", statement
            for resource in as_list(statement["Resource"]):
                pattern = resolve(template, resource)
                named = json.dumps(resource)
                logical = next(
                    (
                        lid
                        for lid in template.resources
                        if f'"{lid}"' in named or "${" + lid in named
                    ),
                    "",
                )
                for action in as_list(statement["Action"]):
                    found.append((action, pattern, policy["PolicyName"], logical))
    return found


# ---------------------------------------------------------------------- the runtime's side
def service_needs(template: Template, function_id: str) -> set[Call]:
    """What the Lambda service does with the function's role, from the template: decrypt its
    environment (KmsKeyArn), send failed stream batches to the mapping's on-failure queue,
    send failed async events to its DeadLetterQueue, and the ``LAMBDA_SERVICE`` calls: write
    its log group, send its traces, poll its DynamoDB streams."""
    props = template.properties(function_id)
    needs = set()
    for action, resource, why in lambda_service_calls(template, props):
        assert action in LAMBDA_SERVICE, action
        needs.add(Call(function_id, action, resource, f"Lambda service: {why}"))
    key = props.get("KmsKeyArn") or template.globals["Function"].get("KmsKeyArn")
    if key:
        needs.add(Call(function_id, "kms:Decrypt", resolve(template, key), "environment"))
    for event in props.get("Events", {}).values():
        on_failure = event["Properties"].get("DestinationConfig", {}).get("OnFailure", {})
        if on_failure.get("Type") == "SQS":
            queue = resolve(template, on_failure["Destination"])
            needs.add(Call(function_id, "sqs:SendMessage", queue, "stream on-failure"))
    if props.get("DeadLetterQueue", {}).get("Type") == "SQS":
        queue = resolve(template, props["DeadLetterQueue"]["TargetArn"])
        needs.add(Call(function_id, "sqs:SendMessage", queue, "async DeadLetterQueue"))
    return needs


def lambda_service_calls(
    template: Template, props: Mapping[str, Any]
) -> Iterator[tuple[str, str, str]]:
    """The ``LAMBDA_SERVICE`` calls for a function of these properties, with why: write its
    log group, send its traces, poll its DynamoDB streams."""
    log_group = props["LoggingConfig"]["LogGroup"]["Ref"]
    stream_arn = arn_of("AWS::Logs::LogGroup", log_group).removesuffix("*") + (
        "log-stream:2024/01/01/[$LATEST]0123456789abcdef"
    )
    for action in ("logs:CreateLogStream", "logs:PutLogEvents"):
        yield action, stream_arn, "function logs"
    tracing = props.get("Tracing", template.globals["Function"].get("Tracing"))
    if tracing == "Active":
        for action in ("xray:PutTraceSegments", "xray:PutTelemetryRecords"):
            yield action, "*", "active tracing"
    for event in props.get("Events", {}).values():
        if event["Type"] != "DynamoDB":
            continue
        stream = resolve(template, event["Properties"]["Stream"]).replace(
            "/stream/*", "/stream/2024-01-01T00:00:00.000"
        )
        for action in (
            "dynamodb:DescribeStream",
            "dynamodb:GetShardIterator",
            "dynamodb:GetRecords",
        ):
            yield action, stream, "stream polling"
        table_streams = stream.rsplit("/stream/", 1)[0] + "/stream/2024-01-01T00:00:00.000"
        yield "dynamodb:ListStreams", table_streams, "stream polling"


def kms_needs(template: Template, calls: set[Call]) -> set[Call]:
    """Data written to (or read from) a resource encrypted with a customer managed key needs
    that key: kms:GenerateDataKey to write, kms:Decrypt to read."""
    needs = set()
    by_arn = {arn_of(r["Type"], lid): lid for lid, r in template.resources.items() if "Type" in r}
    for call in calls:
        base = next((a for a in by_arn if call.resource.startswith(a)), None)
        if base is None:
            continue
        props = json.dumps(template.resources[by_arn[base]].get("Properties", {}))
        for key_id, resource in template.of_type("AWS::KMS::Key"):
            if f'"{key_id}"' not in props:
                continue
            key = arn_of(resource["Type"], key_id)
            action = "kms:GenerateDataKey" if call.action in WRITES else "kms:Decrypt"
            needs.add(Call(call.function, action, key, f"{call.operation} (encrypted)"))
    return needs


@pytest.fixture(scope="module")
def translated(template: Template) -> dict[str, Any]:
    return translate(template, "s3://b/k.zip", "us-east-1")


@pytest.fixture(scope="module")
def needed(template, pipeline_runs) -> dict[str, set[Call]]:
    result = {}
    for function_id, _ in template.of_type(FUNCTION):
        calls = set(pipeline_runs.recorder.calls.get(function_id, set()))
        calls |= service_needs(template, function_id)
        result[function_id] = calls | kms_needs(template, calls)
    return result


def functions(template: Template) -> list[str]:
    return [function_id for function_id, _ in Template.load().of_type(FUNCTION)]


def test_the_runs_reach_every_function_and_every_call_is_understood(template, pipeline_runs):
    recorder = pipeline_runs.recorder
    assert not recorder.unknown, f"teach recording.needs() these operations: {recorder.unknown}"
    silent = [f for f in functions(template) if not recorder.calls.get(f)]
    assert not silent, f"no AWS call recorded for {silent}: a path is not exercised"
    # the paths the scenarios are there for: compensation, and dead letters redriven
    assert pipeline_runs.reports["carrier-outage"].by_status["CANCELLED"] > 0
    assert pipeline_runs.reports["target-outage"].remediation.get("redriven", 0) > 0


@pytest.mark.parametrize("function_id", functions(Template.load()))
def test_every_call_a_handler_makes_is_granted(template, translated, needed, function_id):
    granted = grants(template, role_of(translated, function_id))
    missing = sorted(
        f"{c.action} on {c.resource} ({c.operation})"
        for c in needed[function_id]
        if not any(
            fnmatchcase(c.action, action) and fnmatchcase(c.resource, pattern)
            for action, pattern, _, _ in granted
        )
    )
    assert not missing, f"{function_id} needs, but is not granted: {missing}"


@pytest.mark.parametrize("function_id", functions(Template.load()))
def test_every_grant_is_used_or_on_a_listed_rare_path(template, translated, needed, function_id):
    unused = []
    for action, pattern, policy, logical in grants(template, role_of(translated, function_id)):
        used = any(
            fnmatchcase(c.action, action) and fnmatchcase(c.resource, pattern)
            for c in needed[function_id]
        )
        if not used and (function_id, action, logical) not in RARE_PATHS:
            unused.append(f"{action} on {pattern} ({policy})")
    assert not unused, f"{function_id} is granted what it never uses: {unused}"


def test_every_rare_path_is_still_granted_and_carries_a_reason(template, translated):
    for (function_id, action, logical), reason in RARE_PATHS.items():
        assert len(reason) > 30, (function_id, action, logical)
        granted = grants(template, role_of(translated, function_id))
        assert any(a == action and lid == logical for a, _, _, lid in granted), (
            f"{function_id} no longer has {action} on {logical}: drop it from RARE_PATHS"
        )


@pytest.mark.parametrize("function_id", functions(Template.load()))
def test_a_policy_names_only_the_resources_its_function_uses(
    template, translated, needed, function_id
):
    used = {c.resource for c in needed[function_id]}
    rare = {lid for (f, _, lid) in RARE_PATHS if f == function_id}
    for action, pattern, policy, logical in grants(template, role_of(translated, function_id)):
        assert "*" not in action, f"{function_id} grants wildcard action {action} ({policy})"
        if pattern == "*":
            assert action in NO_RESOURCE_ARN, f"{function_id} grants {action} on * ({policy})"
            continue
        assert logical, f"{function_id} names {pattern}, which is no resource of the template"
        assert logical in rare or any(fnmatchcase(arn, pattern) for arn in used), (
            f"{function_id} names {logical} ({action}, {policy}) but never touches it"
        )


@pytest.mark.parametrize("function_id", functions(Template.load()))
def test_no_managed_policy_is_attached(template, translated, function_id):
    """An explicit role: SAM adds no managed policy (nor inline one) to it."""
    role_id = translated["Resources"][function_id]["Properties"]["Role"]["Fn::GetAtt"][0]
    assert role_id in template.resources, f"{function_id}'s role is generated by SAM"
    role = role_of(translated, function_id)
    assert not role.get("ManagedPolicyArns"), role.get("ManagedPolicyArns")
    assert role["Policies"] == template.properties(role_id)["Policies"]


def test_every_lambda_service_allowance_carries_a_reason_and_is_granted(template, translated):
    granted = {
        action
        for function_id in functions(template)
        for action, _, _, _ in grants(template, role_of(translated, function_id))
    }
    for action, reason in LAMBDA_SERVICE.items():
        assert len(reason) > 30, action
        assert action in granted, f"no role grants {action}: drop it from LAMBDA_SERVICE"
