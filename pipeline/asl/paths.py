"""Reference paths, payload templates and the input/output processing of a state.

Implements the ASL path language: ``$``-rooted reference paths with dots, brackets and array
indexes (and ``$$`` for the context object); ``Parameters``/``ResultSelector`` templates
whose ``.$`` keys take a path or an intrinsic function; and ``InputPath``, ``ResultPath``,
``OutputPath`` with their ``null`` meanings.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

from pipeline.asl import errors
from pipeline.asl.errors import TaskFailed

_TOKEN = re.compile(
    r"""\.(?P<name>[^.\[\]]+)          # .field
      | \[\s*'(?P<quoted>[^']*)'\s*\]  # ['field']
      | \[\s*"(?P<dquoted>[^"]*)"\s*\] # ["field"]
      | \[\s*(?P<index>-?\d+)\s*\]     # [0]
      | \[\s*\*\s*\]                   # [*]
      | \.\*                           # .*
    """,
    re.VERBOSE,
)
WILDCARD = object()


def parse_path(path: str) -> tuple[str, list[Any]]:
    """Split ``$.a['b'][0]`` into its root (``$`` or ``$$``) and steps."""
    if path.startswith("$$"):
        root, rest = "$$", path[2:]
    elif path.startswith("$"):
        root, rest = "$", path[1:]
    else:
        raise TaskFailed(errors.RUNTIME, f"invalid path {path!r}: must start with $")
    steps: list[Any] = []
    position = 0
    while position < len(rest):
        match = _TOKEN.match(rest, position)
        if match is None:
            raise TaskFailed(errors.RUNTIME, f"invalid path {path!r} at {rest[position:]!r}")
        if match.group("index") is not None:
            steps.append(int(match.group("index")))
        elif match.group("name") is not None:
            steps.append(match.group("name"))
        elif match.group("quoted") is not None:
            steps.append(match.group("quoted"))
        elif match.group("dquoted") is not None:
            steps.append(match.group("dquoted"))
        else:
            steps.append(WILDCARD)
        position = match.end()
    return root, steps


def read(path: str, data: Any, context: Any = None) -> Any:
    """The value at ``path``; raises ``States.Runtime`` when it does not exist."""
    root, steps = parse_path(path)
    values = [context if root == "$$" else data]
    multiple = False
    for step in steps:
        nxt = []
        for value in values:
            if step is WILDCARD:
                multiple = True
                if isinstance(value, list):
                    nxt.extend(value)
                elif isinstance(value, dict):
                    nxt.extend(value.values())
                continue
            if isinstance(step, int):
                if not isinstance(value, list) or not -len(value) <= step < len(value):
                    raise _missing(path, data)
                nxt.append(value[step])
            else:
                if not isinstance(value, dict) or step not in value:
                    if multiple:
                        continue
                    raise _missing(path, data)
                nxt.append(value[step])
        values = nxt
    return values if multiple else values[0]


def _missing(path: str, data: Any) -> TaskFailed:
    return TaskFailed(
        errors.RUNTIME,
        f"The JSONPath '{path}' could not be found in the input '{_short(data)}'",
    )


def _short(data: Any) -> str:
    import json

    text = json.dumps(data, separators=(",", ":"), default=str)
    return text if len(text) <= 200 else text[:200] + "..."


def write(path: str, data: Any, value: Any) -> Any:
    """``data`` with ``value`` placed at ``path`` (a ResultPath); creates missing objects."""
    root, steps = parse_path(path)
    if root != "$" or any(s is WILDCARD or isinstance(s, int) for s in steps):
        raise TaskFailed(errors.RUNTIME, f"invalid ResultPath {path!r}")
    if not steps:
        return value
    if not isinstance(data, dict):
        raise TaskFailed(
            errors.RESULT_PATH_MATCH_FAILURE,
            f"Unable to apply ResultPath '{path}' to input {_short(data)}",
        )
    out = copy.deepcopy(data)
    node = out
    for step in steps[:-1]:
        child = node.get(step)
        if child is None:
            child = node[step] = {}
        elif not isinstance(child, dict):
            raise TaskFailed(
                errors.RESULT_PATH_MATCH_FAILURE,
                f"Unable to apply ResultPath '{path}' to input {_short(data)}",
            )
        node = child
    node[steps[-1]] = value
    return out


def resolve_template(template: Any, data: Any, context: Any, intrinsic: Any) -> Any:
    """Evaluate a payload template: ``key.$`` values are paths or intrinsic calls."""
    if isinstance(template, Mapping):
        out: dict[str, Any] = {}
        for key, value in template.items():
            if key.endswith(".$"):
                if not isinstance(value, str):
                    raise TaskFailed(errors.RUNTIME, f"{key} must be a path string")
                if value.startswith("$"):
                    try:
                        out[key[:-2]] = read(value, data, context)
                    except TaskFailed as failure:
                        raise TaskFailed(errors.PARAMETER_PATH_FAILURE, failure.cause) from None
                else:
                    out[key[:-2]] = intrinsic(value, data, context)
            else:
                out[key] = resolve_template(value, data, context, intrinsic)
        return out
    if isinstance(template, list):
        return [resolve_template(v, data, context, intrinsic) for v in template]
    return template


def input_path(state: Mapping[str, Any], data: Any, context: Any) -> Any:
    """Apply InputPath: absent means ``$``, null means ``{}``."""
    if "InputPath" not in state:
        return data
    if state["InputPath"] is None:
        return {}
    return read(state["InputPath"], data, context)


def result_path(state: Mapping[str, Any], data: Any, result: Any) -> Any:
    """Apply ResultPath: absent means ``$`` (replace), null means keep the input."""
    if "ResultPath" not in state:
        return result
    if state["ResultPath"] is None:
        return data
    return write(state["ResultPath"], data, result)


def output_path(state: Mapping[str, Any], data: Any, context: Any) -> Any:
    """Apply OutputPath: absent means ``$``, null means ``{}``."""
    if "OutputPath" not in state:
        return data
    if state["OutputPath"] is None:
        return {}
    return read(state["OutputPath"], data, context)
