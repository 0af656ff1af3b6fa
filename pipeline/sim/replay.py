"""The interpreter's decisions, recorded once per distinct path and replayed.

At 10,000 orders a minute the simulator runs millions of executions of four small machines,
and almost all of them take one of a few dozen paths. An execution's path depends only on its
input and on each task's outcome, so when the simulator hands every execution of a machine the
same input for an event type and every task an outcome named by its error (or ``"ok"``), the
interpreter's answer to a sequence of outcomes is always the same. :class:`PathCache` asks
``pipeline.asl`` that question once per new prefix of outcomes and remembers the answer in a
tree; every later execution on that path walks the tree. The semantics stay the interpreter's:
nothing here knows what Retry or Catch mean.

Two things differ between executions on one path and are left to the caller: the jittered
retry delays (a node keeps the ceiling JitterStrategy FULL draws under, the caller draws) and
time itself. Definitions whose path can depend on time, context or randomness (execution
timeouts, timestamp waits, ``$$`` paths, random intrinsics; in JSONata, ``$states.context``
and ``$now``, ``$millis``, ``$random``, ``$uuid``) are refused by :func:`replayable`; the
simulator runs those through the interpreter directly.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pipeline.asl import ExecutionRun, Invoke, TaskFailed
from pipeline.seeds import EPOCH

OK = "ok"  # the outcome key of a task that succeeded
SUCCESS_RESULT: Mapping[str, Any] = {"status": "simulated"}
# ``$$`` anywhere: a context path, also as an intrinsic's argument (States.Format(.., $$.X)).
_TIME_OR_CONTEXT = ("$$", '"Timestamp"', '"TimestampPath"', "States.UUID", "States.MathRandom")
# JSONata: the context object, and the functions that read the clock or draw at random (a
# mention without a call, e.g. passed to $map, counts too; whitespace may follow a name).
_JSONATA_TIME_OR_CONTEXT = re.compile(
    r"\$states\s*\.\s*(?:context\b|`context`)|\$(?:now|millis|random|uuid)\b"
)


def replayable(definition: Mapping[str, Any]) -> bool:
    """Whether every execution with the same input and outcomes takes the same path."""
    text = json.dumps(definition)
    return (
        "TimeoutSeconds" not in definition
        and not any(m in text for m in _TIME_OR_CONTEXT)
        and not _JSONATA_TIME_OR_CONTEXT.search(text)
    )


@dataclass(eq=False)
class Node:
    """What the execution does after the outcomes on the path to this node.

    ``kind`` is ``"invoke"`` (``state``, ``payload``, ``timeout_s``), ``"wait"`` (``seconds``,
    or ``ceiling`` to draw under, ``reason``) or ``"end"`` (``status``, ``error``).
    ``transitions`` counts the states entered since the previous node (billing, quotas).
    """

    kind: str
    state: str = ""
    resource: str = ""
    payload: Any = None
    timeout_s: float | None = None
    seconds: float = 0.0
    ceiling: float | None = None
    reason: str = ""
    status: str = ""
    error: str | None = None
    transitions: int = 0
    path: tuple[str | None, ...] = ()
    children: dict[str | None, Node] = field(default_factory=dict)
    action: str | None = field(init=False, default=None)  # the payload's "action"
    kind_arg: str | None = field(init=False, default=None)  # the payload's "kind" (Notify)

    def __post_init__(self) -> None:
        payload = self.payload
        if isinstance(payload, Mapping):
            action, kind = payload.get("action"), payload.get("kind")
            self.action = action if isinstance(action, str) else None
            self.kind_arg = kind if isinstance(kind, str) else None


@dataclass
class PathCache:
    """The path tree of one definition and input; :meth:`root` and :meth:`after` walk it."""

    definition: Mapping[str, Any]
    input: Any
    recorded: int = 0  # interpreter runs spent building the tree
    _root: Node | None = None

    def root(self) -> Node:
        if self._root is None:
            self._root = self._record(())
        return self._root

    def after(self, node: Node, outcome: str | None = None) -> Node:
        """The node that follows ``node`` when its task ended with ``outcome`` (an error name
        or :data:`OK`); a wait has one successor, reached with ``None``."""
        child = node.children.get(outcome)
        if child is None:
            if node.kind == "end":
                raise ValueError("an ended execution has no next step")
            child = node.children[outcome] = self._record((*node.path, outcome))
        return child

    def _record(self, path: tuple[str | None, ...]) -> Node:
        """Run the interpreter along ``path`` and describe where it stops next."""
        self.recorded += 1
        run = ExecutionRun(
            self.definition, self.input, None, clock=lambda: EPOCH, rng=random.Random(0)
        )
        effect, before = run.step(), 0
        for outcome in path:
            resume_with(run, effect, outcome)
            before = _entered(run)
            effect = run.step()
        transitions = _entered(run) - before
        if effect is None:
            result = run.result
            assert result is not None
            return Node(
                "end", status=result.status, error=result.error, transitions=transitions, path=path
            )
        if isinstance(effect, Invoke):
            return Node(
                "invoke",
                state=effect.state,
                resource=effect.resource,
                payload=effect.payload,
                timeout_s=effect.timeout_s,
                transitions=transitions,
                path=path,
            )
        wait = run.wait
        assert wait is not None
        return Node(
            "wait",
            state=wait.state,
            seconds=wait.seconds if wait.jitter_ceiling is None else 0.0,
            ceiling=wait.jitter_ceiling,
            reason=wait.reason,
            transitions=transitions,
            path=path,
        )


def resume_with(run: ExecutionRun, effect: Any, outcome: str | None) -> None:
    """Hand a task's ``outcome`` (:data:`OK` or an error name) back to the interpreter; a
    wait (``effect`` not an Invoke) needs nothing."""
    if isinstance(effect, Invoke):
        if outcome == OK:
            run.resume(dict(SUCCESS_RESULT))
        else:
            run.resume(failure=TaskFailed(outcome or "States.TaskFailed", "simulated"))


def run_with_outcomes(
    definition: Mapping[str, Any], input: Any, outcomes: list[str]
) -> ExecutionRun:
    """An execution run to its end, its tasks ending with ``outcomes`` in turn (then OK):
    what one simulated execution on that path looked like, history included."""
    run = ExecutionRun(definition, input, None, clock=lambda: EPOCH, rng=random.Random(0))
    pending = list(outcomes)
    while (effect := run.step()) is not None:
        outcome = (pending.pop(0) if pending else OK) if isinstance(effect, Invoke) else None
        resume_with(run, effect, outcome)
    return run


def _entered(run: ExecutionRun) -> int:
    return sum(1 for e in run.history.events if e["type"].endswith("StateEntered"))
