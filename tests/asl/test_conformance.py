"""ASL conformance: paths, Choice, Retry/Catch order, backoff arithmetic, Map/Parallel, intrinsics.

Expected values follow the Amazon States Language specification and the Step Functions
developer guide (input and output processing, error handling, intrinsic functions).
"""

from __future__ import annotations

import base64
import hashlib
import itertools
from datetime import timedelta
from typing import Any

import pytest

from pipeline.asl import TaskFailed, VirtualClock, execute, retry_delay


def machine(*states: tuple[str, dict], start: str | None = None, **top: Any) -> dict:
    """A definition from (name, state) pairs; the first is StartAt unless ``start`` says."""
    return {"StartAt": start or states[0][0], "States": dict(states), **top}


def passes(result: Any = None, **props: Any) -> dict:
    state = {"Type": "Pass", "End": True, **props}
    if result is not None:
        state["Result"] = result
    return state


def run_pass(props: dict, data: Any):
    return execute(machine(("P", passes(**props))), data, {})


class Flaky:
    """Fails with ``error`` the first ``times`` calls, then echoes its input."""

    def __init__(self, error: str, times: int) -> None:
        self.error, self.left, self.calls = error, times, 0

    def __call__(self, payload: Any) -> Any:
        self.calls += 1
        if self.left > 0:
            self.left -= 1
            raise TaskFailed(self.error, f"attempt {self.calls}")
        return payload


def always(error: str):
    def fail(_payload: Any) -> Any:
        raise TaskFailed(error, "it failed")

    return fail


ECHO = {"echo": lambda payload: payload}

# ---------------------------------------------------------------- paths (Pass state)

PATH_CASES = [
    ("input path selects", {"InputPath": "$.a"}, {"a": {"b": 1}}, {"b": 1}),
    ("input path null is empty", {"InputPath": None}, {"a": 1}, {}),
    ("result replaces by default", {"Result": {"r": 1}}, {"a": 1}, {"r": 1}),
    ("result path nests", {"Result": 5, "ResultPath": "$.x.y"}, {"a": 1}, {"a": 1, "x": {"y": 5}}),
    ("result path null keeps input", {"Result": 5, "ResultPath": None}, {"a": 1}, {"a": 1}),
    ("result path overwrites", {"Result": 5, "ResultPath": "$.a"}, {"a": 1}, {"a": 5}),
    ("output path selects", {"OutputPath": "$.a"}, {"a": [1, 2]}, [1, 2]),
    ("output path null is empty", {"OutputPath": None}, {"a": 1}, {}),
    ("array index", {"InputPath": "$.a[1]"}, {"a": [10, 20, 30]}, 20),
    ("bracket notation", {"InputPath": "$['odd key'].v"}, {"odd key": {"v": 3}}, 3),
    ("wildcard over array", {"InputPath": "$.a[*].v"}, {"a": [{"v": 1}, {"v": 2}]}, [1, 2]),
    (
        "parameters with paths and literals",
        {"Parameters": {"x.$": "$.a", "lit": "$.not-a-path", "nested": {"y.$": "$.b[0]"}}},
        {"a": 1, "b": [7]},
        {"x": 1, "lit": "$.not-a-path", "nested": {"y": 7}},
    ),
    (
        "parameters read the context object",
        {"Parameters": {"state.$": "$$.State.Name"}},
        {},
        {"state": "P"},
    ),
    (
        "parameters then result path",
        {"Parameters": {"v.$": "$.a"}, "ResultPath": "$.out"},
        {"a": 2},
        {"a": 2, "out": {"v": 2}},
    ),
]


@pytest.mark.parametrize(
    ("props", "data", "expected"), [pytest.param(p, d, e, id=n) for n, p, d, e in PATH_CASES]
)
def test_paths(props, data, expected):
    result = run_pass(props, data)
    assert (result.status, result.output) == ("SUCCEEDED", expected)


