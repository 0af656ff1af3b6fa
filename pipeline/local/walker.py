"""A deliberately small ASL walker, so the demo can run the real state machines today.

It follows Task (direct Lambda ARN), Choice (string equality, ``Or``), Succeed and Fail,
applies ``Retry`` attempt counts (without waiting) and ``Catch`` with ``ResultPath``. It is
not the interpreter: ``pipeline.asl`` (the local-cloud issue) replaces it with full
semantics (paths, intrinsics, Map/Parallel, backoff on a clock, execution history).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

Invoke = Callable[[str, dict[str, Any]], Any]


class TaskError(Exception):
    """A task failed with an ASL error name."""

    def __init__(self, error: str, cause: str) -> None:
        super().__init__(f"{error}: {cause}")
        self.error = error
        self.cause = cause


@dataclass
class Walk:
    """The outcome of one walk through a state machine."""

    status: str = "RUNNING"
    states: list[str] = field(default_factory=list)
    retries: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    cause: str | None = None
    output: Any = None


def _get(data: Any, path: str) -> Any:
    if path == "$":
        return data
    for part in path.removeprefix("$.").split("."):
        data = data[part]
    return data


def _set(data: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    if path == "$":
        return value
    out = copy.deepcopy(data)
    *parents, last = path.removeprefix("$.").split(".")
    node = out
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
    return out


def _parameters(template: Any, data: Any) -> Any:
    if isinstance(template, Mapping):
        return {
            (k[:-2] if k.endswith(".$") else k): (
                _get(data, v) if k.endswith(".$") else _parameters(v, data)
            )
            for k, v in template.items()
        }
    return template


def _matches(rule: Mapping[str, Any], data: Any) -> bool:
    if "Or" in rule:
        return any(_matches(r, data) for r in rule["Or"])
    if "StringEquals" in rule:
        return _get(data, rule["Variable"]) == rule["StringEquals"]
    raise NotImplementedError(f"Choice rule {sorted(rule)} needs the full interpreter")


def _error_matches(names: list[str], error: str) -> bool:
    return (
        error in names
        or "States.ALL" in names
        or ("States.TaskFailed" in names and not error.startswith("States."))
    )


def walk(definition: Mapping[str, Any], data: Any, invoke: Invoke, max_steps: int = 100) -> Walk:
    """Run ``definition`` on ``data``; ``invoke(resource, input)`` performs each Task."""
    result = Walk()
    name = definition["StartAt"]
    for _ in range(max_steps):
        state = definition["States"][name]
        result.states.append(name)
        kind = state["Type"]
        if kind == "Succeed":
            result.status, result.output = "SUCCEEDED", data
            return result
        if kind == "Fail":
            result.status = "FAILED"
            result.error, result.cause = state.get("Error"), state.get("Cause")
            return result
        if kind == "Choice":
            name = next(
                (c["Next"] for c in state["Choices"] if _matches(c, data)), state.get("Default")
            )
            if name is None:
                result.status, result.error = "FAILED", "States.NoChoiceMatched"
                return result
            continue
        if kind == "Pass":
            name = state["Next"]
            continue
        if kind != "Task":
            raise NotImplementedError(f"{kind} states need the full interpreter")
        request = _parameters(state.get("Parameters", {}), data)
        attempts: dict[int, int] = {}
        while True:
            try:
                output = invoke(state["Resource"], request)
                data = _set(data, state.get("ResultPath", "$"), output)
                break
            except TaskError as failure:
                retrier = next(
                    (
                        i
                        for i, r in enumerate(state.get("Retry", []))
                        if _error_matches(r["ErrorEquals"], failure.error)
                    ),
                    None,
                )
                if retrier is not None:
                    attempts[retrier] = attempts.get(retrier, 0) + 1
                    if attempts[retrier] <= state["Retry"][retrier].get("MaxAttempts", 3):
                        result.retries[name] = result.retries.get(name, 0) + 1
                        continue
                catcher = next(
                    (
                        c
                        for c in state.get("Catch", [])
                        if _error_matches(c["ErrorEquals"], failure.error)
                    ),
                    None,
                )
                if catcher is None:
                    result.status, result.error, result.cause = (
                        "FAILED",
                        failure.error,
                        failure.cause,
                    )
                    return result
                caught = {"Error": failure.error, "Cause": failure.cause}
                data = _set(data, catcher.get("ResultPath", "$"), caught)
                output = None
                state = {"Next": catcher["Next"]}
                break
        if state.get("End"):
            result.status, result.output = "SUCCEEDED", data
            return result
        name = state["Next"]
    raise RuntimeError(f"no terminal state after {max_steps} steps")
