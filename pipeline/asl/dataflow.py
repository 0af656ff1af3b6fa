"""A state's data in its query language: what it works on, what it outputs, what it assigns.

The interpreter owns control (transitions, Retry, Catch, effects, history); for each state it
enters it asks a :class:`JsonPathData` or a :class:`JsonataData` about the data:

- JSONPath: ``InputPath`` -> ``Parameters`` -> the work -> ``ResultSelector`` ->
  ``ResultPath`` -> ``OutputPath``; ``.$`` templates, intrinsic functions, ``$$`` and
  ``$variable`` paths; ``Assign`` reads the state's result (its input for Choice and Wait, the
  error output in a Catch).
- JSONata: ``Arguments`` -> the work -> ``Output`` and ``Assign``; ``{% %}`` expressions over
  ``$states`` (``input``, ``result``, ``errorOutput``, ``context``) and the variables.

Both return the assignments instead of making them: the interpreter stores them when the
state ends, so everything a state evaluates reads the variables from before it.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pipeline.asl import choice, errors, intrinsics, paths
from pipeline.asl.errors import TaskFailed
from pipeline.asl.expressions import Evaluator, compact, expression_text, query_error
from pipeline.asl.timestamps import parse_timestamp
from pipeline.asl.variables import Variables

JSONPATH, JSONATA = "JSONPath", "JSONata"
Assigned = dict[str, Any]


@dataclass
class Env:
    """What a state reads besides its input: the context object and the variables in scope."""

    context: dict[str, Any]
    variables: Variables
    rng: random.Random
    clock: Callable[[], datetime]
    entered: int = 0  # the id of the entered state's *StateEntered event

    def entering(self, context: dict[str, Any], entered: int) -> Env:
        return Env(context, self.variables, self.rng, self.clock, entered)


@dataclass(frozen=True)
class MapLimits:
    """A Map state's tolerated failures (count, percentage); 0 and 0 tolerate none."""

    count: float = 0
    percentage: float = 0


