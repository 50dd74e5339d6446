"""Shipping ships a confirmed order (its shipment, label and tracking number) and cancels a shipment
the carrier has not collected when the order is cancelled."""

from __future__ import annotations

from typing import Any

from ordering.v1 import events_pb2 as order_events
from ordering.v1 import order_pb2

from services.shipping import domain
from tests.contracts.values import ADDRESS, eur
from tools.contracts import Consumer, Service, metadata, one_of

CONSUMER = Consumer("shipping")
ORDERS, SHIPMENTS = "ordering.orders.v1", "shipping.shipments.v1"
# The cancellation reasons shipping's code knows how to word; a reason added to the schema is not one of them
# until shipping says so here.
REASONS = one_of(order_pb2.CANCELLATION_REASON_CUSTOMER_REQUEST, order_pb2.CANCELLATION_REASON_STAFF_DECISION,
                 order_pb2.CANCELLATION_REASON_FRAUD_SUSPECTED, order_pb2.CANCELLATION_REASON_OUT_OF_STOCK,
                 order_pb2.CANCELLATION_REASON_PAYMENT_FAILED, order_pb2.CANCELLATION_REASON_TIMED_OUT)

ORDER_CONFIRMED = order_events.OrderEvent(metadata=metadata(), order_confirmed=order_events.OrderConfirmed(
    order_id="order-1", order_number="ORD-2026-000001", currency="EUR", shipping_address=ADDRESS,
    shipping_option=order_pb2.OrderShippingOption(shipping_option_id="colissimo.standard", price=eur(695)),
    total_weight_grams=700, lines=[order_pb2.OrderLine(sku="MUG-RED", name="Red mug", quantity=2)]))
ORDER_CANCELLED = order_events.OrderEvent(metadata=metadata(), order_cancelled=order_events.OrderCancelled(
    order_id="order-1", reason=order_pb2.CANCELLATION_REASON_CUSTOMER_REQUEST))


def shipment(service: Service) -> domain.Shipment:
    record = service.parts["shipments"].orders.get("order-1")
    assert record is not None and len(record.shipments) == 1, "shipping keeps one shipment for the order"
    return record.shipments[0]  # type: ignore[no-any-return]


@CONSUMER.event(ORDERS, ORDER_CONFIRMED, given="an order was confirmed")
async def ships_the_order(service: Service, envelope: Any) -> None:
    await service.deliver(ORDERS, envelope)
    shipped = shipment(service)
    assert (shipped.carrier_code, shipped.parcel.weight_grams, shipped.shipping_price) == ("colissimo", 700, 695)
    assert shipped.destination.city == "Paris" and shipped.items[0].name == "Red mug"
    assert service.event(SHIPMENTS, "shipment_created").tracking_number == shipped.tracking_number


@CONSUMER.event(ORDERS, ORDER_CANCELLED, given="an order was cancelled", handles={"order_cancelled.reason": REASONS})
async def cancels_the_shipment(service: Service, envelope: Any) -> None:
    await service.deliver(ORDERS, ORDER_CONFIRMED)
    await service.deliver(ORDERS, envelope)
    assert shipment(service).status is domain.ShipmentStatus.CANCELLED
    assert shipment(service).cancellation_reason == "order cancelled: customer request"
