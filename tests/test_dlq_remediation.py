"""DLQ remediation: bounded targeted redrives, everything else parked and alerted, nothing lost.
On the default's rule DLQ (the orchestrated saga's) and on one of the choreography's."""

from __future__ import annotations

import dataclasses
import json

import pytest
from botocore.exceptions import ClientError

from pipeline.adapters.alerts import Alerts
from pipeline.domain.bus import SOURCE
from pipeline.domain.remediation import RemediationPolicy
from pipeline.handlers import dlq_remediation
from pipeline.handlers.dlq_remediation import RemediationDeps, remediate
from pipeline.template import Template
from pipeline.variants import VARIANTS

# variant -> the rule DLQ its test messages dead-letter into, the rule and the machine's name
TARGETS = {
    "default": ("OrderSagaTargetDLQ", "OrderSagaRule", "order-saga"),
    "choreography": ("PaymentTargetDLQ", "PaymentRule", "payment"),
}

PASS = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}})


@pytest.fixture(scope="module", params=list(TARGETS))
def coordination(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def template(coordination) -> Template:
    """The variant's template (conftest's ``stack`` provisions it)."""
    return Template.load(parameters=VARIANTS[coordination])


@pytest.fixture
def env(aws, stack, coordination):
    dlq, _, name = TARGETS[coordination]
    sqs, sfn = aws.client("sqs"), aws.client("stepfunctions")
    role = "arn:aws:iam::123456789012:role/machine"
    machine = sfn.create_state_machine(name=name, definition=PASS, roleArn=role)
    alerts_url = sqs.create_queue(QueueName="alerts-tap")["QueueUrl"]
    alerts_arn = sqs.get_queue_attributes(QueueUrl=alerts_url, AttributeNames=["QueueArn"])
    aws.client("sns").subscribe(
        TopicArn=stack.ref("AlertsTopic"),
        Protocol="sqs",
        Endpoint=alerts_arn["Attributes"]["QueueArn"],
    )
    deps = RemediationDeps(
        sqs=sqs,
        sfn=sfn,
        alerts=Alerts(aws.client("sns"), stack.ref("AlertsTopic")),
        dlq_urls=[stack.ref(dlq), stack.ref("StreamProcessorDLQ")],
        parked_url=stack.ref("RemediationParkedQueue"),
        policy=RemediationPolicy(max_attempts=3),
    )
    return deps, machine["stateMachineArn"], alerts_url


def event_body(event_id="evt-1", order_id="order-1") -> str:
    return json.dumps(
        {
            "id": f"eb-{event_id}",
            "source": SOURCE,
            "detail-type": "OrderPlaced",
            "detail": {"event_id": event_id, "order_id": order_id, "correlation_id": "c"},
        }
    )


def rule_of(target: str) -> str:
    """The rule whose target ``target`` is (a machine of ``TARGETS``; else the payment rule).
    The handler reads TARGET_ARN, never RULE_ARN: this only keeps the messages true."""
    return next(
        (r for _, r, name in TARGETS.values() if target.endswith(f":{name}")), "PaymentRule"
    )


def dead_letter(deps, target, code="THROTTLING", body=None, queue=None, **attributes):
    attrs = {
        "ERROR_CODE": code,
        "ERROR_MESSAGE": "failed",
        "TARGET_ARN": target,
        "RULE_ARN": f"arn:aws:events:us-east-1:123456789012:rule/bus/{rule_of(target)}",
        "RETRY_ATTEMPTS": "8",
        **attributes,
    }
    deps.sqs.send_message(
        QueueUrl=queue or deps.dlq_urls[0],
        MessageBody=body if body is not None else event_body(),
        MessageAttributes={k: {"DataType": "String", "StringValue": v} for k, v in attrs.items()},
    )


def messages(deps, url, attributes=True) -> list[dict]:
    out = []
    while batch := deps.sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    ).get("Messages"):
        out += batch
        for m in batch:
            deps.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return out


def executions(deps, machine) -> list[str]:
    return [e["name"] for e in deps.sfn.list_executions(stateMachineArn=machine)["executions"]]