RUNTIME_CASES = [
    ("missing input path", {"InputPath": "$.nope"}, {"a": 1}, "States.Runtime"),
    (  # AWS answers States.Runtime here, not the documented States.ParameterPathFailure
        "missing parameter path",
        {"Parameters": {"x.$": "$.nope"}},
        {},
        "States.Runtime",
    ),
    (
        "result path into a scalar",
        {"Result": 1, "ResultPath": "$.a.b"},
        {"a": 5},
        "States.ResultPathMatchFailure",
    ),
    ("output path missing", {"OutputPath": "$.zzz"}, {}, "States.Runtime"),
]


@pytest.mark.parametrize(
    ("props", "data", "error"), [pytest.param(p, d, e, id=n) for n, p, d, e in RUNTIME_CASES]
)
def test_path_failures(props, data, error):
    result = run_pass(props, data)
    assert (result.status, result.error) == ("FAILED", error)


# ---------------------------------------------------------------- Choice


def choose(rule: dict, data: Any) -> str:
    definition = machine(
        ("C", {"Type": "Choice", "Choices": [{**rule, "Next": "Yes"}], "Default": "No"}),
        ("Yes", passes("yes")),
        ("No", passes("no")),
    )
    result = execute(definition, data, {})
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    return result.output


CHOICE_CASES = [
    ({"Variable": "$.s", "StringEquals": "a"}, {"s": "a"}, "yes"),
    ({"Variable": "$.s", "StringEquals": "a"}, {"s": "b"}, "no"),
    ({"Variable": "$.s", "StringLessThan": "b"}, {"s": "a"}, "yes"),
    ({"Variable": "$.s", "StringGreaterThanEquals": "b"}, {"s": "b"}, "yes"),
    ({"Variable": "$.s", "StringMatches": "log-*.txt"}, {"s": "log-2026.txt"}, "yes"),
    ({"Variable": "$.s", "StringMatches": "a\\*b"}, {"s": "axb"}, "no"),
    ({"Variable": "$.s", "StringMatches": "a\\*b"}, {"s": "a*b"}, "yes"),
    ({"Variable": "$.n", "NumericEquals": 3}, {"n": 3.0}, "yes"),
    ({"Variable": "$.n", "NumericLessThan": 3}, {"n": 2}, "yes"),
    ({"Variable": "$.n", "NumericGreaterThan": 3}, {"n": "4"}, "no"),  # a string is not numeric
    ({"Variable": "$.n", "NumericLessThanEqualsPath": "$.m"}, {"n": 2, "m": 2}, "yes"),
    ({"Variable": "$.b", "BooleanEquals": True}, {"b": True}, "yes"),
    ({"Variable": "$.b", "BooleanEquals": True}, {"b": 1}, "no"),
    (
        {"Variable": "$.t", "TimestampLessThan": "2026-01-02T00:00:00Z"},
        {"t": "2026-01-01T23:59:59Z"},
        "yes",
    ),
    (
        {"Variable": "$.t", "TimestampEquals": "2026-01-01T00:00:00Z"},
        {"t": "2026-01-01T00:00:00+00:00"},
        "yes",
    ),
    ({"Variable": "$.x", "IsPresent": True}, {"x": None}, "yes"),
    ({"Variable": "$.x", "IsPresent": False}, {}, "yes"),
    ({"Variable": "$.x", "IsNull": True}, {"x": None}, "yes"),
    ({"Variable": "$.x", "IsNumeric": True}, {"x": True}, "no"),
    ({"Variable": "$.x", "IsString": True}, {"x": "s"}, "yes"),
    ({"Variable": "$.x", "IsTimestamp": True}, {"x": "2026-01-01T00:00:00Z"}, "yes"),
    (
        {
            "And": [
                {"Variable": "$.a", "NumericGreaterThan": 1},
                {"Variable": "$.b", "StringEquals": "x"},
            ]
        },
        {"a": 2, "b": "x"},
        "yes",
    ),
    (
        {
            "Or": [
                {"Variable": "$.a", "NumericGreaterThan": 5},
                {"Variable": "$.b", "StringEquals": "x"},
            ]
        },
        {"a": 2, "b": "y"},
        "no",
    ),
    ({"Not": {"Variable": "$.a", "StringEquals": "x"}}, {"a": "y"}, "yes"),
]


