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
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, overload

from google.protobuf.timestamp_pb2 import Timestamp
from shop.common.v1 import address_pb2, money_pb2, paging_pb2

from services.runtime.paging import Page
from services.runtime.values import Address, Money


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


def page(record: Page[Any], *, total_size: int | None = None) -> paging_pb2.PageResponse:
    """The PageResponse of a page; `total_size=-1` for a list that does not tell its total."""
    total = record.total_size if total_size is None else total_size
    return paging_pb2.PageResponse(next_page_token=record.next_page_token, total_size=total)
