"""JSONata in Step Functions: ``{% %}`` expressions, the templates that hold them, the
functions AWS adds, and ``States.QueryEvaluationError`` worded as AWS words it.

Expressions are evaluated by ``jsonata-python`` (a port of the reference implementation) with
no context item: the state's data arrives as ``$states`` (``input``, ``result``,
``errorOutput``, ``context``) and each variable in scope as ``$name``. An expression that
evaluates to nothing (undefined) fails the state, naming the field it was written in
(``Output/a/b[0]``), as AWS does. ``$eval`` is disabled, as on AWS; ``$now()`` and
``$millis()`` read the execution's clock, so a simulated execution sees simulated time.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import random
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from pipeline.asl import errors
from pipeline.asl.errors import TaskFailed
from pipeline.asl.intrinsics import HASH_ALGORITHMS
from pipeline.asl.jsonata_library import Functions, JException, Jsonata, Utils

OPEN, CLOSE = "{%", "%}"


def expression_text(value: Any) -> str | None:
    """The expression inside ``"{% ... %}"``, or None for any other value (a string with
    anything before ``{%`` or after ``%}`` is a literal, as on AWS)."""
    if isinstance(value, str) and value.startswith(OPEN) and value.endswith(CLOSE):
        return value[len(OPEN) : -len(CLOSE)].strip()
    return None


class ExpressionSyntaxError(ValueError):
    """An expression JSONata cannot parse (AWS refuses such a definition)."""


@functools.lru_cache(maxsize=4096)
def compiled(text: str) -> Jsonata:
    """The parsed expression (parsing is most of the cost of a small expression)."""
    try:
        expression = Jsonata(text)
    except JException as error:
        raise ExpressionSyntaxError(f"{error.error}: {error}") from None
    if expression.errors:
        raise ExpressionSyntaxError(str(expression.errors[0]))
    expression.output_convert_nulls = False  # keep null (a value) apart from undefined
    return expression


def query_error(cause: str) -> TaskFailed:
    return TaskFailed(errors.QUERY_EVALUATION, cause)


class Evaluator:
    """Evaluates one state's expressions and templates.

    ``states`` is the ``$states`` object; ``variables`` maps each variable in scope to its
    value; ``rng`` serves ``$random``/``$uuid`` and ``clock`` serves ``$now``/``$millis``.
    """

    def __init__(
        self,
        states: Mapping[str, Any],
        variables: Mapping[str, Any],
        rng: random.Random,
        clock: Callable[[], datetime],
    ) -> None:
        self.bindings: dict[str, Any] = {
            # a variable holding JSON null is bound to JSONata's null, not to undefined
            **{k: Utils.NULL_VALUE if v is None else v for k, v in variables.items()},
            **_functions(rng, clock),
            "states": dict(states),
        }

    def with_states(self, **states: Any) -> Evaluator:
        """The same evaluator with more of ``$states`` known (``result``, ``errorOutput``)."""
        other = object.__new__(Evaluator)
        other.bindings = {**self.bindings, "states": {**self.bindings["states"], **states}}
        return other

    def resolve(self, template: Any, field: str) -> Any:
        """A field's value: each ``{% %}`` string in it (at any depth) replaced by what its
        expression evaluates to; everything else is a literal."""
        text = expression_text(template)
        if text is not None:
            return self.evaluate(text, field)
        if isinstance(template, dict):
            return {k: self.resolve(v, f"{field}/{k}") for k, v in template.items()}
        if isinstance(template, list):
            return [self.resolve(v, f"{field}[{i}]") for i, v in enumerate(template)]
        return template

    def evaluate(self, text: str, field: str) -> Any:
        try:
            expression = compiled(text)
        except ExpressionSyntaxError as error:
            raise query_error(
                f"The JSONata expression '{text}' specified for the field '{field}' could "
                f"not be parsed: {error}"
            ) from None
        Jsonata.CURRENT.jsonata = expression  # higher-order functions read it
        try:
            value = expression.evaluate(None, self.bindings)
        except (JException, ArithmeticError, TypeError, ValueError, RecursionError) as error:
            code = getattr(error, "error", type(error).__name__)
            raise query_error(
                f"The JSONata expression '{text}' specified for the field '{field}' threw an "
                f"error during evaluation: {code}: {error}"
            ) from None
        if value is None:
            raise query_error(
                f"The JSONata expression '{text}' specified for the field '{field}' returned "
                "nothing (undefined)."
            )
        return plain(value)

    def typed(self, template: Any, field: str, expected: str) -> Any:
        """A field that must hold one JSON type (``array``, ``boolean``, ``number``,
        ``string``, ``object``): an expression of another type fails as AWS words it."""
        value = self.resolve(template, field)
        text = expression_text(template)
        if text is not None and type_name(value) != expected:
            raise query_error(
                f"The JSONata expression '{text}' specified for the field '{field}' returned "
                f"an unexpected result type. Expected '{expected}', but was "
                f"'{type_name(value)}' for value: {compact(value)}"
            )
        return value


def plain(value: Any) -> Any:
    """JSONata's result as plain JSON values (JSON null as None, sequences as lists). Below
    the top, None is a JSON null from the input (JSONata drops undefined members itself)."""
    if value is Utils.NULL_VALUE:
        return None
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if callable(value) or isinstance(value, Jsonata.JFunctionCallable):
        raise query_error("A JSONata expression returned a function, which is not a JSON value.")
    return value


def type_name(value: Any) -> str:
    """The JSON type name AWS uses in its causes."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