@pytest.mark.parametrize(("rule", "data", "expected"), CHOICE_CASES)
def test_choice_operators(rule, data, expected):
    assert choose(rule, data) == expected


def test_choice_without_match_or_default_fails():
    definition = machine(
        (
            "C",
            {"Type": "Choice", "Choices": [{"Variable": "$.a", "NumericEquals": 1, "Next": "Y"}]},
        ),
        ("Y", passes()),
    )
    result = execute(definition, {"a": 2}, {})
    assert (result.status, result.error) == ("FAILED", "States.NoChoiceMatched")


def test_choice_on_a_missing_variable_is_a_runtime_error():
    result = execute(
        machine(
            (
                "C",
                {
                    "Type": "Choice",
                    "Choices": [{"Variable": "$.nope", "StringEquals": "x", "Next": "Y"}],
                    "Default": "Y",
                },
            ),
            ("Y", passes()),
        ),
        {},
        {},
    )
    assert (result.status, result.error) == ("FAILED", "States.Runtime")


# ---------------------------------------------------------------- Retry and Catch


def task(resource: str = "r", **props: Any) -> dict:
    return {"Type": "Task", "Resource": resource, "End": True, **props}


def test_retry_until_success_counts_attempts_and_backoff_on_the_clock():
    flaky = Flaky("Boom", times=2)
    clock = VirtualClock()
    retry = [{"ErrorEquals": ["Boom"], "IntervalSeconds": 3, "BackoffRate": 2, "MaxAttempts": 3}]
    result = execute(machine(("T", task(Retry=retry))), {"v": 1}, {"r": flaky}, clock=clock)
    assert (result.status, result.output, flaky.calls) == ("SUCCEEDED", {"v": 1}, 3)
    assert result.stop - result.start == timedelta(seconds=3 + 6)


def test_retry_exhaustion_fails_with_the_task_error():
    flaky = Flaky("Boom", times=10)
    retry = [{"ErrorEquals": ["Boom"], "MaxAttempts": 2}]
    result = execute(machine(("T", task(Retry=retry))), {}, {"r": flaky})
    assert (result.status, result.error, flaky.calls) == ("FAILED", "Boom", 3)


def test_max_attempts_zero_never_retries():
    flaky = Flaky("Boom", times=1)
    retry = [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 0}]
    result = execute(machine(("T", task(Retry=retry))), {}, {"r": flaky})
    assert (result.status, flaky.calls) == ("FAILED", 1)


def test_first_matching_retrier_wins_and_each_counts_separately():
    calls = itertools.count()

    def alternating(_payload):
        n = next(calls)
        if n < 4:
            raise TaskFailed("A" if n % 2 == 0 else "B", "")
        return "done"

    retry = [
        {"ErrorEquals": ["A"], "MaxAttempts": 2},
        {"ErrorEquals": ["B"], "MaxAttempts": 2},
        {"ErrorEquals": ["States.ALL"], "MaxAttempts": 0},
    ]
    result = execute(machine(("T", task(Retry=retry))), {}, {"r": alternating})
    assert (result.status, result.output) == ("SUCCEEDED", "done")


def test_default_retry_is_three_attempts_one_second_doubling():
    flaky = Flaky("Boom", times=3)
    result = execute(machine(("T", task(Retry=[{"ErrorEquals": ["Boom"]}]))), {}, {"r": flaky})
    assert result.status == "SUCCEEDED"
    assert result.stop - result.start == timedelta(seconds=1 + 2 + 4)


@pytest.mark.parametrize(
    ("retrier", "attempt", "expected"),
    [
        ({"IntervalSeconds": 1, "BackoffRate": 2.0}, 0, 1.0),
        ({"IntervalSeconds": 1, "BackoffRate": 2.0}, 3, 8.0),
        ({"IntervalSeconds": 2, "BackoffRate": 1.5}, 2, 4.5),
        ({"IntervalSeconds": 1, "BackoffRate": 2.0, "MaxDelaySeconds": 5}, 10, 5.0),
        ({"IntervalSeconds": 3, "BackoffRate": 1.0}, 5, 3.0),
    ],
)
def test_backoff_arithmetic(retrier, attempt, expected):
    import random

    assert retry_delay(retrier, attempt, random.Random(0)) == pytest.approx(expected)