class JsonPathData:
    """One entered state's data, in JSONPath."""

    def __init__(self, name: str, state: Mapping[str, Any], data: Any, env: Env) -> None:
        self.name, self.state, self.data, self.env = name, state, data, env

    # -- paths and templates -------------------------------------------------------------

    def read(self, path: str, data: Any) -> Any:
        return paths.read(path, data, self.env.context, self.env.variables)

    def template(self, template: Any, data: Any, context: dict[str, Any] | None = None) -> Any:
        variables, rng = self.env.variables, self.env.rng

        def intrinsic(expression: str, data: Any, context: Any) -> Any:
            return intrinsics.evaluate(expression, data, context, rng, variables)

        return paths.resolve_template(
            template,
            data,
            self.env.context if context is None else context,
            intrinsic,
            variables,
        )

    def _effective(self) -> Any:
        return paths.input_path(self.state, self.data, self.env.context, self.env.variables)

    def _output(self, data: Any) -> Any:
        return paths.output_path(self.state, data, self.env.context, self.env.variables)

    def _assign(self, holder: Mapping[str, Any], data: Any) -> Assigned:
        return self.template(holder["Assign"], data) if "Assign" in holder else {}

    # -- Pass, Task, Parallel, Map ---------------------------------------------------------

    def work_input(self) -> Any:
        effective = self._effective()
        if "Parameters" in self.state and self.state["Type"] != "Map":  # Map: per item
            effective = self.template(self.state["Parameters"], effective)
        return effective

    def pass_result(self, work: Any) -> Any:
        return self.state.get("Result", work)

    def timeout(self, work: Any) -> float | None:
        if "TimeoutSecondsPath" in self.state:
            seconds: float | None = self.read(self.state["TimeoutSecondsPath"], work)
            return seconds
        return self.state.get("TimeoutSeconds")

    def finish(self, result: Any) -> tuple[Any, Assigned]:
        if "ResultSelector" in self.state:
            result = self.template(self.state["ResultSelector"], result)
        assigned = self._assign(self.state, result)
        output = paths.result_path(self.state, self.data, result)
        return self._output(output), assigned

    def caught(self, index: int, catcher: Mapping[str, Any], error: Any) -> tuple[Any, Assigned]:
        return paths.result_path(catcher, self.data, error), self._assign(catcher, error)

    # -- Map -------------------------------------------------------------------------------

    def map_items(self, work: Any) -> list[Any]:
        items = self.read(self.state.get("ItemsPath", "$"), work)
        if not isinstance(items, list):
            raise TaskFailed(errors.RUNTIME, f"ItemsPath of {self.name} did not select an array")
        return items

    def map_limits(self, work: Any) -> MapLimits:
        state = self.state
        if "MaxConcurrencyPath" in state:  # iterations run one by one; still validated
            self._path_number("MaxConcurrencyPath", work, "integer", minimum=0)
        count = state.get("ToleratedFailureCount", 0)
        if "ToleratedFailureCountPath" in state:
            count = self._path_number("ToleratedFailureCountPath", work, "integer")
        percentage = state.get("ToleratedFailurePercentage", 0)
        if "ToleratedFailurePercentagePath" in state:
            percentage = self._path_number("ToleratedFailurePercentagePath", work, "float")
        return _checked_limits(count, percentage, errors.RUNTIME)

    def _path_number(self, key: str, work: Any, kind: str, minimum: float | None = None) -> Any:
        """The number a ``*Path`` field selects; anything else fails as AWS words it."""
        path = self.state[key]
        value = self.read(path, work)
        number = not isinstance(value, bool) and isinstance(
            value, int if kind == "integer" else int | float
        )
        if not number or (minimum is not None and value < minimum):
            raise TaskFailed(
                errors.RUNTIME,
                f'The {key} field refers to value "{_text(value)}" which is not a valid '
                f"{kind}: {path}",
            )
        return value

    def item_value(self, work: Any, item: Any, context: dict[str, Any]) -> Any:
        selector = self.state.get("ItemSelector", self.state.get("Parameters"))
        return item if selector is None else self.template(selector, work, context)

    # -- Choice, Wait, Succeed, Fail -------------------------------------------------------

    def choose(self) -> tuple[str | None, Any, Assigned]:
        effective = self._effective()
        env = self.env
        rule = next(
            (
                r
                for r in self.state["Choices"]
                if choice.evaluate(r, effective, env.context, env.variables)
            ),
            None,
        )
        target = rule["Next"] if rule is not None else self.state.get("Default")
        # The state's Assign applies whichever rule matches; a matched rule's own Assign is
        # added to it and wins on a name both assign (AWS, "Choice workflow state").
        assigned = self._assign(self.state, effective)
        if rule is not None:
            assigned.update(self._assign(rule, effective))
        return target, self._output(effective), assigned

    def wait_seconds(self) -> float:
        state, effective = self.state, self._effective()
        if "Seconds" in state:
            return float(state["Seconds"])
        if "SecondsPath" in state:
            path = state["SecondsPath"]
            seconds = self._wait_read("SecondsPath", path, effective)
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
            path = state["TimestampPath"]
            stamp = self._wait_read("TimestampPath", path, effective)
            where = f"{path} == {_text(stamp)}"
            subject = "TimestampPath parameter does not reference"
        when = parse_timestamp(stamp)
        if when is None:
            raise TaskFailed(
                errors.RUNTIME,
                f"The {subject} a valid ISO-8601 extended offset date-time format string: {where}",
            )
        return max(0.0, (when - self.env.clock()).total_seconds())

    def _wait_read(self, field: str, path: str, effective: Any) -> Any:
        try:
            return self.read(path, effective)
        except paths.PathNotFound:
            raise TaskFailed(
                errors.RUNTIME, f"The {field} parameter does not reference an input value: {path}"
            ) from None

    def after_wait(self) -> tuple[Any, Assigned]:
        effective = self._effective()
        return self._output(effective), self._assign(self.state, effective)

    def succeed(self) -> Any:
        return self._output(self._effective())

    def failure(self) -> TaskFailed:
        state = self.state
        error = state.get("Error") or (
            self._path_or_intrinsic(state["ErrorPath"]) if "ErrorPath" in state else None
        )
        cause = state.get("Cause") or (
            self._path_or_intrinsic(state["CausePath"]) if "CausePath" in state else None
        )
        return TaskFailed(str(error or ""), str(cause or ""))

    def _path_or_intrinsic(self, expression: str) -> Any:
        if expression.startswith("$"):
            return self.read(expression, self.data)
        return intrinsics.evaluate(
            expression, self.data, self.env.context, self.env.rng, self.env.variables
        )


