"""The Protobuf well-known and common types every service's messages.py converts to and from.

One naming rule, here and in every messages.py: `<thing>(record) -> proto`, `<thing>_record(message) -> domain`.

    created_at=timestamp(record.created_at)          # None stays None: the field is left unset
    issued_after=to_datetime(request.issued_after)   # an aware UTC datetime
    price=money(record.price)                        # shop.common.v1.Money from a values.Money
    price=money(line.unit_price, currency)           # ... or from minor units and a currency
    price=money_record(request.price)                # values.Money from shop.common.v1.Money
    destination=address(record.destination)          # shop.common.v1.Address from a values.Address
    destination=address_record(request.destination)  # values.Address from shop.common.v1.Address
    page=page(listed)                                # shop.common.v1.PageResponse of a paging.Page
    status=shipment_status(record.status)            # shipping's ShipmentStatus both ways, and the
    status=shipment_status_record(event.status)      # ShippingQuote a cart or an order keeps of an option
    option=shipping_quote_record(answer.option)
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, overload

from google.protobuf.timestamp_pb2 import Timestamp
from shipping.v1 import shipment_pb2, shipping_service_pb2
from shop.common.v1 import address_pb2, money_pb2, paging_pb2

from services.runtime.errors import InvalidArgument
from services.runtime.paging import Page
from services.runtime.values import Address, Money, ShipmentStatus, ShippingQuote


@overload
def timestamp(moment: datetime) -> Timestamp: ...
@overload
def timestamp(moment: None) -> None: ...
@overload
def timestamp(moment: datetime | None) -> Timestamp | None: ...
def timestamp(moment: datetime | None) -> Timestamp | None:
    if moment is None:
        return None
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def to_datetime(stamp: Timestamp) -> datetime:
    """The moment a Timestamp stands for, as an aware UTC datetime."""
    return stamp.ToDatetime(tzinfo=UTC)


@overload
def money(value: Money) -> money_pb2.Money: ...
@overload
def money(value: int, currency: str) -> money_pb2.Money: ...
def money(value: Money | int, currency: str = "") -> money_pb2.Money:
    """From a Money record, or from minor units and a currency (records that hold one currency for
    many amounts, such as an order's lines, keep the amounts as plain ints)."""
    if isinstance(value, int):
        return money_pb2.Money(amount_minor=value, currency=currency)
    return money_pb2.Money(amount_minor=value.amount_minor, currency=value.currency)


def money_record(message: money_pb2.Money) -> Money:
    return Money(amount_minor=message.amount_minor, currency=message.currency)


def address(record: Address) -> address_pb2.Address:
    return address_pb2.Address(
        full_name=record.full_name, company=record.company, line1=record.line1, line2=record.line2,
        postal_code=record.postal_code, city=record.city, region=record.region, country_code=record.country_code,
        phone=record.phone,
    )


def address_record(message: address_pb2.Address) -> Address:
    return Address(
        full_name=message.full_name, company=message.company, line1=message.line1, line2=message.line2,
        postal_code=message.postal_code, city=message.city, region=message.region,
        country_code=message.country_code, phone=message.phone,
    )


def shipment_status(record: ShipmentStatus) -> shipment_pb2.ShipmentStatus.ValueType:
    return shipment_pb2.ShipmentStatus.Value(f"SHIPMENT_STATUS_{record.value}")


def shipment_status_record(number: shipment_pb2.ShipmentStatus.ValueType) -> ShipmentStatus:
    """Refuses SHIPMENT_STATUS_UNSPECIFIED and numbers this release does not know."""
    if number == shipment_pb2.SHIPMENT_STATUS_UNSPECIFIED:
        raise InvalidArgument("the shipment status is missing")
    if number not in shipment_pb2.ShipmentStatus.values():
        raise InvalidArgument(f"unknown shipment status {number}")
    return ShipmentStatus(shipment_pb2.ShipmentStatus.Name(number).removeprefix("SHIPMENT_STATUS_"))


def shipping_quote_record(message: shipping_service_pb2.ShippingOption) -> ShippingQuote:
    level = message.service_level  # kept as the lower-case code other services carry ("pickup_point")
    return ShippingQuote(
        shipping_option_id=message.shipping_option_id, carrier_code=message.carrier_code,
        carrier_name=message.carrier_name,
        service_level=shipment_pb2.ServiceLevel.Name(level).removeprefix("SERVICE_LEVEL_").lower() if level else "",
        price=message.price.amount_minor, currency=message.price.currency,
        estimated_days_min=message.estimated_days_min, estimated_days_max=message.estimated_days_max,
    )


def page(record: Page[Any], *, total_size: int | None = None) -> paging_pb2.PageResponse:
    """The PageResponse of a page; `total_size=-1` for a list that does not tell its total."""
    total = record.total_size if total_size is None else total_size
    return paging_pb2.PageResponse(next_page_token=record.next_page_token, total_size=total)