def test_full_jitter_stays_within_the_capped_delay():
    import random

    rng = random.Random(1)
    retrier = {
        "IntervalSeconds": 2,
        "BackoffRate": 2,
        "MaxDelaySeconds": 10,
        "JitterStrategy": "FULL",
    }
    delays = [retry_delay(retrier, n, rng) for n in range(8) for _ in range(50)]
    assert all(0 <= d <= 10 for d in delays)
    assert len({round(d, 6) for d in delays}) > 100  # really random, not the fixed delay


def test_catch_sets_error_at_result_path_and_continues():
    definition = machine(
        ("T", task(Catch=[{"ErrorEquals": ["Boom"], "ResultPath": "$.error", "Next": "H"}])),
        ("H", passes()),
    )
    result = execute(definition, {"a": 1}, {"r": always("Boom")})
    assert result.output == {"a": 1, "error": {"Error": "Boom", "Cause": "it failed"}}


def test_catch_default_result_path_replaces_the_input():
    definition = machine(
        ("T", task(Catch=[{"ErrorEquals": ["States.ALL"], "Next": "H"}])), ("H", passes())
    )
    result = execute(definition, {"a": 1}, {"r": always("Boom")})
    assert result.output == {"Error": "Boom", "Cause": "it failed"}


def test_catchers_are_tried_in_order():
    definition = machine(
        (
            "T",
            task(
                Catch=[
                    {"ErrorEquals": ["Other"], "Next": "X"},
                    {"ErrorEquals": ["Boom"], "Next": "Y"},
                    {"ErrorEquals": ["States.ALL"], "Next": "Z"},
                ]
            ),
        ),
        ("X", passes("x")),
        ("Y", passes("y")),
        ("Z", passes("z")),
    )
    assert execute(definition, {}, {"r": always("Boom")}).output == "y"


def test_retries_happen_before_the_catch():
    flaky = Flaky("Boom", times=10)
    definition = machine(
        (
            "T",
            task(
                Retry=[{"ErrorEquals": ["Boom"], "MaxAttempts": 2}],
                Catch=[{"ErrorEquals": ["Boom"], "Next": "H"}],
            ),
        ),
        ("H", passes("handled")),
    )
    result = execute(definition, {}, {"r": flaky})
    assert (result.output, flaky.calls) == ("handled", 3)


def test_task_failed_matches_everything_but_timeout():
    definition = machine(
        ("T", task(Catch=[{"ErrorEquals": ["States.TaskFailed"], "Next": "H"}])),
        ("H", passes("handled")),
    )
    assert execute(definition, {}, {"r": always("Custom")}).output == "handled"
    timed_out = execute(definition, {}, {"r": always("States.Timeout")})
    assert (timed_out.status, timed_out.error) == ("FAILED", "States.Timeout")


def test_runtime_errors_are_never_caught():
    definition = machine(
        ("T", task(InputPath="$.missing", Catch=[{"ErrorEquals": ["States.ALL"], "Next": "H"}])),
        ("H", passes()),
    )
    result = execute(definition, {}, ECHO | {"r": ECHO["echo"]})
    assert (result.status, result.error) == ("FAILED", "States.Runtime")


def test_a_python_exception_fails_the_task_with_its_type_name():
    def broken(_payload):
        raise KeyError("x")

    result = execute(machine(("T", task())), {}, {"r": broken})
    assert (result.status, result.error) == ("FAILED", "KeyError")
    assert '"errorType": "KeyError"' in result.cause


def test_result_selector_then_result_path_then_output_path():
    definition = machine(
        (
            "T",
            task(
                "echo",
                Parameters={"v.$": "$.a", "w": 2},
                ResultSelector={"value.$": "$.v", "const": True},
                ResultPath="$.result",
                OutputPath="$.result",
            ),
        )
    )
    assert execute(definition, {"a": 7}, ECHO).output == {"value": 7, "const": True}


