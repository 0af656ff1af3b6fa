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
    seen: set[str] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    poll_s: float = 5.0,
    timeout_s: float = 3600.0,
) -> str:
    """Print each new stack event until the stack's status settles; return that status.

    ``stack_id`` is the stack's ARN, which still answers after the stack is deleted.
    ``seen`` holds the ids of events from before this operation (not printed again).
    """
    seen = set() if seen is None else seen
    waited = 0.0
    while True:
        fresh = [e for e in events(cfn, stack_id) if e["EventId"] not in seen]
        for event in reversed(fresh):  # the API lists the newest first
            seen.add(event["EventId"])
            say(event_line(event))
        status = cfn.describe_stacks(StackName=stack_id)["Stacks"][0]["StackStatus"]
        if status in SUCCEEDED:
            return status
        if status in FAILED:
            failures = [
                f"{e['LogicalResourceId']}: {e.get('ResourceStatusReason', '')}"
                for e in events(cfn, stack_id)
                if e["ResourceStatus"].endswith("_FAILED")
            ]
            raise StackFailed(f"{status}: " + ("; ".join(failures) or "no reason given"))
        if waited >= timeout_s:
            raise StackFailed(f"still {status} after {timeout_s:.0f} s")
        sleep(poll_s)
        waited += poll_s


def events(cfn: Any, stack_id: str) -> list[dict[str, Any]]:
    """Every event of the stack, newest first."""
    pages = cfn.get_paginator("describe_stack_events").paginate(StackName=stack_id)
    return [event for page in pages for event in page["StackEvents"]]
