"""A driver on a virtual clock: runs a definition with in-process resources, never sleeping.

Waits and retry backoffs advance the clock instead of sleeping, so an execution with minutes
of backoff finishes at once while its history carries the times Step Functions would show.
"""

from __future__ import annotations

import json
import random
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pipeline.asl import errors, validation
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

    @property
    def input(self) -> Any:
        """The input the execution started with, as its ``ExecutionStarted`` event carries it
        (``{}`` without one)."""
        if not self.history:
            return {}
        return self.history[0].get("executionStartedEventDetails", {}).get("input", {})

    def count(self, event_type: str) -> int:
        """How many history events of one type (e.g. TaskFailed) the execution has."""
        return sum(1 for e in self.history if e["type"] == event_type)

    @property
    def retries(self) -> int:
        """Task attempts beyond the first of each state entry."""
        return self.count("TaskScheduled") - self.count("TaskStateEntered")

    def retries_by_state(self) -> Counter[str]:
        """Task attempts beyond the first of each entry, per Task state name."""
        counts: Counter[str] = Counter()
        state, first = None, False
        for event in self.history:
            if event["type"] == "TaskStateEntered":
                state, first = event["taskStateEnteredEventDetails"]["name"], True
            elif event["type"] == "TaskScheduled":
                if first:
                    first = False
                elif state is not None:
                    counts[state] += 1
        return counts


def lambda_style_error(error: Exception) -> TaskFailed:
    """An exception from a resource, named as Lambda names it (errorType, errorMessage)."""
    cause = json.dumps({"errorMessage": str(error), "errorType": type(error).__name__})
    return TaskFailed(type(error).__name__, cause)


class ExecutionRun:
    """One execution driven step by step: :meth:`step` runs until the execution waits (and
    returns the seconds to wait) or ends (returns None, with :attr:`result` set).

    The caller owns time: :func:`execute` advances a virtual clock between steps; the local
    runtime schedules the next step on its own clock, so many executions interleave.

    With ``resources=None`` the caller also owns the tasks: :meth:`step` returns each
    :class:`Invoke` instead of calling anything, and the caller hands back the outcome with
    :meth:`resume` before the next step (the simulator's driver spends modelled time there).
    """

    def __init__(
        self,
        definition: Mapping[str, Any],
        input: Any,
        resources: Mapping[str, Resource] | None,
        *,
        clock: Callable[[], datetime],
        rng: random.Random | None = None,
        name: str | None = None,
    ) -> None:
        validation.check(definition)  # what CreateStateMachine would refuse, refused here
        self.clock, self.resources = clock, resources
        self.history = History(clock)
        interpreter = Interpreter(self.history, rng or random.Random(0))
        self.name = name or str(uuid.UUID(int=interpreter.rng.getrandbits(128)))
        self.started = clock()
        context = {
            "Execution": {
                "Id": f"arn:aws:states:us-east-1:123456789012:execution:local:{self.name}",
                "Name": self.name,
                "Input": input,
                "StartTime": self.started.isoformat(),
                "RoleArn": "arn:aws:iam::123456789012:role/local-state-machine",
                "RedriveCount": 0,
            },
            "StateMachine": {
                "Id": "arn:aws:states:us-east-1:123456789012:stateMachine:local",
                "Name": "local",
            },
        }
        self.history.add("ExecutionStarted", input=input)
        self.deadline = definition.get("TimeoutSeconds")
        self._run = interpreter.run(definition, input, context)
        self._waited = False
        self.wait: Wait | None = None  # the Wait effect behind the seconds step() last returned
        self._reply: Any = None
        self._failure: TaskFailed | None = None
        self.result: Execution | None = None

    def resume(self, result: Any = None, failure: TaskFailed | None = None) -> None:
        """The outcome of the Invoke the last :meth:`step` returned (external tasks only)."""
        self._reply, self._failure = result, failure

    def step(self) -> float | Invoke | None:
        reply, failure = self._reply, self._failure
        self._reply, self._failure = None, None
        try:
            while True:
                if self._waited:
                    self._waited = False
                    if self._timed_out():
                        return None
                effect = self._run.throw(failure) if failure else self._run.send(reply)
                reply, failure = None, None
                if isinstance(effect, Wait):
                    self._waited, self.wait = True, effect
                    return effect.seconds
                if isinstance(effect, Invoke):
                    if self.resources is None:
                        return effect  # the caller runs it, then calls resume()
                    reply, failure = self._invoke(effect)
                if self._timed_out():
                    return None
        except StopIteration as done:
            self.history.add("ExecutionSucceeded", output=done.value)
            self.result = self._outcome("SUCCEEDED", done.value, None, None)
        except TaskFailed as failed:
            self.history.add("ExecutionFailed", error=failed.error, cause=failed.cause)
            self.result = self._outcome("FAILED", None, failed.error or None, failed.cause or None)
        return None

    def _invoke(self, effect: Invoke) -> tuple[Any, TaskFailed | None]:
        assert self.resources is not None
        resource = self.resources.get(effect.resource)
        if resource is None:
            known = ", ".join(sorted(self.resources)) or "none"
            return None, TaskFailed(
                errors.TASK_FAILED,
                f"The Task's Resource '{effect.resource}' is not one this run can call "
                f"(it has: {known}).",
            )
        try:
            return resource(effect.payload), None
        except TaskFailed as raised:
            return None, raised
        except Exception as raised:  # a task's exception is its failure
            return None, lambda_style_error(raised)

    def _timed_out(self) -> bool:
        if self.deadline is None or (self.clock() - self.started).total_seconds() <= self.deadline:
            return False
        self.history.add("ExecutionTimedOut", error=errors.TIMEOUT)
        self.result = self._outcome("TIMED_OUT", None, errors.TIMEOUT, "execution timed out")
        return True

    def _outcome(self, status: str, output: Any, error: str | None, cause: str | None) -> Execution:
        return Execution(
            status, output, error, cause, self.history.events, self.started, self.clock()
        )


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
    run = ExecutionRun(definition, input, resources, clock=clock, rng=rng, name=name)
    while (seconds := run.step()) is not None:
        assert not isinstance(seconds, Invoke)  # resources given: tasks run inside step()
        clock.advance(seconds)
    assert run.result is not None
    return run.result
