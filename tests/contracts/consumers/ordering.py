"""Ordering runs the checkout saga: it reads carting's cart and shipping's option to place an order,
and every participant's event to move the order on (domain.apply_event)."""

from __future__ import annotations

from typing import Any

from administering.v1 import events_pb2 as admin_events
from billing.v1 import events_pb2 as billing_events
from billing.v1 import invoice_pb2
from carting.v1 import cart_service_pb2 as cart_pb
from google.protobuf.duration_pb2 import Duration
from ordering.v1 import order_pb2
from ordering.v1 import order_service_pb2 as order_api
from paying.v1 import events_pb2 as paying_events
from shipping.v1 import events_pb2 as shipping_events
from shipping.v1 import shipment_pb2
from shipping.v1 import shipping_service_pb2 as shipping_api
from stocking.v1 import events_pb2 as stocking_events

from services.ordering import domain
from services.runtime.errors import FailedPrecondition
from tests.contracts.values import ABROAD, ADDRESS, AT, REFUSAL, REFUSAL_ASKED, REFUSED_OPTION, eur
from tools.contracts import Consumer, Service, metadata, one_of
from tools.platform import as_customer

CONSUMER = Consumer("ordering")
RESERVATIONS, PAYMENTS = "stocking.reservations.v1", "paying.payments.v1"
INVOICES, SHIPMENTS, SETTINGS = "billing.invoices.v1", "shipping.shipments.v1", "administering.settings.v1"
ORDERS = "ordering.orders.v1"
CUSTOMER = "customer-1"


# --- placing an order: carting's cart and shipping's option, as ordering reads them --------------------------

CART = cart_pb.Cart(
    cart_id="cart-1", customer_id=CUSTOMER, state=cart_pb.CART_STATE_OPEN, currency="EUR", version=3,
    lines=[cart_pb.CartLine(
        sku="MUG-RED", product_id="product-1", seller_id="seller-1", name="Red mug", quantity=2,
        current_unit_price=eur(1250), availability=cart_pb.LINE_AVAILABILITY_AVAILABLE, tax_class="standard",
        tax_rate_bps=2000, unit_weight_grams=350, subtotal=eur(2500), tax=eur(500), total=eur(3000))])
OPTION = shipping_api.ShippingOption(
    shipping_option_id="colissimo.standard", carrier_code="colissimo", carrier_name="Colissimo",
    service_level=shipment_pb2.SERVICE_LEVEL_STANDARD, price=eur(695), estimated_days_min=2, estimated_days_max=3)
CHECKOUT = order_api.CreateOrderRequest(
    cart_id=CART.cart_id, shipping_address=ADDRESS, payment_method="card",
    shipping_option_id=OPTION.shipping_option_id, idempotency_key="checkout-1", customer_email="ada@example.com")
VALIDATE = shipping_api.ValidateShippingOptionRequest(
    shipping_option_id=OPTION.shipping_option_id, destination=ADDRESS,
    parcel=shipment_pb2.Parcel(weight_grams=700), currency="EUR")


async def place_order(service: Service) -> str:
    """CreateOrder for CART's customer; carting and shipping answer as ordering's contracts with them say."""
    carting, shipping = service.stubs["carting"], service.stubs["shipping"]
    carting.answers.setdefault("GetCart", cart_pb.GetCartResponse(cart=CART))
    carting.answers.setdefault("CloseCart", cart_pb.CloseCartResponse())
    shipping.answers.setdefault("ValidateShippingOption",
                                shipping_api.ValidateShippingOptionResponse(valid=True, option=OPTION))
    answer = await service.call("ordering.v1.OrderService/CreateOrder", CHECKOUT, **dict(as_customer(CUSTOMER)))
    return str(answer.order.order_id)


@CONSUMER.call("carting.v1.CartService/GetCart", cart_pb.GetCartRequest(cart_id=CART.cart_id),
               cart_pb.GetCartResponse(cart=CART), given="a customer's cart is ready for checkout")
async def orders_what_the_cart_holds(service: Service, answer: cart_pb.GetCartResponse) -> None:
    order = order_of(service, await place_order(service))
    line = order.lines[0]
    assert (line.sku, line.quantity, line.unit_price, line.tax_rate_bps, line.line_total) == ("MUG-RED", 2, 1250,
                                                                                              2000, 3000)
    assert (order.customer_id, order.cart_version, order.totals.total) == (CUSTOMER, 3, 3695)


@CONSUMER.call("carting.v1.CartService/CloseCart",
               cart_pb.CloseCartRequest(cart_id=CART.cart_id, order_id="order-1", expected_version=CART.version),
               cart_pb.CloseCartResponse(), given="a customer's cart is ready for checkout")
