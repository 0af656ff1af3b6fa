"""The notifier port: SNS for real, an in-memory outbox for tests and offline runs.

Notifications carry the order id, the kind and the status. Customer contact details stay in
the customer system; routing is by the ``customer_id`` message attribute only, so no PII
travels through the pipeline or its logs.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from botocore.exceptions import ClientError

from pipeline.adapters.dynamo import error_code
from pipeline.domain.errors import NotifierUnavailable


class Notifier(Protocol):
    def send(self, order_id: str, customer_id: str, kind: str, message: Mapping[str, Any]) -> str:
        """Deliver one notification; returns the channel's message id."""
        ...


class SnsNotifier:
    """Publishes notifications to the customer-notifications topic."""

    def __init__(self, sns_client: Any, topic_arn: str) -> None:
        self.sns = sns_client
        self.topic_arn = topic_arn

    def send(self, order_id: str, customer_id: str, kind: str, message: Mapping[str, Any]) -> str:
        try:
            response = self.sns.publish(
                TopicArn=self.topic_arn,
                Message=json.dumps({"order_id": order_id, "kind": kind, **message}),
                MessageAttributes={
                    "customer_id": {"DataType": "String", "StringValue": customer_id},
                    "kind": {"DataType": "String", "StringValue": kind},
                },
            )
        except ClientError as error:
            raise NotifierUnavailable(f"notification not sent: {error_code(error)}") from error
        return response["MessageId"]


@dataclass
class OutboxNotifier:
    """Keeps notifications in memory, in order: what tests and offline runs inspect."""

    sent: list[dict[str, Any]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def send(self, order_id: str, customer_id: str, kind: str, message: Mapping[str, Any]) -> str:
        with self._lock:
            message_id = f"outbox-{len(self.sent) + 1:06d}"
            self.sent.append(
                {
                    "message_id": message_id,
                    "order_id": order_id,
                    "customer_id": customer_id,
                    "kind": kind,
                    **message,
                }
            )
        return message_id
