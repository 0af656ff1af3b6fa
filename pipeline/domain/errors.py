"""Errors users read: each class name is also the ASL error name a Lambda task fails with.

Step Functions names a failed Lambda task's error after the exception's type (``errorType``),
so ``Retry``/``Catch`` in ``infra/statemachines`` match these class names verbatim. The HTTP
mapping lives in ``pipeline.handlers.http`` and nowhere else.
"""

from __future__ import annotations


class PipelineError(Exception):
    """Base of every error the pipeline raises on purpose."""

    transient = False

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    @property
    def name(self) -> str:
        """The ASL error name (the exception's type name)."""
        return type(self).__name__


class ValidationFailed(PipelineError):
    """A request or event is malformed; ``field`` names the offending field."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.field = field


class PayloadTooLarge(ValidationFailed):
    """A request body is larger than the API accepts."""


class UnsupportedMediaType(ValidationFailed):
    """A request body is not JSON."""


class IdempotencyKeyReused(PipelineError):
    """The same idempotency key was used with a different request."""


class OrderNotFound(PipelineError):
    """No order with that id."""


class UnknownSku(PipelineError):
    """A SKU is not in the catalogue."""

    def __init__(self, sku: str, field: str | None = None) -> None:
        super().__init__(f"unknown SKU {sku!r}", sku=sku, field=field)
        self.sku = sku
        self.field = field


class OutOfStock(PipelineError):
    """Not enough stock of ``sku`` to reserve the order's lines."""

    def __init__(self, sku: str, requested: int | None = None, available: int | None = None):
        detail = f" (requested {requested}, available {available})" if requested else ""
        super().__init__(f"out of stock: {sku}{detail}", sku=sku)
        self.sku = sku
        self.requested = requested
        self.available = available


class ConcurrencyConflict(PipelineError):
    """Another writer appended the same sequence number first; reload and retry."""

    transient = True

    def __init__(self, order_id: str, sequence: int) -> None:
        super().__init__(
            f"order {order_id}: sequence {sequence} was written concurrently",
            order_id=order_id,
            sequence=sequence,
        )
        self.order_id = order_id
        self.sequence = sequence


class InvalidTransition(PipelineError):
    """An event is not allowed in the order's current state."""


class PaymentDeclined(PipelineError):
    """The payment gateway declined the payment (a business outcome, not retried)."""


class GatewayUnavailable(PipelineError):
    """The payment gateway failed transiently (5xx, timeout); safe to retry with the same key."""

    transient = True


class RefundExceedsCapture(PipelineError):
    """A refund would return more money than was captured."""


class CarrierUnavailable(PipelineError):
    """The shipping carrier failed transiently."""

    transient = True


class NotifierUnavailable(PipelineError):
    """The notification channel failed transiently."""

    transient = True


class InventoryUnavailable(PipelineError):
    """The inventory store failed transiently (throttling, internal error)."""

    transient = True


class StepNotApplicable(PipelineError):
    """A step was asked for an order whose state does not allow it ."""


class StoreUnavailable(PipelineError):
    """A data store throttled or failed transiently; safe to retry."""

    transient = True
