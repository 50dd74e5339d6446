"""The Protobuf well-known and common types every service's messages.py converts to and from.

    created_at=timestamp(record.created_at)          # None stays None: the field is left unset
    issued_after=to_datetime(request.issued_after)   # an aware UTC datetime
    price=money(line.unit_price, currency)           # shop.common.v1.Money from minor units
    price=money_of(record.price)                     # from a domain's Money record
    page=page(listed)                                # shop.common.v1.PageResponse of a paging.Page
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Protocol, overload

from google.protobuf.timestamp_pb2 import Timestamp
from shop.common.v1 import money_pb2, paging_pb2

from services.runtime.paging import Page


class Amount(Protocol):
    """A domain's Money record: minor units and an ISO 4217 code."""

    @property
    def amount_minor(self) -> int: ...

    @property
    def currency(self) -> str: ...


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


def money(amount: int, currency: str) -> money_pb2.Money:
    return money_pb2.Money(amount_minor=amount, currency=currency)


def money_of(value: Amount) -> money_pb2.Money:
    return money(value.amount_minor, value.currency)


def page(record: Page[Any], *, total_size: int | None = None) -> paging_pb2.PageResponse:
    """The PageResponse of a page; `total_size=-1` for a list that does not tell its total."""
    total = record.total_size if total_size is None else total_size
    return paging_pb2.PageResponse(next_page_token=record.next_page_token, total_size=total)
