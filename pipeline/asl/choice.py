"""Choice rules: the comparison operators, And/Or/Not, and the type tests."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from pipeline.asl import errors
from pipeline.asl.errors import TaskFailed
from pipeline.asl.paths import read
from pipeline.asl.variables import Variables

_MISSING = object()


def _timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _matches_glob(value: str, pattern: str) -> bool:
    # ASL StringMatches: only * is special; \* and \\ escape (AWS "Choice state").
    regex = ""
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            regex += re.escape(pattern[i + 1])
            i += 2
            continue
        regex += ".*" if char == "*" else re.escape(char)
        i += 1
    return re.fullmatch(regex, value, re.DOTALL) is not None


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "Equals": lambda a, b: a == b,
    "LessThan": lambda a, b: a < b,
    "GreaterThan": lambda a, b: a > b,
    "LessThanEquals": lambda a, b: a <= b,
    "GreaterThanEquals": lambda a, b: a >= b,
}
_KINDS: dict[str, Callable[[Any], bool]] = {
    "String": lambda v: isinstance(v, str),
    "Numeric": _is_number,
    "Boolean": lambda v: isinstance(v, bool),
    "Timestamp": lambda v: _timestamp(v) is not None,
}


def evaluate(
    rule: Mapping[str, Any], data: Any, context: Any = None, variables: Variables | None = None
) -> bool:
    """Whether a JSONPath Choice rule (top-level or nested) holds for ``data``."""
    if "And" in rule:
        return all(evaluate(r, data, context, variables) for r in rule["And"])
    if "Or" in rule:
        return any(evaluate(r, data, context, variables) for r in rule["Or"])
    if "Not" in rule:
        return not evaluate(rule["Not"], data, context, variables)
    variable = rule.get("Variable")
    if variable is None:
        raise TaskFailed(errors.RUNTIME, f"Choice rule without Variable: {dict(rule)}")
    try:
        value = read(variable, data, context, variables)
    except TaskFailed:
        value = _MISSING
    for key, operand in rule.items():
        if key in ("Variable", "Next", "Comment", "Assign"):
            continue
        return _test(key, operand, value, variable, (data, context, variables))
    raise TaskFailed(errors.RUNTIME, f"Choice rule without a comparison: {dict(rule)}")


def _test(key: str, operand: Any, value: Any, variable: str, sources: tuple[Any, Any, Any]) -> bool:
    if key == "IsPresent":
        return bool((value is not _MISSING) == operand)
    if value is _MISSING:
        raise TaskFailed(
            errors.RUNTIME,
            f"Invalid path '{variable}': The choice state's condition path references an "
            "invalid value.",
        )
    if key == "IsNull":
        return bool((value is None) == operand)
    if key.startswith("Is") and key[2:] in _KINDS:
        return bool(_KINDS[key[2:]](value) == operand)
    if key == "StringMatches":
        return isinstance(value, str) and _matches_glob(value, operand)
    if key.endswith("Path"):
        return _compare(key[:-4], value, read(operand, *sources))
    return _compare(key, value, operand)


def _compare(key: str, value: Any, operand: Any) -> bool:
    """A comparison (``NumericLessThan``, ``TimestampEquals``...): false if either side is
    not of its kind."""
    for kind, test in _KINDS.items():
        if key.startswith(kind) and key[len(kind) :] in _COMPARE:
            if not test(value) or not test(operand):
                return False
            if kind == "Timestamp":
                value, operand = _timestamp(value), _timestamp(operand)
            return bool(_COMPARE[key[len(kind) :]](value, operand))
    raise TaskFailed(errors.RUNTIME, f"unknown Choice operator {key}")
