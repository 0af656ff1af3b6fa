"""Reference paths, payload templates and the input/output processing of a state.

Implements the ASL path language: ``$``-rooted reference paths with dots, brackets and array
indexes (``$$`` for the context object, ``$name`` for a workflow variable); ``Parameters``/
``ResultSelector``/``Assign`` templates whose ``.$`` keys take a path or an intrinsic function;
and ``InputPath``, ``ResultPath``, ``OutputPath`` with their ``null`` meanings.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pipeline.asl import errors
from pipeline.asl.errors import TaskFailed
from pipeline.asl.variables import UndefinedVariable, Variables

_VARIABLE = re.compile(r"\$([^\W\d]\w*)")
_TOKEN = re.compile(
    r"""\.(?P<name>[^.\[\]]+)                                     # .field
      | \[\s*'(?P<quoted>[^']*)'\s*\]                             # ['field']
      | \[\s*"(?P<dquoted>[^"]*)"\s*\]                            # ["field"]
      | \[\s*(?P<index>-?\d+)\s*\]                                # [0]
      | \[\s*(?P<slice>-?\d*\s*:\s*-?\d*(?:\s*:\s*-?\d*)?)\s*\]   # [1:5], [:2], [::2]
      | \[\s*\?\(\s*(?P<filter>.+?)\s*\)\s*\]                     # [?(@.status == 0)]
      | \[\s*\*\s*\]                                              # [*]
      | \.\*                                                      # .*
    """,
    re.VERBOSE,
)
_FILTER = re.compile(
    r"""^@(?P<path>(?:\.[^.\s\[\]=!<>]+|\[\s*'[^']*'\s*\]|\[\s*\d+\s*\])*)\s*
        (?:(?P<op>==|!=|<=|>=|<|>)\s*(?P<value>.+))?$""",
    re.VERBOSE,
)
WILDCARD = object()


@dataclass(frozen=True)
class Slice:
    start: int | None
    stop: int | None
    step: int | None


@dataclass(frozen=True)
class Filter:
    """``[?(@.a.b <op> literal)]``, or ``[?(@.a)]`` (the member exists)."""

    steps: tuple[Any, ...]
    op: str | None
    value: Any

    def keeps(self, item: Any) -> bool:
        missing, value = _follow(item, self.steps)
        if missing is not None:
            return False
        if self.op is None:
            return True
        comparable = isinstance(value, int | float) == isinstance(self.value, int | float)
        if self.op == "==":
            return comparable and value == self.value
        if self.op == "!=":
            return not (comparable and value == self.value)
        if not comparable or isinstance(value, bool) or value is None:
            return False
        return bool(
            {
                "<": value < self.value,
                "<=": value <= self.value,
                ">": value > self.value,
                ">=": value >= self.value,
            }[self.op]
        )


def parse_path(path: str) -> tuple[str, list[Any]]:
    """Split ``$.a['b'][0]`` into its root (``$``, ``$$``, or ``$name`` for a variable) and
    steps."""
    root, steps = _parse_cached(path)
    return root, list(steps)


@functools.lru_cache(maxsize=4096)
def _parse_cached(path: str) -> tuple[str, tuple[Any, ...]]:
    root, rest = _split_root(path)
    steps: list[Any] = []
    position = 0
    while position < len(rest):
        match = _TOKEN.match(rest, position)
        if match is None:
            raise TaskFailed(errors.RUNTIME, f"invalid path {path!r} at {rest[position:]!r}")
        steps.append(_step(path, match))
        position = match.end()
    return root, tuple(steps)


def _split_root(path: str) -> tuple[str, str]:
    """A path's root (``$$``, ``$name`` or ``$``) and the rest of it."""
    if path.startswith("$$"):
        return "$$", path[2:]
    variable = _VARIABLE.match(path)
    if variable is not None:
        return variable.group(), path[variable.end() :]
    if path.startswith("$"):
        return "$", path[1:]
    raise TaskFailed(errors.RUNTIME, f"invalid path {path!r}: must start with $")


def _step(path: str, match: re.Match[str]) -> Any:
    """One step of a path, as ``_TOKEN`` matched it: a name, an index, a slice, a filter or
    the wildcard."""
    if match.group("index") is not None:
        return int(match.group("index"))
    for group in ("name", "quoted", "dquoted"):
        if match.group(group) is not None:
            return match.group(group)
    if match.group("slice") is not None:
        bounds = [b.strip() for b in match.group("slice").split(":")]
        return Slice(*(int(b) if b else None for b in [*bounds, ""][:3]))
    if match.group("filter") is not None:
        return _parse_filter(path, match.group("filter"))
    return WILDCARD


def _parse_filter(path: str, text: str) -> Filter:
    match = _FILTER.match(text)
    if match is None:
        raise TaskFailed(errors.RUNTIME, f"unsupported filter in path {path!r}: {text!r}")
    _, steps = _parse_cached("$" + match.group("path"))
    value: Any = None
    if match.group("op"):
        literal = match.group("value").strip()
        if literal[:1] == "'" and literal[-1:] == "'":
            value = literal[1:-1]
        else:
            try:
                value = json.loads(literal)
            except ValueError:
                raise TaskFailed(
                    errors.RUNTIME, f"unsupported filter value in path {path!r}: {literal!r}"
                ) from None
    return Filter(steps, match.group("op"), value)


def _follow(value: Any, steps: Sequence[Any]) -> tuple[int | None, Any]:
    """Walk names and indexes: (None, the value), or (the index of the step that found
    nothing, None)."""
    for depth, step in enumerate(steps):
        if isinstance(step, int):
            if not isinstance(value, list) or not -len(value) <= step < len(value):
                return depth, None
        elif not isinstance(value, dict) or step not in value:
            return depth, None
        value = value[step]
    return None, value


def is_definite(steps: Sequence[Any]) -> bool:
    return not any(s is WILDCARD or isinstance(s, Slice | Filter) for s in steps)


def read(path: str, data: Any, context: Any = None, variables: Variables | None = None) -> Any:
    """The value at ``path``. A definite path (names and indexes only) that selects nothing
    raises ``States.Runtime``; an indefinite one (wildcard, slice, filter) selects a list,
    possibly empty, as Step Functions' JsonPath does."""
    root, steps = _parse_cached(path)
    values = [_root(path, root, data, context, variables)]
    if is_definite(steps):
        missing, value = _follow(values[0], steps)
        if missing is not None:
            raise _missing(path, steps, missing)
        return value
    for step in steps:
        values = [found for value in values for found in _select(step, value)]
    return values


def _select(step: Any, value: Any) -> list[Any]:
    """What one step of an indefinite path selects from one value (possibly nothing)."""
    if step is WILDCARD:
        if isinstance(value, dict):
            return list(value.values())
        return list(value) if isinstance(value, list) else []
    if isinstance(step, Slice):
        return value[step.start : step.stop : step.step] if isinstance(value, list) else []
    if isinstance(step, Filter):
        if isinstance(value, list):
            return [item for item in value if step.keeps(item)]
        return [value] if step.keeps(value) else []
    if isinstance(step, int):
        found = isinstance(value, list) and -len(value) <= step < len(value)
        return [value[step]] if found else []
    return [value[step]] if isinstance(value, dict) and step in value else []


def _root(path: str, root: str, data: Any, context: Any, variables: Variables | None) -> Any:
    if root == "$":
        return data
    if root == "$$":
        return context
    try:
        if variables is None:
            raise UndefinedVariable(root[1:])
        return variables.get(root[1:])
    except UndefinedVariable:
        raise VariableNotFound(
            errors.RUNTIME,
            f"Invalid path '{path}' : The variable '{root}' is not defined in this scope.",
        ) from None


def bracketed(steps: Sequence[Any]) -> str:
    """Jayway's rendering of a path, as AWS quotes it in causes: ``$['a'][0]``."""
    return "$" + "".join(f"[{s}]" if isinstance(s, int) else f"['{s}']" for s in steps)


class PathNotFound(TaskFailed):
    """A definite path selected nothing (States.Runtime, worded as Jayway words it)."""


class VariableNotFound(TaskFailed):
    """A path names a variable that no enclosing scope has assigned (States.Runtime)."""


def _missing(path: str, steps: Sequence[Any], depth: int) -> PathNotFound:
    if depth == len(steps) - 1:
        detail = f"No results for path: {bracketed(steps)}"
    else:
        detail = f"Missing property in path {bracketed(steps[: depth + 1])}"
    return PathNotFound(errors.RUNTIME, f"Invalid path '{path}' : {detail}")


def _short(data: Any) -> str:
    text = json.dumps(data, separators=(",", ":"), default=str)
    return text if len(text) <= 200 else text[:200] + "..."


def write(path: str, data: Any, value: Any) -> Any:
    """``data`` with ``value`` placed at ``path`` (a ResultPath); creates missing objects."""
    root, steps = parse_path(path)
    if root != "$" or not is_definite(steps) or any(isinstance(s, int) for s in steps):
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


def resolve_template(
    template: Any, data: Any, context: Any, intrinsic: Any, variables: Variables | None = None
) -> Any:
    """Evaluate a payload template: ``key.$`` values are paths or intrinsic calls; ``intrinsic``
    is called as ``intrinsic(expression, data, context)``."""
    if isinstance(template, Mapping):
        out: dict[str, Any] = {}
        for key, value in template.items():
            if key.endswith(".$"):
                if not isinstance(value, str):
                    raise TaskFailed(errors.RUNTIME, f"{key} must be a path string")
                if value.startswith("$"):
                    try:
                        out[key[:-2]] = read(value, data, context, variables)
                    except PathNotFound:
                        # What Step Functions reports (States.Runtime, not the documented
                        # States.ParameterPathFailure), as recorded from AWS.
                        source = context if value.startswith("$$") else data
                        raise TaskFailed(
                            errors.RUNTIME,
                            f"The JSONPath '{value}' specified for the field '{key}' "
                            f"could not be found in the input '{_short(source)}'",
                        ) from None
                else:
                    out[key[:-2]] = intrinsic(value, data, context)
            else:
                out[key] = resolve_template(value, data, context, intrinsic, variables)
        return out
    if isinstance(template, list):
        return [resolve_template(v, data, context, intrinsic, variables) for v in template]
    return template


def input_path(
    state: Mapping[str, Any], data: Any, context: Any, variables: Variables | None = None
) -> Any:
    """Apply InputPath: absent means ``$``, null means ``{}``."""
    if "InputPath" not in state:
        return data
    if state["InputPath"] is None:
        return {}
    return read(state["InputPath"], data, context, variables)


def result_path(state: Mapping[str, Any], data: Any, result: Any) -> Any:
    """Apply ResultPath: absent means ``$`` (replace), null means keep the input."""
    if "ResultPath" not in state:
        return result
    if state["ResultPath"] is None:
        return data
    return write(state["ResultPath"], data, result)


def output_path(
    state: Mapping[str, Any], data: Any, context: Any, variables: Variables | None = None
) -> Any:
    """Apply OutputPath: absent means ``$``, null means ``{}``."""
    if "OutputPath" not in state:
        return data
    if state["OutputPath"] is None:
        return {}
    return read(state["OutputPath"], data, context, variables)
