"""Paging for every list RPC: keyset pages over a unique sort key, one opaque page-token format.

    page = paginate(orders, sort_key=lambda order: (instant(order.created_at), order.order_id),
                    descending=True, filters={"customer_id": customer_id},
                    page_size=request.page.page_size, page_token=request.page.page_token)
    ListOrdersResponse(orders=[...page.items], page=PageResponse(next_page_token=page.next_page_token,
                                                                 total_size=page.total_size))

A token holds the sort key of the last item of its page, so the next page starts right after that
item: items added or removed meanwhile never shift a page, and paging to the end returns each item
that stayed put exactly once. It is signed (itsdangerous) with a key derived from
`SHOP_PAGE_TOKEN_KEY` and the query (filters, sort, direction), so a token that was altered, or is
passed back with other filters or another order, fails verification and is refused with
InvalidArgument. The signature is for tamper detection only: the content is readable, not secret.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from operator import itemgetter
from typing import Generic, TypeVar

from itsdangerous import BadData, URLSafeSerializer

from services.runtime.errors import InvalidArgument

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
# The signing key's setting. Its default is fine for a single installation: the signature only
# detects changed tokens, and every process of one platform must share the key.
KEY_SETTING = "SHOP_PAGE_TOKEN_KEY"
DEFAULT_KEY = "shop-platform page tokens"
# How much of a refused token an error message quotes: enough to recognise it, no more.
QUOTED_PREFIX = 12

T = TypeVar("T")
U = TypeVar("U")
# Parts a sort key may have: they survive the token's JSON exactly (datetimes go through instant()).
SortKey = tuple[int | str, ...]


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_page_token: str  # "" on the last page
    total_size: int  # every matching item, all pages together

    def map(self, convert: Callable[[T], U]) -> Page[U]:
        """The same page with each item converted (a listing that paged its own index entries)."""
        return Page([convert(item) for item in self.items], self.next_page_token, self.total_size)


def instant(moment: datetime) -> int:
    """A datetime as microseconds since the epoch, for a sort key (naive means UTC)."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return (aware - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def page_size_of(requested: int, default: int = DEFAULT_PAGE_SIZE) -> int:
    """The page size to use: `default` for 0, at most MAX_PAGE_SIZE."""
    if requested < 0:
        raise InvalidArgument(f"page_size must be 0 (the default) or more, got {requested}")
    return min(requested or default, MAX_PAGE_SIZE)


def paginate(
    matching: Iterable[T],
    *,
    sort_key: Callable[[T], SortKey],
    filters: object,
    page_size: int,
    page_token: str,
    descending: bool = False,
    default_size: int = DEFAULT_PAGE_SIZE,
) -> Page[T]:
    """One page of `matching` in `sort_key` order, after the item `page_token` points at.

    `sort_key` must be unique per item (end it with the item's id). `filters` is everything that
    chose and ordered the items (the sort too), as JSON-able values: the token is bound to it."""
    size = page_size_of(page_size, default_size)
    serializer = _serializer(filters, descending)
    keyed = [(sort_key(item), item) for item in matching]
    remaining = keyed
    if page_token:
        after = _last_key(serializer, page_token)
        try:
            remaining = [pair for pair in keyed if (pair[0] < after if descending else pair[0] > after)]
        except TypeError:  # signed by us, but for a sort key of another shape (an older release)
            raise _refused(page_token) from None
    pick = heapq.nlargest if descending else heapq.nsmallest  # a partial sort: only size + 1 items
    chosen = pick(size + 1, remaining, key=itemgetter(0))
    next_token = serializer.dumps(list(chosen[size - 1][0])) if len(chosen) > size else ""
    return Page([item for _, item in chosen[:size]], next_token, len(keyed))


def _serializer(filters: object, descending: bool) -> URLSafeSerializer:
    # The query is the signature's salt: a token verifies only for the query it was issued for.
    query = json.dumps([filters, descending], sort_keys=True, default=str)
    salt = "page-token:" + hashlib.sha256(query.encode()).hexdigest()
    return URLSafeSerializer(os.environ.get(KEY_SETTING) or DEFAULT_KEY, salt=salt)


def _last_key(serializer: URLSafeSerializer, token: str) -> SortKey:
    try:
        key = serializer.loads(token)
    except BadData:
        raise _refused(token) from None
    return tuple(key)


def _refused(token: str) -> InvalidArgument:
    shown = token if len(token) <= QUOTED_PREFIX else token[:QUOTED_PREFIX] + "…"
    return InvalidArgument(f"page_token {shown!r} is not one this list issued for these filters and this order; "
                           "start again without a page_token")
