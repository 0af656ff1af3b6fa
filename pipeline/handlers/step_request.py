"""What every step handler shares: the task input, action dispatch, loading and results.

The state machines (``infra/statemachines``) send ``{"action", "order_id", "causation_id",
"correlation_id"}`` plus, for failure-recording tasks, the caught ``error`` object
(``{"Error", "Cause"}``). A malformed request raises ``ValidationFailed``, which the state
machine does not retry: the execution fails visibly.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pipeline.domain.errors import StepNotApplicable, ValidationFailed
from pipeline.domain.events import Event
from pipeline.domain.factory import Cause
from pipeline.domain.order import RANK, Order, Status, status_after

ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,128}$"


class CaughtError(BaseModel):
    """The error object a ``Catch`` puts at its ResultPath."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    error: str = Field(default="States.TaskFailed", alias="Error")
    cause: str = Field(default="", alias="Cause")

    def reason(self, limit: int = 500) -> str:
        """A short, log-safe reason: the error name and the start of its cause."""
        cause = self.cause
        # Lambda errors arrive as a JSON cause carrying errorMessage.
        with contextlib.suppress(ValueError, AttributeError):
            cause = json.loads(cause).get("errorMessage", cause)
        return f"{self.error}: {cause}"[:limit]


class StepRequest(BaseModel):
    """One task's request to a step handler."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    action: str
    order_id: str = Field(pattern=ID_PATTERN)
    causation_id: str | None = Field(default=None, pattern=ID_PATTERN)
    correlation_id: str = Field(pattern=ID_PATTERN)
    error: CaughtError | None = None
    kind: str | None = None

    @property
    def cause(self) -> Cause:
        return Cause(correlation_id=self.correlation_id, causation_id=self.causation_id)


def parse_step(event: Any) -> StepRequest:
    """Validate a task's input; the first offending field is named in the error."""
    if not isinstance(event, Mapping):
        raise ValidationFailed("step input must be a JSON object", field=None)
    try:
        return StepRequest.model_validate(event)
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or None
        raise ValidationFailed(f"{field}: {first['msg']}", field=field) from None


D = TypeVar("D")
Action = Callable[[StepRequest, D], dict[str, Any]]


def dispatch(event: Any, deps: D, actions: Mapping[str, Action[D]]) -> dict[str, Any]:
    """Parse the request and run the handler's function for its ``action``."""
    request = parse_step(event)
    action = actions.get(request.action)
    if action is None:
        raise ValidationFailed(
            f"unknown action {request.action!r}; expected one of {sorted(actions)}",
            field="action",
        )
    return action(request, deps)


def load_order(store: Any, request: StepRequest, logger: Any) -> Order:
    """The order a step acts on (``StepNotApplicable`` if it was never placed), keys logged."""
    order = store.load_order(request.order_id)
    if order.status is None:
        raise StepNotApplicable(f"order {request.order_id} does not exist")
    logger.append_keys(order_id=order.order_id, correlation_id=request.correlation_id)
    return order


def applies(order: Order, *allowed: Status) -> bool:
    """Whether a step meant for ``allowed`` statuses applies now.

    False when the order has moved past them: under at-least-once delivery a late or repeated
    event is a no-op, not a failed execution. ``StepNotApplicable`` when the order has not
    reached them yet, which the outbox (publish only what is stored) should make impossible.
    """
    if order.status in allowed:
        return True
    if order.status is not None and RANK[order.status] > max(RANK[s] for s in allowed):
        return False
    names = ", ".join(str(s) for s in allowed)
    raise StepNotApplicable(f"order {order.order_id} is {order.status}, expected {names}")


def skipped(order: Order) -> dict[str, Any]:
    """The result of a step that arrived after the order moved on."""
    return outcome(order, duplicate=True, skipped=f"order is already {order.status}")


def outcome(order: Order, appended: Sequence[Event] = (), **extra: Any) -> dict[str, Any]:
    """A step's result: the order's status after the step's events, plus details."""
    status = order.status
    for event in appended:
        status = status_after(event.type) or status
    return {"order_id": order.order_id, "status": str(status), **extra}
