"""The order domain: events, the aggregate and its lifecycle. Pure Python, no AWS calls."""

from pipeline.domain.events import EVENT_TYPE_NAMES, Event, OrderLine, parse_event, verify_chain
from pipeline.domain.factory import Cause, EventFactory
from pipeline.domain.order import TERMINAL, Order, Status, fold

__all__ = [
    "EVENT_TYPE_NAMES",
    "TERMINAL",
    "Cause",
    "Event",
    "EventFactory",
    "Order",
    "OrderLine",
    "Status",
    "fold",
    "parse_event",
    "verify_chain",
]
