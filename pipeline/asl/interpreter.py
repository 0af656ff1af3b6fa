"""The ASL interpreter: pure state-machine semantics that yields effects to a driver.

``run`` is a generator. It yields ``Invoke`` (call this resource with this input) and
``Wait`` (let this many seconds pass) and receives each invocation's result back, or has a
``TaskFailed`` thrown into it. It never sleeps and never calls anything itself, so one
interpreter serves the local runtime (wall clock, real handlers) and the simulator (SimPy
time, modelled latencies), with the same Retry, Catch, paths and history.

The interpreter owns control: transitions, Retry, Catch, Parallel branches, Map iterations,
variable scopes and the history. What a state reads, outputs and assigns depends on its query
language (JSONPath or JSONata) and is asked of :mod:`pipeline.asl.dataflow`.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pipeline.asl import errors
from pipeline.asl.dataflow import JSONPATH, Assigned, Env, MapLimits, StateData, data_of
from pipeline.asl.errors import DefinitionError, TaskFailed
from pipeline.asl.timestamps import parse_timestamp
from pipeline.asl.variables import Variables

__all__ = [
    "History",
    "Interpreter",
    "Invoke",
    "Wait",
    "backoff_ceiling",
    "parse_timestamp",
    "retry_delay",
]


@dataclass(frozen=True)
class Invoke:
    """Effect: call ``resource`` with ``payload``; the driver sends back the result."""

    resource: str
    payload: Any
    state: str
    timeout_s: float | None = None


@dataclass(frozen=True)
class Wait:
    """Effect: let ``seconds`` pass on the driver's clock."""

    seconds: float
    state: str
    reason: str = "wait"  # "wait" or "retry"
    # Under JitterStrategy FULL, the delay ``seconds`` was drawn from [0, jitter_ceiling].
    jitter_ceiling: float | None = None


Effect = Invoke | Wait
Run = Generator[Effect, Any, Any]


@dataclass
class History:
    """Events in the shape of Step Functions' GetExecutionHistory."""

    clock: Callable[[], datetime]
    events: list[dict[str, Any]] = field(default_factory=list)

    def add(self, kind: str, **details: Any) -> dict[str, Any]:
        event = {
            "timestamp": self.clock(),
            "type": kind,
            "id": len(self.events) + 1,
            "previousEventId": len(self.events),
        }
        key = kind[0].lower() + kind[1:] + "EventDetails"
        if details:
            event[key] = details
        self.events.append(event)
        return event


DEFAULT_RETRY = {"IntervalSeconds": 1, "MaxAttempts": 3, "BackoffRate": 2.0}


def backoff_ceiling(retrier: Mapping[str, Any], attempt: int) -> float:
    """The backoff before retry number ``attempt`` (0-based): interval x rate^attempt, capped
    at MaxDelaySeconds; the most a jittered delay can be."""
    delay = retrier.get("IntervalSeconds", DEFAULT_RETRY["IntervalSeconds"]) * (
        retrier.get("BackoffRate", DEFAULT_RETRY["BackoffRate"]) ** attempt
    )
    if "MaxDelaySeconds" in retrier:
        delay = min(delay, retrier["MaxDelaySeconds"])
    return float(delay)


def retry_delay(retrier: Mapping[str, Any], attempt: int, rng: random.Random) -> float:
    """Seconds before retry number ``attempt``: the backoff ceiling, drawn uniformly from
    [0, ceiling] under JitterStrategy FULL."""
    delay = backoff_ceiling(retrier, attempt)
    if retrier.get("JitterStrategy") == "FULL":
        delay = rng.uniform(0, delay)
    return delay