async def closes_the_cart_it_ordered(service: Service, answer: cart_pb.CloseCartResponse) -> None:
    order_id = await place_order(service)
    claim = service.parts["claims"].get(CART.cart_id)
    assert claim.order_id == order_id and claim.closed and not claim.refusal


@CONSUMER.call("shipping.v1.ShippingService/ValidateShippingOption", VALIDATE,
               shipping_api.ValidateShippingOptionResponse(valid=True, option=OPTION),
               given="shipping serves the destination")
async def ships_with_the_option_shipping_priced(service: Service,
                                                answer: shipping_api.ValidateShippingOptionResponse) -> None:
    order = order_of(service, await place_order(service))
    assert (order.shipping_option.carrier_name, order.shipping_option.service_level) == ("Colissimo", "standard")
    assert order.totals.shipping == 695


@CONSUMER.call("shipping.v1.ShippingService/ValidateShippingOption", REFUSAL_ASKED, REFUSAL,
               given="shipping does not serve the destination", variant="refused")
async def refuses_the_order_in_shippings_words(service: Service,
                                               answer: shipping_api.ValidateShippingOptionResponse) -> None:
    service.stubs["carting"].answers.setdefault("GetCart", cart_pb.GetCartResponse(cart=CART))
    abroad = order_api.CreateOrderRequest()
    abroad.CopyFrom(CHECKOUT)
    abroad.shipping_address.CopyFrom(ABROAD)
    abroad.shipping_option_id = REFUSED_OPTION
    try:
        await service.call("ordering.v1.OrderService/CreateOrder", abroad, **dict(as_customer(CUSTOMER)))
    except FailedPrecondition as refused:
        assert refused.message == f"shipping: {answer.rejection_message}"
    else:
        raise AssertionError("ordering placed an order with an option shipping refused")
    assert not service.published(ORDERS)


# --- the saga: each participant's event moves the order -----------------------------------------------------

def order_of(service: Service, order_id: str) -> domain.Order:
    order: domain.Order = service.parts["orders"].get(order_id)
    return order


async def handle(service: Service, topic: str, envelope: Any, order_id: str) -> domain.Order:
    """The event, about this order, through ordering's real handler."""
    event = envelope.WhichOneof("event")
    envelope = type(envelope).FromString(envelope.SerializeToString())
    getattr(envelope, event).order_id = envelope.metadata.aggregate_id = order_id
    await service.deliver(topic, envelope)
    return order_of(service, order_id)


def answered(service: Service, event: str) -> list[Any]:
    """The events ordering published in answer."""
    return [getattr(envelope, event) for envelope in service.published(ORDERS, event)]


STOCK_RESERVED = stocking_events.ReservationEvent(
    metadata=metadata(occurred_at=AT), stock_reserved=stocking_events.StockReserved(
        order_id="order-1", lines=[stocking_events.StockLine(quantity=2)], expires_at=AT))
PAYMENT_SUCCEEDED = paying_events.PaymentEvent(
    metadata=metadata(occurred_at=AT), payment_succeeded=paying_events.PaymentSucceeded(
        payment_id="payment-1", order_id="order-1", amount=eur(3695), captured_at=AT))
SHIPMENT_CREATED = shipping_events.ShipmentEvent(
    metadata=metadata(occurred_at=AT), shipment_created=shipping_events.ShipmentCreated(
        shipment_id="shipment-1", order_id="order-1", carrier_code="colissimo", tracking_number="6A0000000001",
        created_at=AT))
DELIVERED = shipping_events.ShipmentEvent(
    metadata=metadata(occurred_at=AT), shipment_status_changed=shipping_events.ShipmentStatusChanged(
        shipment_id="shipment-1", order_id="order-1", status=shipment_pb2.SHIPMENT_STATUS_DELIVERED, occurred_at=AT))


async def confirmed_order(service: Service) -> str:
    order_id = await place_order(service)
    await handle(service, RESERVATIONS, STOCK_RESERVED, order_id)
    await handle(service, PAYMENTS, PAYMENT_SUCCEEDED, order_id)
    return order_id


async def cancelled_order(service: Service) -> str:
    order_id = await place_order(service)
    await service.call("ordering.v1.OrderService/CancelOrder", order_api.CancelOrderRequest(
        order_id=order_id, reason=order_pb2.CANCELLATION_REASON_STAFF_DECISION))
    return order_id


@CONSUMER.event(RESERVATIONS, STOCK_RESERVED, given="stock was reserved for an order")
async def holds_the_stock(service: Service, envelope: Any) -> None:
    order = await handle(service, RESERVATIONS, envelope, await place_order(service))
    assert order.stock_state is domain.StockState.RESERVED and order.status is domain.OrderStatus.PENDING


