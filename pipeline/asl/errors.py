"""The error names Step Functions defines, and the exception a task raises to fail with one."""

from __future__ import annotations

ALL = "States.ALL"
TASK_FAILED = "States.TaskFailed"
TIMEOUT = "States.Timeout"
RUNTIME = "States.Runtime"
PERMISSIONS = "States.Permissions"
RESULT_PATH_MATCH_FAILURE = "States.ResultPathMatchFailure"
PARAMETER_PATH_FAILURE = "States.ParameterPathFailure"
BRANCH_FAILED = "States.BranchFailed"
NO_CHOICE_MATCHED = "States.NoChoiceMatched"
INTRINSIC_FAILURE = "States.IntrinsicFailure"
HEARTBEAT_TIMEOUT = "States.HeartbeatTimeout"
EXCEED_TOLERATED_FAILURE = "States.ExceedToleratedFailureThreshold"
ITEM_READER_FAILED = "States.ItemReaderFailed"
DATA_LIMIT_EXCEEDED = "States.DataLimitExceeded"
QUERY_EVALUATION = "States.QueryEvaluationError"
PAYLOAD_LIMIT_BYTES = 256 * 1024  # Step Functions quota: input or output of a state


class TaskFailed(Exception):
    """Raised by a task (or by the interpreter) to fail a state with an ASL error and cause."""

    located = False  # True once the cause names the state it failed in (interpreter._located)

    def __init__(self, error: str, cause: str = "") -> None:
        # args are the constructor's, so a copy (pickling, SimPy re-raising) is the same error
        super().__init__(error, cause)
        self.error = error
        self.cause = cause

    def __str__(self) -> str:
        return f"{self.error}: {self.cause}" if self.cause else self.error


class DefinitionError(Exception):
    """The state machine definition itself is invalid (what CreateStateMachine would reject)."""


def matches(error_equals: list[str], error: str) -> bool:
    """Whether a Retrier's or Catcher's ErrorEquals covers ``error`` (AWS "Error names").

    States.ALL matches any error name; States.TaskFailed any except States.Timeout. Neither
    (nor anything else) covers States.Runtime: it always fails the execution.
    """
    if error == RUNTIME:
        return False
    return any(
        name in (error, ALL) or (name == TASK_FAILED and error != TIMEOUT) for name in error_equals
    )
