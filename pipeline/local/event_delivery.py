"""EventBridge target delivery: each rule's events start its state machine, with the target's
retry policy, and land in the target's dead-letter queue when delivery keeps failing.

moto matches the template's event patterns and puts each matching event in a stand-in queue
per rule; this module is the part moto lacks: delivering to the Step Functions target with
``RetryPolicy`` (``MaximumRetryAttempts``, ``MaximumEventAgeInSeconds``) and, once those are
spent, sending the event to ``DeadLetterConfig`` with EventBridge's error attributes
(ERROR_CODE, ERROR_MESSAGE, RULE_ARN, TARGET_ARN, RETRY_ATTEMPTS; EventBridge user guide,
"Using dead-letter queues to process undelivered events"). A delivery failure means the
target could not be started (throttled, say), not that the execution later failed.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pipeline.domain.bus import retry_after
from pipeline.local.provision import Stack
from pipeline.template import Template


# EventBridge retries with exponential backoff and jitter; first delay about 1 s, capped.
class DeliveryFailed(Exception):
    """The target could not be invoked; ``code`` is the EventBridge DLQ error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Route:
    """One rule and its single target, as the template declares them."""

    rule_id: str
    rule_arn: str
    pattern: dict[str, Any]
    machine_id: str
    machine_arn: str
    max_attempts: int
    max_age_s: int
    dlq_url: str
    queue_url: str = ""
    rule_name: str = ""  # the deployed rule, when delivering for a deployed stack
    target_id: str = ""


def routes(template: Template, stack: Stack, machine_arn: Callable[[str], str]) -> list[Route]:
    """Every pattern rule of the template with its state-machine target."""
    return [
        Route(
            rule_id=target.rule_id,
            rule_arn=f"arn:aws:events:{stack.region}:{stack.account}:rule/"
            f"{stack.ref('OrderEventBus')}/{target.rule_id}",
            pattern=dict(target.pattern),
            machine_id=target.machine_id,
            machine_arn=machine_arn(target.machine_id),
            max_attempts=target.max_attempts,
            max_age_s=target.max_age_s,
            dlq_url=stack.ref(target.dlq_id) if target.dlq_id else "",
        )
        for target in template.rule_targets()
    ]


def deployed_routes(events: Any, sqs: Any, bus: str, machines: dict[str, str]) -> list[Route]:
    """The deployed rules on ``bus`` whose target is a state machine (``machines``: ARN ->
    logical id), with the retry policy and DLQ CloudFormation gave each target."""
    out = []
    for page in events.get_paginator("list_rules").paginate(EventBusName=bus):
        for rule in page["Rules"]:
            if "EventPattern" not in rule:
                continue
            targets = events.list_targets_by_rule(Rule=rule["Name"], EventBusName=bus)["Targets"]
            for target in targets:
                if target["Arn"] not in machines:
                    continue  # the archive's own target, say
                policy = target.get("RetryPolicy", {})
                dlq_name = target["DeadLetterConfig"]["Arn"].rsplit(":", 1)[1]
                out.append(
                    Route(
                        rule_id=rule["Name"],
                        rule_arn=rule["Arn"],
                        pattern=json.loads(rule["EventPattern"]),
                        machine_id=machines[target["Arn"]],
                        machine_arn=target["Arn"],
                        max_attempts=int(policy.get("MaximumRetryAttempts", 185)),
                        max_age_s=int(policy.get("MaximumEventAgeInSeconds", 86400)),
                        dlq_url=sqs.get_queue_url(QueueName=dlq_name)["QueueUrl"],
                        rule_name=rule["Name"],
                        target_id=target["Id"],
                    )
                )
    # Deployed names end in random suffixes; a fixed order keeps a seeded run reproducible.
    return sorted(out, key=lambda route: (route.machine_id, route.rule_name))


