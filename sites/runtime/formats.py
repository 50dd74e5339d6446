"""How both sites write money and moments: in the site's locale (SITE_LOCALE), amounts from minor units,
times in UTC (the shop's clock).

    money(Money(amount_minor=123450, currency="EUR"))   # '€1,234.50'
    when(order.created_at)                               # '3 Mar 2026, 14:05'
"""

from __future__ import annotations

from typing import Any

from babel.dates import format_datetime
from babel.numbers import format_currency


def money(value: Any, locale: str = "en_IE") -> str:
    """A Money (minor units) as the shop's locale writes it: €1,234.50."""
    if value is None or not getattr(value, "currency", ""):
        return ""
    return str(format_currency(value.amount_minor / 100, value.currency, locale=locale))


def when(timestamp: Any, locale: str = "en_IE", *, seconds: bool = False) -> str:
    """A protobuf Timestamp as the locale writes a date and time (UTC: the shop's clock); to the second for
    the steps of a saga, which follow each other within one."""
    if timestamp is None or not (timestamp.seconds or timestamp.nanos):
        return ""
    return str(format_datetime(timestamp.ToDatetime(), "d MMM yyyy, HH:mm:ss" if seconds else "d MMM yyyy, HH:mm",
                               locale=locale))