class Interpreter:
    """Runs one definition; ``history`` and ``rng`` are shared with the driver."""

    def __init__(self, history: History, rng: random.Random) -> None:
        self.history = history
        self.rng = rng
        self.language = JSONPATH  # the state machine's QueryLanguage, set by run()

    # -- machines ------------------------------------------------------------------------

    def run(
        self,
        machine: Mapping[str, Any],
        data: Any,
        context: dict[str, Any],
        variables: Variables | None = None,
    ) -> Run:
        """Run a machine (or, given the branch's scope, a Parallel branch / Map iterator) to
        its output."""
        if variables is None:  # the state machine itself
            self.language = machine.get("QueryLanguage", JSONPATH)
            variables = Variables()
        env = Env(context, variables, self.rng, self.history.clock)
        states = machine.get("States")
        name: str | None = machine.get("StartAt")
        if not states or name not in states:
            raise DefinitionError("StartAt must name a state in States")
        while name is not None:
            state = states.get(name)
            if state is None:
                raise DefinitionError(f"no state named {name!r}")
            data, name = yield from self.state(name, state, data, env)
        return data

    def state(self, name: str, state: Mapping[str, Any], data: Any, env: Env) -> Run:
        """Run one state; returns (output, next state name or None at the end)."""
        kind = state["Type"]
        entered = self.history.add(f"{kind}StateEntered", name=name, input=data)
        state_context = {
            "Name": name,
            "EnteredTime": _iso(entered["timestamp"]),
            "RetryCount": 0,
        }
        env = env.entering({**env.context, "State": state_context}, entered["id"])
        try:
            return (yield from self._state(name, kind, state, data, env))
        except TaskFailed as failure:
            raise _located(failure, name, entered["id"]) from None

    def _state(self, name: str, kind: str, state: Mapping[str, Any], data: Any, env: Env) -> Run:
        flow = data_of(name, state, data, env, self.language)
        if kind == "Fail":
            raise flow.failure()
        if kind == "Succeed":
            output = flow.succeed()
            self.history.add("SucceedStateExited", name=name, output=output)
            return output, None
        if kind == "Choice":
            target, output, assigned = flow.choose()
            if target is None:
                raise TaskFailed(errors.NO_CHOICE_MATCHED, f"no choice rule matched in {name}")
            return self._exit(name, kind, output, assigned, env), target
        if kind == "Wait":
            yield Wait(flow.wait_seconds(), name)
            output, assigned = flow.after_wait()
            return self._exit(name, kind, output, assigned, env), _next(state)
        if kind in ("Pass", "Task", "Parallel", "Map"):
            outcome = yield from self._with_retry_and_catch(name, state, flow, env)
            if isinstance(outcome, _Caught):
                return self._exit(name, kind, outcome.data, outcome.assigned, env), outcome.next
            output, assigned = outcome
            return self._exit(name, kind, output, assigned, env), _next(state)
        raise DefinitionError(f"unknown state type {kind!r} in {name}")

    def _exit(self, name: str, kind: str, output: Any, assigned: Assigned, env: Env) -> Any:
        """The state ends: its assignments take effect, then it exits with ``output`` (the
        event names what it assigned, each value as JSON text, as GetExecutionHistory does)."""
        env.variables.assign(assigned, name)
        details: dict[str, Any] = {"name": name, "output": output}
        if assigned:
            details["assignedVariables"] = {
                k: json.dumps(v, separators=(",", ":"), ensure_ascii=False)
                for k, v in assigned.items()
            }
        self.history.add(f"{kind}StateExited", **details)
        return output

    # -- retry and catch -----------------------------------------------------------------

    def _with_retry_and_catch(
        self, name: str, state: Mapping[str, Any], flow: StateData, env: Env
    ) -> Run:
        retriers = state.get("Retry", [])
        counts = [0] * len(retriers)
        retries = 0
        while True:
            try:
                env.context["State"]["RetryCount"] = retries
                return (yield from self._body(name, state, flow, env))
            except TaskFailed as failure:
                if failure.error == errors.RUNTIME:
                    raise
                failure = _located(failure, name, env.entered)
                index = next(
                    (
                        i
                        for i, r in enumerate(retriers)
                        if errors.matches(r["ErrorEquals"], failure.error)
                    ),
                    None,
                )
                if index is not None:
                    retrier = retriers[index]
                    if counts[index] < retrier.get("MaxAttempts", DEFAULT_RETRY["MaxAttempts"]):
                        delay = retry_delay(retrier, counts[index], self.rng)
                        jittered = retrier.get("JitterStrategy") == "FULL"
                        ceiling = backoff_ceiling(retrier, counts[index]) if jittered else None
                        counts[index] += 1
                        retries += 1
                        yield Wait(delay, name, "retry", ceiling)
                        continue
                for position, catcher in enumerate(state.get("Catch", [])):
                    if errors.matches(catcher["ErrorEquals"], failure.error):
                        caught = {"Error": failure.error, "Cause": failure.cause}
                        output, assigned = flow.caught(position, catcher, caught)
                        return _Caught(output, catcher["Next"], assigned)
                raise failure from None

    def _body(self, name: str, state: Mapping[str, Any], flow: StateData, env: Env) -> Run:
        kind = state["Type"]
        work = flow.work_input()
        if kind == "Pass":
            result = flow.pass_result(work)
        elif kind == "Task":
            result = yield from self._task(name, state, work, flow.timeout(work))
        elif kind == "Parallel":
            result = yield from self._parallel(name, state, work, env)
        else:
            result = yield from self._map(name, state, work, flow, env)
        _within_payload_limit(name, result)
        return flow.finish(result)

    def _task(self, name: str, state: Mapping[str, Any], payload: Any, timeout: Any) -> Run:
        resource = state["Resource"]
        self.history.add(
            "TaskScheduled", resource=resource, parameters=payload, timeoutInSeconds=timeout
        )
        self.history.add("TaskStarted", resource=resource)
        try:
            result = yield Invoke(resource, payload, name, timeout)
        except TaskFailed as failure:
            kind = "TaskTimedOut" if failure.error == errors.TIMEOUT else "TaskFailed"
            self.history.add(kind, resource=resource, error=failure.error, cause=failure.cause)
            raise
        self.history.add("TaskSucceeded", resource=resource, output=result)
        return result

    def _parallel(self, name: str, state: Mapping[str, Any], data: Any, env: Env) -> Run:
        self.history.add("ParallelStateStarted")
        results = []
        for branch in state["Branches"]:
            scope = env.variables.child()
            try:
                results.append((yield from self.run(branch, data, env.context, scope)))
            except TaskFailed:
                self.history.add("ParallelStateFailed")
                raise
            finally:
                scope.release()
        self.history.add("ParallelStateSucceeded")
        return results

    def _map(
        self, name: str, state: Mapping[str, Any], work: Any, flow: StateData, env: Env
    ) -> Run:
        limits = flow.map_limits(work)
        items = flow.map_items(work)
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if not processor:
            raise DefinitionError(f"{name}: a Map state needs an ItemProcessor")
        distributed = (processor.get("ProcessorConfig") or {}).get("Mode") == "DISTRIBUTED"
        self.history.add("MapStateStarted", length=len(items))
        results: list[Any] = []
        failures = 0
        for index, item in enumerate(items):
            item_context = {**env.context, "Map": {"Item": {"Index": index, "Value": item}}}
            value = flow.item_value(work, item, item_context)
            self.history.add("MapIterationStarted", name=name, index=index)
            # a distributed Map's iterations are child executions: they read no outer variable
            scope = env.variables.child(isolated=distributed)
            try:
                results.append((yield from self.run(processor, value, item_context, scope)))
                self.history.add("MapIterationSucceeded", name=name, index=index)
            except TaskFailed as failure:
                self.history.add("MapIterationFailed", name=name, index=index)
                failures += 1
                if _beyond_tolerance(limits, failures, len(items), failure):
                    self.history.add("MapStateFailed")
                    raise
                results.append(None)
            finally:
                scope.release()
        self.history.add("MapStateSucceeded")
        return results


