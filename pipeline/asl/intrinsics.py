"""The intrinsic functions (``States.Format``, ``States.Array``, ...), parsed and evaluated.

Arguments are string literals in single quotes (``\\`` escapes), numbers, booleans, null,
paths (``$.x``, ``$$.Execution.Id``, ``$variable``) or nested intrinsic calls (AWS
"Intrinsic functions").
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import random
import re
import uuid
from collections.abc import Callable
from typing import Any

from pipeline.asl import errors
from pipeline.asl.errors import TaskFailed
from pipeline.asl.paths import read
from pipeline.asl.variables import Variables

_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][-+]?\d+)?")
_NAME = re.compile(r"States\.[A-Za-z0-9]+")


def _fail(message: str) -> TaskFailed:
    return TaskFailed(errors.INTRINSIC_FAILURE, message)


class _Parser:
    """A recursive-descent parser over one intrinsic expression."""

    def __init__(self, text: str) -> None:
        self.text, self.pos = text, 0

    def skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def call(self) -> tuple[str, list[Any]]:
        self.skip()
        match = _NAME.match(self.text, self.pos)
        if match is None:
            raise _fail(f"expected an intrinsic function at {self.text[self.pos :]!r}")
        self.pos = match.end()
        self.skip()
        if self.text[self.pos : self.pos + 1] != "(":
            raise _fail(f"expected '(' after {match.group()}")
        self.pos += 1
        args: list[Any] = []
        self.skip()
        if self.text[self.pos : self.pos + 1] == ")":
            self.pos += 1
            return match.group(), args
        while True:
            args.append(self.argument())
            self.skip()
            char = self.text[self.pos : self.pos + 1]
            self.pos += 1
            if char == ")":
                return match.group(), args
            if char != ",":
                raise _fail(f"expected ',' or ')' in {self.text!r}")

    def argument(self) -> Any:
        self.skip()
        rest = self.text[self.pos :]
        if rest.startswith("'"):
            return ("literal", self.string())
        if rest.startswith("$"):
            return ("path", self.path())
        if rest.startswith("States."):
            return ("call", self.call())
        for word, value in (("true", True), ("false", False), ("null", None)):
            if rest.startswith(word):
                self.pos += len(word)
                return ("literal", value)
        number = _NUMBER.match(self.text, self.pos)
        if number:
            self.pos = number.end()
            text = number.group()
            return ("literal", float(text) if any(c in text for c in ".eE") else int(text))
        raise _fail(f"cannot read an argument at {rest!r}")

    def path(self) -> str:
        """A path argument: up to the ``,`` or ``)`` (outside brackets) that ends it."""
        end = self.pos
        depth = 0
        while end < len(self.text):
            char = self.text[end]
            if char == "[":
                depth += 1
            elif char == "]":
                depth -= 1
            elif char in ",)" and depth == 0:
                break
            end += 1
        path, self.pos = self.text[self.pos : end].strip(), end
        return path

    def string(self) -> str:
        self.pos += 1
        out = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == "\\" and self.pos + 1 < len(self.text):
                escaped = self.text[self.pos + 1]
                # Keep \{ and \} marked: only States.Format gives braces a meaning.
                out.append("\\" + escaped if escaped in "{}" else escaped)
                self.pos += 2
                continue
            if char == "'":
                self.pos += 1
                return "".join(out)
            out.append(char)
            self.pos += 1
        raise _fail("unterminated string literal")


def evaluate(
    expression: str,
    data: Any,
    context: Any,
    rng: random.Random | None = None,
    variables: Variables | None = None,
) -> Any:
    """Evaluate one intrinsic expression against the state's input, the context object and
    the variables in scope."""
    parser = _Parser(expression)
    name, args = parser.call()
    parser.skip()
    if parser.pos != len(expression):
        raise _fail(f"unexpected text after the call: {expression[parser.pos :]!r}")
    return _apply(name, args, _Sources(data, context, variables), rng or random.Random(0))


class _Sources:
    """What an argument's path can read: the input, the context object, the variables."""

    def __init__(self, data: Any, context: Any, variables: Variables | None) -> None:
        self.data, self.context, self.variables = data, context, variables


def _value(arg: tuple[str, Any], sources: _Sources, rng: random.Random) -> Any:
    kind, value = arg
    if kind == "literal":
        return value
    if kind == "path":
        return read(value, sources.data, sources.context, sources.variables)
    return _apply(value[0], value[1], sources, rng)