def test_fail_state_error_and_cause():
    definition = machine(("F", {"Type": "Fail", "Error": "Nope", "Cause": "because"}))
    result = execute(definition, {}, {})
    assert (result.status, result.error, result.cause) == ("FAILED", "Nope", "because")


def test_fail_state_error_path():
    definition = machine(("F", {"Type": "Fail", "ErrorPath": "$.e", "CausePath": "$.c"}))
    result = execute(definition, {"e": "Dyn", "c": "from input"}, {})
    assert (result.error, result.cause) == ("Dyn", "from input")


def test_succeed_applies_input_and_output_path():
    definition = machine(("S", {"Type": "Succeed", "InputPath": "$.a", "OutputPath": "$.b"}))
    assert execute(definition, {"a": {"b": 4}}, {}).output == 4


# ---------------------------------------------------------------- Wait and timeouts


def test_wait_seconds_and_seconds_path_advance_the_clock():
    definition = machine(
        ("W1", {"Type": "Wait", "Seconds": 30, "Next": "W2"}),
        ("W2", {"Type": "Wait", "SecondsPath": "$.s", "End": True}),
    )
    result = execute(definition, {"s": 90}, {})
    assert result.stop - result.start == timedelta(seconds=120)


def test_wait_until_a_timestamp():
    clock = VirtualClock()
    target = (clock() + timedelta(hours=1)).isoformat()
    definition = machine(("W", {"Type": "Wait", "TimestampPath": "$.t", "End": True}))
    result = execute(definition, {"t": target}, {}, clock=clock)
    assert result.stop - result.start == timedelta(hours=1)


def test_execution_timeout_times_out():
    definition = machine(("W", {"Type": "Wait", "Seconds": 100, "End": True}), TimeoutSeconds=10)
    result = execute(definition, {}, {})
    assert (result.status, result.error) == ("TIMED_OUT", "States.Timeout")


def test_task_timeout_is_catchable_as_states_timeout():
    definition = machine(
        ("T", task(TimeoutSeconds=5, Catch=[{"ErrorEquals": ["States.Timeout"], "Next": "H"}])),
        ("H", passes("timed out")),
    )
    assert execute(definition, {}, {"r": always("States.Timeout")}).output == "timed out"


# ---------------------------------------------------------------- Parallel and Map


def branch(*states):
    return machine(*states)


def test_parallel_collects_branch_outputs_in_order():
    definition = machine(
        (
            "P",
            {
                "Type": "Parallel",
                "End": True,
                "Branches": [
                    branch(("A", passes("a"))),
                    branch(("B", task("echo", InputPath="$.x"))),
                ],
            },
        )
    )
    assert execute(definition, {"x": 1}, ECHO).output == ["a", 1]


def test_a_failed_branch_fails_the_parallel_and_can_be_caught():
    definition = machine(
        (
            "P",
            {
                "Type": "Parallel",
                "Next": "Done",
                "Branches": [branch(("A", passes("a"))), branch(("B", task()))],
                "Catch": [{"ErrorEquals": ["Boom"], "ResultPath": "$.err", "Next": "Handled"}],
            },
        ),
        ("Done", passes("done")),
        ("Handled", passes("handled")),
    )
    assert execute(definition, {}, {"r": always("Boom")}).output == "handled"


def test_parallel_is_retried_as_a_whole():
    flaky = Flaky("Boom", times=1)
    definition = machine(
        (
            "P",
            {
                "Type": "Parallel",
                "End": True,
                "Branches": [branch(("B", task()))],
                "Retry": [{"ErrorEquals": ["Boom"], "MaxAttempts": 1}],
            },
        )
    )
    result = execute(definition, {"v": 1}, {"r": flaky})
    assert (result.status, result.output) == ("SUCCEEDED", [{"v": 1}])


