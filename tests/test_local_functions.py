"""Functions invoked in-process the way Lambda invokes them: context, errors, timeout."""

from __future__ import annotations

import json
from itertools import count

import pytest

from pipeline.asl import TaskFailed
from pipeline.local.functions import call


def ticking(step: float):
    """A clock that advances ``step`` seconds each time it is read."""
    ticks = count()
    return lambda: next(ticks) * step


def test_the_context_counts_down_from_the_function_timeout():
    seen = {}

    def handler(event, context):
        seen["remaining"] = context.get_remaining_time_in_millis()
        seen["name"] = context.function_name
        return {"echo": event}

    assert call(handler, {"a": 1}, "Fn", 3.0) == {"echo": {"a": 1}}
    assert seen["name"] == "Fn" and 0 < seen["remaining"] <= 3000


def test_an_unhandled_exception_is_the_task_error_with_lambda_cause():
    def handler(event, context):
        raise KeyError("sku")

    with pytest.raises(TaskFailed) as failed:
        call(handler, {}, "Fn", 3.0)
    assert failed.value.error == "KeyError"
    assert json.loads(failed.value.cause) == {"errorMessage": "'sku'", "errorType": "KeyError"}


def test_running_past_the_timeout_fails_the_invocation_after_its_writes():
    writes = []

    def handler(event, context):
        writes.append(event)
        return "done"

    with pytest.raises(TaskFailed) as failed:
        call(handler, "w", "Fn", 3.0, clock=ticking(5.0))  # 5 s elapse during the call
    assert failed.value.error == "Sandbox.Timedout" and writes == ["w"]
    assert "Task timed out after 3.00 seconds" in failed.value.cause
    assert call(handler, "x", "Fn", 3.0, clock=ticking(1.0)) == "done"
