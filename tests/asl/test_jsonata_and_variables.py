"""JSONata and workflow variables beyond the recorded AWS cases: scope, evaluation order,
limits, errors a user meets, and what the definition check refuses."""

from __future__ import annotations

import pytest

from pipeline.asl import DefinitionError, TaskFailed, Unsupported, check, execute
from pipeline.asl.execution import START


def machine(states: dict, language: str | None = "JSONata", start: str | None = None) -> dict:
    definition = {"StartAt": start or next(iter(states)), "States": states}
    if language:
        definition["QueryLanguage"] = language
    return definition


def passes(*steps: dict) -> dict:
    """Pass states P0, P1, ... run in order, the last one ending the execution."""
    states = {}
    for index, step in enumerate(steps):
        state = {"Type": "Pass", **step}
        if index == len(steps) - 1:
            state["End"] = True
        else:
            state["Next"] = f"P{index + 1}"
        states[f"P{index}"] = state
    return states


# -- variables --------------------------------------------------------------------------


def test_a_state_reads_the_variables_from_before_it_assigns() -> None:
    result = execute(
        machine(
            passes(
                {"Assign": {"x": 1}},
                {"Assign": {"x": "{% $x + 1 %}", "y": "{% $x %}"}, "Output": "{% $x %}"},
                {"Output": "{% {'x': $x, 'y': $y} %}"},
            )
        ),
        {},
        {},
    )
    assert result.status == "SUCCEEDED"
    assert result.output == {"x": 2, "y": 1}
    exits = [
        e["passStateExitedEventDetails"] for e in result.history if e["type"] == "PassStateExited"
    ]
    assert exits[1] == {  # P1's Output read x from before P1
        "name": "P1",
        "output": 1,
        "assignedVariables": {"x": "2", "y": "1"},
    }


def test_branches_read_outer_variables_and_keep_their_own_to_themselves() -> None:
    branch = {
        "StartAt": "B",
        "States": {
            "B": {"Type": "Pass", "Assign": {"inner": "{% $outer * 2 %}"}, "Next": "C"},
            "C": {"Type": "Pass", "Output": "{% $inner %}", "End": True},
        },
    }
    definition = machine(
        {
            "Set": {"Type": "Pass", "Assign": {"outer": 21}, "Next": "Fan"},
            "Fan": {"Type": "Parallel", "Branches": [branch, branch], "Next": "After"},
            "After": {"Type": "Pass", "Output": "{% $exists($inner) %}", "End": True},
        }
    )
    result = execute(definition, {}, {})
    assert result.history[-2]["type"] == "PassStateExited"
    assert result.output is False  # $inner is undefined outside the branches ...
    outputs = [e for e in result.history if e["type"] == "ParallelStateExited"]
    assert outputs[0]["parallelStateExitedEventDetails"]["output"] == [42, 42]  # ... read inside


def test_a_branch_cannot_assign_a_variable_of_an_enclosing_scope() -> None:
    definition = machine(
        {
            "Set": {"Type": "Pass", "Assign": {"total": 0}, "Next": "Each"},
            "Each": {
                "Type": "Map",
                "Items": [1, 2],
                "ItemProcessor": {
                    "StartAt": "Add",
                    "States": {
                        "Add": {
                            "Type": "Pass",
                            "Assign": {"total": "{% $total + 1 %}"},
                            "End": True,
                        }
                    },
                },
                "End": True,
            },
        }
    )
    with pytest.raises(DefinitionError, match="'total' is assigned in an enclosing scope"):
        check(definition)


def test_a_distributed_map_iteration_reads_no_outer_variable() -> None:
    def mapped(mode: str) -> dict:
        return machine(
            {
                "Set": {"Type": "Pass", "Assign": {"x": 1}, "Next": "Each"},
                "Each": {
                    "Type": "Map",
                    "Items": [1],
                    "ItemProcessor": {
                        "ProcessorConfig": {"Mode": mode},
                        "StartAt": "Read",
                        "States": {"Read": {"Type": "Pass", "Output": "{% $x %}", "End": True}},
                    },
                    "End": True,
                },
            }
        )

    assert execute(mapped("INLINE"), {}, {}).output == [1]
    result = execute(mapped("DISTRIBUTED"), {}, {})
    assert (result.status, result.error) == ("FAILED", "States.QueryEvaluationError")
    assert "'$x' specified for the field 'Output' returned nothing" in result.cause


