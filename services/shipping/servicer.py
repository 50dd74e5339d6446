"""ShippingService over gRPC, and the per-order shipment records the servicer and the handlers share."""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import AsyncIterator, Callable, Sequence

import grpc
from shipping.v1 import shipment_pb2
from shipping.v1 import shipping_service_pb2 as api
from shipping.v1.shipping_service_pb2_grpc import ShippingServiceServicer

from services.runtime import auth
from services.runtime.bus import EventBus
from services.runtime.clock import now
from services.runtime.errors import FailedPrecondition, InvalidArgument, NotFound
from services.runtime.proto import address_record, shipment_status_record, to_datetime
from services.shipping import domain, messages, pdf
from services.shipping.domain import Address, Shipment, ShipmentStatus, ShippingEvent
from services.shipping.stores import Shipments

LABEL_CHUNK_BYTES = 64 * 1024


class ShippingServicer(ShippingServiceServicer):
    def __init__(self, bus: EventBus, shipments: Shipments, sender: Address) -> None:
        self.bus = bus
        self.shipments = shipments
        self.sender = sender

    async def _change(self, shipment: Shipment,
                      change: Callable[[Shipment], tuple[Shipment, Sequence[ShippingEvent]]]) -> Shipment:
        """Run a use case on one shipment in a unit of work: store the result, publish its events."""
        async with self.bus.unit_of_work() as work, self.shipments.order(work, shipment.order_id) as record:
            current = next(s for s in record.shipments if s.shipment_id == shipment.shipment_id)
            changed, events = change(current)
            self.shipments.save(work, record, changed, events, functools.partial(self.bus.publish, work))
        return changed

    async def GetShippingRates(self, request: api.GetShippingRatesRequest,
                               context: grpc.aio.ServicerContext) -> api.GetShippingRatesResponse:
        options = domain.quote_shipping_rates(
            country_code=request.destination.country_code, postal_code=request.destination.postal_code,
            parcel=messages.parcel_record(request.parcel), currency=request.currency)
        return api.GetShippingRatesResponse(options=[messages.option(o) for o in options])

    async def ListCarriers(self, request: api.ListCarriersRequest,
                           context: grpc.aio.ServicerContext) -> api.ListCarriersResponse:
        carriers = domain.list_carriers(include_inactive=request.include_inactive)
        return api.ListCarriersResponse(carriers=[messages.carrier(c) for c in carriers])

    async def ValidateShippingOption(self, request: api.ValidateShippingOptionRequest,
                                     context: grpc.aio.ServicerContext) -> api.ValidateShippingOptionResponse:
        parcel = messages.parcel_record(request.parcel)
        check = domain.validate_shipping_option(
            request.shipping_option_id, country_code=request.destination.country_code,
            postal_code=request.destination.postal_code, parcel=parcel, currency=request.currency)
        answer = messages.option_check(check)
        if check.rejection is not None:
            answer.rejection_message = domain.rejection_reason(
                check.rejection, shipping_option_id=request.shipping_option_id,
                country_code=request.destination.country_code, parcel=parcel)
        return answer

    async def CreateShipment(self, request: api.CreateShipmentRequest,
                             context: grpc.aio.ServicerContext) -> api.CreateShipmentResponse:
        if not request.order_id:
            raise InvalidArgument("order id is missing")
        async with self.bus.unit_of_work() as work, self.shipments.order(work, request.order_id) as record:
            shipment, created, events = domain.create_shipment(
                record.shipments, shipment_id=str(uuid.uuid4()), order_id=request.order_id,
                order_number=request.order_number, shipping_option_id=request.shipping_option_id,
                destination=address_record(request.destination), parcel=messages.parcel_record(request.parcel),
                items=messages.items_record(request.items), shipping_price=request.shipping_price.amount_minor,
                currency=request.shipping_price.currency, now=now())
            self.shipments.save(work, record, shipment, events, functools.partial(self.bus.publish, work))
        return api.CreateShipmentResponse(shipment=messages.shipment(shipment), created=created)

    def _shipment(self, shipment_id: str) -> Shipment:
        """The shipment, if the caller may see it (a customer only their own: another's is NOT_FOUND)."""
        shipment = self.shipments.find(shipment_id)
        record = self.shipments.orders.get(shipment.order_id)
        auth.owned_by(record.customer_id if record else "", f"shipment {shipment_id!r}")
        return shipment

    async def GetShipment(self, request: api.GetShipmentRequest,
                          context: grpc.aio.ServicerContext) -> api.GetShipmentResponse:
        return api.GetShipmentResponse(shipment=messages.shipment(self._shipment(request.shipment_id)))

    async def GetOrderShipment(self, request: api.GetOrderShipmentRequest,
                               context: grpc.aio.ServicerContext) -> api.GetOrderShipmentResponse:
        if not request.order_id:
            raise InvalidArgument("order id is missing")
        record = self.shipments.orders.get(request.order_id)
        if record is not None:
            auth.owned_by(record.customer_id, f"shipment of order {request.order_id!r}")
        if record is None or not record.shipments:
            raise NotFound(f"order {request.order_id!r} has no shipment (yet: shipping creates it shortly after "
                           "the order is confirmed)")
        shown = domain.find_live_shipment(record.shipments) or max(record.shipments, key=lambda s: s.created_at)
        return api.GetOrderShipmentResponse(shipment=messages.shipment(shown))

    async def GetShippingLabel(self, request: api.GetShippingLabelRequest,
                               context: grpc.aio.ServicerContext) -> AsyncIterator[api.GetShippingLabelResponse]:
        shipment = self._shipment(request.shipment_id)
        if shipment.status is ShipmentStatus.CANCELLED:
            raise FailedPrecondition(f"shipment {shipment.shipment_id} was cancelled: its label is void")
        data = await asyncio.to_thread(pdf.render_shipping_label_pdf, shipment, self.sender)  # CPU work
        yield api.GetShippingLabelResponse(header=api.LabelHeader(
            filename=pdf.label_filename(shipment), content_type="application/pdf", size_bytes=len(data)))
        for start in range(0, len(data), LABEL_CHUNK_BYTES):
            yield api.GetShippingLabelResponse(chunk=data[start:start + LABEL_CHUNK_BYTES])

    async def ListTrackingEvents(self, request: api.ListTrackingEventsRequest,
                                 context: grpc.aio.ServicerContext) -> api.ListTrackingEventsResponse:
        history = domain.tracking_history(self._shipment(request.shipment_id))
        return api.ListTrackingEventsResponse(tracking_events=[messages.tracking_event(e) for e in history])

    async def RecordCarrierScan(self, request: api.RecordCarrierScanRequest,
                                context: grpc.aio.ServicerContext) -> api.RecordCarrierScanResponse:
        if bool(request.shipment_id) == bool(request.tracking_number):
            raise InvalidArgument("give exactly one of shipment id and tracking number, got "
                                  + ("both" if request.shipment_id else "neither"))
        if request.status == shipment_pb2.SHIPMENT_STATUS_UNSPECIFIED:
            raise InvalidArgument("the scan's status is missing")
        scanned = shipment_status_record(request.status)
        shipment = (self.shipments.find(request.shipment_id) if request.shipment_id
                    else self.shipments.find_by_tracking_number(request.tracking_number))
        occurred_at = to_datetime(request.occurred_at) if request.HasField("occurred_at") else None
        results: list[domain.ScanResult] = []

        def scan(current: Shipment) -> tuple[Shipment, Sequence[ShippingEvent]]:
            results.append(domain.record_carrier_scan(
                current, scan_id=request.scan_id, status=scanned, occurred_at=occurred_at,
                location=request.location, description=request.description, now=now()))
            return results[0].shipment, results[0].events

        changed = await self._change(shipment, scan)
        return api.RecordCarrierScanResponse(shipment=messages.shipment(changed),
                                             tracking_event=messages.tracking_event(results[0].tracking_event),
                                             status_changed=results[0].status_changed)

    async def CancelShipment(self, request: api.CancelShipmentRequest,
                             context: grpc.aio.ServicerContext) -> api.CancelShipmentResponse:
        reason = request.reason or "cancelled on request"
        changed = await self._change(self.shipments.find(request.shipment_id),
                                     lambda current: domain.cancel_shipment(current, reason=reason, now=now()))
        return api.CancelShipmentResponse(shipment=messages.shipment(changed))