class JsonataData:
    """One entered state's data, in JSONata."""

    def __init__(self, name: str, state: Mapping[str, Any], data: Any, env: Env) -> None:
        self.name, self.state, self.data, self.env = name, state, data, env
        self._evaluator: Evaluator | None = None

    @property
    def evaluator(self) -> Evaluator:
        if self._evaluator is None:  # made once per state entry: the variables are fixed
            self._evaluator = Evaluator(
                {"input": self.data, "context": self.env.context},
                self.env.variables.visible(),
                self.env.rng,
                self.env.clock,
            )
        return self._evaluator

    def _field(self, holder: Mapping[str, Any], key: str, default: Any, prefix: str = "") -> Any:
        if key not in holder:
            return default
        value = holder[key]
        if not isinstance(value, dict | list) and expression_text(value) is None:
            return value  # a literal: nothing to evaluate
        return self.evaluator.resolve(value, prefix + key)

    def _assign(
        self, holder: Mapping[str, Any], evaluator: Evaluator, prefix: str = ""
    ) -> Assigned:
        if "Assign" not in holder:
            return {}
        assigned = evaluator.resolve(holder["Assign"], prefix + "Assign")
        if not isinstance(assigned, dict):
            raise query_error(f"The field '{prefix}Assign' must be an object of variables.")
        return assigned

    # -- Pass, Task, Parallel, Map ---------------------------------------------------------

    def work_input(self) -> Any:
        if self.state["Type"] in ("Task", "Parallel"):
            return self._field(self.state, "Arguments", self.data)
        return self.data

    def pass_result(self, work: Any) -> Any:
        return work

    def timeout(self, work: Any) -> float | None:
        if "HeartbeatSeconds" in self.state:
            self._seconds("HeartbeatSeconds")
        return self._seconds("TimeoutSeconds") if "TimeoutSeconds" in self.state else None

    def _seconds(self, key: str, least: int = 1) -> int:
        """A whole number of seconds, at least ``least`` (1 for timeouts, 0 for a Wait)."""
        value = self._field(self.state, key, None)
        whole = not isinstance(value, bool) and isinstance(value, int | float)
        if not whole or value != int(value) or value < least:
            kind = "positive" if least > 0 else "non-negative"
            raise query_error(
                f"The field '{key}' must be a {kind} integer, but was: {compact(value)}"
            )
        return int(value)

    def finish(self, result: Any) -> tuple[Any, Assigned]:
        evaluator = self.evaluator
        if self.state["Type"] != "Pass":
            evaluator = evaluator.with_states(result=result)
        assigned = self._assign(self.state, evaluator)
        if "Output" in self.state:
            return evaluator.resolve(self.state["Output"], "Output"), assigned
        return result, assigned

    def caught(self, index: int, catcher: Mapping[str, Any], error: Any) -> tuple[Any, Assigned]:
        evaluator = self.evaluator.with_states(errorOutput=error)
        prefix = f"Catch[{index}]/"
        assigned = self._assign(catcher, evaluator, prefix)
        if "Output" in catcher:
            return evaluator.resolve(catcher["Output"], prefix + "Output"), assigned
        return error, assigned

    # -- Map -------------------------------------------------------------------------------

    def map_items(self, work: Any) -> list[Any]:
        if "Items" not in self.state:
            if not isinstance(work, list):
                raise query_error(f"Map state input must be an array but was: {compact(work)}")
            return work
        items = self.evaluator.typed(self.state["Items"], "Items", "array")
        if not isinstance(items, list):
            raise query_error(f"The field 'Items' must be an array, but was: {compact(items)}")
        return items

    def map_limits(self, work: Any) -> MapLimits:
        if "MaxConcurrency" in self.state:
            limit = self.evaluator.resolve(self.state["MaxConcurrency"], "MaxConcurrency")
            if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
                raise query_error(
                    f"The field 'MaxConcurrency' must be a non-negative integer, but was: "
                    f"{compact(limit)}"
                )
        count = self._field(self.state, "ToleratedFailureCount", 0)
        percentage = self._field(self.state, "ToleratedFailurePercentage", 0)
        for key, value in (
            ("ToleratedFailureCount", count),
            ("ToleratedFailurePercentage", percentage),
        ):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise query_error(f"The field '{key}' must be a number, but was: {compact(value)}")
        return _checked_limits(count, percentage, errors.QUERY_EVALUATION)

    def item_value(self, work: Any, item: Any, context: dict[str, Any]) -> Any:
        if "ItemSelector" not in self.state:
            return item
        evaluator = self.evaluator.with_states(context=context)
        return evaluator.resolve(self.state["ItemSelector"], "ItemSelector")

    # -- Choice, Wait, Succeed, Fail -------------------------------------------------------

    def choose(self) -> tuple[str | None, Any, Assigned]:
        evaluator = self.evaluator
        for index, rule in enumerate(self.state["Choices"]):
            prefix = f"Choices[{index}]/"  # a rule without Condition: refused by check()
            if evaluator.typed(rule["Condition"], prefix + "Condition", "boolean") is True:
                # the state's Assign and Output apply whichever rule matches; the rule's own
                # win (AWS, "Choice workflow state")
                assigned = self._assign(self.state, evaluator)
                assigned.update(self._assign(rule, evaluator, prefix))
                if "Output" in rule:
                    return rule["Next"], self._field(rule, "Output", None, prefix), assigned
                return rule["Next"], self._field(self.state, "Output", self.data), assigned
        output = self._field(self.state, "Output", self.data)
        return self.state.get("Default"), output, self._assign(self.state, evaluator)

    def wait_seconds(self) -> float:
        if "Seconds" in self.state:
            return float(self._seconds("Seconds", least=0))
        stamp = self.evaluator.resolve(self.state["Timestamp"], "Timestamp")
        when = parse_timestamp(stamp)
        if when is None:
            raise query_error(
                "The field 'Timestamp' must be a valid ISO-8601 extended offset date-time "
                f"format string, but was: {compact(stamp)}"
            )
        return max(0.0, (when - self.env.clock()).total_seconds())

    def after_wait(self) -> tuple[Any, Assigned]:
        return self._field(self.state, "Output", self.data), self._assign(
            self.state, self.evaluator
        )

    def succeed(self) -> Any:
        return self._field(self.state, "Output", self.data)

    def failure(self) -> TaskFailed:
        error = self._field(self.state, "Error", None)
        cause = self._field(self.state, "Cause", None)
        for key, value in (("Error", error), ("Cause", cause)):
            if value is not None and not isinstance(value, str):
                raise query_error(f"The field '{key}' must be a string, but was: {compact(value)}")
        return TaskFailed(error or "", cause or "")


StateData = JsonPathData | JsonataData


def data_of(name: str, state: Mapping[str, Any], data: Any, env: Env, language: str) -> StateData:
    """The state's data handling in its query language (its own, else the machine's)."""
    if state.get("QueryLanguage", language) == JSONATA:
        return JsonataData(name, state, data, env)
    return JsonPathData(name, state, data, env)


def _checked_limits(count: Any, percentage: Any, error: str) -> MapLimits:
    if count < 0:
        raise TaskFailed(error, "ToleratedFailureCount cannot be negative.")
    if not 0 <= percentage <= 100:
        raise TaskFailed(error, "ToleratedFailurePercentage must be between 0 and 100.")
    return MapLimits(count, percentage)


def _text(value: Any) -> str:
    """A value as Step Functions quotes it in a cause: strings bare, the rest as JSON."""
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
