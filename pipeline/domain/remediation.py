"""The DLQ remediation policy: which dead letters are redriven, how often, and when to park.

EventBridge dead-letters an event its target never got, with an ERROR_CODE (EventBridge user
guide, "Using dead-letter queues to process undelivered events"). A transient code is
redriven to the same target, at most ``max_attempts`` times; anything else, and anything that
used up its attempts, is parked for operations. A redrive whose StartExecution fails
transiently is requeued with a delay that doubles per attempt (capped at SQS's maximum);
one refused for good is parked. The remediation handler (``pipeline.handlers.dlq_remediation``)
and the simulator (``pipeline.sim.engine``) both follow this one policy.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

# EventBridge DLQ error codes worth another try (EventBridge user guide, DLQ error codes).
TRANSIENT_ERRORS = frozenset(
    {
        "THROTTLING",
        "TIMEOUT",
        "SDK_CLIENT_ERROR",
        "TRANSIENT_ASSUME_ROLE",
        "RESOURCE_LIMIT_EXCEEDED",
        "RESOURCE_MODIFICATION_COLLISION",
        "INTERNAL_ERROR",
    }
)
# Step Functions StartExecution errors that a later retry can clear.
TRANSIENT_START_ERRORS = frozenset(
    {"ThrottlingException", "ServiceUnavailable", "InternalServerError", "ExecutionLimitExceeded"}
)
# A redrive that finds its execution started (an earlier pass redrove it) is done.
ALREADY_STARTED = "ExecutionAlreadyExists"
SQS_MAX_DELAY_S = 900  # SQS DelaySeconds maximum


class Remedy(StrEnum):
    REDRIVE = "redrive"  # start the target's execution again
    REQUEUE = "requeue"  # try the redrive again later (the start failed transiently)
    PARK = "park"  # give up: operations must look
    DONE = "done"  # already redriven


@dataclass(frozen=True)
class RemediationPolicy:
    """``max_attempts`` redrives per dead letter; a requeue waits ``requeue_delay_s`` doubled
    per attempt so far, at most ``max_delay_s``."""

    max_attempts: int = 3
    requeue_delay_s: int = 30
    max_delay_s: int = SQS_MAX_DELAY_S
    transient_errors: frozenset[str] = TRANSIENT_ERRORS
    transient_start_errors: frozenset[str] = TRANSIENT_START_ERRORS

    def for_dead_letter(self, error_code: str, attempts: int) -> Remedy:
        """Redrive a transient failure with attempts left; park the rest."""
        if error_code in self.transient_errors and attempts < self.max_attempts:
            return Remedy.REDRIVE
        return Remedy.PARK

    def for_start_error(self, error_code: str) -> Remedy:
        """What to do when a redrive's StartExecution fails with ``error_code``."""
        if error_code == ALREADY_STARTED:
            return Remedy.DONE
        if error_code in self.transient_start_errors:
            return Remedy.REQUEUE
        return Remedy.PARK

    def requeue_delay(self, attempts: int) -> int:
        """Seconds before a requeued redrive comes back, after ``attempts`` so far."""
        return int(min(self.max_delay_s, self.requeue_delay_s * 2**attempts))

    @classmethod
    def with_attempts(cls, setting: str | int | None) -> RemediationPolicy:
        """The policy with ``max_attempts`` from a setting (MAX_REDRIVE_ATTEMPTS), default if
        unset."""
        if setting is None or setting == "":
            return cls()
        return cls(max_attempts=int(setting))
