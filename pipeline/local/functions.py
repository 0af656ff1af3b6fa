"""The template's Lambda functions as in-process callables, invoked the way Lambda does."""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from typing import Any

from pipeline.asl import TaskFailed
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
    context = LambdaContext(function_name=function_id, timeout_seconds=timeout)
    try:
        return handler_of(template, function_id)(payload, context)
    except Exception as error:  # Lambda reports any unhandled exception as the task's error
        cause = {"errorMessage": str(error), "errorType": type(error).__name__}
        raise TaskFailed(type(error).__name__, json.dumps(cause)) from error


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
