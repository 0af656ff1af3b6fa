"""The ASL interpreter: pure state-machine semantics that yields effects to a driver.

``run`` is a generator. It yields ``Invoke`` (call this resource with this input) and
``Wait`` (let this many seconds pass) and receives each invocation's result back, or has a
``TaskFailed`` thrown into it. It never sleeps and never calls anything itself, so one
interpreter serves the local runtime (wall clock, real handlers) and the simulator (SimPy
time, modelled latencies), with the same Retry, Catch, paths and history.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pipeline.asl import choice, errors, intrinsics, paths
from pipeline.asl.errors import DefinitionError, TaskFailed


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
    return delay


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

    def intrinsic(self, expression: str, data: Any, context: Any) -> Any:
        return intrinsics.evaluate(expression, data, context, self.rng)

    def template(self, template: Any, data: Any, context: Any) -> Any:
        return paths.resolve_template(template, data, context, self.intrinsic)

    # -- machines ------------------------------------------------------------------------

    def run(self, machine: Mapping[str, Any], data: Any, context: dict[str, Any]) -> Run:
        """Run a machine (or a Parallel branch / Map iterator) to its output."""
        states = machine.get("States")
        name = machine.get("StartAt")
        if not states or name not in states:
            raise DefinitionError("StartAt must name a state in States")
        while True:
            state = states.get(name)
            if state is None:
                raise DefinitionError(f"no state named {name!r}")
            data, name = yield from self.state(name, state, data, context)
            if name is None:
                return data

    def state(self, name: str, state: Mapping[str, Any], data: Any, context: dict) -> Run:
        """Run one state; returns (output, next state name or None at the end)."""
        kind = state["Type"]
        entered = self.history.add(f"{kind}StateEntered", name=name, input=data)
        context = {
            **context,
            "State": {"Name": name, "EnteredTime": _iso(entered["timestamp"]), "RetryCount": 0},
        }
        try:
            return (yield from self._state(name, kind, state, data, context))
        except TaskFailed as failure:
            if failure.error == errors.RUNTIME and not getattr(failure, "located", False):
                # Step Functions says where a runtime error happened, as it words it.
                located = TaskFailed(
                    errors.RUNTIME,
                    f"An error occurred while executing the state '{name}' "
                    f"(entered at the event id #{entered['id']}). {failure.cause}",
                )
                located.located = True  # type: ignore[attr-defined]
                raise located from None
            raise

    def _state(
        self, name: str, kind: str, state: Mapping[str, Any], data: Any, context: dict
    ) -> Run:
        if kind == "Fail":
            error = state.get("Error") or (
                self._path_or_intrinsic(state["ErrorPath"], data, context)
                if "ErrorPath" in state
                else None
            )
            cause = state.get("Cause") or (
                self._path_or_intrinsic(state["CausePath"], data, context)
                if "CausePath" in state
                else None
            )
            raise TaskFailed(str(error or ""), str(cause or ""))
        if kind == "Succeed":
            output = paths.output_path(state, paths.input_path(state, data, context), context)
            self.history.add("SucceedStateExited", name=name, output=output)
            return output, None
        if kind == "Choice":
            effective = paths.input_path(state, data, context)
            target = next(
                (c["Next"] for c in state["Choices"] if choice.evaluate(c, effective, context)),
                state.get("Default"),
            )
            if target is None:
                raise TaskFailed(errors.NO_CHOICE_MATCHED, f"no choice rule matched in {name}")
            output = paths.output_path(state, effective, context)
            self.history.add("ChoiceStateExited", name=name, output=output)
            return output, target
        if kind == "Wait":
            effective = paths.input_path(state, data, context)
            yield Wait(self._wait_seconds(state, effective, context), name)
            output = paths.output_path(state, effective, context)
            self.history.add("WaitStateExited", name=name, output=output)
            return output, _next(state)
        if kind in ("Pass", "Task", "Parallel", "Map"):
            output = yield from self._with_retry_and_catch(name, state, data, context)
            if isinstance(output, _Caught):
                self.history.add(f"{kind}StateExited", name=name, output=output.data)
                return output.data, output.next
            self.history.add(f"{kind}StateExited", name=name, output=output)
            return output, _next(state)
        raise DefinitionError(f"unknown state type {kind!r} in {name}")

    def _path_or_intrinsic(self, expression: str, data: Any, context: Any) -> Any:
        if expression.startswith("$"):
            return paths.read(expression, data, context)
        return self.intrinsic(expression, data, context)

    def _wait_seconds(self, state: Mapping[str, Any], data: Any, context: Any) -> float:
        if "Seconds" in state:
            return float(state["Seconds"])
        if "SecondsPath" in state:
            path = state["SecondsPath"]
            seconds = paths.read(path, data, context)
            if (
                isinstance(seconds, bool)
                or not isinstance(seconds, int | float)
                or seconds != int(seconds)
            ):
                raise TaskFailed(
                    errors.RUNTIME,
                    f"The SecondsPath parameter cannot be parsed as a long value: "
                    f"{path} == {_text(seconds)}",
                )
            if seconds < 0:
                raise TaskFailed(
                    errors.RUNTIME,
                    f"The SecondsPath parameter references a negative value: "
                    f"{path} == {_text(seconds)}",
                )
            return float(seconds)
        if "Timestamp" in state:
            stamp = state["Timestamp"]
            where, subject = stamp, "Timestamp field is not"
        else:
            stamp = paths.read(state["TimestampPath"], data, context)
            where = f"{state['TimestampPath']} == {_text(stamp)}"
            subject = "TimestampPath parameter does not reference"
        when = parse_timestamp(stamp)
        if when is None:
            raise TaskFailed(
                errors.RUNTIME,
                f"The {subject} a valid ISO-8601 extended offset date-time format string: {where}",
            )
        return max(0.0, (when - self.history.clock()).total_seconds())

    # -- retry and catch -----------------------------------------------------------------

    def _with_retry_and_catch(
        self, name: str, state: Mapping[str, Any], data: Any, context: dict
    ) -> Run:
        retriers = state.get("Retry", [])
        counts = [0] * len(retriers)
        retries = 0
        while True:
            try:
                context["State"]["RetryCount"] = retries
                return (yield from self._body(name, state, data, context))
            except TaskFailed as failure:
                if failure.error == errors.RUNTIME:
                    raise
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
                for catcher in state.get("Catch", []):
                    if errors.matches(catcher["ErrorEquals"], failure.error):
                        caught = {"Error": failure.error, "Cause": failure.cause}
                        output = paths.result_path(catcher, data, caught)
                        return _Caught(output, catcher["Next"])
                raise

    def _body(self, name: str, state: Mapping[str, Any], data: Any, context: dict) -> Run:
        kind = state["Type"]
        effective = paths.input_path(state, data, context)
        if "Parameters" in state and kind != "Map":  # a Map's Parameters select each item
            effective = self.template(state["Parameters"], effective, context)
        if kind == "Pass":
            result = state.get("Result", effective)
        elif kind == "Task":
            result = yield from self._task(name, state, effective, context)
        elif kind == "Parallel":
            result = yield from self._parallel(name, state, effective, context)
        else:
            result = yield from self._map(name, state, effective, context)
        _within_payload_limit(name, result)
        if "ResultSelector" in state:
            result = self.template(state["ResultSelector"], result, context)
        output = paths.result_path(state, data, result)
        return paths.output_path(state, output, context)

    def _task(self, name: str, state: Mapping[str, Any], payload: Any, context: dict) -> Run:
        resource = state["Resource"]
        timeout = state.get("TimeoutSeconds")
        if "TimeoutSecondsPath" in state:
            timeout = paths.read(state["TimeoutSecondsPath"], payload, context)
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

    def _parallel(self, name: str, state: Mapping[str, Any], data: Any, context: dict) -> Run:
        self.history.add("ParallelStateStarted")
        results = []
        for branch in state["Branches"]:
            try:
                results.append((yield from self.run(branch, data, context)))
            except TaskFailed:
                self.history.add("ParallelStateFailed")
                raise
        self.history.add("ParallelStateSucceeded")
        return results

    def _map(self, name: str, state: Mapping[str, Any], data: Any, context: dict) -> Run:
        if "MaxConcurrencyPath" in state:  # iterations run one by one; still validated
            limit = paths.read(state["MaxConcurrencyPath"], data, context)
            if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
                raise TaskFailed(
                    errors.RUNTIME,
                    f'The MaxConcurrencyPath field refers to value "{_text(limit)}" '
                    f"which is not a valid integer: {state['MaxConcurrencyPath']}",
                )
        items = paths.read(state.get("ItemsPath", "$"), data, context)
        if not isinstance(items, list):
            raise TaskFailed(errors.RUNTIME, f"ItemsPath of {name} did not select an array")
        processor = state.get("ItemProcessor") or state.get("Iterator")
        selector = state.get("ItemSelector", state.get("Parameters"))
        tolerated_count = state.get("ToleratedFailureCount", 0)
        tolerated_share = state.get("ToleratedFailurePercentage", 0)
        self.history.add("MapStateStarted", length=len(items))
        results: list[Any] = []
        failures = 0
        for index, item in enumerate(items):
            item_context = {**context, "Map": {"Item": {"Index": index, "Value": item}}}
            value = self.template(selector, data, item_context) if selector is not None else item
            self.history.add("MapIterationStarted", name=name, index=index)
            try:
                results.append((yield from self.run(processor, value, item_context)))
                self.history.add("MapIterationSucceeded", name=name, index=index)
            except TaskFailed as failure:
                self.history.add("MapIterationFailed", name=name, index=index)
                failures += 1
                if not (tolerated_count or tolerated_share):
                    self.history.add("MapStateFailed")
                    raise
                if failures > tolerated_count and (100 * failures / len(items) > tolerated_share):
                    self.history.add("MapStateFailed")
                    raise TaskFailed(
                        errors.EXCEED_TOLERATED_FAILURE,
                        f"{failures} of {len(items)} iterations failed",
                    ) from failure
                results.append(None)
        self.history.add("MapStateSucceeded")
        return results


@dataclass(frozen=True)
class _Caught:
    """A caught error: the state's output and where the Catch sends it."""

    data: Any
    next: str


def _next(state: Mapping[str, Any]) -> str | None:
    if state.get("End"):
        return None
    if "Next" not in state:
        raise DefinitionError("a state needs Next or End")
    return state["Next"]


_OFFSET_DATE_TIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$"
)


def parse_timestamp(value: Any) -> datetime | None:
    """An ISO-8601 extended offset date-time (``2016-03-14T01:59:00Z``; the ``T`` and the
    offset are required, as Step Functions requires them), or None."""
    if not isinstance(value, str) or not _OFFSET_DATE_TIME.match(value):
        return None
    text = value.replace("Z", "+00:00")
    whole, dot, rest = text.partition(".")
    if dot:  # Python takes at most 6 fraction digits
        digits = re.match(r"\d+", rest)
        assert digits is not None
        text = f"{whole}.{digits.group()[:6].ljust(6, '0')}{rest[digits.end() :]}"
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


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


def _text(value: Any) -> str:
    """A value as Step Functions quotes it in a cause: strings bare, the rest as JSON."""
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