def test_map_runs_the_processor_per_item_with_item_selector():
    definition = machine(
        (
            "M",
            {
                "Type": "Map",
                "End": True,
                "ItemsPath": "$.items",
                "ItemSelector": {
                    "value.$": "$$.Map.Item.Value",
                    "index.$": "$$.Map.Item.Index",
                    "tag.$": "$.tag",
                },
                "ItemProcessor": branch(("T", task("echo"))),
            },
        )
    )
    result = execute(definition, {"items": ["a", "b"], "tag": "t"}, ECHO)
    assert result.output == [
        {"value": "a", "index": 0, "tag": "t"},
        {"value": "b", "index": 1, "tag": "t"},
    ]


def test_map_with_the_legacy_iterator_and_parameters():
    definition = machine(
        (
            "M",
            {
                "Type": "Map",
                "End": True,
                "Parameters": {"v.$": "$$.Map.Item.Value"},
                "Iterator": branch(("P", passes())),
            },
        )
    )
    assert execute(definition, [1, 2, 3], {}).output == [{"v": 1}, {"v": 2}, {"v": 3}]


def test_a_failed_iteration_fails_the_map():
    definition = machine(
        ("M", {"Type": "Map", "End": True, "ItemProcessor": branch(("T", task()))})
    )
    result = execute(definition, [1, 2], {"r": always("Boom")})
    assert (result.status, result.error) == ("FAILED", "Boom")


def test_map_tolerates_failures_up_to_the_threshold():
    def odd_fails(payload):
        if payload % 2:
            raise TaskFailed("Odd", "")
        return payload

    def run(percentage):
        definition = machine(
            (
                "M",
                {
                    "Type": "Map",
                    "End": True,
                    "ToleratedFailurePercentage": percentage,
                    "ItemProcessor": branch(("T", task())),
                },
            )
        )
        return execute(definition, [0, 1, 2, 3], {"r": odd_fails})

    assert run(50).status == "SUCCEEDED"
    failed = run(25)
    assert (failed.status, failed.error) == ("FAILED", "States.ExceedToleratedFailureThreshold")


def test_map_over_a_non_array_is_a_runtime_error():
    definition = machine(
        ("M", {"Type": "Map", "End": True, "ItemProcessor": branch(("P", passes()))})
    )
    assert execute(definition, {"not": "array"}, {}).error == "States.Runtime"


# ---------------------------------------------------------------- intrinsic functions

INTRINSIC_CASES = [
    ("States.Format('Hello {} and {}', $.a, $.n)", {"a": "x", "n": 3}, "Hello x and 3"),
    ("States.Format('brace \\{\\} {}', $.a)", {"a": "v"}, "brace {} v"),
    ("States.StringToJson($.s)", {"s": '{"k": [1]}'}, {"k": [1]}),
    ("States.JsonToString($.o)", {"o": {"k": 1}}, '{"k":1}'),
    ("States.Array(1, 'two', $.x, null, true)", {"x": [3]}, [1, "two", [3], None, True]),
    ("States.ArrayPartition($.a, 2)", {"a": [1, 2, 3, 4, 5]}, [[1, 2], [3, 4], [5]]),
    ("States.ArrayContains($.a, 3)", {"a": [1, 3]}, True),
    ("States.ArrayRange(1, 9, 2)", {}, [1, 3, 5, 7, 9]),
    ("States.ArrayGetItem($.a, 1)", {"a": ["x", "y"]}, "y"),
    ("States.ArrayLength($.a)", {"a": [1, 2, 3]}, 3),
    ("States.ArrayUnique($.a)", {"a": [1, 2, 1, 3, 2]}, [1, 2, 3]),
    ("States.Base64Encode($.s)", {"s": "Data"}, base64.b64encode(b"Data").decode()),
    ("States.Base64Decode('RGF0YQ==')", {}, "Data"),
    ("States.Hash($.s, 'SHA-256')", {"s": "x"}, hashlib.sha256(b"x").hexdigest()),
    ("States.JsonMerge($.a, $.b, false)", {"a": {"x": 1, "y": 1}, "b": {"y": 2}}, {"x": 1, "y": 2}),
    ("States.MathAdd($.n, -3)", {"n": 10}, 7),
    ("States.StringSplit('a,b,,c', ',')", {}, ["a", "b", "c"]),
    ("States.ArrayLength(States.Array(1, 2))", {}, 2),
    ("States.Format('{}', $$.State.Name)", {}, "P"),
]


