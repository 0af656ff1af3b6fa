"""The payment gateway port, and a fake gateway with seeded latency, declines and errors.

Every call carries an idempotency key, as real gateways take one (Stripe's
``Idempotency-Key``, Adyen's ``idempotencyKey``): the same key and request return the first
result without charging again; the same key with a different request is refused. A refund
never returns more than was captured.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from pipeline.domain.errors import (
    GatewayUnavailable,
    IdempotencyKeyReused,
    PaymentDeclined,
    RefundExceedsCapture,
    StepNotApplicable,
)

ZERO = Decimal("0")


@dataclass(frozen=True)
class GatewayResult:
    """The outcome of one gateway operation, as recorded under its idempotency key."""

    operation: str
    payment_id: str
    amount: Decimal
    approved: bool = True
    reason: str = ""


class PaymentGateway(Protocol):
    """What the pipeline needs from a payment provider."""

    def authorize(self, key: str, amount: Decimal, currency: str) -> GatewayResult: ...

    def capture(self, key: str, payment_id: str, amount: Decimal) -> GatewayResult: ...

    def void(self, key: str, payment_id: str) -> GatewayResult: ...

    def refund(self, key: str, payment_id: str, amount: Decimal) -> GatewayResult: ...


@dataclass
class Payment:
    """The gateway's own view of one payment: the money actually moved."""

    payment_id: str
    authorized: Decimal
    captured: Decimal = ZERO
    refunded: Decimal = ZERO
    voided: bool = False


@dataclass
class FakeGatewayRates:
    """Failure behaviour of the fake gateway; probabilities per call."""

    decline: float = 0.0
    error: float = 0.0  # fails before doing anything: a clean retry succeeds
    lost_response: float = 0.0  # does the operation, then times out: a retry must not repeat it
    refund_error: float = 0.0  # a refund or void fails before doing anything (a compensation)
    latency_s: float = 0.0  # mean of an exponential latency


@dataclass
class FakePaymentGateway:
    """An in-memory payment gateway that behaves like a real one, with seeded randomness.

    Its ledger lives in the process (like a provider's sandbox account): enough for tests,
    the local cloud and the simulator, which run handlers in one process.
    """

    rates: FakeGatewayRates = field(default_factory=FakeGatewayRates)
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    sleep: Callable[[float], None] = lambda _s: None
    payments: dict[str, Payment] = field(default_factory=dict)
    results: dict[str, tuple[str, GatewayResult]] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)  # effective (operation, key)
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    def authorize(self, key: str, amount: Decimal, currency: str) -> GatewayResult:
        def effect() -> GatewayResult:
            if self.rng.random() < self.rates.decline:
                return GatewayResult(
                    "authorize", "", amount, approved=False, reason="card_declined"
                )
            payment_id = f"pay_{len(self.payments) + 1:08d}"
            self.payments[payment_id] = Payment(payment_id, amount)
            return GatewayResult("authorize", payment_id, amount)

        result = self._once(key, f"authorize|{amount}|{currency}", effect)
        if not result.approved:
            raise PaymentDeclined(f"payment declined: {result.reason}")
        return result

    def capture(self, key: str, payment_id: str, amount: Decimal) -> GatewayResult:
        def effect() -> GatewayResult:
            payment = self._payment(payment_id)
            if payment.voided:
                raise StepNotApplicable(f"authorization {payment_id} was voided")
            if payment.captured + amount > payment.authorized:
                raise StepNotApplicable(f"capture {amount} exceeds the authorized amount")
            payment.captured += amount
            return GatewayResult("capture", payment_id, amount)

        return self._once(key, f"capture|{payment_id}|{amount}", effect)

    def void(self, key: str, payment_id: str) -> GatewayResult:
        """Release an authorization; whatever was captured on it is reversed in full."""

        def effect() -> GatewayResult:
            payment = self._payment(payment_id)
            reversed_amount = payment.captured - payment.refunded
            payment.refunded += reversed_amount
            payment.voided = True
            return GatewayResult("void", payment_id, reversed_amount)

        return self._once(key, f"void|{payment_id}", effect)

    def refund(self, key: str, payment_id: str, amount: Decimal) -> GatewayResult:
        def effect() -> GatewayResult:
            payment = self._payment(payment_id)
            left = payment.captured - payment.refunded
            if amount > left:
                raise RefundExceedsCapture(
                    f"refund {amount} exceeds the {left} left on {payment_id}"
                )
            payment.refunded += amount
            return GatewayResult("refund", payment_id, amount)

        return self._once(key, f"refund|{payment_id}|{amount}", effect)

    def net_captured(self) -> Decimal:
        """Money the gateway holds for the merchant: captured minus refunded, all payments."""
        with self._lock:
            return sum((p.captured - p.refunded for p in self.payments.values()), ZERO)

    def _payment(self, payment_id: str) -> Payment:
        if payment_id not in self.payments:
            raise StepNotApplicable(f"no payment {payment_id}")
        return self.payments[payment_id]

    def _once(self, key: str, request: str, effect: Callable[[], GatewayResult]) -> GatewayResult:
        """Run ``effect`` at most once per key; a replay returns the recorded result."""
        if self.rates.latency_s:
            self.sleep(self.rng.expovariate(1 / self.rates.latency_s))
        with self._lock:
            if key in self.results:
                recorded_request, result = self.results[key]
                if recorded_request != request:
                    raise IdempotencyKeyReused(
                        f"idempotency key {key!r} reused for another request"
                    )
                return result
            if self.rng.random() < self.rates.error:
                raise GatewayUnavailable("payment gateway returned 503")
            compensating = request.startswith(("refund|", "void|"))
            if (
                compensating
                and self.rates.refund_error
                and self.rng.random() < self.rates.refund_error
            ):
                raise GatewayUnavailable("payment gateway returned 503 on a refund")
            result = effect()
            self.results[key] = (request, result)
            self.calls.append((result.operation, key))
            if self.rng.random() < self.rates.lost_response:
                raise GatewayUnavailable("payment gateway timed out after processing the request")
            return result
