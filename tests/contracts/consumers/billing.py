"""Billing drafts an order's invoice on OrderCreated, finalises it on OrderConfirmed, voids it on
OrderCancelled, issues a credit note for each refund paying reports, and takes tax rates from the settings."""

from __future__ import annotations

from typing import Any

from administering.v1 import events_pb2 as admin_events
from ordering.v1 import events_pb2 as order_events
from ordering.v1 import order_pb2
from paying.v1 import events_pb2 as paying_events
from paying.v1 import payment_pb2

from services.billing import domain
from tests.contracts.values import ADDRESS, AT, eur
from tools.contracts import CURRENCY, Consumer, Service, metadata, one_of

CONSUMER = Consumer("billing")
ORDERS, PAYMENTS, SETTINGS = "ordering.orders.v1", "paying.payments.v1", "administering.settings.v1"
# The cancellation reasons billing's code knows how to word; a reason added to the schema is not one of them
# until billing says so here.
REASONS = one_of(order_pb2.CANCELLATION_REASON_CUSTOMER_REQUEST, order_pb2.CANCELLATION_REASON_STAFF_DECISION,
                 order_pb2.CANCELLATION_REASON_FRAUD_SUSPECTED, order_pb2.CANCELLATION_REASON_OUT_OF_STOCK,
                 order_pb2.CANCELLATION_REASON_PAYMENT_FAILED, order_pb2.CANCELLATION_REASON_TIMED_OUT)

ORDER_CREATED = order_events.OrderEvent(metadata=metadata(), order_created=order_events.OrderCreated(
    order_id="order-1", order_number="ORD-2026-000001", customer_id="customer-1", customer_email="ada@example.com",
    currency="EUR", lines=[order_pb2.OrderLine(
        sku="MUG-RED", product_id="product-1", seller_id="seller-1", name="Red mug", quantity=2,
        unit_price=eur(1250), tax_class="standard", tax_rate_bps=2000, subtotal=eur(2500), tax=eur(500),
        line_total=eur(3000))],
    totals=order_pb2.OrderTotals(subtotal=eur(2500), shipping=eur(695), tax=eur(500), total=eur(3695)),
    shipping_address=ADDRESS, billing_address=ADDRESS,
    shipping_option=order_pb2.OrderShippingOption(carrier_name="Colissimo", service_level="standard"),
    payment_method="card", created_at=AT))
ORDER_CONFIRMED = order_events.OrderEvent(metadata=metadata(), order_confirmed=order_events.OrderConfirmed(
    order_id="order-1"))
ORDER_CANCELLED = order_events.OrderEvent(metadata=metadata(), order_cancelled=order_events.OrderCancelled(
    order_id="order-1", reason=order_pb2.CANCELLATION_REASON_CUSTOMER_REQUEST))
PAYMENT_REFUNDED = paying_events.PaymentEvent(metadata=metadata(), payment_refunded=paying_events.PaymentRefunded(
    order_id="order-1", refund_id="refund-1", order_refund_id="order-refund-1", amount=eur(3695),
    shipping_amount=eur(695), reason="broken",
    lines=[payment_pb2.RefundedLine(sku="MUG-RED", quantity=2, amount=eur(3000))]))


def invoice(service: Service) -> domain.Invoice:
    found: domain.Invoice = service.parts["books"].invoices.get("order-1")
    return found


@CONSUMER.event(ORDERS, ORDER_CREATED, given="an order was placed", handles={"order_created.currency": CURRENCY})
async def drafts_the_invoice(service: Service, envelope: Any) -> None:
    await service.deliver(ORDERS, envelope)
    draft = invoice(service)
    assert draft.status is domain.InvoiceStatus.DRAFT and draft.customer.name == "Ada Lovelace"
    assert (draft.totals.net, draft.totals.tax, draft.totals.gross) == (3195, 500, 3695)
    assert [line.description for line in draft.lines] == ["Red mug", "Shipping: Colissimo standard"]


@CONSUMER.event(ORDERS, ORDER_CONFIRMED, given="an order was confirmed")
async def finalises_the_invoice(service: Service, envelope: Any) -> None:
    await service.deliver(ORDERS, ORDER_CREATED)
    await service.deliver(ORDERS, envelope)
    assert invoice(service).status is domain.InvoiceStatus.FINAL and invoice(service).invoice_number


@CONSUMER.event(ORDERS, ORDER_CANCELLED, given="an order was cancelled", handles={"order_cancelled.reason": REASONS})
async def voids_the_draft(service: Service, envelope: Any) -> None:
    await service.deliver(ORDERS, ORDER_CREATED)
    await service.deliver(ORDERS, envelope)
    assert invoice(service).status is domain.InvoiceStatus.VOID
    assert invoice(service).void_reason == "order cancelled: customer request"


@CONSUMER.event(PAYMENTS, PAYMENT_REFUNDED, given="a delivered order's refund was paid")
async def credits_the_refund(service: Service, envelope: Any) -> None:
    await service.deliver(ORDERS, ORDER_CREATED)
    await service.deliver(ORDERS, ORDER_CONFIRMED)
    await service.deliver(PAYMENTS, envelope)
    assert invoice(service).credited == 3695
    issued = service.event("billing.invoices.v1", "credit_note_issued")
    assert (issued.order_refund_id, issued.totals.gross.amount_minor) == ("order-refund-1", 3695)


@CONSUMER.event(SETTINGS, admin_events.SettingEvent(metadata=metadata(), setting_changed=admin_events.SettingChanged(
    name="tax.rate_bps.standard", value=admin_events.SettingValue(basis_points=1950), version=2)),
    given="an admin changed a setting", name="tax.rate_bps.standard")
async def takes_the_new_tax_rate(service: Service, envelope: Any) -> None:
    await service.deliver(SETTINGS, envelope)
    assert service.parts["books"].tax_rates.get("standard").rate_bps == 1950
