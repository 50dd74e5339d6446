"""Paying's rules: one payment per order, captured in full, then refunded in part or whole, or voided.

Pure: no I/O, no clock (every use case takes `now`), no id generation (ids come in). Each use case
takes the current payment and plain values and returns the complete new payment record with the
events to publish; the wiring stores the one and publishes the others in one unit of work, so a
payment is never captured, refunded or voided half-way. The input record is never modified.

Amounts are ints in minor units of the payment's currency (cents for EUR). Every operation keeps
    0 <= refunded_amount <= captured_amount <= amount.
The simulated provider always accepts, so capture and refund never fail at the provider; its
references (`provider_reference`) come in like ids.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from services.runtime.errors import AlreadyExists, FailedPrecondition, InvalidArgument
from services.runtime.values import RefundedLine

PAYMENT_METHODS = ("card", "paypal", "bank_transfer")

# The currencies a payment may be taken in, with the digits of their minor unit (for messages).
CURRENCY_MINOR_DIGITS = {
    "EUR": 2, "USD": 2, "GBP": 2, "CHF": 2, "SEK": 2, "DKK": 2, "NOK": 2, "PLN": 2, "CZK": 2,
    "HUF": 2, "RON": 2, "BGN": 2, "CAD": 2, "AUD": 2, "JPY": 0,
}


class PaymentStatus(StrEnum):
    """As PaymentStatus in paying/v1/payment.proto, without the prefix."""

    REQUIRES_CAPTURE = "REQUIRES_CAPTURE"
    CAPTURED = "CAPTURED"
    PARTIALLY_REFUNDED = "PARTIALLY_REFUNDED"
    REFUNDED = "REFUNDED"
    VOIDED = "VOIDED"
    FAILED = "FAILED"


# Nothing was charged and nothing ever will be: these payments no longer count as the order's payment.
ENDED_WITHOUT_CHARGE = frozenset({PaymentStatus.VOIDED, PaymentStatus.FAILED})
# Money was taken: the payment can be refunded, no longer voided.
CAPTURED_STATUSES = frozenset({PaymentStatus.CAPTURED, PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUNDED})


class RefundCause(StrEnum):
    """As RefundCause in paying/v1/payment.proto, without the prefix."""

    ORDER_REFUND = "ORDER_REFUND"
    ORDER_CANCELLED = "ORDER_CANCELLED"
    MANUAL = "MANUAL"


@dataclass(frozen=True)
class Refund:
    refund_id: str
    payment_id: str
    order_id: str
    amount: int
    cause: RefundCause
    reason: str
    # Ordering's refund id for ORDER_REFUND, "cancel:<order id>" for ORDER_CANCELLED, the caller's key for MANUAL.
    idempotency_key: str
    order_refund_id: str
    lines: tuple[RefundedLine, ...]
    shipping_amount: int
    provider_reference: str
    created_at: datetime


@dataclass(frozen=True)
class Payment:
    payment_id: str
    order_id: str
    customer_id: str
    currency: str
    amount: int  # authorised: the order's total
    payment_method: str
    provider_reference: str
    status: PaymentStatus
    created_at: datetime
    updated_at: datetime
    captured_amount: int = 0
    refunded_amount: int = 0
    refunds: tuple[Refund, ...] = ()  # oldest first
    failure_reason: str = ""
    captured_at: datetime | None = None
    voided_at: datetime | None = None

    @property
    def is_live(self) -> bool:
        return self.status not in ENDED_WITHOUT_CHARGE

    @property
    def left_to_refund(self) -> int:
        return self.captured_amount - self.refunded_amount

    def refund_with_key(self, idempotency_key: str) -> Refund | None:
        return next((r for r in self.refunds if r.idempotency_key == idempotency_key), None)


@dataclass(frozen=True)
class RefundRequest:
    """What a caller asks to refund. `amount` None means everything captured and not yet refunded."""

    idempotency_key: str
    cause: RefundCause
    amount: int | None = None
    currency: str = ""  # empty means the payment's currency
    reason: str = ""
    order_refund_id: str = ""
    lines: tuple[RefundedLine, ...] = ()
    shipping_amount: int = 0  # included in amount

    @classmethod
    def for_order_refund(cls, *, order_refund_id: str, amount: int, currency: str, lines: Sequence[RefundedLine],
                         shipping_amount: int, reason: str) -> RefundRequest:
        """The refund OrderRefundRequested asks for: ordering's refund id is the idempotency key."""
        return cls(idempotency_key=order_refund_id, cause=RefundCause.ORDER_REFUND, amount=amount, currency=currency,
                   reason=reason, order_refund_id=order_refund_id, lines=tuple(lines),
                   shipping_amount=shipping_amount)

    def is_repeated_by(self, refund: Refund) -> bool:
        """True when `refund` was made for this same request (a retry), so it is the answer again.
        An amount left unset matches whatever the first call refunded: "everything left" then."""
        return (self.cause == refund.cause and self.amount in (None, refund.amount) and self.reason == refund.reason
                and self.order_refund_id == refund.order_refund_id and self.lines == refund.lines
                and self.shipping_amount == refund.shipping_amount)


