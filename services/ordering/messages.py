"""Ordering's records and Protobuf messages, mapped once: orders and ordering's events out; requests,
carting's cart, shipping's option and the saga participants' events in."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

from carting.v1 import cart_service_pb2 as cart_pb
from google.protobuf.timestamp_pb2 import Timestamp
from ordering.v1 import events_pb2 as events_pb
from ordering.v1 import order_pb2
from ordering.v1 import order_service_pb2 as pb
from stocking.v1 import events_pb2 as stocking_pb

from services.ordering import domain
from services.runtime.errors import InvalidArgument
from services.runtime.proto import address, address_record, money, shipment_status_record, timestamp, to_datetime

E = TypeVar("E", bound=StrEnum)


def enum_number(enum: Any, prefix: str, member: StrEnum) -> Any:
    """A domain enum member as the Protobuf enum's number: OrderStatus.PENDING -> ORDER_STATUS_PENDING."""
    return enum.Value(prefix + member.value)


def enum_member(kind: type[E], enum: Any, prefix: str, number: int, what: str) -> E:
    """A Protobuf enum number as the domain's member; UNSPECIFIED or unknown numbers are refused."""
    name = enum.Name(number) if number in enum.values() else ""
    try:
        return kind(name.removeprefix(prefix))
    except ValueError:
        raise InvalidArgument(f"{what} must be one of {', '.join(m.value for m in kind)}, got {name or number}") \
            from None


# ---------------------------------------------------------------------------------------- orders


def order_line(line: domain.OrderLine, currency: str) -> order_pb2.OrderLine:
    return order_pb2.OrderLine(
        sku=line.sku, product_id=line.product_id, seller_id=line.seller_id, name=line.name, quantity=line.quantity,
        unit_price=money(line.unit_price, currency), tax_class=line.tax_class, tax_rate_bps=line.tax_rate_bps,
        unit_weight_grams=line.unit_weight_grams, subtotal=money(line.subtotal, currency),
        discount=money(line.discount, currency), tax=money(line.tax, currency),
        line_total=money(line.line_total, currency), refunded_quantity=line.refunded_quantity,
    )


def order_totals(totals: domain.OrderTotals, currency: str) -> order_pb2.OrderTotals:
    return order_pb2.OrderTotals(
        subtotal=money(totals.subtotal, currency), discount=money(totals.discount, currency),
        shipping=money(totals.shipping, currency), tax=money(totals.tax, currency),
        total=money(totals.total, currency), refunded=money(totals.refunded, currency),
    )


def shipping_option(option: domain.ShippingQuote) -> order_pb2.OrderShippingOption:
    return order_pb2.OrderShippingOption(
        shipping_option_id=option.shipping_option_id, carrier_code=option.carrier_code,
        carrier_name=option.carrier_name, service_level=option.service_level,
        price=money(option.price, option.currency), estimated_days_min=option.estimated_days_min,
        estimated_days_max=option.estimated_days_max,
    )


def refund_line(line: domain.RefundedLine, currency: str) -> order_pb2.RefundLine:
    return order_pb2.RefundLine(sku=line.sku, quantity=line.quantity, amount=money(line.amount, currency))


def refund(record: domain.OrderRefund, currency: str) -> order_pb2.OrderRefund:
    return order_pb2.OrderRefund(
        refund_id=record.refund_id, status=enum_number(order_pb2.RefundStatus, "REFUND_STATUS_", record.status),
        amount=money(record.amount, currency), lines=[refund_line(line, currency) for line in record.lines],
        shipping_amount=money(record.shipping_amount, currency), full=record.full, reason=record.reason,
        requested_by=enum_number(order_pb2.Actor, "ACTOR_", record.requested_by),
        payment_refund_id=record.payment_refund_id, credit_note_id=record.credit_note_id,
        failure_reason=record.failure_reason, requested_at=timestamp(record.requested_at),
        completed_at=timestamp(record.completed_at),
    )