def test_jsonpath_reads_variables_in_paths_templates_intrinsics_and_choices() -> None:
    definition = machine(
        {
            "Set": {"Type": "Pass", "Assign": {"order": {"id": "o-1", "qty": 3}}, "Next": "Is"},
            "Is": {
                "Type": "Choice",
                "Choices": [{"Variable": "$order.qty", "NumericGreaterThan": 2, "Next": "Big"}],
                "Default": "Small",
            },
            "Big": {
                "Type": "Pass",
                "Parameters": {
                    "id.$": "$order.id",
                    "line.$": "States.Format('{} x {}', $order.qty, $order.id)",
                },
                "End": True,
            },
            "Small": {"Type": "Fail", "Error": "Small"},
        },
        language=None,
    )
    result = execute(definition, {}, {})
    assert result.output == {"id": "o-1", "line": "3 x o-1"}


def test_an_undefined_variable_in_a_jsonpath_path_names_the_variable() -> None:
    definition = machine(passes({"Parameters": {"a.$": "$nope"}}), language=None)
    result = execute(definition, {}, {})
    assert (result.status, result.error) == ("FAILED", "States.Runtime")
    assert "The variable '$nope' is not defined in this scope" in result.cause


def test_a_variable_holding_null_is_a_value() -> None:
    result = execute(
        machine(passes({"Assign": {"v": None}}, {"Output": "{% [$type($v), $exists($v)] %}"})),
        {},
        {},
    )
    assert result.output == ["null", True]


# -- limits -----------------------------------------------------------------------------


def test_a_variable_over_256_kib_fails_the_state() -> None:
    half = "x" * (140 * 1024)  # the input fits in a state; twice it does not fit a variable
    twice = "{% $states.input.s & $states.input.s %}"
    result = execute(machine(passes({"Assign": {"v": twice}})), {"s": half}, {})
    assert (result.status, result.error) == ("FAILED", "States.DataLimitExceeded")
    assert "'v'" in result.cause


def test_one_assign_over_256_kib_fails_the_state() -> None:
    half = "x" * (140 * 1024)
    assign = {"a": "{% $states.input.s %}", "b": "{% $states.input.s %}"}
    result = execute(machine(passes({"Assign": assign})), {"s": half}, {})
    assert (result.status, result.error) == ("FAILED", "States.DataLimitExceeded")
    assert "one Assign" in result.cause


def test_an_execution_holds_at_most_10_mib_of_variables() -> None:
    chunk = "x" * (250 * 1024)
    steps = [{"Assign": {f"v{i}": "{% $states.input.s %}"}} for i in range(42)]
    result = execute(machine(passes(*steps)), {"s": chunk}, {})
    assert (result.status, result.error) == ("FAILED", "States.DataLimitExceeded")
    assert "P40" in result.cause  # 41 x 250 KiB fit in 10 MiB; the 42nd does not
    reassigned = [{"Assign": {"v": "{% $states.input.s %}"}} for _ in range(60)]
    assert execute(machine(passes(*reassigned)), {"s": chunk}, {}).status == "SUCCEEDED"


# -- errors a user meets ------------------------------------------------------------------


def test_a_query_evaluation_error_can_be_caught_and_carries_where_it_happened() -> None:
    definition = machine(
        {
            "Compute": {
                "Type": "Task",
                "Resource": "arn:aws:lambda:us-east-1:123456789012:function:f",
                "Arguments": {"n": "{% $states.input.missing %}"},
                "Catch": [{"ErrorEquals": ["States.QueryEvaluationError"], "Next": "Handled"}],
                "End": True,
            },
            "Handled": {"Type": "Pass", "Output": "{% $states.input %}", "End": True},
        }
    )
    called = []
    result = execute(
        definition, {}, {"arn:aws:lambda:us-east-1:123456789012:function:f": called.append}
    )
    assert called == [] and result.status == "SUCCEEDED"
    assert result.output["Error"] == "States.QueryEvaluationError"
    assert result.output["Cause"] == (
        "An error occurred while executing the state 'Compute' (entered at the event id #2). "
        "The JSONata expression '$states.input.missing' specified for the field 'Arguments/n' "
        "returned nothing (undefined)."
    )


