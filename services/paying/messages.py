"""Paying's records and events as Protobuf messages, and the requests' fields as domain values."""

from __future__ import annotations

from typing import Any

from ordering.v1 import events_pb2 as ordering_events
from ordering.v1 import order_pb2
from paying.v1 import events_pb2, payment_pb2

from services.paying.domain import (
    Payment,
    PaymentEvent,
    PaymentFailed,
    PaymentRefunded,
    PaymentStatus,
    PaymentSucceeded,
    PaymentVoided,
    Refund,
    RefundCause,
    RefundedLine,
    RefundRequest,
)
from services.runtime.errors import InvalidArgument
from services.runtime.proto import money, timestamp


def status(value: PaymentStatus) -> payment_pb2.PaymentStatus.ValueType:
    return payment_pb2.PaymentStatus.Value(f"PAYMENT_STATUS_{value.value}")


def status_record(value: payment_pb2.PaymentStatus.ValueType) -> PaymentStatus:
    name = payment_pb2.PaymentStatus.Name(value) if value in payment_pb2.PaymentStatus.values() else ""
    if not name or value == payment_pb2.PAYMENT_STATUS_UNSPECIFIED:
        known = ", ".join(payment_pb2.PaymentStatus.keys()[1:])
        raise InvalidArgument(f"payment status filter must be one of {known}, got {name or value}")
    return PaymentStatus(name.removeprefix("PAYMENT_STATUS_"))


def cause(value: RefundCause) -> payment_pb2.RefundCause.ValueType:
    return payment_pb2.RefundCause.Value(f"REFUND_CAUSE_{value.value}")


def refund(value: Refund, currency: str) -> payment_pb2.Refund:
    return payment_pb2.Refund(
        refund_id=value.refund_id, payment_id=value.payment_id, order_id=value.order_id,
        amount=money(value.amount, currency), cause=cause(value.cause), reason=value.reason,
        idempotency_key=value.idempotency_key, order_refund_id=value.order_refund_id,
        lines=[_line(line, currency) for line in value.lines],
        shipping_amount=money(value.shipping_amount, currency), provider_reference=value.provider_reference,
        created_at=timestamp(value.created_at))


def payment(value: Payment) -> payment_pb2.Payment:
    currency = value.currency
    return payment_pb2.Payment(
        payment_id=value.payment_id, order_id=value.order_id, customer_id=value.customer_id,
        amount=money(value.amount, currency), captured_amount=money(value.captured_amount, currency),
        refunded_amount=money(value.refunded_amount, currency), status=status(value.status),
        payment_method=value.payment_method, provider_reference=value.provider_reference,
        refunds=[refund(r, currency) for r in value.refunds], failure_reason=value.failure_reason,
        created_at=timestamp(value.created_at), updated_at=timestamp(value.updated_at),
        captured_at=timestamp(value.captured_at), voided_at=timestamp(value.voided_at))


def _line(line: RefundedLine, currency: str) -> payment_pb2.RefundedLine:
    return payment_pb2.RefundedLine(sku=line.sku, quantity=line.quantity, amount=money(line.amount, currency))


def event(value: PaymentEvent) -> dict[str, Any]:
    """The domain event as the envelope's oneof field, ready for `publish(..., **event(value))`."""
    match value:
        case PaymentSucceeded():
            return {"payment_succeeded": events_pb2.PaymentSucceeded(
                payment_id=value.payment_id, order_id=value.order_id, customer_id=value.customer_id,
                amount=money(value.amount, value.currency), payment_method=value.payment_method,
                provider_reference=value.provider_reference, captured_at=timestamp(value.captured_at))}
        case PaymentFailed():
            return {"payment_failed": events_pb2.PaymentFailed(
                payment_id=value.payment_id, order_id=value.order_id, customer_id=value.customer_id,
                amount=money(value.amount, value.currency), payment_method=value.payment_method,
                failure_code=value.failure_code, failure_message=value.failure_message,
                failed_at=timestamp(value.failed_at))}
        case PaymentRefunded():
            currency = value.currency
            return {"payment_refunded": events_pb2.PaymentRefunded(
                payment_id=value.payment_id, order_id=value.order_id, customer_id=value.customer_id,
                refund_id=value.refund_id, order_refund_id=value.order_refund_id, cause=cause(value.cause),
                amount=money(value.amount, currency), total_refunded=money(value.total_refunded, currency),
                captured_amount=money(value.captured_amount, currency), fully_refunded=value.fully_refunded,
                lines=[_line(line, currency) for line in value.lines],
                shipping_amount=money(value.shipping_amount, currency), reason=value.reason,
                refunded_at=timestamp(value.refunded_at))}
        case PaymentVoided():
            return {"payment_voided": events_pb2.PaymentVoided(
                payment_id=value.payment_id, order_id=value.order_id, customer_id=value.customer_id,
                amount=money(value.amount, value.currency), reason=value.reason,
                voided_at=timestamp(value.voided_at))}


def order_refund_request_record(requested: ordering_events.OrderRefundRequested) -> RefundRequest:
    """What OrderRefundRequested asks paying to refund, keyed on ordering's refund id."""
    return RefundRequest.for_order_refund(
        order_refund_id=requested.refund_id, amount=requested.amount.amount_minor, currency=requested.amount.currency,
        lines=[RefundedLine(sku=line.sku, quantity=line.quantity, amount=line.amount.amount_minor)
               for line in requested.lines],
        shipping_amount=requested.shipping_amount.amount_minor, reason=requested.reason)


def cancellation_reason_record(cancelled: ordering_events.OrderCancelled) -> str:
    """"order ORD-1 cancelled: out of stock (SKU A: 2 asked, 0 available)", for the payment's record."""
    name = order_pb2.CancellationReason.Name(cancelled.reason) \
        if cancelled.reason in order_pb2.CancellationReason.values() else ""
    why = name.removeprefix("CANCELLATION_REASON_").replace("_", " ").lower()
    text = f"order {cancelled.order_number or cancelled.order_id} cancelled"
    text += f": {why}" if why and why != "unspecified" else ""
    return text + (f" ({cancelled.note})" if cancelled.note else "")
