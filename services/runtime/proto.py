"""The Protobuf well-known and common types every service's messages.py converts to and from.

    created_at=timestamp(record.created_at)          # None stays None: the field is left unset
    issued_after=to_datetime(request.issued_after)   # an aware UTC datetime
    price=money(line.unit_price, currency)           # shop.common.v1.Money from minor units
    price=money_of(record.price)                     # from a domain's Money record
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol, overload

from google.protobuf.timestamp_pb2 import Timestamp
from shop.common.v1 import money_pb2


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
