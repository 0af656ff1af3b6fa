"""The design variants the workbench compares: named sets of the template's parameters.

A variant is not a second template: it is a choice of ``infra/template.yaml``'s parameters
(coordination, workflow type per pipeline, reserved concurrency, the intake throttle), so
the local runtime, the simulator, the diagrams and the deployer all run the same variant
from the one template (``Template.load(parameters=VARIANTS[name])``). ``default`` is the
template's defaults: the design we ship, chosen by the capacity search (README, "Capacity").
"""

from __future__ import annotations

from collections.abc import Mapping

PIPELINES = ("Payment", "Inventory", "Shipping", "Notification")
STEP_FUNCTIONS = ("OrderApi", *PIPELINES)


def _all(suffix: str, value: str, names: tuple[str, ...] = PIPELINES) -> dict[str, str]:
    return {f"{name}{suffix}": value for name in names}


VARIANTS: Mapping[str, Mapping[str, str]] = {
    # One Express execution per order (the orchestrated saga), the functions drawing on the
    # account's unreserved concurrency, the intake throttled at the sized capacity.
    "default": {},
    # Choreography through the bus (four pipelines, each started by the event before it),
    # every pipeline Express.
    "choreography": {"Coordination": "choreography"},
    # The design shipped until the capacity search (2026-11-29): choreography, every
    # pipeline Standard, 50 reserved executions per function, the stage throttle at
    # 1,000 requests/s. Its knee is between 3,000 and 4,000 orders/min. (Its state machines
    # are today's files, with throttles retried apart from business errors.)
    "previous": {
        "Coordination": "choreography",
        **_all("WorkflowType", "STANDARD"),
        **_all("Concurrency", "50", STEP_FUNCTIONS),
        "ApiThrottleRate": "1000",
        "ApiThrottleBurst": "2000",
    },
    # The choreography with Standard workflows: exactly-once starts and a year-long execution
    # limit, paid for in state transitions and the StartExecution quota.
    "choreography-standard": {"Coordination": "choreography", **_all("WorkflowType", "STANDARD")},
    # The default's saga as one Standard execution per order.
    "orchestrated-standard": {"OrderSagaWorkflowType": "STANDARD"},
}


def parameters(name: str) -> dict[str, str]:
    """The template parameters of variant ``name``; a ``KeyError`` lists the names."""
    if name not in VARIANTS:
        raise KeyError(f"unknown variant {name!r}; choose from {', '.join(VARIANTS)}")
    return dict(VARIANTS[name])