def test_a_failing_expression_names_jsonatas_error() -> None:
    result = execute(machine(passes({"Output": "{% 'a' + 1 %}"})), {}, {})
    assert (result.status, result.error) == ("FAILED", "States.QueryEvaluationError")
    assert "threw an error during evaluation: T2001" in result.cause


def test_eval_is_disabled_as_on_aws() -> None:
    result = execute(machine(passes({"Output": "{% $eval('1 + 1') %}"})), {}, {})
    assert (result.status, result.error) == ("FAILED", "States.QueryEvaluationError")
    assert "T1006" in result.cause


def test_now_and_millis_read_the_executions_clock() -> None:
    result = execute(machine(passes({"Output": "{% [$now(), $millis()] %}"})), {}, {})
    assert result.output == ["2026-01-01T00:00:00.000Z", int(START.timestamp() * 1000)]


def test_random_and_uuid_come_from_the_executions_seeded_generator() -> None:
    definition = machine(passes({"Output": "{% [$random(), $uuid(), $random(7)] %}"}))
    first, second = (execute(definition, {}, {}).output for _ in range(2))
    assert first == second
    assert (
        0 <= first[0] < 1
        and len(first[1]) == 36
        and first[2] == execute(definition, {}, {}).output[2]
    )


def test_awss_added_functions() -> None:
    output = {
        "partition": "{% $partition([1,2,3], 2) %}",
        "range": "{% $range(0, 6, 2) %}",
        "one": "{% $range(1, 9, 9) %}",
        "hash": "{% $hash('a', 'SHA-256') %}",
        "parse": "{% $parse('{\"k\": [1]}') %}",
    }
    result = execute(machine(passes({"Output": output})), {}, {})
    assert result.output == {
        "partition": [[1, 2], [3]],
        "range": [0, 2, 4, 6],
        "one": 1,
        "hash": "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb",
        "parse": {"k": [1]},
    }


def test_the_machines_language_reaches_inside_branches_of_a_state_that_overrides_it() -> None:
    definition = machine(
        {
            "Each": {
                "Type": "Map",
                "QueryLanguage": "JSONata",
                "Items": "{% $states.input.xs %}",
                "ItemProcessor": {
                    "StartAt": "Inner",
                    "States": {"Inner": {"Type": "Pass", "Parameters": {"v.$": "$"}, "End": True}},
                },
                "End": True,
            }
        },
        language=None,
    )
    assert execute(definition, {"xs": [1, 2]}, {}).output == [{"v": 1}, {"v": 2}]


def test_a_throttled_jsonata_task_retries_with_its_backoff() -> None:
    attempts = []

    def flaky(payload: dict) -> dict:
        attempts.append(payload)
        if len(attempts) < 3:
            raise TaskFailed("Lambda.TooManyRequestsException", "slow down")
        return {"ok": payload["n"]}

    definition = machine(
        {
            "Call": {
                "Type": "Task",
                "Resource": "fn",
                "Arguments": {"n": "{% $states.input.n %}"},
                "Retry": [
                    {
                        "ErrorEquals": ["Lambda.TooManyRequestsException"],
                        "IntervalSeconds": 2,
                        "BackoffRate": 3,
                    }
                ],
                "Output": "{% $states.result.ok %}",
                "End": True,
            }
        }
    )
    result = execute(definition, {"n": 5}, {"fn": flaky})
    assert (result.status, result.output, len(attempts)) == ("SUCCEEDED", 5, 3)
    assert (result.stop - result.start).total_seconds() == 2 + 6


# -- what the definition check refuses --------------------------------------------------