def test_transient_failure_is_redriven_to_its_own_target_once(env):
    deps, machine, alerts = env
    dead_letter(deps, machine)
    summary = remediate(deps)
    assert (summary.received, summary.redriven, summary.parked) == (1, 1, 0)
    assert executions(deps, machine) == ["redrive-evt-1-1"]
    assert messages(deps, deps.dlq_urls[0]) == []
    assert messages(deps, alerts) == []


def test_a_repeated_redrive_starts_no_second_execution(env):
    deps, machine, _ = env
    dead_letter(deps, machine)
    dead_letter(deps, machine)  # the same event dead-lettered twice
    summary = remediate(deps)
    assert summary.redriven == 2
    assert executions(deps, machine) == ["redrive-evt-1-1"]


class Throttled:
    """A Step Functions client whose StartExecution is always throttled."""

    def start_execution(self, **_):
        raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow"}}, "Start")


def test_failed_redrives_are_counted_on_the_message_then_parked_and_alerted(env):
    deps, machine, alerts = env
    deps.sfn = Throttled()
    deps.policy = dataclasses.replace(deps.policy, requeue_delay_s=0)  # production: 30 s, 60 s...
    dead_letter(deps, machine)
    summary = remediate(deps)  # with no delay the requeued message comes straight back
    assert (summary.received, summary.requeued, summary.parked, summary.alerted) == (4, 3, 1, 1)
    (parked,) = messages(deps, deps.parked_url)
    assert parked["MessageAttributes"]["REDRIVE_ATTEMPTS"]["StringValue"] == "3"
    assert parked["MessageAttributes"]["ERROR_CODE"]["StringValue"] == "THROTTLING"
    assert "3 redrives did not help" in parked["MessageAttributes"]["PARKED_REASON"]["StringValue"]
    assert len(messages(deps, alerts)) == 1
    assert messages(deps, deps.dlq_urls[0]) == []


@pytest.mark.parametrize(
    ("code", "body", "reason"),
    [
        ("NO_PERMISSIONS", None, "NO_PERMISSIONS"),
        ("THROTTLING", "not json {", "body is not JSON"),
        ("THROTTLING", "[1, 2]", "not a JSON object"),
    ],
)
def test_permanent_and_poison_messages_are_parked_with_one_alert(env, code, body, reason):
    deps, machine, alerts = env
    dead_letter(deps, machine, code=code, body=body)
    summary = remediate(deps)
    assert (summary.redriven, summary.parked) == (0, 1)
    (parked,) = messages(deps, deps.parked_url)
    assert reason in parked["MessageAttributes"]["PARKED_REASON"]["StringValue"]
    (alert,) = messages(deps, alerts)
    (item,) = json.loads(json.loads(alert["Body"])["Message"])["items"]
    assert reason in item["reason"]
    assert item["order_id"] == ("order-1" if body is None else None)
    assert executions(deps, machine) == []


def test_stream_failures_are_parked_not_redriven(env):
    deps, _, _ = env
    record = {
        "requestContext": {"condition": "RetryAttemptsExhausted"},
        "DDBStreamBatchInfo": {"shardId": "s-1", "startSequenceNumber": "1"},
    }
    deps.sqs.send_message(QueueUrl=deps.dlq_urls[1], MessageBody=json.dumps(record))
    summary = remediate(deps)
    assert (summary.parked, summary.redriven) == (1, 0)


def test_nothing_is_ever_dropped(env):
    deps, machine, _ = env
    for n in range(7):
        dead_letter(deps, machine, body=event_body(f"evt-{n}"))
    for code in ("NO_PERMISSIONS", "INVALID_JSON"):
        dead_letter(deps, machine, code=code)
    dead_letter(deps, "arn:aws:lambda:us-east-1:123456789012:function:x")
    summary = remediate(deps)
    assert summary.received == 10
    assert summary.received == summary.redriven + summary.requeued + summary.parked
    assert len(messages(deps, deps.parked_url)) == summary.parked == 3
    assert len(executions(deps, machine)) == summary.redriven == 7


def test_handler_reports_its_summary(env, lambda_context):
    deps, machine, _ = env
    dead_letter(deps, machine)
    dlq_remediation.wiring.configure(deps)
    try:
        result = dlq_remediation.lambda_handler({}, lambda_context)
    finally:
        dlq_remediation.wiring.configure(None)
    assert result == {"received": 1, "redriven": 1, "requeued": 0, "parked": 0, "alerted": 0}
