"""A SimPy driver of the ASL interpreter, for tests: executions run on simulated time.

The :class:`pipeline.asl.ExecutionRun` the local runtime steps on its clock, stepped inside a
SimPy process: a ``Wait`` (a Wait state, a Retry backoff) becomes a SimPy timeout, and each
``Invoke`` is handed to a *task model*, a SimPy process that spends the modelled latency and
returns the result or raises ``TaskFailed``. Retry, Catch, paths and the history are the
interpreter's, unchanged. The simulator steps the interpreter the same way
(``pipeline.sim.engine.Simulation._interpreted``), with its own billing and throttles; the
tests use this plain form to check that stepping against theory and the interpreter's own
runs.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Generator, Mapping
from datetime import datetime, timedelta
from typing import Any

import simpy

from pipeline.asl import Execution, ExecutionRun, Invoke, TaskFailed
from pipeline.seeds import EPOCH

# A task model: given the Invoke, a SimPy process generator whose return value is the result.
TaskModel = Callable[[Invoke], Generator[simpy.Event, Any, Any]]


def execution(
    env: simpy.Environment,
    definition: Mapping[str, Any],
    input: Any,
    task: TaskModel,
    *,
    rng: random.Random | None = None,
    name: str | None = None,
    epoch: datetime = EPOCH,
) -> Generator[simpy.Event, Any, Execution]:
    """A SimPy process running one execution to its end; its value is the Execution."""
    run = ExecutionRun(
        definition,
        input,
        None,
        clock=lambda: epoch + timedelta(seconds=env.now),
        rng=rng,
        name=name,
    )
    while (effect := run.step()) is not None:
        if isinstance(effect, Invoke):
            try:
                result = yield env.process(task(effect))
            except TaskFailed as failure:
                run.resume(failure=failure)
            else:
                run.resume(result)
        else:
            yield env.timeout(effect)
    assert run.result is not None
    return run.result