@pytest.mark.parametrize(
    ("definition", "message"),
    [
        (
            machine(passes({"ResultPath": "$.x"})),
            "field 'ResultPath' is only supported for the 'JSONPath'",
        ),
        (
            machine(passes({"Output": 1}), language="JSONPath"),
            "field 'Output' is only supported for the 'JSONata'",
        ),
        (
            machine(passes({"QueryLanguage": "JSONPath"})),
            "can not be 'JSONPath' if set to 'JSONata'",
        ),
        (machine(passes({}), language="jsonata"), "QueryLanguage must be one of"),
        (
            machine(passes({"Output": "{% a[1,2) %}"})),
            "/States/P0/Output: INVALID_JSONATA_EXPRESSION",
        ),
        (machine(passes({"Assign": {"states": 1}})), "'states' is not a valid variable name"),
        (machine(passes({"Assign": {"1st": 1}})), "'1st' is not a valid variable name"),
    ],
)
def test_definitions_aws_refuses_are_refused(definition: dict, message: str) -> None:
    with pytest.raises(DefinitionError, match=message.replace("(", r"\(").replace("[", r"\[")):
        execute(definition, {}, {})


@pytest.mark.parametrize(
    ("state", "message"),
    [
        (
            {
                "Type": "Map",
                "ItemReader": {"Resource": "arn:aws:states:::s3:getObject"},
                "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}},
            },
            "ItemReader",
        ),
        (
            {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken"},
            "callbacks",
        ),
        (
            {"Type": "Task", "Resource": "arn:aws:states:us-east-1:123456789012:activity:review"},
            "activities",
        ),
    ],
)
def test_what_the_interpreter_does_not_run_is_refused_by_name(state: dict, message: str) -> None:
    with pytest.raises(Unsupported, match=message):
        execute(machine({"S": {**state, "End": True}}, language=None), {}, {})


@pytest.mark.parametrize("language", ["JSONata", None])
def test_a_choice_states_assign_applies_whichever_rule_matches_and_the_rules_own_wins(
    language: str | None,
) -> None:
    rule = (
        {"Condition": "{% $states.input.go %}", "Assign": {"via": "rule", "rule_only": 1}}
        if language
        else {"Variable": "$.go", "BooleanEquals": True, "Assign": {"via": "rule", "rule_only": 1}}
    )
    show = (
        {"Output": "{% {'via': $via, 'state_only': $state_only, 'rule_only': $rule_only} %}"}
        if language
        else {
            "Parameters": {
                "via.$": "$via",
                "state_only.$": "$state_only",
                "rule_only.$": "$rule_only",
            }
        }
    )
    definition = machine(
        {
            "Pick": {
                "Type": "Choice",
                "Assign": {"via": "state", "state_only": 2},
                "Choices": [{**rule, "Next": "Show"}],
                "Default": "Show",
            },
            "Show": {"Type": "Pass", **show, "End": True},
        },
        language=language,
    )
    assert execute(definition, {"go": True}, {}).output == {
        "via": "rule",
        "state_only": 2,
        "rule_only": 1,
    }
    taken_default = execute(definition, {"go": False}, {})
    if language:  # an object constructor leaves out what is undefined
        assert taken_default.output == {"via": "state", "state_only": 2}
    else:  # a path to a variable never assigned fails
        assert (taken_default.status, taken_default.error) == ("FAILED", "States.Runtime")


@pytest.mark.system  # starts a Python subprocess
def test_importing_the_interpreter_leaves_the_processs_recursion_limit_alone() -> None:
    import subprocess
    import sys

    probe = "import sys; before = sys.getrecursionlimit(); import pipeline.asl; "
    probe += "print(before, sys.getrecursionlimit())"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    before, after = out.stdout.split()
    assert before == after


def test_an_expression_deeper_than_the_stack_fails_its_state_not_the_process() -> None:
    deep = "( $f := function($n){ $n <= 1 ? 1 : $n + $f($n - 1) }; $f(5000) )"
    result = execute(machine(passes({"Output": "{% " + deep + " %}"})), {}, {})
    assert (result.status, result.error) == ("FAILED", "States.QueryEvaluationError")
    assert "RecursionError" in result.cause
    aws_depth = "( $f := function($n){ $n <= 1 ? 1 : $n * $f($n - 1) }; $f(31) )"
    assert execute(machine(passes({"Output": "{% " + aws_depth + " %}"})), {}, {}).status == (
        "SUCCEEDED"
    )
