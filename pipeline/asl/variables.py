"""Workflow variables (``Assign``, ``$name``): scopes and the size limits Step Functions sets.

A state machine's top-level states share one scope. Each Parallel branch and each Map
iteration runs in a scope of its own that reads the enclosing scopes (a distributed Map's
iterations, child executions in AWS, read none); what a branch assigns stays in the branch.
A state's assignments take effect when the state ends, so every reference made while the state
runs (in its paths, templates, ``Output`` and the other assignments) reads the values from
before it: :meth:`Variables.assign` is called once, with everything the state assigned.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from pipeline.asl import errors
from pipeline.asl.errors import TaskFailed

VARIABLE_LIMIT_BYTES = 256 * 1024  # one variable's value
ASSIGN_LIMIT_BYTES = 256 * 1024  # everything one Assign field assigns
EXECUTION_LIMIT_BYTES = 10 * 1024 * 1024  # every variable an execution holds at once


class UndefinedVariable(LookupError):
    """A reference to a variable no enclosing scope has assigned."""


class _Budget:
    """The bytes an execution's variables hold, across all its scopes."""

    def __init__(self) -> None:
        self.sizes: dict[tuple[int, str], int] = {}


class Variables:
    """One scope of variables; lookups fall through to the enclosing scopes."""

    def __init__(self, parent: Variables | None = None, *, budget: _Budget | None = None) -> None:
        self.parent = parent
        self.values: dict[str, Any] = {}
        self._budget: _Budget = budget or (parent._budget if parent else _Budget())

    def child(self, *, isolated: bool = False) -> Variables:
        """A nested scope (a Parallel branch, a Map iteration); ``isolated`` for a distributed
        Map's iteration, which cannot read the outer scopes."""
        return Variables(None if isolated else self, budget=self._budget)

    def get(self, name: str) -> Any:
        scope: Variables | None = self
        while scope is not None:
            if name in scope.values:
                return scope.values[name]
            scope = scope.parent
        raise UndefinedVariable(name)

    def visible(self) -> dict[str, Any]:
        """Every variable this scope can read, inner scopes' values first."""
        merged: dict[str, Any] = {}
        for scope in self._chain():
            for name, value in scope.values.items():
                merged.setdefault(name, value)
        return merged

    def _chain(self) -> Iterator[Variables]:
        scope: Variables | None = self
        while scope is not None:
            yield scope
            scope = scope.parent

    def assign(self, values: Mapping[str, Any], state: str) -> None:
        """Store what one state's ``Assign`` evaluated to, after checking the limits."""
        if not values:
            return
        sizes = {name: _size(value) for name, value in values.items()}
        for name, size in sizes.items():
            if size > VARIABLE_LIMIT_BYTES:
                raise TaskFailed(
                    errors.DATA_LIMIT_EXCEEDED,
                    f"The state '{state}' assigned {size} bytes to the variable '{name}', more "
                    f"than the {VARIABLE_LIMIT_BYTES} bytes a variable may hold.",
                )
        if sum(sizes.values()) > ASSIGN_LIMIT_BYTES:
            raise TaskFailed(
                errors.DATA_LIMIT_EXCEEDED,
                f"The state '{state}' assigned {sum(sizes.values())} bytes in one Assign, more "
                f"than the {ASSIGN_LIMIT_BYTES} bytes an Assign field may hold.",
            )
        after = dict(self._budget.sizes)
        after.update({(id(self), name): size for name, size in sizes.items()})
        if sum(after.values()) > EXECUTION_LIMIT_BYTES:
            raise TaskFailed(
                errors.DATA_LIMIT_EXCEEDED,
                f"The state '{state}' would make the execution's variables hold "
                f"{sum(after.values())} bytes, more than the {EXECUTION_LIMIT_BYTES} bytes "
                "allowed.",
            )
        self._budget.sizes = after
        self.values.update(values)

    def release(self) -> None:
        """Forget this scope's variables (a branch or iteration has ended)."""
        for name in self.values:
            self._budget.sizes.pop((id(self), name), None)
        self.values.clear()


def _size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
