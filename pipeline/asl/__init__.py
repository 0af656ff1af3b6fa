"""The Amazon States Language interpreter: pure semantics, effects handed to a driver.

``execute(definition, input, resources)`` runs a definition on a virtual clock with
in-process resources; ``Interpreter`` is the generator the local runtime and the simulator
drive with their own clocks.
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

__all__ = [
    "DefinitionError",
    "Execution",
    "ExecutionRun",
    "History",
    "Interpreter",
    "Invoke",
    "TaskFailed",
    "VirtualClock",
    "Wait",
    "backoff_ceiling",
    "execute",
    "retry_delay",
]