def _beyond_tolerance(limits: MapLimits, failures: int, total: int, failure: TaskFailed) -> bool:
    """Whether ``failures`` of ``total`` iterations fail the Map; raises the threshold error
    when tolerances were set and are exceeded."""
    if not (limits.count or limits.percentage):
        return True
    if failures > limits.count and 100 * failures / total > limits.percentage:
        raise TaskFailed(
            errors.EXCEED_TOLERATED_FAILURE, f"{failures} of {total} iterations failed"
        ) from failure
    return False


def _located(failure: TaskFailed, name: str, entered_id: int) -> TaskFailed:
    """An error the interpreter raised, with the prefix Step Functions gives its cause (said
    once, at the innermost state)."""
    if failure.error not in (errors.RUNTIME, errors.QUERY_EVALUATION) or getattr(
        failure, "located", False
    ):
        return failure
    located = TaskFailed(
        failure.error,
        f"An error occurred while executing the state '{name}' "
        f"(entered at the event id #{entered_id}). {failure.cause}",
    )
    located.located = True
    return located


@dataclass(frozen=True)
class _Caught:
    """A caught error: the state's output and where the Catch sends it."""

    data: Any
    next: str
    assigned: Assigned


def _next(state: Mapping[str, Any]) -> str | None:
    if state.get("End"):
        return None
    if "Next" not in state:
        raise DefinitionError("a state needs Next or End")
    return str(state["Next"])


def _within_payload_limit(name: str, result: Any) -> None:
    """A state's result is limited to 256 KiB of UTF-8 JSON (Step Functions quotas)."""
    if isinstance(result, str | dict | list) and _size(result) > errors.PAYLOAD_LIMIT_BYTES:
        raise TaskFailed(
            errors.DATA_LIMIT_EXCEEDED,
            f"The state/task '{name}' returned a result with a size exceeding the maximum "
            "number of bytes service limit.",
        )


def _size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