def order(record: domain.Order) -> order_pb2.Order:
    currency = record.currency
    message = order_pb2.Order(
        order_id=record.order_id, order_number=record.order_number, customer_id=record.customer_id,
        customer_email=record.customer_email, currency=currency,
        lines=[order_line(line, currency) for line in record.lines], totals=order_totals(record.totals, currency),
        shipping_address=address(record.shipping_address), billing_address=address(record.billing_address),
        shipping_option=shipping_option(record.shipping_option), payment_method=record.payment_method,
        status=enum_number(order_pb2.OrderStatus, "ORDER_STATUS_", record.status),
        stock_state=enum_number(order_pb2.StockState, "STOCK_STATE_", record.stock_state),
        payment_state=enum_number(order_pb2.PaymentState, "PAYMENT_STATE_", record.payment_state),
        invoice_state=enum_number(order_pb2.InvoiceState, "INVOICE_STATE_", record.invoice_state),
        refunds=[refund(r, currency) for r in record.refunds], cart_id=record.cart_id,
        payment_id=record.payment_id, invoice_id=record.invoice_id, invoice_number=record.invoice_number,
        shipment_id=record.shipment_id, carrier_code=record.carrier_code, tracking_number=record.tracking_number,
        version=record.version, created_at=timestamp(record.created_at), updated_at=timestamp(record.updated_at),
        confirmed_at=timestamp(record.confirmed_at), shipped_at=timestamp(record.shipped_at),
        delivered_at=timestamp(record.delivered_at),
    )
    if (cancellation := record.cancellation) is not None:
        message.cancellation.CopyFrom(order_pb2.Cancellation(
            reason=enum_number(order_pb2.CancellationReason, "CANCELLATION_REASON_", cancellation.reason),
            note=cancellation.note, cancelled_by=enum_number(order_pb2.Actor, "ACTOR_", cancellation.cancelled_by),
            previous_status=enum_number(order_pb2.OrderStatus, "ORDER_STATUS_", cancellation.previous_status),
            cancelled_at=timestamp(cancellation.cancelled_at),
        ))
    return message


def timeline_entry(entry: domain.TimelineEntry) -> pb.TimelineEntry:
    return pb.TimelineEntry(
        step=enum_number(pb.TimelineStep, "TIMELINE_STEP_", entry.step), occurred_at=timestamp(entry.occurred_at),
        source=entry.source, detail=entry.detail, actor=enum_number(order_pb2.Actor, "ACTOR_", entry.actor),
        event_id=entry.event_id, status_after=enum_number(order_pb2.OrderStatus, "ORDER_STATUS_", entry.status_after),
    )


# ------------------------------------------------------------------------------ ordering's events


def order_event(event: domain.OrderEvent) -> dict[str, Any]:
    """The event as the keyword bus.publish takes: {"order_confirmed": OrderConfirmed(...)}."""
    c = event.currency
    match event:
        case domain.OrderCreated():
            return {"order_created": events_pb.OrderCreated(
                order_id=event.order_id, order_number=event.order_number, customer_id=event.customer_id,
                customer_email=event.customer_email, currency=c, lines=[order_line(line, c) for line in event.lines],
                totals=order_totals(event.totals, c), shipping_address=address(event.shipping_address),
                billing_address=address(event.billing_address), shipping_option=shipping_option(event.shipping_option),
                payment_method=event.payment_method, cart_id=event.cart_id, created_at=timestamp(event.created_at),
            )}
        case domain.OrderConfirmed():
            return {"order_confirmed": events_pb.OrderConfirmed(
                order_id=event.order_id, order_number=event.order_number, customer_id=event.customer_id,
                customer_email=event.customer_email, currency=c, lines=[order_line(line, c) for line in event.lines],
                totals=order_totals(event.totals, c), shipping_address=address(event.shipping_address),
                shipping_option=shipping_option(event.shipping_option), total_weight_grams=event.total_weight_grams,
                payment_id=event.payment_id, confirmed_at=timestamp(event.confirmed_at),
            )}
        case domain.OrderCancelled():
            return {"order_cancelled": events_pb.OrderCancelled(
                order_id=event.order_id, order_number=event.order_number, customer_id=event.customer_id,
                reason=enum_number(order_pb2.CancellationReason, "CANCELLATION_REASON_", event.reason),
                note=event.note, cancelled_by=enum_number(order_pb2.Actor, "ACTOR_", event.cancelled_by),
                previous_status=enum_number(order_pb2.OrderStatus, "ORDER_STATUS_", event.previous_status),
                lines=[order_line(line, c) for line in event.lines], totals=order_totals(event.totals, c), currency=c,
                cancelled_at=timestamp(event.cancelled_at),
            )}
        case domain.OrderRefundRequested():
            return {"order_refund_requested": events_pb.OrderRefundRequested(
                order_id=event.order_id, order_number=event.order_number, customer_id=event.customer_id,
                refund_id=event.refund_id, amount=money(event.amount, c),
                lines=[refund_line(line, c) for line in event.lines],
                shipping_amount=money(event.shipping_amount, c), full=event.full, reason=event.reason,
                requested_by=enum_number(order_pb2.Actor, "ACTOR_", event.requested_by),
                requested_at=timestamp(event.requested_at),
            )}
    raise TypeError(f"not an ordering event: {event!r}")


