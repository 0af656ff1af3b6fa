"""A driver on a virtual clock: runs a definition with in-process resources, never sleeping.

Waits and retry backoffs advance the clock instead of sleeping, so an execution with minutes
of backoff finishes at once while its history carries the times Step Functions would show.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pipeline.asl import errors
from pipeline.asl.errors import TaskFailed
from pipeline.asl.interpreter import History, Interpreter, Invoke, Wait

Resource = Callable[[Any], Any]
START = datetime(2026, 1, 1, tzinfo=UTC)


class VirtualClock:
    """Time that moves only when told to."""

    def __init__(self, start: datetime = START) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Execution:
    """The outcome of one execution, as DescribeExecution and GetExecutionHistory show it."""

    status: str
    output: Any = None
    error: str | None = None
    cause: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    start: datetime | None = None
    stop: datetime | None = None

    def count(self, event_type: str) -> int:
        """How many history events of one type (e.g. TaskFailed) the execution has."""
        return sum(1 for e in self.history if e["type"] == event_type)

    @property
    def retries(self) -> int:
        """Task attempts beyond the first of each state entry."""
        return self.count("TaskScheduled") - self.count("TaskStateEntered")


def _lambda_style_error(error: Exception) -> TaskFailed:
    """An exception from a resource, named as Lambda names it (errorType, errorMessage)."""
    cause = json.dumps({"errorMessage": str(error), "errorType": type(error).__name__})
    return TaskFailed(type(error).__name__, cause)


def execute(
    definition: Mapping[str, Any],
    input: Any,
    resources: Mapping[str, Resource],
    *,
    clock: VirtualClock | None = None,
    rng: random.Random | None = None,
    name: str | None = None,
) -> Execution:
    """Run ``definition`` on ``input``; each Task's ``Resource`` is looked up in ``resources``.

    A resource raising ``TaskFailed(error, cause)`` fails its task with that error; any other
    exception fails it with the exception's type name, as a Lambda function would.
    """
    clock = clock or VirtualClock()
    history = History(clock)
    interpreter = Interpreter(history, rng or random.Random(0))
    name = name or str(uuid.UUID(int=interpreter.rng.getrandbits(128)))
    started = clock()
    context = {
        "Execution": {
            "Id": f"arn:aws:states:us-east-1:123456789012:execution:local:{name}",
            "Name": name,
            "Input": input,
            "StartTime": started.isoformat(),
        },
        "StateMachine": {
            "Id": "arn:aws:states:us-east-1:123456789012:stateMachine:local",
            "Name": "local",
        },
    }
    history.add("ExecutionStarted", input=input)
    deadline = definition.get("TimeoutSeconds")
    run = interpreter.run(definition, input, context)
    reply: Any = None
    failure: TaskFailed | None = None
    try:
        while True:
            effect = run.throw(failure) if failure else run.send(reply)
            reply, failure = None, None
            if isinstance(effect, Wait):
                clock.advance(effect.seconds)
            elif isinstance(effect, Invoke):
                resource = resources.get(effect.resource)
                if resource is None:
                    failure = TaskFailed(errors.TASK_FAILED, f"no resource {effect.resource}")
                else:
                    try:
                        reply = resource(effect.payload)
                    except TaskFailed as raised:
                        failure = raised
                    except Exception as raised:  # a task's exception is its failure
                        failure = _lambda_style_error(raised)
            if deadline is not None and (clock() - started).total_seconds() > deadline:
                history.add("ExecutionTimedOut", error=errors.TIMEOUT)
                return Execution(
                    "TIMED_OUT",
                    None,
                    errors.TIMEOUT,
                    "execution timed out",
                    history.events,
                    started,
                    clock(),
                )
    except StopIteration as done:
        history.add("ExecutionSucceeded", output=done.value)
        return Execution("SUCCEEDED", done.value, None, None, history.events, started, clock())
    except TaskFailed as failed:
        history.add("ExecutionFailed", error=failed.error, cause=failed.cause)
        return Execution(
            "FAILED",
            None,
            failed.error or None,
            failed.cause or None,
            history.events,
            started,
            clock(),
        )
