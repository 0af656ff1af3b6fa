"""The Amazon States Language interpreter: pure semantics, effects handed to a driver.

``execute(definition, input, resources)`` runs a definition on a virtual clock with
in-process resources; ``Interpreter`` is the generator the local runtime and the simulator
drive with their own clocks. Both query languages (JSONPath and JSONata) and workflow
variables; ``check`` refuses what CreateStateMachine would, and what this interpreter does not
run (``Unsupported``).
"""

from pipeline.asl.errors import DefinitionError, TaskFailed
from pipeline.asl.execution import Execution, ExecutionRun, VirtualClock, execute
from pipeline.asl.interpreter import (
    History,
    Interpreter,
    Invoke,
    Wait,
    backoff_ceiling,
    retry_delay,
)
from pipeline.asl.validation import Unsupported, check

__all__ = [
    "DefinitionError",
    "Execution",
    "ExecutionRun",
    "History",
    "Interpreter",
    "Invoke",
    "TaskFailed",
    "Unsupported",
    "VirtualClock",
    "Wait",
    "backoff_ceiling",
    "check",
    "execute",
    "retry_delay",
]