@CONSUMER.event(RESERVATIONS, stocking_events.ReservationEvent(
    metadata=metadata(occurred_at=AT), stock_reservation_failed=stocking_events.StockReservationFailed(
        order_id="order-1", short_lines=[stocking_events.ShortLine(sku="MUG-RED", requested=2, available=1)])),
    given="an order's stock could not be reserved")
async def cancels_for_want_of_stock(service: Service, envelope: Any) -> None:
    order = await handle(service, RESERVATIONS, envelope, await place_order(service))
    assert order.status is domain.OrderStatus.CANCELLED and order.cancellation is not None
    assert order.cancellation.reason is domain.CancellationReason.OUT_OF_STOCK
    assert "MUG-RED: 2 asked, 1 available" in order.cancellation.note
    assert answered(service, "order_cancelled")


@CONSUMER.event(RESERVATIONS, stocking_events.ReservationEvent(
    metadata=metadata(occurred_at=AT), stock_released=stocking_events.StockReleased(
        order_id="order-1", reason=stocking_events.RELEASE_REASON_ORDER_CANCELLED)),
    given="a cancelled order's stock was released")
async def records_the_release(service: Service, envelope: Any) -> None:
    order_id = await cancelled_order(service)
    await handle(service, RESERVATIONS, STOCK_RESERVED, order_id)
    order = await handle(service, RESERVATIONS, envelope, order_id)
    assert order.stock_state is domain.StockState.RELEASED


@CONSUMER.event(RESERVATIONS, stocking_events.ReservationEvent(
    metadata=metadata(occurred_at=AT), stock_committed=stocking_events.StockCommitted(order_id="order-1")),
    given="a confirmed order's stock was committed")
async def records_the_commit(service: Service, envelope: Any) -> None:
    order = await handle(service, RESERVATIONS, envelope, await confirmed_order(service))
    assert order.stock_state is domain.StockState.COMMITTED


@CONSUMER.event(PAYMENTS, PAYMENT_SUCCEEDED, given="an order's payment was captured")
async def confirms_once_paid_and_reserved(service: Service, envelope: Any) -> None:
    order_id = await place_order(service)
    await handle(service, RESERVATIONS, STOCK_RESERVED, order_id)
    order = await handle(service, PAYMENTS, envelope, order_id)
    assert order.status is domain.OrderStatus.CONFIRMED and order.payment_id == "payment-1"
    assert [e.order_id for e in answered(service, "order_confirmed")] == [order_id]


@CONSUMER.event(PAYMENTS, paying_events.PaymentEvent(
    metadata=metadata(occurred_at=AT), payment_failed=paying_events.PaymentFailed(
        payment_id="payment-1", order_id="order-1", failure_message="card declined", failed_at=AT)),
    given="an order's payment failed")
async def cancels_an_unpaid_order(service: Service, envelope: Any) -> None:
    order = await handle(service, PAYMENTS, envelope, await place_order(service))
    assert order.status is domain.OrderStatus.CANCELLED and order.cancellation is not None
    assert order.cancellation.reason is domain.CancellationReason.PAYMENT_FAILED
    assert order.cancellation.note == "card declined"


@CONSUMER.event(PAYMENTS, paying_events.PaymentEvent(
    metadata=metadata(occurred_at=AT), payment_voided=paying_events.PaymentVoided(
        payment_id="payment-1", order_id="order-1", amount=eur(3695), voided_at=AT)),
    given="a cancelled order's payment was voided")
async def records_the_void(service: Service, envelope: Any) -> None:
    order = await handle(service, PAYMENTS, envelope, await cancelled_order(service))
    assert order.payment_state is domain.PaymentState.VOIDED


@CONSUMER.event(PAYMENTS, paying_events.PaymentEvent(
    metadata=metadata(occurred_at=AT), payment_refunded=paying_events.PaymentRefunded(
        order_id="order-1", refund_id="refund-1", order_refund_id="order-refund-1", amount=eur(3695),
        fully_refunded=True, refunded_at=AT)),
    given="a delivered order's refund was paid")
async def completes_the_refund_it_asked(service: Service, envelope: Any) -> None:
    order_id = await confirmed_order(service)
    await handle(service, SHIPMENTS, SHIPMENT_CREATED, order_id)
    await handle(service, SHIPMENTS, DELIVERED, order_id)
    asked = await service.call("ordering.v1.OrderService/RequestRefund", order_api.RequestRefundRequest(
        order_id=order_id, idempotency_key="refund-1", reason="broken"))
    envelope.payment_refunded.order_refund_id = asked.refund.refund_id
    order = await handle(service, PAYMENTS, envelope, order_id)
    assert order.refunds[0].status is domain.RefundStatus.COMPLETED
    assert order.status is domain.OrderStatus.REFUNDED and order.payment_state is domain.PaymentState.REFUNDED