@dataclass
class Delivery:
    """Delivers queued events to targets; ``start`` starts one execution or raises."""

    events: Any  # boto3 EventBridge client
    sqs: Any  # boto3 SQS client
    bus: str
    routes: list[Route]
    start: Callable[[Route, dict[str, Any]], None]
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    # Runs a retry after a delay (the runtime's scheduler); None: at once, on virtual time.
    later: Callable[[float, Callable[[], None]], None] | None = None
    routed: int = 0  # events the rules matched (each ends delivered or dead-lettered)
    # (target state machine, detail.event_id) of every event a rule routed
    routed_events: set[tuple[str, str]] = field(default_factory=set)
    delivered: int = 0
    retries: int = 0
    dead_lettered: int = 0
    dead_lettered_orders: Counter[str] = field(default_factory=Counter)  # by detail.order_id

    def connect(self) -> None:
        """Give each rule a stand-in queue as its target, so moto's pattern matching fills it:
        a deployed rule keeps its pattern and target id (moto cannot deliver to Step
        Functions); a rule not deployed is put on the bus with the template's pattern."""
        for route in self.routes:
            url = self.sqs.create_queue(QueueName=f"route-{route.rule_id}"[:80])["QueueUrl"]
            arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
            if not route.rule_name:
                self.events.put_rule(
                    Name=route.rule_id,
                    EventBusName=self.bus,
                    EventPattern=json.dumps(route.pattern),
                )
            self.events.put_targets(
                Rule=route.rule_name or route.rule_id,
                EventBusName=self.bus,
                Targets=[
                    {
                        "Id": route.target_id or route.machine_id,
                        "Arn": arn["Attributes"]["QueueArn"],
                    }
                ],
            )
            route.queue_url = url

    def pump(self) -> int:
        """Deliver everything waiting; returns how many events were handled."""
        handled = 0
        for route in self.routes:
            while True:
                messages = self.sqs.receive_message(
                    QueueUrl=route.queue_url, MaxNumberOfMessages=10
                ).get("Messages", [])
                if not messages:
                    break
                done = []
                try:
                    for message in messages:
                        event = json.loads(message["Body"])
                        self.routed += 1
                        self.routed_events.add(
                            (route.machine_id, str(event["detail"].get("event_id")))
                        )
                        self._deliver(route, event)
                        done.append(message)
                        handled += 1
                finally:  # what was delivered leaves the queue, even if a later one raised
                    if done:
                        self._delete(route.queue_url, done)
        return handled

    def _delete(self, queue_url: str, messages: list[dict[str, Any]]) -> None:
        entries = [
            {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)
        ]
        failed = self.sqs.delete_message_batch(QueueUrl=queue_url, Entries=entries).get("Failed")
        if failed:  # the message comes back after its visibility timeout: delivered twice
            raise RuntimeError(f"could not delete delivered messages from {queue_url}: {failed}")

    def _deliver(self, route: Route, event: dict[str, Any], attempt: int = 0, age: float = 0):
        try:
            self.start(route, event)
            self.delivered += 1
            return
        except DeliveryFailed as failure:
            delay = retry_after(attempt, age, route.max_attempts, route.max_age_s, self.rng)
            if delay is None:
                self._dead_letter(route, event, failure, attempt)
                return
        self.retries += 1

        def retry() -> None:
            self._deliver(route, event, attempt + 1, age + delay)

        if self.later is None:
            retry()
        else:
            self.later(delay, retry)

    def _dead_letter(self, route: Route, event: dict, failure: DeliveryFailed, retries: int):
        attributes = {
            "RULE_ARN": route.rule_arn,
            "TARGET_ARN": route.machine_arn,
            "ERROR_CODE": failure.code,
            "ERROR_MESSAGE": str(failure)[:256],
            "RETRY_ATTEMPTS": str(retries),
        }
        self.sqs.send_message(
            QueueUrl=route.dlq_url,
            MessageBody=json.dumps(event),
            MessageAttributes={
                k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()
            },
        )
        self.dead_lettered += 1
        self.dead_lettered_orders[str(event.get("detail", {}).get("order_id"))] += 1
