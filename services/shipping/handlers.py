"""Shipping's part of the checkout saga: ordering's events, each handled in the event's unit of work."""

from __future__ import annotations

import dataclasses
import uuid

from services.runtime.bus import EventBus, EventContext
from services.runtime.clock import now
from services.runtime.proto import address_record
from services.shipping import domain, messages
from services.shipping.stores import Shipments

ORDERS = "ordering.orders.v1"


class ShippingHandlers:
    def __init__(self, shipments: Shipments) -> None:
        self.shipments = shipments

    def register(self, bus: EventBus) -> None:
        bus.on(ORDERS, "order_confirmed", self.order_confirmed)
        bus.on(ORDERS, "order_cancelled", self.order_cancelled)

    async def order_confirmed(self, event: EventContext) -> None:
        """The shipment, its tracking number and label (ShipmentCreated); once, however often it arrives."""
        confirmed = event.event
        async with self.shipments.order(event.work, confirmed.order_id) as record:
            if record.cancelled:
                return  # cancelled before it was shipped (events of a saga seen out of order): ship nothing
            shipment, events = domain.ship_confirmed_order(
                record.shipments, shipment_id=str(uuid.uuid4()), order_id=confirmed.order_id,
                order_number=confirmed.order_number, shipping_option_id=confirmed.shipping_option.shipping_option_id,
                destination=address_record(confirmed.shipping_address),
                parcel=messages.confirmed_parcel_record(confirmed), items=messages.confirmed_items_record(confirmed),
                shipping_price=confirmed.shipping_option.price.amount_minor, currency=confirmed.currency, now=now())
            record = dataclasses.replace(record, customer_id=confirmed.customer_id)  # whose it is, for reads
            self.shipments.save(event.work, record, shipment, events, event.publish)

    async def order_cancelled(self, event: EventContext) -> None:
        """Cancels the shipment if the carrier has not collected it; a parcel on its way is left alone."""
        cancelled = event.event
        async with self.shipments.order(event.work, cancelled.order_id) as record:
            shipment, events = domain.cancel_order_shipment(
                record.shipments, reason=messages.cancellation_reason_record(cancelled), now=now())
            self.shipments.save(event.work, record, shipment, events, event.publish, cancelled=True)