@pytest.mark.parametrize(("expression", "data", "expected"), INTRINSIC_CASES)
def test_intrinsic_functions(expression, data, expected):
    result = run_pass({"Parameters": {"v.$": expression}}, data)
    assert (result.status, result.output) == ("SUCCEEDED", {"v": expected}), result.cause


def test_math_random_and_uuid_are_seeded_and_in_range():
    first = run_pass({"Parameters": {"r.$": "States.MathRandom(1, 6)", "u.$": "States.UUID()"}}, {})
    again = run_pass({"Parameters": {"r.$": "States.MathRandom(1, 6)", "u.$": "States.UUID()"}}, {})
    assert first.output == again.output
    assert 1 <= first.output["r"] <= 6 and len(first.output["u"]) == 36


@pytest.mark.parametrize(
    "expression",
    [
        "States.Nope(1)",
        "States.Format('{} {}', 1)",
        "States.ArrayGetItem($.a, 5)",
        "States.Format('x'",
    ],
)
def test_bad_intrinsics_fail_with_intrinsic_failure(expression):
    result = run_pass({"Parameters": {"v.$": expression}}, {"a": [1]})
    assert (result.status, result.error) == ("FAILED", "States.IntrinsicFailure")


# ---------------------------------------------------------------- history


def test_history_uses_step_functions_event_types():
    flaky = Flaky("Boom", times=1)
    definition = machine(("T", task(Retry=[{"ErrorEquals": ["Boom"]}])))
    result = execute(definition, {}, {"r": flaky})
    types = [e["type"] for e in result.history]
    assert types == [
        "ExecutionStarted",
        "TaskStateEntered",
        "TaskScheduled",
        "TaskStarted",
        "TaskFailed",
        "TaskScheduled",
        "TaskStarted",
        "TaskSucceeded",
        "TaskStateExited",
        "ExecutionSucceeded",
    ]
    assert [e["id"] for e in result.history] == list(range(1, len(types) + 1))
    assert result.history[5]["timestamp"] - result.history[4]["timestamp"] == timedelta(seconds=1)


# ------------------------------------- behaviour measured on AWS (recorded snapshot cases)


@pytest.mark.parametrize(
    ("path", "data", "expected"),
    [
        ("$.a[1:3]", {"a": [0, 1, 2, 3]}, [1, 2]),
        ("$.a[:2].v", {"a": [{"v": 1}, {"v": 2}, {"v": 3}]}, [1, 2]),
        ("$.a[::2]", {"a": [0, 1, 2, 3]}, [0, 2]),
        ("$.a[?(@.s == 0)].n", {"a": [{"s": 0, "n": "x"}, {"s": 1, "n": "y"}]}, ["x"]),
        ("$.a[?(@.p > 2)]", {"a": [{"p": 1}, {"p": 3}, {"p": "4"}]}, [{"p": 3}]),
        ("$.a[?(@.tag)]", {"a": [{"tag": 1}, {}]}, [{"tag": 1}]),
        ("$.a[?(@.k == 'v')].k", {"a": [{"k": "v"}, {"k": "w"}]}, ["v"]),
        ("$.missing[*]", {}, []),  # an indefinite path selecting nothing is an empty list
        ("$.missing[1:5].v", {}, []),
    ],
)
def test_indefinite_paths_select_lists(path, data, expected):
    result = run_pass({"Parameters": {"r.$": path}}, data)
    assert (result.status, result.output) == ("SUCCEEDED", {"r": expected})


def test_runtime_causes_name_the_state_and_the_path_as_aws_does():
    result = run_pass({"InputPath": "$.a.b"}, {"a": {}})
    assert result.error == "States.Runtime"
    assert result.cause == (
        "An error occurred while executing the state 'P' (entered at the event id #2). "
        "Invalid path '$.a.b' : No results for path: $['a']['b']"
    )
    deeper = run_pass({"OutputPath": "$.x.y"}, {})
    assert deeper.cause.endswith("Invalid path '$.x.y' : Missing property in path $['x']")


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [("1.49, 1.5", 3), ("-1.5, 0", -1), ("-0.5, 0.5", 1), ("-2.5, 0", -2), ("2, 3", 5)],
)
def test_math_add_rounds_each_argument_half_up(arguments, expected):
    result = run_pass({"Parameters": {"r.$": f"States.MathAdd({arguments})"}}, {})
    assert result.output == {"r": expected}


