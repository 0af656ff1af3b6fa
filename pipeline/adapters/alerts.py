"""Operations alerts on SNS: every failure nobody can fix automatically ends here, visibly."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from pipeline.adapters.dynamo import error_code
from pipeline.domain.errors import NotifierUnavailable

# SNS subjects: ASCII, no newlines, at most 100 characters (SNS Publish API reference).
MAX_SUBJECT = 100


class Alerts:
    """Publishes alerts to the operations topic. Messages carry ids and reasons, never PII."""

    def __init__(self, sns_client: Any, topic_arn: str) -> None:
        self.sns = sns_client
        self.topic_arn = topic_arn

    def publish(self, subject: str, message: Mapping[str, Any]) -> str:
        """Send one alert; returns the SNS message id. Transient SNS failures are retryable."""
        clean = "".join(c if 32 <= ord(c) < 127 else " " for c in subject)[:MAX_SUBJECT]
        try:
            response = self.sns.publish(
                TopicArn=self.topic_arn,
                Subject=clean,
                Message=json.dumps(dict(message), sort_keys=True, default=str),
            )
        except ClientError as error:
            raise NotifierUnavailable(f"alert not published: {error_code(error)}") from error
        return response["MessageId"]