# Domain events: what happened, for the wiring to publish on paying.payments.v1 (keyed by order id).

@dataclass(frozen=True)
class PaymentSucceeded:
    payment_id: str
    order_id: str
    customer_id: str
    amount: int
    currency: str
    payment_method: str
    provider_reference: str
    captured_at: datetime


@dataclass(frozen=True)
class PaymentFailed:
    payment_id: str
    order_id: str
    customer_id: str
    amount: int
    currency: str
    payment_method: str
    failure_code: str
    failure_message: str
    failed_at: datetime


@dataclass(frozen=True)
class PaymentRefunded:
    payment_id: str
    order_id: str
    customer_id: str
    refund_id: str
    order_refund_id: str
    cause: RefundCause
    amount: int
    currency: str
    total_refunded: int
    captured_amount: int
    fully_refunded: bool
    lines: tuple[RefundedLine, ...]
    shipping_amount: int
    reason: str
    refunded_at: datetime


@dataclass(frozen=True)
class PaymentVoided:
    payment_id: str
    order_id: str
    customer_id: str
    amount: int
    currency: str
    reason: str
    voided_at: datetime


PaymentEvent = PaymentSucceeded | PaymentFailed | PaymentRefunded | PaymentVoided


def format_money(amount: int, currency: str) -> str:
    """1234, "EUR" -> "12.34 EUR", for messages people read."""
    digits = CURRENCY_MINOR_DIGITS.get(currency, 2)
    sign = "-" if amount < 0 else ""
    units, minor = divmod(abs(amount), 10**digits)
    return f"{sign}{units}.{minor:0{digits}d} {currency}" if digits else f"{sign}{units} {currency}"


def cancellation_key(order_id: str) -> str:
    """The idempotency key of the refund a cancellation makes: one per order, however often it is replayed."""
    return f"cancel:{order_id}"


def find_live_payment(order_payments: Sequence[Payment]) -> Payment | None:
    """The order's payment that counts (not voided, not failed); an order has at most one."""
    return next((p for p in order_payments if p.is_live), None)


# Use cases.

def create_payment_intent(order_payments: Sequence[Payment], *, payment_id: str, order_id: str, customer_id: str,
                          amount: int, currency: str, payment_method: str, provider_reference: str,
                          now: datetime) -> tuple[Payment, bool]:
    """Authorises `amount` for the order: a payment in REQUIRES_CAPTURE. `order_payments` are the
    order's payments so far. Returns the payment and whether it is new: a repeated call for an order
    whose live payment has the same amount and method returns that one, so the call is safe to retry."""
    if not order_id:
        raise InvalidArgument("order id is missing")
    if amount <= 0:
        raise InvalidArgument(f"amount must be positive, got {amount}")
    _check_currency(currency)
    if payment_method not in PAYMENT_METHODS:
        raise InvalidArgument(f"payment method must be one of {', '.join(PAYMENT_METHODS)}, got {payment_method!r}")
    live = find_live_payment(order_payments)
    if live is not None:
        if (live.amount, live.currency, live.payment_method) == (amount, currency, payment_method):
            return live, False
        raise AlreadyExists(
            f"order {order_id} already has payment {live.payment_id} of {format_money(live.amount, live.currency)} "
            f"by {live.payment_method}; it cannot also be paid {format_money(amount, currency)} by {payment_method}")
    payment = Payment(payment_id=payment_id, order_id=order_id, customer_id=customer_id, currency=currency,
                      amount=amount, payment_method=payment_method, provider_reference=provider_reference,
                      status=PaymentStatus.REQUIRES_CAPTURE, created_at=now, updated_at=now)
    return payment, True