# -------------------------------------------------------------------------------------- requests


def place_order_record(request: pb.CreateOrderRequest) -> domain.PlaceOrder:
    expected = request.expected_total if request.HasField("expected_total") else None
    return domain.PlaceOrder(
        cart_id=request.cart_id, shipping_address=address_record(request.shipping_address),
        billing_address=address_record(request.billing_address) if request.HasField("billing_address") else None,
        payment_method=request.payment_method, shipping_option_id=request.shipping_option_id,
        idempotency_key=request.idempotency_key, customer_email=request.customer_email,
        expected_total=expected.amount_minor if expected is not None else None,
        expected_currency=expected.currency if expected is not None else "",
    )


def request_refund_record(request: pb.RequestRefundRequest) -> domain.RequestRefund:
    amount = request.amount if request.HasField("amount") else None
    return domain.RequestRefund(
        idempotency_key=request.idempotency_key,
        lines=tuple(domain.RefundSelection(sku=line.sku, quantity=line.quantity) for line in request.lines),
        amount=amount.amount_minor if amount is not None else None,
        currency=amount.currency if amount is not None else "", reason=request.reason,
    )


def order_filter_record(request: pb.ListOrdersRequest) -> domain.OrderFilter:
    return domain.OrderFilter(
        statuses=tuple(enum_member(domain.OrderStatus, order_pb2.OrderStatus, "ORDER_STATUS_", s, "status filter")
                       for s in request.statuses),
        customer_id=request.customer_id, order_number=request.order_number,
        created_after=to_datetime(request.created_after) if request.HasField("created_after") else None,
        created_before=to_datetime(request.created_before) if request.HasField("created_before") else None,
    )


def cancellation_reason_record(number: int) -> domain.CancellationReason:
    return enum_member(domain.CancellationReason, order_pb2.CancellationReason, "CANCELLATION_REASON_", number,
                       "cancellation reason")


# ----------------------------------------------------------------------- other services' answers


def cart_snapshot_record(cart: cart_pb.Cart) -> domain.CartSnapshot:
    return domain.CartSnapshot(
        cart_id=cart.cart_id, customer_id=cart.customer_id,
        state=cart_pb.CartState.Name(cart.state).removeprefix("CART_STATE_"),  # type: ignore[arg-type]
        currency=cart.currency, version=cart.version,
        lines=tuple(
            domain.CartLineSnapshot(
                sku=line.sku, product_id=line.product_id, seller_id=line.seller_id, name=line.name,
                quantity=line.quantity, unit_price=line.current_unit_price.amount_minor,
                price_changed=line.price_changed,
                availability=cart_pb.LineAvailability.Name(line.availability)  # type: ignore[arg-type]
                .removeprefix("LINE_AVAILABILITY_"),
                tax_class=line.tax_class, tax_rate_bps=line.tax_rate_bps, unit_weight_grams=line.unit_weight_grams,
                subtotal=line.subtotal.amount_minor, discount=line.discount.amount_minor, tax=line.tax.amount_minor,
                total=line.total.amount_minor,
            )
            for line in cart.lines
        ),
    )