def _apply(name: str, raw: list[Any], sources: _Sources, rng: random.Random) -> Any:
    function = FUNCTIONS.get(name)
    if function is None:
        raise _fail(f"unknown intrinsic function {name}")
    args = [_value(a, sources, rng) for a in raw]
    if name != "States.Format":
        args = [_unescape_braces(a) if isinstance(a, str) else a for a in args]
    try:
        return function(rng, *args)
    except TaskFailed:
        raise
    except (TypeError, ValueError, IndexError, KeyError) as error:
        raise _fail(f"{name} failed: {error}") from None


def _unescape_braces(text: str) -> str:
    return text.replace("\\{", "{").replace("\\}", "}")


def _format(_rng: random.Random, template: str, *values: Any) -> str:
    pieces = re.split(r"(?<!\\)\{\}", template)
    if len(pieces) - 1 != len(values):
        raise _fail(f"States.Format: {len(pieces) - 1} placeholders, {len(values)} arguments")
    out = pieces[0]
    for value, piece in zip(values, pieces[1:], strict=True):
        out += _java_text(value) + piece
    return _unescape_braces(out)


def _java_text(value: Any) -> str:
    """How Step Functions (Java) prints a value into States.Format: ``{a=1, b=[x, y]}``."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={_java_text(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_java_text(v) for v in value) + "]"
    return json.dumps(value)


def _java_round(value: Any) -> int:
    """Java's Math.round (half up, towards +infinity): how AWS makes numbers integers."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(f"expected a number, got {value!r}")
    return math.floor(value + 0.5) if isinstance(value, float) else value


def _string_to_json(_rng: random.Random, text: str) -> Any:
    return json.loads(text) if text.strip() else None


def _partition(_rng: random.Random, array: list[Any], size: int) -> list[list[Any]]:
    if not isinstance(size, int) or size < 1:
        raise _fail("States.ArrayPartition: chunk size must be a positive integer")
    return [array[i : i + size] for i in range(0, len(array), size)]


def _range(_rng: random.Random, start: int, end: int, step: int) -> list[int]:
    if step == 0:
        raise _fail("States.ArrayRange: step must not be 0")
    values = list(range(start, end + (1 if step > 0 else -1), step))
    if len(values) > 1000:
        raise _fail("States.ArrayRange: at most 1000 elements")
    return values


def _unique(_rng: random.Random, array: list[Any]) -> list[Any]:
    out: list[Any] = []
    for item in array:
        if item not in out:
            out.append(item)
    return out


# The algorithm names States.Hash and JSONata's $hash take, as hashlib names them.
HASH_ALGORITHMS = {
    "MD5": "md5",
    "SHA-1": "sha1",
    "SHA-256": "sha256",
    "SHA-384": "sha384",
    "SHA-512": "sha512",
}


def _hash(_rng: random.Random, value: str, algorithm: str) -> str:
    if algorithm not in HASH_ALGORITHMS:
        raise _fail(f"States.Hash: unsupported algorithm {algorithm}")
    return hashlib.new(HASH_ALGORITHMS[algorithm], value.encode()).hexdigest()


def _merge(
    _rng: random.Random, left: dict[str, Any], right: dict[str, Any], deep: bool
) -> dict[str, Any]:
    if deep:
        raise _fail("States.JsonMerge: deep merging is not supported (AWS supports shallow only)")
    return {**left, **right}


def _random(rng: random.Random, start: Any, end: Any, seed: Any = None) -> int:
    source = random.Random(_java_round(seed)) if seed is not None else rng
    return source.randint(_java_round(start), _java_round(end))


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _get_item(_rng: random.Random, array: list[Any], index: int) -> Any:
    if not isinstance(index, int) or not 0 <= index < len(array):
        raise _fail(f"States.ArrayGetItem: index {index} out of bounds")
    return array[index]


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "States.Format": _format,
    "States.StringToJson": _string_to_json,
    "States.JsonToString": lambda _r, value: json.dumps(value, separators=(",", ":")),
    "States.Array": lambda _r, *values: list(values),
    "States.ArrayPartition": _partition,
    "States.ArrayContains": lambda _r, array, value: value in array,
    "States.ArrayRange": _range,
    "States.ArrayGetItem": _get_item,
    "States.ArrayLength": lambda _r, array: len(array),
    "States.ArrayUnique": _unique,
    "States.Base64Encode": lambda _r, text: base64.b64encode(text.encode()).decode(),
    "States.Base64Decode": lambda _r, text: base64.b64decode(text).decode(),
    "States.Hash": _hash,
    "States.JsonMerge": _merge,
    "States.MathRandom": _random,
    "States.MathAdd": lambda _r, a, b: _java_round(a) + _java_round(b),
    "States.StringSplit": lambda _r, text, sep: [
        p for p in re.split("[" + re.escape(sep) + "]", text) if p
    ],
    "States.UUID": _uuid,
}
