"""The bus contract: what the pipeline publishes to EventBridge and how rules select it.

Every stored event is published under one ``SOURCE`` with its type as the detail-type and its
JSON as the detail (:func:`put_entry`, what the stream processor sends to PutEvents). A rule's
target receives it wrapped in EventBridge's envelope (:func:`delivered`). Rules select events
by pattern (:func:`matches`); the patterns themselves are the template's (``infra/``, read by
``pipeline.template.Template.rule_targets``), and :func:`routes` picks the rules an event
reaches. EventBridge itself (moto's, in the local cloud) does its own matching.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Protocol, TypeVar

from pipeline.domain.events import EVENT_TYPE_NAMES, Event

SOURCE = "order-pipeline"
# An event's detail-type is its type: these are all the detail-types the pipeline publishes.
DETAIL_TYPES: tuple[str, ...] = EVENT_TYPE_NAMES
# The account and region an envelope names where there is none (the simulator, tests).
ACCOUNT, REGION = "123456789012", "us-east-1"


def iso(moment: datetime) -> str:
    """A UTC time as EventBridge writes an envelope's ``time`` (``...Z``)."""
    return moment.isoformat().replace("+00:00", "Z")


def put_entry(event: Event, bus: str) -> dict[str, Any]:
    """The PutEvents entry publishing a stored event on ``bus``."""
    return {
        "Source": SOURCE,
        "DetailType": event.type,
        "Detail": event.to_json(),
        "EventBusName": bus,
        "Time": event.occurred_at,
        "Resources": [],
    }


def envelope(
    detail_type: str,
    detail: Mapping[str, Any],
    *,
    event_id: str,
    time: str,
    account: str = ACCOUNT,
    region: str = REGION,
) -> dict[str, Any]:
    """The event EventBridge hands a rule's target (and matches the rule's pattern against)."""
    return {
        "version": "0",
        "id": event_id,
        "detail-type": detail_type,
        "source": SOURCE,
        "account": account,
        "time": time,
        "region": region,
        "resources": [],
        "detail": dict(detail),
    }


def delivered(event: Event, event_id: str | None = None) -> dict[str, Any]:
    """The envelope a target receives for a stored event (``event_id``: the bus's id for
    it; by default one derived from the event's own)."""
    return envelope(
        event.type,
        json.loads(event.to_json()),
        event_id=event_id or f"bus-{event.event_id}",
        time=iso(event.occurred_at),
    )


def received(entry: Mapping[str, Any], event_id: str = "bus") -> dict[str, Any]:
    """The envelope a target receives for a PutEvents entry (as :func:`put_entry` builds)."""
    time = entry.get("Time")
    return {
        **envelope(
            str(entry["DetailType"]),
            json.loads(entry["Detail"]),
            event_id=event_id,
            time=iso(time) if isinstance(time, datetime) else str(time or ""),
        ),
        "source": entry["Source"],
    }


def matches(pattern: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    """EventBridge pattern matching for the forms the template uses: each field's value must
    be one of the listed values, nested objects match recursively, and fields the pattern
    leaves out are free (EventBridge user guide, "Event patterns")."""
    for key, expected in pattern.items():
        if key not in event:
            return False
        actual = event[key]
        if isinstance(expected, Mapping):
            if not isinstance(actual, Mapping) or not matches(expected, actual):
                return False
        elif isinstance(expected, list):
            if not _any_matches(expected, actual):
                return False
        elif expected != actual:
            return False
    return True


def _any_matches(allowed: list[Any], actual: Any) -> bool:
    values = actual if isinstance(actual, list) else [actual]
    return any(_option_matches(option, values) for option in allowed)


def _option_matches(option: Any, values: list[Any]) -> bool:
    if not isinstance(option, Mapping):
        return option in values
    if "prefix" in option and any(
        isinstance(v, str) and v.startswith(option["prefix"]) for v in values
    ):
        return True
    if "anything-but" in option:
        excluded = option["anything-but"]
        excluded = excluded if isinstance(excluded, list) else [excluded]
        if any(v not in excluded for v in values):
            return True
    return option.get("exists") is True


class Rule(Protocol):
    """Anything with an event pattern (``pipeline.template.RuleTarget``)."""

    @property
    def pattern(self) -> Mapping[str, Any]: ...


R = TypeVar("R", bound=Rule)


def routes(rules: Iterable[R], event: Mapping[str, Any]) -> list[R]:
    """The rules whose pattern ``event`` (an envelope) matches, in the order given."""
    return [rule for rule in rules if matches(rule.pattern, event)]


def routes_of(rules: Iterable[R], detail_type: str) -> list[R]:
    """The rules an event of ``detail_type`` reaches (patterns on detail fields see none)."""
    return routes(rules, {"source": SOURCE, "detail-type": detail_type, "detail": {}})


# EventBridge retries a failed delivery with exponential backoff and jitter, within the
# target's RetryPolicy (attempts and maximum event age), then sends the event to its DLQ.
FIRST_DELAY_S, MAX_DELAY_S = 1.0, 300.0


def retry_after(
    attempt: int, age_s: float, max_attempts: int, max_age_s: float, rng: random.Random
) -> float | None:
    """Seconds before EventBridge retries a failed delivery (``attempt`` counts from 0), or
    None when the target's RetryPolicy is spent and the event goes to the DLQ."""
    delay = min(MAX_DELAY_S, FIRST_DELAY_S * 2.0**attempt) * rng.uniform(0.5, 1)
    if attempt >= max_attempts or age_s + delay > max_age_s:
        return None
    return delay