# -------------------------------------------------------------------- the participants' events


def _when(stamp: Timestamp, metadata: Any) -> datetime:
    """The event's own time when it carries one (a carrier's scan time tells a repeated scan apart),
    else the time it was published."""
    return to_datetime(stamp if stamp.seconds or stamp.nanos else metadata.occurred_at)


def saga_event_record(name: str, event: Any, metadata: Any) -> domain.SagaEvent:
    """A consumed event (its oneof field name and message) as the domain's SagaEvent."""
    eid, published = metadata.event_id, to_datetime(metadata.occurred_at)
    match name:
        case "stock_reserved":
            return domain.StockReserved(
                event_id=eid, occurred_at=published, units=sum(line.quantity for line in event.lines),
                expires_at=to_datetime(event.expires_at) if event.HasField("expires_at") else None)
        case "stock_reservation_failed":
            return domain.StockReservationFailed(
                event_id=eid, occurred_at=published,
                short_lines=tuple(domain.ShortLine(sku=s.sku, requested=s.requested, available=s.available)
                                  for s in event.short_lines))
        case "stock_released":
            return domain.StockReleased(
                event_id=eid, occurred_at=published,
                reason=enum_member(domain.ReleaseReason, stocking_pb.ReleaseReason, "RELEASE_REASON_", event.reason,
                                   "release reason"))
        case "stock_committed":
            return domain.StockCommitted(event_id=eid, occurred_at=published)
        case "payment_succeeded":
            return domain.PaymentSucceeded(event_id=eid, occurred_at=_when(event.captured_at, metadata),
                                           payment_id=event.payment_id, amount=event.amount.amount_minor)
        case "payment_failed":
            return domain.PaymentFailed(event_id=eid, occurred_at=_when(event.failed_at, metadata),
                                        payment_id=event.payment_id, failure_message=event.failure_message)
        case "payment_voided":
            return domain.PaymentVoided(event_id=eid, occurred_at=_when(event.voided_at, metadata),
                                        payment_id=event.payment_id, amount=event.amount.amount_minor)
        case "payment_refunded":
            return domain.PaymentRefunded(
                event_id=eid, occurred_at=_when(event.refunded_at, metadata), refund_id=event.refund_id,
                order_refund_id=event.order_refund_id, amount=event.amount.amount_minor,
                fully_refunded=event.fully_refunded)
        case "invoice_drafted":
            return domain.InvoiceDrafted(event_id=eid, occurred_at=_when(event.drafted_at, metadata),
                                         invoice_id=event.invoice_id)
        case "invoice_finalized":
            return domain.InvoiceFinalized(event_id=eid, occurred_at=_when(event.issued_at, metadata),
                                           invoice_id=event.invoice_id, invoice_number=event.invoice_number)
        case "invoice_voided":
            return domain.InvoiceVoided(event_id=eid, occurred_at=_when(event.voided_at, metadata),
                                        invoice_id=event.invoice_id)
        case "credit_note_issued":
            return domain.CreditNoteIssued(
                event_id=eid, occurred_at=_when(event.issued_at, metadata), credit_note_id=event.credit_note_id,
                credit_note_number=event.credit_note_number, order_refund_id=event.order_refund_id,
                amount=event.totals.gross.amount_minor)
        case "shipment_created":
            return domain.ShipmentCreated(
                event_id=eid, occurred_at=_when(event.created_at, metadata), shipment_id=event.shipment_id,
                carrier_code=event.carrier_code, tracking_number=event.tracking_number)
        case "shipment_status_changed":
            return domain.ShipmentStatusChanged(
                event_id=eid, occurred_at=_when(event.occurred_at, metadata), shipment_id=event.shipment_id,
                status=shipment_status_record(event.status),
                location=event.location, description=event.description)
        case "shipment_cancelled":
            return domain.ShipmentCancelled(event_id=eid, occurred_at=_when(event.cancelled_at, metadata),
                                            shipment_id=event.shipment_id, reason=event.reason)
    raise TypeError(f"ordering does not handle {name}")

