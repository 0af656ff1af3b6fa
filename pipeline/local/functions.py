"""The template's Lambda functions as in-process callables, invoked the way Lambda does."""

from __future__ import annotations

import importlib
import json
import time
from collections.abc import Callable
from typing import Any

from pipeline.asl import TaskFailed
from pipeline.asl.execution import lambda_style_error
from pipeline.local.lambda_context import LambdaContext
from pipeline.template import Template

FUNCTION = "AWS::Serverless::Function"


def handler_of(template: Template, function_id: str) -> Callable[[Any, Any], Any]:
    """Import the handler the template names for ``function_id`` (``module.attribute``)."""
    path = template.properties(function_id).get("Handler") or template.globals.get(
        "Function", {}
    ).get("Handler")
    module, _, attribute = path.rpartition(".")
    return getattr(importlib.import_module(module), attribute)


def invoke(template: Template, function_id: str, payload: Any) -> Any:
    """Call a function in-process; an exception becomes the error Step Functions would see."""
    props = template.properties(function_id)
    timeout = float(props.get("Timeout", template.globals.get("Function", {}).get("Timeout", 30)))
    return call(handler_of(template, function_id), payload, function_id, timeout)


def call(
    handler: Callable[[Any, Any], Any],
    payload: Any,
    function_name: str,
    timeout_s: float,
    clock: Callable[[], float] = time.monotonic,
) -> Any:
    """Run ``handler`` as Lambda would: with a context whose remaining time counts down from
    the function's timeout, an unhandled exception reported as ``{errorType, errorMessage}``,
    and a run longer than the timeout reported as ``Sandbox.Timedout``. A thread cannot be
    killed, so an overrun is noticed when the handler returns; whatever it wrote meanwhile
    stays written, as it does when Lambda stops a function mid-way."""
    context = LambdaContext(function_name=function_name, timeout_seconds=timeout_s)
    started = clock()
    try:
        result = handler(payload, context)
    except Exception as error:  # Lambda reports any unhandled exception as the task's error
        raise lambda_style_error(error) from error
    elapsed = clock() - started
    if elapsed > timeout_s:
        message = f"Task timed out after {timeout_s:.2f} seconds"
        cause = {"errorMessage": message, "errorType": "Sandbox.Timedout"}
        raise TaskFailed("Sandbox.Timedout", json.dumps(cause))
    return result


def task_functions(template: Template, state_machine_id: str) -> dict[str, str]:
    """``${Substitution}`` placeholders of a state machine mapped to the function logical ids."""
    subs = template.properties(state_machine_id).get("DefinitionSubstitutions", {})
    mapping: dict[str, str] = {}
    for key, value in subs.items():
        if isinstance(value, dict) and "Fn::GetAtt" in value:
            logical = value["Fn::GetAtt"][0]
            if template.resources.get(logical, {}).get("Type") == FUNCTION:
                mapping["${" + key + "}"] = logical
    return mapping
