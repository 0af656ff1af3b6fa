"""Change sets: what a deployment would do, shown before anything is done."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from pipeline.deploy.sam import CAPABILITIES

NO_CHANGES = ("didn't contain changes", "No updates are to be performed")
MASKED = "****"  # how CloudFormation shows a NoEcho parameter's value


# How a change came to be listed, when not by CloudFormation itself.
ORIGINS = {
    "local": "  (made by the local runtime)",
    "inferred": "  (reads a changed parameter; the endpoint does not list it)",
}


class ChangeSetFailed(RuntimeError):
    """CloudFormation could not make the change set (the reason is in the message)."""


@dataclass(frozen=True)
class Change:
    action: str  # Add, Modify, Remove (Dynamic, Import)
    logical_id: str
    resource_type: str
    replacement: str = ""  # True, False or Conditional, for Modify
    origin: str = "cloudformation"  # or a key of ORIGINS


@dataclass
class Plan:
    stack_name: str
    kind: str  # CREATE or UPDATE
    change_set_id: str | None
    stack_id: str | None
    changes: list[Change] = field(default_factory=list)
    parameters: dict[str, tuple[str | None, str]] = field(default_factory=dict)  # old, new

    @property
    def empty(self) -> bool:
        return not self.changes and not self.changed_parameters()

    def changed_parameters(self) -> dict[str, tuple[str | None, str]]:
        return {k: (old, new) for k, (old, new) in self.parameters.items() if old != new}


def stack_status(cfn: Any, stack_name: str) -> dict[str, Any] | None:
    """The stack's description, or None when there is no live stack of that name."""
    try:
        stack = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
    except ClientError as error:
        if "does not exist" in str(error) or error.response["Error"]["Code"] == "ValidationError":
            return None
        raise
    return None if stack["StackStatus"] == "DELETE_COMPLETE" else stack


def create(
    cfn: Any,
    stack_name: str,
    body: Mapping[str, Any],
    parameters: Mapping[str, str],
    template_url: str | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    sleep: Callable[[float], None] = time.sleep,
    poll_s: float = 2.0,
) -> Plan:
    """Create a change set for ``body`` (read from ``template_url`` when given, where it has
    been uploaded); an update keeps parameters it is not given."""
    existing = stack_status(cfn, stack_name)
    kind = (
        "CREATE"
        if existing is None or existing["StackStatus"] == "REVIEW_IN_PROGRESS"
        else ("UPDATE")
    )
    previous = {
        p["ParameterKey"]: p.get("ParameterValue") for p in (existing or {}).get("Parameters", [])
    }
    declared = body.get("Parameters", {})
    unknown = set(parameters) - set(declared)
    if unknown:
        raise ChangeSetFailed(f"the template has no parameter {', '.join(sorted(unknown))}")
    sent, shown = [], {}
    for name, spec in declared.items():
        if name in parameters:
            value = str(parameters[name])
            sent.append({"ParameterKey": name, "ParameterValue": value})
        elif kind == "UPDATE" and name in previous:  # an update keeps what was set
            value = previous[name]
            sent.append(
                {"ParameterKey": name, "UsePreviousValue": True}
                if value == MASKED  # NoEcho: CloudFormation knows it, we do not
                else {"ParameterKey": name, "ParameterValue": value}
            )
        else:  # sent explicitly, so the stack records every value it runs with
            value = str(spec.get("Default", ""))
            sent.append({"ParameterKey": name, "ParameterValue": value})
        shown[name] = (previous.get(name) if kind == "UPDATE" else None, value)
    name = f"{stack_name}-{now():%Y%m%d-%H%M%S-%f}"
    made = cfn.create_change_set(
        StackName=stack_name,
        ChangeSetName=name,
        ChangeSetType=kind,
        **(
            {"TemplateURL": template_url}
            if template_url
            else {"TemplateBody": json.dumps(body, default=str)}
        ),
        Parameters=sent,
        Capabilities=CAPABILITIES,
        Description="python -m pipeline deploy",
    )
    plan = Plan(stack_name, kind, made["Id"], made.get("StackId"), parameters=shown)
    while True:
        described = cfn.describe_change_set(ChangeSetName=made["Id"], StackName=stack_name)
        if described["Status"] in ("CREATE_COMPLETE", "FAILED"):
            break
        sleep(poll_s)
    if described["Status"] == "FAILED":
        reason = described.get("StatusReason", "")
        if any(marker in reason for marker in NO_CHANGES):
            cfn.delete_change_set(ChangeSetName=made["Id"], StackName=stack_name)
            plan.change_set_id = None
            return plan
        raise ChangeSetFailed(f"{name}: {reason}")
    plan.changes = [_change(c) for c in _all_changes(cfn, made["Id"], stack_name, described)]
    return plan