@CONSUMER.event(INVOICES, billing_events.InvoiceEvent(
    metadata=metadata(occurred_at=AT), invoice_drafted=billing_events.InvoiceDrafted(
        invoice_id="invoice-1", order_id="order-1", drafted_at=AT)),
    given="an order's invoice was drafted")
async def notes_the_draft(service: Service, envelope: Any) -> None:
    order = await handle(service, INVOICES, envelope, await place_order(service))
    assert order.invoice_state is domain.InvoiceState.DRAFTED and order.invoice_id == "invoice-1"


@CONSUMER.event(INVOICES, billing_events.InvoiceEvent(
    metadata=metadata(occurred_at=AT), invoice_finalized=billing_events.InvoiceFinalized(
        invoice_id="invoice-1", invoice_number="INV-2026-000001", order_id="order-1", issued_at=AT)),
    given="a confirmed order's invoice was finalized")
async def notes_the_invoice_number(service: Service, envelope: Any) -> None:
    order = await handle(service, INVOICES, envelope, await confirmed_order(service))
    assert order.invoice_state is domain.InvoiceState.FINALIZED and order.invoice_number == "INV-2026-000001"


@CONSUMER.event(INVOICES, billing_events.InvoiceEvent(
    metadata=metadata(occurred_at=AT), invoice_voided=billing_events.InvoiceVoided(
        invoice_id="invoice-1", order_id="order-1", voided_at=AT)),
    given="a cancelled order's invoice was voided")
async def notes_the_voided_invoice(service: Service, envelope: Any) -> None:
    order = await handle(service, INVOICES, envelope, await cancelled_order(service))
    assert order.invoice_state is domain.InvoiceState.VOIDED and order.invoice_id == "invoice-1"


@CONSUMER.event(INVOICES, billing_events.InvoiceEvent(
    metadata=metadata(occurred_at=AT), credit_note_issued=billing_events.CreditNoteIssued(
        credit_note_id="credit-note-1", credit_note_number="CN-2026-000001", order_id="order-1",
        order_refund_id="order-refund-1", totals=invoice_pb2.Totals(gross=eur(3695)), issued_at=AT)),
    given="a refunded order's credit note was issued")
async def notes_the_credit_note(service: Service, envelope: Any) -> None:
    order = await handle(service, INVOICES, envelope, await confirmed_order(service))
    assert order.invoice_state is domain.InvoiceState.CREDITED and order.credit_note_ids == ["credit-note-1"]


@CONSUMER.event(SHIPMENTS, SHIPMENT_CREATED, given="a confirmed order's shipment was created")
async def ships_the_order(service: Service, envelope: Any) -> None:
    order = await handle(service, SHIPMENTS, envelope, await confirmed_order(service))
    assert order.status is domain.OrderStatus.SHIPPED
    assert (order.shipment_id, order.tracking_number) == ("shipment-1", "6A0000000001")


# Every status ordering's domain knows (domain.ShipmentStatus), by its name in the schema.
@CONSUMER.event(SHIPMENTS, DELIVERED, given="a shipment's status changed", handles={
    "shipment_status_changed.status": one_of(*(f"SHIPMENT_STATUS_{s.value}" for s in domain.ShipmentStatus))})
async def follows_the_parcel(service: Service, envelope: Any) -> None:
    order_id = await confirmed_order(service)
    await handle(service, SHIPMENTS, SHIPMENT_CREATED, order_id)
    order = await handle(service, SHIPMENTS, envelope, order_id)
    assert order.status is domain.OrderStatus.DELIVERED and order.shipment_status is domain.ShipmentStatus.DELIVERED


@CONSUMER.event(SHIPMENTS, shipping_events.ShipmentEvent(
    metadata=metadata(occurred_at=AT), shipment_cancelled=shipping_events.ShipmentCancelled(
        shipment_id="shipment-1", order_id="order-1", reason="order cancelled", cancelled_at=AT)),
    given="a cancelled order's shipment was cancelled")
async def notes_the_cancelled_shipment(service: Service, envelope: Any) -> None:
    order = await handle(service, SHIPMENTS, envelope, await cancelled_order(service))
    assert order.shipment_status is domain.ShipmentStatus.CANCELLED


@CONSUMER.event(SETTINGS, admin_events.SettingEvent(
    metadata=metadata(), setting_changed=admin_events.SettingChanged(
        name="saga.step_timeout", value=admin_events.SettingValue(duration_value=Duration(seconds=45)), version=2)),
    given="an admin changed a setting", name="saga.step_timeout")
async def waits_as_long_as_the_setting_says(service: Service, envelope: Any) -> None:
    await service.deliver(SETTINGS, envelope)
    assert service.parts["settings"].duration("saga.step_timeout").total_seconds() == 45
