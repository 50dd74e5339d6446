"""Paying takes the order's payment on OrderCreated, voids or refunds it on OrderCancelled and pays
back what ordering asks on OrderRefundRequested."""

from __future__ import annotations

from typing import Any

from ordering.v1 import events_pb2 as order_events
from ordering.v1 import order_pb2

from services.paying import domain
from tests.contracts.values import eur
from tools.contracts import CURRENCY, POSITIVE, Consumer, Service, metadata, one_of

CONSUMER = Consumer("paying")
ORDERS = "ordering.orders.v1"
# The cancellation reasons paying's code knows how to word; a reason added to the schema is not one of them
# until paying says so here.
REASONS = one_of(order_pb2.CANCELLATION_REASON_CUSTOMER_REQUEST, order_pb2.CANCELLATION_REASON_STAFF_DECISION,
                 order_pb2.CANCELLATION_REASON_FRAUD_SUSPECTED, order_pb2.CANCELLATION_REASON_OUT_OF_STOCK,
                 order_pb2.CANCELLATION_REASON_PAYMENT_FAILED, order_pb2.CANCELLATION_REASON_TIMED_OUT)


ORDER_CREATED = order_events.OrderEvent(metadata=metadata(), order_created=order_events.OrderCreated(
    order_id="order-1", customer_id="customer-1", currency="EUR", payment_method="card",
    totals=order_pb2.OrderTotals(total=eur(3695))))
ORDER_CANCELLED = order_events.OrderEvent(metadata=metadata(), order_cancelled=order_events.OrderCancelled(
    order_id="order-1", order_number="ORD-2026-000001", reason=order_pb2.CANCELLATION_REASON_CUSTOMER_REQUEST))
REFUND_REQUESTED = order_events.OrderEvent(
    metadata=metadata(), order_refund_requested=order_events.OrderRefundRequested(
        order_id="order-1", refund_id="order-refund-1", amount=eur(3695), shipping_amount=eur(695), reason="broken",
        lines=[order_pb2.RefundLine(sku="MUG-RED", quantity=2, amount=eur(3000))]))


def payment(service: Service) -> domain.Payment:
    record = service.parts["payments"].orders.get("order-1")
    assert record is not None and len(record.payments) == 1, "paying keeps one payment for the order"
    return record.payments[0]  # type: ignore[no-any-return]


@CONSUMER.event(ORDERS, ORDER_CREATED, given="an order was placed", handles={
    "order_created.currency": CURRENCY, "order_created.totals.total.amount_minor": POSITIVE})
async def takes_the_payment(service: Service, envelope: Any) -> None:
    await service.deliver(ORDERS, envelope)
    paid = payment(service)
    assert (paid.status, paid.captured_amount, paid.customer_id) == (domain.PaymentStatus.CAPTURED, 3695, "customer-1")
    assert service.event("paying.payments.v1", "payment_succeeded").amount.amount_minor == 3695


@CONSUMER.event(ORDERS, ORDER_CANCELLED, given="an order was cancelled", handles={"order_cancelled.reason": REASONS})
async def gives_the_money_back(service: Service, envelope: Any) -> None:
    await service.deliver(ORDERS, ORDER_CREATED)
    await service.deliver(ORDERS, envelope)
    refunded = payment(service)
    assert refunded.status is domain.PaymentStatus.REFUNDED
    assert refunded.refunds[0].reason == "order ORD-2026-000001 cancelled: customer request"


@CONSUMER.event(ORDERS, REFUND_REQUESTED, given="a refund was asked for a delivered order")
async def refunds_what_ordering_asks(service: Service, envelope: Any) -> None:
    await service.deliver(ORDERS, ORDER_CREATED)
    await service.deliver(ORDERS, envelope)
    refund = payment(service).refunds[0]
    assert (refund.order_refund_id, refund.amount, refund.shipping_amount) == ("order-refund-1", 3695, 695)
    assert refund.lines == (domain.RefundedLine(sku="MUG-RED", quantity=2, amount=3000),)
