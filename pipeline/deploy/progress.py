"""Follow a stack operation through its events until the stack settles."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

SUCCEEDED = frozenset({"CREATE_COMPLETE", "UPDATE_COMPLETE", "DELETE_COMPLETE", "IMPORT_COMPLETE"})
FAILED = frozenset(
    {
        "CREATE_FAILED",
        "ROLLBACK_COMPLETE",
        "ROLLBACK_FAILED",
        "DELETE_FAILED",
        "UPDATE_FAILED",
        "UPDATE_ROLLBACK_COMPLETE",
        "UPDATE_ROLLBACK_FAILED",
        "IMPORT_ROLLBACK_COMPLETE",
        "IMPORT_ROLLBACK_FAILED",
    }
)


class StackFailed(RuntimeError):
    """The operation ended in a failed or rolled-back state; the message names why."""


def event_line(event: dict[str, Any]) -> str:
    reason = event.get("ResourceStatusReason")
    return (
        f"{event['Timestamp']:%H:%M:%S}  {event['ResourceStatus']:<22} "
        f"{event['ResourceType']:<36} {event['LogicalResourceId']}"
        + (f"  ({reason})" if reason else "")
    )


def follow(
    cfn: Any,
    stack_id: str,
    say: Callable[[str], None],
    after: str | None = None,
    sleep: Callable[[float], None] = time.sleep,
    poll_s: float = 5.0,
    timeout_s: float = 3600.0,
) -> str:
    """Print each new stack event until the stack's status settles; return that status.

    ``stack_id`` is the stack's ARN, which still answers after the stack is deleted.
    ``after`` is the id of the newest event from before this operation: events up to it are
    not printed, and each poll reads only the pages newer than what was already shown.
    """
    waited, failures = 0.0, []
    while True:
        fresh = newer(cfn, stack_id, after)
        for event in reversed(fresh):  # the API lists the newest first
            say(event_line(event))
            if event["ResourceStatus"].endswith("_FAILED"):
                failures.append(
                    f"{event['LogicalResourceId']}: {event.get('ResourceStatusReason', '')}"
                )
        if fresh:
            after = fresh[0]["EventId"]
        status = cfn.describe_stacks(StackName=stack_id)["Stacks"][0]["StackStatus"]
        if status in SUCCEEDED:
            return status
        if status in FAILED:
            raise StackFailed(f"{status}: " + ("; ".join(failures) or "no reason given"))
        if waited >= timeout_s:
            raise StackFailed(f"still {status} after {timeout_s:.0f} s")
        sleep(poll_s)
        waited += poll_s


def newer(cfn: Any, stack_id: str, after: str | None) -> list[dict[str, Any]]:
    """The stack's events newer than event ``after`` (all of them if None), newest first."""
    found: list[dict[str, Any]] = []
    for page in cfn.get_paginator("describe_stack_events").paginate(StackName=stack_id):
        for event in page["StackEvents"]:
            if event["EventId"] == after:
                return found
            found.append(event)
    return found


def latest(cfn: Any, stack_id: str) -> str | None:
    """The id of the stack's newest event (None for a stack with none)."""
    events = cfn.describe_stack_events(StackName=stack_id)["StackEvents"]
    return events[0]["EventId"] if events else None