# -- the functions Step Functions adds -----------------------------------------------------


def _functions(rng: random.Random, clock: Callable[[], datetime]) -> dict[str, Any]:
    def now(picture: Any = None, timezone: Any = None) -> Any:
        return Functions.datetime_from_millis(_millis(clock), picture, timezone)

    def uuid4() -> str:
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))

    def random_number(seed: Any = None) -> float:
        if seed is None:
            return rng.random()
        return random.Random(_whole(seed, "$random", "seed")).random()

    return {
        "partition": Jsonata.JLambda(_partition),
        "range": Jsonata.JLambda(_range),
        "hash": Jsonata.JLambda(_hash),
        "random": Jsonata.JLambda(random_number),
        "uuid": Jsonata.JLambda(uuid4),
        "parse": Jsonata.JLambda(_parse),
        "now": Jsonata.JLambda(now),
        "millis": Jsonata.JLambda(lambda: _millis(clock)),
        "eval": None,  # disabled on AWS: calling it is JSONata's T1006 (not a function)
    }


def _millis(clock: Callable[[], datetime]) -> int:
    return int(clock().timestamp() * 1000)


def _whole(value: Any, function: str, argument: str) -> int:
    """A numeric argument as an integer, rounded towards zero as AWS does."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise query_error(f"{function}: the argument '{argument}' must be a number")
    return int(value)


def _partition(array: Any = None, size: Any = None) -> Any:
    if not isinstance(array, list):
        raise query_error("$partition: the first argument must be an array")
    chunk = _whole(size, "$partition", "chunkSize")
    if chunk <= 0 or not array:
        return None  # undefined, as on AWS
    return [list(array[i : i + chunk]) for i in range(0, len(array), chunk)]


def _range(start: Any = None, end: Any = None, step: Any = None) -> Any:
    if step is None:
        return None
    first, last, by = (
        _whole(v, "$range", n) for v, n in ((start, "start"), (end, "end"), (step, "step"))
    )
    if by == 0 or (last - first) * by < 0:
        return None
    values = list(range(first, last + (1 if by > 0 else -1), by))
    return values[0] if len(values) == 1 else values  # a one-item sequence is its item


def _hash(text: Any = None, algorithm: Any = None) -> Any:
    if algorithm is None:
        return None
    if not isinstance(text, str):
        raise query_error("$hash: the first argument must be a string")
    if algorithm not in HASH_ALGORITHMS:
        raise query_error(
            f"$hash: the algorithm must be one of {', '.join(HASH_ALGORITHMS)}, not {algorithm!r}"
        )
    return hashlib.new(HASH_ALGORITHMS[algorithm], text.encode()).hexdigest()


def _parse(text: Any = None) -> Any:
    if not isinstance(text, str):
        raise query_error("$parse: the argument must be a JSON string")
    try:
        value = json.loads(text)
    except ValueError as error:
        raise query_error(f"$parse: the argument is not JSON: {error}") from None
    return Utils.NULL_VALUE if value is None else value
