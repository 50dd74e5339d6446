"""Shipping's records, quotes and events as Protobuf messages, and requests and ordering's events as domain values."""

from __future__ import annotations

from typing import Any

from ordering.v1 import events_pb2 as ordering_events
from ordering.v1 import order_pb2
from shipping.v1 import events_pb2, shipment_pb2
from shipping.v1 import shipping_service_pb2 as api

from services.runtime.proto import address, money, shipment_status, timestamp
from services.shipping.domain import (
    RATE_CURRENCY,
    Carrier,
    OptionCheck,
    OptionRejection,
    Parcel,
    ServiceLevel,
    Shipment,
    ShipmentCancelled,
    ShipmentCreated,
    ShipmentItem,
    ShipmentStatusChanged,
    ShippingEvent,
    ShippingOption,
    TrackingEvent,
)

# Into the domain.

def parcel_record(value: shipment_pb2.Parcel) -> Parcel:
    return Parcel(weight_grams=value.weight_grams, length_mm=value.length_mm, width_mm=value.width_mm,
                  height_mm=value.height_mm)


def items_record(values: Any) -> tuple[ShipmentItem, ...]:
    return tuple(ShipmentItem(sku=item.sku, name=item.name, quantity=item.quantity) for item in values)


def confirmed_parcel_record(confirmed: ordering_events.OrderConfirmed) -> Parcel:
    """The parcel of a confirmed order: its total weight (or the lines' weights when it lacks one)."""
    weight = confirmed.total_weight_grams or sum(line.unit_weight_grams * line.quantity for line in confirmed.lines)
    return Parcel(weight_grams=weight)


def confirmed_items_record(confirmed: ordering_events.OrderConfirmed) -> tuple[ShipmentItem, ...]:
    return tuple(ShipmentItem(sku=line.sku, name=line.name, quantity=line.quantity) for line in confirmed.lines)


def cancellation_reason_record(cancelled: ordering_events.OrderCancelled) -> str:
    """"order cancelled: customer request (changed my mind)", for the shipment's record."""
    known = cancelled.reason in order_pb2.CancellationReason.values()
    name = order_pb2.CancellationReason.Name(cancelled.reason) if known else ""
    why = name.removeprefix("CANCELLATION_REASON_").replace("_", " ").lower()
    text = "order cancelled" + (f": {why}" if why and why != "unspecified" else "")
    return text + (f" ({cancelled.note})" if cancelled.note else "")


# Out of the domain.

def service_level(value: ServiceLevel) -> shipment_pb2.ServiceLevel.ValueType:
    return shipment_pb2.ServiceLevel.Value(f"SERVICE_LEVEL_{value.value.upper()}")


def rejection(value: OptionRejection | None) -> api.OptionRejection.ValueType:
    return api.OptionRejection.Value(f"OPTION_REJECTION_{value.value}") if value else api.OPTION_REJECTION_UNSPECIFIED


def option(value: ShippingOption) -> api.ShippingOption:
    return api.ShippingOption(
        shipping_option_id=value.shipping_option_id, carrier_code=value.carrier_code, carrier_name=value.carrier_name,
        service_level=service_level(value.service_level), display_name=value.display_name,
        price=money(value.price, value.currency), estimated_days_min=value.estimated_days_min,
        estimated_days_max=value.estimated_days_max)


def option_check(value: OptionCheck) -> api.ValidateShippingOptionResponse:
    return api.ValidateShippingOptionResponse(valid=value.valid, rejection=rejection(value.rejection),
                                              option=option(value.option) if value.option else None)


def carrier(value: Carrier) -> api.Carrier:
    return api.Carrier(carrier_code=value.code, name=value.name,
                       service_levels=[service_level(s.level) for s in value.services],
                       country_codes=value.country_codes, max_weight_grams=value.max_weight_grams,
                       tracking_url_template=value.tracking_url_template, active=value.active)


def tracking_event(value: TrackingEvent) -> shipment_pb2.TrackingEvent:
    return shipment_pb2.TrackingEvent(
        tracking_event_id=value.tracking_event_id, shipment_id=value.shipment_id, status=shipment_status(value.status),
        occurred_at=timestamp(value.occurred_at), recorded_at=timestamp(value.recorded_at), location=value.location,
        description=value.description, scan_id=value.scan_id)


def shipment(value: Shipment) -> shipment_pb2.Shipment:
    return shipment_pb2.Shipment(
        shipment_id=value.shipment_id, order_id=value.order_id, order_number=value.order_number,
        shipping_option_id=value.shipping_option_id, carrier_code=value.carrier_code,
        carrier_name=value.carrier_name, service_level=service_level(value.service_level),
        tracking_number=value.tracking_number, tracking_url=value.tracking_url, status=shipment_status(value.status),
        destination=address(value.destination),
        parcel=shipment_pb2.Parcel(weight_grams=value.parcel.weight_grams, length_mm=value.parcel.length_mm,
                                   width_mm=value.parcel.width_mm, height_mm=value.parcel.height_mm),
        items=[shipment_pb2.ShipmentItem(sku=i.sku, name=i.name, quantity=i.quantity) for i in value.items],
        shipping_price=money(value.shipping_price, value.currency or RATE_CURRENCY),
        estimated_delivery_earliest=timestamp(value.estimated_delivery_earliest),
        estimated_delivery_latest=timestamp(value.estimated_delivery_latest),
        cancellation_reason=value.cancellation_reason, created_at=timestamp(value.created_at),
        updated_at=timestamp(value.updated_at), picked_up_at=timestamp(value.picked_up_at),
        delivered_at=timestamp(value.delivered_at), cancelled_at=timestamp(value.cancelled_at))


def event(value: ShippingEvent) -> dict[str, Any]:
    """The domain event as the envelope's oneof field, ready for `publish(..., **event(value))`."""
    match value:
        case ShipmentCreated():
            return {"shipment_created": events_pb2.ShipmentCreated(
                shipment_id=value.shipment_id, order_id=value.order_id, carrier_code=value.carrier_code,
                carrier_name=value.carrier_name, service_level=service_level(value.service_level),
                tracking_number=value.tracking_number, tracking_url=value.tracking_url,
                status=shipment_status(value.status),
                estimated_delivery_earliest=timestamp(value.estimated_delivery_earliest),
                estimated_delivery_latest=timestamp(value.estimated_delivery_latest),
                created_at=timestamp(value.created_at))}
        case ShipmentStatusChanged():
            return {"shipment_status_changed": events_pb2.ShipmentStatusChanged(
                shipment_id=value.shipment_id, order_id=value.order_id, carrier_code=value.carrier_code,
                tracking_number=value.tracking_number, previous_status=shipment_status(value.previous_status),
                status=shipment_status(value.status), location=value.location, description=value.description,
                occurred_at=timestamp(value.occurred_at))}
        case ShipmentCancelled():
            return {"shipment_cancelled": events_pb2.ShipmentCancelled(
                shipment_id=value.shipment_id, order_id=value.order_id, carrier_code=value.carrier_code,
                tracking_number=value.tracking_number, status=shipment_status(value.status),
                previous_status=shipment_status(value.previous_status), reason=value.reason,
                cancelled_at=timestamp(value.cancelled_at))}