def test_format_prints_objects_and_arrays_the_java_way():
    data = {"o": {"a": 1, "b": [True, None, "s"]}}
    result = run_pass({"Parameters": {"r.$": "States.Format('v={}', $.o)"}}, data)
    assert result.output == {"r": "v={a=1, b=[true, null, s]}"}


def test_string_to_json_of_blank_text_is_null():
    result = run_pass({"Parameters": {"r.$": "States.StringToJson($.s)"}}, {"s": "  "})
    assert result.output == {"r": None}


@pytest.mark.parametrize(
    ("stamp", "ok"),
    [
        ("2026-01-01T00:00:00Z", True),
        ("2026-01-01T00:00:00.123456789+02:00", True),
        ("2026-01-01T00:00:00", False),  # no offset
        ("2026-01-01 00:00:00Z", False),  # no T
        ("2026-13-01T00:00:00Z", False),
    ],
)
def test_wait_timestamps_must_be_offset_date_times(stamp, ok):
    wait = {"Type": "Wait", "TimestampPath": "$.t", "End": True}
    result = execute(machine(("W", wait)), {"t": stamp}, {})
    assert result.status == ("SUCCEEDED" if ok else "FAILED")
    if not ok:
        assert result.cause.endswith(
            f"does not reference a valid ISO-8601 extended offset date-time format string: "
            f"$.t == {stamp}"
        )


@pytest.mark.parametrize(("seconds", "reason"), [(1.5, "cannot be parsed"), (-1, "negative")])
def test_wait_seconds_path_must_be_a_whole_non_negative_number(seconds, reason):
    wait = {"Type": "Wait", "SecondsPath": "$.s", "End": True}
    result = execute(machine(("W", wait)), {"s": seconds}, {})
    assert (result.status, result.error) == ("FAILED", "States.Runtime")
    assert reason in result.cause


def test_map_max_concurrency_path_must_be_an_integer():
    iterator = machine(("I", passes()))
    state = {"Type": "Map", "MaxConcurrencyPath": "$.m", "ItemsPath": "$.xs", "End": True}
    state["Iterator"] = iterator
    bad = execute(machine(("M", state)), {"m": "two", "xs": [1]}, {})
    good = execute(machine(("M", state)), {"m": 2, "xs": [1]}, {})
    assert (bad.error, good.status) == ("States.Runtime", "SUCCEEDED")


def test_fail_state_paths_may_be_intrinsic_functions():
    fail = {
        "Type": "Fail",
        "ErrorPath": "States.Format('E{}', $.n)",
        "CausePath": "States.Format('because {}', $.why)",
    }
    result = execute(machine(("F", fail)), {"n": 7, "why": "reasons"}, {})
    assert (result.error, result.cause) == ("E7", "because reasons")


def test_results_over_256_kib_exceed_the_data_limit_and_catch_all_sees_it():
    big = {"Type": "Pass", "Result": "x" * (256 * 1024), "End": True}
    assert execute(machine(("Big", big)), {}, {}).error == "States.DataLimitExceeded"
    caught = {**big, "End": None, "Next": "Done"}
    caught = {k: v for k, v in caught.items() if v is not None}
    caught["Catch"] = [{"ErrorEquals": ["States.ALL"], "Next": "Done"}]
    result = execute(machine(("Big", caught), ("Done", passes())), {}, {})
    assert result.status == "SUCCEEDED" and result.output["Error"] == "States.DataLimitExceeded"


def test_context_object_carries_the_execution_role():
    result = run_pass({"Parameters": {"r.$": "$$.Execution.RoleArn"}}, {})
    assert result.output["r"].startswith("arn:aws:iam::")
