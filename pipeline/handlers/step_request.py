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

from pipeline.adapters.event_store import EventStore
from pipeline.domain.errors import StepNotApplicable, ValidationFailed
from pipeline.domain.events import EVENT_CLASSES, Event
from pipeline.domain.factory import Cause, EventFactory
from pipeline.domain.order import Order, status_after
from pipeline.domain.saga import Call, Step, applies

__all__ = ["applies"]  # the rule lives in pipeline.domain.saga; importable here as before

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


def finished(order: Order, step: Step, **when_duplicate: Any) -> dict[str, Any]:
    """The result of a step that did nothing new: ``when_duplicate`` details when its work
    was recorded already, the reason when it was skipped."""
    if step.skipped is not None:
        return outcome(order, duplicate=True, skipped=step.skipped)
    return outcome(order, **when_duplicate, duplicate=True)


# An event's fields by its type: given, or made from the call's result.
Fields = Mapping[str, Mapping[str, Any]] | Callable[[Any], Mapping[str, Mapping[str, Any]]]


def carry_out(
    step: Step,
    order: Order,
    request: StepRequest,
    *,
    store: EventStore,
    factory: EventFactory,
    calls: Mapping[Call, Callable[[], Any]],
    fields: Fields,
) -> tuple[list[Event], Any]:
    """Do what ``step`` decided: its dependency call (from ``calls``), then its events, each
    with its fields from ``fields`` (or the call after the events when ``step.call_after``).
    Returns the appended events and the call's result."""
    result = calls[step.call]() if step.call and not step.call_after else None
    appended: list[Event] = []
    if step.events:
        given = fields(result) if callable(fields) else fields
        specs = [(EVENT_CLASSES[kind], dict(given[kind])) for kind in step.events]
        appended = store.append(order, factory.next(order, specs, request.cause))
    if step.call and step.call_after:
        calls[step.call]()
    return appended, result


def outcome(order: Order, appended: Sequence[Event] = (), **extra: Any) -> dict[str, Any]:
    """A step's result: the order's status after the step's events, plus details."""
    status = order.status
    for event in appended:
        status = status_after(event.type) or status
    return {"order_id": order.order_id, "status": str(status), **extra}