def capture_payment(payment: Payment, now: datetime) -> tuple[Payment, list[PaymentEvent]]:
    """Captures the whole authorised amount (the provider always accepts). Capturing again changes nothing."""
    if payment.status in CAPTURED_STATUSES:
        return payment, []
    if payment.status in ENDED_WITHOUT_CHARGE:
        raise FailedPrecondition(f"payment {payment.payment_id} is {_words(payment.status)}: it cannot be captured")
    captured = dataclasses.replace(payment, status=PaymentStatus.CAPTURED, captured_amount=payment.amount,
                                   captured_at=now, updated_at=now)
    return captured, [PaymentSucceeded(
        payment_id=payment.payment_id, order_id=payment.order_id, customer_id=payment.customer_id,
        amount=payment.amount, currency=payment.currency, payment_method=payment.payment_method,
        provider_reference=payment.provider_reference, captured_at=now)]


def pay_order(order_payments: Sequence[Payment], *, payment_id: str, order_id: str, customer_id: str, amount: int,
              currency: str, payment_method: str, provider_reference: str,
              now: datetime) -> tuple[Payment, list[PaymentEvent]]:
    """The checkout step on OrderCreated: the intent and its capture in one change (PaymentSucceeded).

    A replayed OrderCreated changes nothing: once the order has a payment, whatever its status, no
    other is made. This matters after a cancellation voided or refunded it: a replay must not charge
    the order again. A payment left waiting for capture (made through the API) is captured."""
    if order_payments:
        current = find_live_payment(order_payments) or max(order_payments, key=lambda p: p.created_at)
        if current.status is PaymentStatus.REQUIRES_CAPTURE:
            return capture_payment(current, now)
        return current, []
    intent, _ = create_payment_intent((), payment_id=payment_id, order_id=order_id, customer_id=customer_id,
                                      amount=amount, currency=currency, payment_method=payment_method,
                                      provider_reference=provider_reference, now=now)
    return capture_payment(intent, now)


def fail_payment(payment: Payment, *, failure_code: str, failure_message: str,
                 now: datetime) -> tuple[Payment, list[PaymentEvent]]:
    """The provider declined the authorisation. The simulated provider never does; the contract allows it."""
    if payment.status is PaymentStatus.FAILED:
        return payment, []
    if payment.status is not PaymentStatus.REQUIRES_CAPTURE:
        raise FailedPrecondition(f"payment {payment.payment_id} is {_words(payment.status)}: it can no longer fail")
    failed = dataclasses.replace(payment, status=PaymentStatus.FAILED, failure_reason=failure_message, updated_at=now)
    return failed, [PaymentFailed(
        payment_id=payment.payment_id, order_id=payment.order_id, customer_id=payment.customer_id,
        amount=payment.amount, currency=payment.currency, payment_method=payment.payment_method,
        failure_code=failure_code, failure_message=failure_message, failed_at=now)]


def void_payment(payment: Payment, *, reason: str, now: datetime) -> tuple[Payment, list[PaymentEvent]]:
    """Releases an authorisation that was not captured. Voiding again changes nothing."""
    if payment.status is PaymentStatus.VOIDED:
        return payment, []
    if payment.status in CAPTURED_STATUSES:
        raise FailedPrecondition(f"payment {payment.payment_id} was captured: refund it instead of voiding it")
    if payment.status is PaymentStatus.FAILED:
        raise FailedPrecondition(f"payment {payment.payment_id} failed: there is nothing to void")
    voided = dataclasses.replace(payment, status=PaymentStatus.VOIDED, failure_reason=reason, voided_at=now,
                                 updated_at=now)
    return voided, [PaymentVoided(
        payment_id=payment.payment_id, order_id=payment.order_id, customer_id=payment.customer_id,
        amount=payment.amount, currency=payment.currency, reason=reason, voided_at=now)]


