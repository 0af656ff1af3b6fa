"""DLQ remediation: redrive transient failures a bounded number of times, park and alert the rest.

EventBridge puts an undeliverable event in the target's DLQ with the failure in message
attributes (ERROR_CODE, ERROR_MESSAGE, RULE_ARN, TARGET_ARN, RETRY_ATTEMPTS; EventBridge user
guide, "Using dead-letter queues to process undelivered events"). A transient failure is
redriven to its own target only (StartExecution with a name derived from the event and the
attempt, so a repeated redrive starts nothing new); re-publishing to the bus would fan out to
every rule again. Attempts are counted on the message itself (REDRIVE_ATTEMPTS), so nothing
loops forever. What cannot be redriven is parked in its own queue and reported to operations.
Every message ends redriven, requeued or parked: none is deleted before its next home has it.
Which codes redrive, how often, and the requeue delay are the one policy the simulator follows
too (``pipeline.domain.remediation``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import ClientError

from pipeline.adapters.alerts import Alerts
from pipeline.adapters.dynamo import error_code
from pipeline.domain.remediation import RemediationPolicy, Remedy
from pipeline.handlers.wiring import Wiring, aws_client, require

logger = Logger(service="dlq-remediation")
tracer = Tracer(service="dlq-remediation")
metrics = Metrics(service="dlq-remediation")

ATTEMPTS_ATTRIBUTE = "REDRIVE_ATTEMPTS"
STATE_MACHINE_ARN = re.compile(r"^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:stateMachine:[\w-]+$")


@dataclass
class RemediationDeps:
    sqs: Any
    sfn: Any
    alerts: Alerts
    dlq_urls: list[str]
    parked_url: str
    policy: RemediationPolicy = field(default_factory=RemediationPolicy)
    max_batches: int = 10  # per queue per run: a run always ends

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> RemediationDeps:
        return cls(
            sqs=aws_client(env, "sqs"),
            sfn=aws_client(env, "stepfunctions"),
            alerts=Alerts(aws_client(env, "sns"), require(env, "ALERTS_TOPIC_ARN")),
            dlq_urls=[u for u in require(env, "DLQ_URLS").split(",") if u],
            parked_url=require(env, "PARKED_QUEUE_URL"),
            policy=RemediationPolicy.with_attempts(env.get("MAX_REDRIVE_ATTEMPTS")),
        )


wiring = Wiring(RemediationDeps.from_env)


@dataclass
class Summary:
    received: int = 0
    redriven: int = 0
    requeued: int = 0
    parked: int = 0
    alerted: int = 0
    parked_items: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, int]:
        return {
            k: getattr(self, k) for k in ("received", "redriven", "requeued", "parked", "alerted")
        }


def message_attribute(message: Mapping[str, Any], name: str) -> str | None:
    value = message.get("MessageAttributes", {}).get(name)
    return value.get("StringValue") if value else None


def classify(
    message: Mapping[str, Any], policy: RemediationPolicy | None = None
) -> tuple[str, str, dict[str, Any] | None]:
    """(verdict, reason, parsed body): verdict is 'transient' (the policy redrives its error
    code; the reason is the code), 'permanent', 'stream' or 'poison'."""
    try:
        body = json.loads(message["Body"])
    except (json.JSONDecodeError, TypeError):
        return "poison", "body is not JSON", None
    if not isinstance(body, dict):
        return "poison", "body is not a JSON object", None
    if "DDBStreamBatchInfo" in body:
        # A Lambda on-failure record names a stream range, not an event: replaying it means
        # reading the shard again, a decision for a person (the events are safe in the store).
        return "stream", "stream batch the processor gave up on", body
    code = message_attribute(message, "ERROR_CODE") or "UNKNOWN"
    target = message_attribute(message, "TARGET_ARN") or ""
    if not STATE_MACHINE_ARN.match(target):
        return "permanent", f"{code}: target {target or 'missing'} is not a state machine", body
    if code in (policy or RemediationPolicy()).transient_errors:
        return "transient", code, body
    return "permanent", code, body


def _execution_name(body: Mapping[str, Any], attempt: int) -> str:
    """Deterministic: the same event and attempt always names the same execution."""
    event_id = str(body.get("detail", {}).get("event_id") or body.get("id") or "unknown")
    safe = re.sub(r"[^A-Za-z0-9_-]", "-", event_id)
    return f"redrive-{safe}-{attempt}"[:80]


def _forward_attributes(message: Mapping[str, Any], **extra: str) -> dict[str, Any]:
    attributes = {
        k: {"DataType": v.get("DataType", "String"), "StringValue": v["StringValue"]}
        for k, v in message.get("MessageAttributes", {}).items()
        if "StringValue" in v
    }
    attributes.update({k: {"DataType": "String", "StringValue": v} for k, v in extra.items()})
    return attributes


def _park(
    deps: RemediationDeps,
    queue: str,
    message: Mapping[str, Any],
    reason: str,
    body: Mapping[str, Any] | None,
    summary: Summary,
) -> None:
    deps.sqs.send_message(
        QueueUrl=deps.parked_url,
        MessageBody=message["Body"],
        MessageAttributes=_forward_attributes(
            message, PARKED_REASON=reason[:256], SOURCE_QUEUE=queue.rsplit("/", 1)[-1]
        ),
    )
    summary.parked += 1
    order_id = (body or {}).get("detail", {}).get("order_id") if body else None
    summary.parked_items.append(
        {"queue": queue.rsplit("/", 1)[-1], "reason": reason, "order_id": order_id}
    )


def _remediate(
    deps: RemediationDeps, queue: str, message: Mapping[str, Any], summary: Summary
) -> None:
    policy = deps.policy
    verdict, reason, body = classify(message, policy)
    attempts = int(message_attribute(message, ATTEMPTS_ATTRIBUTE) or "0")
    if verdict != "transient" or policy.for_dead_letter(reason, attempts) is Remedy.PARK:
        if verdict == "transient":
            reason = f"{reason}: {attempts} redrives did not help"
        _park(deps, queue, message, reason, body, summary)
        return
    assert body is not None
    try:
        deps.sfn.start_execution(
            stateMachineArn=message_attribute(message, "TARGET_ARN"),
            name=_execution_name(body, attempts + 1),
            input=message["Body"],
        )
        summary.redriven += 1
    except ClientError as error:
        code = error_code(error)
        remedy = policy.for_start_error(code)
        if remedy is Remedy.DONE:
            summary.redriven += 1  # an earlier run redrove it already
        elif remedy is Remedy.REQUEUE:
            deps.sqs.send_message(
                QueueUrl=queue,
                MessageBody=message["Body"],
                DelaySeconds=policy.requeue_delay(attempts),
                MessageAttributes=_forward_attributes(
                    message, **{ATTEMPTS_ATTRIBUTE: str(attempts + 1)}
                ),
            )
            summary.requeued += 1
        else:
            _park(deps, queue, message, f"redrive refused: {code}", body, summary)


def remediate(deps: RemediationDeps) -> Summary:
    """One pass over every DLQ; alerts operations once about everything parked."""
    summary = Summary()
    for queue in deps.dlq_urls:
        for _ in range(deps.max_batches):
            batch = deps.sqs.receive_message(
                QueueUrl=queue,
                MaxNumberOfMessages=10,
                MessageAttributeNames=["All"],
                WaitTimeSeconds=0,
            ).get("Messages", [])
            if not batch:
                break
            for message in batch:
                summary.received += 1
                _remediate(deps, queue, message, summary)
                deps.sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    if summary.parked_items:
        deps.alerts.publish(
            f"{summary.parked} failed events need operations",
            {
                "items": summary.parked_items[:50],
                "parked_queue": deps.parked_url,
                **summary.as_dict(),
            },
        )
        summary.alerted = summary.parked
    return summary


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    summary = remediate(wiring.get())
    for name, value in summary.as_dict().items():
        metrics.add_metric(name=f"Dlq{name.capitalize()}", unit=MetricUnit.Count, value=value)
    logger.info("remediation pass", extra=summary.as_dict())
    return summary.as_dict()
