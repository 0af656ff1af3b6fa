"""Differential: our interpreter against moto's Step Functions executor on the same definitions.

moto's executor (moto >= 5.2.5, ``execute_state_machine``) runs Pass, Choice, Wait, Fail,
Succeed, Parallel and Map; its Lambda tasks need Docker, which this machine lacks, so the
task-bearing machines are checked against our own expectations in test_project_machines.py.
"""

from __future__ import annotations

import json
import threading

import boto3
import pytest
from moto import mock_aws

from pipeline.asl import execute

P = {"Type": "Pass", "End": True}

CASES = {
    "parameters and format": (
        {
            "StartAt": "A",
            "States": {
                "A": {
                    **P,
                    "Parameters": {
                        "v.$": "States.Format('order {} x{}', $.id, $.n)",
                        "first.$": "$.items[0]",
                        "len.$": "States.ArrayLength($.items)",
                    },
                    "ResultPath": "$.out",
                }
            },
        },
        {"id": "o-1", "n": 2, "items": ["a", "b"]},
    ),
    "result path null and output path": (
        {
            "StartAt": "A",
            "States": {"A": {**P, "Result": {"x": 1}, "ResultPath": None, "OutputPath": "$.keep"}},
        },
        {"keep": {"k": True}, "drop": 1},
    ),
    "choice and or not": (
        {
            "StartAt": "C",
            "States": {
                "C": {
                    "Type": "Choice",
                    "Choices": [
                        {
                            "And": [
                                {"Variable": "$.n", "NumericGreaterThan": 2},
                                {"Not": {"Variable": "$.s", "StringEquals": "x"}},
                            ],
                            "Next": "Y",
                        }
                    ],
                    "Default": "N",
                },
                "Y": {**P, "Result": "yes"},
                "N": {**P, "Result": "no"},
            },
        },
        {"n": 3, "s": "y"},
    ),
    "choice default": (
        {
            "StartAt": "C",
            "States": {
                "C": {
                    "Type": "Choice",
                    "Choices": [{"Variable": "$.s", "StringMatches": "ab*", "Next": "Y"}],
                    "Default": "N",
                },
                "Y": {**P, "Result": "yes"},
                "N": {**P, "Result": "no"},
            },
        },
        {"s": "zz"},
    ),
    "fail state": (
        {"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Broken", "Cause": "why"}}},
        {},
    ),
    "parallel": (
        {
            "StartAt": "Par",
            "States": {
                "Par": {
                    "Type": "Parallel",
                    "End": True,
                    "Branches": [
                        {"StartAt": "A", "States": {"A": {**P, "Result": 1}}},
                        {"StartAt": "B", "States": {"B": {**P, "InputPath": "$.v"}}},
                    ],
                }
            },
        },
        {"v": [1, 2]},
    ),
    "map with item selector": (
        {
            "StartAt": "M",
            "States": {
                "M": {
                    "Type": "Map",
                    "End": True,
                    "ItemsPath": "$.xs",
                    "ItemSelector": {"x.$": "$$.Map.Item.Value", "i.$": "$$.Map.Item.Index"},
                    "ItemProcessor": {
                        "ProcessorConfig": {"Mode": "INLINE"},
                        "StartAt": "I",
                        "States": {"I": P},
                    },
                }
            },
        },
        {"xs": ["a", "b", "c"]},
    ),
    "array intrinsics": (
        {
            "StartAt": "A",
            "States": {
                "A": {
                    **P,
                    "Parameters": {
                        "parts.$": "States.ArrayPartition($.xs, 2)",
                        "has.$": "States.ArrayContains($.xs, 3)",
                        "uniq.$": "States.ArrayUnique($.dup)",
                        "range.$": "States.ArrayRange(0, 6, 3)",
                    },
                }
            },
        },
        {"xs": [1, 2, 3, 4, 5], "dup": [1, 1, 2]},
    ),
    "json intrinsics": (
        {
            "StartAt": "A",
            "States": {
                "A": {
                    **P,
                    "Parameters": {
                        "parsed.$": "States.StringToJson($.s)",
                        "text.$": "States.JsonToString($.o)",
                        "merged.$": "States.JsonMerge($.o, $.p, false)",
                    },
                }
            },
        },
        {"s": '{"a": 1}', "o": {"k": 1}, "p": {"k": 2, "z": 0}},
    ),
    "wait then pass": (
        {
            "StartAt": "W",
            "States": {
                "W": {"Type": "Wait", "Seconds": 0, "Next": "A"},
                "A": {**P, "Result": "after"},
            },
        },
        {},
    ),
}


def run_in_moto(definition: dict, data: dict) -> tuple[str, object, str | None]:
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        arn = sfn.create_state_machine(
            name="diff",
            definition=json.dumps(definition),
            roleArn="arn:aws:iam::123456789012:role/machine",
        )["stateMachineArn"]
        before = set(threading.enumerate())
        execution = sfn.start_execution(stateMachineArn=arn, input=json.dumps(data))["executionArn"]
        # moto runs the execution on a thread (which waits for the threads it starts): join it;
        # the timeout only bounds a hung executor.
        for worker in set(threading.enumerate()) - before:
            if worker.is_alive():
                worker.join(timeout=30)
        described = sfn.describe_execution(executionArn=execution)
        return described["status"], _output(described.get("output")), described.get("error")


def _output(text: str | None) -> object:
    """moto returns a string output unquoted (AWS returns it JSON-encoded); accept both."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


@pytest.mark.parametrize("name", sorted(CASES))
def test_same_outcome_as_moto_step_functions(name):
    definition, data = CASES[name]
    ours = execute(definition, data, {})
    assert (ours.status, ours.output, ours.error) == run_in_moto(definition, data)
