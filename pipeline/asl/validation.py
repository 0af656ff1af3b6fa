"""What CreateStateMachine would refuse, checked before an execution starts.

Checked: the ``QueryLanguage`` of the machine and of each state, fields that belong to the
other query language, JSONata expressions that do not parse, variable names, a branch or
iteration assigning a variable of an enclosing scope, and the ASL features this interpreter
does not run (each refused with :class:`Unsupported`, naming what to do instead). Each error
names where it is, as AWS does: ``/States/Pay/Output``.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from typing import Any

from pipeline.asl.dataflow import JSONATA, JSONPATH
from pipeline.asl.errors import DefinitionError
from pipeline.asl.expressions import ExpressionSyntaxError, compiled, expression_text


class Unsupported(DefinitionError):
    """A valid ASL feature this interpreter does not run."""


JSONPATH_ONLY = (
    "InputPath",
    "OutputPath",
    "ResultPath",
    "ResultSelector",
    "Parameters",
    "Result",
    "ItemsPath",
    "MaxConcurrencyPath",
    "ToleratedFailureCountPath",
    "ToleratedFailurePercentagePath",
    "SecondsPath",
    "TimestampPath",
    "TimeoutSecondsPath",
    "HeartbeatSecondsPath",
    "ErrorPath",
    "CausePath",
)
JSONATA_ONLY = ("Arguments", "Output", "Items")
# Fields of a JSONata state whose strings may be {% %} expressions.
EXPRESSION_FIELDS = (
    "Arguments",
    "Output",
    "Assign",
    "Items",
    "ItemSelector",
    "MaxConcurrency",
    "ToleratedFailureCount",
    "ToleratedFailurePercentage",
    "TimeoutSeconds",
    "HeartbeatSeconds",
    "Seconds",
    "Timestamp",
    "Error",
    "Cause",
)
_VARIABLE_NAME = re.compile(r"^[^\W\d]\w{0,79}$")
RESERVED_VARIABLES = ("states",)

UNSUPPORTED_MAP_FIELDS = {
    "ItemReader": "reading a distributed Map's items from S3 (ItemReader); pass the items in "
    "the state input, or read them in a Task first",
    "ItemBatcher": "batching a distributed Map's items (ItemBatcher); batch them with "
    "$partition (JSONata) or States.ArrayPartition first",
    "ResultWriter": "writing a distributed Map's results to S3 (ResultWriter); the Map's "
    "output holds them",
}
UNSUPPORTED_RESOURCES = (
    (
        re.compile(r"^arn:aws[\w-]*:states:[^:]*:[^:]*:activity:"),
        "activities (a worker polls GetActivityTask); use a Lambda or a service integration",
    ),
    (
        re.compile(r"\.waitForTaskToken$"),
        "callbacks (.waitForTaskToken: the execution waits for SendTaskSuccess); the local "
        "cloud has no task-token API",
    ),
)


# Definitions checked lately, by identity: the runtimes start many executions of one machine,
# and a definition is not changed once deployed. The entry keeps the object alive, so an id is
# never reused for another definition while it is listed.
_CHECKED: OrderedDict[int, Mapping[str, Any]] = OrderedDict()
_REMEMBERED = 256


def check(definition: Mapping[str, Any]) -> None:
    """Raise :class:`DefinitionError` (or :class:`Unsupported`) for the first problem found."""
    key = id(definition)
    if _CHECKED.get(key) is definition:
        _CHECKED.move_to_end(key)
        return
    top = definition.get("QueryLanguage", JSONPATH)
    _language_value(top, "/QueryLanguage")
    _machine(definition, top, "", outer=frozenset())
    _CHECKED[key] = definition
    if len(_CHECKED) > _REMEMBERED:
        _CHECKED.popitem(last=False)


def _language_value(value: Any, where: str) -> None:
    if value not in (JSONPATH, JSONATA):
        raise DefinitionError(
            f"{where}: QueryLanguage must be one of [JSONPath, JSONata], not {value!r}"
        )


def _machine(
    machine: Mapping[str, Any],
    top: str,
    where: str,
    *,
    outer: frozenset[str],
    isolated: bool = False,
) -> None:
    """Check a state machine or a branch/iterator; ``outer`` holds the variables its
    enclosing scopes assign."""
    if where and "QueryLanguage" in machine:
        raise DefinitionError(f"{where}: Field 'QueryLanguage' is not supported")
    states = machine.get("States") or {}
    own = frozenset(name for state in states.values() for name in _assigned_names(state))
    clash = sorted(own & outer)
    if clash and not isolated:
        raise DefinitionError(
            f"{where or '/'}: the variable '{clash[0]}' is assigned in an enclosing scope; a "
            "Parallel branch or Map iteration can read it but not assign it"
        )
    for name, state in states.items():
        _state(name, state, top, f"{where}/States/{name}", outer | own)


def _state(
    name: str, state: Mapping[str, Any], top: str, where: str, scope: frozenset[str]
) -> None:
    language = _state_language(state, top, where)
    _assign_names(state, where, language)
    if language == JSONATA:
        _expressions(state, where)
    _choice_rules(state, where, language)
    _unsupported(state, where)
    kind = state.get("Type")
    if kind == "Parallel":
        for index, branch in enumerate(state.get("Branches", [])):
            _machine(branch, top, f"{where}/Branches[{index}]", outer=scope)
    elif kind == "Map":
        processor = state.get("ItemProcessor") or state.get("Iterator") or {}
        key = "ItemProcessor" if "ItemProcessor" in state else "Iterator"
        distributed = (processor.get("ProcessorConfig") or {}).get("Mode") == "DISTRIBUTED"
        _machine(processor, top, f"{where}/{key}", outer=scope, isolated=distributed)


def _state_language(state: Mapping[str, Any], top: str, where: str) -> str:
    """The state's query language, checked against the machine's and the fields it uses."""
    language: str = state.get("QueryLanguage", top)
    if "QueryLanguage" in state:
        _language_value(language, f"{where}/QueryLanguage")
        if top == JSONATA and language == JSONPATH:
            raise DefinitionError(
                f"{where}: 'QueryLanguage' can not be 'JSONPath' if set to 'JSONata' for "
                "whole state machine"
            )
    wrong = JSONPATH_ONLY if language == JSONATA else JSONATA_ONLY
    for key in wrong:
        if key in state:
            owner = JSONPATH if language == JSONATA else JSONATA
            raise DefinitionError(
                f"{where}: The QueryLanguage is set to '{language}', but field '{key}' is only "
                f"supported for the '{owner}' QueryLanguage"
            )
    return language


def _assign_names(state: Mapping[str, Any], where: str, language: str) -> None:
    """Every variable the state (its Choice rules and catchers too) assigns is a valid name."""
    for holder, place in _assign_holders(state, where):
        for key in holder.get("Assign") or {}:
            variable = key[:-2] if key.endswith(".$") and language == JSONPATH else key
            if not _VARIABLE_NAME.match(variable) or variable in RESERVED_VARIABLES:
                raise DefinitionError(
                    f"{place}/Assign: '{variable}' is not a valid variable name (a letter or "
                    "underscore, then letters, digits or underscores, at most 80; 'states' "
                    "is reserved)"
                )


def _choice_rules(state: Mapping[str, Any], where: str, language: str) -> None:
    """A JSONata Choice rule has a Condition; a JSONPath one neither Condition nor Output."""
    for index, rule in enumerate(state.get("Choices", [])):
        if language == JSONATA and "Condition" not in rule:
            raise DefinitionError(
                f"{where}/Choices[{index}]: a JSONata Choice rule needs a Condition"
            )
        if language != JSONATA and ("Condition" in rule or "Output" in rule):
            raise DefinitionError(
                f"{where}/Choices[{index}]: Condition and Output are JSONata fields; this "
                "state is JSONPath"
            )


def _assign_holders(
    state: Mapping[str, Any], where: str
) -> Iterator[tuple[Mapping[str, Any], str]]:
    yield state, where
    for index, rule in enumerate(state.get("Choices", [])):
        yield rule, f"{where}/Choices[{index}]"
    for index, catcher in enumerate(state.get("Catch", [])):
        yield catcher, f"{where}/Catch[{index}]"


def _assigned_names(state: Mapping[str, Any]) -> Iterator[str]:
    for holder, _ in _assign_holders(state, ""):
        for key in holder.get("Assign") or {}:
            yield key[:-2] if key.endswith(".$") else key


def _expressions(state: Mapping[str, Any], where: str) -> None:
    fields = [(state.get(k), f"{where}/{k}") for k in EXPRESSION_FIELDS if k in state]
    for index, rule in enumerate(state.get("Choices", [])):
        fields += [(rule.get(k), f"{where}/Choices[{index}]/{k}") for k in rule if k != "Next"]
    for index, catcher in enumerate(state.get("Catch", [])):
        fields += [(catcher.get(k), f"{where}/Catch[{index}]/{k}") for k in ("Output", "Assign")]
    for value, place in fields:
        for text, inner in _expression_strings(value, place):
            try:
                compiled(text)
            except ExpressionSyntaxError as error:
                raise DefinitionError(
                    f"{inner}: INVALID_JSONATA_EXPRESSION: '{text}': {error}"
                ) from None


def _expression_strings(value: Any, where: str) -> Iterator[tuple[str, str]]:
    text = expression_text(value)
    if text is not None:
        yield text, where
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _expression_strings(item, f"{where}/{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _expression_strings(item, f"{where}[{index}]")


def _unsupported(state: Mapping[str, Any], where: str) -> None:
    if state.get("Type") == "Map":
        for key, what in UNSUPPORTED_MAP_FIELDS.items():
            if key in state:
                raise Unsupported(f"{where}/{key}: not supported here: {what}")
    resource = state.get("Resource")
    if state.get("Type") == "Task" and isinstance(resource, str):
        for pattern, what in UNSUPPORTED_RESOURCES:
            if pattern.search(resource):
                raise Unsupported(f"{where}/Resource: not supported here: {what}")