def refund_payment(payment: Payment, request: RefundRequest, *, refund_id: str, provider_reference: str,
                   now: datetime) -> tuple[Payment, Refund, list[PaymentEvent]]:
    """Gives back part or all of what was captured and not refunded yet. Idempotent on the request's
    key: the same request again returns the refund it made (and `refund_id` is not used); a different
    request with a used key is refused."""
    _check_refund_request(payment, request)
    earlier = payment.refund_with_key(request.idempotency_key)
    if earlier is not None:
        if request.is_repeated_by(earlier):
            return payment, earlier, []
        raise AlreadyExists(f"refund key {request.idempotency_key!r} was already used on payment "
                            f"{payment.payment_id} for a different refund ({earlier.refund_id})")
    if payment.status not in CAPTURED_STATUSES:
        raise FailedPrecondition(
            f"payment {payment.payment_id} is {_words(payment.status)}: only a captured payment can be refunded")
    left = payment.left_to_refund
    if left == 0:
        raise FailedPrecondition(f"payment {payment.payment_id} was already refunded in full")
    amount = left if request.amount is None else request.amount
    if amount > left:
        raise FailedPrecondition(
            f"a refund of {format_money(amount, payment.currency)} exceeds the "
            f"{format_money(left, payment.currency)} left to refund on payment {payment.payment_id}")
    refund = Refund(refund_id=refund_id, payment_id=payment.payment_id, order_id=payment.order_id, amount=amount,
                    cause=request.cause, reason=request.reason, idempotency_key=request.idempotency_key,
                    order_refund_id=request.order_refund_id, lines=request.lines,
                    shipping_amount=request.shipping_amount, provider_reference=provider_reference, created_at=now)
    refunded_amount = payment.refunded_amount + amount
    fully_refunded = refunded_amount == payment.captured_amount
    refunded = dataclasses.replace(
        payment, refunded_amount=refunded_amount, refunds=(*payment.refunds, refund), updated_at=now,
        status=PaymentStatus.REFUNDED if fully_refunded else PaymentStatus.PARTIALLY_REFUNDED)
    return refunded, refund, [PaymentRefunded(
        payment_id=payment.payment_id, order_id=payment.order_id, customer_id=payment.customer_id,
        refund_id=refund.refund_id, order_refund_id=refund.order_refund_id, cause=refund.cause, amount=amount,
        currency=payment.currency, total_refunded=refunded_amount, captured_amount=payment.captured_amount,
        fully_refunded=fully_refunded, lines=refund.lines, shipping_amount=refund.shipping_amount,
        reason=refund.reason, refunded_at=now)]


def cancel_order_payment(payment: Payment, *, reason: str, refund_id: str, provider_reference: str,
                         now: datetime) -> tuple[Payment, list[PaymentEvent]]:
    """The compensation for OrderCancelled, and the one place that says what cancelling an order
    means for its payment: before capture the authorisation is voided; after capture everything not
    yet refunded is refunded (cause ORDER_CANCELLED, key "cancel:<order id>"). A payment with
    nothing left to give back, or already cancelled, is returned unchanged, so replays do nothing."""
    if payment.status is PaymentStatus.REQUIRES_CAPTURE:
        return void_payment(payment, reason=reason, now=now)
    key = cancellation_key(payment.order_id)
    if not payment.is_live or payment.left_to_refund == 0 or payment.refund_with_key(key) is not None:
        return payment, []
    refunded, _, events = refund_payment(
        payment, RefundRequest(idempotency_key=key, cause=RefundCause.ORDER_CANCELLED, reason=reason),
        refund_id=refund_id, provider_reference=provider_reference, now=now)
    return refunded, events


def _check_currency(currency: str) -> None:
    if currency not in CURRENCY_MINOR_DIGITS:
        raise InvalidArgument(f"currency must be one of {', '.join(CURRENCY_MINOR_DIGITS)}, got {currency!r}")


def _check_refund_request(payment: Payment, request: RefundRequest) -> None:
    if not request.idempotency_key:
        raise InvalidArgument("a refund needs an idempotency key, so that a retry does not refund twice")
    if request.amount is not None and request.amount <= 0:
        raise InvalidArgument(f"refund amount must be positive, got {request.amount}")
    if request.currency and request.currency != payment.currency:
        raise InvalidArgument(f"payment {payment.payment_id} is in {payment.currency}; "
                              f"it cannot be refunded in {request.currency}")
    if request.shipping_amount < 0:
        raise InvalidArgument(f"refunded shipping must not be negative, got {request.shipping_amount}")
    for line in request.lines:
        if line.quantity <= 0 or line.amount < 0:
            raise InvalidArgument(f"refunded line {line.sku}: quantity must be positive and amount not negative, "
                                  f"got {line.quantity} and {line.amount}")
    if request.lines:
        listed = sum(line.amount for line in request.lines) + request.shipping_amount
        if request.amount != listed:
            asked = "no amount" if request.amount is None else format_money(request.amount, payment.currency)
            raise InvalidArgument(f"the refunded lines and shipping add up to {format_money(listed, payment.currency)}"
                                  f", but the refund asks for {asked}")


def _words(status: PaymentStatus) -> str:
    if status is PaymentStatus.REQUIRES_CAPTURE:
        return "waiting for capture"
    return status.value.lower().replace("_", " ")