def _all_changes(cfn: Any, change_set: str, stack_name: str, first: dict) -> list[dict]:
    changes, page = list(first.get("Changes", [])), first
    while page.get("NextToken"):
        page = cfn.describe_change_set(
            ChangeSetName=change_set, StackName=stack_name, NextToken=page["NextToken"]
        )
        changes += page.get("Changes", [])
    return changes


def _change(raw: Mapping[str, Any]) -> Change:
    resource = raw["ResourceChange"]
    return Change(
        resource["Action"],
        resource["LogicalResourceId"],
        resource["ResourceType"],
        str(resource.get("Replacement", "")),
    )


def discard(cfn: Any, plan: Plan) -> None:
    """Delete an unexecuted change set (and the empty stack a CREATE change set leaves)."""
    if plan.change_set_id:
        cfn.delete_change_set(ChangeSetName=plan.change_set_id, StackName=plan.stack_name)
    if plan.kind == "CREATE":
        stack = stack_status(cfn, plan.stack_name)
        if stack and stack["StackStatus"] == "REVIEW_IN_PROGRESS":
            cfn.delete_stack(StackName=plan.stack_name)


def render(plan: Plan, detail: bool = True) -> list[str]:
    """The change set: a line per resource (with ``detail``), the counts, then the changed
    parameters (all of them, on one line, for a new stack)."""
    lines = [f"Change set for stack {plan.stack_name} ({plan.kind}):"]
    if plan.empty:
        return [*lines, "  no changes"]
    width = max([len(c.logical_id) for c in plan.changes] + [10])
    for change in sorted(plan.changes, key=lambda c: (c.action, c.resource_type, c.logical_id)):
        if not detail:
            break
        replace = (
            "  replacement: " + change.replacement
            if change.replacement in ("True", "Conditional")
            else ""
        )
        lines.append(
            f"  {change.action:<7} {change.logical_id:<{width}}  {change.resource_type}"
            f"{replace}{ORIGINS.get(change.origin, '')}"
        )
    counts: dict[str, int] = {}
    for change in plan.changes:
        counts[change.action] = counts.get(change.action, 0) + 1
    if counts:
        lines.append("  " + ", ".join(f"{n} to {a.lower()}" for a, n in sorted(counts.items())))
    changed = plan.changed_parameters()
    if plan.kind == "CREATE":
        lines.append("  parameters: " + ", ".join(f"{k}={new}" for k, (_, new) in changed.items()))
    else:
        lines += [f"  parameter {k}: {old} -> {new}" for k, (old, new) in changed.items()]
    return lines


MADE_BY = {
    "cloudformation": "CloudFormation",
    "local": "the local runtime",
    "inferred": "CloudFormation (inferred)",
}


def rows(plan: Plan) -> list[dict[str, str]]:
    """The change set as table rows, one per resource, in :func:`render`'s order: action
    (Add, Modify, Remove), logical id, type, replacement (for a Modify: True, False or
    Conditional) and who makes it (CloudFormation; the local runtime, for the types the local
    endpoint's CloudFormation lacks; "inferred", a change the endpoint does not list)."""
    ordered = sorted(plan.changes, key=lambda c: (c.action, c.resource_type, c.logical_id))
    return [
        {
            "action": change.action,
            "logical id": change.logical_id,
            "type": change.resource_type,
            "replacement": change.replacement if change.action == "Modify" else "",
            "made by": MADE_BY.get(change.origin, change.origin),
        }
        for change in ordered
    ]


def frame(plan: Plan) -> Any:
    """:func:`rows` as a pandas DataFrame (for notebooks)."""
    import pandas as pd

    columns = ["action", "logical id", "type", "replacement", "made by"]
    return pd.DataFrame(rows(plan), columns=columns)


def by_type(plan: Plan) -> Any:
    """The change set grouped by action, resource type and maker: how many resources, and
    their logical ids (a large change set on one screen)."""
    table = frame(plan)
    if table.empty:
        return table.assign(resources=[], **{"logical ids": []})
    grouped = table.groupby(["action", "type", "made by"], sort=True)["logical id"]
    return grouped.agg(
        resources="size", **{"logical ids": lambda ids: ", ".join(ids)}
    ).reset_index()
