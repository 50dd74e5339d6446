"""Shipping's state: shipments by id and by order, and the topic it publishes on.

servicer.py and handlers.py both build on this module; neither imports the other (docs/services.md)."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from services.runtime.bus import EventBus, Publish
from services.runtime.errors import InvalidArgument, NotFound
from services.runtime.store import JsonCodec
from services.runtime.transactions import UnitOfWork
from services.shipping import messages
from services.shipping.domain import Shipment, ShippingEvent

TOPIC = "shipping.shipments.v1"


@dataclass(frozen=True)
class OrderShipments:
    """Everything shipping keeps about one order, stored as one record: its shipments (at most one
    live), how many events were published for the order (their aggregate_version), and whether the
    order was cancelled before it was shipped (a late OrderConfirmed then ships nothing)."""

    order_id: str
    shipments: tuple[Shipment, ...] = ()
    version: int = 0
    cancelled: bool = False
    customer_id: str = ""  # from OrderConfirmed: whose shipments a customer may follow


class Shipments:
    """The stores: one record per order, and the order of each shipment and each tracking number."""

    def __init__(self, bus: EventBus) -> None:
        self.orders = bus.store("orders", JsonCodec(OrderShipments))
        self.order_of_shipment = bus.store("shipment-orders", JsonCodec(str))  # written once, never changed
        self.shipment_of_tracking = bus.store("tracking-numbers", JsonCodec(str))  # likewise

    def find(self, shipment_id: str) -> Shipment:
        if not shipment_id:
            raise InvalidArgument("shipment id is missing")
        order_id = self.order_of_shipment.get(shipment_id)
        record = self.orders.get(order_id) if order_id else None
        found = next((s for s in record.shipments if s.shipment_id == shipment_id), None) if record else None
        if found is None:
            raise NotFound(f"no shipment {shipment_id!r}")
        return found

    def find_by_tracking_number(self, tracking_number: str) -> Shipment:
        shipment_id = self.shipment_of_tracking.get(tracking_number)
        if shipment_id is None:
            raise NotFound(f"no shipment has tracking number {tracking_number!r}")
        return self.find(shipment_id)

    @contextlib.asynccontextmanager
    async def order(self, work: UnitOfWork, order_id: str) -> AsyncIterator[OrderShipments]:
        """The order's record, locked for the unit of work (every change of an order's shipments takes it)."""
        await work.lock((self.orders, order_id))
        yield work.get(self.orders, order_id) or OrderShipments(order_id=order_id)

    def save(self, work: UnitOfWork, record: OrderShipments, shipment: Shipment | None,
             events: Sequence[ShippingEvent], publish: Publish, *, cancelled: bool = False) -> None:
        """Store the changed shipment in its order's record and publish its events, in the same unit of
        work. Nothing changed (a replay, a repeated call): nothing is written."""
        shipments = record.shipments
        if shipment is not None and shipment not in shipments:
            if any(s.shipment_id == shipment.shipment_id for s in shipments):
                shipments = tuple(shipment if s.shipment_id == shipment.shipment_id else s for s in shipments)
            else:
                shipments = (*shipments, shipment)
                work.put(self.order_of_shipment, shipment.shipment_id, record.order_id)
                work.put(self.shipment_of_tracking, shipment.tracking_number, shipment.shipment_id)
        version = record.version
        for event in events:
            version += 1
            publish(TOPIC, record.order_id, aggregate_version=version, **messages.event(event))
        changed = dataclasses.replace(record, shipments=shipments, version=version,
                                      cancelled=record.cancelled or cancelled)
        if changed != record:
            work.put(self.orders, record.order_id, changed)

